"""Other provinces' answers as means-test evidence, 待异地核对 and 跨市 (issue 35, items 2 and 4), on a
tiny world of two months: a recipient registered in Guangdong with one home here (and a car, so
that his household has a report every month), a recipient registered in another prefecture of the
province with deposits over the limit, and a household with nothing elsewhere.

August: the request to Guangdong waits (待回复), so the report and the lists say 待异地核对, never
"未见登记". September: Guangdong's answer names a second home, which becomes a multiple_homes
doubtful record with the answer row as its source; the items not answered are still 待异地核对."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil

import polars as pl
import pytest
from conftest import whole_months
from direct import run
from pypdf import PdfReader

from jobs.applications import checks as applications
from jobs.cross_region import ledger
from jobs.cross_region.evidence import LEDGER_COLUMNS, pending_by_household
from jobs.export.drawing import content_hash
from jobs.export.household_reports import Reports, cross_region_rows, division_names, gather
from jobs.export.lists import read_listed
from jobs.publish.sealed import connect
from safetynet.contract import CROSS_REGION_ITEMS
from safetynet.ids import check_character
from safetynet.lake import Home
from safetynet.pdf import FontChain, find_font
from safetynet.rules import load_cross_region, load_rules

AUG, SEP = "2026-08", "2026-09"
PROVINCE, GUANGDONG = "43", "44"


def pid(n: int) -> str:
    body = f"430101198001010{n:02d}"
    return body + check_character(body)


P1, P2, P3 = pid(1), pid(2), pid(3)
ROSTER = (
    "household_id,id_number,name,relation,division_code,residence_type,category,monthly_benefit,"
    "declared_monthly_income,labour_capacity,health_status,hukou_division_code\n"
    f"H1,{P1},王一,户主,430101001001,农村,低保,500,100,有,健康,440106\n"  # Guangdong: 跨省
    f"H2,{P2},李二,户主,430101001001,农村,低保,500,100,有,健康,430201\n"  # another prefecture: 跨市
    f"H3,{P3},张三,户主,430101001001,农村,低保,500,100,有,健康,\n"
)
LOCAL = {
    "real_estate": f"id_number,property_id,area,usage\n{P1},F1,80,住宅\n",
    "vehicles": f"id_number,vehicle_id,vehicle_type,operating\n{P1},V1,小型汽车,否\n",
    "deposits": f'id_number,institution,balance\n{P2},银行,"50,000"\n',
}
SEP_LOCAL = {
    **LOCAL,
    "social_insurance": f"id_number,month,scheme,contribution_base\n{P2},{SEP},城镇职工,6000\n",
}


def request_id(id_number: str, purpose: str, month: str) -> str:
    """CONTRACT.md's outgoing request id (interface point 3), as jobs/cross_region/ledger.py makes it."""
    yyyymm = month.replace("-", "")
    digest = hashlib.sha256(f"{id_number}|{purpose}|{yyyymm}".encode()).hexdigest()[:10].upper()
    return f"XR{PROVINCE}{GUANGDONG}{yyyymm}-{digest}"


RID = request_id(P1, "定期复核", AUG)
# the ledger dates a member's request at the month's end; its reply is due reply_days later
REPLY_BY = dt.date(2026, 8, 31) + dt.timedelta(days=load_cross_region(AUG).reply_days)
ANSWERED = ("不动产", "存款", "机动车")
ANSWERS = (
    "request_id,id_number,item,found,value,detail,answered_on,region\n"
    f"{RID},{P1},不动产,是,90,广州市天河区某路1号,2026-09-12,{GUANGDONG}\n"
    f"{RID},{P1},存款,否,,,2026-09-12,{GUANGDONG}\n"
    f"{RID},{P1},机动车,否,,,2026-09-12,{GUANGDONG}\n"
)


def write_month(landing, month, sources: dict[str, str]):
    folder = landing / month
    folder.mkdir(parents=True)
    for name, text in sources.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
@whole_months
def home(tmp_path_factory):
    root = tmp_path_factory.mktemp("xrevid")
    landing, home = root / "landing", root / "home"
    divisions = "division_code,name\n430101,县\n430101001,镇\n430101001001,村\n"
    write_month(landing, AUG, {"divisions": divisions, "roster": ROSTER, **LOCAL})
    write_month(landing, SEP, {"roster": ROSTER, **SEP_LOCAL, "cross_region_answers": ANSWERS})
    for month in (AUG, SEP):  # the record step writes the ledger (jobs/cross_region/ledger.py)
        run(month, str(landing), str(home), f"test-{month}")
    return home


def doubtful(home, month: str) -> dict[tuple[str, str], dict]:
    con = connect(home)
    rows = con.execute(
        "select household_id, check_id, evidence, source_refs, cross_province, cross_city "
        "from v_doubtful_records where month = ?",
        [month],
    ).fetchall()
    con.close()
    keys = ("evidence", "source_refs", "cross_province", "cross_city")
    return {(r[0], r[1]): dict(zip(keys, r[2:], strict=True)) for r in rows}


def report_row(home, month: str, household: str) -> dict:
    (row,) = [r for rows in gather(Home(home), month, {household}).values() for r in rows if r["draw"]]
    return row


def test_the_second_home_elsewhere_is_a_doubtful_record_in_the_month_its_answer_arrives(home):
    """Must show: August has no multiple_homes record for H1 (one home here, Guangdong not yet
    answered); September has one, its source the answer row, its evidence the answer."""
    assert ("H1", "multiple_homes") not in doubtful(home, AUG)
    found = doubtful(home, SEP)[("H1", "multiple_homes")]
    assert found["source_refs"] == [f"{SEP}/real_estate.csv:2", f"{SEP}/cross_region_answers.csv:2"]
    assert "住宅2套" in found["evidence"]
    assert "异地核对结果：广东省回复不动产有登记（90.00平方米，广州市天河区某路1号）" in found["evidence"]
    assert (found["cross_province"], found["cross_city"]) == (True, False)


def test_before_the_answer_the_report_says_waiting_never_nothing_registered(home):
    """Must show: August's report of H1 says 待异地核对 for 不动产 (and every item asked)."""
    row = report_row(home, AUG, "H1")
    reports = Reports(load_rules(month=AUG), AUG, "b", division_names(Home(home), AUG))
    assets = {r[1]: r[2] for r in reports.asset_rows(row)}
    assert assets["房产"].endswith("；待异地核对：王一（广东省）")
    assert assets["存款、理财"] == "本省未见登记；待异地核对：王一（广东省）"
    table = cross_region_rows(row)
    assert [r[2] for r in table] == list(CROSS_REGION_ITEMS)
    assert {r[3] for r in table} == {f"待异地核对（回复期限{REPLY_BY}）"}


def test_after_the_answer_the_report_names_it_and_the_rest_still_wait(home):
    row = report_row(home, SEP, "H1")
    table = {r[2]: r for r in cross_region_rows(row)}
    assert table["不动产"][3].startswith("异地核对结果：广东省回复不动产有登记")
    assert table["不动产"][4] == f"{SEP}/cross_region_answers.csv:2"
    assert table["存款"][3] == "异地核对结果：广东省回复存款无登记"
    assert table["社保"][3] == "待异地核对（逾期未回复）"  # September's end is past the reply date
    reports = Reports(load_rules(month=SEP), SEP, "b", division_names(Home(home), SEP))
    assets = {r[1]: r[2] for r in reports.asset_rows(row)}
    assert "异地核对结果：广东省回复不动产" in assets["房产"] and "待异地核对" not in assets["房产"]
    assert assets["存款、理财"] == "未见登记"  # answered: none there either


def test_the_waiting_items_are_part_of_the_reports_digest(home):
    """A report is drawn on demand only when its rows have the digest the export recorded: the
    cross-region rows are among them, so an answer arriving changes the digest."""
    row = report_row(home, AUG, "H1")
    assert row["cross_region"] and content_hash("c", row) != content_hash("c", row | {"cross_region": None})


def test_the_lists_say_which_items_wait(home):
    listed = read_listed(Home(home), AUG, "4301").filter(pl.col("household_id") == "H1")
    assert set(listed["cross_region"]) == {f"待异地核对（{'、'.join(CROSS_REGION_ITEMS)}）"}
    listed = read_listed(Home(home), SEP, "4301")
    waiting = dict(zip(listed["household_id"], listed["cross_region"], strict=True))
    assert waiting["H1"] == "待异地核对（市场主体、社保、公积金、死亡）"
    assert waiting.get("H2") is None


@pytest.mark.parametrize(
    "check, marked",
    [
        ("financial_assets", "明细：银行50000.0元（跨市）"),
        ("income_above_standard", "李二（户主）（跨市）月收入6000.0元"),
        ("employee_insurance_or_fund", "李二（跨市）缴纳城镇职工社保"),
    ],
)
def test_evidence_about_a_member_registered_in_another_prefecture_is_marked_cross_city(home, check, marked):
    found = doubtful(home, SEP)[("H2", check)]
    assert marked in found["evidence"]
    assert (found["cross_province"], found["cross_city"]) == (False, True)


def test_the_report_names_the_member_registered_in_another_prefecture(home):
    row = report_row(home, SEP, "H2")
    assert cross_region_rows(row)[0][:2] == ["李二", "省内其他市（跨市）"]


def test_records_without_anything_elsewhere_are_flagged_neither(home):
    for month in (AUG, SEP):
        for (household, check), r in doubtful(home, month).items():
            if household != "H1" or check != "multiple_homes":
                assert r["cross_province"] is False, (household, check)
            if household != "H2":
                assert r["cross_city"] is False, (household, check)


def application(hukou: str) -> bytes:
    """An application CSV (CONTRACT.md "Applications"): one member registered in `hukou`."""
    row = {
        "户编号": "",
        "身份证号": pid(9),
        "姓名": "申甲",
        "与户主关系": "户主",
        "行政区划代码": "430101001001",
        "城乡类别": "农村",
        "人员类别": "",
        "劳动能力": "有",
        "健康状况": "健康",
        "申报月收入": "0",
        "户籍地区划代码": hukou,
        "授权书编号": "SQ-2026-0009",
        "申请类别": "低保",
    }
    return pl.DataFrame([row]).write_csv().encode("utf-8")


SIGNED = (
    "授权书.pdf",
    b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + b"% scanned page\n" * 1000 + b"%%EOF\n",
)


@pytest.fixture
def own_home(home, tmp_path):
    copy = tmp_path / "home"
    shutil.copytree(home, copy, symlinks=True)
    return copy


def test_an_applicant_registered_in_another_province_is_asked_about_at_once(own_home):
    """The check writes its request (interface point 5) and its report says what waits; checked
    again the same month, the same request id and no second line."""
    fonts, now = FontChain(find_font()), dt.datetime(2026, 10, 20, 10, 0, tzinfo=applications.CHINA)
    for _ in range(2):
        checked = applications.submit(
            own_home, "申请.csv", application("440106"), load_rules(month=SEP), fonts,
            "clerk", "township", "", "127.0.0.1", now, None, SIGNED,
        )  # fmt: skip
    lines = (
        (own_home / "lake" / "_xr_applications" / "2026-10.jsonl").read_text(encoding="utf-8").splitlines()
    )
    assert len(lines) == 1
    reply_days = load_cross_region(SEP).reply_days
    assert json.loads(lines[0]) == {
        "request_id": request_id(pid(9), "申请核对", "2026-10"),
        "region": GUANGDONG,
        "id_number": pid(9),
        "name": "申甲",
        "household_id": checked.application.household_id,
        "purpose": "申请核对",
        "authorisation_ref": "SQ-2026-0009",
        "items": ";".join(CROSS_REGION_ITEMS),
        "requested_on": "2026-10-31",  # dated as the month's run sends it, as members' requests
        "reply_by": str(dt.date(2026, 10, 31) + dt.timedelta(days=reply_days)),
        "requested_month": "2026-10",
    }
    # the ledger reads the line into October's requests (jobs/cross_region/ledger.py)
    assert ledger.applicants(own_home, "2026-10")["request_id"].to_list() == [
        json.loads(lines[0])["request_id"]
    ]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(checked.report)).pages)
    assert "待异地核对" in text and "广东省" in text
    assert "待异地核对：申甲（广东省）" in checked.sections["assets"][1][1][2]
    assert [r[2:4] for r in checked.sections["cross_region"][1]] == [
        [item, f"待异地核对（回复期限{json.loads(lines[0])['reply_by']}）"] for item in CROSS_REGION_ITEMS
    ]


def test_an_applicant_registered_in_the_province_is_not_asked_about(own_home):
    now = dt.datetime(2026, 10, 20, 10, 0, tzinfo=applications.CHINA)
    applications.submit(
        own_home, "申请.csv", application("430201"), load_rules(month=SEP), FontChain(find_font()),
        "clerk", "township", "", "127.0.0.1", now, None, SIGNED,
    )  # fmt: skip
    assert not (own_home / "lake" / "_xr_applications").exists()


def test_the_ledger_has_the_interfaces_columns_and_the_request(home):
    """The means test reads `_xr_requests` by the columns of interface point 4: a drift shows here."""
    for month, status in ((AUG, "待回复"), (SEP, "逾期")):
        found = Home(home).read("_xr_requests", month)
        assert found.columns == list(LEDGER_COLUMNS)
        (row,) = found.filter(pl.col("id_number") == P1).to_dicts()
        assert (row["request_id"], row["region"], row["status"]) == (RID, GUANGDONG, status)


def no_data_member(item: str) -> dict:
    """A member whose province answered `item` 无数据 (no data: not known, not "nothing registered")."""
    answer = {"item": item, "found": "无数据", "value": None, "detail": None, "province": "广东省",
              "answered_on": dt.date(2026, 9, 10), "ref": f"{SEP}/cross_region_answers.csv:9",
              "text": f"异地核对结果：广东省回复{item}无数据"}  # fmt: skip
    return {"household_id": "H9", "name": "申乙", "registered_elsewhere": "跨省", "province": "广东省",
            "pending_items": [], "overdue": False, "reply_by": None, "answers": [answer]}  # fmt: skip


def test_an_item_answered_no_data_is_never_read_as_nothing_registered(home):
    row = report_row(home, SEP, "H2") | {"cross_region": [no_data_member("不动产")]}
    reports = Reports(load_rules(month=SEP), SEP, "b", division_names(Home(home), SEP))
    assets = {r[1]: r[2] for r in reports.asset_rows(row)}
    assert not assets["房产"].startswith("未见") and "异地无数据：申乙（广东省）" in assets["房产"]
    members = pl.DataFrame([no_data_member("不动产")])
    listed = pending_by_household(members)
    assert listed.rows() == [("H9", "异地无数据（不动产）")]
