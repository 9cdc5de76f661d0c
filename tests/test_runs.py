"""What the data team reads about runs: `safetynet diff` of two builds, the stale flag, the run log
and the progress lines; on tiny frames and homes built in the test."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from jobs.publish import manifest
from jobs.publish.warehouse import catalog_rows

# --- safetynet diff: rows ------------------------------------------------------------------------

DISABILITY = pl.DataFrame(
    {
        "id_number": ["430101199412300011", "43010119720514001X", "430101193911300019"],
        "disability_type": ["肢体", "听力", "多重"],
        "grade": [2, 3, 3],
    }
)


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        # one row's grade changed: the old row is only in the old file, the new one only in the new
        (
            DISABILITY.with_columns(
                pl.when(pl.col("grade") == 2).then(1).otherwise(pl.col("grade")).alias("grade")
            ),
            {"rows_old": 3, "rows_new": 3, "only_old": 1, "only_new": 1, "same_rows_other_order": False},
        ),
        (
            pl.concat(
                [DISABILITY, DISABILITY.head(1).with_columns(pl.lit("430101200101010011").alias("id_number"))]
            ),
            {"rows_old": 3, "rows_new": 4, "only_old": 0, "only_new": 1, "same_rows_other_order": False},
        ),
        (
            DISABILITY.tail(2),
            {"rows_old": 3, "rows_new": 2, "only_old": 1, "only_new": 0, "same_rows_other_order": False},
        ),
        # a row twice where it was once: a multiset, not a set
        (
            pl.concat([DISABILITY, DISABILITY.tail(1)]),
            {"rows_old": 3, "rows_new": 4, "only_old": 0, "only_new": 1, "same_rows_other_order": False},
        ),
        (
            DISABILITY.reverse(),
            {"rows_old": 3, "rows_new": 3, "only_old": 0, "only_new": 0, "same_rows_other_order": True},
        ),
    ],
    ids=["changed", "added", "removed", "duplicated", "reordered"],
)
def test_the_row_diff_counts_changed_added_and_removed_rows(tmp_path, new, expected):
    old_path, new_path = tmp_path / "old.parquet", tmp_path / "new.parquet"
    DISABILITY.write_parquet(old_path)
    new.write_parquet(new_path)
    assert manifest._row_diff(old_path, new_path) == expected


# --- safetynet diff: documents by their content --------------------------------------------------


def _build(
    root: Path, build: str, reports: dict[str, tuple[bytes, str]], on_demand: dict[str, str] | None = None
) -> Path:
    """A build with one township folder: `reports` maps file -> (bytes, content hash), `on_demand`
    file -> content hash of a document listed to be drawn when asked for (not in the build)."""
    import hashlib

    folder = root / f"build={build}"
    township = folder / "exports" / "430101" / "430101001"
    (township / "reports").mkdir(parents=True)
    files = []
    for name, (data, content) in reports.items():
        (township / name).write_bytes(data)
        files.append({"file": name, "sha256": hashlib.sha256(data).hexdigest(), "content_sha256": content})
    for name, content in (on_demand or {}).items():
        files.append({"file": name, "document_id": name, "content_sha256": content, "on_demand": True})
    township_manifest = {"month": "2026-08", "township_code": "430101001", "build": build, "files": files}
    (township / "manifest.json").write_text(json.dumps(township_manifest), encoding="utf-8")
    every = sorted(p for p in folder.rglob("*") if p.is_file())
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "month": "2026-08",
                "build": build,
                "made_of": {
                    "inputs": [],
                    "previous": None,
                    "rule_version": "r",
                    "suite_version": "s",
                    "code_version": "c",
                },
                "files": [
                    {
                        "path": p.relative_to(folder).as_posix(),
                        "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                    }
                    for p in every
                ],
            }
        ),
        encoding="utf-8",
    )
    return folder


@pytest.mark.parametrize(
    ("h2", "changed", "same"),
    [
        # only the build id changed: no document changed
        ((b"pdf H2 bbb", "h2"), [], 3),
        # H2's content changed: its report, and the township's manifest listing it
        ((b"pdf H2' bbb", "h2'"), ["reports/H2_李四.pdf", "manifest.json"], 1),
    ],
    ids=["build-id-only", "one-report-changed"],
)
def test_documents_that_differ_only_in_their_build_id_are_not_changed(tmp_path, h2, changed, same):
    """Every report prints its build id in its footer: a new build changes every report's bytes,
    but only the documents whose content changed are listed as changed."""
    old = _build(
        tmp_path,
        "aaa",
        {"reports/H1_张三.pdf": (b"pdf H1 aaa", "h1"), "reports/H2_李四.pdf": (b"pdf H2 aaa", "h2")},
    )
    new = _build(tmp_path, "bbb", {"reports/H1_张三.pdf": (b"pdf H1 bbb", "h1"), "reports/H2_李四.pdf": h2})
    out = manifest.compare(old, new)
    assert out["files_changed"] == sorted(f"exports/430101/430101001/{f}" for f in changed)
    assert out["documents_same_content"] == same
    assert "build id" in out["note"]


@pytest.mark.parametrize(
    ("h2", "changed", "added"),
    [
        ("h2", [], []),  # the same rows: the same document, whatever the build
        ("h2'", ["reports/H2_李四.pdf", "manifest.json"], []),  # H2's rows changed
        (None, ["manifest.json"], []),  # H2 no longer listed: removed
    ],
    ids=["same-content", "content-changed", "removed"],
)
def test_documents_drawn_when_asked_for_are_compared_by_their_input_digest(tmp_path, h2, changed, added):
    """A report listed on demand has no bytes in the build: `safetynet diff` compares its digest."""
    summary = {"核查报告汇总.pdf": (b"summary", "s")}
    old = _build(tmp_path, "aaa", summary, {"reports/H1_张三.pdf": "h1", "reports/H2_李四.pdf": "h2"})
    now = {"reports/H1_张三.pdf": "h1"} | ({"reports/H2_李四.pdf": h2} if h2 else {})
    out = manifest.compare(old, _build(tmp_path, "bbb", summary, now))
    assert out["files_changed"] == sorted(f"exports/430101/430101001/{f}" for f in changed)
    assert out["files_added"] == added
    assert out["files_removed"] == ([] if h2 else ["exports/430101/430101001/reports/H2_李四.pdf"])


# --- stale is carried forward --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("catalog", "stale"),
    [
        # August rerun: September was built on the old August, October on that September
        (
            {
                "2026-08": {"build": "a2", "previous": None},
                "2026-09": {"build": "s1", "previous": "a1"},
                "2026-10": {"build": "o1", "previous": "s1"},
                "2026-11": {"build": "n1", "previous": "o1"},
            },
            {"2026-08": False, "2026-09": True, "2026-10": True, "2026-11": True},
        ),
        # September rerun on the new August: October is still on the old September
        (
            {
                "2026-08": {"build": "a2", "previous": None},
                "2026-09": {"build": "s2", "previous": "a2"},
                "2026-10": {"build": "o1", "previous": "s1"},
            },
            {"2026-08": False, "2026-09": False, "2026-10": True},
        ),
        # a gap in the catalog: a month whose previous month is not published is not stale
        (
            {"2026-08": {"build": "a1", "previous": None}, "2026-10": {"build": "o1", "previous": "s1"}},
            {"2026-08": False, "2026-10": False},
        ),
    ],
    ids=["rerun-first", "rerun-second", "gap"],
)
def test_every_month_built_on_a_stale_month_is_stale(tmp_path, catalog, stale):
    from safetynet.lake import Home

    rows = catalog_rows(Home(tmp_path), catalog)
    assert {month: flag for month, *_, flag in rows} == stale


def test_one_changed_delivery_row_is_one_row_only_old_and_one_only_new(landing, tmp_path):
    """A rerun of August with one disability row changed: the diff names the row, and only the
    documents of the one township whose household it changed are changed, not every document for
    the new build id it prints."""
    import shutil

    from direct import run

    from safetynet.lake import Home

    home = tmp_path / "home"
    run("2026-08", str(landing), str(home), "aug-1")
    changed = tmp_path / "landing"
    shutil.copytree(landing / "2026-08", changed / "2026-08")
    path = changed / "2026-08" / "disability.csv"
    frame = pl.read_csv(path, infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("1")).otherwise(pl.col("grade")).alias("grade")
    )
    assert frame["grade"][0] != pl.read_csv(path, infer_schema=False)["grade"][0]
    frame.write_csv(path)
    old = Home(home).catalog["2026-08"]["build"]
    run("2026-08", str(changed), str(home), "aug-2")
    new = Home(home).catalog["2026-08"]["build"]
    folder = Home(home).lake / "month=2026-08"
    out = manifest.compare(folder / f"build={old}", folder / f"build={new}")
    assert out["inputs_changed"] == ["disability/disability.csv"]
    rows = out["rows"]["disability/4301.parquet"]
    assert (rows["only_old"], rows["only_new"], rows["same_rows_other_order"]) == (1, 1, False)
    documents = [p for p in out["files_changed"] if p.startswith("exports/")]
    assert len({p.split("/")[2] for p in documents}) <= 1  # one township at most
    # that township's manifest and summary, and the one household's report; every other document
    # (listed, drawn when asked for) keeps its input digest
    households = [p for p in documents if not p.endswith(("manifest.json", "核查报告汇总.pdf"))]
    assert len(households) <= 1 and out["documents_same_content"] > 10 * len(households)


# --- the run log before anything is published ----------------------------------------------------


def test_query_on_a_home_with_nothing_published_answers_the_run_log(tmp_path):
    """The first month waits for its readiness marker: v_runs says so; the other views say that no
    month is published yet."""
    from typer.testing import CliRunner

    from cli.main import app
    from safetynet import runs
    from safetynet.lake import Home

    home = tmp_path / "home"
    assert CliRunner().invoke(app, ["query", "select * from v_runs", "--home", str(home)]).exit_code == 2
    runs.waiting(Home(home), "scheduled__2026-09-01", "2026-08", "the readiness marker /l/2026-08/_READY")
    sql = "select run_id, month, status, waiting_for, is_current, stale from v_runs"
    done = CliRunner().invoke(app, ["query", sql, "--home", str(home), "--format", "json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == [
        {
            "run_id": "scheduled__2026-09-01",
            "month": "2026-08",
            "status": "waiting",
            "waiting_for": "the readiness marker /l/2026-08/_READY",
            "is_current": False,
            "stale": False,
        }
    ]
    done = CliRunner().invoke(app, ["query", "select * from v_leads", "--home", str(home)])
    assert done.exit_code == 2 and "no month published yet" in done.output and "v_runs" in done.output
    done = CliRunner().invoke(app, ["query", "copy (select 1) to 'x.csv'", "--home", str(home)])
    assert done.exit_code == 2 and "refused" in done.output  # still the sealed connection


# --- progress lines ------------------------------------------------------------------------------


def test_progress_lines_go_to_stdout_which_airflow_logs_at_info(capfd):
    """Airflow's task supervisor logs a task's stderr at ERROR and its stdout at INFO: a progress
    line is not an error."""
    from safetynet.progress import say, timed

    say("gate", "2026-08: 12 checks passed; released")
    with timed("township files") as info:
        info["townships"] = 15
    out, err = capfd.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == 2 and "2026-08: 12 checks passed; released" in lines[0]
    assert "township files" in lines[1] and "townships=15" in lines[1]


# --- a home a deployed Airflow publishes to ------------------------------------------------------


class _Airflow:
    """What `wait` asks Airflow through its task instance: no other run of the DAG is active."""

    def get_dagrun_state(self, dag_id, run_id):
        return "success"

    def get_dr_count(self, dag_id, logical_dates, states):
        return 0


def test_the_first_deployed_run_records_the_home_and_the_embedded_one_does_not(tmp_path, monkeypatch):
    import os
    from types import SimpleNamespace

    from airflow.sdk.api.datamodels._generated import DagRunType

    from jobs.publish import deployment
    from safetynet.embedded import load_dag

    home, landing = tmp_path / "home", tmp_path / "landing"
    landing.mkdir()
    poke = load_dag().get_task("wait").python_callable
    params = {"month": "2026-08", "landing": str(landing), "home": str(home), "wait_for_ready": False}
    manual = SimpleNamespace(run_type=DagRunType.MANUAL)
    monkeypatch.setenv("SAFETYNET_EMBEDDED", str(os.getpid()))  # as `safetynet run` marks its process
    assert poke(params, manual, None, "manual__embedded", _Airflow()).is_done
    assert deployment.read(home) is None
    monkeypatch.setenv("SAFETYNET_EMBEDDED", "1")  # inherited by a deployed worker: not its own mark
    poke(params, manual, None, "manual__first", _Airflow())
    poke(params, manual, None, "manual__second", _Airflow())
    assert deployment.read(home)["first_run_id"] == "manual__first"
    monkeypatch.delenv("SAFETYNET_EMBEDDED")
    poke(params, manual, None, "manual__third", _Airflow())
    assert deployment.read(home)["first_run_id"] == "manual__first"


def test_run_and_backfill_refuse_a_home_a_deployed_airflow_publishes_to(landing, tmp_path):
    """They name the Airflow backfill to use; --outside-airflow with --released-by publishes, the
    name recorded as who released a tripped gate, and leaves no Airflow metadata DB in the home."""
    import shutil

    from conftest import safetynet

    from jobs.publish import deployment
    from safetynet import runs
    from safetynet.lake import Home

    home = tmp_path / "home"
    deployment.record(home, "scheduled__2026-07-31T16:00:00+00:00")  # this process is no embedded run
    where = ["--landing", str(landing), "--home", str(home)]
    done = safetynet("run", "--month", "2026-08", *where)
    assert done.returncode == 2
    assert (
        "airflow backfill create --dag-id safetynet_monthly --from-date 2026-08-01T00:00:00+08:00 "
        "--to-date 2026-08-01T00:00:00+08:00" in done.stderr
    )
    done = safetynet("backfill", "--from", "2026-08", "--to", "2026-09", *where)
    assert (
        done.returncode == 2 and "--from-date 2026-08-01T00:00:00+08:00 --to-date 2026-09-01" in done.stderr
    )
    done = safetynet("run", "--month", "2026-08", *where, "--outside-airflow")
    assert done.returncode == 2 and "--released-by" in done.stderr
    assert sorted(p.name for p in home.iterdir()) == [deployment.MARKER]  # nothing else written

    safetynet(
        "run", "--month", "2026-08", *where, "--outside-airflow", "--released-by", "Wang Li", check=True
    )
    resent = tmp_path / "landing"
    shutil.copytree(landing / "2026-09", resent / "2026-09")
    shutil.copyfile(
        landing / "2026-08" / "deposits.csv", resent / "2026-09" / "deposits.csv"
    )  # trips the gate
    done = safetynet(
        "backfill", "--from", "2026-09", "--landing", str(resent), "--home", str(home),
        "--to", "2026-09", "--outside-airflow", "--released-by", "Wang Li", check=True,
    )  # fmt: skip
    september = [e for e in runs.entries(Home(home)) if e["month"] == "2026-09"][-1]
    assert september["status"] in ("success", "incomplete") and september["release_gate"]
    assert september["approved_by"] == "Wang Li (safetynet backfill --outside-airflow)"
    assert not list(home.rglob("airflow.db")) and not (home / "airflow").exists()
