"""The lake's partitions by prefecture (jobs/ingest/areas.py): each source one file per prefecture, rows
keyed by ID number placed through the roster, months loaded before prefectures still read."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from jobs.assess.month_window import scan
from jobs.ingest import areas
from jobs.month import run as monthly
from jobs.publish.sealed import connect
from jobs.publish.warehouse import statements
from safetynet.contract import SOURCES
from safetynet.ids import check_character
from safetynet.lake import Build, Home, dataset_files, write_parquet

pytestmark = pytest.mark.slow

# two households in 4301, one in 4302; P3 is on a household of each prefecture
ROSTER = pl.DataFrame(
    {
        "household_id": ["H1", "H1", "H2", "H3", "H3"],
        "id_number": ["P1", "P2", "P3", "P4", "P3"],
        "relation": ["户主", "子女", "户主", "户主", "配偶"],
        "division_code": ["430101001001", "430102001001", "430103001001", "430201001001", "430201001001"],
    }
)
# a household whose head lives in another prefecture than the member listed first by id
SPLIT = pl.DataFrame(
    {
        "household_id": ["H9", "H9"],
        "id_number": ["A1", "Z9"],
        "relation": ["子女", "户主"],
        "division_code": ["430101001001", "430501001001"],
    }
)


def files(folder) -> dict[str, pl.DataFrame]:
    return {p.stem: pl.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}


def test_the_roster_is_placed_by_its_households_head_first(tmp_path):
    written = areas.write(pl.concat([ROSTER, SPLIT]), "roster", tmp_path / "roster")
    assert written == ["4301", "4302", "4305"]
    got = files(tmp_path / "roster")
    assert got["4301"]["household_id"].to_list() == ["H1", "H1", "H2"]  # delivered order kept
    assert got["4302"]["household_id"].to_list() == ["H3", "H3"]
    # a household is never split: it goes with its head's division
    assert got["4305"]["id_number"].to_list() == ["A1", "Z9"]
    assert list(got["4301"].columns) == list(ROSTER.columns)  # no column added


def test_rows_by_id_number_go_with_their_household_or_to_shared_or_none(tmp_path):
    claims = pl.DataFrame({"id_number": ["P4", "P1", "P3", "X0", "P2", "P1"], "amount": [1, 2, 3, 4, 5, 6]})
    written = areas.write(claims, "medical_assistance", tmp_path / "m", areas.person_areas(ROSTER.lazy()))
    assert written == ["4301", "4302", "none", "shared"]
    got = files(tmp_path / "m")
    assert got["4301"]["amount"].to_list() == [2, 5, 6]
    assert got["4302"]["amount"].to_list() == [1]
    assert got["shared"]["id_number"].to_list() == ["P3"]  # on households of two prefectures
    assert got["none"]["id_number"].to_list() == ["X0"]  # on no household
    # every row in exactly one file
    assert pl.concat(got.values()).sort("amount").equals(claims.sort("amount"))
    # a prefecture's work reads its own rows and the shared ones, not the others'
    home = Home(tmp_path, Build("2026-09", tmp_path))
    assert [p.name for p in home.files("m", "2026-09", area="4302")] == ["4302.parquet", "shared.parquet"]
    assert home.scan("m", "2026-09", area="4302").collect()["id_number"].to_list() == ["P4", "P3"]


def test_no_roster_and_no_rows_still_give_files_with_the_columns(tmp_path):
    claims = pl.DataFrame({"id_number": ["P1", "P2"], "amount": [1, 2]})
    assert areas.write(claims, "medical_assistance", tmp_path / "a", None) == ["none"]
    assert files(tmp_path / "a")["none"].equals(claims)  # every row, when no roster places them
    assert areas.write(
        claims.clear(), "medical_assistance", tmp_path / "b", areas.person_areas(ROSTER.lazy())
    ) == ["none"]
    assert files(tmp_path / "b")["none"].schema == claims.schema
    # sources not kept per person stay in one file
    outcomes = pl.DataFrame({"lead_id": ["L1"], "outcome": ["x"]})
    assert areas.write(outcomes, "outcomes", tmp_path / "o") == []
    assert list(files(tmp_path / "o")) == ["data"]


def test_a_rewrite_replaces_every_file_of_the_source(tmp_path):
    claims = pl.DataFrame({"id_number": ["P1", "P4"], "amount": [1, 2]})
    areas.write(claims, "medical_assistance", tmp_path / "m", areas.person_areas(ROSTER.lazy()))
    areas.write(claims.head(1), "medical_assistance", tmp_path / "m", areas.person_areas(ROSTER.lazy()))
    assert list(files(tmp_path / "m")) == ["4301"]  # no file left of the earlier write
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_months_before_prefectures_and_after_read_alike(tmp_path):
    """A lake has months loaded before prefectures (one data.parquet per source) beside new ones:
    the households' reads and the auditors' views take both."""
    root = tmp_path / "home"
    old = root / "lake" / "month=2026-08" / "build=old"
    new = root / "lake" / "month=2026-09" / "build=new"
    write_parquet(ROSTER, old / "roster" / "data.parquet")
    areas.write(ROSTER, "roster", new / "roster")
    catalog = {"2026-08": {"build": "old"}, "2026-09": {"build": "new"}}
    h = Home(root)
    h.__dict__["catalog"] = catalog  # as if published (the cached property read once per Home)
    assert [p.name for p in h.files("roster", "2026-08", area="4302")] == ["data.parquet"]
    rows = scan(h, "roster", ["2026-08", "2026-09"]).collect()
    assert rows.group_by("month").len().sort("month")["len"].to_list() == [5, 5]
    con = duckdb.connect()
    for sql in statements(h, catalog, views=False):
        con.execute(sql)
    got = con.sql("select month, count(*) from lake_roster group by month order by month").fetchall()
    assert got == [("2026-08", 5), ("2026-09", 5)]


def test_a_source_by_id_number_before_the_roster_is_refused(landing, tmp_path):
    """Placing by last month's households would put this month's movers in the wrong prefecture."""
    home = tmp_path / "home"
    monthly.start("2026-08", str(landing), str(home), "r1")
    monthly.ingest("divisions", "2026-08", str(landing), str(home), "r1")
    with pytest.raises(areas.PlacementError, match="2026-08: the roster is not loaded yet"):
        monthly.ingest("deposits", "2026-08", str(landing), str(home), "r1")
    monthly.ingest("roster", "2026-08", str(landing), str(home), "r1")
    monthly.ingest("deposits", "2026-08", str(landing), str(home), "r1")
    build = monthly.open_build(str(home), "r1").building.path
    roster_areas = {p.stem for p in (build / "roster").glob("*.parquet")}
    deposit_areas = {p.stem for p in (build / "deposits").glob("*.parquet")}
    assert roster_areas and all(len(a) == 4 and a.isdigit() for a in roster_areas)
    assert deposit_areas - roster_areas <= {"shared", "none"}
    # each deposit row sits in the prefecture of its holder's household
    roster = pl.scan_parquet(list((build / "roster").glob("*.parquet")))
    placed = areas.person_areas(roster).collect()
    # the roster's ingest kept them, for the other sources' tasks to read
    kept = pl.read_parquet(build / areas.PERSON_AREAS / "data.parquet")
    assert kept.equals(placed.sort("id_number"))
    for path in (build / "deposits").glob("*.parquet"):
        rows = pl.read_parquet(path).join(placed, on="id_number", how="left")
        assert set(rows[areas.AREA].fill_null("none")) == {path.stem}, path.name


# in September, the head of a household of 4301 is also listed on a household of 4302
TWICE = "430101199510080016"
TWICE_ROW = f"H0000020000,{TWICE},何波,其他,430201001001,城市,低保,20180513,,有,健康,,0.0\n"
# an applicant in a village of 4301 who heads a household of 4302 on August's and September's rosters
ENROLLED = "430201198208060015"
APPLICANT = {
    "户编号": "",
    "身份证号": ENROLLED,
    "姓名": "郭芳波",
    "与户主关系": "户主",
    "行政区划代码": "430101001001",
    "城乡类别": "农村",
    "人员类别": "",
    "劳动能力": "有",
    "健康状况": "健康",
    "申报月收入": "0",
    "授权书编号": "SQ-2026-0001",
    "申请类别": "低保",
}
# ... and a household in a prefecture (4399) the divisions delivery does not have
UNKNOWN = "43990119800101001" + check_character("43990119800101001")
UNKNOWN_ROW = f"H0000099999,{UNKNOWN},钱多,户主,439901001001,农村,低保,20200101,500,有,健康,60,0\n"


# In September a household of 4301 moves to 4302, without its member who died in August; and a
# spouse of a household of 4302, with medical claims in August, joins a household of 4301.
MOVER, DIED = "H0000000001", "430101195901030018"
JOINER, JOINED = "430201195508310019", "H0000000002"


def _edit_roster(path: Path, edit) -> None:
    """Each line of a delivered roster through `edit` (its fields to fields, or None to drop it)."""
    lines = path.read_text(encoding="gb18030").splitlines(keepends=True)
    edited = [",".join(f) for line in lines if (f := edit(line.split(","))) is not None]
    assert edited != lines
    path.write_text("".join(edited), encoding="gb18030")


def _move(fields: list[str]) -> list[str] | None:
    if fields[1] == DIED:
        return None
    if fields[0] == MOVER:
        return [*fields[:4], "430201001001", *fields[5:]]
    if fields[1] == JOINER:
        return [JOINED, fields[1], fields[2], "其他", "430101001002", *fields[5:]]
    return fields


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    """August and September of a province of four prefectures (200 households per county), with a
    person on households of two prefectures, a household of an unknown prefecture, a household that
    moves between prefectures after a member's death, and an applicant of 4301 whose member is on a
    household of 4302."""
    from direct import run

    from synthetic.generate import generate

    root = tmp_path_factory.mktemp("province")
    landing, home = root / "landing", root / "home"
    generate("2026-08", 800, 5, landing, county_size=200)
    with open(landing / "2026-08" / "deaths.csv", "a", encoding="utf-8") as deaths:
        deaths.write(f"{DIED},2026-08-20\n")
    run("2026-08", str(landing), str(home), "p-2026-08")
    generate("2026-09", 800, 5, landing, home=home, county_size=200)
    with open(landing / "2026-09" / "roster.csv", "a", encoding="gb18030") as roster:
        roster.write(TWICE_ROW + UNKNOWN_ROW)
    _edit_roster(landing / "2026-09" / "roster.csv", _move)
    _apply(home)
    run("2026-09", str(landing), str(home), "p-2026-09")
    return home


def _apply(home: Path) -> None:
    """The application of `APPLICANT`, checked in September against August."""
    import datetime as dt

    from jobs.applications import checks as applications
    from safetynet.pdf import FontChain, find_font
    from safetynet.rules import load_rules

    applications.submit(
        home,
        "申请.csv",
        pl.DataFrame([APPLICANT]).write_csv().encode("utf-8"),
        load_rules(),
        FontChain(find_font()),
        "clerk",
        "township",
        now=dt.datetime(2026, 9, 20, 10, 0, tzinfo=applications.CHINA),
        authorisation=("授权书.pdf", b"%PDF-1.7\n" + b"% signed, scanned\n" * 1000 + b"%%EOF\n"),
    )


def test_a_person_of_two_prefectures_is_read_by_both_and_found_across_them(province):
    h = Home(province)
    build = h.build_dir("2026-09")
    # the person's rows of every per-person source are in the shared files, and only there
    holding = {
        p.relative_to(build).as_posix()
        for source in SOURCES
        if areas.by_person(source)
        for p in h.files(source, "2026-09")
        if pl.read_parquet(p, columns=["id_number"])["id_number"].eq(TWICE).any()
    }
    assert holding and all(p.endswith("/shared.parquet") for p in holding)
    # the check across prefectures finds both households, naming the other county
    found = pl.read_parquet(build / "_doubtful" / "shared.parquet").filter(
        pl.col("check_id") == "person_in_two_households"
    )
    twice = found.filter(pl.col("household_id").is_in(["H0000000000", "H0000020000"]))
    assert twice["township_code"].to_list() == ["430101001", "430201001"]
    assert all("跨县" in e for e in twice["evidence"])


def test_a_division_of_an_unknown_prefecture_is_quarantined_and_never_a_task(province):
    from jobs.export.lists import export_areas
    from jobs.month.assess import prefectures

    h = Home(province)
    build = h.build_dir("2026-09")
    quarantined = pl.read_parquet(build / "_quarantine" / "roster.parquet").filter(
        pl.col("raw_value") == "439901001001"
    )
    assert quarantined.height == 1 and quarantined["column"][0] == "division_code"
    assert not list(build.glob("*/4399.parquet"))
    run = h.catalog["2026-09"]["run_id"]
    assert "4399" not in prefectures("2026-09", str(province), run)
    assert "4399" not in export_areas("2026-09", str(province), run)
    assert not (build / "exports" / "439901").exists()


def test_each_prefecture_assembles_what_the_province_does(province):
    """The households of every prefecture, assembled from its own rows (and its households' rows of
    earlier months wherever they were), are the province's."""
    from jobs.assess.households import assemble
    from jobs.month.assess import checked_rules

    h, rules = Home(province), checked_rules()
    found = sorted(p.stem for p in h.files("roster", "2026-09"))
    assert found == ["4301", "4302", "4303", "4304"]
    whole, missing = assemble(h, "2026-09", rules)
    parts = [assemble(h, "2026-09", rules, area) for area in found]
    assert all(m == missing for _, m in parts)
    assert all(p["division_code"].str.starts_with(a).all() for (p, _), a in zip(parts, found, strict=True))
    assert pl.concat([p for p, _ in parts]).sort("household_id").equals(whole.sort("household_id"))
    # the household that moved in brings the death of a member listed only on its old prefecture's
    # roster; the applicant whose member heads a household of another prefecture is that household
    moved = parts[1][0].filter(pl.col("household_id") == MOVER)
    assert moved["deaths_12m"].to_list() == [1]
    assert h.read("_movers", "2026-09").filter(pl.col("household_id") == MOVER).rows() == [
        ("2026-08", "4302", "4301", MOVER)
    ]
    # a person who joined a household of another prefecture: their August rows are read there
    assert ("2026-08", "4301", "4302", None) in h.read("_movers", "2026-09").rows()
    claims = h.read("medical_claims", "2026-08", area="4302").filter(pl.col("id_number") == JOINER)
    assert claims.height and parts[0][0].filter(pl.col("household_id") == JOINED)["oop_medical_12m"][0] > 0
    assert whole.filter(pl.col("application_id").is_not_null()).height == 0
    assert whole.filter(pl.col("household_id") == "H0000020001").height == 1


def test_the_month_is_assessed_once_per_prefecture_and_published_whole(province):
    h = Home(province)
    build = h.build_dir("2026-09")
    for dataset in ("_household_month", "_notices", "_area_leads"):
        assert sorted(p.stem for p in (build / dataset).glob("*.parquet")) == ["4301", "4302", "4303", "4304"]
    households = h.read("_household_month", "2026-09")
    assert households["household_id"].n_unique() == households.height > 700  # each household once
    with connect(province) as con:
        seen = con.execute(
            "select count(*), count(distinct county_code) from v_household_month where month = '2026-09'"
        ).fetchall()
        assert seen == [(households.height, 4)]
        leads = con.execute("select count(*) from v_leads where month = '2026-09'").fetchall()[0][0]
    assert leads == h.read("_leads", "2026-09").height == h.read("_area_leads", "2026-09").height


def test_the_means_test_per_prefecture_and_across_finds_what_the_province_does(province):
    """Each prefecture's checks on its own files, and the checks across prefectures over the whole
    month, find the doubtful records one means test of the whole province finds."""
    from jobs.means_test.checks import MEANS_DIR, connect, one_visit, run_checks
    from jobs.month.assess import checked_rules

    h, rules = Home(province), checked_rules()
    build = h.build_dir("2026-09")
    assert sorted(p.stem for p in (build / "_doubtful").glob("*.parquet")) == [
        "4301",
        "4302",
        "4303",
        "4304",
        "shared",
    ]
    con = connect(h, "2026-09", rules)  # the province at once, from the published month's files
    whole = one_visit(run_checks(con), h.read("_area_leads", "2026-09"))  # 应保 records name their leads
    unchecked = con.sql((MEANS_DIR / "unchecked.sql").read_text(encoding="utf-8")).pl()
    con.close()
    keys = ["household_id", "check_id", "direction", "evidence", "source_refs", "township_code"]
    assert whole.height
    assert h.read("_doubtful", "2026-09").select(keys).sort(keys).equals(whole.select(keys).sort(keys))
    assert h.read("_unchecked", "2026-09").height == unchecked.height
    # the households the prefectures' models counted are the province's, each once
    counted = h.read("_means_households", "2026-09")
    assert (
        counted["household_id"].n_unique() == counted.height == h.read("_household_month", "2026-09").height
    )


def test_each_prefecture_writes_its_own_townships_files(province):
    h = Home(province)
    build = h.build_dir("2026-09")
    counties = sorted(p.name for p in (build / "exports").iterdir() if p.name != "_decisions")
    assert counties == ["430101", "430201", "430301", "430401"]
    assert sorted(p.stem for p in (build / "_issued").glob("*.parquet")) == ["4301", "4302", "4303", "4304"]
    issued = h.read("_issued", "2026-09")
    for manifest in (build / "exports").glob("*/*/manifest.json"):
        township = manifest.parent.name
        assert manifest.parent.parent.name == township[:6]
        listed = issued.filter(pl.col("township_code") == township)
        assert listed.height == 0 or listed["township_code"].str.starts_with(township[:4]).all()
    overviews = sorted(p.stem for p in (build / "report" / "overview").glob("*.html"))
    assert overviews == counties
    assert not list(build.glob(".*"))  # no staging left behind


def test_a_prefecture_with_no_households_this_month_has_no_assessment_but_its_cases_go_out(
    province, tmp_path
):
    """September delivered again without the households of 4304: no task assesses a prefecture with
    no households, and its townships still get the cases carried on (off the roster)."""
    import shutil

    from direct import run

    from jobs.month.assess import prefectures

    home = tmp_path / "home"
    shutil.copytree(province, home, symlinks=True)
    landing = tmp_path / "landing"
    shutil.copytree(province.parent / "landing", landing)
    roster = landing / "2026-09" / "roster.csv"
    lines = roster.read_text(encoding="gb18030").splitlines(keepends=True)
    kept = [line for line in lines if line.split(",")[4][:4] != "4304"]
    assert len(kept) < len(lines)
    roster.write_text("".join(kept), encoding="gb18030")
    run("2026-09", str(landing), str(home), "p-2026-09-again")
    h = Home(home)
    build = h.build_dir("2026-09")
    assert prefectures("2026-09", str(home), "p-2026-09-again") == ["4301", "4302", "4303"]
    assert sorted(p.stem for p in (build / "_household_month").glob("*.parquet")) == ["4301", "4302", "4303"]
    carried = h.read("_cases", "2026-09").filter(
        pl.col("township_code").str.starts_with("4304") & pl.col("sheet").is_not_null()
    )
    assert carried.height and not carried["on_roster"].any()
    assert (build / "exports" / "430401").is_dir()
    assert set(h.read("_issued", "2026-09", area="4304")["id"]) == set(carried["case_id"])
    # the portal lists them too (no roster file to take the heads' names from)
    from portal.files import listed_cases

    township = carried["township_code"][0]
    assert len(listed_cases(build, township)) == carried.filter(pl.col("township_code") == township).height


def test_a_build_loaded_before_prefectures_is_not_assessed_by_prefecture(tmp_path):
    """A task cleared after the code before published its month: its sources are in one file, so
    a new run of the month is asked for rather than every prefecture assessing the whole province."""
    from jobs.month.assess import AssessError, prefectures

    build = tmp_path / "staging" / "old" / "month=2026-09" / "build=b"
    write_parquet(ROSTER, build / "roster" / "data.parquet")
    with pytest.raises(
        AssessError, match="2026-09: its build was loaded before the lake was kept by prefecture"
    ):
        prefectures("2026-09", str(tmp_path), "old")
    # the readers agree: where both layouts sit in one folder, the one file is the dataset
    areas.write(ROSTER, "roster", tmp_path / "both")
    write_parquet(ROSTER.head(1), tmp_path / "both" / "data.parquet")
    from jobs.publish.warehouse import Layout

    views = Layout(Home(tmp_path), {"2026-09": tmp_path}, relative=False, ordered=False)
    assert views.files("both/*.parquet") == [str(tmp_path / "both" / "data.parquet")]
    assert dataset_files(tmp_path / "both") == [tmp_path / "both" / "data.parquet"]


def test_two_tries_of_one_prefecture_at_once_publish_the_month_an_uninterrupted_run_does(
    province, tmp_path, monkeypatch
):
    """Airflow runs one try of a mapped task at a time, but a worker lost mid-task may still be
    writing when its retry starts on another: both write the same files, each by rename, and the
    month published is the one the province's uninterrupted run published. The means tests' DuckDB
    is held to little memory, as a province's is held to 3 GB, with a spill folder per try."""
    import shutil
    import subprocess
    import sys

    from conftest import ROOT
    from direct import run

    from jobs.export import lists as exports
    from jobs.month import assess
    from jobs.publish import manifest, release
    from safetynet.contract import SOURCE_NAMES

    landing, home = province.parent / "landing", tmp_path / "home"
    run("2026-08", str(landing), str(home), "p-2026-08")
    _apply(home)  # an application's id is new each time: the run compared with starts from here
    uninterrupted = tmp_path / "uninterrupted"
    shutil.copytree(home, uninterrupted, symlinks=True)
    run("2026-09", str(landing), str(uninterrupted), "p-2026-09")
    monkeypatch.setenv("SAFETYNET_DUCKDB_MEMORY", "64MB")
    monthly.start("2026-09", str(landing), str(home), "twice")
    for source in SOURCE_NAMES:
        monthly.ingest(source, "2026-09", str(landing), str(home), "twice")
    monthly.record("2026-09", str(home), "twice")

    def twice(job: str, area: str) -> None:
        """Two tries of a prefecture's task at once, each in its own process."""
        code = {
            "assess": "import sys; from jobs.month.assess import assess_area; assess_area(*sys.argv[1:])",
            "exports": "import sys; from jobs.export.lists import export_area; export_area(*sys.argv[1:])",
        }[job]
        args = [sys.executable, "-c", code, "2026-09", str(home), "twice", area]
        tries = [subprocess.Popen(args, cwd=ROOT, stderr=subprocess.PIPE) for _ in range(2)]
        assert [t.wait() for t in tries] == [0, 0], [t.stderr.read()[-2000:] for t in tries]

    twice("assess", "4302")
    assert (home / "staging" / "twice" / "month=2026-09" / ".duckdb-spill").is_dir()  # a folder per try in it
    for area in assess.prefectures("2026-09", str(home), "twice"):
        if area != "4302":
            assess.assess_area("2026-09", str(home), "twice", area)
    assess.assess_month("2026-09", str(home), "twice")
    twice("exports", "4303")
    for area in exports.export_areas("2026-09", str(home), "twice"):
        if area != "4303":
            exports.export_area("2026-09", str(home), "twice", area)
    release.gate("2026-09", str(home), "twice", "tests")
    monthly.publish("2026-09", str(home), "twice")
    mine, theirs = Home(home).build_dir("2026-09"), Home(uninterrupted).build_dir("2026-09")
    assert mine.name == theirs.name
    assert manifest.same(mine / "manifest.json", theirs / "manifest.json")
