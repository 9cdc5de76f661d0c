"""The households' assembly as a read of the month's window (jobs/assess/month_window.py) and pure
functions over its frames (jobs/assess/households.py `features` and its parts): tiny frames in,
table-driven, no home on disk."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from jobs.assess import households as hh
from jobs.assess import month_window as mw
from safetynet.rules import load_rules

RULES = load_rules()
MONTH = "2026-09"
PERIOD = hh.Period.of(MONTH, RULES)
D = dt.date.fromisoformat
EARLIER = ["2026-07", "2026-08"]

# (case, deliveries of the earlier months, months the lake ran, baseline, first day unseen)
SEEN = [
    ("delivered last month", {"2026-08": {"disability"}}, {"2026-07", "2026-08"}, "2026-08", D("2026-09-01")),
    (
        "delivered two months ago only",
        {"2026-07": {"disability"}},
        {"2026-07", "2026-08"},
        "2026-07",
        D("2026-08-01"),
    ),
    ("never delivered, the lake ran both", {}, {"2026-07", "2026-08"}, None, D("2026-07-01")),
    ("never delivered, the lake ran last month only", {}, {"2026-08"}, None, D("2026-08-01")),
    ("a first month: nothing ran before", {}, set(), None, D("2026-09-01")),
    ("another source delivered only", {"2026-08": {"deaths"}}, {"2026-08"}, None, D("2026-08-01")),
]


@pytest.mark.parametrize("case,delivered,ran,base,since", SEEN, ids=[s[0] for s in SEEN])
def test_which_snapshot_a_register_is_compared_with_and_since_when_rows_are_new(
    case, delivered, ran, base, since
):
    deliveries = {m: delivered.get(m, set()) for m in [*EARLIER, MONTH]}
    ran_in = {m: m in ran for m in [*EARLIER, MONTH]}
    assert mw.baseline("disability", EARLIER, deliveries) == base
    assert mw.unseen_from("disability", EARLIER, MONTH, deliveries, ran_in) == since


ROSTER_SCHEMA = {
    "id_number": pl.String,
    "household_id": pl.String,
    "division_code": pl.String,
    "relation": pl.String,
}
APPLICANT_SCHEMA = ROSTER_SCHEMA | {"application_id": pl.String}
ROSTER = pl.LazyFrame(
    [("A", "H1", "430101", "户主"), ("B", "H1", "430101", "配偶")], schema=ROSTER_SCHEMA, orient="row"
)
# (case, applicants (None: none watched), area, every prefecture's roster ids, applicant households kept)
APPLYING = [
    ("none watched", None, None, None, []),
    ("an applicant off the roster is assembled", [("X", "P1", "430101", "户主", "AP1")], None, None, ["P1"]),
    (
        "an applicant enrolled since is on the roster: the whole household is left out",
        [("A", "P2", "430101", "户主", "AP2"), ("Y", "P2", "430101", "配偶", "AP2")],
        None,
        None,
        [],
    ),
    (
        "a prefecture keeps its own applicants only (placed by the head's division)",
        [("X", "P1", "430101", "户主", "AP1"), ("Z", "P3", "430201", "户主", "AP3")],
        "4301",
        [],
        ["P1"],
    ),
    (
        "in a prefecture, an applicant on another prefecture's roster is enrolled",
        [("X", "P1", "430101", "户主", "AP1"), ("W", "P4", "430101", "户主", "AP4")],
        "4301",
        ["W"],
        ["P1"],
    ),
]


@pytest.mark.parametrize("case,applicants,area,province,kept", APPLYING, ids=[a[0] for a in APPLYING])
def test_the_month_roster_takes_the_applicants_not_enrolled(case, applicants, area, province, kept):
    watched = None if applicants is None else pl.DataFrame(applicants, schema=APPLICANT_SCHEMA, orient="row")
    elsewhere = (
        None if province is None else pl.LazyFrame({"id_number": province}, schema={"id_number": pl.String})
    )
    roster, left = mw.with_applicants(ROSTER, watched, area, elsewhere)
    out = roster.collect()
    assert out.filter(pl.col("application_id").is_null())["id_number"].to_list() == ["A", "B"]
    assert sorted(out.filter(pl.col("application_id").is_not_null())["household_id"].unique()) == kept
    assert (left is None) == (applicants is None)


DEATHS = {"id_number": pl.String, "died_on": pl.Date, "month": pl.String}
MISSING = {"id_number": pl.String, "declared_on": pl.Date, "month": pl.String}
# (case, deaths, declared missing, ids gone by the month's end)
GONE = [
    ("nobody", [], [], []),
    ("died in the month", [("A", D("2026-09-30"), MONTH)], [], ["A"]),
    ("a death dated after the month is not yet", [("A", D("2026-10-01"), MONTH)], [], []),
    (
        "declared missing earlier, died later: once",
        [("A", D("2026-09-02"), MONTH)],
        [("A", D("2026-03-01"), "2026-03")],
        ["A"],
    ),
    ("declared missing", [], [("B", D("2026-08-15"), "2026-08")], ["B"]),
]


@pytest.mark.parametrize("case,deaths,missing,gone", GONE, ids=[g[0] for g in GONE])
def test_who_is_gone_by_the_months_end(case, deaths, missing, gone):
    found = hh.gone_by(
        pl.LazyFrame(deaths, schema=DEATHS, orient="row"),
        pl.LazyFrame(missing, schema=MISSING, orient="row"),
        PERIOD,
    )
    assert sorted(found.collect()["id_number"]) == gone


PEOPLE = {
    "id_number": pl.String,
    "household_id": pl.String,
    "relation": pl.String,
    "declared_monthly_income": pl.Float64,
}
# (case, this month's people, gone, earlier rosters (newest first), every prefecture's roster, members)
MEMBERS = [
    (
        "this month's roster",
        [("A", "H1", "户主", 0.0), ("B", "H1", "配偶", 0.0)],
        [],
        [],
        None,
        {"A": "H1", "B": "H1"},
    ),
    (
        "a person gone and off the roster: the last roster that listed them",
        [("A", "H1", "户主", 0.0)],
        ["C"],
        [[("C", "H1", "配偶", 900.0)]],
        None,
        {"A": "H1", "C": "H1"},
    ),
    (
        "a later roster wins",
        [("A", "H1", "户主", 0.0)],
        ["C"],
        [[("C", "H2", "户主", 0.0)], [("C", "H1", "配偶", 0.0)]],
        None,
        {"A": "H1", "C": "H2"},
    ),
    ("gone but on no roster: no member", [("A", "H1", "户主", 0.0)], ["C"], [], None, {"A": "H1"}),
    (
        "an earlier roster's living person off this month's roster is not a member",
        [("A", "H1", "户主", 0.0)],
        [],
        [[("C", "H1", "配偶", 0.0)]],
        None,
        {"A": "H1"},
    ),
    (
        "a person on two households: the first",
        [("A", "H2", "户主", 0.0), ("A", "H1", "子女", 0.0)],
        [],
        [],
        None,
        {"A": "H1"},
    ),
    (
        "in a prefecture, a person first on another prefecture's household counts there",
        [("A", "H2", "户主", 0.0), ("B", "H2", "配偶", 0.0)],
        [],
        [],
        [("A", "H1"), ("A", "H2"), ("B", "H2")],
        {"B": "H2"},
    ),
]


@pytest.mark.parametrize("case,people,gone,earlier,province,expected", MEMBERS, ids=[m[0] for m in MEMBERS])
def test_which_household_a_person_counts_in(case, people, gone, earlier, province, expected):
    found = hh.household_members(
        pl.LazyFrame(people, schema=PEOPLE, orient="row"),
        pl.LazyFrame({"id_number": gone}, schema={"id_number": pl.String}),
        [pl.LazyFrame(r, schema=PEOPLE, orient="row") for r in earlier],
        None
        if province is None
        else pl.LazyFrame(province, schema={"id_number": pl.String, "household_id": pl.String}, orient="row"),
    ).collect()
    assert dict(found.select("id_number", "household_id").iter_rows()) == expected


def _rows(name: str, data: list[tuple] | None = None) -> pl.LazyFrame:
    _, _, schema = mw.READS[name]
    return pl.LazyFrame(data or [], schema=schema | {"month": pl.String}, orient="row")


# (case, the dead member's declared income, rows by source, died (month delivered), an earner)
EARNERS = [
    ("no income", 0.0, {}, MONTH, False),
    ("declared income", 500.0, {}, MONTH, True),
    (
        "a 就业 registration in the window",
        0.0,
        {"employment": [("D", "就业", D("2026-02-01"), None, "2026-02")]},
        MONTH,
        True,
    ),
    (
        "a 失业 registration",
        0.0,
        {"employment": [("D", "失业", D("2026-02-01"), None, "2026-02")]},
        MONTH,
        False,
    ),
    ("employee insurance", 0.0, {"insured_recently": [("D", "城镇职工", "2026-08")]}, MONTH, True),
    ("resident insurance", 0.0, {"insured_recently": [("D", "城乡居民", "2026-08")]}, MONTH, False),
    ("a housing fund paid", 0.0, {"fund_recently": [("D", "正常", MONTH)]}, MONTH, True),
    ("an earner who died in an earlier month's delivery", 500.0, {}, "2026-08", False),
]


@pytest.mark.parametrize("case,income,rows,delivered,earner", EARNERS, ids=[e[0] for e in EARNERS])
def test_an_earner_is_who_the_means_test_counts_income_for(case, income, rows, delivered, earner):
    members = pl.LazyFrame([("D", "H1", "户主", income)], schema=PEOPLE, orient="row")
    frames = {
        name: _rows(name, rows.get(name)) for name in ("employment", "insured_recently", "fund_recently")
    }
    dead = pl.LazyFrame([("D", D("2026-08-20"), delivered)], schema=DEATHS, orient="row")
    found = hh.earners(members, frames, dead, PERIOD).collect()
    assert (found.height > 0) == earner


def test_the_months_held_are_the_windows_the_rigid_expenditure_is_averaged_over():
    out = pl.select(**hh.months_held({"medical_claims": 12, "education_aid": 3}))
    assert out.row(0) == (12, 3)


ROSTER_ROW = {
    "id_number": pl.String,
    "household_id": pl.String,
    "relation": pl.String,
    "division_code": pl.String,
    "category": pl.String,
    "residence_type": pl.String,
    "health_status": pl.String,
    "labour_capacity": pl.String,
    "declared_monthly_income": pl.Float64,
    "monthly_benefit": pl.Float64,
    "housing_area": pl.Float64,
    "month": pl.String,
}
HEAD = "430101195001011234"  # born 1950: elderly
CHILD = "430101201801011234"  # born 2018: a minor


def tiny_window(deaths: list[tuple], quarantined: list[str], held: int) -> mw.Window:
    roster = pl.LazyFrame(
        [
            (HEAD, "H1", "户主", "430101001001", "低保", "农村", "健康", "有", 300.0, 200.0, 60.0, MONTH),
            (CHILD, "H1", "孙子女", "430101001001", "低保", "农村", "健康", "无", 0.0, 0.0, None, MONTH),
        ],
        schema=ROSTER_ROW,
        orient="row",
    ).with_columns(application_id=pl.lit(None, pl.String))
    rows = {name: _rows(name) for name in mw.READS}
    rows["deaths"] = _rows("deaths", deaths)
    snapshots = {
        s: mw.Snapshot(mw.empty(schema | {"month": pl.String}), None, D("2026-09-01"))
        for s, schema in mw.SNAPSHOTS.items()
    }
    return mw.Window(
        month=MONTH,
        months=mw.window(MONTH, RULES.population.lookback_months),
        area=None,
        roster=roster,
        province_roster=None,
        earlier_rosters=[],
        rows=rows,
        snapshots=snapshots,
        quarantined=pl.LazyFrame({"household_id": quarantined}, schema={"household_id": pl.String}),
        missing=[],
        held={s: held for s in mw.HELD},
    )


# (case, deaths rows, quarantined households, months held, expected features)
FEATURES = [
    (
        "a grandparent and a child",
        [],
        [],
        12,
        {
            "members": 2,
            "elderly": 1,
            "minors": 1,
            "counted_members": 2,
            "counted_income": 300.0,
            "rigid_months": 12,
        },
    ),
    (
        "the grandparent, an earner, died this month",
        [(HEAD, D("2026-09-10"), "deaths.csv", MONTH)],
        [],
        0,
        {
            "event_death": 1,
            "event_death_earner": 1,
            "counted_members": 1,
            "counted_income": 0.0,
            "deaths_12m": 1,
        },
    ),
    ("a roster row quarantined", [], ["H1"], 12, {"members_incomplete": 1, "event_death": 0}),
]


@pytest.mark.parametrize("case,deaths,quarantined,held,expected", FEATURES, ids=[f[0] for f in FEATURES])
def test_the_features_of_a_window_need_no_home(case, deaths, quarantined, held, expected):
    out = hh.features(tiny_window(deaths, quarantined, held), RULES)
    assert out.columns == ["month", *hh.FEATURES]
    row = out.row(0, named=True)
    assert out.height == 1 and row["month"] == MONTH and row["household_id"] == "H1"
    assert {k: row[k] for k in expected} == expected
