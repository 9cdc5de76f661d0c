"""刚性支出困难 as the field defines it (issue 30, items 1 and 4): each household's per-capita income
after rigid expenditure (medical costs net of medical assistance, schooling costs net of education aid)
against the dibao standard, on the months the lake holds; counted income computed in Polars as the
means test counts it (a parity test on the synthetic world); events that raise a visit only where
they speak of need."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from conftest import whole_months
from direct import run

from jobs.assess import households as hh
from jobs.publish.sealed import connect
from safetynet.errors import RulesError
from safetynet.ids import check_character
from safetynet.rules import RULES_DIR, load_rules

RULES = load_rules()
PERIOD = hh.Period.of("2026-09", RULES)
D = dt.date.fromisoformat


def test_schooling_costs_are_rules_by_stage_with_compulsory_stages_free():
    costs = RULES.rigid_expenditure.at(D("2026-09-01"))["default"]
    assert set(costs) == {"学前", "小学", "初中", "高中", "中职", "高职", "本科", "研究生"}
    assert costs["小学"] == costs["初中"] == 0 and costs["本科"] > costs["高中"] > 0


def test_a_schooling_cost_file_missing_a_stage_is_refused_naming_file_and_key(tmp_path):
    import shutil

    root = tmp_path / "rules"
    shutil.copytree(RULES_DIR, root)
    path = root / "parameters" / "rigid_expenditure.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("      研究生:", "      博士:", 1), encoding="utf-8"
    )
    with pytest.raises(RulesError, match=r"parameters/rigid_expenditure.yaml: key 'values\..*"):
        load_rules(root)


# --- counted income, as the means test counts it ---------------------------------------------------

PEOPLE = {
    "household_id": pl.String,
    "id_number": pl.String,
    "division_code": pl.String,
    "declared_monthly_income": pl.Float64,
}
JOBS = {"id_number": pl.String, "status": pl.String, "registered_on": pl.Date, "monthly_wage": pl.Float64}
INSURANCE = {"id_number": pl.String, "scheme": pl.String, "contribution_base": pl.Float64}
FUND = {"id_number": pl.String, "status": pl.String, "monthly_deposit": pl.Float64}

# (case, people (id, declared), jobs, insurance, fund, gone, expected)
INCOME = [
    ("declared income only", [("A", 1000.0)], [], [], [], [], {"counted_members": 1, "counted_income": 1000}),
    (
        "a 就业 wage of the window above the declared income; one before the window is not read",
        [("A", 500.0), ("B", 0.0)],
        [("A", "就业", D("2026-03-01"), 3000.0), ("B", "就业", D("2025-09-30"), 4000.0)],
        [],
        [],
        [],
        {"counted_members": 2, "counted_income": 3000},
    ),
    (
        "a contribution at the minimum base (3,800 in 2026) is no wage; above it is",
        [("A", 0.0), ("B", 0.0)],
        [],
        [("A", "城镇职工", 3800.0), ("B", "城镇职工", 4500.0), ("B", "城乡居民", 9000.0)],
        [],
        [],
        {"counted_income": 4500},
    ),
    (
        "the housing fund implies a wage (deposit / 0.24)",
        [("A", 0.0)],
        [],
        [],
        [("A", "正常", 480.0), ("A", "封存", 999.0)],
        [],
        {"counted_income": 2000},
    ),
    (
        "a member who died is not counted",
        [("A", 1000.0), ("B", 1200.0)],
        [],
        [],
        [],
        ["B"],
        {"counted_members": 1, "counted_income": 1000},
    ),
    (
        "a member newly unemployed this month: the wage the event removes",
        [("A", 0.0), ("B", 500.0)],
        [("A", "就业", D("2026-02-01"), 3000.0), ("A", "失业", D("2026-09-10"), None)],
        [],
        [],
        [],
        {"counted_income": 3500, "event_unemployed_income": 3000},
    ),
]


@pytest.mark.parametrize(
    ("case", "people", "jobs", "insurance", "fund", "gone", "expected"), INCOME, ids=[c[0] for c in INCOME]
)
def test_counted_income(case, people, jobs, insurance, fund, gone, expected):
    rows = pl.LazyFrame([("H1", i, "430102001001", inc) for i, inc in people], schema=PEOPLE, orient="row")
    found = (
        hh.counted_income(
            rows,
            pl.LazyFrame(jobs, schema=JOBS, orient="row"),
            pl.LazyFrame(insurance, schema=INSURANCE, orient="row"),
            pl.LazyFrame(fund, schema=FUND, orient="row"),
            pl.LazyFrame({"id_number": gone}, schema={"id_number": pl.String}),
            PERIOD,
        )
        .collect()
        .row(0, named=True)
    )
    for key, value in expected.items():
        assert found[key] == pytest.approx(value), key


# --- the figure ------------------------------------------------------------------------------------

FIGURE_IN = {
    "counted_income": pl.Float64,
    "counted_members": pl.UInt32,
    "oop_medical_12m": pl.Float64,
    "medical_assistance_12m": pl.Float64,
    "education_aid_12m": pl.Float64,
    "schooling_cost_year": pl.Float64,
    "rigid_months": pl.Int32,
    "education_aid_months": pl.Int32,
    "dibao_standard": pl.Float64,
}
# (case, inputs, rigid_expenditure_month, income_after_rigid_per_capita)
FIGURES = [
    (
        "a year of medical costs net of assistance",
        (2000, 2, 12000, 2000, 0, 0, 12, 12, 650),
        10000 / 12,
        (2000 - 10000 / 12) / 2,
    ),
    ("three months held: the monthly average over three", (2000, 2, 3000, 0, 0, 0, 3, 3, 650), 1000, 500),
    (
        "schooling net of aid; aid above the cost is no income",
        (1300, 1, 0, 0, 6000, 3000, 12, 12, 650),
        0,
        1300,
    ),
    ("a student in senior high, aid held for 6 months", (1300, 1, 0, 0, 600, 3000, 12, 6, 650), 150, 1150),
    ("no claims held: the medical part rests on no month", (1300, 1, 0, 0, 0, 0, 0, 0, 650), 0, 1300),
    ("no counted member: no figure", (0, 0, 0, 0, 0, 0, 12, 12, 650), 0, None),
]


@pytest.mark.parametrize(("case", "values", "rigid", "figure"), FIGURES, ids=[c[0] for c in FIGURES])
def test_income_after_rigid_expenditure(case, values, rigid, figure):
    frame = pl.DataFrame([values], schema=FIGURE_IN, orient="row")
    row = frame.with_columns(**hh.rigid_figure()).row(0, named=True)
    assert row["rigid_expenditure_month"] == pytest.approx(rigid)
    if figure is None:
        assert row["income_after_rigid_per_capita"] is None
    else:
        assert row["income_after_rigid_per_capita"] == pytest.approx(figure)
        assert row["income_after_rigid_ratio"] == pytest.approx(figure / 650)


# --- a small world through the whole run -------------------------------------------------------------


def pid(n: int, birth: str = "19800101") -> str:
    body = f"430101{birth}{n:03d}"
    return body + check_character(body)


ROSTER_HEAD = (
    "household_id,id_number,name,relation,division_code,residence_type,category,declared_monthly_income\n"
)
# standard 650 (4301, 农村, 2026); 1.5x = 975
ROWS = [
    ("R1", 1, "户主", "其他低收入", 1100),  # 1,500 a month of medical costs: 350 after them, below
    ("R1", 2, "配偶", "其他低收入", 1100),
    ("R2", 3, "户主", "其他低收入", 1100),  # 300 a month: 950 after them, below 1.5x only
    ("R2", 4, "配偶", "其他低收入", 1100),
    ("R3", 5, "户主", "低保", 300),  # on dibao: covered, no 应保 lead
    ("R4", 6, "户主", "其他低收入", 0),  # loses a 3,000 wage this month: 1,500 after it, above
    ("R4", 7, "配偶", "其他低收入", 3000),
    ("R5", 8, "户主", "低保边缘", 500),  # 500 declared, no costs: below on its income alone
]


def claims(rows: list[tuple[int, str, float]]) -> str:
    head = "id_number,settled_on,total_cost,fund_paid,out_of_pocket\n"
    return head + "".join(f"{pid(p)},{day},{oop * 2},{oop},{oop}\n" for p, day, oop in rows)


@pytest.fixture(scope="module")
@whole_months
def home(tmp_path_factory):
    root = tmp_path_factory.mktemp("rigid")
    landing, home = root / "landing", root / "home"
    roster = ROSTER_HEAD + "".join(
        f"{h},{pid(p)},成员{p},{r},430101001001,农村,{c},{inc}\n" for h, p, r, c, inc in ROWS
    )
    months = {
        "2026-08": {
            "divisions": "division_code,name\n430101,县\n430101001,镇\n430101001001,村\n",
            "roster": roster,
            "medical_claims": claims(
                [(1, "2026-08-05", 1700), (3, "2026-08-05", 300), (5, "2026-08-09", 900)]
            ),
            "medical_assistance": f"id_number,paid_on,amount\n{pid(1)},2026-08-20,400\n",
            "employment": f"id_number,status,registered_on,monthly_wage\n{pid(6)},就业,2026-03-01,3000\n",
        },
        "2026-09": {
            "roster": roster,
            "medical_claims": claims(
                [(1, "2026-09-07", 1700), (3, "2026-09-05", 300), (5, "2026-09-09", 900)]
            ),
            "medical_assistance": "id_number,paid_on,amount\n",
            "employment": f"id_number,status,registered_on,monthly_wage\n{pid(6)},失业,2026-09-10,\n",
        },
    }
    for month, sources in months.items():
        folder = landing / month
        folder.mkdir(parents=True)
        for name, text in sources.items():
            (folder / f"{name}.csv").write_text(text, encoding="utf-8")
        run(month, str(landing), str(home), f"test-{month}")
    return home


def frame(con, sql: str, params: list | None = None) -> pl.DataFrame:
    return con.sql(sql, params or []).pl()


def household_month(home, household: str) -> dict:
    found = frame(
        connect(home),
        "select * from v_household_month where month = '2026-09' and household_id = ?",
        [household],
    )
    return found.row(0, named=True)


def test_the_figure_and_the_months_it_rests_on_are_in_the_household_view(home):
    row = household_month(home, "R1")
    assert row["rigid_months"] == 2  # August's and September's claims: the average over two months
    assert row["rigid_expenditure_month"] == pytest.approx((1700 * 2 - 400) / 2)
    assert row["income_after_rigid_per_capita"] == pytest.approx((2200 - 1500) / 2)
    assert row["income_after_rigid_ratio"] == pytest.approx(350 / 650)


def test_a_household_below_the_standard_after_medical_costs_is_one_case_with_the_figure_first(home):
    con = connect(home)
    lead_id, rule_ids, reasons, pushed = con.execute(
        "select lead_id, rule_ids, reasons, pushed from v_leads where month = '2026-09' and household_id = 'R1'"
    ).fetchone()
    assert pushed and rule_ids.split(",")[0] == "rigid_expenditure"
    assert reasons.startswith("扣除刚性支出后家庭人均月收入350.0元") and "2个月" in reasons
    (evidence,) = con.execute(
        "select evidence from v_doubtful_records where month = '2026-09' and household_id = 'R1' "
        "and check_id = 'eligible_not_covered'"
    ).fetchone()
    assert "刚性支出困难" in evidence and "350.0" in evidence and "2个月" in evidence
    assert lead_id in evidence  # the record names the lead: one home visit for both


def test_below_one_and_a_half_times_only_is_a_near_dibao_record_and_no_lead(home):
    con = connect(home)
    assert con.execute(
        "select count(*) from v_leads where month = '2026-09' and household_id = 'R2'"
    ).fetchone() == (0,)
    (evidence,) = con.execute(
        "select evidence from v_doubtful_records where month = '2026-09' and household_id = 'R2' "
        "and check_id = 'eligible_not_covered'"
    ).fetchone()
    assert "低保边缘" in evidence and "950.0" in evidence


def test_a_covered_household_gets_no_rigid_expenditure_lead(home):
    con = connect(home)
    found = con.execute(
        "select rule_ids from v_leads where month = '2026-09' and household_id = 'R3'"
    ).fetchall()
    assert all("rigid_expenditure" not in r for (r,) in found)


def test_a_job_loss_that_leaves_income_above_the_standard_is_a_reason_not_a_visit(home):
    con = connect(home)
    rule_ids, pushed, held = con.execute(
        "select rule_ids, pushed, held_reason from v_leads where month = '2026-09' and household_id = 'R4'"
    ).fetchone()
    assert rule_ids == "newly_unemployed" and not pushed
    assert "1500.0元" in held and "高于" in held
    assert con.execute(
        "select count(*) from v_cases where month = '2026-09' and household_id = 'R4'"
    ).fetchone() == (0,)


def test_income_alone_below_the_standard_is_a_dibao_record_not_a_rigid_expenditure_lead(home):
    con = connect(home)
    row = household_month(home, "R5")
    assert row["income_after_rigid_per_capita"] == pytest.approx(500)
    assert con.execute(
        "select count(*) from v_leads where month = '2026-09' and household_id = 'R5'"
    ).fetchone() == (0,)
    (evidence,) = con.execute(
        "select evidence from v_doubtful_records where month = '2026-09' and household_id = 'R5' "
        "and check_id = 'eligible_not_covered'"
    ).fetchone()
    assert "500.0" in evidence and "建议评估纳入低保" in evidence and "刚性支出困难" not in evidence


# --- one definition of counted income ------------------------------------------------------------


def test_counted_income_in_polars_agrees_with_the_means_test_on_the_synthetic_world(looped):
    both = frame(
        connect(looped),
        "select h.household_id, h.counted_members, h.counted_income, m.counted, m.income "
        "from lake_household_month as h join means_households as m using (month, household_id) "
        "where h.month = '2026-09'",
    )
    assert both.height > 500
    assert (both["counted_members"].cast(pl.Int64) == both["counted"]).all()
    assert ((both["counted_income"] - both["income"]).abs() < 0.01).all()
    assert (both["income"] > 0).sum() > 100  # not a comparison of zeros


# --- the portrait shows the figure ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            {
                "income_after_rigid_per_capita": 350.0,
                "dibao_standard": 650.0,
                "rigid_months": 2,
                "rigid_expenditure_month": 1500.0,
            },
            "350.00元（低保标准650.00元；刚性支出月均1,500.00元，医疗费用依据近2个月医保结算）",
        ),
        (
            {
                "income_after_rigid_per_capita": None,
                "dibao_standard": 650.0,
                "rigid_months": 0,
                "rigid_expenditure_month": 0.0,
            },
            "—（无计入收入的共同生活成员，或无低保标准）",
        ),
        ({}, "—（本月数据未测算）"),
    ],
)
def test_the_portrait_states_the_figure_and_its_months(row, expected):
    from jobs.export.portraits import need_text

    assert need_text(row) == expected


def test_the_views_read_a_lake_built_before_the_figure(home, tmp_path):
    """Months built before issue 30 have no figure, no held_reason, no queue and no capacity ledger:
    null there, not an error; every view still opens (auditors read any earlier commit)."""
    import shutil

    old = tmp_path / "old"
    shutil.copytree(home, old, symlinks=True)
    new = (*NEW_HOUSEHOLD_COLUMNS, "held_reason", *NEW_CASE_COLUMNS)
    for dataset in ("_household_month", "_leads", "_cases"):
        for path in old.glob(f"lake/*/*/{dataset}/*.parquet"):
            frame = pl.read_parquet(path)
            frame.drop([c for c in new if c in frame.columns]).write_parquet(path)
    for path in old.glob("lake/*/*/_capacity"):
        shutil.rmtree(path)
    con = connect(old)
    assert con.execute(
        "select count(*), count(income_after_rigid_per_capita) from v_household_month where month = '2026-09'"
    ).fetchone() == (5, 0)
    assert con.execute("select count(held_reason), count(queue_rank) from v_leads").fetchone() == (0, 0)
    assert con.execute("select count(*), count(capacity) from v_cases").fetchone()[1] == 0
    assert con.execute("select count(*) from v_doubtful_records where queued").fetchone() == (0,)
    kpis = con.execute("select count(*), count(capacity), sum(visited) from v_kpis").fetchone()
    assert kpis[0] > 0 and kpis[1] == 0


NEW_CASE_COLUMNS = ("queued", "queue_rank", "capacity", "beyond_capacity", "queue_reason")
NEW_HOUSEHOLD_COLUMNS = (
    "counted_members",
    "counted_income",
    "rigid_months",
    "rigid_expenditure_month",
    "income_after_rigid_per_capita",
    "income_after_rigid_ratio",
    "counted_income_ratio",
)
