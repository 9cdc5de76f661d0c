"""Application checks (逢救必核, jobs/applications/checks.py): an applicant household checked with the
means test's own SQL against the latest published month of a real home, each bad input refused
with a message naming the file and row, and every check recorded for auditors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import shutil

import polars as pl
import pytest
import xlsxwriter
from conftest import safetynet
from pypdf import PdfReader
from workbooks import HOSTILE_PARTS, sheet

from jobs.applications import checks as applications
from jobs.applications.checks import ApplicationRefused, Checked, submit
from jobs.export.household_reports import division_names
from jobs.publish.sealed import connect_read_only, read
from safetynet import alerts
from safetynet.ids import check_character
from safetynet.lake import Home
from safetynet.pdf import FontChain, find_font
from safetynet.rules import load_portal, load_rules

RULES = load_rules()
NOW = dt.datetime(2026, 10, 20, 10, 0, tzinfo=applications.CHINA)
# the applicant's signed authorisation (授权书), scanned to PDF: what a township uploads with the rows
# (a scanned page is tens of kilobytes; rules/portal/portal.yaml authorisation_min_bytes)
SIGNED = (
    "授权书.pdf",
    b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + b"% scanned page\n" * 1000 + b"%%EOF\n",
)


@pytest.fixture(scope="module")
def fonts():
    return FontChain(find_font())


@pytest.fixture
def home(looped, tmp_path):
    """A copy of the looped home (August and September published): checks write into its lake."""
    copy = tmp_path / "home"
    shutil.copytree(looped, copy, symlinks=True)
    return copy


def person(birth: str, serial: int, county: str = "430101") -> str:
    body = f"{county}{birth}{serial:03d}"
    return body + check_character(body)


def township_of(home) -> tuple[str, str]:
    """A township with households in September, and one of its villages."""
    roster = Home(home).read("roster", "2026-09")
    code = roster["division_code"].sort()[0]
    return code[:9], code


def applicant(home, members: list[dict], **extra) -> bytes:
    """An application CSV: the members (name, id, relation, income) in the township of the home."""
    _, village = township_of(home)
    rows = [
        {
            "户编号": "",
            "身份证号": m["id"],
            "姓名": m["name"],
            "与户主关系": m.get("relation", "户主" if i == 0 else "子女"),
            "行政区划代码": m.get("division", village),
            "城乡类别": "农村",
            "人员类别": "",
            "劳动能力": m.get("labour", "有"),
            "健康状况": m.get("health", "健康"),
            "申报月收入": str(m.get("income", 0)),
            "授权书编号": extra.get("authorisation", "SQ-2026-0001"),
            "申请类别": extra.get("applied_for", "低保"),
        }
        for i, m in enumerate(members)
    ]
    return pl.DataFrame(rows).write_csv().encode("utf-8")


def standard(home) -> float:
    """September's rural dibao standard of the township (from the published household rows)."""
    township, _ = township_of(home)
    hm = Home(home).read("_household_month", "2026-09")
    return hm.filter((pl.col("township_code") == township) & (pl.col("residence_type") == "农村"))[
        "dibao_standard"
    ][0]


def check(
    home, fonts, data: bytes, name: str = "申请.csv", area: str = "", now=NOW, settings=None, signed=SIGNED
):
    return submit(
        home, name, data, RULES, fonts, "clerk", "township", area, "127.0.0.1", now, settings, signed
    )


def log(home) -> list[dict]:
    with connect_read_only(Home(home)) as con:
        return read(con, "select * from v_application_checks").to_dicts()


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


NEW = [{"id": person("19800101", 901), "name": "申甲"}, {"id": person("20100101", 902), "name": "申乙"}]


def test_limits_decide_the_result(home, fonts):
    """Income per member below the standard, between it and the near-dibao limit, and above that:
    低保, 低保边缘, 不符合; whether what was applied for is within it."""
    std = standard(home)
    low = check(home, fonts, applicant(home, [NEW[0] | {"income": std * 0.5}, NEW[1]]))
    assert (low.result, low.meets_applied_for) == ("符合低保条件", True)
    assert low.row["per_capita_income"] == pytest.approx(std * 0.25)

    near = [{"id": person("19700101", 911), "name": "边甲", "income": std * 1.2}]
    middle = check(home, fonts, applicant(home, near, applied_for="低保"))
    assert (middle.result, middle.meets_applied_for) == ("符合低保边缘条件", False)
    assert "income_above_standard" in {r["check_id"] for r in middle.records}
    near_dibao = check(home, fonts, applicant(home, near, applied_for="低保边缘"))
    assert (near_dibao.result, near_dibao.meets_applied_for) == ("符合低保边缘条件", True)

    rich = [{"id": person("19600101", 921), "name": "富甲", "income": std * 2}]
    above = check(home, fonts, applicant(home, rich))
    assert above.result == "不符合条件" and "人均收入高于低保标准" in above.detail
    # the report says so, with the month of data, and masks every ID number
    text = pdf_text(above.report)
    assert "不符合条件" in text and "2026-09" in text and rich[0]["id"] not in text
    assert f"{rich[0]['id'][:6]}********{rich[0]['id'][-4:]}" in text


def test_departments_data_about_a_member_is_used_and_another_roster_is_reported(home, fonts):
    """A member who owns a private car (vehicles delivery) makes the household not eligible; a
    member listed in another household's roster is reported as such, not merged."""
    h = Home(home)
    cars = h.read("vehicles", "2026-09").filter(
        (pl.col("vehicle_type") == "小型汽车") & (pl.col("operating") == "否")
    )
    roster = h.read("roster", "2026-09")
    owner = roster.join(cars.select("id_number"), on="id_number", how="semi").row(0, named=True)
    members = [
        {"id": person("19750101", 931), "name": "车主甲"},
        {"id": owner["id_number"], "name": owner["name"]},
    ]
    got = check(home, fonts, applicant(home, members))
    by_check = {r["check_id"]: r for r in got.records}
    assert got.result == "不符合条件" and "非营运小型汽车" in got.detail
    assert "vehicles" in " ".join(by_check["private_car"]["source_refs"])
    assert owner["household_id"] in by_check["person_in_two_households"]["evidence"]
    assert got.application.household_id != owner["household_id"]  # never silently merged


def test_each_bad_input_is_refused_with_its_file_and_row_and_only_logged(home, fonts):
    township, _ = township_of(home)
    bad_id = NEW[1]["id"][:-1] + ("0" if NEW[1]["id"][-1] != "0" else "1")
    h = Home(home)
    dead = pl.concat([h.read("deaths", m) for m in ("2026-08", "2026-09")])["id_number"].sort()[0]
    cases = {
        "校验码": applicant(home, [NEW[0], {"id": bad_id, "name": "申乙"}]),
        "授权书编号：必填项为空": applicant(home, NEW, authorisation=""),
        "同一身份证号在申请中出现不止一次": applicant(home, [NEW[0], NEW[0] | {"relation": "子女"}]),
        "死亡": applicant(home, [NEW[0], {"id": dead, "name": "已故"}]),
        "不是约定的代码值": applicant(home, NEW, applied_for="救急"),
    }
    for expected, data in cases.items():
        with pytest.raises(ApplicationRefused) as refused:
            check(home, fonts, data)
        assert expected in str(refused.value) and "申请.csv 第3行" in str(refused.value), str(refused.value)
    with pytest.raises(ApplicationRefused, match="不属于本账户的辖区"):
        check(home, fonts, applicant(home, NEW), area=township[:6] + "999")
    with pytest.raises(ApplicationRefused, match="请上传 xlsx 或 CSV"):
        check(home, fonts, b"x", name="申请.pdf")
    entries = log(home)
    assert len(entries) == len(cases) + 2 and {e["status"] for e in entries} == {"refused"}
    assert all(e["detail"] and e["application_id"] is None for e in entries)
    assert not (home / "lake" / "_applications" / "checks").exists()  # nothing but the log


def test_a_hostile_workbook_is_refused_and_logged_as_refused(home, fonts):
    """A sheet part stored as the reader reads it but a screen by name or parser might skip: each
    refused with a reason (never an error, never read)."""
    for name, make in HOSTILE_PARTS.items():
        with pytest.raises(ApplicationRefused, match="表格范围过大|不是有效的 Excel 工作簿"):
            check(home, fonts, make(), name="申请.xlsx")
            pytest.fail(name)
    assert [e["status"] for e in log(home)] == ["refused"] * len(HOSTILE_PARTS)


def test_the_same_person_in_two_applications_is_refused(home, fonts):
    first = check(home, fonts, applicant(home, NEW))
    again = check(home, fonts, applicant(home, NEW, authorisation="SQ-2026-0002"))  # the same household
    assert again.application.household_id == first.application.household_id
    other = [{"id": person("19850101", 941), "name": "另户主"}, NEW[1]]
    with pytest.raises(ApplicationRefused) as refused:
        check(home, fonts, applicant(home, other))
    assert first.application_id in str(refused.value) and "同时在两户申请" in str(refused.value)
    masked = f"{NEW[1]['id'][:6]}********{NEW[1]['id'][-4:]}"
    assert masked in str(refused.value) and NEW[1]["id"] not in str(refused.value)


def test_every_check_is_recorded_for_auditors(home, fonts):
    got = check(home, fonts, applicant(home, NEW))
    [entry] = log(home)
    assert entry["application_id"] == got.application_id and entry["status"] == "checked"
    assert (entry["account"], entry["authorisation_ref"], entry["month_used"]) == (
        "clerk",
        "SQ-2026-0001",
        "2026-09",
    )
    assert entry["result"] == got.result and entry["member_ids"] == [m["id"] for m in NEW]
    report = home / "lake" / entry["report_file"]
    assert applications.hashlib.sha256(report.read_bytes()).hexdigest() == entry["report_sha256"]
    with connect_read_only(Home(home)) as con:
        members = read(con, "select id_number, application_id from v_application_members").to_dicts()
    assert [m["id_number"] for m in members] == [m["id"] for m in NEW]


def test_a_check_stopped_before_its_record_leaves_nothing_and_the_retry_succeeds(home, fonts, monkeypatch):
    monkeypatch.setenv("SAFETYNET_FAULT", "application:record")
    with pytest.raises(RuntimeError, match="injected fault"):
        check(home, fonts, applicant(home, NEW))
    with connect_read_only(Home(home)) as con:
        assert read(con, "select count(*) as n from v_application_members")["n"][0] == 0
    assert [(e["status"], e["application_id"]) for e in log(home)] == [("error", None)]  # said, not recorded
    monkeypatch.delenv("SAFETYNET_FAULT")
    retried = check(home, fonts, applicant(home, NEW))  # the stopped one is no application of its own
    assert [e["application_id"] for e in log(home) if e["status"] == "checked"] == [retried.application_id]


def test_the_command_line_checks_and_writes_the_report(home, tmp_path):
    path = tmp_path / "申请.csv"
    path.write_bytes(applicant(home, NEW))
    signed = tmp_path / SIGNED[0]
    signed.write_bytes(SIGNED[1])
    done = safetynet("check", "--home", str(home), "--application", str(path))
    assert done.returncode == 2 and "未上传申请人签署的授权书" in done.stderr  # a reference is not enough
    done = safetynet(
        "check",
        "--home",
        str(home),
        "--application",
        str(path),
        "--authorisation",
        str(signed),
        "--out",
        str(tmp_path / "out"),
    )
    assert done.returncode == 0, done.stderr
    assert f"authorisation: SHA-256 {hashlib.sha256(SIGNED[1]).hexdigest()}" in done.stdout
    assert "result: 符合低保条件" in done.stdout
    [pdf] = (tmp_path / "out").glob("SQ*_家庭经济状况核查报告.pdf")
    assert log(home)[1]["report_sha256"] == applications.hashlib.sha256(pdf.read_bytes()).hexdigest()
    path.write_bytes(applicant(home, NEW, authorisation=""))
    done = safetynet("check", "--home", str(home), "--application", str(path), "--authorisation", str(signed))
    assert done.returncode == 2 and "授权书编号：必填项为空" in done.stderr


def test_the_template_reads_back_as_an_application(home, fonts):
    """The portal's template, filled in as staff would in Excel, is a valid application."""
    headers = sheet(applications.template())[0]
    _, village = township_of(home)
    values = {"身份证号": NEW[0]["id"], "姓名": "申甲", "与户主关系": "户主", "行政区划代码": village}
    values |= {"城乡类别": "城市", "申报月收入": 100, "授权书编号": "SQ-1", "申请类别": "低保边缘"}
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"in_memory": True})
    ws = wb.add_worksheet("申请家庭")
    ws.write_row(0, 0, headers)
    ws.write_row(1, 0, [values.get(h) for h in headers])
    wb.close()
    got = check(home, fonts, out.getvalue(), name="申请.xlsx")
    assert got.application.applied_for == "低保边缘" and got.application.members.height == 1


def test_an_applicant_turned_away_is_watched_and_a_later_event_raises_a_lead(looped, tmp_path, fonts):
    """A household refused in September and not enrolled is assembled with the month's households;
    a disability registered for a member raises a lead that says where it comes from, and no
    score rule fires for it. A household whose members are on the roster is the roster's."""
    from direct import run

    shutil.copytree(looped, tmp_path / "home", symlinks=True)
    shutil.copytree(looped.parent / "landing" / "2026-09", tmp_path / "landing" / "2026-09")
    home = tmp_path / "home"
    september = dt.datetime(2026, 9, 20, 10, 0, tzinfo=applications.CHINA)
    std = standard(home)
    rich = [
        {"id": person("19600101", 951), "name": "富乙", "income": std * 4},
        {"id": person("19900101", 952), "name": "富丙"},
    ]
    refused = check(home, fonts, applicant(home, rich), now=september)
    assert refused.result == "不符合条件"
    listed = Home(home).read("roster", "2026-09").row(0, named=True)
    enrolled = check(
        home, fonts, applicant(home, [{"id": listed["id_number"], "name": listed["name"]}]), now=september
    )
    (tmp_path / "landing" / "2026-09" / "disability.part-9.csv").write_text(
        f"id_number,disability_type,grade,registered_on\n{rich[1]['id']},肢体,3,2026-09-10\n",
        encoding="utf-8",
    )
    run("2026-09", str(tmp_path / "landing"), str(home), "applicants-2026-09")
    h = Home(home)
    rows = h.read("_household_month", "2026-09")
    mine = rows.filter(pl.col("household_id") == refused.application.household_id)
    assert mine["application_id"].to_list() == [refused.application_id]
    assert rows.filter(pl.col("household_id") == enrolled.application.household_id).height == 0
    lead = h.read("_leads", "2026-09").filter(pl.col("household_id") == refused.application.household_id)
    assert lead["rule_ids"].to_list() == [["new_disability"]]
    assert f"曾申请救助（申请核对 {refused.application_id}）" in lead["reasons"][0]


def test_great_expectations_agrees_with_the_application_suite(home):
    """The application's suite (expectations/application.json, from the contract) evaluated by GE's
    own engine gives the same verdicts row by row as the Polars path the check uses (GE's import
    alone takes seconds, so a check does not wait for it)."""
    from pathlib import Path

    from jobs.export.household_reports import division_names
    from jobs.ingest.deliveries import read_source
    from jobs.ingest.validate import validate
    from safetynet.contract import APPLICATION

    bad_id = NEW[1]["id"][:-1] + ("0" if NEW[1]["id"][-1] != "0" else "1")
    data = applicant(home, [NEW[0], {"id": bad_id, "name": "申乙", "division": "430101"}], authorisation="")
    path = Path("申请.csv")
    raw = read_source(APPLICATION, [path], {path: data})
    checked = validate(raw, "2026-09", sorted(division_names(Home(home), "2026-09")), ge_sample=100)
    # validate raises EnginesDisagree where GE's verdict differs from Polars' on a row; GE found these
    failed = {(r["column"], r["unexpected_count"]) for r in checked.ge_results if not r["success"]}
    assert {("id_number", 1), ("division_code", 1), ("authorisation_ref", 2)} <= failed
    problems = set(zip(checked.quarantine["source_row"], checked.quarantine["column"], strict=True))
    assert {
        (3, "id_number"),
        (3, "division_code"),
        (2, "authorisation_ref"),
        (3, "authorisation_ref"),
    } <= problems


def test_a_month_without_a_department_s_delivery_never_says_within_the_limits():
    app = applications.Application(
        "a.csv", "", "2026-09", "b", "SQX", "430101001", "SQ-1", "低保", pl.DataFrame()
    )
    within = [
        {"check_id": "eligible_not_covered", "direction": "应保", "label": "x", "candidate_for": "低保"}
    ]
    household = {"dibao_standard": 800.0}
    meets_rules = RULES.means_limits.applied_for_within
    assert applications._verdict(app, household, within, [], meets_rules)[:1] == ("符合低保条件",)
    result, detail, meets = applications._verdict(app, household, within, ["deposits"], meets_rules)
    assert result == "需入户核实" and "2026-09未收到金融资产（deposits）的数据" in detail and meets is False


def test_a_lake_built_before_application_checks_is_read_and_checked(home, fonts):
    """Months published by an earlier version have no application_id: the views and a check work."""
    written = list((home / "lake").glob("month=*/build=*/_household_month/*.parquet"))
    assert written
    for path in written:
        frame = pl.read_parquet(path).drop("application_id")
        path.parent.chmod(0o755)
        path.chmod(0o644)
        frame.write_parquet(path)
    with connect_read_only(Home(home)) as con:
        assert read(con, "select count(*) as n from v_household_month")["n"][0] > 0
    assert check(home, fonts, applicant(home, NEW)).result


def test_a_household_id_must_be_the_township_s_and_a_made_one_hides_the_head(home, fonts):
    """A typed household id must be on the township's roster (or an earlier application of it);
    one the system gives cannot be turned back into the head's ID number."""
    import hashlib

    township, _ = township_of(home)
    roster = Home(home).read("roster", "2026-09")
    other = roster.filter(~pl.col("division_code").str.starts_with(township))["household_id"][0]
    data = applicant(home, NEW).decode().replace('\n""', f"\n{other}")
    with pytest.raises(ApplicationRefused, match=f"户编号 {other} 不是本乡镇"):
        check(home, fonts, data.encode())
    mine = roster.filter(pl.col("division_code").str.starts_with(township))["household_id"][0]
    data = applicant(home, NEW).decode().replace('\n""', f"\n{mine}")
    with pytest.raises(ApplicationRefused, match="列有申请成员的户"):  # none of them is in that household
        check(home, fonts, data.encode())
    listed = roster.filter(pl.col("household_id") == mine).sort(pl.col("relation") != "户主")
    members = [
        {"id": r["id_number"], "name": r["name"], "relation": r["relation"]} for r in listed.to_dicts()
    ]
    data = applicant(home, members).decode().replace('\n""', f"\n{mine}")
    assert check(home, fonts, data.encode()).application.household_id == mine
    made = check(home, fonts, applicant(home, [{"id": person("19700202", 961), "name": "新户"}]))
    plain = hashlib.sha256(person("19700202", 961).encode()).hexdigest()[:12].upper()
    assert made.application.household_id.startswith("SQ") and made.application.household_id != "SQ" + plain


def test_what_a_township_typed_is_masked_and_the_size_of_a_household_is_bounded(home, fonts):
    bad_id = NEW[1]["id"][:-1] + ("0" if NEW[1]["id"][-1] != "0" else "1")
    with pytest.raises(ApplicationRefused) as refused:
        check(home, fonts, applicant(home, [NEW[0], {"id": bad_id, "name": "申乙"}]))
    assert bad_id not in str(refused.value) and f"{bad_id[:6]}********{bad_id[-4:]}" in str(refused.value)
    assert bad_id not in json.dumps(log(home), ensure_ascii=False, default=str)
    many = [{"id": person("19900101", 100 + i), "name": f"甲{i}"} for i in range(31)]
    with pytest.raises(ApplicationRefused, match="最多30名家庭成员"):
        check(home, fonts, applicant(home, many))


def test_a_near_dibao_household_applying_again_is_within_the_near_dibao_limits(home, fonts):
    std = standard(home)
    member = {"id": person("19720303", 971), "name": "边缘户", "income": std * 1.2}
    data = applicant(home, [member], applied_for="低保边缘").decode().replace(',农村,"",', ",农村,低保边缘,")
    assert "低保边缘,有" in data
    got = check(home, fonts, data.encode())
    assert (got.result, got.meets_applied_for) == ("符合低保边缘条件", True)


def test_a_line_being_written_is_not_read_and_a_crash_in_a_check_is_logged(home, fonts, monkeypatch):
    check(home, fonts, applicant(home, NEW))
    path = next(applications.log_folder(home).glob("*.jsonl"))
    with path.open("a", encoding="utf-8") as f:
        f.write('{"at": "2026-10-20T1')  # another process's line, half written
    assert len(applications.records(home)) == 1

    def broken(*args):
        raise OSError("disk gone")

    monkeypatch.setattr(applications, "check", broken)
    with pytest.raises(OSError):
        check(home, fonts, applicant(home, [{"id": person("19800505", 981), "name": "错"}]))
    with path.open("a", encoding="utf-8") as f:
        f.write("\n")
    assert "error" in path.read_text(encoding="utf-8")


def test_what_a_clerk_gets_wrong_is_said_in_chinese_with_the_row(home, fonts):
    """Tried as a new user: a header with a space inside, an amount with an unquoted thousands
    separator, a relation outside the code set, an ID number Excel turned into a number."""
    _, village = township_of(home)
    header = "身份证号,姓　名,与户主关系,行政区划代码,城乡类别,申报月收入,授权书编号,申请类别\n"
    row = f"{NEW[0]['id']},申甲,户主,{village},农村,{{income}},SQ-1,低保\n"
    good = check(home, fonts, (header + row.format(income="300")).encode())
    assert good.application.members["name"].to_list() == ["申甲"]
    cases = {
        row.format(income="1,200"): "第2行 整行：该行有9列，标题行只有8列（金额中的千分位逗号",
        row.format(income="0").replace("户主", "母亲"): "不是约定的代码值（填写的是“母亲”；可填：户主、配偶",
        row.format(income="0").replace(NEW[0]["id"], "4.301011975021105e+17"): "4.3010…（已隐去）",
    }
    for text, expected in cases.items():
        with pytest.raises(ApplicationRefused) as refused:
            check(home, fonts, (header + text).encode(), area=village[:9])
        assert expected in str(refused.value) and "4301011975021" not in str(refused.value), str(
            refused.value
        )
    refusals = [e for e in log(home) if e["status"] == "refused"]
    assert refusals and all(e["township_code"] == village[:9] for e in refusals)  # the office's own


def test_the_answer_says_whether_it_covers_what_was_applied_for_and_a_converted_id(home, fonts):
    std = standard(home)
    near = [{"id": person("19660606", 991), "name": "边丙", "income": std * 1.2}]
    got = check(home, fonts, applicant(home, near, applied_for="低保"))
    assert "所申请的低保不在本结论之内" in got.detail
    old = f"{NEW[0]['id'][:6]}{NEW[0]['id'][8:17]}"  # the 15-digit form of an 18-digit number
    data = applicant(home, [NEW[0] | {"id": old}], applied_for="临时救助")
    got = check(home, fonts, data)
    assert got.application.members["id_number"].to_list() == [NEW[0]["id"]]
    assert "第2行的身份证号为15位旧号码，已按GB 11643转换为18位" in got.detail
    assert "所申请的临时救助不以本核对的收入和财产限定条件为准" in got.detail


# --- the office's duty: its area, the signed authorisation, its daily count (issue 29, item 1) ------


def test_a_member_living_outside_the_office_s_area_is_refused_naming_the_office_whose_area_it_is(home, fonts):
    """Today only the head's code was compared: a second member of another township passed."""
    township, _ = township_of(home)
    names = division_names(Home(home), "2026-09")
    village = next(c for c in sorted(names) if len(c) == 12 and c[:6] == township[:6] and c[:9] != township)
    with pytest.raises(ApplicationRefused) as refused:
        check(home, fonts, applicant(home, [NEW[0], NEW[1] | {"division": village}]), area=township)
    said = str(refused.value)
    assert "申请.csv 第3行" in said and "不属于本账户的辖区" in said
    assert f"{names[village[:9]]}（{village[:9]}）" in said and "应由其受理" in said
    # a county office: its county (the neighbouring township's member is in it); not another county
    within = check(home, fonts, applicant(home, [NEW[0], NEW[1] | {"division": village}]), area=township[:6])
    assert within.status == "checked"
    with pytest.raises(
        ApplicationRefused, match=f"{names[township]}（{township}）的辖区，不属于本账户的辖区"
    ):
        check(home, fonts, applicant(home, [{"id": person("19800101", 991), "name": "远"}]), area="430199")
    assert sorted(e["status"] for e in log(home)) == ["checked", "refused", "refused"]


def test_a_member_on_another_township_s_roster_is_held_and_the_office_learns_nothing_of_him(home, fonts):
    """A township typed its own village for a resident of another township: held for the county,
    no check run, no report, nothing of his assets or his household; the county's release runs it."""
    township, _ = township_of(home)
    roster = Home(home).read("roster", "2026-09")
    other = (
        roster.filter(~pl.col("division_code").str.starts_with(township)).sort("id_number").row(0, named=True)
    )
    data = applicant(home, [NEW[0], {"id": other["id_number"], "name": other["name"]}])
    held = check(home, fonts, data, area=township)
    assert (held.status, held.report, held.records, held.row) == ("held", b"", [], {})
    told = json.dumps([held.result, held.detail, held.sections], ensure_ascii=False)
    for secret in (other["household_id"], other["division_code"][:9], "存款", "不动产", other["id_number"]):
        assert secret not in told, secret
    assert "县（区）民政局" in held.detail
    assert not (home / "lake" / "_applications" / "checks").exists()
    [entry] = log(home)
    assert (entry["status"], entry["application_id"]) == ("held", held.application_id)
    assert other["division_code"][:9] in entry["held_reason"]  # the county reads why
    assert applications.records(home, township) == []  # nothing checked for the township
    # a township (itself or another) and another county cannot release it; its county can, once
    for account, role, area in (("clerk", "township", township), ("far", "county", "999999")):
        with pytest.raises(ApplicationRefused, match="县（区）民政局"):
            applications.release(home, held.application_id, RULES, fonts, account, role, area, now=NOW)
    done = applications.release(
        home, held.application_id, RULES, fonts, "county", "county", township[:6], now=NOW
    )
    assert (done.status, done.application_id) == ("checked", held.application_id)
    assert "person_in_two_households" in {r["check_id"] for r in done.records}
    with pytest.raises(applications.AlreadyReleased, match="已放行"):
        applications.release(
            home, held.application_id, RULES, fonts, "county", "county", township[:6], now=NOW
        )
    rows = log(home)
    assert [(e["status"], e["account"], e["released_by"]) for e in rows] == [
        ("held", "clerk", None),
        ("checked", "clerk", "county"),
    ]
    assert applications.find(home, held.application_id)["status"] == "checked"


BAD_AUTHORISATIONS = {
    "未上传申请人签署的授权书": None,
    "授权书文件是空的": ("授权书.pdf", b""),
    "授权书应为 PDF、JPG 或 PNG": ("授权书.pdf", b"SQ-2026-0001 signed, trust me"),
    "授权书文件太小": ("授权书.pdf", b"%PDF-"),  # a type's first bytes are not a signed page
    "授权书文件超过": ("授权书.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 3_000_000),
}


@pytest.mark.parametrize("expected", BAD_AUTHORISATIONS)
def test_an_application_without_a_signed_authorisation_file_is_refused(home, fonts, expected):
    with pytest.raises(ApplicationRefused, match=expected):
        check(home, fonts, applicant(home, NEW), signed=BAD_AUTHORISATIONS[expected])
    assert [e["status"] for e in log(home)] == ["refused"]
    assert not (home / "lake" / "_applications" / "authorisations").exists()


def test_the_authorisation_is_kept_under_its_sha256_and_named_in_the_auditors_view(home, fonts):
    jpg = ("scan.JPG", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"signed" * 2000)
    got = check(home, fonts, applicant(home, NEW), signed=jpg)
    sha = hashlib.sha256(jpg[1]).hexdigest()
    kept = home / "lake" / "_applications" / "authorisations" / f"{sha}.jpg"
    assert kept.read_bytes() == jpg[1] and got.entry["authorisation_sha256"] == sha
    assert kept.stat().st_mode & 0o777 == 0o440  # personal data: never readable by other accounts
    check(
        home, fonts, applicant(home, NEW, authorisation="SQ-2026-0002"), signed=jpg
    )  # the same file: one copy
    assert len(list(kept.parent.iterdir())) == 1
    with connect_read_only(Home(home)) as con:
        rows = read(
            con, "select authorisation_sha256, authorisation_file from v_application_checks"
        ).to_dicts()
    assert (
        rows
        == [{"authorisation_sha256": sha, "authorisation_file": f"_applications/authorisations/{sha}.jpg"}]
        * 2
    )


@pytest.mark.parametrize(
    ("past", "expected"),
    [
        ([], 20),  # a new office: the minimum
        ([5] * 28, 20),  # 3 x 5 = 15, below the minimum
        ([10] * 28, 30),  # 3 times its usual day
        ([70] + [0] * 27, 20),  # one busy day in four weeks is not its usual
        ([14] * 14, 21),  # half the window counted: days without a check are days of none
    ],
)
def test_an_office_s_daily_threshold_is_a_multiple_of_its_usual_day_and_never_below_the_minimum(
    past, expected
):
    assert applications.daily_threshold(past, load_portal()) == expected


def test_checks_above_an_office_s_daily_threshold_are_held_counted_and_alerted(home, fonts):
    township, _ = township_of(home)
    settings = dataclasses.replace(load_portal(), application_daily_minimum=2)
    got = [
        check(
            home,
            fonts,
            applicant(home, [{"id": person("19800101", 600 + i), "name": f"量{i}"}]),
            area=township,
            settings=settings,
        )
        for i in range(3)
    ]
    assert [g.status for g in got] == ["checked", "checked", "held"]
    assert got[2].report == b"" and got[2].detail == applications.WAIT
    rows = sorted(log(home), key=lambda e: e["day_count"])  # one time: v_application_checks orders by id then
    assert [(e["status"], e["office"], e["day_count"], e["day_threshold"]) for e in rows] == [
        ("checked", township, 1, 2),
        ("checked", township, 2, 2),
        ("held", township, 3, 2),
    ]
    assert "超过" in rows[2]["held_reason"]
    [alert] = [a for a in alerts.read(home) if a["kind"] == "application_hold"]
    assert (alert["county_code"], alert["office"], alert["application_id"]) == (
        township[:6],
        township,
        got[2].application_id,
    )
    # the next day is counted afresh; the county's release of a held check is not held again
    tomorrow = check(
        home,
        fonts,
        applicant(home, [{"id": person("19800101", 650), "name": "次日"}]),
        area=township,
        settings=settings,
        now=NOW + dt.timedelta(days=1),
    )
    assert (tomorrow.status, tomorrow.entry["day_count"]) == ("checked", 1)
    done = applications.release(
        home,
        got[2].application_id,
        RULES,
        fonts,
        "county",
        "county",
        township[:6],
        settings=settings,
        now=NOW,
    )
    assert done.status == "checked"


def test_checks_sent_at_once_cannot_pass_the_threshold_together(home, fonts):
    """Four checks of one office at the same moment, threshold 2: each sees a count below it before
    its check, the count read again under the log's lock holds the late ones."""
    from concurrent.futures import ThreadPoolExecutor

    township, _ = township_of(home)
    settings = dataclasses.replace(load_portal(), application_daily_minimum=2)
    data = [applicant(home, [{"id": person("19810101", 700 + i), "name": f"并{i}"}]) for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda d: check(home, fonts, d, area=township, settings=settings), data))
    assert sorted(g.status for g in got) == ["checked", "checked", "held", "held"]
    rows = log(home)
    assert sorted((e["status"], e["day_count"]) for e in rows) == [
        ("checked", 1),
        ("checked", 2),
        ("held", 3),
        ("held", 4),
    ]
    held = {g.application_id for g in got if g.status == "held"}
    kept = {p.name for p in (home / "lake" / "_applications" / "checks").glob("*/*")}
    assert kept.isdisjoint(held)  # a check held late leaves no record behind


def test_two_columns_for_one_field_with_two_values_are_said_in_chinese():
    from pathlib import Path

    from jobs.applications.checks import _unreadable
    from jobs.ingest.deliveries import read_source
    from safetynet.contract import APPLICATION
    from safetynet.errors import DeliveryError

    path = Path("申请.csv")
    header = ["身份证号"] + [APPLICATION.column(c).zh for c in APPLICATION.required if c != "id_number"]
    row = ["11010519491231002X"] + ["x"] * (len(header) - 1)
    data = f"{','.join(header)},身份证号\n{','.join(row)},440304199001010011\n".encode()
    with pytest.raises(DeliveryError) as err:
        read_source(APPLICATION, [path], {path: data})
    assert _unreadable(err.value.problem) == (
        f"第1列“身份证号”和第{len(header) + 1}列“身份证号”都是身份证号，第2行两列的值不同，"
        "无法确定以哪一列为准：请删去其中一列后重新上传"
    )


def held_probe(home, fonts) -> tuple[Checked, str]:
    """A check held because a member stands on another township's roster; (it, the township)."""
    township, _ = township_of(home)
    roster = Home(home).read("roster", "2026-09")
    other = (
        roster.filter(~pl.col("division_code").str.starts_with(township)).sort("id_number").row(0, named=True)
    )
    data = applicant(home, [NEW[0], {"id": other["id_number"], "name": other["name"]}])
    return check(home, fonts, data, area=township), township


def test_a_held_check_released_twice_at_once_is_checked_once(home, fonts):
    """A county clerk's double-click: both releases passed the "held" check (read outside any lock)
    and wrote the same <id>.tmp folder; the second failed at mkdir or rename and its `error` line,
    the newest, made the application vanish for the county and the township for good."""
    from concurrent.futures import ThreadPoolExecutor

    held, township = held_probe(home, fonts)

    def release(_):
        try:
            return applications.release(
                home, held.application_id, RULES, fonts, "county", "county", township[:6], now=NOW
            )
        except Exception as exc:  # noqa: BLE001 - what each click got is the point
            return exc

    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(release, range(2)))
    done = [g for g in got if isinstance(g, applications.Checked)]
    others = [g for g in got if not isinstance(g, applications.Checked)]
    assert [d.status for d in done] == ["checked"], got
    assert [type(o) for o in others] == [applications.AlreadyReleased], others
    assert applications.find(home, held.application_id)["status"] == "checked"
    assert [(e["status"], e["application_id"]) for e in log(home)] == [
        ("held", held.application_id),
        ("checked", held.application_id),
    ]
    checks = home / "lake" / "_applications" / "checks"
    assert sorted(p.relative_to(checks).as_posix() for p in checks.rglob("*") if p.is_file()) == [
        f"{NOW:%Y-%m}/{held.application_id}/{name}"
        for name in ("members.parquet", "report.json", "report.pdf")
    ]  # no second record, nothing half-written left
    # a later click is told it is done, and nothing is logged
    with pytest.raises(applications.AlreadyReleased):
        applications.release(
            home, held.application_id, RULES, fonts, "county", "county", township[:6], now=NOW
        )
    assert len(log(home)) == 2


def test_a_held_check_reads_the_same_to_the_township_whatever_the_reason(home, fonts):
    """A roster hold and a daily-count hold said different things to the township ("本日本辖区的申请
    核对已超过…" before one of them): the other told it that someone it typed stands on another
    township's roster. Why is the county's to read."""
    settings = dataclasses.replace(load_portal(), application_daily_minimum=1)
    township, _ = township_of(home)
    roster = Home(home).read("roster", "2026-09")
    other = (
        roster.filter(~pl.col("division_code").str.starts_with(township)).sort("id_number").row(0, named=True)
    )
    data = applicant(home, [NEW[0], {"id": other["id_number"], "name": other["name"]}])
    by_roster = check(home, fonts, data, area=township, settings=settings)
    alone = applicant(home, [{"id": person("19820101", 931), "name": "量"}])
    by_count = check(home, fonts, alone, area=township, settings=settings)
    assert sorted(e["held_for"] for e in log(home)) == ["daily_count", "roster"]
    assert (by_roster.status, by_roster.result, by_roster.detail) == (
        by_count.status,
        by_count.result,
        by_count.detail,
    )
    assert "通常每日次数的3倍" in by_count.entry["held_reason"]  # the county reads why


@pytest.mark.parametrize(
    ("division", "expected"),
    [
        ("430101010001", "在清平第10镇（430101010）2026-09监测名册的户 H7 中"),  # the county's own township
        ("430202003001", "在远县第3镇（430202003）2026-09监测名册中"),  # another county's: no household id
    ],
)
def test_the_county_reads_no_household_id_of_another_county_s_township(division, expected):
    found = pl.DataFrame(
        {"id_number": [person("19700101", 1)], "household_id": ["H7"], "division_code": [division]}
    )
    names = {"430101010": "清平第10镇", "430202003": "远县第3镇"}
    reason = applications.roster_reason(found, names, "430101001", "2026-09")
    assert (
        reason
        == f"成员 430101********{person('19700101', 1)[-4:]} {expected}：请核实其实际居住和共同生活的家庭后放行"
    )
