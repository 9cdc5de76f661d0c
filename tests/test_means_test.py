"""The means-test checks (warehouse/means_test/checks/*.sql) on a tiny hand-written pair of months:
every check has a household planted for it, and one planted not to fire."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest
from conftest import whole_months
from direct import run

from jobs.assess.households import dibao_standard_expr
from jobs.means_test.checks import checks
from jobs.publish.sealed import connect
from safetynet.ids import check_character
from safetynet.rules import PlaceDated, RuleSet


def pid(n: int, birth: str = "19800101") -> str:
    body = f"430101{birth}{n:03d}"
    return body + check_character(body)


ROSTER = "household_id,id_number,name,relation,division_code,residence_type,category,monthly_benefit,declared_monthly_income,labour_capacity,health_status\n"
P = {k: pid(k) for k in range(1, 40)} | {19: pid(19, "19500101")}
SERIOUSLY_ILL = {19}
ROWS = [
    ("H01", 1, "户主", "低保", 500, 1000, "有"),  # income above the 650 standard
    ("H02", 2, "户主", "低保", 500, 100, "有"),
    ("H02", 3, "配偶", "低保", 0, 100, "有"),  # deposits
    ("H03", 4, "户主", "低保", 500, 100, "有"),  # two homes, one of 0 m²
    ("H04", 5, "户主", "低保", 500, 100, "有"),  # private car
    ("H05", 6, "户主", "低保", 500, 100, "有"),  # motorcycle only: exempt
    ("H06", 7, "户主", "低保", 500, 100, "有"),  # limited company
    ("H07", 8, "户主", "低保", 500, 100, "有"),  # tiny individual business: not flagged
    ("H08", 9, "户主", "低保", 500, 100, "有"),  # employee insurance
    ("H09", 10, "户主", "低保", 500, 100, "有"),
    ("H09", 11, "配偶", "低保", 0, 100, "有"),  # dead member listed
    ("H10", 12, "户主", "低保", 500, 0, "无"),  # the only member died: still paid
    ("H11", 13, "户主", "低保", 500, 100, "有"),
    ("H12", 13, "户主", "低保", 500, 100, "有"),  # one person, two households
    ("H13", 14, "户主", "其他低收入", 0, 100, "有"),
    ("H13", 15, "配偶", "其他低收入", 0, 100, "有"),  # 应保: dibao
    ("H14", 16, "户主", "低保边缘", 0, 1000, "有"),
    ("H14", 17, "子女", "低保边缘", 0, 1000, "无"),  # 单人保
    ("H15", 18, "户主", "其他低收入", 0, 3000, "有"),  # comfortably above: nothing
    ("H16", 21, "户主", "低保", 500, 100, "有"),
    ("H16", 22, "配偶", "低保", 0, 100, "有"),  # died in August, delivered in September: recalculate
    ("H17", 19, "户主", "低保边缘", 0, 0, "无"),  # elderly, no labour, seriously ill: 单人保
    ("H17", 20, "子女", "低保边缘", 0, 2500, "有"),
]


def write_month(landing, month, sources: dict[str, str]):
    folder = landing / month
    folder.mkdir(parents=True)
    for name, text in sources.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
@whole_months
def home(tmp_path_factory):
    root = tmp_path_factory.mktemp("means")
    landing, home = root / "landing", root / "home"
    roster = ROSTER + "".join(
        f"{h},{P[p]},成员{p},{rel},430101001001,农村,{cat},{benefit},{income},{labour},"
        f"{'大病' if p in SERIOUSLY_ILL else '健康'}\n"
        for h, p, rel, cat, benefit, income, labour in ROWS
    )
    divisions = "division_code,name\n430101,县\n430101001,镇\n430101001001,村\n"
    write_month(
        landing,
        "2026-08",
        {
            "divisions": divisions,
            "roster": roster,
            "deaths": f"id_number,died_on\n{P[11]},2026-08-10\n{P[12]},2026-08-15\n",
        },
    )
    write_month(
        landing,
        "2026-09",
        {
            "roster": roster,
            "deaths": f"id_number,died_on\n{P[22]},2026-08-25\n",
            "deposits": f'id_number,institution,balance\n{P[2]},银行,"50,000"\n{P[14]},银行,300\n{P[4]},信用社,-500\n',
            "real_estate": "id_number,property_id,area,usage\n"
            f"{P[4]},F1,80,住宅\n{P[4]},F2,0,住宅\n{P[16]},F3,60,住宅\n",
            "vehicles": f"id_number,vehicle_id,vehicle_type,operating\n{P[5]},V1,小型汽车,否\n{P[6]},V2,摩托车,否\n",
            "business": "id_number,entity_id,entity_type,role,status\n"
            f"{P[7]},E1,有限责任公司,法定代表人,存续\n{P[8]},E2,个体工商户,经营者,存续\n",
            "social_insurance": f"id_number,month,scheme,contribution_base\n{P[9]},2026-09,城镇职工,6000\n",
            "disability": f"id_number,disability_type,grade,registered_on\n{P[17]},肢体,1,2026-09-02\n",
        },
    )
    for month in ("2026-08", "2026-09"):
        run(month, str(landing), str(home), f"test-{month}")
    return home


def records(home) -> dict[str, set[tuple[str, str]]]:
    con = connect(home)
    rows = con.execute(
        "select check_id, household_id, direction, evidence, source_refs from v_doubtful_records where month = '2026-09'"
    ).fetchall()
    con.close()
    out: dict[str, set] = {}
    for check_id, household, direction, evidence, refs in rows:
        assert evidence and refs, (check_id, household)
        out.setdefault(check_id, set()).add((household, direction))
    return out


EXPECTED = {
    "income_above_standard": {("H01", "应退")},
    "financial_assets": {("H02", "应退")},
    "multiple_homes": {("H03", "核实")},
    "private_car": {("H04", "应退")},
    "business": {("H06", "核实")},
    "employee_insurance_or_fund": {("H08", "核实")},
    "deceased_or_missing_counted": {("H09", "应退"), ("H10", "应退")},
    "death_recalculate": {("H16", "核实")},
    "payments_without_living_member": {("H10", "应退")},
    "person_in_two_households": {("H11", "核实"), ("H12", "核实")},
}


@pytest.mark.parametrize("check_id", sorted(EXPECTED))
def test_each_check_finds_its_planted_household(home, check_id):
    assert records(home).get(check_id, set()) >= EXPECTED[check_id]


def test_no_check_flags_the_households_planted_not_to_fire(home):
    flagged = {h for found in records(home).values() for h, _ in found}
    assert not flagged & {"H05", "H07", "H15"}


def test_eligible_but_not_covered(home):
    found = records(home)["eligible_not_covered"]
    assert {("H13", "应保"), ("H14", "应保"), ("H17", "应保")} <= found
    con = connect(home)
    for household, member in (("H14", "成员17"), ("H17", "成员19")):
        (evidence,) = con.execute(
            "select evidence from v_doubtful_records where household_id = ? and check_id = 'eligible_not_covered'",
            [household],
        ).fetchone()
        assert "单人保" in evidence and member in evidence


def test_a_death_is_recalculated_when_delivered_and_exits_when_still_listed(home):
    """A death delivered this month (whatever its date) is 核实; one delivered earlier and still on
    the roster is 应退; never both for the same death."""
    found = records(home)
    assert ("H16", "核实") in found["death_recalculate"]
    assert "H16" not in {h for h, _ in found["deceased_or_missing_counted"]}
    assert not {h for h, _ in found["death_recalculate"]} & {"H09", "H10"}


def test_evidence_names_department_values_and_rows(home):
    con = connect(home)
    rows = dict(
        con.execute("select check_id, evidence from v_doubtful_records where month = '2026-09'").fetchall()
    )
    assert "面积为0" in rows["multiple_homes"] and "不是结论" in rows["multiple_homes"]
    assert "50000" in rows["financial_assets"] and "金融机构" in rows["financial_assets"]
    assert (
        "2026-08-10" in rows["deceased_or_missing_counted"]
        or "2026-08-15" in rows["deceased_or_missing_counted"]
    )
    (refs,) = con.execute(
        "select source_refs from v_doubtful_records where check_id = 'private_car'"
    ).fetchone()
    assert "2026-09/vehicles.csv:2" in refs


def test_a_negative_balance_is_kept_counted_as_zero_and_said(home):
    con = connect(home)
    deposits, detail = con.execute(
        "select deposits, deposit_detail from means_assets where month = '2026-09' and household_id = 'H03'"
    ).fetchone()
    (quarantined,) = con.execute("select count(*) from v_quarantine where source = 'deposits'").fetchone()
    assert deposits == 0 and "-500" in detail and "余额为负数" in detail and quarantined == 0


def test_every_check_file_is_exercised():
    assert {p.stem for p in checks()} == set(EXPECTED) | {"eligible_not_covered"}


def test_a_place_without_a_standard_gets_none_not_a_guess():
    standard = PlaceDated(((dt.date(2026, 1, 1), (("4301", {"城市": 800.0, "农村": 600.0}),)),))
    rules = RuleSet("x", (), (), (), (), (), standard)
    frame = pl.DataFrame(
        {"division_code": ["430101001001", "430201001001"], "residence_type": ["农村", "农村"]}
    )
    got = frame.select(dibao_standard_expr(rules, dt.date(2026, 9, 1)).alias("s"))["s"].to_list()
    assert got == [600.0, None]
    assert frame.with_columns(s=dibao_standard_expr(rules, dt.date(2025, 9, 1)))["s"].to_list() == [
        None,
        None,
    ]


def test_recheck_sample_is_drawn_once_per_period_and_reproducible(home):
    import hashlib

    con = connect(home)
    sample = con.execute(
        "select month, period, seed, household_id, township_code, category, stratum_size "
        "from v_recheck_sample"
    ).fetchall()
    recipients = con.execute(
        "select household_id, category from lake_roster where month = '2026-08' "
        "and category in ('低保', '特困') group by all"
    ).fetchall()
    con.close()
    assert {s[0] for s in sample} == {
        "2026-08"
    }  # drawn in the period's first month run, not again in 2026-09
    month, period, seed, household, township, category, size = sample[0]
    assert period == "2026H2" and seed == "safetynet-2026H2" and len(sample) == 1  # ceil(5% of 14) = 1
    stratum = sorted(
        (h for h, c in recipients if c == category),
        key=lambda h: hashlib.md5((seed + h).encode()).hexdigest(),
    )
    assert size == len(stratum) and household == stratum[0]  # anyone can redraw it from the seed


# The economic-status reports (jobs/export/household_reports.py) of the same months, read back with pypdf.


def published(home):
    return home / "exports" / "2026-09" / "430101" / "430101001"


@pytest.fixture(scope="module")
def exported(home, tmp_path_factory):
    """September's folder of township 430101001 as the portal holds it: the run's files, and the
    reports and portraits drawn when asked for (`safetynet documents`, jobs/export/documents.py)."""
    import shutil

    from jobs.export.documents import render_month

    out = tmp_path_factory.mktemp("exported")
    shutil.copytree(published(home), out / "430101" / "430101001")
    assert render_month(home, "2026-09", "430101001", out)["failures"] == []
    return out / "430101" / "430101001"


def pdf_text(path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def report_of(folder, household: str):
    from jobs.export.household_reports import REPORT_DIR

    (path,) = (folder / REPORT_DIR).glob(f"{household}_*.pdf")
    return path


def test_a_report_for_every_new_or_changed_record_and_no_other(home, exported):
    """A record standing from August with the same evidence is not drawn again in September."""
    from jobs.export.household_reports import REPORT_DIR

    con = connect(home)
    sql = (
        "select distinct household_id from v_cases where month = '2026-09' and kind <> 'lead' "
        "and state <> 'closed' and changed = ?"
    )
    drawn = {h for (h,) in con.execute(sql, [True]).fetchall()}
    standing = {h for (h,) in con.execute(sql, [False]).fetchall()} - drawn
    con.close()
    flagged = {h for found in records(home).values() for h, _ in found}
    reports = {p.name.split("_")[0] for p in (exported / REPORT_DIR).glob("*.pdf")}
    assert reports == drawn and drawn <= flagged
    assert standing and not standing & reports, standing
    assert report_of(exported, "H02").name == "H02_成员2.pdf"  # 户编号_户主姓名


def test_report_shows_members_income_assets_checks_and_what_to_verify(exported):
    text = pdf_text(report_of(exported, "H02"))
    assert "家庭经济状况核查报告" in text and "户编号" in text and "H02" in text
    masked = P[2][:6] + "********" + P[2][-4:]
    assert masked in text and P[2] not in text and P[3] not in text
    # income: two counted members, 100 + 100 declared, against the 2026 rural standard of the place
    assert "200.00" in text and "计入人数 2 人" in text and "100.00" in text
    flowing = text.replace("\n", "")  # the method paragraph wraps wherever its length puts it
    assert "城镇职工社保缴费基数（高于缴费基数下限的）" in flowing
    assert "不计入收入：低保金、特困供养金、医疗救助、教育资助" in flowing
    # assets, per department, with the delivered rows they come from
    assert "金融机构" in text and "50,000.00" in text and "2026-09/deposits.csv:2" in text
    # every check with its result; the flagged one first among 应退 with the evidence
    assert "金融资产超过限额" in text and "疑点（应退）" in text and "未发现疑点" in text
    assert "不适用" in text  # 应保 does not apply to a recipient
    # what to verify at home comes from rules/means_test/checks.yaml
    assert "查看存折、银行流水和理财产品凭证" in text and "核查人员（签字）" in text


def test_report_says_a_home_is_a_flag_not_a_verdict(exported):
    text = pdf_text(report_of(exported, "H03"))
    assert "需入户核实" in text and "面积为0" in text and "不是认定结论" in text
    assert "余额为负数" in text  # the deposit row with a negative balance


def test_report_of_an_eligible_household_not_covered(exported):
    text = pdf_text(report_of(exported, "H13"))
    assert "可纳入（应保）" in text and "向家庭宣传低保" in text
    assert text.count("不适用") == 10  # the ten checks of recipients


def test_report_of_a_household_without_a_standard_says_unchecked(home):
    from jobs.export.household_reports import Reports, gather
    from safetynet.lake import Home
    from safetynet.rules import load_rules

    (row,) = [r for r in gather(Home(home), "2026-09")["430101001"] if r["household_id"] == "H13"]
    row = {**row, "dibao_standard": None, "records": None}
    reports = Reports(load_rules(), "2026-09", "test", {})
    from io import BytesIO

    from pypdf import PdfReader

    reader = PdfReader(BytesIO(reports.household(row)))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "没有适用的低保标准" in text and "未核对" in text and "（区划名称未登记）" in text


def test_township_summary_is_one_page_with_counts(home, exported):
    from pypdf import PdfReader

    from jobs.export.household_reports import SUMMARY_FILE

    reader = PdfReader(exported / SUMMARY_FILE)
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    reports = len(list((exported / "家庭经济状况核查报告").glob("*.pdf")))
    flagged = {h for found in records(home).values() for h, _ in found}
    assert "镇（430101001）" in text and "家庭经济状况核查汇总" in text
    assert reports < len(flagged)
    assert f"\n{reports} {len(flagged)} 0" in text  # reports drawn, flagged households, sampled
    assert f"另有 {len(flagged) - reports} 户的疑点与上月相同" in text
    assert "同一人在两户登记 核实 2" in text


def test_manifest_lists_every_report_and_a_rerun_gives_the_same_files(home, exported):
    import hashlib
    import json

    folder = published(home)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    files = {e["file"]: e.get("sha256") or e["content_sha256"] for e in manifest["files"]}
    written = {e["file"] for e in manifest["files"] if not e.get("on_demand")}
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert written == on_disk - {"manifest.json"}
    reports = [e["file"] for e in manifest["files"] if e.get("kind") == "report"]
    drawn = {p.relative_to(exported).as_posix() for p in (exported / "家庭经济状况核查报告").glob("*.pdf")}
    assert manifest["reports"] == len(reports) > 0 and set(reports) == drawn
    for name in written:
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == files[name]
    run(
        "2026-09", str(home.parent / "landing"), str(home), "test-2026-09-again"
    )  # the same inputs again: the same bytes, the same documents' digests
    again = json.loads((published(home) / "manifest.json").read_text(encoding="utf-8"))
    assert {e["file"]: e.get("sha256") or e["content_sha256"] for e in again["files"]} == files


# Social insurance paid on the minimum base (缴费基数下限), e.g. self-paid flexible employment,
# says nothing of a wage: not counted as income (no 应退), at most 核实. The minimum is dated and
# by division (rules/parameters/social_insurance_minimum_base.yaml: 4301 3,900 from 2024 and 4,100
# from 2026; elsewhere 3,600 and 3,800).
MINIMUM_BASE_ROWS = [  # household, person, division, contribution base
    ("B01", 30, "430101001001", 4100),  # the 2026 minimum of 4301, above the 2024 one
    ("B02", 31, "430101001001", 4101),  # just above the 2026 minimum
    ("B03", 32, "430201001001", 3950),  # above the 2026 default minimum: a wage
    ("B04", 33, "430101001001", 3950),  # below 4301's 2026 minimum, above its 2024 one
]
AT_MINIMUM = "按缴费基数下限缴纳（可能为灵活就业人员自缴），不能据此认定工资收入"


@pytest.fixture(scope="module")
@whole_months
def minimum_base_home(tmp_path_factory):
    root = tmp_path_factory.mktemp("minbase")
    landing, home = root / "landing", root / "home"
    people = {p: pid(p) for _, p, _, _ in MINIMUM_BASE_ROWS}
    roster = ROSTER + "".join(
        f"{h},{people[p]},成员{p},户主,{division},农村,低保,500,0,有,健康\n"
        for h, p, division, _ in MINIMUM_BASE_ROWS
    )
    divisions = "division_code,name\n430101,县\n430101001,镇\n430101001001,村\n430201,县\n430201001,镇\n430201001001,村\n"
    for month in ("2025-12", "2026-01"):
        insurance = "".join(f"{people[p]},{month},城镇职工,{base}\n" for _, p, _, base in MINIMUM_BASE_ROWS)
        sources = {
            "roster": roster,
            "social_insurance": "id_number,month,scheme,contribution_base\n" + insurance,
        }
        write_month(landing, month, {"divisions": divisions, **sources} if month == "2025-12" else sources)
        run(month, str(landing), str(home), f"test-{month}")
    return home


def findings(home, month: str) -> dict[tuple[str, str], tuple[str, str]]:
    con = connect(home)
    rows = con.execute(
        "select household_id, check_id, direction, evidence from v_doubtful_records where month = ?", [month]
    ).fetchall()
    con.close()
    return {(household, check): (direction, evidence) for household, check, direction, evidence in rows}


def test_a_contribution_at_the_minimum_base_gives_no_exit_only_a_check(minimum_base_home):
    found = findings(minimum_base_home, "2026-01")
    assert ("B01", "income_above_standard") not in found
    direction, evidence = found[("B01", "employee_insurance_or_fund")]
    assert direction == "核实"
    assert "缴费基数4100" in evidence and AT_MINIMUM in evidence
    assert ("B04", "income_above_standard") not in found
    assert AT_MINIMUM in found[("B04", "employee_insurance_or_fund")][1]


def test_a_contribution_above_the_minimum_base_is_still_a_wage(minimum_base_home):
    found = findings(minimum_base_home, "2026-01")
    for household in ("B02", "B03"):  # B03: the default minimum where 4301's does not apply
        assert found[(household, "income_above_standard")][0] == "应退"
        assert AT_MINIMUM not in found[(household, "employee_insurance_or_fund")][1]


def test_the_minimum_base_is_the_one_in_force_in_the_month(minimum_base_home):
    """The same contributions: above 4301's 2024 minimum (1,300) in December 2025, so a wage and
    应退; at or below its 2026 minimum (1,400) in January 2026, so not counted."""
    december, january = (findings(minimum_base_home, m) for m in ("2025-12", "2026-01"))
    for household in ("B01", "B04"):
        assert december[(household, "income_above_standard")][0] == "应退"
        assert AT_MINIMUM not in december[(household, "employee_insurance_or_fund")][1]
        assert (household, "income_above_standard") not in january
        assert AT_MINIMUM in january[(household, "employee_insurance_or_fund")][1]


# --- record ids: a check's code, not its English id (issue 33) -------------------------------------


def codes() -> dict[str, str]:
    from safetynet.rules import load_rules

    return {c.id: c.code for c in load_rules().means_checks}


def test_every_check_has_its_own_two_digit_code():
    found = codes()
    assert set(found) == set(EXPECTED) | {"eligible_not_covered"}
    assert all(len(c) == 2 and c.isdigit() for c in found.values()) and len(set(found.values())) == len(found)


def test_a_new_record_id_names_its_check_by_code_without_english():
    from test_cases import doubtful_of

    from jobs.cases import lifecycle as cases
    from jobs.means_test.checks import record_ids

    past = cases.split("2026-09", None, None)
    found = record_ids(
        doubtful_of("2026-09", [("H1", "employee_insurance_or_fund", "职工社保")]), past, "2026-09", codes()
    )
    assert found["record_id"].to_list() == ["YD202609-H1-09"]


def test_a_case_issued_before_the_codes_keeps_its_id_and_its_outcome_closes_it():
    """Lists issued before the codes carry `YD<month>-<household>-<check id>`: the next run matches a
    record to its open case by household and check and keeps that id; an outcome for it closes it."""
    from test_cases import RULES, doubtful_of, outcome, state, step

    from jobs.cases import lifecycle as cases
    from jobs.means_test.checks import record_ids

    old = "YD202608-H3-private_car"
    aug = step("2026-08", None, doubtful=[("H3", "private_car", "小型汽车 1 辆")])  # made as before the codes
    assert aug["case_id"].to_list() == [old]
    standing = record_ids(
        doubtful_of("2026-09", [("H3", "private_car", "小型汽车 1 辆")]),
        cases.split("2026-09", aug, None),
        "2026-09",
        codes(),
    )
    assert standing["record_id"].to_list() == [old], "the open case keeps the id the township holds"
    sep = step("2026-09", aug, returned=[outcome(old, "退出", "2026-09-10")], rules=RULES)
    closed = state(sep, old)
    assert (closed["state"], closed["outcome"]) == ("closed", "退出")


# --- plain Chinese in every township file (issue 33) ------------------------------------------------


def english_words() -> re.Pattern:
    """What a clerk should never read: a warehouse view's name, a rule's or a check's id, a column's
    canonical name. A delivered file named in a source reference (`2026-09/business.csv:2`) is not one."""
    from safetynet.contract import SOURCES
    from safetynet.rules import load_rules

    rules = load_rules()
    words = {w.id for w in rules.warnings} | {c.id for c in rules.means_checks}
    words |= {c.name for s in SOURCES.values() for c in s.columns if "_" in c.name}
    words |= {"case_id", "record_id", "rule_ids", "check_id", "hardship_score", "township_code", "seed"}
    alternatives = "|".join(sorted(map(re.escape, words), key=len, reverse=True))
    return re.compile(rf"\bv_[a-z_]+|(?<![\w/])(?:{alternatives})(?![\w.])")


def township_texts(folder) -> dict[str, str]:
    """Every township-facing file's text: xlsx cells (every sheet), PDF text, HTML."""
    from python_calamine import CalamineWorkbook

    texts = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"):
        if path.suffix == ".xlsx":
            book = CalamineWorkbook.from_path(str(path))
            cells = (
                v
                for name in book.sheet_names
                for row in book.get_sheet_by_name(name).to_python()
                for v in row
            )
            texts[path.name] = "\n".join(str(v) for v in cells)
        elif path.suffix == ".pdf":
            texts[path.name] = pdf_text(path)
        else:
            texts[path.name] = path.read_text(encoding="utf-8")
    return texts


def test_no_township_file_names_a_view_a_rule_id_or_a_column(exported):
    texts = township_texts(exported)
    assert {"线索清单.xlsx", "核对疑点清单.xlsx", "核查报告汇总.pdf"} <= set(texts), sorted(texts)
    assert any(name.endswith(".pdf") and name.startswith("H") for name in texts), "household reports"
    pattern = english_words()
    found = {name: sorted(set(pattern.findall(text))) for name, text in texts.items() if pattern.search(text)}
    assert not found, found


def test_the_auditors_trace_is_in_the_manifest(exported):
    import json

    trace = json.loads((exported / "manifest.json").read_text(encoding="utf-8"))["trace"]
    assert trace["核对疑点清单.xlsx"] == ["v_cases", "v_doubtful_records"]
    assert "v_household_month" in trace["家庭画像"] and "v_recheck_sample" in trace["家庭经济状况核查报告"]


def test_the_report_offers_the_nine_conclusions_of_the_drop_down_in_order(exported):
    from jobs.export.returnable import OUTCOME_CODES

    text = pdf_text(report_of(exported, "H02")).replace("\n", " ")
    boxes = re.findall(r"□ (\S+)", text.split("六、入户核查记录")[1])
    assert boxes[: len(OUTCOME_CODES)] == list(OUTCOME_CODES) and len(OUTCOME_CODES) == 9
    assert "情况属实" not in text and "调整保障金额" not in text


def test_the_report_says_where_a_leads_warning_came_from_beside_the_index(home):
    """困难指数 21.2（无明显困难）beside 橙色预警（紧急）: the report names the rules the colour came from."""
    from io import BytesIO

    from pypdf import PdfReader

    from jobs.export.household_reports import Reports, gather
    from safetynet.lake import Home
    from safetynet.rules import load_rules

    (row,) = [r for r in gather(Home(home), "2026-09")["430101001"] if r["household_id"] == "H02"]
    lead = {"lead_id": "XS202609-H02", "lead_level": "橙", "lead_urgency": "紧急"}
    row = {**row, **lead, "rule_ids": ["medical_hard", "newly_unemployed"]}
    text = "".join(
        p.extract_text()
        for p in PdfReader(BytesIO(Reports(load_rules(), "2026-09", "t", {}).household(row))).pages
    )
    flowing = text.replace("\n", "")
    assert "XS202609-H02（橙色预警，紧急）" in flowing
    assert "预警来自：大额医疗自付、家庭成员新登记失业；困难指数反映长期状况" in flowing
    assert "medical_hard" not in text
