"""The portal in a real browser: `safetynet serve --workers 2` as a user starts it, Debian's chromium
driven by Playwright (launched by its path; no browser is downloaded), with scripts turned off as an
old browser on the county intranet may have them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import CLI, safetynet
from tests.direct import run
from tests.workbooks import filled, september_open, sheet

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "browser pass 1"


def serve(home: Path, land: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`safetynet serve --workers 2` on a free port, once it answers: the process and its address."""
    port = free_port()
    server = subprocess.Popen(
        # two processes, as a county runs it for its townships' load: a session signed by one is
        # honoured by the other, whichever answers
        [*CLI, "serve", "--home", str(home), "--landing", str(land), "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/login", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    else:
        server.kill()
        raise AssertionError(f"the portal did not start: {server.stdout.read()}")
    return server, url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def portal(landing, tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    land = september_open(landing, root)
    home = root / "home"
    run("2026-08", str(land), str(home), "browser-08")
    folders = sorted(p.parent for p in (home / "exports" / "2026-08").glob("*/*/manifest.json"))
    leads = {
        f.name: next(
            (
                x.get("rows", 0)
                for x in json.loads((f / "manifest.json").read_text())["files"]
                if x["file"] == "线索清单.xlsx"
            ),
            0,
        )
        for f in folders
    }
    mine = max(leads, key=leads.get)
    other = next(f.name for f in folders if f.name != mine)
    county = mine[:6]
    for username, role, area in (("town", "township", mine), ("county", "county", county)):
        safetynet(
            "users",
            "add",
            "--home",
            str(home),
            "--username",
            username,
            "--role",
            role,
            "--area",
            area,
            "--password",
            PASSWORD,
            check=True,
        )
    server, url = serve(home, land)
    others_in_county = [f.name for f in folders if f.name[:6] == county]
    yield {
        "url": url,
        "home": home,
        "landing": land,
        "mine": mine,
        "other": other,
        "county_townships": others_in_county,
        "root": root,
    }
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    assert os.path.exists(CHROMIUM), "Debian's chromium is missing (make test installs it with apt-get)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield b
        b.close()


def sign_in(page, url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form[action='/login'] button")


def test_a_township_signs_in_takes_its_list_and_returns_outcomes(portal, browser):
    url, t, other = portal["url"], portal["mine"], portal["other"]
    context = browser.new_context(java_script_enabled=False, accept_downloads=True)  # works without scripts
    page = context.new_page()
    sign_in(page, url, "town")
    assert t in page.content() and other not in page.content()
    page.click(f"a[href='/files/2026-08/{t}']")
    shown = {
        row.inner_text().split("\t")[0]: row.inner_text().split("\t")[-1]
        for row in page.query_selector_all("#lists tr")[1:]
    }
    with page.expect_download() as info:
        page.click("text=线索清单.xlsx")
    path = info.value.path()
    data = Path(path).read_bytes()
    manifest = json.loads((portal["home"] / "exports" / "2026-08" / t[:6] / t / "manifest.json").read_text())
    expected = next(f["sha256"] for f in manifest["files"] if f["file"] == "线索清单.xlsx")
    assert hashlib.sha256(data).hexdigest() == expected == shown["线索清单.xlsx"].strip()
    # another township's file by URL: not found
    response = page.goto(f"{url}/download/2026-08/{other}/线索清单.xlsx")
    assert response.status == 404 and "未找到" in page.content()
    # the filled list, uploaded as downloaded (title row and all)
    rows = sheet(data)
    workbook = portal["root"] / "已填写.xlsx"
    workbook.write_bytes(
        filled(rows, {2: (dt.date(2026, 9, 5), "纳入低保"), 3: (dt.date(2026, 9, 6), "转介")})
    )
    page.goto(f"{url}/upload/{t}")
    page.set_input_files("input[name=file]", str(workbook))
    page.click("form[action^='/upload'] button")
    assert page.inner_text("#accepted") == "2" and page.inner_text("#refused") == "0"
    assert (portal["landing"] / "2026-09" / f"outcomes.part-{t}.csv").exists()
    # a bad one: row-level reasons
    bad = portal["root"] / "有误.csv"
    bad.write_bytes(
        f"线索编号,核查日期,核查结论\nXS202608-NOSUCH,2026-09-05,纳入低保\n{rows[2][1]},2026-09-05,发钱\n".encode(
            "gbk"
        )
    )
    page.set_input_files("input[name=file]", str(bad))
    page.click("form[action^='/upload'] button")
    assert page.inner_text("#accepted") == "0" and page.inner_text("#refused") == "2"
    table = page.inner_text("#rows")
    assert "不存在" in table and "不在约定的选项中" in table
    page.click("text=退出")
    assert page.url.endswith("/login")
    assert page.goto(f"{url}/files/2026-08/{t}").url.endswith("/login")
    context.close()


def test_a_county_sees_only_its_townships(portal, browser):
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, portal["url"], "county")
    links = {a.get_attribute("href").split("/")[-1] for a in page.query_selector_all("a[href^='/files/']")}
    assert links == set(portal["county_townships"])
    assert page.goto(f"{portal['url']}/upload/{portal['mine']}").status == 404
    context.close()


def test_a_township_enters_an_application_and_takes_the_report(portal, browser):
    """逢救必核 on an old browser: the form filled in by hand (no scripts), the result page at once,
    the report downloaded with the SHA-256 the log records."""
    import polars as pl

    from safetynet.ids import check_character
    from safetynet.lake import Home

    url, t = portal["url"], portal["mine"]
    roster = Home(portal["home"]).read("roster", "2026-08")
    village = roster.filter(pl.col("division_code").str.starts_with(t))["division_code"].min()
    body = f"{t[:6]}19820304981"
    context = browser.new_context(java_script_enabled=False, accept_downloads=True)
    page = context.new_page()
    sign_in(page, url, "town")
    page.click("a[href='/applications']")
    page.fill("input[name=authorisation_ref]", "SQ-BROWSER-1")
    page.select_option("select[name=applied_for]", "低保")
    page.locator("input[name=name]").first.fill("浏览器")
    page.locator("input[name=id_number]").first.fill(body + check_character(body))
    page.locator("input[name=division_code]").first.fill(village)
    page.locator("input[name=declared_monthly_income]").first.fill("100")
    signed = portal["home"].parent / "授权书.pdf"  # the applicant's signed authorisation, scanned
    signed.write_bytes(b"%PDF-1.7\n" + b"% signed in the browser test\n" * 1000 + b"%%EOF\n")
    page.locator("form#entry input[name=authorisation]").set_input_files(signed)
    page.click("form#entry button")
    assert "/applications/SQ" in page.url and "核对结论" in page.inner_text("#result")
    assert body[:6] + "********" in page.content() and body + check_character(body) not in page.content()
    with page.expect_download() as info:
        page.click("#report")
    data = Path(info.value.path()).read_bytes()
    log = portal["home"] / "lake" / "_applications" / "log"
    entry = json.loads(next(log.glob("*.jsonl")).read_text(encoding="utf-8").splitlines()[-1])
    assert data.startswith(b"%PDF") and hashlib.sha256(data).hexdigest() == entry["report_sha256"]
    assert entry["authorisation_sha256"] == hashlib.sha256(signed.read_bytes()).hexdigest()
    context.close()


def test_a_sixth_wrong_password_locks_the_account_for_that_address(portal, browser):
    context = browser.new_context()
    page = context.new_page()
    messages = []
    for _ in range(6):
        sign_in(page, portal["url"], "town", "wrong password")
        messages.append(page.inner_text("#message"))
    sign_in(page, portal["url"], "town")  # the right password, from the locked address
    assert page.url.endswith("/login") and page.inner_text("#message") == messages[0]
    assert len(set(messages)) == 1
    sign_in(page, portal["url"], "nobody")
    assert page.inner_text("#message") == messages[0]
    context.close()


PHONE = {"width": 390, "height": 844}  # a common phone's screen in CSS pixels (issue 33, item 7c)


def _fits(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")


def test_a_phone_shows_the_home_page_worklist_and_upload_result_without_scrolling_sideways(portal, browser):
    """At 390×844, as a clerk's phone lays a page out (its width, not a desktop's 980 px shrunk):
    no horizontal scrolling on the home page, the worklist, a household's portrait and an upload's
    result with reasons."""
    url, t = portal["url"], portal["mine"]
    # an account of its own: "town" may be locked for this address by the wrong-password test
    phone = ["--username", "phone", "--role", "township", "--area", t, "--password", PASSWORD]
    safetynet("users", "add", "--home", str(portal["home"]), *phone, check=True)
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=3, java_script_enabled=False
    )
    page = context.new_page()
    sign_in(page, url, "phone")
    seen = {"home": _fits(page)}
    page.goto(f"{url}/worklist/{t}")
    seen["worklist"] = _fits(page)
    page.click("a.portrait >> nth=0")  # a row's household, as a clerk taps it
    assert "案件状态与经过" in page.content()
    seen["portrait"] = _fits(page)
    bad = portal["root"] / "手机上传.csv"
    bad.write_bytes(
        "线索编号,核查日期,核查结论,备注\nXS202608-NOSUCH-AND-A-VERY-LONG-ID-0000000000,2026-09-05,纳入低保,"
        "一段很长的备注文字没有空格一段很长的备注文字没有空格一段很长的备注文字没有空格\n".encode()
    )
    page.goto(f"{url}/upload/{t}")
    page.set_input_files("input[name=file]", str(bad))
    page.click("form[action^='/upload'] button")
    assert page.inner_text("#refused") == "1"
    seen["upload result"] = _fits(page)
    context.close()
    assert all(client == PHONE["width"] for _, client in seen.values()), seen  # laid out for the phone
    assert {name: scroll <= client for name, (scroll, client) in seen.items()} == dict.fromkeys(seen, True), (
        seen
    )


# --- issue 36: a proposal for assistance, returned once and approved ----------------------------

# the portal's date for the proposals: the synthetic months' (August published, September open)
PROPOSAL_DAY = "2026-09-20"


@pytest.fixture(scope="module")
def deciding(landing, tmp_path_factory):
    """August published; a township with a listed case (a doubtful record first: 应保未保 and the
    like) whose household has a severely disabled member (残联 grade 1 or 2); its office and its
    county; the portal on the synthetic months' date."""
    import polars as pl

    from portal.accounts import Accounts
    from safetynet.lake import Home
    from safetynet.rules import load_portal

    root = tmp_path_factory.mktemp("deciding")
    land = september_open(landing, root)
    home = root / "home"
    run("2026-08", str(land), str(home), "deciding-08")
    h = Home(home)
    roster = h.read("roster", "2026-08")
    severe = h.read("disability", "2026-08").filter(pl.col("grade") <= 2).select("id_number", "grade")
    income = h.read("_means_members", "2026-08").select("id_number", "income")
    standard = h.read("_means_households", "2026-08").select("household_id", "dibao_standard")
    members = (  # severely disabled, with an income of their own below the standard: 单人保 pays
        roster.join(severe, on="id_number")
        .join(income, on="id_number")
        .join(standard, on="household_id")
        .filter(pl.col("income") < pl.col("dibao_standard"))
        .select("household_id", "id_number", "grade")
    )
    cases = (
        h.read("_issued", "2026-08").join(members, on="household_id").sort(pl.col("kind") != "doubtful", "id")
    )
    case = cases.row(0, named=True)
    t = case["township_code"]
    accounts = Accounts(home, load_portal())
    accounts.add("town", "township", t, PASSWORD)
    accounts.add("county", "county", t[:6], PASSWORD)
    server, url = serve(home, land, {"SAFETYNET_PORTAL_TODAY": PROPOSAL_DAY, "SAFETYNET_PORTAL_DEMO": "1"})
    yield {
        "url": url,
        "home": home,
        "landing": land,
        "root": root,
        "mine": t,
        "case": case,
        "severe": set(members["id_number"]),
    }
    server.terminate()
    server.wait(timeout=10)


def test_a_township_proposes_single_dibao_the_county_returns_it_once_then_approves(deciding, browser):
    """The issue's "Must show", the portal's part: 单人保 for a severely disabled member, proposed
    from the verified case, returned once with a reason, corrected, approved; its 审批表; the
    decision log has each step with its account and time. No scripts, as on an old browser."""
    url, t, case = deciding["url"], deciding["mine"], deciding["case"]
    town = browser.new_context(java_script_enabled=False, accept_downloads=True).new_page()
    sign_in(town, url, "town")
    # the visit's outcome returned on the portal: the case is verified
    visited = deciding["root"] / "核查结果.csv"
    header = "线索编号" if case["kind"] == "lead" else "记录编号"
    visited.write_text(f"{header},核查日期,核查结论\n{case['id']},2026-09-05,纳入低保\n", encoding="utf-8")
    town.goto(f"{url}/upload/{t}")
    town.set_input_files("input[name=file]", str(visited))
    town.click("form[action^='/upload'] button")
    assert town.inner_text("#accepted") == "1"
    # from the household's portrait to the form, then 单人保 for the disabled member
    town.goto(f"{url}/portrait/2026-08/{t}/{case['household_id']}")
    town.click(f"a.propose[href='/propose/{t}/{case['id']}']")
    assert town.inner_text("#counted").endswith("人") and "元" in town.inner_text("#per-capita")
    standard = float(town.inner_text("#standard").split()[0])
    row = next(  # the severely disabled member with an income of her own below the standard
        r
        for r in town.query_selector_all("#members tr")[1:]
        if "重度" in r.inner_text() and float(r.inner_text().split("\t")[6]) < standard
    )
    row.query_selector("text=为此人申请单人保").click()
    assert "重度" in town.inner_text("#members tr:has(input:checked)")
    assert town.eval_on_selector("#kind", "e => e.value") == "单人保"
    ticked = town.query_selector_all("input[name=members]:checked")
    assert len(ticked) == 1 and ticked[0].get_attribute("type") == "radio"
    prefilled = float(town.input_value("#amount"))
    assert prefilled > 0 and town.input_value("#effective_from") == "2026-10"
    town.fill("#reason", "重度残疾，无劳动能力，单独纳入低保")
    town.click("#submit")
    assert town.inner_text("#state") == "待审批" and town.query_selector("#approve") is None
    pid = town.url.rsplit("/", 1)[1]
    # the county: from its worklist, returned once with a reason
    county = browser.new_context(java_script_enabled=False, accept_downloads=True).new_page()
    sign_in(county, url, "county")
    county.click("#approvals")
    assert "待审批" in county.inner_text(f"#proposals tr:has-text('{pid}')")
    county.click(f"a[href='/proposal/{pid}']")
    county.click("#return")  # no reason: refused, a reason is asked for
    assert "请填写退回原因" in county.inner_text("#error")
    county.fill("#return-reason", "请补充残联评定的残疾等级证明")
    county.click("#return")
    assert county.inner_text("#state") == "已退回"
    # the township reads why, corrects and proposes again (same id, version 2)
    town.goto(f"{url}/proposal/{pid}")
    assert "请补充残联评定的残疾等级证明" in town.inner_text("#returned-reason")
    town.click("#correct")
    assert town.eval_on_selector("#kind", "e => e.value") == "单人保"
    town.fill("#reason", "重度残疾（残联评定），无劳动能力，单独纳入低保；已补充残疾等级证明")
    town.click("#submit")
    assert town.inner_text("#state") == "待审批" and "第 2 版" in town.inner_text("h2")
    # the county approves; the 审批表 is drawn on demand
    county.goto(f"{url}/proposal/{pid}")
    county.click("#approve")
    assert county.inner_text("#state") == "已批准"
    with county.expect_download() as info:
        county.click("#pdf")
    assert Path(info.value.path()).read_bytes().startswith(b"%PDF")
    # the form and the proposal on a clerk's phone: laid out for its width, no sideways scrolling
    phone = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=3, java_script_enabled=False
    ).new_page()
    sign_in(phone, url, "town")
    seen = {}
    for name, path in (("form", f"/propose/{t}/{case['id']}?kind=单人保"), ("proposal", f"/proposal/{pid}")):
        phone.goto(url + path)
        seen[name] = _fits(phone)
    assert all(scroll <= client == PHONE["width"] for scroll, client in seen.values()), seen
    for page in (town, county, phone):
        page.context.close()
    steps = [
        json.loads(line)
        for path in sorted((deciding["home"] / "lake" / "_decision_log").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assert [(s["event"], s["version"], s["account"], s["role"]) for s in steps] == [
        ("proposed", 1, "town", "township"),
        ("returned", 1, "county", "county"),
        ("proposed", 2, "town", "township"),
        ("approved", 2, "county", "county"),
    ]
    assert all(s["at"].startswith(PROPOSAL_DAY + "T") and s["at"].endswith("+08:00") for s in steps)
    assert {s["proposal_id"] for s in steps} == {pid} and steps[-1]["decision_id"] == "JD" + pid[2:]
    assert steps[-1]["kind"] == "单人保" and steps[-1]["category"] == "低保"
    assert steps[-1]["id_numbers"][0] in deciding["severe"]  # the severely disabled member
    assert steps[-1]["monthly_amount"] == prefilled and steps[-1]["effective_from"] == "2026-10"
    deciding["decision"] = steps[-1]


def _show_on_roster(path: Path, id_number: str, name: str, household: str, category: str) -> int:
    """The business system did it: the member stands in `category` on a delivered roster (a CSV
    in GB 18030 with Chinese headers, as the generator writes it); the rows changed."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("gb18030"))))
    col = {h: i for i, h in enumerate(rows[0])}
    changed = 0
    for row in rows[1:]:
        same = row[col["身份证号"]].strip().upper() == id_number
        if same or (row[col["户编号"]].strip() == household and row[col["姓名"]].strip() == name):
            row[col["人员类别"]] = category
            changed += 1
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_bytes(out.getvalue().encode("gb18030"))
    return changed


def test_the_decision_goes_out_and_the_next_roster_confirms_it(deciding):
    """The issue's "Must show", the run's part (decrun's side, s7-decrun): after the approval above,
    September's run exports the decision in decisions.csv; October's roster shows the member in
    低保 and confirms it; v_decisions shows each step with its account and time, and the 落实."""
    import polars as pl

    from jobs.publish.sealed import connect
    from safetynet.lake import Home
    from synthetic.generate import generate

    decision = deciding.get("decision")
    assert decision is not None, "the browser test above approves the decision this test follows"
    land, home = deciding["landing"], deciding["home"]
    run("2026-09", str(land), str(home), "deciding-09")
    exported = home / "exports" / "2026-09" / "_decisions" / "decisions.csv"
    rows = pl.read_csv(exported, infer_schema=False)
    mine = rows.filter(pl.col("decision_id") == decision["decision_id"]).to_dicts()
    assert len(mine) == 1, rows
    assert (mine[0]["kind"], mine[0]["category"], mine[0]["id_numbers"]) == (
        "单人保",
        "低保",
        decision["id_numbers"][0],
    )
    assert (mine[0]["proposed_by"], mine[0]["approved_by"], mine[0]["approved_on"]) == (
        "town",
        "county",
        PROPOSAL_DAY,
    )
    # October: delivered by the departments, its roster showing the member in 低保
    generate("2026-10", 600, 11, land)
    member = Home(home).read("roster", "2026-09").filter(pl.col("id_number") == decision["id_numbers"][0])
    name = member["name"][0]
    assert (
        _show_on_roster(
            land / "2026-10" / "roster.csv", decision["id_numbers"][0], name, decision["household_id"], "低保"
        )
        == 1
    )
    run("2026-10", str(land), str(home), "deciding-10")
    with connect(home) as con:
        found = con.sql(
            'select step, version, account, role, "at", month from v_decisions where proposal_id = ?',
            params=[decision["proposal_id"]],
        ).fetchall()
    # in the order they happened: by time (to the second: a step and the next may share one), then
    # version and the order of the steps; the roster's 落实 has no time of its own, its month
    order = ["提交", "退回", "批准", "落实", "未落实"]
    steps = sorted(found, key=lambda s: (s[4] is None, s[4] or 0, s[1], order.index(s[0])))
    assert [s[:4] for s in steps] == [
        ("提交", 1, "town", "township"),
        ("退回", 1, "county", "county"),
        ("提交", 2, "town", "township"),
        ("批准", 2, "county", "county"),
        ("落实", 2, None, None),
    ]
    assert all(
        str(s[4].astimezone(dt.timezone(dt.timedelta(hours=8))).date()) == PROPOSAL_DAY for s in steps[:4]
    )
    assert steps[-1][5] == "2026-10"  # confirmed by October's roster
