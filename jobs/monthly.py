"""The monthly load, one function per DAG task: start, ingest (one per source), publish.

Every task writes under `<home>/staging/<run_id>/` only; `publish` swaps the month's partitions
into the lake. A rerun of a month therefore replaces it, and a run that fails half-way publishes
nothing. Sources that were not delivered, or that are unusable as a whole, are recorded as such
and the month is marked incomplete; they never count as "no events".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from jobs.ingest import DeliveredFile, find_deliveries, read_source
from jobs.lake import Home, replace_dir, write_parquet
from jobs.validate import QUARANTINE_SCHEMA, validate
from safetynet.contract import SOURCES
from safetynet.errors import DeliveryError, LandingError
from safetynet.progress import say, timed
from safetynet.versions import rule_version, suite_version

TZ = ZoneInfo("Asia/Shanghai")  # civil-affairs months are calendar months in China Standard Time
MONTH_FORMAT = "%Y-%m"

FILES_TYPE = pl.List(
    pl.Struct(
        {"file": pl.String, "sha256": pl.String, "bytes": pl.Int64, "encoding": pl.String, "rows": pl.Int64}
    )
)
DELIVERY_SCHEMA = {
    "run_id": pl.String,
    "source": pl.String,
    "status": pl.String,
    "files": FILES_TYPE,
    "rows_delivered": pl.Int64,
    "accepted": pl.Int64,
    "quarantined": pl.Int64,
    "error": pl.String,
    "ignored_columns": pl.List(pl.String),
    "ge_results": pl.String,
}


def month_of(data_interval_start: dt.datetime) -> str:
    """The month a run covers: its data interval's start, in China Standard Time."""
    return data_interval_start.astimezone(TZ).strftime(MONTH_FORMAT)


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


def start(month: str, landing: str, home: str, run_id: str) -> dict:
    """Check the landing folder and open the run's staging area."""
    found = preflight(Path(landing), month)
    from jobs.assess import checked_rules
    from safetynet.pdf import find_font

    checked_rules()  # a rule set that does not load stops the run before anything is written
    find_font()  # so does a machine that cannot draw the township reports
    _, unknown = find_deliveries(Path(landing) / month)
    for path in unknown:
        say("start", f"ignored: {path} is not a file name of the contract")
    staging = Home(Path(home)).staging(run_id)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    meta = {
        "run_id": run_id,
        "month": month,
        "started_at": dt.datetime.now(dt.UTC).isoformat(),
        "landing": str(Path(landing).resolve()),
        "unknown_files": [p.name for p in unknown],
    }
    (staging / "run.json").write_text(json.dumps(meta, ensure_ascii=False))
    say(
        "start",
        f"{month}: {sum(len(v) for v in found.values())} files for {len(found)} of {len(SOURCES)} sources",
    )
    return {"month": month, "delivered": sorted(found)}


def division_codes(home: Home, run_id: str, month: str) -> list[str] | None:
    """Codes of the latest divisions delivery at or before `month` (this run's own, if delivered)."""
    staged = home.staging(run_id) / "divisions" / "data.parquet"
    if staged.exists():
        return pl.read_parquet(staged, columns=["division_code"])["division_code"].to_list()
    partitions = sorted(
        p for p in (home.lake / "divisions").glob("month=*") if p.name.removeprefix("month=") < month
    )
    if not partitions:
        return None
    return pl.read_parquet(partitions[-1] / "data.parquet", columns=["division_code"])[
        "division_code"
    ].to_list()


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
    target.mkdir(parents=True, exist_ok=True)
    for path in paths:
        dest = target / path.name
        # A copy, not a hard link: a department that overwrites its file in place must not
        # change what was archived under this run's SHA-256.
        shutil.copyfile(path, dest)


def ingest(source: str, month: str, landing: str, home: str, run_id: str) -> dict:
    """Read, cast and validate one source into staging; returns its counts (for XCom and the log)."""
    h = Home(Path(home))
    staging = h.staging(run_id)
    found, _ = find_deliveries(Path(landing) / month)
    paths = found.get(source, [])
    record = {
        "run_id": run_id,
        "source": source,
        "status": "not_delivered",
        "files": [],
        "rows_delivered": None,
        "accepted": None,
        "quarantined": None,
        "error": None,
        "ignored_columns": [],
        "ge_results": None,
    }
    with timed(f"ingest {source}") as info:
        if not paths:
            info["status"] = "not delivered"
        else:
            _archive(paths, staging / "_raw" / source)
            try:
                raw = read_source(source, paths)
            except DeliveryError as exc:
                record.update(status="unusable", error=str(exc), files=[_raw_record(p) for p in paths])
                info["status"] = f"UNUSABLE: {exc}"
            else:
                codes = division_codes(h, run_id, month) if source != "divisions" else None
                result = validate(raw, month, codes)
                accepted = result.accepted.with_columns(run_id=pl.lit(run_id))
                write_parquet(accepted, staging / source / "data.parquet")
                write_parquet(result.quarantine, staging / "_quarantine" / f"{source}.parquet")
                record.update(
                    status="delivered",
                    files=[_file_record(f) for f in raw.files],
                    rows_delivered=result.delivered,
                    accepted=result.accepted.height,
                    quarantined=result.quarantined,
                    ignored_columns=raw.ignored_columns,
                    ge_results=json.dumps(result.ge_results, ensure_ascii=False, default=str),
                )
                if codes is None and source != "divisions":
                    record["error"] = "no divisions delivery in force: division codes not checked"
                info.update(
                    delivered=result.delivered,
                    accepted=result.accepted.height,
                    quarantined=result.quarantined,
                )
    write_parquet(
        pl.DataFrame([record], schema=DELIVERY_SCHEMA), staging / "_deliveries" / f"{source}.parquet"
    )
    return {k: record[k] for k in ("source", "status", "rows_delivered", "accepted", "quarantined", "error")}


def publish(month: str, home: str, run_id: str) -> dict:
    """Swap the month's partitions in, record the run, write the report, refresh the warehouse."""
    from jobs import report, warehouse

    h = Home(Path(home))
    staging = h.staging(run_id)
    meta = json.loads((staging / "run.json").read_text())
    deliveries = pl.concat([pl.read_parquet(p) for p in sorted((staging / "_deliveries").glob("*.parquet"))])
    missing = set(SOURCES) - set(deliveries["source"])
    if missing:
        raise RuntimeError(f"run {run_id}: no ingest record for {sorted(missing)}; refusing to publish")
    quarantine_dir = staging / "_quarantine"
    if not any(quarantine_dir.glob("*.parquet")):
        write_parquet(pl.DataFrame(schema=QUARANTINE_SCHEMA), quarantine_dir / "_none.parquet")
    for source in SOURCES:
        staged = staging / source
        replace_dir(staged if staged.exists() else None, h.partition(source, month))
    for dataset in ("_quarantine", "_deliveries", "_raw"):
        staged = staging / dataset
        replace_dir(staged if staged.exists() else None, h.partition(dataset, month))

    # The divisions table is delivered when it changes; the latest delivery stays in force, so its
    # absence makes a month incomplete only when no earlier delivery exists.
    in_force = any(p.name < f"month={month}" for p in (h.lake / "divisions").glob("month=*"))
    problems = deliveries.filter(
        (pl.col("status") != "delivered")
        & ~((pl.col("source") == "divisions") & pl.lit(in_force) & (pl.col("status") == "not_delivered"))
    )
    status = "incomplete" if problems.height else "success"
    run = {
        "run_id": run_id,
        "month": month,
        "started_at": dt.datetime.fromisoformat(meta["started_at"]),
        "finished_at": dt.datetime.now(dt.UTC),
        "status": status,
        "rule_version": rule_version(),
        "suite_version": suite_version(),
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
    write_parquet(pl.DataFrame([run]), h.lake / "_runs" / f"{h.staging(run_id).name}.parquet")
    report_path = report.write(h, month, run, deliveries)
    warehouse.refresh(h)
    shutil.rmtree(staging, ignore_errors=True)
    say(
        "publish",
        f"{month}: {status}; {run['accepted']:,} rows accepted, {run['quarantined']:,} quarantined; "
        f"report {report_path}",
    )
    return {"month": month, "status": status, "report": str(report_path), "warehouse": str(h.warehouse)}
