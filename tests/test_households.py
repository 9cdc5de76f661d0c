"""Household assembly, one source at a time (jobs/assess/households.py): tiny frames in, per-household
features and events out, table-driven; then a pair of months in which the previous month's
departments delivered nothing, through the whole run."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from conftest import whole_months
from direct import run

from jobs.assess import households as hh
from jobs.publish.sealed import connect
from safetynet.ids import check_character
from safetynet.rules import load_rules

RULES = load_rules()
PERIOD = hh.Period.of("2026-09", RULES)
D = dt.date.fromisoformat


def members(*ids: str) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "id_number": list(ids),
            "household_id": ["H1"] * len(ids),
            "relation": ["户主", *["配偶"] * (len(ids) - 1)],
            "declared_monthly_income": [0.0] * len(ids),
        }
    )


def frame(rows: list[dict] | None, schema: dict) -> pl.LazyFrame | None:
    return None if rows is None else pl.LazyFrame(rows, schema=schema, orient="row")


def one(result: pl.LazyFrame) -> dict:
    rows = result.collect().to_dicts()
    return rows[0] if rows else {}


DIS = {"id_number": pl.String, "grade": pl.Int32, "registered_on": pl.Date}
# (case, now, before (None: no earlier register delivered), expected)
DISABILITY = [
    (
        "dated in the month, no earlier register",
        [("A", 3, D("2026-09-12"))],
        None,
        {"event_new_disability": 1, "event_severe_disability": 0, "unknown_disability": False},
    ),
    (
        "grade 1 dated in the month, no earlier register",
        [("A", 1, D("2026-09-01"))],
        None,
        {"event_new_disability": 1, "event_severe_disability": 1, "event_disability_grade": 1},
    ),
    (
        "older first sighting, no earlier register: not known to be new",
        [("A", 2, D("2026-03-05"))],
        None,
        {"event_new_disability": 0, "unknown_disability": True, "severe_disabled": 1},
    ),
    (
        "registered years ago, no earlier register: known to be old",
        [("A", 2, D("2019-03-05"))],
        None,
        {"event_new_disability": 0, "unknown_disability": False},
    ),
    (
        "not in the earlier register, older date: a late registration",
        [("A", 3, D("2026-05-05"))],
        [],
        {"event_new_disability": 1, "unknown_disability": False},
    ),
    (
        "worse than the earlier register",
        [("A", 1, D("2026-05-05"))],
        [("A", 3, D("2026-05-05"))],
        {"event_new_disability": 1, "event_severe_disability": 1},
    ),
    (
        "as in the earlier register",
        [("A", 3, D("2026-05-05"))],
        [("A", 3, D("2026-05-05"))],
        {"event_new_disability": 0, "disabled": 1},
    ),
]


@pytest.mark.parametrize("case,now,before,expected", DISABILITY, ids=[c[0] for c in DISABILITY])
def test_disability(case, now, before, expected):
    got = one(hh.disability(frame(now, DIS), frame(before, DIS), members("A"), PERIOD))
    assert {k: got[k] for k in expected} == expected


ENROL = {"id_number": pl.String, "stage": pl.String, "status": pl.String, "enrolled_on": pl.Date}
ENROLMENT = [
    (
        "kindergarten dated in the month, no earlier register",
        [("A", "学前", "在读", D("2026-09-01"))],
        None,
        {"event_kindergarten_entry": 1, "preschool": 1, "unknown_enrolment": False},
    ),
    (
        "senior high dated in the month, no earlier register",
        [("A", "高中", "在读", D("2026-09-01"))],
        None,
        {"event_new_upper_stage": 1, "high_school_students": 1},
    ),
    (
        "kindergarten last spring, no earlier register: not known",
        [("A", "学前", "在读", D("2026-03-01"))],
        None,
        {"event_kindergarten_entry": 0, "unknown_enrolment": True},
    ),
    (
        "primary school, no earlier register: nothing to tell",
        [("A", "小学", "在读", D("2024-09-01"))],
        None,
        {"event_kindergarten_entry": 0, "unknown_enrolment": False, "compulsory_students": 1},
    ),
    (
        "a dropout with no earlier register: not known to be new",
        [("A", "初中", "辍学", D("2024-09-01"))],
        None,
        {"event_dropout": 0, "dropouts": 1, "unknown_enrolment": True},
    ),
    (
        "a dropout against an earlier register",
        [("A", "初中", "辍学", D("2024-09-01"))],
        [("A", "初中", "在读", D("2024-09-01"))],
        {"event_dropout": 1, "unknown_enrolment": False},
    ),
    (
        "still a dropout",
        [("A", "初中", "辍学", D("2024-09-01"))],
        [("A", "初中", "辍学", D("2024-09-01"))],
        {"event_dropout": 0},
    ),
    (
        "new stage against an earlier register",
        [("A", "本科", "在读", D("2026-08-25"))],
        [("A", "高中", "毕业", D("2023-09-01"))],
        {"event_new_upper_stage": 1, "college_students": 1},
    ),
]


@pytest.mark.parametrize("case,now,before,expected", ENROLMENT, ids=[c[0] for c in ENROLMENT])
def test_enrolment(case, now, before, expected):
    got = one(hh.enrolment(frame(now, ENROL), frame(before, ENROL), members("A"), PERIOD))
    assert {k: got[k] for k in expected} == expected


DIL = {"id_number": pl.String, "grade": pl.String, "assessed_on": pl.Date}
DILAPIDATED = [
    (
        "D assessed in the month, no earlier register",
        [("A", "D", D("2026-09-20"))],
        None,
        {"event_newly_dilapidated": 4, "dilapidated_grade": 4, "unknown_dilapidated_housing": False},
    ),
    (
        "C assessed earlier, no earlier register: not known",
        [("A", "C", D("2026-06-20"))],
        None,
        {"event_newly_dilapidated": 0, "unknown_dilapidated_housing": True},
    ),
    (
        "B assessed earlier, no earlier register: no warning either way",
        [("A", "B", D("2026-06-20"))],
        None,
        {"event_newly_dilapidated": 0, "unknown_dilapidated_housing": False},
    ),
    (
        "worse than the earlier register",
        [("A", "D", D("2026-06-20"))],
        [("A", "C", D("2026-06-20"))],
        {"event_newly_dilapidated": 4},
    ),
    (
        "as in the earlier register",
        [("A", "D", D("2026-06-20"))],
        [("A", "D", D("2026-06-20"))],
        {"event_newly_dilapidated": 0, "dilapidated_grade": 4},
    ),
]


@pytest.mark.parametrize("case,now,before,expected", DILAPIDATED, ids=[c[0] for c in DILAPIDATED])
def test_dilapidated(case, now, before, expected):
    got = one(hh.dilapidated(frame(now, DIL), frame(before, DIL), members("A"), PERIOD))
    assert {k: got[k] for k in expected} == expected


# The source was last delivered in July, or never, while the lake ran August without it: no run saw
# the rows dated since 1 August, so they are new this month (missing is not zero, for events too).
SINCE_AUGUST = D("2026-08-01")
UNSEEN = [
    (
        "kindergarten dated the 1st of last month, last month not delivered",
        hh.enrolment,
        ENROL,
        [("A", "学前", "在读", D("2026-08-01"))],
        {"event_kindergarten_entry": 1, "unknown_enrolment": False},
    ),
    (
        "kindergarten dated before the months not delivered: not known",
        hh.enrolment,
        ENROL,
        [("A", "学前", "在读", D("2026-07-31"))],
        {"event_kindergarten_entry": 0, "unknown_enrolment": True},
    ),
    (
        "university dated last month, last month not delivered",
        hh.enrolment,
        ENROL,
        [("A", "本科", "在读", D("2026-08-25"))],
        {"event_new_upper_stage": 1, "unknown_enrolment": False},
    ),
    (
        "a disability registered last month, last month not delivered",
        hh.disability,
        DIS,
        [("A", 1, D("2026-08-05"))],
        {"event_new_disability": 1, "event_severe_disability": 1, "unknown_disability": False},
    ),
    (
        "a D grade assessed last month, last month not delivered",
        hh.dilapidated,
        DIL,
        [("A", "D", D("2026-08-20"))],
        {"event_newly_dilapidated": 4, "unknown_dilapidated_housing": False},
    ),
]


@pytest.mark.parametrize("case,source,schema,now,expected", UNSEEN, ids=[c[0] for c in UNSEEN])
def test_rows_dated_since_the_last_delivery_are_new(case, source, schema, now, expected):
    got = one(source(frame(now, schema), None, members("A"), PERIOD, since=SINCE_AUGUST))
    assert {k: got[k] for k in expected} == expected


DEATHS = {"id_number": pl.String, "died_on": pl.Date, "month": pl.String}
DEATH_CASES = [
    (
        "delivered this month, died last month: acted on now",
        [("B", D("2026-08-28"), "2026-09")],
        ["B"],
        {"event_death": 1, "event_death_earner": 1, "event_death_date": D("2026-08-28"), "partner_died": 1},
    ),
    (
        "delivered last month: not this month's event",
        [("B", D("2026-08-10"), "2026-08")],
        ["B"],
        {"event_death": 0, "deaths_12m": 1, "event_death_earner": 0},
    ),
    (
        "delivered again this month after last month: the first delivery counts",
        [("B", D("2026-08-10"), "2026-08"), ("B", D("2026-08-10"), "2026-09")],
        [],
        {"event_death": 0},
    ),
    ("not an earner", [("B", D("2026-09-02"), "2026-09")], [], {"event_death": 1, "event_death_earner": 0}),
    (
        "died before the window, delivered now",
        [("B", D("2024-01-02"), "2026-09")],
        [],
        {"event_death": 1, "deaths_12m": 0},
    ),
]


@pytest.mark.parametrize("case,rows,earners,expected", DEATH_CASES, ids=[c[0] for c in DEATH_CASES])
def test_deaths(case, rows, earners, expected):
    earner_ids = pl.LazyFrame({"id_number": earners}, schema={"id_number": pl.String})
    got = one(hh.deaths(frame(rows, DEATHS), earner_ids, members("A", "B"), PERIOD))
    assert {k: got[k] for k in expected} == expected


def test_windows_count_the_lookback_months_only():
    rows = frame(
        [
            ("A", D("2025-09-30"), 100),
            ("A", D("2025-10-01"), 200),
            ("A", D("2026-09-30"), 400),
            ("A", D("2026-10-01"), 800),
        ],
        {"id_number": pl.String, "paid_on": pl.Date, "amount": pl.Int64},
    ).with_columns(month=pl.lit("2026-09"))
    got = one(hh.window_amount(rows, "paid_on", "amount", "paid", members("A"), PERIOD))
    assert got["paid"] == 600  # 2025-10-01 .. 2026-09-30: 12 months
    assert hh.window("2026-09", RULES.population.lookback_months)[0] == "2025-10"


def test_assets_are_counted_as_the_means_test_counts_them():
    m = members("A")
    estate = frame(
        [("A", "F1", "住宅"), ("A", "F2", "住宅"), ("A", "F3", "商业"), ("A", "F4", "其他")],
        {"id_number": pl.String, "property_id": pl.String, "usage": pl.String},
    )
    got = one(hh.properties(estate, m, PERIOD))
    assert (got["properties"], got["commercial_properties"]) == (2, 1)
    cars = frame(
        [("A", "小型汽车", "否"), ("A", "小型汽车", "是"), ("A", "摩托车", "否")],
        {"id_number": pl.String, "vehicle_type": pl.String, "operating": pl.String},
    )
    assert one(hh.cars(cars, m, PERIOD))["cars"] == 1
    deposits = frame([("A", -500), ("A", 300)], {"id_number": pl.String, "balance": pl.Decimal(16, 2)})
    assert one(hh.deposits(deposits, m))["deposits"] == 300  # a negative balance counts as 0


# --- a first month with patchy deliveries, through the whole run ------------------------------------


def pid(n: int, birth: str = "19800101") -> str:
    body = f"430101{birth}{n:03d}"
    return body + check_character(body)


def roster(rows: list[tuple]) -> str:
    head = (
        "household_id,id_number,name,relation,division_code,residence_type,category,declared_monthly_income\n"
    )
    return head + "".join(f"{h},{i},成员{n},{r},430101001001,农村,{c},{inc}\n" for h, i, n, r, c, inc in rows)


ROWS = [
    ("H1", pid(1), 1, "户主", "低保边缘", 0),
    ("H2", pid(2), 2, "户主", "低保边缘", 0),
    ("H3", pid(3), 3, "户主", "低保边缘", 0),
    ("H3", pid(4, "20230305"), 4, "子女", "低保边缘", 0),
    ("H4", pid(5), 5, "户主", "低保边缘", 0),  # an old registration: no event either way
    ("H5", pid(6, "19500101"), 6, "户主", "低保", 0),
    ("H5", pid(7, "19520101"), 7, "配偶", "低保", 1200),  # an earner, dies; the other is left alone
    ("H6", pid(8), 8, "户主", "低保", 0),
    ("H7", pid(10), 10, "户主", "低保边缘", 0),  # registered disabled in August, delivered in September
]


@pytest.fixture(scope="module")
@whole_months
def home(tmp_path_factory):
    root = tmp_path_factory.mktemp("patchy")
    landing, home = root / "landing", root / "home"
    divisions = "division_code,name\n430101,县\n430101001,镇\n430101001001,村\n"
    months = {
        # the first month: only the divisions and the roster arrived
        "2026-08": {"divisions": divisions, "roster": roster(ROWS)},
        "2026-09": {
            # a member of H6 whose ID number fails its check character: quarantined
            "roster": roster(ROWS) + "H6,430101198001019990,成员9,配偶,430101001001,农村,低保,0\n",
            "disability": "id_number,disability_type,grade,registered_on\n"
            f"{pid(1)},肢体,1,2026-09-10\n{pid(5)},视力,3,2015-04-01\n{pid(10)},肢体,2,2026-08-05\n",
            "dilapidated_housing": f"id_number,grade,assessed_on\n{pid(2)},D,2026-09-15\n{pid(8)},C,2026-07-15\n",
            "enrolment": f"id_number,stage,enrolled_on,status\n{pid(4, '20230305')},学前,2026-09-01,在读\n",
            "deaths": f"id_number,died_on\n{pid(7, '19520101')},2026-08-29\n",
        },
    }
    for month, sources in months.items():
        folder = landing / month
        folder.mkdir(parents=True)
        for name, text in sources.items():
            (folder / f"{name}.csv").write_text(text, encoding="utf-8")
        run(month, str(landing), str(home), f"test-{month}")
    return home


def test_events_dated_in_the_month_are_found_without_a_previous_delivery(home):
    con = connect(home)
    rules = {
        h: set(r.split(","))
        for h, r in con.execute(
            "select household_id, rule_ids from v_leads where month = '2026-09'"
        ).fetchall()
    }
    assert {"new_disability", "new_severe_disability"} <= rules["H1"]
    assert "newly_dilapidated" in rules["H2"]
    assert "kindergarten_entry" in rules["H3"]
    assert "new_disability" not in rules.get("H4", set())  # registered in 2015: known to be old


def test_a_snapshot_row_dated_in_a_month_run_without_its_source_is_new(home):
    """August ran without a disability delivery: H7's registration of 5 August was seen by no run."""
    con = connect(home)
    (rule_ids,) = con.execute(
        "select rule_ids from v_leads where month = '2026-09' and household_id = 'H7'"
    ).fetchone() or ("",)
    assert {"new_disability", "new_severe_disability"} <= set(rule_ids.split(","))
    (unknown,) = con.execute(
        "select events_unknown from lake_household_month where month = '2026-09' and household_id = 'H7'"
    ).fetchone()
    assert unknown is None


def test_a_death_delivered_late_is_acted_on_and_the_survivor_alone_is_seen(home):
    con = connect(home)
    (rule_ids, action) = con.execute(
        "select rule_ids, recommended_action from v_leads where month = '2026-09' and household_id = 'H5'"
    ).fetchone()
    assert {"death_in_household", "elderly_left_alone"} <= set(rule_ids.split(","))
    assert "调整救助待遇" in action
    (direction,) = con.execute(
        "select direction from v_doubtful_records where month = '2026-09' and household_id = 'H5' "
        "and check_id = 'death_recalculate'"
    ).fetchone()
    assert direction == "核实"


def test_without_an_earlier_register_the_household_says_event_detection_was_incomplete(home):
    con = connect(home)
    unknown = dict(
        con.execute(
            "select household_id, events_unknown from lake_household_month where month = '2026-09'"
        ).fetchall()
    )
    assert unknown["H6"] == "dilapidated_housing"  # a C grade from July: new or not, unknown
    assert unknown["H1"] is None and unknown["H4"] is None and unknown["H7"] is None


def test_a_quarantined_member_leaves_the_household_incomplete_not_smaller_unnoticed(home):
    con = connect(home)
    rows = dict(
        con.execute(
            "select household_id, members_incomplete from v_household_month where month = '2026-09'"
        ).fetchall()
    )
    assert rows["H6"] == 1 and rows["H1"] == 0
    (household, reason) = con.execute(
        "select household_id, reason from v_quarantine where month = '2026-09' and source = 'roster'"
    ).fetchone()
    assert household == "H6" and "check character" in reason


def test_per_capita_income_is_the_means_tests_and_the_declared_one_has_its_own_name(home):
    """H5: the member who died declared 1,200 a month; the one living declared nothing."""
    con = connect(home)
    per_capita, declared = con.execute(
        "select per_capita_income, declared_income_per_capita from v_household_month "
        "where month = '2026-09' and household_id = 'H5'"
    ).fetchone()
    (means,) = con.execute(
        "select per_capita_income from means_households where month = '2026-09' and household_id = 'H5'"
    ).fetchone()
    assert per_capita == means == 0 and declared == 600


# --- anticipated needs ------------------------------------------------------------------------------

NOTICE_CASES = [
    # (case, birth date, enrolled stage, noticed before, expected stage)
    ("three on 1 September: kindergarten", "20230831", None, False, "学前"),
    ("three on 2 September: not yet", "20230902", None, False, None),
    ("already in kindergarten", "20230101", "学前", False, None),
    ("noticed for the stage last month", "20230101", None, True, None),
    ("fifteen on 1 September: senior high", "20110901", "初中", False, "高中"),
    ("already in vocational school", "20110601", "中职", False, None),
    ("eighteen on 1 September: university", "20080301", "高中", False, "本科"),
    ("ten: no stage that costs money", "20160101", "小学", False, None),
]


@pytest.mark.parametrize("case,birth,stage,before,expected", NOTICE_CASES, ids=[c[0] for c in NOTICE_CASES])
def test_anticipated_needs(case, birth, stage, before, expected):
    from jobs.assess.notices import NOTICE_SCHEMA, due

    child = pid(1, birth)
    roster_rows = pl.DataFrame(
        {"household_id": ["H1"], "id_number": [child], "name": ["小明"], "division_code": ["430101001001"]}
    )
    enrolled = pl.DataFrame({"id_number": [child], "stage": [stage]}) if stage else None
    earlier = (
        [pl.DataFrame({"id_number": [child], "stage": ["学前"]}, schema_overrides=NOTICE_SCHEMA)]
        if before
        else []
    )
    got = due("2026-06", RULES.population, roster_rows, enrolled, earlier, "v")
    assert got["stage"].to_list() == ([expected] if expected else [])
    if expected:
        row = got.row(0, named=True)
        assert row["starts_on"] == dt.date(2026, 9, 1) and row["notice_id"] == "YJ202606-H1-1"
        assert "小明将于2026-09-01满" in row["note"]


def test_notices_have_their_own_sheet_and_are_not_leads(home):
    from python_calamine import CalamineWorkbook

    con = connect(home)
    notices = con.execute("select month, household_id, stage, id_number from v_notices").fetchall()
    child = pid(4, "20230305")
    assert notices == [("2026-08", "H3", "学前", child)]  # August is a notice month; September is not
    (leads,) = con.execute(
        "select count(*) from v_leads where month = '2026-08' and household_id = 'H3' "
        "and rule_ids like '%kindergarten%'"
    ).fetchone()
    assert leads == 0  # H3 has no income: its lead is its need (rigid_expenditure_severe), not the notice
    book = CalamineWorkbook.from_path(
        str(home / "exports" / "2026-08" / "430101" / "430101001" / "线索清单.xlsx")
    )
    assert "预计需求提示" in book.sheet_names
    rows = book.get_sheet_by_name("预计需求提示").to_python()
    text = "".join(str(v) for row in rows for v in row)
    assert "学前" in text and child not in text and child[:6] + "********" + child[-4:] in text
