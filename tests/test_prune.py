"""`safetynet prune`: the builds no commit of the kept months names go; the rest stays readable."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import safetynet

from jobs.publish.prune import PruneError, apply, make_plan, report
from safetynet.lake import seal, write_json
from safetynet.months import add_months

A, B, C, D = "2026-07", "2026-08", "2026-09", "2026-10"


def _home(
    root: Path, commits: list[dict[str, str]], divisions: str | tuple = A, runs: tuple[dict, ...] = ()
) -> Path:
    """A home made by hand: each commit's catalog (month -> build), sealed builds of 1,000 bytes
    each (the month(s) `divisions` delivered the division table), the run log's `runs`."""
    for seq, catalog in enumerate(commits, 1):
        for month, build in catalog.items():
            folder = root / "lake" / f"month={month}" / f"build={build}"
            if not folder.exists():
                (folder / "roster").mkdir(parents=True)
                (folder / "roster" / "data.parquet").write_bytes(b"x" * 1000)
                if month in ((divisions,) if isinstance(divisions, str) else divisions):
                    (folder / "divisions").mkdir()
                seal(folder)
        months = {m: {"build": b, "status": "success"} for m, b in catalog.items()}
        write_json({"seq": seq, "months": months}, root / "commits" / str(seq) / "catalog.json")
    os.symlink(f"commits/{len(commits)}", root / "current")
    for run in runs:
        write_json(run, root / "lake" / "_runs" / f"{run['run_id']}.json")
    return root


def _builds(root: Path) -> set[str]:
    return {f"{p.parent.name[6:]}/{p.name[6:]}" for p in root.glob("lake/month=*/build=*")}


MONTHLY = [{A: "a1"}, {A: "a1", B: "b1"}, {A: "a1", B: "b1", C: "c1"}, {A: "a1", B: "b1", C: "c1", D: "d1"}]


@pytest.mark.parametrize(
    ("case", "commits", "keep", "runs", "removed"),
    [
        # the oldest month holds the divisions in force: kept; so is the month before the oldest
        # kept (a rerun of it reads it); the months between go
        ("monthly", MONTHLY, 1, (), {"2026-08/b1"}),
        ("monthly, two kept", MONTHLY, 2, (), set()),
        ("keep all", MONTHLY, 4, (), set()),
        # August rerun after September: its first build stays while August is kept (earlier
        # commits name it), and goes with it; the rerun's stays (the current commit published it)
        ("a rerun, time travel", [*MONTHLY[:3], {A: "a1", B: "b2", C: "c1"}], 2, (), set()),
        ("a rerun", [*MONTHLY[:3], {A: "a1", B: "b2", C: "c1"}], 1, (), {"2026-08/b1"}),
        # the current commit republished July: its build stays though July is not kept (and
        # holds the divisions in force now); July's first build stays too (commit 4 names it as
        # the divisions in force at October); August goes
        (
            "current commit",
            [*MONTHLY, {A: "a2", B: "b1", C: "c1", D: "d1"}],
            1,
            (),
            {"2026-08/b1"},
        ),
        # a run of September failed at publish (its build may be in the lake): its builds and
        # August's it builds on stay, a cleared publish finishes it; one failed before does not
        (
            "failed at publish",
            MONTHLY,
            1,
            ({"run_id": "sep", "month": C, "status": "failed", "failed_task": "publish", "previous": "b1"},),
            set(),
        ),
        (
            "failed at assess",
            MONTHLY,
            1,
            ({"run_id": "sep", "month": C, "status": "failed", "failed_task": "assess", "previous": "b1"},),
            {"2026-08/b1"},
        ),
        # a run of November under way builds on October; a killed run of September (still
        # `running`) keeps the build it replaces
        (
            "runs under way",
            MONTHLY,
            1,
            (
                {"run_id": "nov", "month": "2026-11", "status": "running", "build": "e1", "previous": "d1"},
                {"run_id": "sep", "month": C, "status": "running", "build": "c9", "seen": "c1"},
                {"run_id": "aug", "month": B, "status": "success", "build": "b1"},
            ),
            {"2026-08/b1"},
        ),
    ],
)
def test_prune_removes_the_builds_no_commit_of_the_kept_months_names(
    tmp_path, case, commits, keep, runs, removed
):
    root = _home(tmp_path, commits, runs=runs)
    before = _builds(root)
    current = os.readlink(root / "current")
    plan = make_plan(root, keep, shorter_than_window=True)
    assert {f"{p.parent.name[6:]}/{p.name[6:]}" for p in plan.remove} == removed
    assert plan.freed == 1000 * len(removed)
    assert _builds(root) == before  # a dry run removes nothing
    apply(root, keep, shorter_than_window=True)
    assert _builds(root) == before - removed
    assert os.readlink(root / "current") == current
    assert len(list(root.glob("commits/*/catalog.json"))) == len(commits)  # time travel's catalogs stay


def test_what_auditors_can_still_time_travel_to_is_said(tmp_path):
    root = _home(tmp_path, MONTHLY)
    text = report(make_plan(root, 1, shorter_than_window=True), applied=False)
    assert "would remove lake/month=2026-08/build=b1 (0.0 MB)" in text
    assert "kept lake/month=2026-07/build=a1 (the divisions in force at 2026-10)" in text
    assert "kept lake/month=2026-09/build=c1 (a rerun of 2026-10 reads it)" in text
    assert "a kept month's document whose inputs reached into a pruned month is refused" in text
    assert "commit 1: reads 2026-07 (whole)" in text
    assert "commit 4: reads 2026-07, 2026-09, 2026-10; months pruned (no rows): 2026-08" in text
    assert "dry run: nothing removed" in text


@pytest.mark.parametrize(
    ("keep", "flag", "problem"),
    [
        (0, True, "keep at least the newest month"),
        (2, False, "read the 12 months before them"),  # rules/parameters/population.yaml
    ],
)
def test_prune_refuses_what_would_lose_a_later_months_inputs(tmp_path, keep, flag, problem):
    root = _home(tmp_path, MONTHLY)
    with pytest.raises(PruneError, match=problem):
        make_plan(root, keep, shorter_than_window=flag)
    assert not make_plan(root, 12).remove  # as many months as the windows read: nothing goes


def _months(first: str, last: str) -> list[str]:
    out = [first]
    while out[-1] != last:
        out.append(add_months(out[-1], 1))
    return out


def test_every_kept_month_keeps_the_divisions_in_force_at_it_and_the_month_before(tmp_path):
    """Divisions delivered in 2025-03 and again in 2026-06, 2026-01..12 kept: 2026-01..05 read
    their names and codes from 2025-03's build, and a rerun of 2026-01 reads 2025-12."""
    months = _months("2025-03", "2026-12")
    commits = [{m: f"b{m}" for m in months[: i + 1]} for i in range(len(months))]
    root = _home(tmp_path, commits, divisions=("2025-03", "2026-06"))
    plan = make_plan(root, 12)
    assert plan.kept_months == _months("2026-01", "2026-12")
    assert sorted(p.parent.name[6:] for p in plan.remove) == _months("2025-04", "2025-11")
    why = {p.parent.name[6:]: set(w) for p, w in plan.keep.items()}
    assert "the divisions in force at 2026-05" in why["2025-03"]
    assert "the divisions in force at 2026-06" not in why["2025-03"]
    assert why["2025-12"] == {"a rerun of 2026-01 reads it"}


def test_the_window_guard_takes_every_months_parameter_of_the_rules(tmp_path, monkeypatch):
    """The guard's minimum is the longest `*_months` of rules/, whichever it is: the release gate's
    usual months raised to 18 refuses keeping 12."""
    from jobs.publish import prune

    found = prune.months_parameters(D)
    for name in (
        "population.lookback_months",
        "population.late_report_months",
        "cases.kpi_months",
        "cases.closed_cover_months",
        "population.refused_applicant_months",
        "recheck.exclude_checked_within_months",
        "release_gate.usual_months",
    ):
        assert name in found
    rules = prune.load_rules(month=D)
    longer = dataclasses.replace(rules, release_gate=dataclasses.replace(rules.release_gate, usual_months=18))
    monkeypatch.setattr(prune, "load_rules", lambda month=None: longer)
    root = _home(tmp_path, MONTHLY)
    with pytest.raises(
        PruneError, match=r"read the 18 months before them \(rules/: release_gate.usual_months\)"
    ):
        make_plan(root, 12)
    assert not make_plan(root, 18).remove


def test_a_prune_logs_each_build_before_removing_it_and_a_killed_one_is_swept(tmp_path, monkeypatch):
    """rmtree fails on the second build: the log names both builds begun, the second lies renamed
    `.build=*.pruned`; the next prune deletes it first and finishes."""
    months = _months("2026-01", "2026-06")
    root = _home(
        tmp_path, [{m: f"b{m}" for m in months[: i + 1]} for i in range(len(months))], divisions="2026-01"
    )
    real, calls = shutil.rmtree, []

    def failing(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(f"{path}: disk gone")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", failing)
    with pytest.raises(OSError, match="disk gone"):
        apply(root, 1, shorter_than_window=True)
    log = [json.loads(line) for line in (root / "lake" / "_pruned.jsonl").read_text().splitlines()]
    assert [e["removing"] for e in log] == [
        "lake/month=2026-02/build=b2026-02",
        "lake/month=2026-03/build=b2026-03",
    ]
    assert [p.name[:15] for p in root.glob("lake/month=*/.build=*.pruned")] == [".build=b2026-03"]
    monkeypatch.setattr(shutil, "rmtree", real)
    plan = apply(root, 1, shorter_than_window=True)
    assert not list(root.glob("lake/month=*/.build=*"))
    assert _builds(root) == {"2026-01/b2026-01", "2026-05/b2026-05", "2026-06/b2026-06"}
    assert [p.parent.name[6:] for p in plan.remove] == ["2026-04"]
    log = [json.loads(line) for line in (root / "lake" / "_pruned.jsonl").read_text().splitlines()]
    assert log[-1]["removed"] == ["lake/month=2026-04/build=b2026-04"]


def _query(home: Path, sql: str, *more: str) -> str:
    return safetynet("query", sql, "--home", str(home), "--format", "json", *more, check=True).stdout


def _views_answer(home: Path, warehouse: Path) -> dict[str, int]:
    """Every view of a warehouse file, as a DuckDB client started in the home reads it: its rows."""
    con = duckdb.connect(str(warehouse), read_only=True, config={"file_search_path": str(home)})
    try:
        views = [
            r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()
        ]
        return {v: con.execute(f'select count(*) from "{v}"').fetchone()[0] for v in sorted(views)}
    finally:
        con.close()


def test_prune_on_a_published_home_keeps_the_kept_months_readable(landing, tmp_path):
    """Two real months (the session's `landing`), September delivering the divisions again, then
    August run again with one deposit row fewer; pruned to one month: August's first build is gone
    (commits 1 and 2 name it, for a month not kept), September and August's rerun (a rerun of
    September reads it) stay and read as before; every view of every commit's warehouse file still
    answers (commits 1 and 2 written again); the catalogs, the current commit and the document
    cache are untouched; commit 1 (August) reads no month."""
    from direct import run

    land, home = tmp_path / "landing", tmp_path / "home"
    for part in ("2026-08", "2026-09", "_truth"):
        shutil.copytree(landing / part, land / part)
    shutil.copy(land / "2026-08" / "divisions.csv", land / "2026-09" / "divisions.csv")
    for month in ("2026-08", "2026-09"):
        run(month, str(land), str(home), f"prune-{month}")
    august = next(home.glob("lake/month=2026-08/build=*"))
    deposits = land / "2026-08" / "deposits.csv"
    deposits.write_bytes(b"".join(deposits.read_bytes().splitlines(True)[:-1]))  # GBK: as bytes
    run("2026-08", str(land), str(home), "prune-2026-08-again")
    assert len(list(home.glob("lake/month=2026-08/build=*"))) == 2
    cache = (
        home / "cache" / "documents" / august.name.removeprefix("build=") / "kept.pdf"
    )  # jobs/export/documents.py
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(b"a cache is not a build")
    leads_sql = "select month, level, count(*) as leads from v_leads group by all order by all"
    runs_sql = "select month, build, commit, status from v_runs order by month, build"
    leads, runs = _query(home, leads_sql), _query(home, runs_sql)
    assert {r["month"] for r in json.loads(leads)} == {"2026-08", "2026-09"}
    at_2 = json.loads(_query(home, leads_sql, "--commit", "2"))
    current = os.readlink(home / "current")
    catalogs = {p: p.read_bytes() for p in home.glob("commits/*/catalog.json")}
    warehouse = (home / current / "safetynet.duckdb").read_bytes()

    dry = safetynet("prune", "--keep-months", "1", "--home", str(home), "--shorter-than-window", check=True)
    assert f"would remove lake/month=2026-08/{august.name}" in dry.stdout
    assert "commit 1: reads no month; months pruned (no rows): 2026-08" in dry.stdout
    assert "a rerun of 2026-09 reads it" in dry.stdout
    assert august.exists()
    done = safetynet(
        "prune", "--keep-months", "1", "--home", str(home), "--shorter-than-window", "--apply", check=True
    )
    assert f"removed lake/month=2026-08/{august.name}" in done.stdout
    assert "warehouse files written again: commits 1, 2" in done.stdout
    assert not august.exists()
    assert os.readlink(home / "current") == current
    assert {p: p.read_bytes() for p in home.glob("commits/*/catalog.json")} == catalogs
    assert (home / current / "safetynet.duckdb").read_bytes() == warehouse
    for file in sorted(home.glob("commits/*/safetynet.duckdb")):
        assert _views_answer(home, file), file  # every view answers: none names a removed file
    assert cache.read_bytes() == b"a cache is not a build"
    assert _query(home, leads_sql) == leads  # the current commit reads as before
    assert json.loads(_query(home, leads_sql, "--commit", "2")) == [
        r for r in at_2 if r["month"] == "2026-09"
    ]
    assert _query(home, runs_sql) == runs  # the run log and the catalog keep the pruned build
    assert august.name in (home / "lake" / "_pruned.jsonl").read_text()
    refused = safetynet("prune", "--keep-months", "1", "--home", str(home))
    assert refused.returncode == 2 and "Keep at least 12" in refused.stderr
