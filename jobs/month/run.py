"""The monthly load, one function per DAG task: start, ingest (one per source), record, publish.

`start` names the month's build by what it is made of; every task writes only into the run's
staging folder (`open_build`); `publish` is the one commit point (see `safetynet/lake.py`). A failed run
publishes nothing, and a rerun on the same inputs makes the same build. Sources that were not
delivered, or that are unusable as a whole, are recorded as such and the month is marked
incomplete; they never count as "no events".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from jobs.cases import lifecycle
from jobs.cross_region import asking
from jobs.cross_region import ledger as xr_ledger
from jobs.decisions import log as decision_log
from jobs.ingest import areas, report
from jobs.ingest.deliveries import META, DeliveredFile, find_deliveries, is_history, stage_source
from jobs.ingest.validate import QUARANTINE_SCHEMA, check
from jobs.ingest.watched import WATCHED_FILE, write_watched
from jobs.month.assess import checked_rules
from jobs.publish import manifest, warehouse
from jobs.publish.deployment import backfill_command
from safetynet import alerts, runs
from safetynet.builds import open_build
from safetynet.contract import HISTORY, READY, SOURCES
from safetynet.errors import DeliveryError, LandingError
from safetynet.faults import fault
from safetynet.lake import (
    WHOLE,
    CommitError,
    Home,
    commit_lock,
    make_commit,
    seal,
    sha256_file,
    write_json,
    write_parquet,
)
from safetynet.months import add_months, month_range, previous_month
from safetynet.pdf import find_font
from safetynet.progress import say, timed
from safetynet.rules import load_population
from safetynet.versions import code_version, rule_version, suite_version
from safetynet.workers import BATCH_ROWS

TZ = ZoneInfo("Asia/Shanghai")  # civil-affairs months are calendar months in China Standard Time
MONTH_FORMAT = "%Y-%m"

FILES_TYPE = pl.List(
    pl.Struct(
        {"file": pl.String, "sha256": pl.String, "bytes": pl.Int64, "encoding": pl.String, "rows": pl.Int64}
    )
)
DELIVERY_SCHEMA = {
    "source": pl.String,
    "status": pl.String,
    "files": FILES_TYPE,
    "rows_delivered": pl.Int64,
    "accepted": pl.Int64,
    "quarantined": pl.Int64,
    "error": pl.String,
    "ignored_columns": pl.List(pl.String),
    "ge_results": pl.String,
    # contract version 3: rows of a `<source>.history.csv` accepted, and the month of the earliest
    "history_rows": pl.Int64,
    "history_from": pl.String,
}


AUTOMATIC_RUNS = ("scheduled", "backfill")  # Airflow run types whose month is their data interval


def month_of(data_interval_start: dt.datetime) -> str:
    """The month a run covers: its data interval's start, in China Standard Time."""
    return data_interval_start.astimezone(TZ).strftime(MONTH_FORMAT)


def month_start(month: str) -> dt.datetime:
    """00:00 on the 1st of `month` in China Standard Time: the logical date of its scheduled run."""
    return dt.datetime.strptime(check_month(month), MONTH_FORMAT).replace(tzinfo=TZ)


def value(enum_or_str) -> str:
    """An Airflow enum's value (DagRunType, DagRunState: `str()` gives 'DagRunType.MANUAL')."""
    return str(getattr(enum_or_str, "value", enum_or_str))


def is_automatic(run_type) -> bool:
    """A scheduled or backfill run."""
    return value(run_type) in AUTOMATIC_RUNS


def run_month(asked: str | None, run_type, data_interval_start: dt.datetime | None) -> str:
    """The month a DAG run loads: the `month` param when given (it wins), else a scheduled or
    backfill run's data interval. A manual trigger's interval is the trigger time's (Airflow 3.3
    derives it so even when a logical date is given), never trusted as the month asked for."""
    run_type = value(run_type)
    if asked:
        return check_month(asked)
    if is_automatic(run_type) and data_interval_start is not None:
        return month_of(data_interval_start)
    raise LandingError(
        f"a {run_type} run names its month: trigger it with the param month, e.g. "
        """airflow dags trigger safetynet_monthly --conf '{"month": "2026-10"}' """
        "(the interval of a manual trigger is the trigger time's, not the month asked for)"
    )


class OrderError(LandingError):
    """A month that cannot run yet or at all: the month before it is not published."""


def turn(
    home: Home,
    month: str,
    run_id: str,
    active: Callable[[str], bool],
    previous_active: bool = False,
    previous_queued: bool = False,
    scheduled: bool = False,
) -> str | None:
    """None when `month` may start now; else what it waits for. Raises OrderError for a gap that
    nothing will fill.

    Months run in order, each on the previous month's published build: a month starts when no run
    of the month before it is under way and that month is published, or when no earlier month was
    ever published or tried (the home's first month). `active(run_id)`: another run of the run log
    is still queued or running in Airflow; `previous_active`: Airflow has a run of the previous
    month's interval running (a backfill's or the schedule's); `previous_queued`: only queued, behind
    this one (a backfill run backwards): refused, as waiting would hold the backfill's run slots.
    `scheduled`: a run the schedule made (the DAG unpaused on a home whose earlier months are not
    published) waits for the gap to be filled by a backfill; a manual or backfill run is refused."""
    prev = previous_month(month)
    log = [e for e in runs.entries(home) if e["run_id"] != run_id]
    same = [
        e
        for e in log
        if e.get("month") == month and e.get("status") in ("running", "held") and active(e["run_id"])
    ]
    if same:
        return f"run {same[0]['run_id']} of {month} to finish (one run of a month at a time)"
    earlier = [e for e in log if e.get("month") == prev]
    if previous_queued and not previous_active:
        raise OrderError(
            f"{month} cannot run before {prev}: a run of {prev} is queued behind it (a backfill with "
            f"--run-backwards?). Months run in order: create the backfill without --run-backwards"
        )
    if previous_active or any(
        e.get("status") in ("waiting", "running", "held") and active(e["run_id"]) for e in earlier
    ):
        return f"{prev} to be published (its run is under way)"
    if prev in home.catalog:
        return None
    published = sorted(m for m in home.catalog if m < month)
    if not published and not earlier:
        return None  # the home's first month (or a month loaded before its first: history)
    last = published[-1] if published else None
    first = previous_month(month) if last is None else _next(last)
    if scheduled:
        return f"{prev} to be published ({GAP}; fill the gap: {backfill_command(first, prev)})"
    tried = f"; run {earlier[-1]['run_id']} of {prev} did not publish it" if earlier else ""
    raise OrderError(
        f"{month} cannot run: {prev} is not published in {home.root} (last published before it: "
        f"{last or 'none'}{tried}). Run {prev} first, or backfill from the first missing month: "
        f"safetynet backfill --from {first} --to {month}"
    )


GAP = "not published, and no run of it is under way"  # what a scheduled run after a gap waits for


def _next(month: str) -> str:
    return (month_start(month) + dt.timedelta(days=32)).strftime(MONTH_FORMAT)


def note_waiting(home: str, run_id: str, month: str, waiting_for: str) -> None:
    """The run log says what the run waits for; a scheduled run that waits for a gap to be filled
    tells the data team once (nothing fills it but a backfill they create)."""
    if runs.waiting(Home(Path(home)), run_id, month, waiting_for) and GAP in waiting_for:
        alerts.notify(
            home,
            "waiting",
            f"safetynet: {month}'s scheduled run waits for earlier months to be published (run {run_id})",
            f"{month} waits for {waiting_for}",
            run_id=run_id,
            month=month,
        )
    say("wait", f"{month}: waiting for {waiting_for}")


def ready(landing: str | Path, month: str) -> Path | None:
    """None when the month's folder carries the readiness marker; else the marker's path. A
    landing folder that does not exist is an error at once, not something to wait for."""
    if not Path(landing).is_dir():
        raise LandingError(f"{landing}: landing folder does not exist")
    marker = Path(landing) / check_month(month) / READY
    return None if marker.is_file() else marker


def check_month(month: str) -> str:
    try:
        dt.datetime.strptime(month, MONTH_FORMAT)
    except ValueError:
        raise LandingError(f"month '{month}' is not in YYYY-MM form") from None
    return month


def preflight(landing: Path, month: str) -> dict[str, list[Path]]:
    """The month's deliveries; raise LandingError when there is nothing a run could use."""
    check_month(month)
    if not landing.is_dir():
        raise LandingError(f"{landing}: landing folder does not exist")
    month_dir = landing / month
    if not month_dir.is_dir():
        raise LandingError(f"{month_dir}: month folder does not exist")
    found, _ = find_deliveries(month_dir)
    if not found:
        raise LandingError(
            f"{month_dir}: no deliveries for {month} (no <source>.csv or .xlsx of the contract)"
        )
    return found


def inputs(landing: Path, month: str) -> list[dict]:
    """Every delivered file of the contract for the month, with its SHA-256, in a fixed order."""
    found, _ = find_deliveries(landing / month)
    return [
        {"source": source, "file": p.name, "sha256": sha256_file(p), "bytes": p.stat().st_size}
        for source in sorted(found)
        for p in sorted(found[source])
    ]


def build_id(
    month: str,
    files: list[dict],
    previous: str | None,
    published: dict | None = None,
    applications: str | None = None,
    decision_log: str | None = None,
    xr_applications: str | None = None,
) -> dict:
    """What a month's results are made of, and the content id that names them: the same
    deliveries, rules, suites, code and previous month give the same build, whoever runs it when.

    A build made of other inputs than the month's published one is a revision of it: it says so
    in the township files, so the id names the build it replaces too (`published`: the month's
    catalog entry, if any). `applications`: the digest of the application checks the month watches
    (jobs/ingest/watched.write_watched), when there are any; `decision_log`: the digest of the
    portal's decision log up to the month (jobs/decisions/log.py), when there is one;
    `xr_applications`: the digest of the month's applicants' cross-region requests
    (jobs/cross_region/ledger.stage_applications), when there are any."""
    made_of = {
        "month": month,
        "inputs": files,
        "previous": previous,
        "rule_version": rule_version(),
        "suite_version": suite_version(),
        "code_version": code_version(),
    } | ({"applications": applications} if applications else {})
    made_of |= {"decision_log": decision_log} if decision_log else {}
    made_of |= {"xr_applications": xr_applications} if xr_applications else {}
    base = hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()[:16]
    if published is None:
        replaces = None
    elif published.get("base", published["build"]) == base:  # the same results again
        replaces = published.get("replaces")
    else:
        replaces = published["build"]
    build = base if replaces is None else hashlib.sha256(f"{base}:{replaces}".encode()).hexdigest()[:16]
    return {"build": build, "base": base, "replaces": replaces, **made_of}


def start(month: str, landing: str, home: str, run_id: str) -> dict:
    """Check the landing folder, name the build by its inputs and open the run's staging area."""
    found = preflight(Path(landing), month)
    checked_rules(month)  # a rule set that does not load stops the run before anything is written
    find_font()  # so does a machine that cannot draw the township reports
    _, unknown = find_deliveries(Path(landing) / month)
    for path in unknown:
        say("start", f"ignored: {path} is not a file name of the contract")
    h = Home(Path(home))
    previous = h.catalog.get(previous_month(month), {}).get("build")
    # the application checks the month watches, fixed now in a file of the build and in its id
    staging = h.staging(run_id)
    shutil.rmtree(staging, ignore_errors=True)
    watching = staging / "watching"
    watching.mkdir(parents=True)
    watched = write_watched(h.root, month, load_population(month=month).refused_applicant_months, watching)
    # the decision log up to the month, read once: its lines into the build, its digest into the id
    logged_rows, logged = decision_log.snapshot(h.lake, month)
    xr_applied = xr_ledger.stage_applications(h.root, month, watching)
    build = build_id(
        month, inputs(Path(landing), month), previous, h.catalog.get(month), watched, logged, xr_applied
    )
    folder = staging / f"month={month}" / f"build={build['build']}"
    folder.mkdir(parents=True)
    if watched:
        (watching / WATCHED_FILE).rename(folder / WATCHED_FILE)
    if xr_applied:
        (watching / xr_ledger.APPLICATIONS_FILE).rename(folder / xr_ledger.APPLICATIONS_FILE)
    if logged:
        write_parquet(logged_rows, folder / decision_log.FOLDER / WHOLE)
    watching.rmdir()
    write_json({**build, "unknown_files": sorted(p.name for p in unknown)}, folder / "build.json")
    runs.started(h, run_id, month, build, seen=h.catalog.get(month, {}).get("build"))
    say(
        "start",
        f"{month}: {sum(len(v) for v in found.values())} files for {len(found)} of {len(SOURCES)} sources; "
        f"build {build['build']} (previous month: {previous or 'none published'})",
    )
    return {"month": month, "build": build["build"], "delivered": sorted(found)}


def division_codes(home: Home, month: str) -> list[str] | None:
    """Codes of the latest divisions delivery at or before `month` (this run's own, if delivered)."""
    for m in reversed([m for m in home.months() if m <= month]):
        if (codes := home.read("divisions", m, ["division_code"])) is not None:
            return codes["division_code"].to_list()
    return None


def _file_record(info: DeliveredFile) -> dict:
    return {
        "file": info.path.name,
        "sha256": info.sha256,
        "bytes": info.bytes,
        "encoding": info.encoding,
        "rows": info.rows,
    }


def _raw_record(path: Path) -> dict:
    data = path.read_bytes()
    return {
        "file": path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "encoding": None,
        "rows": None,
    }


def _archive(paths: list[Path], target: Path) -> None:
    """Keep the delivered bytes beside the lake: nothing is lost."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for path in paths:
        # A copy, not a hard link: a department that overwrites its file in place must not
        # change what was archived under this run's SHA-256.
        shutil.copyfile(path, target / path.name)


NOT_DELIVERED = {
    "status": "not_delivered",
    "files": [],
    "rows_delivered": None,
    "accepted": None,
    "quarantined": None,
    "error": None,
    "ignored_columns": [],
    "ge_results": None,
    "history_rows": 0,
    "history_from": None,
}


def _check_unchanged(archived: list[Path], expected: dict[str, str], folder: Path) -> None:
    """The files archived are the ones `start` named the build by, byte for byte."""
    changed = {p.name for p in archived if sha256_file(p) != expected.get(p.name)} | (
        set(expected) - {p.name for p in archived}
    )
    if changed:
        raise LandingError(
            f"{folder}: {', '.join(sorted(changed))} changed since this run started; "
            "start the month again to load the new delivery"
        )


def _load(h: Home, source: str, staged, archived: list[Path], month: str, work: Path, info: dict) -> dict:
    """Check a staged source and place its accepted rows by prefecture; returns its delivery record."""
    build = h.building.path
    codes = division_codes(h, month) if source != "divisions" else None
    ids = issued_ids(h, month) if source == "outcomes" else None
    refused = refused_rows(h, source, month, staged.scan())
    rows, malformed = staged.scan(), staged.malformed
    if refused is not None and refused.height:
        rows = rows.join(refused.lazy().select(META), on=META, how="anti", maintain_order="left")
        malformed = pl.concat([m for m in (malformed, refused) if m is not None], how="diagonal_relaxed")
    persons = areas.placement(h, month) if areas.by_person(source) else None
    batches: list[Path] = []

    def accept(rows: pl.DataFrame) -> None:
        batches.append(work / "accepted" / f"{len(batches):05}.parquet")
        write_parquet(rows, batches[-1])
        fault("batch", source)

    result = check(
        staged.source,
        rows,
        malformed,
        month,
        codes,
        accept,
        issued_ids=ids,
        batch_rows=BATCH_ROWS,
        held=held_rows(h, source, month, archived),
    )
    span = history_span(source, staged.files, batches)
    info["prefectures"] = len(areas.write(pl.scan_parquet(batches), source, build / source, persons))
    write_parquet(
        result.quarantine.sort("source_file", "source_row", "column", "check"),
        build / "_quarantine" / f"{source}.parquet",
    )
    error = None
    if codes is None and source != "divisions":
        error = "no divisions delivery in force: division codes not checked"
    if ids is None and source == "outcomes":
        error = "no earlier month published: returned ids not checked"
    info.update(delivered=result.delivered, accepted=result.accepted_rows, quarantined=result.quarantined)
    return {
        **span,
        "status": "delivered",
        "files": [_file_record(f) for f in staged.files],
        "rows_delivered": result.delivered,
        "accepted": result.accepted_rows,
        "quarantined": result.quarantined,
        "ignored_columns": staged.ignored_columns,
        "ge_results": json.dumps(result.ge_results, ensure_ascii=False, default=str, sort_keys=True),
        "error": error,
    }


def ingest(source: str, month: str, landing: str, home: str, run_id: str) -> dict:
    """Read, cast and validate one source into the run's build; returns its counts (for XCom)."""
    h = open_build(home, run_id)
    build = h.building.path
    found, _ = find_deliveries(Path(landing) / month)
    paths = found.get(source, [])
    expected = {f["file"]: f["sha256"] for f in _build_json(h)["inputs"] if f["source"] == source}
    record = {"source": source, **NOT_DELIVERED}
    with timed(f"ingest {source}") as info:
        fault("ingest", source)
        if not paths:
            info["status"] = "not delivered"
        else:
            _archive(paths, build / "_raw" / source)
            archived = [build / "_raw" / source / p.name for p in paths]
            _check_unchanged(archived, expected, Path(landing) / month)
            # this try's own folder (a try of a lost worker may still be writing); publish removes
            # what a killed try leaves
            work = build / f".{source}.{uuid.uuid4().hex}.tmp"
            try:
                staged = stage_source(source, archived, work / "delivered")
            except DeliveryError as exc:
                # named by month and file, not by the staging path (which holds the run id)
                problem = f"{month}/{Path(exc.path).name}: {exc.problem}"
                record.update(status="unusable", error=problem, files=[_raw_record(p) for p in archived])
                info["status"] = f"UNUSABLE: {exc}"
            else:
                record.update(_load(h, source, staged, archived, month, work, info))
            finally:
                shutil.rmtree(work, ignore_errors=True)
    write_parquet(pl.DataFrame([record], schema=DELIVERY_SCHEMA), build / "_deliveries" / f"{source}.parquet")
    return {k: record[k] for k in ("source", "status", "rows_delivered", "accepted", "quarantined", "error")}


def held_rows(h: Home, source: str, month: str, paths: list[Path]) -> pl.LazyFrame | None:
    """With a history delivery among `paths`, the source's rows the lake holds from the months a
    history may reach back to (`late_report_months`): what it must not add twice."""
    if not any(is_history(p.name) for p in paths):
        return None
    columns = [c.name for c in SOURCES[source].columns]
    reach = load_population(month=month).late_report_months
    frames = [
        rows.select(*columns, "source_file", "source_row").with_columns(month=pl.lit(m))
        for m in month_range(add_months(month, -reach), previous_month(month))
        if (rows := h.scan(source, m)) is not None
    ]
    return pl.concat(frames) if frames else None


def history_span(source: str, files: list[DeliveredFile], batches: list[Path]) -> dict:
    """How many rows a history delivery brought, and the month of the earliest it had accepted."""
    rows = sum(f.rows for f in files if is_history(f.path.name))
    date = SOURCES[source].event_date
    if not rows or not batches or date is None:
        return {"history_rows": rows, "history_from": None}
    first = (
        pl.scan_parquet(batches)
        .filter(pl.col("source_file").str.contains(HISTORY, literal=True))
        .select(pl.col(date).min())
        .collect()
        .item()
    )
    return {"history_rows": rows, "history_from": first.strftime("%Y-%m") if first else None}


def issued_ids(h: Home, month: str) -> list[str] | None:
    """Every id issued to townships in the published months before `month` (`_issued`): what an
    `outcomes` row may name. None when no earlier month is published."""
    earlier = [m for m in h.months() if m < month]
    if not earlier:
        return None
    paths = [p for m in earlier for p in h.files("_issued", m)]
    if not paths:
        return []
    return pl.scan_parquet(paths).select(pl.col("id").unique().sort()).collect()["id"].to_list()


def closed_ids(h: Home, month: str) -> list[str] | None:
    """Ids of cases closed by an outcome in the published months before `month` and not reopened
    since (`_cases`): an `outcomes` row naming one is quarantined unless it is a correction."""
    return lifecycle.closed_ids(h, month)


def closing_notes(h: Home, month: str) -> pl.DataFrame | None:
    """The cases closed before `month` and not reopened since (`closed_ids`), each with the note of
    the outcome that closed it (the latest the runs read). None when no month has cases."""
    ids = closed_ids(h, month)
    if ids is None:
        return None
    scans = [
        s.with_columns(month=pl.lit(m))
        for m in h.months()
        if m < month and (s := h.scan("outcomes", m)) is not None
    ]
    closed = pl.DataFrame({"case_id": ids}, schema={"case_id": pl.String})
    if not scans:
        return closed.with_columns(note=pl.lit(None, pl.String))
    notes = (
        pl.concat(
            [s.select("lead_id", "month", "visited_on", "source_file", "source_row", "note") for s in scans],
            how="vertical_relaxed",
        )
        .filter(pl.col("lead_id").is_in(ids))
        .sort("lead_id", "month", "visited_on", "source_file", "source_row")
        .group_by("lead_id", maintain_order=True)
        .last()
        .select(case_id="lead_id", note=pl.col("note").cast(pl.String))
        .collect()
    )
    return closed.join(notes, on="case_id", how="left")


def uncorrected(closed: pl.DataFrame | None, rows: pl.LazyFrame) -> pl.DataFrame | None:
    """The rows of an `outcomes` delivery that name a closed case (`closed`: case_id and the note of
    the outcome that closed it, `closing_notes`) without a reason of their own in `note` (empty, or
    that outcome's note again), as quarantine rows each naming its row; row by row, as the portal
    refuses them (portal/uploads.py). Any other row naming a closed case is a correction (更正) the
    next run reads (jobs/cases/lifecycle.py)."""
    if closed is None:
        return None
    names = rows.collect_schema().names()
    note = pl.col("note") if "note" in names else pl.lit(None, pl.String)
    given = note.str.strip_chars().replace("", None)
    return (
        rows.select(*META, "lead_id", given=given)
        .join(closed.lazy().rename({"note": "closing_note"}), left_on="lead_id", right_on="case_id")
        .filter(pl.col("given").is_null() | (pl.col("given") == pl.col("closing_note")).fill_null(False))
        .select(
            *META,
            column=pl.lit("lead_id"),
            check=pl.lit("closed_case"),
            reason=pl.format(
                "{} row {}: case {} was closed by an outcome returned in an earlier month; a correction "
                "must give its reason in note (empty, or the note of the outcome that closed it)",
                *META,
                "lead_id",
            ),
            raw_value="lead_id",
        )
        .sort(META)
        .collect()
    )


def refused_rows(h: Home, source: str, month: str, rows: pl.LazyFrame) -> pl.DataFrame | None:
    """Delivered rows refused before the checks, with their reasons: outcomes naming a closed case
    without a reason (`uncorrected`), answers to no request this province made (jobs/cross_region)."""
    if source == "outcomes":
        return uncorrected(closing_notes(h, month), rows)
    if source == asking.received.SOURCE:
        return asking.refused_answers(h, month, rows)
    return None


def _build_json(h: Home) -> dict:
    return json.loads((h.building.path / "build.json").read_text(encoding="utf-8"))


def record(month: str, home: str, run_id: str) -> dict:
    """The month's delivery record and validation report, in the build (not yet published)."""
    h = open_build(home, run_id)
    build = h.building.path
    fault("record", month)
    meta = _build_json(h)
    paths = sorted((build / "_deliveries").glob("*.parquet"))
    deliveries = (
        pl.concat([pl.read_parquet(p) for p in paths]) if paths else pl.DataFrame(schema=DELIVERY_SCHEMA)
    )
    missing = set(SOURCES) - set(deliveries["source"])
    if missing:
        raise CommitError(f"run {run_id}: no ingest record for {sorted(missing)}; refusing to go on")
    quarantine_dir = build / "_quarantine"
    if not any(quarantine_dir.glob("*.parquet")):
        write_parquet(pl.DataFrame(schema=QUARANTINE_SCHEMA), quarantine_dir / "_none.parquet")
    # The divisions table is delivered when it changes; the latest delivery stays in force, so its
    # absence makes a month incomplete only when no earlier delivery exists.
    # A source delivered only when there is something to deliver (`Source.monthly`) is not missed.
    in_force = any(m < month and h.partition("divisions", m).exists() for m in h.months())
    occasional = [name for name, source in SOURCES.items() if not source.monthly]
    not_delivered = pl.col("status") == "not_delivered"
    problems = deliveries.filter(
        (pl.col("status") != "delivered")
        & ~((pl.col("source") == "divisions") & pl.lit(in_force) & not_delivered)
        & ~(pl.col("source").is_in(occasional) & not_delivered)
    )
    run = {
        "month": month,
        "build": meta["build"],
        "status": "incomplete" if problems.height else "success",
        "rule_version": meta["rule_version"],
        "suite_version": meta["suite_version"],
        "code_version": meta["code_version"],
        "files": deliveries.explode("files")
        .filter(pl.col("files").is_not_null())
        .select(pl.struct(pl.col("source"), pl.col("files").struct.unnest()).alias("f"))["f"]
        .to_list(),
        "rows_delivered": int(deliveries["rows_delivered"].sum()),
        "accepted": int(deliveries["accepted"].sum()),
        "quarantined": int(deliveries["quarantined"].sum()),
        "sources_not_delivered": problems.filter(pl.col("status") == "not_delivered")["source"].to_list(),
        "sources_unusable": problems.filter(pl.col("status") == "unusable")["source"].to_list(),
        "errors": problems.filter(pl.col("error").is_not_null())["error"].to_list(),
        "unknown_files": meta["unknown_files"],
    }
    write_json(run, build / "record.json")
    asked = asking.record_requests(h, month, division_codes(h, month))  # before the prefectures
    report_path = report.write(h, month, run, deliveries)
    say(
        "record",
        f"{month}: {run['status']}; {run['accepted']:,} rows accepted, {run['quarantined']:,} quarantined; "
        f"report {report_path.relative_to(build)} (published with the month); cross-region requests: "
        f"{asked['members']} members, {asked['applicants']} applicants, {asked['files']} files",
    )
    return {"month": month, "status": run["status"]}


def remove_leftovers(build: Path) -> None:
    """What tasks killed mid-write left in a build: their temporary files and folders (a folder's
    own files go with it, though listed after it)."""
    for left in [*build.rglob(".*.tmp"), *build.rglob(".*.old")]:
        shutil.rmtree(left, ignore_errors=True) if left.is_dir() else left.unlink(missing_ok=True)


def publish(month: str, home: str, run_id: str) -> dict:
    """The month's one commit point: the run manifest, the build renamed into the lake, then a new
    commit (catalog, warehouse, township files) made current by one rename. Safe to retry and to
    clear: every step checks what is already done."""
    h = open_build(home, run_id)
    build = h.building.path
    meta = _build_json(h)
    run = json.loads((build / "record.json").read_text(encoding="utf-8"))
    remove_leftovers(build)
    fault("publish", "manifest")
    manifest.write(h, month)
    target = h.lake / f"month={month}" / build.name
    entry = {
        "build": meta["build"],
        "base": meta["base"],
        "replaces": meta["replaces"],
        "previous": meta["previous"],
        "status": run["status"],
        "run_id": run_id,
    }
    with commit_lock(h.root):  # another run of the month may be publishing the same build
        now = Home(h.root).catalog.get(month, {}).get("build")
        seen = (runs.read(h, run_id) or {}).get("seen")
        if now not in (seen, meta["build"]):
            raise CommitError(
                f"run {run_id}: {month} was published as build {now} by another run since this one started "
                f"(it saw {seen}); start the month again so the build says what it replaces"
            )
        fault("publish", "rename")
        if target.exists():
            if not manifest.same(target / "manifest.json", build / "manifest.json"):
                raise CommitError(
                    f"run {run_id}: {target} exists with other contents than this run made from the same "
                    f"inputs in {build} (a result that is not reproducible); nothing published"
                )
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(build, target)
        seal(target)
        shutil.rmtree(h.staging(run_id), ignore_errors=True)
        replaced = Home(h.root).catalog.get(month, {}).get("build")
        fault("publish", "commit")
        seq = make_commit(h.root, month, entry, warehouse.write)
    fault("publish", "run log")
    runs.update(
        h,
        run_id,
        status=run["status"],
        finished_at=runs.now(),
        commit=seq,
        replaced=replaced if replaced != meta["build"] else None,
        error=None,
        failed_task=None,
        **{k: run[k] for k in runs.FIELDS if k in run and k not in ("month", "build", "status")},
    )
    say("publish", f"{month}: build {meta['build']} published as commit {seq} ({run['status']})")
    return {"month": month, "status": run["status"], "build": meta["build"], "commit": seq}
