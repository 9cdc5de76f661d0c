"""One commit point per month, the same bytes for the same inputs, and the sealed warehouse.

The job functions run here in the DAG's order (tests/direct.py); faults are the jobs' own fault
points (SAFETYNET_FAULT), raised in this process or killing a child process outright.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import safetynet
from direct import TASKS, run

from jobs.publish import manifest
from jobs.publish.sealed import RefusedStatement, connect
from safetynet import runs
from safetynet.faults import InjectedFault
from safetynet.lake import Home

pytestmark = pytest.mark.slow

DIRECT = str(Path(__file__).with_name("direct.py"))


def copy_home(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def published(home: Path) -> dict:
    """What readers see: the current commit, its catalog, and a few rows of every kind."""
    h = Home(home)
    with connect(home) as con:
        rows = {
            view: con.execute(f"select * exclude (run_id) from {view}").fetchall()
            for view in ("v_leads", "v_doubtful_records", "v_deliveries")
        }
    exports = sorted(p.relative_to(home).as_posix() for p in (home / "exports").glob("*/*/*/*"))
    return {"commit": h.commit, "catalog": h.catalog, "rows": rows, "exports": exports}


def build_files(home: Path) -> dict[str, str]:
    """Every file of every published build, by path, with its bytes' SHA-256."""
    import hashlib

    return {
        p.relative_to(home).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((home / "lake").glob("month=*/build=*/**/*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def base(landing, tmp_path_factory) -> Path:
    """August published."""
    home = tmp_path_factory.mktemp("base") / "home"
    run("2026-08", str(landing), str(home), "aug-1")
    return home


@pytest.fixture(scope="module")
def clean(base, landing, tmp_path_factory) -> Path:
    """August and September published, without faults."""
    home = copy_home(base, tmp_path_factory.mktemp("clean") / "home")
    run("2026-09", str(landing), str(home), "sep-clean")
    return home


@pytest.fixture(scope="module")
def staged(base, landing, tmp_path_factory) -> dict[str, Path]:
    """September's run `sep-1` on August's home, stopped before each task from `record` on: the home
    a failed task leaves, as the DAG runs each task in a process of its own. A fault in a later task
    starts from there instead of running the month's earlier tasks again."""
    root = tmp_path_factory.mktemp("staged")
    homes, home, first = {}, base, "start"
    for task in ("record", "assess", "export", "publish"):
        home = copy_home(home, root / task)
        before = TASKS[TASKS.index(task) - 1]
        assert run("2026-09", str(landing), str(home), "sep-1", first, last=before)["status"] == "staged"
        homes[task], first = home, task
    return homes


# The task each fault point is in: a run with a fault there starts from the home before that task.
# The ingest's points start at the beginning: they and three kill points run the whole month.
TASK_OF_POINT = {"ingest": "start", "areas": "start", "commit": "publish"}


def started(point: str, base: Path, staged: dict[str, Path], to: Path) -> tuple[Path, str]:
    task = point.split(":")[0]
    first = TASK_OF_POINT.get(task, task)
    return copy_home(staged.get(first, base), to), first


def september(home: Path) -> Path:
    return Home(home).build_dir("2026-09")


# --- the sealed auditors' warehouse ---------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "copy (select * from lake_roster) to '{tmp}/roster.csv'",
        "copy (select 1 as a) to 'lake/x.csv'",
        "copy lake_roster to '{lake}/x.parquet'",
        "export database '{lake}/exported'",
        "attach '{tmp}/other.duckdb' as other",
        "install json",
        "load json",
        "set threads = 1",
        "create temp table t as select 1",
        "create view memory.main.v as select 1",
        "use memory",
        "pragma version",
        "call pragma_version()",
        "explain analyze copy (select 1) to 'lake/z.csv'",
        "select 1; copy (select 1) to 'lake/y.csv'",
        "detach warehouse",
    ],
)
def test_the_warehouse_runs_selects_only(clean, tmp_path, sql):
    before = build_files(clean)
    with connect(clean) as con, pytest.raises(RefusedStatement) as refused:
        con.execute(sql.format(tmp=tmp_path, lake=clean / "lake"))
    assert "\n" not in str(refused.value)
    assert build_files(clean) == before and not list(tmp_path.iterdir())
    assert not list((clean / "lake").glob("*.csv")) and not (clean / "lake" / "exported").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "select * from read_csv('/etc/passwd')",
        "select * from glob('/root/**')",
        "select * from read_text('/etc/hostname')",
        "select * from read_text('{home}/airflow/airflow.cfg')",
        "select * from read_text('lake/../commits/1/catalog.json')",
        "select * from read_text('{home}/lake/../commits/1/catalog.json')",
        "select * from read_text('../../etc/passwd')",
    ],
)
def test_the_warehouse_reads_the_lake_and_nothing_else(clean, sql):
    with connect(clean) as con, pytest.raises(duckdb.Error) as refused:
        con.execute(sql.format(home=clean)).fetchall()
    assert "disabled by configuration" in str(refused.value) or "No files found" in str(refused.value)


def test_the_cli_refuses_writes_with_one_line(clean, tmp_path):
    target = tmp_path / "out.csv"
    for sql in (f"copy (select * from lake_roster) to '{target}'", "select * from read_csv('/etc/passwd')"):
        done = safetynet("query", "--home", str(clean), sql)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not target.exists()


def test_published_builds_are_read_only_on_disk(clean):
    for path in [*(clean / "lake").glob("month=*/build=*"), *(clean / "lake").glob("month=*/build=*/**/*")]:
        assert not path.stat().st_mode & 0o222, path


def test_csv_of_every_view_with_lists_as_json_and_a_bom(clean):
    from typer.testing import CliRunner

    from cli.main import app

    def query(*args: str) -> bytes:
        done = CliRunner().invoke(app, ["query", "--home", str(clean), "--format", "csv", *args])
        assert done.exit_code == 0, (args, done.output)
        return done.stdout_bytes

    with connect(clean) as con:
        views = [
            r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()
        ]
    assert {"v_runs", "v_doubtful_records", "v_leads", "v_quarantine"} <= set(views)
    for view in views:
        assert query("--bom", f"select * from {view}").startswith("\ufeff".encode()), view
    rows = list(csv.DictReader(io.StringIO(query("select * from v_runs").decode())))
    assert rows and all(json.loads(r["files"]) for r in rows)
    rows = list(csv.DictReader(io.StringIO(query("select * from v_doubtful_records").decode())))
    assert rows and all(isinstance(json.loads(r["source_refs"]), list) for r in rows)


def test_a_moved_home_reads_its_own_lake(clean, tmp_path):
    moved = copy_home(clean, tmp_path / "restored")
    expected = published(clean)
    # the original is gone: a moved or restored home must not read it
    parked = clean.rename(clean.with_name("parked"))
    try:
        assert published(moved) == expected
        with connect(moved) as con:
            files = con.execute("select distinct source_file from lake_roster").fetchall()
        assert files
    finally:
        parked.rename(clean)


# --- one commit point --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("point", "retry_from"),
    [
        ("ingest:roster", "ingest"),
        ("areas:medical_claims", "ingest"),  # a source's prefecture files half written
        ("record:2026-09", "record"),
        ("assess:movers", "assess"),  # `_movers` written, no prefecture assessed
        ("assess:leads", "assess"),
        ("export:reports", "export"),
        ("publish:manifest", "publish"),
        ("publish:rename", "publish"),
        ("commit:warehouse", "publish"),
        ("commit:swap", "publish"),
        ("publish:run log", "publish"),
    ],
)
def test_a_failure_anywhere_leaves_the_last_commit_whole_and_the_retry_succeeds(
    base, staged, clean, landing, tmp_path, monkeypatch, point, retry_from
):
    home, first = started(point, base, staged, tmp_path / "home")
    before = published(home)
    assert before == published(base)
    monkeypatch.setenv("SAFETYNET_FAULT", point)
    with pytest.raises(InjectedFault):
        run("2026-09", str(landing), str(home), "sep-1", first)
    if point != "publish:run log":  # that fault comes after the commit point
        assert published(home) == before
        assert "2026-09" not in Home(home).catalog
    monkeypatch.delenv("SAFETYNET_FAULT")
    run("2026-09", str(landing), str(home), "sep-1", retry_from)
    assert Home(home).catalog["2026-09"]["build"] == Home(clean).catalog["2026-09"]["build"]
    assert build_files(home) == build_files(clean)  # byte for byte what a run without faults made
    assert runs.read(Home(home), "sep-1")["status"] == "success"
    assert not any((home / "staging").iterdir())


@pytest.mark.parametrize(
    ("point", "whole_month"),
    [("areas:roster", True), ("assess:leads", True), ("publish:rename", True), ("commit:swap", False)],
)
def test_a_killed_run_leaves_the_last_commit_whole_and_a_rerun_succeeds(
    base, staged, clean, landing, tmp_path, point, whole_month
):
    if whole_month:
        home, first = copy_home(base, tmp_path / "home"), "start"
    else:  # from the home the tasks before the point's left
        home, first = started(point, base, staged, tmp_path / "home")
    before = published(home)
    assert before == published(base)
    env = {**os.environ, "SAFETYNET_FAULT": f"{point}:kill"}
    done = subprocess.run(
        [sys.executable, DIRECT, "2026-09", str(landing), str(home), "sep-1", first],
        env=env,
        capture_output=True,
    )
    assert done.returncode == -9  # SIGKILL: no cleanup ran
    assert published(home) == before
    assert runs.read(Home(home), "sep-1")["status"] == "running"  # never success
    run("2026-09", str(landing), str(home), "sep-2")  # a new run of the month
    assert build_files(home) == build_files(clean)


def test_an_ingest_killed_between_batches_is_retried_and_leaves_nothing_behind(
    base, clean, landing, tmp_path, monkeypatch
):
    home = copy_home(base, tmp_path / "home")
    env = {**os.environ, "SAFETYNET_FAULT": "batch:roster:kill", "SAFETYNET_BATCH_ROWS": "100"}
    done = subprocess.run(
        [sys.executable, DIRECT, "2026-09", str(landing), str(home), "sep-1"], env=env, capture_output=True
    )
    assert done.returncode == -9
    building = next((home / "staging").glob("*/month=2026-09/build=*"))
    assert list(building.glob(".roster.*.tmp"))  # the killed try's batches, as a lost worker leaves them
    run("2026-09", str(landing), str(home), "sep-1", "ingest")  # the task's retry, same run
    assert build_files(home) == build_files(clean)  # nothing of the killed try is published


def test_publish_removes_what_killed_tasks_left_inside_each_other(tmp_path):
    from jobs.month.run import remove_leftovers

    build = tmp_path / "build=1"
    inner = build / ".roster.1a2b.tmp" / "delivered"
    inner.mkdir(parents=True)
    (inner / ".0000.parquet.3c4d.tmp").write_bytes(b"half")  # listed after its folder
    (build / "roster").mkdir()
    (build / "roster" / ".4301.parquet.5e6f.tmp").write_bytes(b"half")
    (build / "roster" / "4301.parquet").write_bytes(b"whole")
    remove_leftovers(build)
    assert sorted(p.relative_to(build).as_posix() for p in build.rglob("*")) == [
        "roster",
        "roster/4301.parquet",
    ]


def test_the_month_does_not_depend_on_the_batch_size(base, clean, landing, tmp_path, monkeypatch):
    from jobs.ingest import areas
    from jobs.month import run as monthly

    home = copy_home(base, tmp_path / "home")
    monkeypatch.setattr(monthly, "BATCH_ROWS", 97)
    monkeypatch.setattr(areas, "BATCH_ROWS", 97)
    run("2026-09", str(landing), str(home), "sep-1")
    assert build_files(home) == build_files(clean)


def test_a_task_cleared_after_publish_redoes_it_and_publishes_the_same(clean, landing, tmp_path):
    home = copy_home(clean, tmp_path / "home")
    before = published(home)
    run("2026-09", str(landing), str(home), "sep-clean", "assess")  # the staging area is long gone
    assert published(home) == before  # same build: no new commit
    assert runs.read(Home(home), "sep-clean")["status"] == "success"


def test_two_runs_of_a_month_at_once_publish_one_build(base, clean, landing, tmp_path):
    home = copy_home(base, tmp_path / "home")
    procs = [
        subprocess.Popen(
            [sys.executable, DIRECT, "2026-09", str(landing), str(home), f"sep-{i}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in (1, 2)
    ]
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    assert build_files(home) == build_files(clean)
    assert Home(home).commit == 2  # August, then September once
    entries = [runs.read(Home(home), f"sep-{i}") for i in (1, 2)]
    assert {e["status"] for e in entries} == {"success"} and len({e["build"] for e in entries}) == 1


# --- same inputs, same results -----------------------------------------------------------------


def test_two_homes_with_other_parallelism_make_the_same_bytes(clean, landing, tmp_path):
    other = tmp_path / "other"
    env = {
        **os.environ,
        "POLARS_MAX_THREADS": "1",
        "SAFETYNET_WORKERS": "1",
        "SAFETYNET_DUCKDB_THREADS": "1",
        "TZ": "America/Los_Angeles",  # another clock: 15 or 16 hours behind China, another date
    }
    for month in ("2026-08", "2026-09"):
        subprocess.run(
            [sys.executable, DIRECT, month, str(landing), str(other), f"other-{month}"],
            env=env,
            check=True,
            capture_output=True,
        )
    files = build_files(clean)
    assert files == build_files(other)
    assert any("/exports/" in p and p.endswith(".pdf") for p in files)
    assert any(p.endswith("线索清单.xlsx") for p in files) and any(p.endswith("manifest.json") for p in files)
    # every view, row by row and in order; only the run log's run ids and clock times differ
    with connect(clean) as a, connect(other) as b:
        views = [
            r[0] for r in a.execute("select view_name from duckdb_views() where not internal").fetchall()
        ]
        for view in views:
            cols = [r[0] for r in a.execute(f"describe {view}").fetchall()]
            keep = ", ".join(
                f'"{c}"' for c in cols if c not in ("run_id", "started_at", "finished_at", "attempts")
            )
            assert (
                a.execute(f"select {keep} from {view}").fetchall()
                == b.execute(f"select {keep} from {view}").fetchall()
            ), view


def test_changed_deliveries_make_a_new_build_and_later_months_stale(clean, landing, tmp_path):
    home = copy_home(clean, tmp_path / "home")
    changed = tmp_path / "landing"
    shutil.copytree(landing, changed)
    (changed / "2026-08" / "deposits.csv").unlink()  # the bank data did not come after all
    old = Home(home).catalog["2026-08"]["build"]
    run("2026-08", str(changed), str(home), "aug-2")
    h = Home(home)
    new = h.catalog["2026-08"]["build"]
    assert new != old and runs.read(h, "aug-2")["replaced"] == old
    with connect(home) as con:
        stale = con.execute("select month from v_runs where is_current and stale").fetchall()
        assert stale == [("2026-09",)]
        # time travel: the commit before still reads the old August
    with connect(home, commit=h.commit - 1) as con:
        assert con.execute("select distinct build from lake_roster where month = '2026-08'").fetchall() == [
            (old,)
        ]
    # townships whose lists changed get them marked as a revision of the old build
    from python_calamine import CalamineWorkbook

    manifests = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in (home / "exports" / "2026-08").glob("*/*/manifest.json")
    ]
    revised = [m for m in manifests if m["revision_of"]]
    assert revised and all(m["revision_of"] == old and m["revised_files"] for m in revised)
    folder = home / "exports" / "2026-08" / revised[0]["township_code"][:6] / revised[0]["township_code"]
    sheets = CalamineWorkbook.from_path(str(folder / revised[0]["revised_files"][0])).sheet_names
    assert sheets[1] == "修订说明"
    out = manifest.compare(
        h.lake / "month=2026-08" / f"build={old}", h.lake / "month=2026-08" / f"build={new}"
    )
    assert out["inputs_changed"] == ["deposits/deposits.csv"]
    done = safetynet("diff", "--home", str(home), "--month", "2026-08", check=True)
    assert json.loads(done.stdout)["inputs_changed"] == ["deposits/deposits.csv"]
    # rerunning September on the new August clears the flag
    run("2026-09", str(changed), str(home), "sep-2")
    with connect(home) as con:
        assert con.execute("select count(*) from v_runs where stale").fetchone()[0] == 0


def test_a_delivery_changed_during_a_run_stops_it_naming_the_file(base, landing, tmp_path):
    from jobs.month import run as monthly
    from safetynet.errors import LandingError

    home = copy_home(base, tmp_path / "home")
    moving = tmp_path / "landing"
    shutil.copytree(landing, moving)
    monthly.start("2026-09", str(moving), str(home), "sep-1")
    (moving / "2026-09" / "roster.csv").write_bytes((moving / "2026-09" / "roster.csv").read_bytes() + b"\n")
    with pytest.raises(LandingError, match="roster.csv changed since this run started"):
        monthly.ingest("roster", "2026-09", str(moving), str(home), "sep-1")


def test_the_current_directory_changes_nothing(clean, tmp_path, monkeypatch):
    """Relative paths would be looked up in the current directory first: another home's lake, or a
    `lake/` folder planted there, must never be read."""
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "secret.csv").write_text("a\n1\n")
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "s.csv").write_text("a\n1\n")
    expected = published(clean)
    monkeypatch.chdir(tmp_path)
    assert published(clean) == expected
    with connect(clean) as con:
        for sql in ("select * from 'lake/secret.csv'", "select * from read_csv('.tmp/s.csv')"):
            with pytest.raises(duckdb.Error, match="disabled by configuration"):
                con.execute(sql).fetchall()


def test_an_unusable_delivery_gives_the_same_build_on_a_rerun(base, landing, tmp_path):
    home = copy_home(base, tmp_path / "home")
    broken = tmp_path / "landing"
    shutil.copytree(landing / "2026-09", broken / "2026-09")
    (broken / "2026-09" / "deaths.csv").write_bytes(b"")
    first = run("2026-09", str(broken), str(home), "sep-1")
    again = run("2026-09", str(broken), str(home), "sep-2")  # refused as "not reproducible" if it differed
    assert first["build"] == again["build"] and first["status"] == "incomplete"
    with connect(home) as con:
        (error,) = con.execute(
            "select error from v_deliveries where source = 'deaths' and month = '2026-09'"
        ).fetchone()
    assert error == "2026-09/deaths.csv: file is empty"


def test_redoing_an_old_run_cannot_roll_a_month_back(clean, landing, tmp_path):
    from safetynet.lake import CommitError

    home = copy_home(clean, tmp_path / "home")
    changed = tmp_path / "landing"
    shutil.copytree(landing, changed)
    (changed / "2026-09" / "deposits.csv").unlink()
    run("2026-09", str(changed), str(home), "sep-2")
    before = published(home)
    with pytest.raises(CommitError, match="no longer the published one"):
        run("2026-09", str(landing), str(home), "sep-clean", "publish")  # clearing the old run's publish
    assert published(home) == before


def test_backfill_from_a_month_reruns_every_later_published_month(clean, landing, tmp_path):
    """Without --to, `backfill --from` covers every published month after it (checked before any
    runs: a landing that lacks a later month is refused, naming it)."""
    from typer.testing import CliRunner

    from cli.main import app

    partial = tmp_path / "landing"
    shutil.copytree(landing / "2026-08", partial / "2026-08")
    done = CliRunner().invoke(
        app, ["backfill", "--from", "2026-08", "--landing", str(partial), "--home", str(clean)]
    )
    assert done.exit_code == 2 and "2026-09" in done.output and "month folder does not exist" in done.output
