"""A year of history at onboarding (contract version 3): `<source>.history.csv` beside a month's
delivery holds up to the previous 12 months of an event source's events; its rows are read as the
earlier months' events, a row the lake already holds is not counted twice, and the validation report
says which months each 12-month figure rests on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from jobs.ingest.deliveries import find_deliveries, read_source
from safetynet.lake import Home
from tests.conftest import safetynet, whole_months
from tests.direct import run

HEADER = "身份证号,结算日期,总费用,统筹支付,个人自付,是否住院,病种类别\n"


def test_history_file_of_an_event_source_is_part_of_its_delivery(tmp_path):
    for name in (
        "medical_claims.csv",
        "medical_claims.history.csv",
        "deaths.history.xlsx",
        "roster.history.csv",
    ):
        (tmp_path / name).write_text("x")
    found, unknown = find_deliveries(tmp_path)
    assert [p.name for p in found["medical_claims"]] == ["medical_claims.history.csv", "medical_claims.csv"]
    assert [p.name for p in found["deaths"]] == ["deaths.history.xlsx"]
    # a snapshot source describes the month's end: it has no history to deliver
    assert [p.name for p in unknown] == ["roster.history.csv"]


def _member_without_claims(month_dir: Path) -> str:
    found, _ = find_deliveries(month_dir)
    roster = read_source("roster", found["roster"]).frame
    claimed = set(read_source("medical_claims", found["medical_claims"]).frame["id_number"])
    return next(i for i in roster["id_number"] if i not in claimed)


def _history(person: str, months: list[str], out_of_pocket: int) -> str:
    rows = [
        f"{person},{m}-15,{out_of_pocket * 3},{out_of_pocket * 2},{out_of_pocket},否,慢性病\n" for m in months
    ]
    return HEADER + "".join(rows)


@pytest.fixture(scope="module")
@whole_months
def onboarded(tmp_path_factory):
    """August delivered with eleven months of a member's claims as history; September with the same
    history again (a department resending it) and one row more."""
    land, home = tmp_path_factory.mktemp("land"), tmp_path_factory.mktemp("home")
    safetynet("generate", "--month", "2026-08", "--months", "2", "--households", "300", "--seed", "5",
              "--landing", str(land), check=True)  # fmt: skip
    person = _member_without_claims(land / "2026-08")
    earlier = [f"2025-{m:02}" for m in range(9, 13)] + [f"2026-{m:02}" for m in range(1, 8)]
    (land / "2026-08" / "medical_claims.history.csv").write_text(
        _history(person, earlier, 700), encoding="gbk"
    )
    again = _history(person, earlier, 700) + f"{person},2026-08-02,300,200,100,否,普通\n"
    (land / "2026-09" / "medical_claims.history.csv").write_text(again, encoding="utf-8")
    for path in (land / "2026-09").glob("education_aid*"):  # September: the department sends a history only
        path.unlink()
    aid = f"身份证号,资助类型,金额,发放日期\n{person},助学金,500,2026-03-01\n"
    (land / "2026-09" / "education_aid.history.csv").write_text(aid, encoding="utf-8")
    head = _a_head_elsewhere(land / "2026-08", person)
    (land / "2026-08" / "deaths.history.csv").write_text(
        f"身份证号,死亡日期\n{head},2026-02-10\n", encoding="utf-8"
    )
    for month in ("2026-08", "2026-09"):
        run(month, str(land), str(home), f"history-{month}")
    return Home(home), person


def _a_head_elsewhere(month_dir: Path, person: str) -> str:
    """The head of a household other than `person`'s, whom no delivery of the month reports dead."""
    found, _ = find_deliveries(month_dir)
    roster = read_source("roster", found["roster"]).frame
    dead = set(read_source("deaths", found["deaths"]).frame["id_number"]) if "deaths" in found else set()
    mine = roster.filter(pl.col("id_number") == person)["household_id"].item()
    heads = roster.filter((pl.col("relation") == "户主") & (pl.col("household_id") != mine))
    return next(i for i in heads["id_number"] if i not in dead)


def test_a_death_from_history_is_an_earlier_months_death_not_news(onboarded):
    """A death dated in February, delivered in August's history: counted in the 12 months, not a
    death of the month (no urgent lead for it)."""
    h, _ = onboarded
    rows = h.read("deaths", "2026-08")
    head = rows.filter(pl.col("source_file") == "deaths.history.csv")["id_number"].item()
    household = _household_of(h, "2026-08", head)
    month = h.read("_household_month", "2026-08").filter(pl.col("household_id") == household)
    assert (month["deaths_12m"].item(), month["event_death"].item(), month["event_death_earner"].item()) == (
        1,
        0,
        0,
    )
    leads = h.read("_leads", "2026-08").filter(pl.col("household_id") == household)
    assert not leads.filter(pl.col("rule_ids").list.contains("death_in_household")).height


def _household_of(h: Home, month: str, person: str) -> str:
    roster = h.read("roster", month, ["household_id", "id_number"])
    return roster.filter(pl.col("id_number") == person)["household_id"].item()


def test_history_rows_count_as_the_earlier_months_events(onboarded):
    h, person = onboarded
    household = _household_of(h, "2026-08", person)
    month = h.read("_household_month", "2026-08").filter(pl.col("household_id") == household)
    assert month["oop_medical_12m"].item() == pytest.approx(11 * 700)
    assert month["oop_medical_month"].item() == 0  # history is not this month's news


def test_a_row_the_lake_already_holds_is_not_counted_twice(onboarded):
    h, person = onboarded
    household = _household_of(h, "2026-09", person)
    month = h.read("_household_month", "2026-09").filter(pl.col("household_id") == household)
    # 2025-09 has left the window; 2025-10..2026-07 once each, and the new August row
    assert month["oop_medical_12m"].item() == pytest.approx(10 * 700 + 100)
    quarantine = h.read("_quarantine", "2026-09").filter(pl.col("source") == "medical_claims")
    held = quarantine.filter(pl.col("check") == "already_held")
    assert held.height == 11
    assert held["source_file"].unique().to_list() == ["medical_claims.history.csv"]
    assert "2026-08" in held["reason"][0] and "medical_claims.history.csv" in held["reason"][0]


def test_the_delivery_record_says_what_the_history_spans(onboarded):
    h, _ = onboarded
    record = h.read("_deliveries", "2026-08").filter(pl.col("source") == "medical_claims").row(0, named=True)
    assert record["history_rows"] == 11
    assert record["history_from"] == "2025-09"
    deaths = h.read("_deliveries", "2026-08").filter(pl.col("source") == "deaths").row(0, named=True)
    assert (deaths["history_rows"], deaths["history_from"]) == (1, "2026-02")
    other = h.read("_deliveries", "2026-08").filter(pl.col("source") == "disasters").row(0, named=True)
    assert other["history_rows"] == 0 and other["history_from"] is None


def test_the_validation_report_says_which_months_each_figure_rests_on(onboarded):
    h, _ = onboarded
    page = (h.partition("report", "2026-08") / "validation.html").read_text(encoding="utf-8")
    section = page.split("12-month figures", 1)[1]
    row = section.split("medical_claims", 1)[1].split("</tr>", 1)[0]
    assert "12 of 12" in row  # eleven months of history and August itself
    deaths = section.split("deaths", 1)[1].split("</tr>", 1)[0]
    assert "7 of 12" in deaths and "2026-02..2026-08" in deaths  # a history from February
    disasters = section.split("disasters", 1)[1].split("</tr>", 1)[0]
    assert "1 of 12" in disasters and "2025-09" in disasters  # delivered in August only: the months missing


def test_history_dated_after_its_month_is_quarantined(tmp_path):
    from jobs.ingest.validate import validate

    path = tmp_path / "medical_claims.history.csv"
    late = dt.date(2026, 9, 3).isoformat()
    path.write_text(HEADER + f"11010519491231002X,{late},30,20,10,否,普通\n", encoding="utf-8")
    result = validate(read_source("medical_claims", [path]), "2026-08", None)
    assert result.accepted_rows == 0
    assert "settled_on" in result.quarantine["column"].to_list()


def test_a_month_with_only_a_history_is_not_held_for_its_own_events(onboarded):
    """September's education aid came as a history alone: the months it reaches back to are held,
    September itself is not (its events are unknown, not absent)."""
    from jobs.ingest.coverage import covered_months

    h, _ = onboarded
    held = covered_months(h, "education_aid", "2026-09", 12)
    assert "2026-09" not in held and {"2026-03", "2026-08"} <= set(held)


def test_the_release_gate_compares_the_months_own_rows_not_the_history(onboarded):
    from jobs.publish.release import checks
    from safetynet.rules import load_rules

    h, _ = onboarded
    found = next(
        c for c in checks(h, "2026-09", load_rules().release_gate) if c["source"] == "medical_claims"
    )
    delivered = {
        m: h.read("_deliveries", m).filter(pl.col("source") == "medical_claims").row(0, named=True)
        for m in ("2026-08", "2026-09")
    }
    assert delivered["2026-09"]["history_rows"] == 12
    assert found["value"] == delivered["2026-09"]["rows_delivered"] - 12
    assert found["usual"] == delivered["2026-08"]["rows_delivered"] - 11
