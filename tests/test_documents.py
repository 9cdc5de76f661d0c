"""Documents when asked for (issue 34, item 1): the run lists each household report and printed
portrait in the township manifest with its input digest, and they are drawn from the published
build when a township opens or downloads them, or when the data team runs `safetynet documents`,
with the bytes today's export wrote, the same bytes every time and in every process.

`published` is a home of our own: August of the session's landing, run in this process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import polars as pl
import pytest
from conftest import safetynet
from fastapi.testclient import TestClient

from jobs.export import documents, drawing, portraits
from jobs.export.household_reports import REPORT_DIR, SUMMARY_FILE, Reports, division_names, gather
from jobs.export.lists import lead_counts, read_listed, report_households
from jobs.publish import manifest
from portal import audit
from portal.accounts import Accounts
from portal.app import create_app
from safetynet.errors import SafetynetError
from safetynet.lake import Home
from safetynet.pdf import FontChain, find_font
from safetynet.rules import load_portal, load_rules
from tests.direct import run

PASSWORD = "correct horse 1"
AUG = "2026-08"


@pytest.fixture(scope="module")
def published(landing, tmp_path_factory):
    """August published, with accounts for a township, its neighbour, its county and the data team."""
    root = tmp_path_factory.mktemp("documents")
    land, home = root / "landing", root / "home"
    for part in (AUG, "_truth"):
        shutil.copytree(landing / part, land / part)
    run(AUG, str(land), str(home), "documents-08")
    folders = _folders(home)
    # the township with the most documents, and a neighbour of its county
    mine = max(folders, key=lambda t: (len(documents.listed(_manifest(folders[t]))), t))
    neighbour = next(t for t in sorted(folders) if t != mine and t[:6] == mine[:6])
    accounts = Accounts(home, load_portal())
    accounts.add("town", "township", mine, PASSWORD)
    accounts.add("neighbour", "township", neighbour, PASSWORD)
    accounts.add("county", "county", mine[:6], PASSWORD)
    return {"home": home, "mine": mine, "neighbour": neighbour}


def _folders(home: Path) -> dict[str, Path]:
    build = Home(home).build_dir(AUG)
    return {p.parent.name: p.parent for p in (build / "exports").glob("*/*/manifest.json")}


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def cached(home: Path, township: str) -> Path:
    """The township's folder in the documents' cache: keyed by build and drawing conditions."""
    build = Home(home).build_dir(AUG).name.removeprefix("build=")
    drawn_with = _manifest(_folders(home)[township])["drawn_with"]
    return home / "cache" / "documents" / build / drawn_with["digest"][:16] / township[:6] / township


def client(site) -> TestClient:
    return TestClient(create_app(site["home"]), client=("10.0.0.7", 40000), follow_redirects=False)


def signed_in(site, username: str) -> TestClient:
    c = client(site)
    form = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": form})
    assert r.status_code == 303
    return c


PORTAL_PROCESS = """
import re, sys
from pathlib import Path
from fastapi.testclient import TestClient
from portal.app import create_app
home, username, password, path, out = sys.argv[1:]
c = TestClient(create_app(Path(home)), follow_redirects=False)
form = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
c.post("/login", data={"username": username, "password": password, "csrf_token": form})
r = c.get(path)
assert r.status_code == 200, r.status_code
Path(out).write_bytes(r.content)
"""


def portal_process(home: Path, username: str, path: str, out: Path) -> bytes:
    """A document downloaded from a portal in another process."""
    args = [sys.executable, "-c", PORTAL_PROCESS, str(home), username, PASSWORD, path, str(out)]
    subprocess.run(args, check=True, capture_output=True, timeout=300)
    return out.read_bytes()


def todays_export(home: Path, township: str, out: Path) -> Path:
    """The township's reports, summary and printed portraits drawn as the export drew them before
    issue 34 (`Reports.township`, `Portraits.township`, from the rows `area_jobs` gathers)."""
    h, area = Home(home), township[:4]
    build = h.build_dir(AUG).name.removeprefix("build=")
    rules, names = load_rules(month=AUG), division_names(h, AUG)
    listed = read_listed(h, AUG, area)
    rows = gather(h, AUG, report_households(listed), area).get(township, [])
    printable = listed.filter(portraits.printed_at_export() & (pl.col("township_code") == township))
    printed = portraits.gather(h, AUG, printable, rules.dimensions, area)
    Reports(rules, AUG, build, names).township(out, township, rows, lead_counts(listed).get(township, {}))
    portraits.Portraits(AUG, build, names).township(out, township, printed)
    return out


def test_the_run_writes_lists_and_summary_and_lists_each_document_with_its_digest(published):
    home = published["home"]
    build = Home(home).build_dir(AUG)
    assert {p.name for p in build.rglob("*.pdf")} == {SUMMARY_FILE}  # no report or portrait drawn
    kinds = set()
    for township, folder in _folders(home).items():
        m = _manifest(folder)
        listed = documents.listed(m)
        for entry in listed:
            assert entry["document_id"] == entry["file"] and entry["kind"] in ("report", "portrait")
            assert re.fullmatch(r"[0-9a-f]{64}", entry["content_sha256"]), entry
            assert "sha256" not in entry and "bytes" not in entry and not (folder / entry["file"]).exists()
            assert entry["file"].startswith(REPORT_DIR if entry["kind"] == "report" else "家庭画像")
            assert f"/{entry['household_id']}_" in entry["file"]
            kinds.add(entry["kind"])
        assert m["reports"] == sum(1 for e in listed if e["kind"] == "report"), township
        written = [e for e in m["files"] if not e.get("on_demand")]
        assert SUMMARY_FILE in {e["file"] for e in written} and all("sha256" in e for e in written)
    assert kinds == {"report", "portrait"}


def test_documents_drawn_on_demand_are_the_bytes_todays_export_wrote(published, tmp_path):
    home, township = published["home"], published["mine"]
    old = todays_export(home, township, tmp_path / "old")
    drawn = documents.render_month(home, AUG, township, tmp_path / "new")
    assert drawn["failures"] == [] and drawn["drawn"] == drawn["documents"] > 0
    new = tmp_path / "new" / township[:6] / township
    before = {p.relative_to(old).as_posix(): p.read_bytes() for p in old.rglob("*.pdf")}
    after = {p.relative_to(new).as_posix(): p.read_bytes() for p in new.rglob("*.pdf")}
    summary = before.pop(SUMMARY_FILE)
    assert after.keys() == before.keys() and after == before
    assert {e["file"] for e in documents.listed(_manifest(_folders(home)[township]))} == set(after)
    # the summary the run still writes is the one today's export wrote
    assert (_folders(home)[township] / SUMMARY_FILE).read_bytes() == summary


def test_a_report_downloaded_twice_and_from_two_portals_has_the_bytes_safetynet_documents_writes(
    published, tmp_path
):
    home, township = published["home"], published["mine"]
    entries = documents.listed(_manifest(_folders(home)[township]))
    report = next(e for e in entries if e["kind"] == "report")
    portrait = next(e for e in entries if e["kind"] == "portrait")
    out = tmp_path / "out"
    safetynet("documents", "--month", AUG, "--home", str(home), "--township", township, "--out", str(out))
    first, second = signed_in(published, "town"), signed_in(published, "county")  # two app instances
    for entry in (report, portrait):
        path = f"/download/{AUG}/{township}/{entry['file']}"
        shutil.rmtree(home / "cache", ignore_errors=True)
        elsewhere = portal_process(home, "town", path, tmp_path / "elsewhere.pdf")  # drawn there
        shutil.rmtree(home / "cache")
        served = [first.get(path), first.get(path), second.get(path)]  # drawn here, then cached
        assert [r.status_code for r in served] == [200, 200, 200]
        assert served[0].headers["content-type"] == "application/pdf"
        written = (out / township[:6] / township / entry["file"]).read_bytes()
        assert elsewhere == written and all(r.content == written for r in served), entry["file"]
        logged = [e for e in audit.read(home) if e["file"] == f"{AUG}/{township}/{entry['file']}"]
        assert [(e["sha256"], e["bytes"]) for e in logged[-4:]] == [
            (hashlib.sha256(written).hexdigest(), len(written))
        ] * 4
        # kept outside the sealed build
        assert (cached(home, township) / entry["file"]).read_bytes() == written


def test_a_deleted_cache_changes_nothing(published):
    home, township = published["home"], published["mine"]
    entry = documents.listed(_manifest(_folders(home)[township]))[0]
    c = signed_in(published, "town")
    path = f"/download/{AUG}/{township}/{entry['file']}"
    before = c.get(path).content
    shutil.rmtree(home / "cache")
    again = c.get(path)
    assert again.status_code == 200 and again.content == before
    assert (cached(home, township) / entry["file"]).is_file()


def test_the_zip_holds_every_document_drawn(published):
    home, township = published["home"], published["mine"]
    shutil.rmtree(home / "cache", ignore_errors=True)
    c = signed_in(published, "town")
    r = c.get(f"/zip/{AUG}/{township}")
    assert r.status_code == 200
    folder = _folders(home)[township]
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        held = {n.split("/", 1)[1]: zf.read(n) for n in zf.namelist()}
    listed = documents.listed(_manifest(folder))
    assert {e["file"] for e in _manifest(folder)["files"]} | {"manifest.json"} == set(held)
    for entry in listed:
        assert held[entry["file"]] == c.get(f"/download/{AUG}/{township}/{entry['file']}").content


def test_the_file_list_shows_the_documents_as_present(published):
    home, township = published["home"], published["mine"]
    page = signed_in(published, "town").get(f"/files/{AUG}/{township}").text
    for entry in documents.listed(_manifest(_folders(home)[township])):
        assert entry["file"] in page and entry["content_sha256"] in page


def test_documents_are_served_only_as_downloads_are(published):
    home, mine, neighbour = published["home"], published["mine"], published["neighbour"]
    entry = documents.listed(_manifest(_folders(home)[mine]))[0]
    theirs = f"/download/{AUG}/{mine}/{entry['file']}"
    other = signed_in(published, "neighbour")
    nowhere = other.get("/nowhere")
    assert nowhere.status_code == 404
    for path in (
        theirs,  # another township's document
        f"/download/{AUG}/{neighbour}/{entry['file']}",  # asked for under its own township
        f"/download/{AUG}/{mine}/{REPORT_DIR}/H9999999999_无此户.pdf",
    ):
        r = other.get(path)
        assert (r.status_code, r.text) == (404, nowhere.text), path
    assert signed_in(published, "town").get(f"/download/{AUG}/{mine}/{REPORT_DIR}/x.pdf").status_code == 404
    assert client(published).get(theirs).headers["location"] == "/login"


def test_diff_compares_documents_by_their_input_digest(published, tmp_path):
    """A document listed on demand is compared by content_sha256: the same digest is the same."""
    build = Home(published["home"]).build_dir(AUG)
    assert documents.listed(_manifest(_folders(published["home"])[published["mine"]]))
    on_demand = manifest._on_demand(build)
    assert on_demand and all(v.startswith("content:") for v in on_demand.values())
    assert manifest.compare(build, build)["files_changed"] == []


def test_a_document_a_character_stops_is_named_to_the_township_and_logged(published, monkeypatch):
    """A character no installed font has: the township is told which document and code point,
    and the portal log records the failure; nothing is cached."""
    from safetynet.pdf import MissingGlyph

    home, township = published["home"], published["mine"]
    entry = documents.listed(_manifest(_folders(home)[township]))[-1]
    shutil.rmtree(home / "cache", ignore_errors=True)

    def stopped(self, kind, row):
        raise MissingGlyph(f"{entry['kind']} {entry['household_id']}", ["\U0010fffd"], ["wqy-zenhei"])

    monkeypatch.setattr(documents.Renderer, "draw", stopped)
    r = signed_in(published, "town").get(f"/download/{AUG}/{township}/{entry['file']}")
    assert r.status_code == 422 and "U+10FFFD" in r.text and entry["household_id"] in r.text
    logged = [e for e in audit.read(home) if e["file"] == f"{AUG}/{township}/{entry['file']}"][-1]
    assert logged["result"] == "failed" and "U+10FFFD" in logged["detail"] and logged["sha256"] is None
    assert not (home / "cache").exists() or not list((home / "cache").rglob("*.pdf"))


def _other_font(tmp_path: Path) -> FontChain:
    """Another font file on the host: the build's font with other bytes."""
    (primary, *_) = find_font()
    other = tmp_path / "other.ttc"
    other.write_bytes(primary.read_bytes() + b"\0\0\0\0")
    return FontChain([other])


@pytest.mark.parametrize(
    "part", ["rules version", "drawing code", "fonts", "division names", "this household's data read now"]
)
def test_a_document_drawn_under_other_conditions_is_refused_naming_what_differs(
    published, tmp_path, monkeypatch, part
):
    home, township = published["home"], published["mine"]
    m = _manifest(_folders(home)[township])
    entry = documents.listed(m)[0]
    fonts = None
    if part == "rules version":  # a rule text edited after publish
        edited = dataclasses.replace(load_rules(month=AUG), version="edited")
        monkeypatch.setattr(documents, "load_rules", lambda month: edited)
    elif part == "drawing code":
        monkeypatch.setattr(drawing, "drawing_version", lambda: "0" * 64)
    elif part == "fonts":
        fonts = _other_font(tmp_path)
    elif part == "division names":  # a division renamed in the delivery read now
        renamed = {**division_names(Home(home), AUG), township: "改名镇"}
        monkeypatch.setattr(documents, "division_names", lambda h, month: renamed)
    renderer = documents.Renderer(Home(home), AUG, fonts)
    if part == "this household's data read now":  # e.g. another month rerun, read through the commit
        rows = renderer.rows
        changed = lambda *a: {f: (k, {**r, "changed": 1}) for f, (k, r) in rows(*a).items()}  # noqa: E731
        monkeypatch.setattr(renderer, "rows", changed)
    made, (refused,), drawn = documents.fill(renderer, tmp_path / "cache", township, [entry], m["drawn_with"])
    assert made == {} and drawn == 0 and not list(tmp_path.rglob("*.pdf"))
    assert isinstance(refused, documents.DocumentChanged) and refused.parts == [part]
    assert part in refused.message and "rerun" in refused.message and entry["file"] in refused.message


def test_a_refused_document_is_told_to_the_township_and_a_cached_one_still_served(published, monkeypatch):
    import portal.documents

    home, township = published["home"], published["mine"]
    cached_entry, other = documents.listed(_manifest(_folders(home)[township]))[:2]
    shutil.rmtree(home / "cache", ignore_errors=True)
    c = signed_in(published, "town")
    before = c.get(f"/download/{AUG}/{township}/{cached_entry['file']}").content
    monkeypatch.setattr(drawing, "drawing_version", lambda: "0" * 64)  # the drawing code changed
    portal.documents.renderer.cache_clear()
    try:
        again = c.get(f"/download/{AUG}/{township}/{cached_entry['file']}")
        assert again.status_code == 200 and again.content == before  # drawn under the build's conditions
        refused = c.get(f"/download/{AUG}/{township}/{other['file']}")
        assert refused.status_code == 409 and documents.REFUSED in refused.text
        logged = [e for e in audit.read(home) if e["file"] == f"{AUG}/{township}/{other['file']}"][-1]
        assert logged["result"] == "refused" and "drawing code" in logged["detail"]
        assert not (cached(home, township) / other["file"]).exists()
        out = safetynet("documents", "--month", AUG, "--home", str(home), "--township", township, check=False)
        assert out.returncode == 0  # another process: today's real code, the build's conditions
    finally:
        portal.documents.renderer.cache_clear()


def test_a_zip_with_a_document_not_drawn_is_never_kept(published, monkeypatch):
    from safetynet.pdf import MissingGlyph

    home, township = published["home"], published["mine"]
    shutil.rmtree(home / "cache", ignore_errors=True)
    shutil.rmtree(home / "portal" / "zips", ignore_errors=True)
    real = documents.Renderer.draw
    stopped = documents.listed(_manifest(_folders(home)[township]))[0]

    def draw(self, kind, row):
        if row["household_id"] == stopped["household_id"]:
            raise MissingGlyph(f"{kind} {row['household_id']}", ["\U0010fffd"], ["wqy-zenhei"])
        return real(self, kind, row)

    monkeypatch.setattr(documents.Renderer, "draw", draw)
    r = signed_in(published, "town").get(f"/zip/{AUG}/{township}")
    assert r.status_code == 200
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert not any(n.endswith(stopped["file"]) for n in zf.namelist())
    assert not list((home / "portal" / "zips").glob("*.zip"))  # not kept: the next zip is drawn whole


def test_a_cached_document_deleted_meanwhile_is_drawn_again_not_lost(published, monkeypatch):
    home, township = published["home"], published["mine"]
    m = _manifest(_folders(home)[township])
    entries = documents.listed(m)[:2]
    renderer = documents.Renderer(Home(home), AUG)
    base = Path(str(cached(home, township))).parent.parent
    documents.fill(renderer, base, township, entries, m["drawn_with"])
    monkeypatch.setattr(documents, "cached", lambda *a: {})  # every cached file deleted after the check
    made, failures, drawn = documents.fill(renderer, base, township, entries, m["drawn_with"])
    assert failures == [] and drawn == 2 and set(made) == {e["file"] for e in entries}


@pytest.mark.parametrize(
    ("township", "file", "error"),
    [
        ("*", None, "9 digits"),
        ("12345", None, "9 digits"),
        (None, "../../x.pdf", None),
        (None, "/etc/x.pdf", None),
    ],
)
def test_paths_and_townships_are_checked(published, tmp_path, township, file, error):
    if file is not None:
        with pytest.raises(FileNotFoundError):
            documents.target(tmp_path, published["mine"], file)
        return
    with pytest.raises(SafetynetError, match=error):
        documents.render_month(published["home"], AUG, township, tmp_path)
    out = safetynet(
        "documents", "--month", AUG, "--home", str(published["home"]), "--township", township, check=False
    )
    assert out.returncode == 2 and error in out.stderr


def test_a_month_without_a_published_build_is_named(published, tmp_path):
    with pytest.raises(documents.NotPublished, match="2026-09"):
        documents.render_month(published["home"], "2026-09", None, tmp_path)
    out = safetynet("documents", "--month", "2026-09", "--home", str(published["home"]), check=False)
    assert out.returncode == 2 and "2026-09" in out.stderr and "0 townships" not in out.stdout


def test_each_build_of_a_month_has_its_documents_cached_under_its_own_key(published, tmp_path):
    """A rerun publishes build B while build A's folder is still open: A's documents are drawn
    from A's rows and kept under A's key, B's under B's, each with its own bytes (the build id is
    printed on them)."""
    import portal.documents
    from portal.files import Library

    home, township = tmp_path / "home", published["mine"]
    shutil.copytree(published["home"], home, symlinks=True)
    a = Home(home).build_dir(AUG)
    changed = tmp_path / "landing"  # a rerun with one delivered row changed: another build
    shutil.copytree(published["home"].parent / "landing" / AUG, changed / AUG)
    path = changed / AUG / "disability.csv"
    frame = pl.read_csv(path, infer_schema=False)
    first = pl.int_range(pl.len()) == 0
    frame.with_columns(pl.when(first).then(pl.lit("1")).otherwise(pl.col("grade")).alias("grade")).write_csv(
        path
    )
    run(AUG, str(changed), str(home), "documents-08-rerun")
    b = Home(home).build_dir(AUG)
    assert a != b
    h = Home(home)  # the current commit names B
    listed = [
        {e["file"] for e in documents.listed(_manifest(x / "exports" / township[:6] / township))}
        for x in (a, b)
    ]
    same = min(listed[0] & listed[1])
    drawn = {}
    for build in (a, b):
        folder = Library.folder_at(build / "exports" / township[:6] / township, AUG, township)
        entry = next(e for e in documents.listed(folder.manifest) if e["file"] == same)
        drawn[build] = portal.documents.served(h, folder, entry)
        key = build.name.removeprefix("build=")
        base = home / "cache" / "documents" / key / folder.manifest["drawn_with"]["digest"][:16]
        assert (base / township[:6] / township / entry["file"]).read_bytes() == drawn[build]
        own = documents.Renderer(Home(home), AUG, build=build).one(
            entry["kind"], township, entry["household_id"]
        )
        assert own == (entry["file"], drawn[build])
    assert drawn[a] != drawn[b]


def test_safetynet_documents_on_a_host_with_other_fonts_refuses_each_document(
    published, tmp_path, monkeypatch
):
    home, township = published["home"], published["mine"]
    listed = documents.listed(_manifest(_folders(home)[township]))
    monkeypatch.setenv("SAFETYNET_CJK_FONT", str(_other_font(tmp_path).paths[0]))
    out = safetynet(
        "documents", "--month", AUG, "--home", str(home), "--township", township, "--out", str(tmp_path / "o")
    )
    assert out.returncode == 1 and not list((tmp_path / "o").rglob("*.pdf"))
    refused = [line for line in out.stderr.splitlines() if line.startswith("not drawn:")]
    assert len(refused) == len(listed) and all("fonts differ" in line for line in refused), out.stderr
