"""The case lifecycle (jobs/cases/lifecycle.py) and the KPIs read from it (v_kpis, v_rule_yield), on tiny
hand-built months with known answers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil

import duckdb
import polars as pl
import pytest

from jobs.assess.leads import LEAD_SCHEMA
from jobs.cases import capacity
from jobs.cases import lifecycle as cases
from jobs.means_test.checks import DOUBTFUL_SCHEMA, record_ids
from jobs.publish import warehouse
from safetynet.lake import Home, write_parquet
from safetynet.months import add_months
from safetynet.rules import PlaceDated, RuleSet, load_rules
from safetynet.versions import RULES_DIR

RULES = load_rules()
T1, T2 = "430101001", "430101002"


def lead(household: str, level: str = "橙", rules: tuple[str, ...] = ("medical_hard",), urgency="一般", **kw):
    return {
        "household_id": household,
        "division_code": T1 + "001",
        "township_code": kw.get("township", T1),
        "county_code": T1[:6],
        "category": "低保",
        "level": level,
        "urgency": urgency,
        "rule_ids": list(rules),
        "reasons": "；".join(rules),
        "recommended_action": "入户核实",
        "hardship_score": 50.0,
        "pushed": kw.get("pushed", True),
        "visit_by": kw.get("visit_by", dt.date(2026, 9, 8)),
    }


def leads_of(month: str, rows: list[dict]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema_overrides={"rule_ids": pl.List(pl.String)}, infer_schema_length=None)
    if frame.height == 0:
        return pl.DataFrame(schema=LEAD_SCHEMA)
    frame = frame.with_columns(
        month=pl.lit(month), lead_id=pl.format("XS{}-{}", pl.lit(month.replace("-", "")), "household_id")
    )
    return frame.select(
        [(pl.col(c) if c in frame.columns else pl.lit(None)).cast(t).alias(c) for c, t in LEAD_SCHEMA.items()]
    )


def doubtful_of(month: str, rows: list[tuple]) -> pl.DataFrame:
    """(household, check, evidence[, direction]) rows, as the means test finds them."""
    if not rows:
        return pl.DataFrame(schema={**DOUBTFUL_SCHEMA, "visit_by": pl.Date})
    frame = pl.DataFrame(
        [
            {
                "month": month,
                "household_id": h,
                "township_code": T1,
                "check_id": c,
                "direction": rest[0] if rest else "应退",
                "evidence": e,
                "source_refs": [f"{month}/deposits.csv:{i + 2}"],
                "visit_by": dt.date(2026, 10, 1),
            }
            for i, (h, c, e, *rest) in enumerate(rows)
        ],
        schema_overrides={"source_refs": pl.List(pl.String)},
    )
    return frame.with_columns(record_id=pl.lit(None, pl.String), issued=pl.lit(True)).select(
        *[pl.col(c).cast(t) for c, t in DOUBTFUL_SCHEMA.items()], "visit_by"
    )


def outcome(case_id: str, result: str, visited: str, upload: str | None = None) -> dict:
    return {
        "lead_id": case_id,
        "visited_on": dt.date.fromisoformat(visited),
        "outcome": result,
        "referred_to": "人社部门" if result == "转介" else None,
        "note": None,
        "upload_sha256": upload,
        "source_file": "outcomes.csv",
        "source_row": 2,
    }


def outcomes_of(rows: list[dict]) -> pl.DataFrame | None:
    return pl.DataFrame(rows) if rows else None


def step(
    month,
    before,
    leads=(),
    doubtful=(),
    returned=(),
    roster=None,
    earlier_closed=None,
    rules=RULES,
    yields=None,
    hardship=None,
    need=None,
    closed_before=None,
):
    """One month of the lifecycle, as `assess` runs it: history, leads, records, cases, capacity,
    ranks. `hardship`: household -> index; `need`: household -> income after rigid expenditure
    against the standard; `yields`: rule_id, visited, helpful (v_rule_yield)."""
    reopen = rules.cases.reopen_outcomes
    past = cases.split(month, before, outcomes_of(list(returned)), earlier_closed, closed_before, reopen)
    from jobs.assess.leads import make_leads  # noqa: F401 (the suppression is make_leads's; tested below)

    month_leads = cases.attach_leads(leads_of(month, list(leads)), past.open)
    found = record_ids(doubtful_of(month, list(doubtful)), past, month)
    households = {r["household_id"] for r in leads} | {r[0] for r in doubtful}
    if before is not None:
        households |= set(before["household_id"])
    on_roster = pl.DataFrame(
        {"household_id": sorted(roster if roster is not None else households)},
        schema={"household_id": pl.String},
    )
    out = cases.advance(month, rules, past, month_leads, found, None, on_roster)
    scores = pl.DataFrame(
        list((hardship or {}).items()),
        schema={"household_id": pl.String, "hardship_score": pl.Float64},
        orient="row",
    )
    if need is not None:
        depth = pl.DataFrame(
            list(need.items()), schema={"household_id": pl.String, capacity.NEED: pl.Float64}, orient="row"
        )
        scores = scores.join(depth, on="household_id", how="full", coalesce=True)
    yields = pl.DataFrame(yields or [], schema=capacity.YIELD_SCHEMA, orient="row")
    return cases.rank(capacity.allot(out, rules, month, scores, yields), scores)


def state(frame: pl.DataFrame, case_id: str) -> dict:
    rows = frame.filter(pl.col("case_id") == case_id).to_dicts()
    assert len(rows) == 1, f"{case_id}: {len(rows)} rows"
    return rows[0]


def test_a_lead_never_visited_stays_listed_past_its_event_and_becomes_overdue():
    aug = step("2026-08", None, leads=[lead("H1", "红", urgency="紧急")])
    assert state(aug, "XS202608-H1")["state"] == "new"
    # September: the event is past (no rule fires), no outcome came back
    sep = step("2026-09", aug)
    case = state(sep, "XS202608-H1")
    assert (case["state"], case["condition_gone"], case["sheet"]) == ("overdue", True, "overdue")
    assert case["first_issued_on"] == dt.date(2026, 9, 1) and case["days_open"] == 30
    assert case["escalated_to_county"], "an urgent lead overdue goes to the county"


def test_a_standing_lead_is_not_issued_as_new_and_keeps_its_id():
    aug = step("2026-08", None, leads=[lead("H1")])
    sep = step("2026-09", aug, leads=[lead("H1", visit_by=dt.date(2026, 10, 8))])
    assert sep["case_id"].to_list() == ["XS202608-H1"]
    case = state(sep, "XS202608-H1")
    assert case["state"] == "overdue" and not case["condition_gone"] and not case["changed"]
    assert case["visit_by"] == dt.date(2026, 9, 8), "a standing case keeps its deadline"


@pytest.mark.parametrize(
    "now, expected_level, expected_rules",
    [
        (lead("H1", "红", visit_by=dt.date(2026, 10, 3)), "红", ["medical_hard"]),
        (
            lead("H1", "黄", ("medical_hard", "newly_unemployed"), visit_by=dt.date(2026, 10, 3)),
            "橙",
            ["medical_hard", "newly_unemployed"],
        ),
    ],
    ids=["worse colour", "new rule"],
)
def test_a_worse_colour_or_a_new_rule_escalates_with_a_fresh_deadline(now, expected_level, expected_rules):
    aug = step("2026-08", None, leads=[lead("H1")])
    case = state(step("2026-09", aug, leads=[now]), "XS202608-H1")
    assert case["state"] == "escalated" and case["changed"] and case["sheet"] == "main"
    assert case["level"] == expected_level and case["rule_ids"] == expected_rules
    assert case["visit_by"] == dt.date(2026, 10, 3)


def test_only_an_outcome_closes_a_case_and_a_closed_case_is_not_carried():
    aug = step("2026-08", None, leads=[lead("H1"), lead("H2")], doubtful=[("H3", "deposits", "存款 9 万")])
    sep = step(
        "2026-09",
        aug,
        returned=[
            outcome("XS202608-H1", "临时救助", "2026-09-05", "ab" * 32),
            outcome("YD202608-H3-deposits", "退出", "2026-09-20"),
        ],
    )
    closed = state(sep, "XS202608-H1")
    assert closed["state"] == "closed" and closed["sheet"] is None and closed["rank"] is None
    assert (closed["outcome"], closed["visited_on"], closed["upload_sha256"]) == (
        "临时救助",
        dt.date(2026, 9, 5),
        "ab" * 32,
    )
    assert closed["days_open"] == 4, "days from the first issue to the visit"
    assert state(sep, "YD202608-H3-deposits")["state"] == "closed"
    assert state(sep, "XS202608-H2")["state"] == "overdue"
    oct_ = step("2026-10", sep)
    assert set(oct_["case_id"]) == {"XS202608-H2"}


# a correction (更正) to 不符合条件, the outcome that closed the case: the nine conclusions and
# whether each asks for action (rules/outcomes/cases.yaml `reopen_outcomes`)
CORRECTED_TO = [
    ("纳入低保", "reopened"),
    ("纳入特困", "reopened"),
    ("纳入低保边缘", "reopened"),
    ("临时救助", "reopened"),
    ("转介", "reopened"),
    ("维持现状", "closed"),
    ("退出", "reopened"),
    ("不符合条件", None),  # the same outcome again: nothing changes
    ("无法核实", "closed"),
]


def test_the_table_of_corrections_covers_the_nine_conclusions():
    from jobs.export.returnable import OUTCOME_CODES

    assert sorted(c for c, _ in CORRECTED_TO) == sorted(OUTCOME_CODES)
    assert sorted(RULES.cases.reopen_outcomes) == sorted(c for c, s in CORRECTED_TO if s == "reopened")


@pytest.mark.parametrize("kind", ["lead", "doubtful"])
@pytest.mark.parametrize("corrected, expected", CORRECTED_TO, ids=[c for c, _ in CORRECTED_TO])
def test_a_corrected_closed_case_follows_the_new_conclusion_and_reopens_where_it_asks_for_action(
    corrected, expected, kind
):
    case_id = "XS202608-H1" if kind == "lead" else "YD202608-H3-deposits"
    aug = step("2026-08", None, leads=[lead("H1")], doubtful=[("H3", "deposits", "存款 9 万")])
    sep = step("2026-09", aug, returned=[outcome(case_id, "不符合条件", "2026-09-05")])
    closed = sep.filter(pl.col("state") == "closed")
    oct_ = step("2026-10", sep, returned=[outcome(case_id, corrected, "2026-09-05")], closed_before=closed)
    rows = oct_.filter(pl.col("case_id") == case_id).to_dicts()
    if expected is None:
        assert rows == [], "an unchanged outcome is no correction"
        return
    (case,) = rows
    assert case["state"] == expected
    if expected == "closed":
        assert (case["outcome"], case["sheet"]) == (corrected, None)
        assert case_id not in set(step("2026-11", oct_)["case_id"])
        return
    issued = RULES.deadlines.issued_on("2026-10")
    days = {"lead": 7, "doubtful": 30}[kind]  # rules/outcomes/deadlines.yaml: 橙 lead, 应退 record
    assert (case["sheet"], case["outcome"], case["changed"], case["overdue"]) == ("main", None, True, False)
    assert case["visit_by"] == issued + dt.timedelta(days=days), "the deadline rules' days, as a new case"
    nov = state(step("2026-11", oct_), case_id)
    # from the next month it stands like any open case: overdue only past its new deadline, and its
    # age counted from the reopening (before issue 33's review this asserted ("expired", "overdue"):
    # the age counted from the first issue, so a case reopened in October expired in November)
    expected_nov = {"lead": ("overdue", "overdue"), "doubtful": ("standing", "main")}[kind]
    assert (nov["state"], nov["sheet"]) == expected_nov
    dec = step(
        "2026-12",
        step("2026-11", oct_),
        returned=[outcome(case_id, corrected, "2026-11-20")],
        closed_before=closed,
    )
    assert (state(dec, case_id)["state"], state(dec, case_id)["outcome"]) == ("closed", corrected)


def test_a_reopened_lead_that_a_worse_warning_also_finds_is_one_case_reopened_with_its_days_again():
    aug = step("2026-08", None, leads=[lead("H1")])
    sep = step("2026-09", aug, returned=[outcome("XS202608-H1", "维持现状", "2026-09-05")])
    closed = sep.filter(pl.col("state") == "closed")
    worse = lead("H1", "红", visit_by=dt.date(2026, 11, 3))
    oct_ = step(
        "2026-10",
        sep,
        leads=[worse],
        returned=[outcome("XS202608-H1", "临时救助", "2026-09-05")],
        closed_before=closed,
    )
    case = state(oct_, "XS202608-H1")
    assert (case["state"], case["level"], case["sheet"]) == ("reopened", "红", "main")
    assert case["visit_by"] == RULES.deadlines.issued_on("2026-10") + dt.timedelta(days=7)
    assert "XS202610-H1" not in set(oct_["case_id"]), "the household's lead stands on the reopened case"


def test_a_reopened_case_gets_the_deadline_rules_days_not_those_an_escalation_gave_it():
    """Issue 33 review, defect 1: H1's lead escalated in November (a fresh deadline far from its
    first issue), closed in December and was corrected in January: the reopened case's deadline is
    the rules' days for a 红 lead from January's list, not the escalated span again."""
    aug = step("2026-08", None, leads=[lead("H1")])
    nov = step(
        "2026-11",
        step("2026-10", step("2026-09", aug)),
        leads=[lead("H1", "红", visit_by=dt.date(2026, 12, 8))],
    )
    dec = step("2026-12", nov, returned=[outcome("XS202608-H1", "维持现状", "2026-12-05")])
    closed = dec.filter(pl.col("state") == "closed")
    jan = step(
        "2027-01", dec, returned=[outcome("XS202608-H1", "临时救助", "2026-12-05")], closed_before=closed
    )
    case = state(jan, "XS202608-H1")
    assert case["state"] == "reopened"
    assert case["visit_by"] == RULES.deadlines.issued_on("2027-01") + dt.timedelta(days=7)  # 红: 7 days
    assert case["opened_on"] == RULES.deadlines.issued_on("2027-01")
    feb = state(step("2027-02", jan), "XS202608-H1")
    assert (feb["state"], feb["overdue"]) == ("overdue", True), "past its deadline, not expired"


def test_a_reopened_case_ages_from_its_reopening():
    """Defect 2: a re-check draw first issued in August, closed in September and reopened by a
    correction in October is not expired in November (its age counts from the reopening)."""
    case_id = "CC2026H2-H9"
    closed = cases.conform(
        pl.DataFrame(
            [
                {
                    **{"month": "2026-09", "case_id": case_id, "kind": "recheck", "household_id": "H9"},
                    **{
                        "township_code": T1,
                        "county_code": T1[:6],
                        "state": "closed",
                        "first_month": "2026-07",
                    },
                    **{"first_issued_on": dt.date(2026, 8, 1), "issued_on": dt.date(2026, 9, 1)},
                    **{
                        "visit_by": dt.date(2026, 9, 30),
                        "outcome": "维持现状",
                        "visited_on": dt.date(2026, 9, 10),
                    },
                }
            ]
        )
    )
    reopen = RULES.cases.reopen_outcomes
    no_leads = pl.DataFrame(schema=LEAD_SCHEMA)
    roster = pl.DataFrame({"household_id": ["H9"]})

    def month_of(month: str, past: cases.History) -> pl.DataFrame:
        found = record_ids(doubtful_of(month, []), past, month)
        return cases.advance(month, RULES, past, no_leads, found, None, roster)

    past = cases.split(
        "2026-10", closed, outcomes_of([outcome(case_id, "退出", "2026-09-10")]), closed, closed, reopen
    )
    oct_ = state(month_of("2026-10", past), case_id)
    assert (oct_["state"], oct_["visit_by"]) == ("reopened", dt.date(2026, 12, 31))  # re-check: 60 days
    nov = month_of("2026-11", cases.split("2026-11", month_of("2026-10", past), None, reopen=reopen))
    assert (state(nov, case_id)["state"], state(nov, case_id)["overdue"]) == ("standing", False)


@pytest.mark.parametrize("kind", ["lead", "doubtful"])
def test_a_correction_does_not_give_a_household_a_second_open_case_of_a_kind(kind):
    """Defect 3: case A closed in September; in October a worse warning (a changed record) opened
    case B for the same household; in November a correction of A asks for action. A closes again
    with the corrected outcome and B, the one open case, is marked changed: one visit, one case."""
    if kind == "lead":
        a, b = "XS202608-H1", "XS202610-H1"
        first, later = {"leads": [lead("H1")]}, {"leads": [lead("H1", "红", visit_by=dt.date(2026, 11, 8))]}
    else:
        a, b = "YD202608-H1-deposits", "YD202610-H1-deposits"
        first, later = (
            {"doubtful": [("H1", "deposits", "存款 9 万")]},
            {"doubtful": [("H1", "deposits", "存款 12 万")]},
        )
    aug = step("2026-08", None, **first)
    sep = step("2026-09", aug, returned=[outcome(a, "维持现状", "2026-09-05")])
    closed = sep.filter(pl.col("state") == "closed")
    oct_ = step("2026-10", sep, earlier_closed=closed, **later)
    assert state(oct_, b)["state"] == "new"
    nov = step(
        "2026-11",
        oct_,
        returned=[outcome(a, "临时救助", "2026-09-05")],
        earlier_closed=closed,
        closed_before=closed,
        **later,
    )
    assert nov.filter(pl.col("state") != "closed")["case_id"].to_list() == [b]
    assert (state(nov, a)["state"], state(nov, a)["outcome"], state(nov, a)["corrects_outcome"]) == (
        "closed",
        "临时救助",
        "维持现状",
    )
    assert state(nov, b)["changed"], "the open case is drawn again: its household's picture changed"


def test_a_pushed_lead_takes_one_open_case_of_its_household():
    """Defect 3: should a household ever have two open lead cases, its pushed lead stays one lead."""
    open_cases = cases.conform(
        pl.DataFrame(
            {"case_id": ["XS202610-H1", "XS202608-H1"], "kind": ["lead"] * 2, "household_id": ["H1"] * 2}
        )
    )
    attached = cases.attach_leads(leads_of("2026-11", [lead("H1", "红")]), open_cases)
    assert attached["lead_id"].to_list() == ["XS202608-H1"]


def test_a_month_with_no_outcomes_loses_nothing():
    aug = step("2026-08", None, leads=[lead("H1"), lead("H2")], doubtful=[("H3", "deposits", "存款 9 万")])
    sep = step("2026-09", aug)
    assert set(sep["case_id"]) == set(aug["case_id"])
    assert (sep["state"] != "closed").all()


def test_cases_open_past_the_limit_are_expired_never_dropped():
    limit = RULES.cases.expire_after_months
    month, frame = "2026-08", step("2026-08", None, leads=[lead("H1")])
    for _ in range(limit):
        month = f"2026-{int(month[5:]) + 1:02d}"
        frame = step(month, frame)
    case = state(frame, "XS202608-H1")
    assert case["state"] == "expired" and case["sheet"] == "overdue"


def test_a_household_that_left_the_roster_keeps_its_open_case():
    aug = step("2026-08", None, leads=[lead("H1")])
    case = state(step("2026-09", aug, roster=[]), "XS202608-H1")
    assert case["state"] == "overdue" and case["on_roster"] is False


@pytest.mark.parametrize(
    "evidence, expected_state, expected_changed",
    [("存款 9 万", "standing", False), ("存款 12 万", "standing", True), (None, "standing", False)],
    ids=["same evidence", "changed evidence", "condition gone"],
)
def test_a_doubtful_record_stands_on_its_case(evidence, expected_state, expected_changed):
    aug = step("2026-08", None, doubtful=[("H3", "deposits", "存款 9 万")])
    now = [("H3", "deposits", evidence)] if evidence else []
    case = state(step("2026-09", aug, doubtful=now), "YD202608-H3-deposits")
    assert (case["state"], case["changed"], case["condition_gone"]) == (
        expected_state,
        expected_changed,
        evidence is None,
    )


def test_a_visited_finding_is_not_issued_again_unless_it_changed():
    aug = step("2026-08", None, doubtful=[("H3", "deposits", "存款 9 万"), ("H4", "deposits", "存款 8 万")])
    sep = step(
        "2026-09",
        aug,
        returned=[
            outcome("YD202608-H3-deposits", "维持现状", "2026-09-03"),
            outcome("YD202608-H4-deposits", "维持现状", "2026-09-03"),
        ],
    )
    closed = sep.filter(pl.col("state") == "closed")
    past = cases.split("2026-10", sep, None, closed)
    found = record_ids(
        doubtful_of("2026-10", [("H3", "deposits", "存款 9 万"), ("H4", "deposits", "存款 20 万")]),
        past,
        "2026-10",
    )
    assert dict(found.select("household_id", "issued").iter_rows()) == {"H3": False, "H4": True}
    assert dict(found.select("household_id", "record_id").iter_rows()) == {
        "H3": "YD202608-H3-deposits",
        "H4": "YD202610-H4-deposits",
    }


def test_closed_lead_cases_cover_later_leads_as_make_leads_reads_them():
    aug = step("2026-08", None, leads=[lead("H1", "红"), lead("H2")])
    sep = step("2026-09", aug, returned=[outcome("XS202608-H1", "维持现状", "2026-09-03")])
    covering = cases.covering_leads(sep.filter(pl.col("state") == "closed"))
    assert covering.to_dicts() == [
        {"household_id": "H1", "lead_id": "XS202608-H1", "rule_ids": ["medical_hard"], "level_rank": 0}
    ]


def write_months(root, months: dict[str, pl.DataFrame], roster: pl.DataFrame | None = None) -> Home:
    """A home whose lake holds only hand-built `_cases` months and their capacity ledgers, over
    `roster` (household_id, township_code; the cases' households when not given)."""
    for month, frame in months.items():
        build = root / "lake" / f"month={month}" / "build=b"
        households = frame.select("household_id", "township_code").unique() if roster is None else roster
        write_parquet(frame, build / "_cases" / "data.parquet")
        write_parquet(capacity.ledger(month, frame, households, RULES), build / "_capacity" / "data.parquet")
    return Home(root)


def query(home: Home, months: list[str], sql: str) -> pl.DataFrame:
    con = duckdb.connect()
    for statement in warehouse.statements(home, catalog={m: {"build": "b"} for m in months}):
        if "_runs/" not in statement:  # no run log in a hand-built lake
            con.execute(statement)
    return pl.from_arrow(con.sql(sql).to_arrow_table())


def test_kpis_and_rule_yield_on_a_hand_built_year(tmp_path):
    """Five leads in two townships; known outcomes give known KPIs and yields."""
    aug = step(
        "2026-08",
        None,
        leads=[
            lead("H1", rules=("a",)),
            lead("H2", rules=("a", "b")),
            lead("H3", rules=("b",)),
            lead("H4", rules=("a",), urgency="紧急", township=T2),
            lead("H5", rules=("c",), township=T2),
        ],
    )
    sep = step(
        "2026-09",
        aug,
        returned=[
            outcome("XS202608-H1", "临时救助", "2026-09-03"),
            outcome("XS202608-H2", "不符合条件", "2026-09-11"),
            outcome("XS202608-H5", "转介", "2026-09-07"),
        ],
    )
    home = write_months(tmp_path, {"2026-08": aug, "2026-09": sep})
    kpis = query(home, ["2026-08", "2026-09"], "select * from v_kpis where kind = 'lead' order by all")
    row = kpis.filter((pl.col("month") == "2026-09") & (pl.col("area_code") == T1)).to_dicts()[0]
    assert (row["pushed"], row["listed"], row["visited"]) == (0, 1, 2)
    assert (row["temporary_assistance"], row["not_eligible"], row["overdue"]) == (1, 1, 1)
    assert row["median_days_to_visit"] == 6.0  # 2 and 10 days after 2026-09-01
    county = kpis.filter((pl.col("month") == "2026-09") & (pl.col("area_level") == "county")).to_dicts()[0]
    assert (county["visited"], county["referred"], county["overdue"], county["escalated_to_county"]) == (
        3,
        1,
        2,
        1,
    )
    assert county["median_days_to_visit"] == 6.0  # 2, 6 and 10 days: a median of cases, not of medians
    aug_province = kpis.filter(
        (pl.col("month") == "2026-08") & (pl.col("area_level") == "province")
    ).to_dicts()[0]
    assert (aug_province["pushed"], aug_province["listed"], aug_province["visited"]) == (5, 5, 0)

    yields = {
        r["rule_id"]: r
        for r in query(
            home, ["2026-08", "2026-09"], "select * from v_rule_yield where month = '2026-09'"
        ).to_dicts()
    }
    assert (yields["a"]["leads"], yields["a"]["visited"], yields["a"]["helpful"], yields["a"]["yield"]) == (
        3,
        2,
        1,
        0.5,
    )
    assert (yields["a"]["leads_alone"], yields["a"]["visited_alone"], yields["a"]["yield_alone"]) == (
        2,
        1,
        1.0,
    )
    assert (yields["b"]["visited"], yields["b"]["yield"], yields["b"]["yield_alone"]) == (1, 0.0, None)
    assert (yields["c"]["helpful"], yields["c"]["yield"]) == (1, 1.0), "a referral counts"
    august = query(home, ["2026-08"], "select * from v_rule_yield order by rule_id")
    assert august["visited"].sum() == 0 and august.filter(pl.col("rule_id") == "a")["leads"].item() == 3
    later = query(
        home, ["2026-08", "2026-09"], "select * from v_rule_yield where month = '2026-08' order by rule_id"
    )
    assert later.equals(august), "a month's yield does not change when later months are loaded"


def test_a_home_published_before_cases_were_kept_carries_its_issued_work_on(tmp_path):
    """August was published by a version that kept `_issued` but no `_cases`: September treats what
    August issued as standing, under the same ids, not as new work."""
    from jobs.export.lists import ISSUED_SCHEMA
    from safetynet.lake import Build

    build = tmp_path / "build"
    aug = leads_of("2026-08", [lead("H1", "红")])
    records = record_ids(
        doubtful_of("2026-08", [("H3", "deposits", "存款 9 万")]),
        cases.split("2026-08", None, None),
        "2026-08",
    )
    issued = pl.DataFrame(
        {
            "month": ["2026-08"] * 2,
            "id": ["XS202608-H1", "YD202608-H3-deposits"],
            "kind": ["lead", "doubtful"],
            "household_id": ["H1", "H3"],
            "township_code": [T1, T1],
            "issued_on": [dt.date(2026, 9, 1)] * 2,
            "visit_by": [dt.date(2026, 9, 4), dt.date(2026, 10, 1)],
        },
        schema=ISSUED_SCHEMA,
    )
    for name, frame in (("_leads", aug), ("_doubtful", records), ("_issued", issued)):
        write_parquet(frame, build / name / "data.parquet")
    before = cases.from_issued(Home(tmp_path, Build("2026-08", build)), "2026-08")
    sep = step("2026-09", before, doubtful=[("H3", "deposits", "存款 9 万")])
    assert dict(sep.select("case_id", "state").iter_rows()) == {
        "XS202608-H1": "overdue",
        "YD202608-H3-deposits": "standing",
    }
    lead_case = state(sep, "XS202608-H1")
    assert (lead_case["level"], lead_case["first_month"], lead_case["visit_by"]) == (
        "红",
        "2026-08",
        dt.date(2026, 9, 4),
    )
    assert not state(sep, "YD202608-H3-deposits")["changed"]


def test_v_outcomes_and_the_countys_table_mark_only_what_the_lifecycle_took_as_a_correction(
    tmp_path, monkeypatch
):
    """September read 不符合条件 for H1 and 维持现状 for H2; October read a correction for H1 (纳入低保,
    with its reason: the case reopens) and H2's row again with a new note alone (no correction);
    November read the reopened case's visit (纳入低保 again, a new date: it closes an open case, no
    correction). v_outcomes keeps every row, marks the one correction (issue 33 review: the
    November row and H2's note were marked too), and the county's table lists it once."""
    import safetynet.lake as lake_module
    from jobs.export.lists import ISSUED_SCHEMA
    from portal.corrections import corrections

    def row(case_id, result, visited, note, month, line):
        return {
            **outcome(case_id, result, visited),
            "note": note,
            "source_file": f"{month}.csv",
            "source_row": line,
        }

    returned = {
        "2026-09": [row("XS202608-H1", "不符合条件", "2026-09-05", None, "2026-09", 2)]
        + [row("XS202608-H2", "维持现状", "2026-09-05", None, "2026-09", 3)],
        "2026-10": [row("XS202608-H1", "纳入低保", "2026-09-05", "复核发现收入低于标准", "2026-10", 2)]
        + [row("XS202608-H2", "维持现状", "2026-09-05", "补充说明", "2026-10", 3)],
        "2026-11": [row("XS202608-H1", "纳入低保", "2026-11-03", "已办理", "2026-11", 2)],
    }
    months = {"2026-08": step("2026-08", None, leads=[lead("H1"), lead("H2")])}
    closed = None
    for month, rows in returned.items():
        months[month] = step(month, months[add_months(month, -1)], returned=rows, closed_before=closed)
        closed = pl.concat([cases.conform(f).filter(pl.col("state") == "closed") for f in months.values()])
    home = write_months(tmp_path, months)
    lake = tmp_path / "lake"
    issued = months["2026-08"].select(
        "month",
        id="case_id",
        kind="kind",
        household_id="household_id",
        township_code="township_code",
        issued_on="issued_on",
        visit_by="visit_by",
    )
    write_parquet(issued.cast(ISSUED_SCHEMA), lake / "month=2026-08" / "build=b" / "_issued" / "data.parquet")
    for month, rows in returned.items():
        frame = pl.DataFrame(
            rows, schema_overrides={"note": pl.String, "upload_sha256": pl.String, "referred_to": pl.String}
        )
        write_parquet(frame, lake / f"month={month}" / "build=b" / "outcomes" / "data.parquet")
    got = query(
        home,
        list(months),
        "select lead_id, month, outcome, is_correction, superseded, corrects_outcome, "
        "corrects_source_file, corrects_source_row from v_outcomes order by lead_id, month",
    )
    assert got.rows() == [
        ("XS202608-H1", "2026-09", "不符合条件", False, True, None, None, None),
        ("XS202608-H1", "2026-10", "纳入低保", True, True, "不符合条件", "2026-09.csv", 2),
        ("XS202608-H1", "2026-11", "纳入低保", False, False, None, None, None),
        ("XS202608-H2", "2026-09", "维持现状", False, True, None, None, None),
        ("XS202608-H2", "2026-10", "维持现状", False, False, None, None, None),
    ]
    monkeypatch.setattr(
        lake_module, "read_catalog", lambda root, commit=None: {m: {"build": "b"} for m in months}
    )
    shown = corrections(Home(tmp_path), None, "2026-11", T1[:6])
    assert shown.select("lead_id", "was", "now", "read_in").rows() == [
        ("XS202608-H1", "不符合条件", "纳入低保", "2026-10")
    ]


# --- capacity: lists a township can work (jobs/cases/capacity.py) ---------------------------------------


def with_capacity(places: dict[str, int], min_visited: int | None = None) -> RuleSet:
    """The committed rules with another visiting capacity (households a month by prefix)."""
    visits = PlaceDated(((dt.date(2024, 1, 1), tuple(sorted(places.items()))),))
    wanted = RULES.capacity.yield_min_visited if min_visited is None else min_visited
    return dataclasses.replace(
        RULES, capacity=dataclasses.replace(RULES.capacity, visits=visits, yield_min_visited=wanted)
    )


def states(frame: pl.DataFrame, township: str = T1) -> dict[str, str]:
    return dict(frame.filter(pl.col("township_code") == township).select("case_id", "state").iter_rows())


def test_a_township_over_capacity_issues_its_top_households_and_queues_the_rest_into_next_month():
    rules = with_capacity({"default": 40, T1: 2})
    aug = step(
        "2026-08",
        None,
        leads=[
            lead("H1", "红"),
            lead("H2", "黄"),
            lead("H3", "蓝"),
            lead("H4", "绿"),
            lead("H9", "绿", township=T2),
        ],
        rules=rules,
    )
    assert states(aug) == {
        "XS202608-H1": "new",
        "XS202608-H2": "new",
        "XS202608-H3": "queued",
        "XS202608-H4": "queued",
    }
    assert states(aug, T2) == {"XS202608-H9": "new"}, "another township's capacity is its own"
    waiting = state(aug, "XS202608-H3")
    assert (waiting["sheet"], waiting["rank"], waiting["queue_rank"], waiting["first_issued_on"]) == (
        None,
        None,
        1,
        None,
    )
    assert "2 户" in waiting["queue_reason"] and "排队第 1 位" in waiting["queue_reason"]
    assert state(aug, "XS202608-H4")["queue_rank"] == 2
    # September: the two visits came back. A new orange lead goes before the waiting blue one, which
    # goes before a new green one; the green one that waited since August goes before the new green.
    sep = step(
        "2026-09",
        aug,
        leads=[
            lead("H5", "橙", visit_by=dt.date(2026, 10, 8)),
            lead("H6", "绿", visit_by=dt.date(2026, 10, 16)),
        ],
        returned=[
            outcome("XS202608-H1", "临时救助", "2026-09-03"),
            outcome("XS202608-H2", "转介", "2026-09-04"),
        ],
        rules=rules,
    )
    assert states(sep) == {
        "XS202608-H1": "closed",
        "XS202608-H2": "closed",
        "XS202608-H3": "new",
        "XS202609-H5": "new",
        "XS202608-H4": "queued",
        "XS202609-H6": "queued",
    }
    issued = state(sep, "XS202608-H3")
    assert (issued["first_month"], issued["first_issued_on"], issued["days_open"], issued["sheet"]) == (
        "2026-08",
        dt.date(2026, 10, 1),
        0,
        "main",
    )
    assert issued["condition_gone"], "its event is past: it still waits for a visit, never dropped"
    assert issued["visit_by"] == dt.date(2026, 10, 8), "the days it had to visit, from the list it is on"
    assert (state(sep, "XS202608-H4")["queue_rank"], state(sep, "XS202609-H6")["queue_rank"]) == (1, 2)
    # October: nothing came back, the two September visits fill the capacity: the queue stays whole
    oct_ = step("2026-10", sep, rules=rules)
    assert states(oct_) == {
        "XS202608-H3": "overdue",
        "XS202609-H5": "overdue",
        "XS202608-H4": "queued",
        "XS202609-H6": "queued",
    }
    assert "在办未回传 2 户" in state(oct_, "XS202608-H4")["queue_reason"]


def test_an_urgent_case_beyond_capacity_is_still_pushed():
    rules = with_capacity({"default": 1})
    aug = step(
        "2026-08",
        None,
        leads=[lead("H1", "红"), lead("H2", "黄", urgency="紧急"), lead("H3", "红", urgency="紧急")],
        rules=rules,
    )
    assert states(aug) == {"XS202608-H1": "queued", "XS202608-H2": "new", "XS202608-H3": "new"}
    assert dict(aug.select("case_id", "beyond_capacity").iter_rows()) == {
        "XS202608-H1": False,
        "XS202608-H2": True,
        "XS202608-H3": False,
    }
    assert state(aug, "XS202608-H2")["sheet"] == "main"


@pytest.mark.parametrize(
    "room, expected",
    [
        (1, {"H3": "new", "H1": "queued", "H2": "queued"}),
        (2, {"H3": "new", "H1": "new", "H2": "queued"}),
    ],
    ids=["one visit", "two visits"],
)
def test_a_household_with_a_lead_and_doubtful_records_is_one_visit(room, expected):
    """H1 has a yellow lead and two records to verify: one visit, going or waiting together. H3's
    应保 record goes first (rules/outcomes/capacity.yaml order), H2's blue lead last."""
    aug = step(
        "2026-08",
        None,
        leads=[lead("H1", "黄"), lead("H2", "蓝")],
        doubtful=[
            ("H1", "deposits", "存款 9 万", "核实"),
            ("H1", "private_car", "小汽车 1 辆", "核实"),
            ("H3", "income_below", "人均收入低于低保标准", "应保"),
        ],
        rules=with_capacity({"default": room}),
    )
    by_household = aug.group_by("household_id").agg(pl.col("state").unique())
    assert {h: s for h, (s,) in by_household.iter_rows()} == expected
    assert aug.filter(pl.col("household_id") == "H1").height == 3
    ledger = capacity.ledger("2026-08", aug, aug.select("household_id", "township_code").unique(), RULES)
    assert ledger.filter(pl.col("township_code") == T1)["issued"].item() == room


@pytest.mark.parametrize(
    "room, issued",
    [(2, {"H1", "H3"}), (4, {"H1", "H2", "H3", "H5"})],
    ids=["two visits", "four visits"],
)
def test_within_a_colour_the_deepest_need_goes_first_and_a_record_to_withdraw_before_yellow(room, issued):
    """Three orange leads on one hardship index: the household furthest below its standard after
    rigid expenditure goes first and heads the list, one with no figure last. An 应退 record goes
    before a yellow lead (应保尽保 and 应退尽退 are both duties; rules/outcomes/capacity.yaml order)."""
    aug = step(
        "2026-08",
        None,
        leads=[lead("H1"), lead("H2"), lead("H3"), lead("H4", "黄")],
        doubtful=[("H5", "income_above_standard", "人均收入高于低保标准", "应退")],
        need={"H1": 0.9, "H3": 0.3},
        rules=with_capacity({"default": room}),
    )
    assert {h for h, s in aug.select("household_id", "state").iter_rows() if s == "new"} == issued
    listed = aug.filter((pl.col("state") == "new") & (pl.col("kind") == "lead")).sort("rank")
    assert listed["household_id"].to_list()[:2] == ["H3", "H1"]


def test_a_near_dibao_candidate_waits_behind_records_of_need_and_to_withdraw():
    """Two 应保 records: H1 below the standard after rigid expenditure, H2 above it (a near-dibao
    candidate, 低保边缘 in the capacity order); an 应退 record H3. Two visits: H1 and H3 go, H2 waits."""
    aug = step(
        "2026-08",
        None,
        doubtful=[
            ("H1", "eligible_not_covered", "低于低保标准", "应保"),
            ("H2", "eligible_not_covered", "低于低保标准的1.5倍", "应保"),
            ("H3", "income_above_standard", "人均收入高于低保标准", "应退"),
        ],
        need={"H1": 0.6, "H2": 1.3},
        rules=with_capacity({"default": 2}),
    )
    assert dict(aug.select("household_id", "state").iter_rows()) == {"H1": "new", "H2": "queued", "H3": "new"}


def test_work_issued_and_not_returned_weighs_and_a_new_record_joins_its_visit():
    rules = with_capacity({"default": 2})
    aug = step("2026-08", None, leads=[lead("H1"), lead("H2")], rules=rules)
    sep = step(
        "2026-09",
        aug,
        leads=[lead("H3", "红")],
        doubtful=[("H1", "deposits", "存款 9 万")],
        rules=rules,
    )
    assert states(sep) == {
        "XS202608-H1": "overdue",
        "XS202608-H2": "overdue",
        "YD202609-H1-deposits": "new",
        "XS202609-H3": "queued",
    }
    assert "在办未回传 2 户" in state(sep, "XS202609-H3")["queue_reason"]
    # H1's new record joins its open visit: two visits, not three, so within the capacity of 2
    row = capacity.ledger("2026-09", sep, sep.select("household_id", "township_code").unique(), rules).row(
        0, named=True
    )
    assert (row["weighed"], row["issued"], row["visits"], row["capacity"]) == (2, 1, 2, 2)


@pytest.mark.parametrize(
    "yields, issued",
    [
        (None, "XS202608-H3"),
        ([("medical_hard", 25, 5), ("newly_unemployed", 25, 20), ("dropout", 3, 3)], "XS202608-H2"),
    ],
    ids=["nothing learned: colour, then hardship", "learned yield first"],
)
def test_the_yield_learned_from_outcomes_ranks_where_there_are_enough_visits(yields, issued):
    """newly_unemployed helped 20 of 25 visited leads, medical_hard 5 of 25; dropout's 3 visits are
    too few (yield_min_visited 20): it counts as the mean of the others, 25 of 50."""
    aug = step(
        "2026-08",
        None,
        leads=[
            lead("H1", "红", ("medical_hard",)),
            lead("H2", "黄", ("newly_unemployed",)),
            lead("H3", "红", ("dropout",)),
        ],
        rules=with_capacity({"default": 1}, min_visited=20),
        yields=yields,
        hardship={"H1": 40.0, "H2": 60.0, "H3": 80.0},
    )
    assert [c for c, s in states(aug).items() if s == "new"] == [issued]
    if yields:
        ranks = dict(aug.select("case_id", "queue_rank").iter_rows())
        assert (ranks["XS202608-H3"], ranks["XS202608-H1"]) == (1, 2)


def test_a_record_ranks_by_the_yield_its_check_has_learned():
    """An 应退 record whose check found ineligibility on 22 of 25 visits goes before an orange lead
    whose rule helped on 20 of 25; at the mean of all (44 of 75) it would wait."""
    aug = step(
        "2026-08",
        None,
        leads=[lead("H1", "橙", ("rigid_expenditure",))],
        doubtful=[("H2", "income_above_standard", "人均收入高于低保标准", "应退")],
        rules=with_capacity({"default": 1}, min_visited=20),
        yields=[
            ("rigid_expenditure", 25, 20),
            ("income_above_standard", 25, 22),
            ("employee_insurance_or_fund", 25, 2),
        ],
    )
    assert dict(aug.select("household_id", "state").iter_rows()) == {"H1": "queued", "H2": "new"}


@pytest.mark.parametrize("kind", ["lead", "doubtful"])
def test_a_corrected_case_counts_once_in_the_yields_and_as_a_correction_in_the_kpis(tmp_path, kind):
    """Issue 33 review, defect 8: two cases closed 不符合条件 in September; October reads a
    correction of each: case 1 to a conclusion that asks for action (reopened: open as of October,
    not visited), case 2 to 无法核实 (closed again: counted once, by its corrected outcome). v_kpis
    counts October's two corrections as corrections, not visits."""
    if kind == "lead":
        one, two = "XS202608-H1", "XS202608-H2"
        first = {"leads": [lead("H1", rules=("a",)), lead("H2", rules=("a",))]}
        helpful = "纳入低保"
    else:
        one, two = "YD202608-H1-deposits", "YD202608-H2-deposits"
        first = {"doubtful": [("H1", "deposits", "存款 9 万"), ("H2", "deposits", "存款 8 万")]}
        helpful = "退出"
    aug = step("2026-08", None, **first)
    sep = step(
        "2026-09",
        aug,
        returned=[outcome(one, "不符合条件", "2026-09-05"), outcome(two, "不符合条件", "2026-09-05")],
    )
    closed = sep.filter(pl.col("state") == "closed")
    oct_ = step(
        "2026-10",
        sep,
        returned=[outcome(one, helpful, "2026-09-05"), outcome(two, "无法核实", "2026-09-05")],
        closed_before=closed,
    )
    home = write_months(tmp_path, {"2026-08": aug, "2026-09": sep, "2026-10": oct_})
    months = ["2026-08", "2026-09", "2026-10"]
    view, key = ("v_rule_yield", "rule_id") if kind == "lead" else ("v_check_yield", "check_id")
    number = "leads" if kind == "lead" else "records"
    got = query(home, months, f"select month, {number}, visited, helpful from {view} order by month, {key}")
    assert got.rows() == [("2026-08", 2, 0, 0), ("2026-09", 2, 2, 0), ("2026-10", 2, 1, 0)]
    kpis = query(
        home,
        months,
        "select month, visited, not_eligible, unverifiable, corrected, reopened, listed from v_kpis "
        f"where kind = '{kind}' and area_level = 'province' order by month",
    )
    assert kpis.rows() == [
        ("2026-08", 0, 0, 0, 0, 0, 2),
        ("2026-09", 2, 2, 0, 0, 0, 0),
        ("2026-10", 0, 0, 0, 2, 1, 1),
    ]


def test_check_yield_on_hand_built_months(tmp_path):
    """Three 应退 records of one check and an 应保 record: 退出 is what an 应退 record's visit is
    for, assistance what an 应保 record's is for (rules/outcomes/cases.yaml)."""
    aug = step(
        "2026-08",
        None,
        doubtful=[
            ("H1", "income_above_standard", "高于标准", "应退"),
            ("H2", "income_above_standard", "高于标准", "应退"),
            ("H3", "income_above_standard", "高于标准", "应退"),
            ("H4", "eligible_not_covered", "低于标准", "应保"),
        ],
    )
    sep = step(
        "2026-09",
        aug,
        returned=[
            outcome("YD202608-H1-income_above_standard", "退出", "2026-09-03"),
            outcome("YD202608-H2-income_above_standard", "维持现状", "2026-09-04"),
            outcome("YD202608-H4-eligible_not_covered", "纳入低保", "2026-09-05"),
        ],
    )
    home = write_months(tmp_path, {"2026-08": aug, "2026-09": sep})
    rows = query(home, ["2026-08", "2026-09"], "select * from v_check_yield where month = '2026-09'")
    found = {r["check_id"]: (r["records"], r["visited"], r["helpful"], r["yield"]) for r in rows.to_dicts()}
    assert found == {"income_above_standard": (3, 2, 1, 0.5), "eligible_not_covered": (1, 1, 1, 1.0)}


def test_rule_ids_and_check_ids_are_apart():
    """Rules' and checks' yields share one table (jobs/cases/capacity.py learned_yield)."""
    warnings = {w.id for w in RULES.warnings}
    checks = {c.id for c in RULES.means_checks}
    assert warnings and checks and not warnings & checks


def test_capacity_by_township_or_county_in_rules_overrides_the_default(tmp_path):
    shutil.copytree(RULES_DIR, tmp_path / "rules")
    path = tmp_path / "rules" / "outcomes" / "capacity.yaml"
    text = path.read_text(encoding="utf-8")
    assert "      default: 40\n" in text
    path.write_text(
        text.replace("      default: 40\n", f'      default: 40\n      "{T1[:6]}": 25\n      "{T2}": 60\n'),
        encoding="utf-8",
    )
    rules = load_rules(tmp_path / "rules")
    towns = pl.DataFrame({"township_code": [T1, T2, "430102001"]})
    assert towns.select(capacity.capacity_of(rules, "2026-08")).to_series().to_list() == [25, 60, 40]
    aug = step(
        "2026-08",
        None,
        leads=[lead(f"A{i:02d}") for i in range(30)] + [lead(f"B{i:02d}", township=T2) for i in range(45)],
        rules=rules,
    )
    issued = aug.filter(pl.col("state") == "new").group_by("township_code").len()
    assert dict(issued.iter_rows()) == {T1: 25, T2: 45}
    assert dict(aug.select("township_code", "capacity").unique().iter_rows()) == {T1: 25, T2: 60}
    assert RULES.capacity.at(dt.date(2026, 8, 1)) == {"default": 40}, "the committed default"


def test_the_yield_ranking_reads_v_rule_yield_as_of_the_month_before(tmp_path):
    aug = step("2026-08", None, leads=[lead("H1", rules=("a",)), lead("H2", rules=("a", "b"))])
    sep = step(
        "2026-09",
        aug,
        returned=[
            outcome("XS202608-H1", "临时救助", "2026-09-03"),
            outcome("XS202608-H2", "不符合条件", "2026-09-11"),
        ],
    )
    home = write_months(tmp_path, {"2026-08": aug, "2026-09": sep})
    catalog = {m: {"build": "b"} for m in ("2026-08", "2026-09")}
    october = capacity.learned_yield(home, "2026-10", catalog)
    assert october.rows() == [("a", 2, 1), ("b", 1, 0)]
    september = capacity.learned_yield(home, "2026-09", catalog)
    assert september["visited"].to_list() == [0, 0], "as of August nothing had come back"
    assert capacity.learned_yield(Home(tmp_path / "empty"), "2026-08").height == 0


def test_visits_per_1000_households_per_township_and_the_queue_are_kpis(tmp_path):
    """T1 (capacity 2): three urgent households, one of them past the capacity, and a green lead
    that waits into September behind two new urgent ones; T2: one household. 20 households on the
    roster, 10 per township."""
    rules = with_capacity({"default": 2})
    aug = step(
        "2026-08",
        None,
        leads=[
            lead("H1", "红", urgency="紧急"),
            lead("H2", "红", urgency="紧急"),
            lead("H3", "橙", urgency="紧急"),
            lead("H4", "绿"),
            lead("H9", township=T2),
        ],
        rules=rules,
    )
    returned = [outcome(f"XS202608-H{i}", "维持现状", "2026-09-05") for i in (1, 2, 3, 9)]
    sep = step(
        "2026-09",
        aug,
        leads=[lead("H5", "红", urgency="紧急"), lead("H6", "橙", urgency="紧急")],
        returned=returned,
        rules=rules,
    )
    roster = pl.DataFrame(
        {"household_id": [f"R{i}" for i in range(20)], "township_code": [T1] * 10 + [T2] * 10}
    )
    months = {"2026-08": aug, "2026-09": sep}
    for month, frame in months.items():  # the ledger as assess_month writes it, with rules' capacity
        build = tmp_path / "lake" / f"month={month}" / "build=b"
        write_parquet(frame, build / "_cases" / "data.parquet")
        write_parquet(capacity.ledger(month, frame, roster, rules), build / "_capacity" / "data.parquet")
    kpis = query(Home(tmp_path), list(months), "select * from v_kpis where kind = 'all' order by all")
    row = {(r["month"], r["area_code"]): r for r in kpis.to_dicts()}
    august = row[("2026-08", "all")]
    assert (august["households"], august["townships"], august["capacity"]) == (20, 2, 4)
    assert (august["issued_households"], august["beyond_capacity"], august["queued_households"]) == (4, 1, 1)
    assert (august["issued_per_1000_households"], august["queued_per_1000_households"]) == (200.0, 50.0)
    assert (august["issued_per_township"], august["townships_over_capacity"]) == (2.0, 1)
    assert august["listed"] == 4, "a queued item is not on the lists"
    t1 = row[("2026-09", T1)]
    assert (t1["issued_households"], t1["queued"], t1["queue_months_max"]) == (2, 1, 1)
    assert state(sep, "XS202608-H4")["state"] == "queued", "September's urgent leads fill the capacity"
    assert t1["capacity"] == 2 and t1["households"] == 10
    capacity_rows = query(Home(tmp_path), list(months), "select * from v_capacity order by all")
    assert capacity_rows.filter(pl.col("month") == "2026-08").select(
        "township_code", "issued", "urgent", "beyond_capacity", "queued", "over_capacity"
    ).rows() == [(T1, 3, 3, 1, 1, True), (T2, 1, 0, 0, 0, False)]
