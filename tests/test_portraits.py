"""Household portraits (家庭画像, issue 13 item 4): the portal page of a listed lead, the PDFs the export
writes for new or escalated red/orange/yellow leads, and the documents drawn on demand.

`looped` (tests/conftest.py) is read only; the portal tests write into a home of their own, `helped`,
in which a township returned temporary assistance (临时救助) in September for a household whose
August lead stays open, so September lists the lead and its portrait shows the assistance.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from jobs.export import documents, portraits
from jobs.export.household_reports import REPORT_DIR, ReportFailure, division_names
from jobs.export.returnable import OUTCOME_CODES
from portal import audit
from portal.accounts import Accounts
from portal.app import create_app
from safetynet.ids import check_character
from safetynet.lake import Home
from safetynet.pdf import MissingGlyph
from safetynet.rules import Dimension, load_portal, load_rules
from tests.direct import run

PASSWORD = "correct horse 1"
AUG, SEP = "2026-08", "2026-09"
NO_FONT = "\U0010fffd"  # a private-use code point of plane 16 that no installed font has (test_fonts.py)
CLERK = "430101198001010011"  # an ID number a township wrote into an outcome's note
CLERK_ID = CLERK[:17] + check_character(CLERK[:17])
NOTE = f"发放临时救助金3000元，经办人身份证{CLERK_ID}"
FULL_ID = re.compile(r"(?<![0-9])[0-9]{17}[0-9X](?![0-9])")
DIMENSIONS = load_rules().dimensions


# --- pure parts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.0, 1.0, 1.0, 1.0], [(100, 90), (110, 100), (100, 110), (90, 100)]),  # up, then clockwise
        ([0.5, None, 0.0, 2.0], [(100, 95), (100, 100), (100, 100), (90, 100)]),  # None as 0, clipped at 1
    ],
)
def test_radar_points_start_at_the_top_and_go_clockwise(values, expected):
    got = portraits.radar(values, 100, 100, 10)
    assert [(round(x, 6), round(y, 6)) for x, y in got] == expected


@pytest.mark.parametrize(
    ("row", "items"),
    [
        ({"category": "低保", "benefit": 650.0}, ["人员类别及月救助金", "其他救助"]),
        (
            {
                "category": "低保边缘",
                "benefit": 0.0,
                "medical_assistance_12m": 1200.0,
                "education_aid_12m": 500.0,
                "injuries": 1,
                "compensation": 8000.0,
                "temporary": [{"text": "2026-09-05 入户核查后给予临时救助（案件 X）"}],
            },
            ["人员类别及月救助金", "医疗救助", "教育资助", "工伤赔付", "临时救助"],
        ),
    ],
)
def test_the_welfare_list_names_each_kind_of_assistance_and_its_source(row, items):
    rows = portraits.welfare(row)
    assert [r[0] for r in rows] == items
    assert all(source for _, _, source in rows)
    if row["benefit"]:
        assert "650.00 元" in rows[0][1]


def test_only_new_or_escalated_red_orange_yellow_listed_leads_are_printed_at_export():
    cases = pl.DataFrame(
        {
            "case_id": list("ABCDEFGH"),
            "kind": ["lead", "lead", "lead", "lead", "lead", "lead", "doubtful", "lead"],
            "state": ["new", "escalated", "standing", "new", "overdue", "new", "new", "closed"],
            "level": ["红", "黄", "橙", "蓝", "红", "橙", None, "红"],
            "sheet": ["main", "main", "main", "main", "overdue", "main", "main", None],
        }
    )
    assert cases.filter(portraits.printed_at_export())["case_id"].to_list() == ["A", "B", "F"]
    assert cases.filter(portraits.listed_leads())["case_id"].to_list() == list("ABCDEF")


def test_township_medians_leave_out_unscored_dimensions():
    dims = [Dimension("health", "健康状况", 25.0), Dimension("education", "教育", 10.0)]
    frame = pl.LazyFrame(
        {
            "township_code": ["T1", "T1", "T1", "T2"],
            "dim_health": [1.0, 3.0, 8.0, None],
            "dim_education": [0.0, None, 4.0, 2.0],
        }
    )
    got = portraits.township_medians(frame, dims).collect().sort("township_code")
    assert got.rows() == [("T1", 3.0, 2.0), ("T2", None, 2.0)]


# --- the export (looped, read only) ---------------------------------------------------------------


def _folders(home: Path, month: str) -> dict[str, Path]:
    return {p.parent.name: p.parent for p in (home / "exports" / month).glob("*/*/manifest.json")}


def _drawn(home: Path, month: str, township: str, entry: dict, out: Path) -> Path:
    """A document the township manifest lists, drawn when asked for (`safetynet documents`)."""
    documents.render_month(home, month, township, out)
    return out / township[:6] / township / entry["file"]


def _portrait_files(home: Path, month: str) -> dict[tuple[str, str], dict]:
    out = {}
    for township, folder in _folders(home, month).items():
        for entry in json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["files"]:
            if entry["file"].startswith(portraits.PORTRAIT_DIR + "/"):
                household = entry["file"].split("/")[1].split("_")[0]
                out[(township, household)] = entry
    return out


def test_pdfs_are_listed_at_export_for_new_or_escalated_red_orange_yellow_leads_only(looped):
    h = Home(looped)
    printed_somewhere = 0
    for month in (AUG, SEP):
        cases = h.read("_cases", month)
        expected = set(
            cases.filter(portraits.printed_at_export()).select("township_code", "household_id").rows()
        )
        written = _portrait_files(looped, month)
        assert set(written) == expected, month
        printed_somewhere += len(expected)
        not_printed = cases.filter(portraits.listed_leads() & ~portraits.printed_at_export())
        assert not set(not_printed.select("township_code", "household_id").rows()) & set(written)
    assert printed_somewhere > 0
    # September has standing leads of August: they are listed, and not printed again
    september = h.read("_cases", SEP)
    assert september.filter(portraits.listed_leads() & (pl.col("state") != "new")).height > 0


def test_a_printed_portrait_is_one_a4_page_with_the_visit_sheet_and_masked_ids(looped, tmp_path):
    h = Home(looped)
    (township, household), entry = next(iter(sorted(_portrait_files(looped, SEP).items())))
    case = h.read("_cases", SEP).filter(portraits.printed_at_export() & (pl.col("household_id") == household))
    path = _drawn(looped, SEP, township, entry, tmp_path)
    pdf = PdfReader(path)
    assert len(pdf.pages) == 1
    text = pdf.pages[0].extract_text()
    assert case["case_id"][0] in text and str(case["visit_by"][0]) in text
    for heading in ("困难维度", "家庭成员", "幸福清单", "入户核查单", "核查日期", "转介部门", "签字"):
        assert heading in text
    assert all(code in text for code in OUTCOME_CODES)
    assert "********" in text and not FULL_ID.search(text.replace(" ", ""))


def test_a_printed_portrait_says_where_its_warning_came_from_and_names_no_view(looped, tmp_path):
    """困难指数 21.2（无明显困难）beside 橙色预警（紧急）is explained by the rules' titles (issue 33)."""
    from jobs.export.household_reports import rule_titles
    from safetynet.rules import load_rules

    titles = rule_titles(load_rules(month=SEP))
    h = Home(looped)
    for (township, household), entry in sorted(_portrait_files(looped, SEP).items())[:3]:
        case = h.read("_cases", SEP).filter(
            portraits.printed_at_export() & (pl.col("household_id") == household)
        )
        text = PdfReader(_drawn(looped, SEP, township, entry, tmp_path)).pages[0].extract_text()
        flowing = text.replace("\n", "")
        assert "预警来自：" in flowing and "困难指数反映长期状况" in flowing
        assert all(titles[r] in flowing for r in case["rule_ids"][0]), case["rule_ids"][0]
        assert "v_" not in text and not any(r in text for r in case["rule_ids"][0])


def test_a_portrait_has_the_same_bytes_when_drawn_again_as_on_demand(looped, tmp_path):
    h = Home(looped)
    build = h.build_dir(SEP).name.removeprefix("build=")
    (township, household), entry = next(iter(sorted(_portrait_files(looped, SEP).items())))
    published = _drawn(looped, SEP, township, entry, tmp_path).read_bytes()
    name, again = portraits.draw(h, SEP, township, household, DIMENSIONS, division_names(h, SEP))
    assert name == entry["file"] and again == published
    printed = portraits.printed_at_export() & (pl.col("household_id") == household)
    gathered = portraits.gather(h, SEP, h.read("_cases", SEP).filter(printed), DIMENSIONS)
    assert portraits.Portraits(SEP, build, division_names(h, SEP)).household(gathered[0]) == published


def test_a_character_no_font_has_stops_only_that_portrait(looped, tmp_path):
    h = Home(looped)
    leads = h.read("_cases", SEP).filter(portraits.listed_leads())
    found = portraits.gather(h, SEP, leads, DIMENSIONS)[:2]
    assert len(found) == 2
    bad = {**found[0], "members": [{**m, "name": "刘" + NO_FONT} for m in found[0]["members"]]}
    files, failures = portraits.Portraits(SEP, "b", {}).township(tmp_path, "T", [bad, found[1]])
    assert files == 1
    (failure,) = failures
    assert isinstance(failure, ReportFailure)
    assert failure[:3] == (bad["household_id"], "T", bad["file"])
    assert "U+10FFFD" in failure.message and bad["household_id"] in failure.message
    assert not (tmp_path / bad["file"]).exists() and (tmp_path / found[1]["file"]).exists()


# --- the portal (a home of our own) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def helped(landing, tmp_path_factory):
    """August and September published. In September's outcomes a township gives temporary
    assistance on the August doubtful-record or re-check case of a household whose August lead gets
    no outcome, so September lists that lead (overdue), and another household's August lead gets none. August's export draws one portrait of a
    name with a character no font has, which its manifest must list as failed."""
    from synthetic.generate import generate

    root = tmp_path_factory.mktemp("portraits")
    land, home = root / "landing", root / "home"
    for part in (AUG, "_truth"):
        shutil.copytree(landing / part, land / part)
    gather = portraits.gather
    stopped: list[dict] = []

    def with_a_rare_name(*args, **kwargs):
        found = gather(*args, **kwargs)
        if found and not stopped:
            found[0] = {
                **found[0],
                "members": [{**m, "name": m["name"] + NO_FONT} for m in found[0]["members"]],
            }
            stopped.append(found[0])
        return found

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAFETYNET_WORKERS", "1")
        mp.setattr(portraits, "gather", with_a_rare_name)
        run(AUG, str(land), str(home), "portraits-08")
    generate(SEP, 600, 11, land, home=home)
    august = Home(home).read("_cases", AUG)
    leads = august.filter(pl.col("kind") == "lead").select("household_id", lead="case_id")
    others = august.filter(pl.col("kind") != "lead").select("household_id", other="case_id")
    household, lead, other = leads.join(others, on="household_id").sort("household_id").row(0)
    # and another household's August lead gets no outcome: September lists it overdue, not printed
    unvisited = leads.filter(pl.col("household_id") != household).sort("household_id")["lead"][0]
    path = land / SEP / "outcomes.csv"
    outcomes = pl.read_csv(path, infer_schema=False)
    outcomes = pl.concat(
        [
            outcomes.filter(~pl.col("lead_id").is_in([lead, other, unvisited])),
            pl.DataFrame(
                {"lead_id": [other], "visited_on": ["2026-09-05"], "outcome": ["临时救助"], "note": [NOTE]}
            ),
        ],
        how="diagonal",
    ).select(outcomes.columns)
    outcomes.write_csv(path)
    run(SEP, str(land), str(home), "portraits-09")

    cases = Home(home).read("_cases", SEP)
    listed = cases.filter(portraits.listed_leads())
    mine = listed.filter(pl.col("household_id") == household)["township_code"][0]
    county = mine[:6]
    townships = sorted(_folders(home, SEP))
    neighbour = next(t for t in townships if t != mine and t[:6] == county)
    accounts = Accounts(home, load_portal())
    accounts.add("town", "township", mine, PASSWORD)
    accounts.add("neighbour", "township", neighbour, PASSWORD)
    accounts.add("county", "county", county, PASSWORD)
    accounts.add("admin", "admin", "", PASSWORD)
    return {
        "home": home,
        "household": household,
        "lead": lead,
        "assisted": other,
        "mine": mine,
        "neighbour": neighbour,
        "listed": listed,
        "stopped": stopped[0],
    }


def client(site) -> TestClient:
    return TestClient(create_app(site["home"]), client=("10.0.0.7", 40000), follow_redirects=False)


def token(c: TestClient, path: str = "/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', c.get(path).text).group(1)


def signed_in(site, username: str) -> TestClient:
    c = client(site)
    r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token(c)})
    assert r.status_code == 303
    return c


def test_the_portrait_page_of_a_listed_lead(helped):
    c = signed_in(helped, "town")
    household, township = helped["household"], helped["mine"]
    r = c.get(f"/portrait/{SEP}/{township}/{household}")
    assert r.status_code == 200
    page = r.text
    assert helped["lead"] in page  # the lead still open, listed in September
    assert '<svg id="radar"' in page and 'class="household"' in page and 'class="median"' in page
    assert page.count("<polygon") == 4 + 2  # four rings, the household, the township median
    assert all(d.label in page for d in DIMENSIONS)
    # the members, ID numbers masked (the roster's own numbers never appear)
    roster = Home(helped["home"]).read("roster", SEP)
    ids = roster.filter(pl.col("household_id") == household)["id_number"].to_list()
    assert ids and not any(i in page for i in ids)
    assert all(f"{i[:6]}********{i[-4:]}" in page for i in ids)
    # the 幸福清单: temporary assistance returned in September's outcome, the note's ID masked
    welfare = re.search(r'<table id="welfare">(.*?)</table>', page, re.S).group(1)
    assert "临时救助" in welfare and helped["assisted"] in welfare and "2026-09-05" in welfare
    assert "发放临时救助金3000元" in welfare and CLERK_ID not in page and f"{CLERK_ID[:6]}********" in welfare
    assert not FULL_ID.search(page)
    # prints from the browser, with no script
    assert "@media print" in page and "<script" not in page
    assert all(code in page for code in OUTCOME_CODES)
    logged = [e for e in audit.read(helped["home"]) if e["action"] == "portrait"]
    assert logged[-1]["file"] == f"{SEP}/{township}/{household}" and logged[-1]["account"] == "town"


def test_the_county_and_the_data_team_see_the_portrait(helped):
    path = f"/portrait/{SEP}/{helped['mine']}/{helped['household']}"
    for username in ("county", "admin"):
        assert signed_in(helped, username).get(path).status_code == 200, username


def test_the_portrait_page_is_refused_as_not_found(helped):
    household, mine, neighbour = helped["household"], helped["mine"], helped["neighbour"]
    stranger = client(helped)
    r = stranger.get(f"/portrait/{SEP}/{mine}/{household}")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    c = signed_in(helped, "neighbour")
    nowhere = c.get("/nowhere")
    assert nowhere.status_code == 404
    roster = Home(helped["home"]).read("roster", SEP)
    not_a_lead = roster.filter(pl.col("division_code").str.starts_with(neighbour)).join(
        helped["listed"], on="household_id", how="anti"
    )["household_id"][0]
    elsewhere = helped["listed"].filter(pl.col("township_code") != neighbour)["household_id"][0]
    for path in (
        f"/portrait/{SEP}/{mine}/{household}",  # another township's lead
        f"/portrait/{SEP}/{neighbour}/{household}",  # the lead asked for under the account's own township
        f"/portrait/{SEP}/{neighbour}/{not_a_lead}",  # a household of its own that is not a listed lead
        f"/portrait/{SEP}/{neighbour}/{elsewhere}",
        f"/portrait/2031-01/{neighbour}/{household}",
    ):
        r = c.get(path)
        assert (r.status_code, r.text) == (404, nowhere.text), path


def test_a_portrait_drawn_on_demand_is_written_listed_logged_and_served(helped):
    home, township = helped["home"], helped["mine"]
    # a listed lead of the township whose portrait the export did not print
    on_demand = helped["listed"].filter(
        ~portraits.printed_at_export() & (pl.col("township_code") == township)
    )
    household = on_demand.sort("household_id")["household_id"][0]
    folder = f"/files/{SEP}/{township}"
    c = signed_in(helped, "town")
    before = c.get(folder).text
    assert f'<a href="/portrait/{SEP}/{township}/{household}">' in before
    r = c.post(
        f"/draw/{SEP}/{township}",
        data={"household": household, "kind": "portrait", "csrf_token": token(c, folder)},
    )
    assert r.status_code == 303 and r.headers["location"].startswith(f"/drawn/{SEP}/{township}/")
    build = Home(home).build_dir(SEP).name.removeprefix("build=")
    addendum = home / "portal" / "drawn" / SEP / build / township
    manifest = json.loads((addendum / "manifest.json").read_text(encoding="utf-8"))
    (entry,) = [
        f for f in manifest["files"] if f["file"].startswith(f"{portraits.PORTRAIT_DIR}/{household}_")
    ]
    data = (addendum / entry["file"]).read_bytes()
    assert entry["bytes"] == len(data) and entry["by"] == "town" and entry["drawn_at"]
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert len(PdfReader(io.BytesIO(data)).pages) == 1
    # the sealed build is untouched: the document is not in the published folder
    published = _folders(home, SEP)[township]
    assert not (published / entry["file"]).exists()
    served = c.get(r.headers["location"])
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"] == "application/pdf"
    drawn_table = re.search(r'<table id="drawn">(.*?)</table>', c.get(folder).text, re.S).group(1)
    assert entry["file"] in drawn_table and entry["sha256"] in drawn_table
    log = [e for e in audit.read(home) if e["action"] == "draw" and e["result"] == "ok"]
    assert log[-1]["file"] == f"{SEP}/{township}/{entry['file']}" and log[-1]["sha256"] == entry["sha256"]
    # asked again: the same file, not drawn twice
    again = c.post(
        f"/draw/{SEP}/{township}",
        data={"household": household, "kind": "portrait", "csrf_token": token(c, folder)},
    )
    assert again.status_code == 303 and again.headers["location"] == r.headers["location"]
    manifest = json.loads((addendum / "manifest.json").read_text(encoding="utf-8"))
    assert [f["file"] for f in manifest["files"]].count(entry["file"]) == 1
    # the bytes the export would have written for this lead
    h = Home(home)
    assert portraits.draw(h, SEP, township, household, DIMENSIONS, division_names(h, SEP))[1] == data


def test_a_report_not_drawn_at_export_is_drawn_on_demand(helped):
    home = helped["home"]
    h = Home(home)
    cases = h.read("_cases", SEP).filter(
        pl.col("kind").is_in(["doubtful", "recheck"]) & pl.col("sheet").is_not_null()
    )
    found = pl.concat(
        [
            f.select("household_id")
            for name in ("_doubtful", "_recheck")
            if (f := h.read(name, SEP)) is not None
        ]
    ).unique()
    candidates = cases.join(found, on="household_id", how="semi")
    published = {
        (t, f.split("/")[1].split("_")[0])
        for t, folder in _folders(home, SEP).items()
        for f in (
            e["file"] for e in json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["files"]
        )
        if f.startswith(REPORT_DIR + "/")
    }
    township, household = next(
        (t, hid)
        for t, hid in candidates.select("township_code", "household_id").sort("household_id").rows()
        if (t, hid) not in published
    )
    c = signed_in(helped, "admin")
    folder = f"/files/{SEP}/{township}"
    assert household in re.search(
        r'<table id="report-households">(.*?)</table>', c.get(folder).text, re.S
    ).group(1)
    r = c.post(
        f"/draw/{SEP}/{township}",
        data={"household": household, "kind": "report", "csrf_token": token(c, folder)},
    )
    assert r.status_code == 303
    served = c.get(r.headers["location"])
    assert served.status_code == 200
    text = PdfReader(io.BytesIO(served.content)).pages[0].extract_text()
    assert "家庭经济状况核查报告" in text and household in text
    entries = json.loads(
        (
            home
            / "portal"
            / "drawn"
            / SEP
            / h.build_dir(SEP).name.removeprefix("build=")
            / township
            / "manifest.json"
        ).read_text(encoding="utf-8")
    )["files"]
    assert any(e["file"].startswith(f"{REPORT_DIR}/{household}_") and e["by"] == "admin" for e in entries)


def test_drawing_is_refused_for_another_townships_household(helped):
    home, mine, neighbour, household = (
        helped["home"],
        helped["mine"],
        helped["neighbour"],
        helped["household"],
    )
    c = signed_in(helped, "neighbour")
    nowhere = c.get("/nowhere").text
    form = token(c, f"/files/{SEP}/{neighbour}")
    before = sorted(
        p.relative_to(home) for p in (home / "portal").rglob("*") if p.is_file() and "drawn" in p.parts
    )
    for path, data in (
        (f"/draw/{SEP}/{mine}", {"household": household, "kind": "portrait"}),  # another township
        (f"/draw/{SEP}/{neighbour}", {"household": household, "kind": "portrait"}),  # its household elsewhere
        (f"/draw/{SEP}/{neighbour}", {"household": household, "kind": "report"}),
        (f"/draw/{SEP}/{neighbour}", {"household": "../../etc", "kind": "portrait"}),
        (f"/draw/{SEP}/{neighbour}", {"household": household, "kind": "something"}),
    ):
        r = c.post(path, data={**data, "csrf_token": form})
        assert (r.status_code, r.text) == (404, nowhere), (path, data)
    assert (
        c.post(f"/draw/{SEP}/{neighbour}", data={"household": household, "kind": "portrait"}).status_code
        == 403
    )
    after = sorted(
        p.relative_to(home) for p in (home / "portal").rglob("*") if p.is_file() and "drawn" in p.parts
    )
    assert after == before
    # a document the other township drew is not served to this one, nor to a stranger
    town = signed_in(helped, "town")
    r = town.post(
        f"/draw/{SEP}/{mine}",
        data={"household": household, "kind": "portrait", "csrf_token": token(town, f"/files/{SEP}/{mine}")},
    )
    drawn = r.headers["location"]
    assert c.get(drawn).status_code == 404
    assert client(helped).get(drawn).headers["location"] == "/login"
    assert town.get(drawn).status_code == 200


def test_a_portrait_stopped_by_a_missing_glyph_is_named_when_drawn(helped, tmp_path, monkeypatch):
    """The run lists the portrait (it draws none); drawn when asked for, a character no font has
    stops it, and the failure names the household and the code point."""
    stopped = helped["stopped"]
    township = stopped["township_code"]
    manifest = json.loads(
        (_folders(helped["home"], AUG)[township] / "manifest.json").read_text(encoding="utf-8")
    )
    (entry,) = [f for f in documents.listed(manifest) if f["file"] == stopped["file"]]
    assert manifest["failed_files"] == [] and Home(helped["home"]).catalog[AUG]["status"] == "success"
    renderer = documents.Renderer(Home(helped["home"]), AUG)
    monkeypatch.setattr(renderer, "rows", lambda *args: {stopped["file"]: ("portrait", stopped)})
    made, (failure,), drawn = documents.fill(renderer, tmp_path, township, [entry], manifest["drawn_with"])
    assert made == {} and drawn == 0
    assert failure.household_id == stopped["household_id"] and failure.file == stopped["file"]
    assert "U+10FFFD" in failure.message and not list(tmp_path.rglob("*.pdf"))
    with pytest.raises(MissingGlyph):
        portraits.Portraits(AUG, "b", {}).household(stopped)


def test_a_draw_stopped_by_a_missing_glyph_says_so_and_is_logged(helped, monkeypatch):
    import portal.app

    listed = helped["listed"].filter(
        ~portraits.printed_at_export() & (pl.col("household_id") != helped["household"])
    )
    assert listed.height, "the fixture's month has a listed lead whose portrait was not printed at export"
    township, household = listed.select("township_code", "household_id").sort("household_id").row(0)

    def stopped(*args, **kwargs):
        raise MissingGlyph(f"家庭画像 {household}", [NO_FONT], ["wqy-zenhei"])

    monkeypatch.setattr(portal.app, "draw_now", stopped)
    c = signed_in(helped, "admin")
    folder = f"/files/{SEP}/{township}"
    r = c.post(
        f"/draw/{SEP}/{township}",
        data={"household": household, "kind": "portrait", "csrf_token": token(c, folder)},
    )
    assert r.status_code == 422 and "U+10FFFD" in r.text and household in r.text
    entry = [e for e in audit.read(helped["home"]) if e["action"] == "draw"][-1]
    assert entry["result"] == "failed" and "U+10FFFD" in entry["detail"] and entry["account"] == "admin"
    assert household not in c.get(folder).text.split('id="drawn"')[1]


def test_no_township_file_of_a_turned_loop_names_a_view_a_rule_id_or_a_column(looped, tmp_path):
    """As tests/test_means_test.py scans a tiny month's folder, over every township of September
    (portraits and reports drawn when asked for, the re-check sample and the overdue sheets included)."""
    from test_means_test import english_words, township_texts

    for county_township, folder in _folders(looped, SEP).items():
        shutil.copytree(folder, tmp_path / county_township[:6] / county_township)
    assert documents.render_month(looped, SEP, out=tmp_path)["failures"] == []
    pattern = english_words()
    found = {}
    for folder in sorted(p.parent for p in tmp_path.glob("*/*/manifest.json")):
        for name, text in township_texts(folder).items():
            if words := sorted(set(pattern.findall(text))):
                found[f"{folder.name}/{name}"] = words
    assert not found, dict(list(found.items())[:5])
