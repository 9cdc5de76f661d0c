"""The field-like world (synthetic/field_world.py) and the bench's scoring (benchmarks/field_bench.py):
deterministic, within the contract, a truth consistent with the hidden state and kept out of the
landing, and figures right on a hand-made case."""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from jobs.ingest.deliveries import find_deliveries
from jobs.month import run as monthly
from safetynet.contract import SOURCES
from safetynet.rules import load_rules
from synthetic import field_visits
from synthetic.field_world import (
    CATASTROPHIC_OUT_OF_POCKET,
    HISTORY_MONTHS,
    RECIPIENTS,
    build_world,
    by_household,
    generate_field,
    person_months,
    run_months,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from field_bench import CASES_SCHEMA, score  # noqa: E402

MONTHS = run_months("2026-08", 2)
HOUSEHOLDS, SEED = 200, 5


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("field")
    generate_field(root / "landing", root / "truth", MONTHS, HOUSEHOLDS, SEED, bad_rows=0.02)
    return root


def test_same_seed_same_bytes_other_seed_other_world(world, tmp_path):
    generate_field(tmp_path / "landing", tmp_path / "truth", MONTHS, HOUSEHOLDS, SEED, bad_rows=0.02)
    assert digest(tmp_path / "landing") == digest(world / "landing")
    assert digest(tmp_path / "truth") == digest(world / "truth")
    generate_field(tmp_path / "o" / "landing", tmp_path / "o" / "truth", MONTHS, HOUSEHOLDS, SEED + 1)
    assert (
        digest(tmp_path / "o" / "landing")["2026-08/roster.csv"]
        != digest(world / "landing")["2026-08/roster.csv"]
    )


def test_the_truth_is_kept_out_of_the_landing(world, tmp_path):
    assert not [p for p in (world / "landing").rglob("*") if "truth" in p.name or p.suffix == ".parquet"]
    assert (world / "truth" / "truth.parquet").exists()
    with pytest.raises(ValueError, match="outside the landing"):
        generate_field(tmp_path / "landing", tmp_path / "landing" / "_truth", MONTHS, 20, SEED)


def test_first_month_brings_a_year_of_history_for_the_event_sources(world):
    month = world / "landing" / MONTHS[0]
    history = pl.read_csv(month / "medical_claims.history.csv", encoding="gbk", infer_schema=False)
    assert history.columns[:2] == ["身份证号", "结算日期"]
    settled = history["结算日期"].str.slice(0, 7).str.replace("/", "-").unique().sort()
    assert settled.len() == HISTORY_MONTHS and settled.max() < MONTHS[0]
    for source in ("medical_assistance", "employment", "education_aid"):
        assert (month / f"{source}.history.csv").exists()
    assert not list((world / "landing" / MONTHS[1]).glob("*.history.csv"))


def test_every_delivery_is_accepted_but_the_planted_bad_rows(world, tmp_path):
    """The project's own ingest and validation: each delivered source loads, and what it quarantines
    is exactly the rows the world spoiled (a broken check character or an impossible date), each
    with a reason."""
    landing, home, month = world / "landing", tmp_path / "home", MONTHS[0]
    monthly.start(month, str(landing), str(home), "t")
    found, _ = find_deliveries(landing / month)
    results = {s: monthly.ingest(s, month, str(landing), str(home), "t") for s in SOURCES}
    assert {s for s, r in results.items() if r["status"] == "delivered"} == set(found)
    build = monthly.open_build(home, "t").building.path
    quarantine = pl.concat([pl.read_parquet(p) for p in (build / "_quarantine").glob("*.parquet")])
    planted = pl.read_csv(world / "truth" / "bad_rows.csv", infer_schema=False).filter(
        pl.col("month") == month
    )
    assert planted.height >= 10
    assert quarantine["reason"].drop_nulls().len() == quarantine.height
    got = quarantine.group_by("source").agg(rows=pl.col("source_row").n_unique()).sort("source")
    want = planted.group_by("source").agg(rows=pl.len()).sort("source")
    assert got.rows() == want.rows()
    broken_ids = planted.filter(pl.col("column") == "id_number")["id_number"]
    assert broken_ids.is_in(quarantine["raw_value"].implode()).all()


@pytest.fixture(scope="module")
def state():
    return build_world(HOUSEHOLDS, SEED, MONTHS, load_rules())


def test_the_truth_follows_the_hidden_state(world, state):
    truth = pl.read_parquet(world / "truth" / "truth.parquet")
    t = HISTORY_MONTHS  # the first run month
    first = truth.filter(pl.col("month") == MONTHS[0])
    h = state.persons["h"].to_numpy()
    income = by_household(state.income[:, t - 11 : t + 1], h, HOUSEHOLDS).sum(axis=1)
    oop = by_household(person_months(state.claims, "out_of_pocket", state.alive.shape), h, HOUSEHOLDS)[:, t]
    index = first["household_id"].str.slice(1).cast(pl.Int64).to_numpy()
    members = first["members"].to_numpy()
    assert np.allclose(first["income_pc"].to_numpy(), income[index] / 12 / members, atol=0.01)
    assert (first["catastrophic_medical"].to_numpy() == (oop[index] >= CATASTROPHIC_OUT_OF_POCKET)).all()
    rigid = first.filter("rigid_expenditure")
    assert rigid.height > 0
    assert (rigid["income_pc"] >= rigid["standard"]).all()
    assert (rigid["income_pc"] - rigid["rigid_pc"] < rigid["standard"]).all()
    assert not rigid["category"].is_in(RECIPIENTS).any()
    low = first.filter("low_income")
    assert low.height > 0 and (low["income_pc"] < low["standard"]).all()
    above = first.filter("income_above")
    assert above.height > 0 and above["category"].is_in(RECIPIENTS).all()
    assert (above["income_pc"] > above["standard"]).all()
    need = first.select(pl.any_horizontal(KINDS)).to_series()
    assert (first["need"] == need).all()


def test_the_roster_declares_less_than_many_households_earn(world, state):
    """Field data quality: declared incomes are stale and understated for many households."""
    truth = pl.read_parquet(world / "truth" / "truth.parquet").filter(pl.col("month") == MONTHS[0])
    under = (truth["shown_income_pc"] < 0.9 * truth["income_pc"]).mean()
    assert 0.2 < under < 0.8


# --- the bench's scoring ---------------------------------------------------------------------------

KINDS = ("low_income", "rigid_expenditure", "catastrophic_medical", "house_collapse", "earner_death")
A, B = "430101001", "430101002"  # two townships


def truth_row(household: str, town: str = "430101001", **flags) -> dict:
    row = {"month": "2026-08", "household_id": household, "township_code": town}
    for kind in (*KINDS, "income_above", "assets_over"):
        row[kind] = flags.get(kind, False)
        row[f"shown_{kind}"] = flags.get(f"shown_{kind}", flags.get(kind, False))
    row["need"] = any(row[k] for k in KINDS)
    row["ineligible"] = row["income_above"] or row["assets_over"]
    return row


def case_rows(rows: list[tuple], month: str = "2026-08") -> pl.DataFrame:
    """v_cases rows: (household, state, urgency[, township[, first_month]])."""
    full = [(*r, *(A, month)[len(r) - 3 :]) for r in rows]
    return pl.DataFrame(
        [
            (month, h, town, state, None if state in ("queued", "closed") else "main", urgency, first)
            for h, state, urgency, town, first in full
        ],
        schema=CASES_SCHEMA,
        orient="row",
    )


def test_visits_count_every_household_on_the_lists_and_the_queue_apart():
    truth = pl.DataFrame([truth_row(h) for h in ("H1", "H2", "H3", "H4", "H5")])
    no_leads = pl.DataFrame(
        schema={
            "month": pl.String,
            "household_id": pl.String,
            "township_code": pl.String,
            "level": pl.String,
            "urgency": pl.String,
            "rule_ids": pl.String,
            "pushed": pl.Boolean,
        }
    )
    no_records = no_leads.select("month", "household_id", "township_code", direction="level", issued="pushed")
    cases = case_rows(
        [
            ("H1", "standing", "一般"),  # issued last month, no outcome yet: still to visit
            ("H1", "new", None),  # its new doubtful record: the same visit
            ("H2", "overdue", "紧急"),  # urgent: aside for the capacity
            ("H3", "queued", "一般", A, "2026-06"),  # waiting since June: not on the lists
            ("H4", "queued", "一般", A, "2026-08"),
            ("H5", "closed", "一般"),  # its outcome came back
        ]
    )
    capacity = pl.DataFrame({"township_code": [A], "capacity": [1]})
    result = score(truth, no_leads, no_records, cases, capacity, 40, {"2026-08": 7})
    visits = result["visits"]
    assert (visits["max"], visits["routine_max"], visits["over_capacity"]) == (2, 1, 0)
    assert result["queue"] == {
        "2026-08": {"households": 2, "max_per_township": 2, "townships": 1, "oldest_wait": 2}
    }
    assert result["outcomes_returned"] == {"2026-08": {"written": 7, "closed": 1}}


def test_score_counts_a_found_a_missed_and_a_false_lead():
    truth = pl.DataFrame(
        [
            truth_row("H1", rigid_expenditure=True),  # found by a pushed lead
            truth_row("H2", rigid_expenditure=True, shown_rigid_expenditure=False),  # missed, not shown
            truth_row("H3"),  # a lead, no need: a false lead
            truth_row("H4", income_above=True),  # a right 应退
            truth_row("H5"),  # a wrong 应退
            truth_row("H6", low_income=True, town="430101002"),  # found by an 应保 record
        ]
    )
    leads = pl.DataFrame(
        {
            "month": ["2026-08"] * 3,
            "household_id": ["H1", "H3", "H2"],
            "township_code": ["430101001"] * 3,
            "level": ["橙", "蓝", "绿"],
            "urgency": ["一般", "紧急", "一般"],
            "rule_ids": ["medical_hard", "newly_unemployed,score_high", "kindergarten_entry"],
            "pushed": [True, True, False],  # H2's lead waits in the queue: not a visit
        }
    )
    doubtful = pl.DataFrame(
        {
            "month": ["2026-08"] * 3,
            "household_id": ["H4", "H5", "H6"],
            "township_code": ["430101001", "430101001", "430101002"],
            "direction": ["应退", "应退", "应保"],
            "issued": [True, True, True],
        }
    )
    capacity = pl.DataFrame({"township_code": ["430101001"], "capacity": [3]})
    cases = case_rows(
        [
            ("H1", "new", "一般"),
            ("H3", "new", "紧急"),
            ("H2", "queued", "一般"),  # H2's lead waits in the queue: not a visit
            ("H4", "new", None),
            ("H5", "new", None),
            ("H6", "new", None, "430101002"),
        ]
    )
    result = score(truth, leads, doubtful, cases, capacity)
    rigid = result["need_recall"]["rigid_expenditure"]
    assert rigid["run"] == {"hit": 1, "total": 2, "rate": 0.5}
    assert rigid["run_shown"] == {"hit": 1, "total": 1, "rate": 1.0}
    assert result["need_recall"]["low_income"]["run"]["hit"] == 1
    precision = result["lead_precision"]
    assert precision["overall"] == {"hit": 1, "total": 2, "rate": 0.5}
    assert precision["by_level"] == {
        "橙": {"hit": 1, "total": 1, "rate": 1.0},
        "蓝": {"hit": 0, "total": 1, "rate": 0.0},
    }
    assert precision["by_rule"]["newly_unemployed"] == {"hit": 0, "total": 1, "rate": 0.0}
    assert result["exit"]["precision"] == {"hit": 1, "total": 2, "rate": 0.5}
    assert result["exit"]["recall"] == {"hit": 1, "total": 1, "rate": 1.0}
    assert result["entry_precision"] == {"hit": 1, "total": 1, "rate": 1.0}
    visits = result["visits"]
    assert (visits["max"], visits["routine_max"]) == (4, 3)  # H1, H3, H4, H5; H3's urgent lead aside
    assert visits["over_capacity"] == 0  # 3 routine visits against a capacity of 3
    assert visits["by_month"]["2026-08"] == {"max": 4, "median": 2.5, "over_capacity": 0}
    assert visits["pushed_per_1000_households"] == {"2026-08": round(2 * 1000 / 6, 1)}


def test_a_sudden_need_found_next_month_counts_a_slow_one_found_later_does_not():
    rows = [
        {**truth_row("H1", catastrophic_medical=True), "month": "2026-08"},
        {**truth_row("H1"), "month": "2026-09"},
        {**truth_row("H2", low_income=True), "month": "2026-08"},
        {**truth_row("H2", low_income=True), "month": "2026-09"},
    ]
    leads = pl.DataFrame(
        {
            "month": ["2026-09", "2026-09"],
            "household_id": ["H1", "H2"],
            "township_code": ["430101001"] * 2,
            "level": ["红", "黄"],
            "urgency": ["紧急", "一般"],
            "rule_ids": ["medical_hard", "score_high"],
            "pushed": [True, True],
        }
    )
    doubtful = pl.DataFrame(
        schema={
            "month": pl.String,
            "household_id": pl.String,
            "township_code": pl.String,
            "direction": pl.String,
            "issued": pl.Boolean,
        }
    )
    no_capacity = pl.DataFrame({"township_code": [], "capacity": []})
    result = score(pl.DataFrame(rows), leads, doubtful, case_rows([]), no_capacity)
    recall = result["need_recall"]
    assert (
        recall["catastrophic_medical"]["by_month"]["2026-08"]["hit"] == 1
    )  # a late delivery, found next month
    assert recall["low_income"]["by_month"] == {
        "2026-08": {"hit": 0, "total": 1, "rate": 0.0},
        "2026-09": {"hit": 1, "total": 1, "rate": 1.0},
    }


def test_the_command_line_generates_the_field_world_beside_the_landing(tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    landing = tmp_path / "landing"
    args = ["generate", "--world", "field", "--month", "2026-08", "--months", "2", "--households", "50"]
    done = CliRunner().invoke(app, [*args, "--landing", str(landing)])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "landing-truth" / "truth.parquet").exists()
    assert sorted(p.name for p in landing.iterdir()) == ["2026-08", "2026-09"]
    inside = CliRunner().invoke(app, [*args, "--landing", str(landing), "--truth", str(landing / "t")])
    assert inside.exit_code == 2 and "outside the landing" in inside.output


# --- the townships' visits between two runs (synthetic/field_visits.py) ---------------------------------


def issued(rows: list[tuple]) -> pl.DataFrame:
    """A hand-made issued list: (case_id, household_id, township_code, urgency, rank, visit_by day)."""
    return pl.DataFrame(
        [(c, h, t, u, r, dt.date(2026, 9, 1), dt.date(2026, 9, d)) for c, h, t, u, r, d in rows],
        schema=field_visits.LIST_SCHEMA,
        orient="row",
    )


LISTS = [
    ("L-1", "H1", A, "一般", 1, 8),  # H1: a lead and a doubtful record, one visit
    ("D-1", "H1", A, None, 3, 16),
    ("L-2", "H2", A, "一般", 2, 16),  # beyond A's capacity of 2: not visited
    ("L-3", "H3", A, "紧急", 4, 3),  # urgent: visited first whatever its rank
    ("L-4", "H4", B, "一般", 1, 16),
    ("D-5", "H5", B, None, 1, 30),
    ("R-6", "H6", B, None, 1, 30),
    ("L-7", "H7", B, "一般", 2, 16),
]
TRUTH = pl.DataFrame(
    [
        {**truth_row("H1", low_income=True), "category": "低保边缘"},
        {**truth_row("H2"), "category": "低保边缘"},
        {**truth_row("H3", catastrophic_medical=True), "category": "低保"},
        {**truth_row("H4", income_above=True, town=B), "category": "低保"},
        {**truth_row("H5", town=B), "category": "特困"},
        {**truth_row("H6", town=B), "category": "脱贫不稳定户"},
        # H7: nobody left in the truth this month
    ]
)
CAPACITY = pl.DataFrame({"township_code": [A, B], "capacity": [2, 5]})


def visit_rows(unverifiable: float = 0.0) -> pl.DataFrame:
    return field_visits.outcome_rows(issued(LISTS), TRUTH, CAPACITY, "2026-08", SEED, unverifiable)


def test_townships_visit_in_list_order_urgent_first_up_to_capacity():
    rows = visit_rows()
    assert rows.filter(pl.col("township_code") == A)["lead_id"].to_list() == ["D-1", "L-1", "L-3"]
    assert rows.filter(pl.col("township_code") == B)["lead_id"].to_list() == ["D-5", "L-4", "L-7", "R-6"]
    one_visit = rows.filter(pl.col("lead_id").is_in(["L-1", "D-1"]))
    assert one_visit["visited_on"].n_unique() == 1 and one_visit["outcome"].n_unique() == 1


def test_the_outcome_is_the_one_the_truth_calls_for():
    got = dict(visit_rows().select("lead_id", "outcome").iter_rows())
    assert got == {
        "L-1": "纳入低保",  # low income, not covered
        "D-1": "纳入低保",
        "L-3": "临时救助",  # sudden, covered
        "L-4": "退出",  # income above the standard, on dibao
        "D-5": "维持现状",  # covered, neither
        "R-6": "不符合条件",  # not covered, neither
        "L-7": "无法核实",  # nobody left to visit
    }
    assert set(visit_rows(1.0)["outcome"]) == {"无法核实"}


def test_visits_fall_after_the_issue_within_the_next_month_and_repeat():
    rows = visit_rows().join(issued(LISTS).select(lead_id="case_id", due="visit_by"), on="lead_id")
    days = rows["visited_on"].str.to_date()
    assert days.min() >= dt.date(2026, 9, 1) and days.max() <= dt.date(2026, 9, 30)
    assert visit_rows().equals(visit_rows())
    late = field_visits.visit_dates(
        issued(LISTS), dt.date(2026, 9, 30), np.ones(len(LISTS), bool), np.full(len(LISTS), 0.0)
    )
    assert late.to_list()[:2] == [dt.date(2026, 9, 9), dt.date(2026, 9, 17)]  # the day after visit_by


def test_the_outcome_files_pass_the_outcomes_validation(tmp_path):
    from jobs.ingest.deliveries import read_source
    from jobs.ingest.validate import validate

    rows = visit_rows(0.5)
    written = field_visits.write_outcomes(tmp_path, "2026-09", rows)
    assert written == {A: 3, B: 4}
    parts = sorted((tmp_path / "2026-09").glob("outcomes.part-*.csv"))
    assert [p.name for p in parts] == [f"outcomes.part-{A}.csv", f"outcomes.part-{B}.csv"]
    checked = validate(read_source("outcomes", parts), "2026-09", None, issued_ids=[r[0] for r in LISTS])
    assert (checked.delivered, checked.accepted_rows) == (7, 7), checked.quarantine


@pytest.mark.slow  # two months through the DAG's tasks
def test_the_next_run_closes_the_cases_the_townships_visited(world, tmp_path):
    """End to end: August run, the townships' outcomes written into September, September run: each
    row an accepted delivery closing its case; every township within its capacity."""
    import shutil

    from direct import run

    from jobs.publish.sealed import connect

    landing, home = tmp_path / "landing", tmp_path / "home"
    shutil.copytree(world / "landing", landing)
    truth = pl.read_parquet(world / "truth" / "truth.parquet")
    run(MONTHS[0], str(landing), str(home), "visits-1")
    rows = field_visits.return_visits(home, landing, truth, MONTHS[0], SEED)
    assert rows.height > 0 and {p.parent.name for p in landing.glob("*/outcomes.part-*.csv")} == {MONTHS[1]}
    lists = field_visits.read_lists(home, MONTHS[0])
    visited = lists.filter(pl.col("case_id").is_in(rows["lead_id"].implode()))
    assert (
        visited.group_by("township_code").agg(pl.col("household_id").n_unique())["household_id"].max() <= 40
    )
    run(MONTHS[1], str(landing), str(home), "visits-2")
    with connect(home) as con:
        closed = con.execute("select case_id from v_cases where month = ? and state = 'closed'", [MONTHS[1]])
        closed_ids = sorted(r[0] for r in closed.fetchall())
        bad = con.execute("select count(*) from v_quarantine where source = 'outcomes'").fetchone()[0]
    assert bad == 0
    assert closed_ids == sorted(rows["lead_id"])
