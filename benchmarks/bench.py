"""`make bench`: a province's whole month, first and second, stage by stage, with the read floor.

Two months in one sitting: the first on a fresh home (no month before it: every case is new), then
the second on that home, with the townships' outcomes of the first month's cases, through every
stage (ingest, record, assess, township files, publish), then the KPI views and the portal on the
published months. Each stage runs in its own process so its peak RSS is its own. Printed per month:
each stage's wall seconds, rows per second, peak RSS and ratio to the floor; the whole month (the
DAG's stages, mapped ones on two workers; with `--dag`, the whole DAG through `safetynet run` too);
and the bytes the month added to the home (its build by folder, its commit). The floor is the time
to merely read the month's deliveries once (bytes from disk, decoded, parsed as CSV/xlsx into
string columns), the least any ingest must do.

    python benchmarks/bench.py [--households 2000000] [--month 2026-09] [--work DIR] [--dag] [--services]
                               [--first-month]

`--month` is the second month (the first is the month before it); `--first-month` stops after the
first month.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import record  # benchmarks/record.py, beside this script

import safetynet  # noqa: F401  (Polars' allocator as the jobs run it, before any stage loads Polars)

ROOT = Path(__file__).resolve().parent.parent


def _peak_mb() -> float:
    """Peak RSS of this stage's process or of the child it ran (`safetynet run`)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def stage_generate(month: str, households: int, landing: Path, _home: Path) -> int:
    from synthetic.generate import generate

    return sum(generate(month, households, 7, landing).values())


def stage_floor(month: str, _households: int, landing: Path, _home: Path) -> int:
    import polars as pl

    from jobs.ingest.deliveries import _read_xlsx, decode_csv, find_deliveries

    def cells(path: Path) -> pl.DataFrame:
        if path.suffix == ".xlsx":
            return _read_xlsx(path, path.read_bytes())[0]  # (cells, the header as delivered)
        return pl.read_csv(decode_csv(path, path.read_bytes())[0], infer_schema=False)

    found, _ = find_deliveries(landing / month)
    return sum(cells(p).height for paths in found.values() for p in paths)


def stage_ingest(month: str, _households: int, landing: Path, home: Path) -> dict:
    """`start`, then one `ingest` task per source, each in its own process as a worker runs it
    (divisions and the roster first, as the DAG orders them), one at a time."""
    import polars as pl

    from jobs.month import run as monthly
    from safetynet.builds import open_build
    from safetynet.contract import SOURCE_NAMES

    monthly.start(month, str(landing), str(home), rid(month))
    code = "import sys; from jobs.month.run import ingest; ingest(*sys.argv[1:])"
    tasks = _processes([(s, code, [s, month, str(landing), str(home), rid(month)]) for s in SOURCE_NAMES], 1)
    build = open_build(home, rid(month)).building.path
    rows = pl.read_parquet(build / "_deliveries" / "*.parquet")["rows_delivered"].sum()
    largest = max(tasks, key=lambda t: t["peak_mb"])
    return {
        "rows": int(rows or 0),
        "tasks_1_worker": tasks,
        "largest_task_mb": largest["peak_mb"],
        "peak_mb_override": largest["peak_mb"],
        "note": f"ingest: the largest task is {largest['task']} at {largest['peak_mb'] / 1024:.2f} GB",
    }


def stage_record(month: str, _households: int, _landing: Path, home: Path) -> int:
    from jobs.month import run as monthly

    return monthly.record(month, str(home), rid(month)) and 0


def stage_publish(month: str, _households: int, _landing: Path, home: Path) -> dict:
    """The commit: run manifest (SHA-256 of every file of the build), rename, new commit."""
    from jobs.month import run as monthly

    done = monthly.publish(month, str(home), rid(month))
    return {"rows": 0, "note": f"publish: build {done['build']} as commit {done['commit']}"}


def _per_task(rows: list[tuple[str, float]]) -> str:
    """'task 12.3 s' per task, mapped tasks summed (with their count)."""
    total: dict[str, list[float]] = {}
    for task, seconds in rows:
        total.setdefault(task, []).append(seconds or 0.0)
    return ", ".join(
        f"{t} {sum(v):.1f} s" + (f" ({len(v)} tasks)" if len(v) > 1 else "") for t, v in total.items()
    )


def stage_dag(month: str, _households: int, landing: Path, home: Path) -> dict:
    """The whole monthly DAG through `safetynet run` (embedded Airflow), as the data team runs it,
    for two consecutive months: the previous month, then this one with the townships' outcomes of
    the previous month's cases (standing, overdue and closed cases). The figures are this month's."""
    import sqlite3

    from synthetic.generate import return_outcomes

    shutil.rmtree(home, ignore_errors=True)
    cli = str(Path(sys.executable).parent / "safetynet")
    seconds = {}
    for m in (previous(month), month):
        if m == month:
            return_outcomes(month, 7, landing, home)
        start = time.perf_counter()
        subprocess.run(
            [cli, "run", "--month", m, "--landing", str(landing), "--home", str(home)],
            check=True,
            capture_output=True,
        )
        seconds[m] = time.perf_counter() - start

    from jobs.publish.sealed import connect

    with connect(home) as con:
        rows = con.execute("select rows_delivered from v_runs where month = ?", [month]).fetchone()[0]
    with sqlite3.connect(home / "airflow" / "airflow.db") as db:
        tasks = db.execute(
            "select task_id, duration from task_instance where run_id = "
            "(select run_id from dag_run order by start_date desc limit 1) order by start_date"
        ).fetchall()
    return {
        "rows": rows,
        "seconds_override": seconds[month],
        "months_seconds": seconds,
        "note": f"safetynet run: {previous(month)} {seconds[previous(month)]:.0f} s, then {month} "
        f"{seconds[month]:.0f} s; {month}, seconds per task: {_per_task(tasks)}",
    }


# A benchmark driver: the stages timed one after the other, as a script reads; not product code.
def stage_services(month: str, _households: int, landing: Path, home: Path) -> dict:
    """The whole DAG under the real services (PostgreSQL, api-server, scheduler, dag-processor,
    triggerer, LocalExecutor with 2 slots): seconds and peak RSS per task (a task's process and
    its children, sampled every 0.5 s), and the scheduler's overhead per task (from the end of a
    task's upstream, or the run's start, to its own start; a mapped task counted once)."""
    import datetime as dt
    import threading

    import psutil

    sys.path.insert(0, str(ROOT / "tests"))
    from services import airflow, postgres

    shutil.rmtree(home, ignore_errors=True)
    work = home.parent / "services"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    peaks: dict[str, float] = {}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for proc in psutil.process_iter(["cmdline"]):
                cmd = " ".join(proc.info["cmdline"] or [])
                if not cmd.startswith("airflow worker -- ") or "LocalExecutor" in cmd:
                    continue
                try:
                    rss = sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
                except psutil.Error:
                    continue
                ti = cmd.split("-- ", 1)[1].strip()
                peaks[ti] = max(peaks.get(ti, 0), rss / 2**20)
            stop.wait(0.5)

    env = {
        "SAFETYNET_LANDING": str(landing),
        "SAFETYNET_HOME": str(home),
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
    watcher = threading.Thread(target=watch, daemon=True)
    with postgres() as database, airflow(database, work, env) as af:
        watcher.start()
        conf = {"month": month, "approved_by": "bench"}
        run_id = af.api("POST", "/dags/safetynet_monthly/dagRuns", {"logical_date": None, "conf": conf})[
            "dag_run_id"
        ]
        path = f"/dags/safetynet_monthly/dagRuns/{run_id}"
        af.wait_for("the run", lambda: af.api("GET", path)["state"] in ("success", "failed"), 4 * 3600, 5)
        stop.set()
        run = af.api("GET", path)
        tis = af.api("GET", f"{path}/taskInstances?limit=100")["task_instances"]
    if run["state"] != "success":
        raise SystemExit(f"the run under the services ended {run['state']}")

    def at(value: str) -> dt.datetime:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))

    from safetynet.embedded import load_dag

    dag = load_dag()
    # a task (a mapped task as a whole: its first start to its last end) against its upstream's end
    spans: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    for ti in tis:
        start, end = at(ti["start_date"]), at(ti["end_date"])
        first, last = spans.get(ti["task_id"], (start, end))
        spans[ti["task_id"]] = (min(first, start), max(last, end))
    waits = []
    for task_id, (start, _end) in spans.items():
        upstream = dag.get_task(task_id).upstream_task_ids
        ready = max((spans[u][1] for u in upstream), default=at(run["start_date"]))
        waits.append((start - ready).total_seconds())
    wall = (at(run["end_date"]) - at(run["start_date"])).total_seconds()
    mem: dict[str, float] = {}
    for ti in tis:
        mem[ti["task_id"]] = max(mem.get(ti["task_id"], 0), peaks.get(ti["id"], 0))
    biggest = max(mem, key=mem.get)
    durations = _per_task([(t["task_id"], t["duration"]) for t in tis])
    return {
        "rows": 0,
        "seconds_override": wall,
        "peak_mb_override": max(mem.values()),
        "note": f"real services, seconds per task: {durations}\n"
        f"real services, peak RSS per task (MB): "
        + ", ".join(f"{t} {v:,.0f}" for t, v in mem.items())
        + f" (largest: {biggest})\nscheduler overhead per task: mean {sum(waits) / len(waits):.1f} s, "
        f"max {max(waits):.1f} s over {len(waits)} hand-offs (a task's start after its upstream's end)",
    }


def rid(month: str) -> str:
    """The bench's run of a month (one per month: the second month runs on the first's home)."""
    return f"bench-{month}"


def previous(month: str) -> str:
    from safetynet.months import previous_month

    return previous_month(month)


def stage_generate_previous(month: str, households: int, landing: Path, home: Path) -> int:
    return stage_generate(previous(month), households, landing, home)


def stage_return_outcomes(month: str, _households: int, landing: Path, home: Path) -> int:
    """The townships' outcomes of the previous month's cases, into this month's delivery."""
    from synthetic.generate import return_outcomes

    return return_outcomes(month, 7, landing, home)


def stage_households(month: str, _households: int, _landing: Path, home: Path) -> int:
    from jobs.assess.households import assemble
    from jobs.month.assess import checked_rules
    from safetynet.builds import open_build
    from safetynet.lake import write_parquet

    frame, missing = assemble(open_build(home, rid(month)), month, checked_rules())
    write_parquet(
        frame.with_columns(missing_sources=pl_lit(",".join(missing))),
        home / f"bench-households-{month}.parquet",
    )
    return frame.height


AREA_TASK = "import sys; from jobs.month.assess import assess_area; assess_area(*sys.argv[1:])"
MONTH_TASK = "import sys; from jobs.month.assess import {0}; {0}(*sys.argv[1:])"


def _task(code: str, args: list[str], peak: str) -> None:
    """A task's code in a process of its own, as `python -c code args` would run it; its peak RSS
    written to `peak` (KB)."""
    sys.argv = ["-c", *args]
    exec(compile(code, "<task>", "exec"), {"__name__": "__main__"})
    Path(peak).write_text(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def _processes(jobs: list[tuple[str, str, list[str]]], workers: int) -> list[dict]:
    """Each job (its name, Python code and arguments) in its own process, as Airflow's workers run
    tasks, `workers` at a time, in the order given: each task's wall seconds and peak RSS.

    A task process is forked, as Airflow forks it, from a process that imported the tasks'
    libraries first (safetynet/preload.py; the PreloadedLocalExecutor and the Celery workers do the
    same): Python's forkserver, started afresh, never from this process (which has run Polars'
    threads). A task's peak RSS counts the preloaded libraries' pages it shares, as Airflow's does."""
    import multiprocessing
    import tempfile
    from multiprocessing.connection import wait

    from safetynet.preload import PRELOADED

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOADED))
    waiting, running, out = list(jobs), {}, []
    with tempfile.TemporaryDirectory() as tmp:
        while waiting or running:
            while waiting and len(running) < workers:
                name, code, args = waiting.pop(0)
                peak = Path(tmp) / f"{len(out) + len(running)}.peak"
                proc = context.Process(target=_task, args=(code, args, str(peak)), name=name)
                proc.start()
                running[proc.sentinel] = (name, time.perf_counter(), proc, peak)
            for sentinel in wait(list(running)):
                name, started, proc, peak = running.pop(sentinel)
                proc.join()
                if proc.exitcode != 0:
                    raise SystemExit(f"task {name} failed (exit code {proc.exitcode}): see its error above")
                kb = int(peak.read_text())
                out.append(
                    {"task": name, "seconds": round(time.perf_counter() - started, 1), "peak_mb": kb // 1024}
                )
    order = [name for name, _, _ in jobs]
    return sorted(out, key=lambda t: order.index(t["task"]))


def stage_areas(month: str, _households: int, _landing: Path, home: Path, steps: bool = False) -> dict:
    """The mapped stage as Airflow's workers run it: one `assess_area` per prefecture, with one
    worker (one task at a time) and with two (two at once)."""
    import polars as pl

    from jobs.month.assess import prefectures
    from safetynet.builds import open_build

    args = [month, str(home), rid(month)]
    listed = _processes([("prefectures", MONTH_TASK.format("prefectures"), args)], 1)
    areas = prefectures(month, str(home), rid(month))
    out: dict = {"prefectures": len(areas)}
    for workers in (1, 2):
        started = time.perf_counter()
        tasks = _processes([(a, AREA_TASK, [*args, a]) for a in areas], workers)
        out[f"wall_{workers}_worker"] = round(time.perf_counter() - started, 1)
        out[f"tasks_{workers}_worker"] = tasks
    largest = max(t["peak_mb"] for w in (1, 2) for t in out[f"tasks_{w}_worker"])
    # the month's tasks around the mapped one: its list of prefectures (and movers), and `assess`
    # (the checks across prefectures and the cases)
    out["month_tasks"] = listed + _processes([("assess", MONTH_TASK.format("assess_month"), args)], 1)
    build = open_build(home, rid(month)).building.path
    households = (
        pl.scan_parquet(list((build / "_household_month").glob("*.parquet"))).select(pl.len()).collect()
    )
    if not steps:  # the build as the DAG leaves it, per prefecture, for the export and publish
        return out | {"rows": households.item(), "largest_task_mb": largest, "peak_mb_override": largest}
    # the stages after this one time the same steps over the whole province, in one file each
    for area in areas:
        for path in build.glob(f"*/{area}.parquet"):
            if not path.parent.name.startswith("_") or path.parent.name in ("_quarantine", "_deliveries"):
                continue  # the lake's sources and the ingest's records stay
            path.unlink()
    (build / "_doubtful" / "shared.parquet").unlink()  # the month's checks across prefectures
    return out | {"rows": households.item(), "largest_task_mb": largest, "peak_mb_override": largest}


def pl_lit(value: str):
    import polars as pl

    return pl.lit(value)


def stage_score(month: str, _households: int, _landing: Path, home: Path) -> int:
    """Hardship index, warning rules and leads for every household (features already assembled)."""
    import polars as pl

    from jobs.assess.leads import make_leads, warn
    from jobs.assess.score import score
    from jobs.cases import lifecycle as cases
    from jobs.month.assess import checked_rules
    from safetynet.builds import open_build

    rules = checked_rules()
    households = pl.read_parquet(home / f"bench-households-{month}.parquet")
    missing = [s for s in households["missing_sources"][0].split(",") if s]
    start = time.perf_counter()
    warned = warn(score(households.drop("missing_sources"), rules, month, missing), rules, month)
    h = open_build(home, rid(month))
    past = cases.history(h, month, rules)
    leads = cases.attach_leads(make_leads(warned, rules, month, cases.covering_leads(past.closed)), past.open)
    print(f"score+warn compute only: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    leads.write_parquet(home / f"bench-leads-{month}.parquet")
    from safetynet.lake import write_parquet

    write_parquet(  # as jobs/month/assess.py writes it (the overviews read `missing_sources`)
        warned.with_columns(missing_sources=pl.lit(",".join(missing))).sort("household_id"),
        h.partition("_household_month", month) / "data.parquet",
    )
    write_parquet(
        leads.sort("township_code", "rank", "lead_id"), h.partition("_leads", month) / "data.parquet"
    )
    return households.height


def stage_means_test(month: str, _households: int, _landing: Path, home: Path) -> int:
    """All cross-checks in DuckDB SQL over the lake (households already scored)."""
    from jobs.cases import lifecycle as cases
    from jobs.means_test.checks import means_test
    from jobs.month.assess import checked_rules
    from safetynet.builds import open_build

    h, rules = open_build(home, rid(month)), checked_rules()
    found = means_test(month, h, rules, cases.history(h, month, rules))
    print(
        f"doubtful records: {found['doubtful']:,}, unchecked households: {found['unchecked']:,}",
        file=sys.stderr,
    )
    import polars as pl

    return pl.read_parquet(home / f"bench-households-{month}.parquet", columns=["household_id"]).height


def stage_cases(month: str, _households: int, _landing: Path, home: Path) -> dict:
    """The month's cases from the previous month's, its findings and its outcomes (jobs/cases/)."""

    from jobs.cases import capacity
    from jobs.cases import lifecycle as cases
    from jobs.month.assess import checked_rules
    from safetynet.builds import open_build
    from safetynet.lake import write_parquet

    h, rules = open_build(home, rid(month)), checked_rules()
    leads = h.read("_leads", month)
    scored = h.read("_household_month", month, ["household_id", "township_code", "hardship_score"])
    month_cases, leads = cases.track(h, month, rules, cases.history(h, month, rules), leads, scored)
    write_parquet(month_cases, h.partition("_cases", month) / "data.parquet")
    ledger = capacity.ledger(month, month_cases, scored, rules)  # v_kpis reads it
    write_parquet(ledger, h.partition("_capacity", month) / "data.parquet")
    write_parquet(leads, h.partition("_leads", month) / "data.parquet")
    states = dict(month_cases.group_by("state").len().iter_rows())
    return {"rows": month_cases.height, "note": f"cases by state: {states}"}


def stage_kpis(month: str, _households: int, _landing: Path, home: Path) -> dict:
    """The KPI views over the published months, as an auditor or the portal reads them."""
    from jobs.export import overview
    from jobs.publish.sealed import connect
    from safetynet.rules import load_rules

    rules, timings = load_rules(), {}
    with connect(home) as con:
        for name, sql in (
            ("v_kpis", "select * from v_kpis"),
            ("v_rule_yield", "select * from v_rule_yield"),
            ("v_cases of the month", f"select * from v_cases where month = '{month}'"),
        ):
            start = time.perf_counter()
            rows = con.sql(sql).fetchall()
            timings[name] = (time.perf_counter() - start, len(rows))
        county = con.sql(f"select min(county_code) from v_cases where month = '{month}'").fetchall()[0][0]
        start = time.perf_counter()
        overview.gather(con, month, county, rules)
        timings[f"a county's overview ({county})"] = (time.perf_counter() - start, 1)
    return {
        "rows": sum(n for _, n in timings.values()),
        "note": "KPI views: " + ", ".join(f"{k} {s:.2f} s ({n:,} rows)" for k, (s, n) in timings.items()),
    }


def quality(month: str, landing: Path, home: Path) -> str:
    """Leads per 1,000 households; recall and precision against the generator's truth file."""
    import polars as pl

    from safetynet.lake import Home

    # the month as published (`--steps` also leaves the step-by-step frames: the same rows)
    h = Home(home)
    assembled = h.read("_household_month", month, ["household_id", "events_unknown", "members_incomplete"])
    households = assembled.height
    leads = h.read("_leads", month).filter(pl.col("pushed"))
    truth = pl.read_csv(landing / "_truth" / f"{month}.csv").filter(pl.col("kind") == "hardship")
    planted = truth.select("household_id").unique()
    visit = leads.filter(pl.col("level").is_in(["红", "橙", "黄"]))
    hit = lambda frame: frame.join(planted, on="household_id", how="semi").height  # noqa: E731
    recall = hit(leads) / max(planted.height, 1)
    by_kind = (
        truth.join(leads.select("household_id"), on="household_id", how="left", coalesce=False)
        .group_by("detail")
        .agg(pl.col("household_id_right").is_not_null().mean().round(3).alias("recall"), pl.len())
        .sort("detail")
    )
    levels = leads.group_by("level").len().sort("level")
    by_rule = (
        leads.select("household_id", "rule_ids")
        .explode("rule_ids")
        .with_columns(planted=pl.col("household_id").is_in(planted["household_id"].implode()))
        .group_by("rule_ids")
        .agg(pl.col("planted").mean().round(3), pl.len())
        .sort("rule_ids")
    )
    unknown = assembled.filter(pl.col("events_unknown").is_not_null())["events_unknown"].value_counts()
    incomplete = int(assembled["members_incomplete"].sum())
    from safetynet.lake import Home

    doubtful = Home(home).read("_doubtful", month)
    if doubtful is None:  # not published: --first-month stops before the commit
        from safetynet.builds import open_build

        doubtful = open_build(home, rid(month)).read("_doubtful", month)
    ineligible = pl.read_csv(landing / "_truth" / f"{month}.csv").filter(pl.col("kind") != "hardship")
    by_check = doubtful.group_by("check_id", "direction").len().sort("check_id")
    found = ineligible.with_columns(found=pl.col("household_id").is_in(doubtful["household_id"].implode()))
    share_found = found["found"].mean() or 0.0
    found_by_kind = found.group_by("detail").agg(pl.col("found").mean().round(3), pl.len()).sort("detail")
    precision = hit(visit) / max(visit.height, 1)
    return "\n".join(
        [
            f"leads pushed: {leads.height:,} = {leads.height / households * 1000:.1f} per 1,000 households "
            f"(red/orange/yellow: {visit.height / households * 1000:.1f} per 1,000)",
            f"by colour: {dict(levels.iter_rows())}",
            f"recall (planted hardship households with a pushed lead): {recall:.3f} of {planted.height:,}",
            f"precision (red/orange/yellow leads on planted hardship): {precision:.3f}; "
            f"all pushed: {hit(leads) / max(leads.height, 1):.3f}",
            "recall by planted hardship: " + ", ".join(f"{d} {r} (n={n})" for d, r, n in by_kind.iter_rows()),
            "precision by rule (its pushed leads on planted hardship): "
            + ", ".join(f"{r} {p} (n={n})" for r, p, n in by_rule.iter_rows()),
            "households whose new events could not be told (events_unknown): "
            + (", ".join(f"{s} {n:,}" for s, n in unknown.iter_rows()) or "none")
            + f"; with a quarantined member (members_incomplete): {incomplete:,}",
            f"doubtful records: {doubtful.height:,} = {doubtful.height / households * 1000:.1f} per 1,000 "
            "households; " + ", ".join(f"{c} {d} {n:,}" for c, d, n in by_check.iter_rows()),
            f"planted (in)eligibility found by a check: {share_found:.3f} of {ineligible.height:,} rows: "
            + ", ".join(f"{d} {f} (n={n})" for d, f, n in found_by_kind.iter_rows()),
        ]
    )


def stage_exports(month: str, _households: int, _landing: Path, home: Path) -> dict:
    """Every township's xlsx lists, summary (PDF) and manifest, its reports and portraits listed
    there to be drawn when asked for: one `export` task per prefecture, each drawing its townships'
    files on its slots' processes; the tasks one at a time (one worker), then two at a time (two
    workers)."""
    from jobs.export.lists import export_areas
    from safetynet.workers import EXPORT_SLOTS, allotted

    # one `export` task per prefecture, each in its own process, with one worker, then two
    task = (
        "import json, sys; from jobs.export.lists import export_area; "
        "json.dump(export_area(*sys.argv[1:5], int(sys.argv[5])), open(sys.argv[6], 'w'))"
    )
    areas, out = export_areas(month, str(home), rid(month)), {}
    for workers in (1, 2):
        jobs = [
            (a, task, [month, str(home), rid(month), a, str(EXPORT_SLOTS), str(home / f".export-{a}.json")])
            for a in areas
        ]
        started = time.perf_counter()
        out[f"tasks_{workers}_worker"] = _processes(jobs, workers)
        out[f"wall_{workers}_worker"] = round(time.perf_counter() - started, 1)
    parts = [json.loads((home / f".export-{a}.json").read_text()) for a in areas]
    tasks = [t for w in (1, 2) for t in out[f"tasks_{w}_worker"]]
    kinds = ("lists", "reports", "portraits")
    done = {k: sum(d[k] for d in parts) for k in ("files", "lists", "portraits", "report_seconds")}
    done["busy_seconds"] = {k: sum(d["busy_seconds"][k] for d in parts) for k in kinds}
    listed = sum(d["reports"] for d in parts)  # reports and portraits are listed, drawn when asked for
    busy = done["busy_seconds"]
    workers = allotted(EXPORT_SLOTS)
    return out | {
        "rows": done["files"],
        "seconds_override": out["wall_1_worker"],
        "largest_task_mb": max(t["peak_mb"] for t in tasks),
        "peak_mb_override": max(t["peak_mb"] for t in tasks),
        "note": f"export, the second pass: {done['report_seconds']:.1f} s of passes on {workers} processes; "
        f"process seconds: {done['lists']:,} lists {busy['lists']:.0f} s, summaries {busy['reports']:.0f} s; "
        f"listed in the manifests, drawn when asked for: {listed:,} reports, {done['portraits']:,} portraits",
    }


def stage_portal(month: str, _households: int, landing: Path, home: Path) -> dict:
    from benchmarks.portal_bench import run

    return run(home, landing)


STAGES = {
    "generate": stage_generate,
    "floor": stage_floor,
    "ingest+validate": stage_ingest,
    "record": stage_record,
    "generate previous month": stage_generate_previous,
    "households per prefecture (2 workers)": stage_areas,
    "households": stage_households,
    "score+warn+leads": stage_score,
    "means test (10 SQL checks)": stage_means_test,
    "cases": stage_cases,
    "KPI views": stage_kpis,
    "returned outcomes": stage_return_outcomes,
    "township files + reports": stage_exports,
    "publish (the commit)": stage_publish,
    "whole DAG (safetynet run)": stage_dag,
    "whole DAG (real services)": stage_services,
    "portal (safetynet serve)": stage_portal,
}

# A month as the DAG runs it, stage by stage: ingest, record, assess (per prefecture, then the
# month), export, publish. The assessment is timed again province-wide, step by step (PART_OF_ASSESS:
# shown, not added to the whole month, whose assess is the per-prefecture stage on two workers).
# `--steps` only: they write the province's rows in one file per dataset (the build then differs
# from the DAG's, whose export reads a prefecture's files), so by default the month is the DAG's.
PART_OF_ASSESS = ("households", "score+warn+leads", "means test (10 SQL checks)", "cases")
ASSESS = ("households per prefecture (2 workers)",)
MONTH_STAGES = (
    "floor",
    "ingest+validate",
    "record",
    *ASSESS,
    "township files + reports",
    "publish (the commit)",
)
WHOLE_DAG = ("whole DAG (safetynet run)", "whole DAG (real services)")
NOT_THE_MONTH = (
    "floor",
    "returned outcomes",
    "KPI views",
    "portal (safetynet serve)",
    *PART_OF_ASSESS,
    *WHOLE_DAG,
)


def plan(month: str, first_only: bool = False, steps: bool = False) -> list[tuple[str, tuple[str, ...]]]:
    """(month, stages) in the order they run: the first month on a fresh home (no month before it),
    then the second month on that home, with the townships' outcomes of the first month's cases,
    then what reads the published months (the KPI views, the portal). `steps`: the assessment
    timed again province-wide, step by step, after the per-prefecture stage."""
    stages = MONTH_STAGES
    if steps:
        at = MONTH_STAGES.index(ASSESS[-1]) + 1
        stages = (*MONTH_STAGES[:at], *PART_OF_ASSESS, *MONTH_STAGES[at:])
    first = (previous(month), stages)
    second = (month, ("returned outcomes", *stages, "KPI views", "portal (safetynet serve)"))
    return [first] if first_only else [first, second]


def run_stage(name: str, args: argparse.Namespace, month: str | None = None) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--stage",
        name,
        "--month",
        month or args.month,
        "--households",
        str(args.households),
        "--work",
        str(args.work),
        *(["--steps"] if args.steps else []),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"stage {name} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def month_seconds(r: dict) -> float:
    """A stage's share of the month as the DAG runs it on two workers: the mapped stages' wall
    with two tasks at once (and the month's own tasks around them), the others as timed."""
    if "wall_2_worker" in r:
        return r["wall_2_worker"] + sum(t["seconds"] for t in r.get("month_tasks", []))
    return r["seconds"]


def folder_bytes(paths: list[Path], seen: set | None = None) -> int:
    """Bytes of the files under `paths`, a file with several hard links counted once (as `du`)."""
    seen = set() if seen is None else seen
    total = 0
    for top in paths:
        for path in [top, *top.rglob("*")] if top.is_dir() else [top]:
            if path.is_symlink() or not path.is_file():
                continue
            st = path.stat()
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def month_bytes(home: Path, month: str, before: set) -> dict:
    """What the month added to the home: its build (by top folder, largest first), its commit
    (catalog and warehouse) and the rest of the lake (run log); files already there not counted."""
    builds = sorted((home / "lake" / f"month={month}").glob("build=*"))
    folders: dict[str, int] = {}
    for build in builds:
        for part in sorted(build.iterdir()):
            folders[part.name] = folders.get(part.name, 0) + folder_bytes([part], before)
    rest = folder_bytes([home / "lake", home / "commits"], before)
    folders = dict(sorted(folders.items(), key=lambda kv: -kv[1]))
    return {"total": sum(folders.values()) + rest, "build": sum(folders.values()), "by_folder": folders}


def home_files(home: Path) -> set:
    seen: set = set()
    folder_bytes([home / "lake", home / "commits"], seen)
    return seen


def month_summary(month: str, label: str, results: list[dict], size: dict | None) -> dict:
    """The month's figures: each stage, the floor, the whole month (the DAG's stages) and its peak."""
    floor = next(r for r in results if r["stage"] == "floor")
    counted = [r for r in results if r["stage"] not in NOT_THE_MONTH]
    whole = sum(month_seconds(r) for r in counted)
    dag = next((r["months_seconds"][month] for r in results if "months_seconds" in r), None)
    return {
        "month": month,
        "label": label,
        "floor_seconds": round(floor["seconds"], 1),
        "rows": floor["rows"],
        "whole_seconds": round(whole, 1),
        "whole_x_floor": round(whole / floor["seconds"], 1),
        "whole_peak_mb": max((r["peak_mb"] for r in counted), default=0),
        "dag_seconds": round(dag, 1) if dag is not None else None,
        "bytes": size,
        "stages": [
            {k: r[k] for k in ("stage", "seconds", "rows", "peak_mb") if k in r}
            | {"in_month": r["stage"] not in NOT_THE_MONTH, "month_seconds": round(month_seconds(r), 1)}
            for r in results
        ],
    }


def month_table(summary: dict) -> str:
    """The month's table: each stage's seconds, rows per second, peak RSS and ratio to the floor;
    then the whole month, the whole DAG (--dag) and the bytes the month added."""
    floor = summary["floor_seconds"]
    lines = [
        f"\n{summary['label']} month {summary['month']}: {summary['rows']:,} delivered rows, "
        f"floor {floor:.1f} s",
        f"{'stage':<40}{'seconds':>9}{'rows/s':>12}{'peak RSS MB':>13}{'x floor':>9}",
    ]
    for s in summary["stages"]:
        rate = f"{s['rows'] / s['seconds']:,.0f}" if s.get("rows") and s["seconds"] else "-"
        name = s["stage"] + ("" if s["in_month"] or s["stage"] == "floor" else " *")
        seconds = s["month_seconds"] if s["in_month"] else s["seconds"]
        lines.append(f"{name:<40}{seconds:>9.1f}{rate:>12}{s['peak_mb']:>13.0f}{seconds / floor:>9.2f}")
    lines.append(
        f"{'whole month (sum of the DAG stages)':<40}{summary['whole_seconds']:>9.1f}{'':>12}"
        f"{summary['whole_peak_mb']:>13.0f}{summary['whole_x_floor']:>9.2f}"
    )
    if summary.get("dag_seconds") is not None:
        lines.append(
            f"{'whole DAG (safetynet run)':<40}{summary['dag_seconds']:>9.1f}{'':>12}{'':>13}"
            f"{summary['dag_seconds'] / floor:>9.2f}"
        )
    lines.append(
        "* not part of the month's seconds (the floor; the assessment timed again step by step; "
        "what reads the published month). Mapped stages: their wall on two workers."
    )
    size = summary.get("bytes")
    if size:
        top = ", ".join(f"{k} {v / 2**20:,.1f} MB" for k, v in list(size["by_folder"].items())[:8])
        lines.append(
            f"bytes the month added: {size['total'] / 2**20:,.1f} MB "
            f"(build {size['build'] / 2**20:,.1f} MB: {top})"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--households", type=int, default=2_000_000)
    parser.add_argument("--month", default="2026-09", help="the second month (the first is the one before)")
    parser.add_argument("--work", type=Path, default=ROOT / ".bench")
    parser.add_argument("--dag", action="store_true", help="also time both months through `safetynet run`")
    parser.add_argument(
        "--services", action="store_true", help="also run the whole DAG under the real Airflow services"
    )
    parser.add_argument(
        "--first-month",
        action="store_true",
        help="the first month only (a fresh home, no month before it), not the second",
    )
    parser.add_argument(
        "--steps",
        action="store_true",
        help="also time the assessment province-wide step by step (households, score, means test, cases)",
    )
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def one_stage(args: argparse.Namespace, landing: Path, home: Path) -> None:
    """A stage in this process (run by `run_stage` in a child): its figures as one JSON line."""
    start = time.perf_counter()
    stage = STAGES[args.stage]
    if stage is stage_areas:  # the province's files left for the step-by-step stages, or not
        done = stage_areas(args.month, args.households, landing, home, args.steps)
    else:
        done = stage(args.month, args.households, landing, home)
    extra = done if isinstance(done, dict) else {"rows": done}
    result = {
        "stage": args.stage,
        "month": args.month,
        "seconds": extra.pop("seconds_override", time.perf_counter() - start),
        "peak_mb": extra.pop("peak_mb_override", _peak_mb()),
    }
    print(json.dumps(result | extra))
    slug = "".join(c if c.isalnum() else "-" for c in f"{args.month}-{args.stage}")
    (args.work / f"stage-{slug}.json").write_text(json.dumps(result | extra, indent=1) + "\n")


# The benchmark's command line and its stages in order; a script, outside the product's import graph.
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    landing, home = args.work / "landing", args.work / "home"
    if args.stage:
        return one_stage(args, landing, home)
    generated = []
    for stage, month in (("generate previous month", previous(args.month)), ("generate", args.month)):
        marker = landing / f".generated-{month}-{args.households}-ready"
        if not marker.exists():
            landing.mkdir(parents=True, exist_ok=True)
            generated.append(run_stage(stage, args))
            marker.touch()
    shutil.rmtree(home, ignore_errors=True)
    months, reports = [], []
    for month, stages in plan(args.month, args.first_month, args.steps):
        before, results, size = home_files(home), [], None
        for name in stages:
            results.append(run_stage(name, args, month))
            if name == "publish (the commit)":  # the month's bytes, before the portal writes its log
                size = month_bytes(home, month, before)
        months.append((month, results, size))
        reports.append(quality(month, landing, home))
    extra = []
    if args.dag:
        extra.append(run_stage("whole DAG (safetynet run)", args))
    if args.services:
        extra.append(run_stage("whole DAG (real services)", args))
    labels = ("first", "second")
    summaries = [
        month_summary(m, labels[i], results + extra, size) for i, (m, results, size) in enumerate(months)
    ]
    print(f"\nbenchmark: {args.households:,} households, months {', '.join(s['month'] for s in summaries)}")
    for summary in summaries:
        print(month_table(summary))
    for r in [*generated, *extra]:
        print(f"{r['stage']}: {r['seconds']:.1f} s, peak RSS {r['peak_mb']:,.0f} MB")
    for r in [r for _, results, _ in months for r in results] + extra:
        if r.get("note"):
            print(f"{r.get('month', '')} {r['note']}")
    figures = {
        "households": args.households,
        "month": args.month,
        "first_month": args.first_month,
        "months": summaries,
        # one list for docs/gen.py's table: each stage named with its month
        "stages": [
            {k: s[k] for k in ("seconds", "rows", "peak_mb")}
            | {"stage": f"{m['label']} month {m['month']}: {s['stage']}"}
            for m in summaries
            for s in m["stages"]
        ],
    }
    print(f"figures: {record.write('bench', figures, str(args.households))}")
    for _, results, _ in months:  # the mapped stages, task by task (one process per prefecture)
        for r in results:
            for key in ("tasks_1_worker", "tasks_2_worker", "month_tasks"):
                if key in r:
                    tasks = ", ".join(
                        f"{t['task']} {t['seconds']:.0f} s {t['peak_mb'] / 1024:.2f} GB" for t in r[key]
                    )
                    wall = (
                        f" (wall {r[f'wall_{key[6]}_worker']:.0f} s)" if f"wall_{key[6]}_worker" in r else ""
                    )
                    print(f"{r['month']} {r['stage']}, {key.replace('_', ' ')}{wall}: {tasks}")
    for (month, _, _), report in zip(months, reports, strict=True):
        print(f"\n{month}:\n{report}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
