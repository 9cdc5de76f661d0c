"""The decision log as the run reads it: `<home>/lake/_decision_log/<YYYY-MM>.jsonl`, one JSON line per
step, appended by the portal and never rewritten (the fields: docs/data-team/decisions.md).

A run reads the log once, at its start (`snapshot`): the lines of the months up to its own go into
the build (`<build>/_decision_log/data.parquet`) with their digest in the build's id, and everything
after (the month's decisions, the views of the commit) reads that copy, never the live files, so a
month reads the same however the log grows later. Only the months a run needs are read; a line that
is not JSON, or lacks a field, is an error naming the file and the line. Every line keeps its file
and line number (`log_file`, `log_line`): the source a view shows for a step.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import polars as pl

from safetynet.errors import SafetynetError
from safetynet.lake import Home

FOLDER = "_decision_log"
CHINA = dt.timezone(dt.timedelta(hours=8))  # a step's month and day are China's
EVENTS = ("proposed", "returned", "approved")
# The fields of a line (s7 interface, CONTRACT.md "Assistance decisions"), all present, null when
# not applicable; the DuckDB type of each is what v_decisions reads (jobs/publish/warehouse.py).
FIELDS: dict[str, pl.DataType] = {
    "at": pl.String,
    "event": pl.String,
    "proposal_id": pl.String,
    "version": pl.Int32,
    "case_id": pl.String,
    "household_id": pl.String,
    "township_code": pl.String,
    "county_code": pl.String,
    "kind": pl.String,
    "category": pl.String,
    "id_numbers": pl.List(pl.String),
    "monthly_amount": pl.Float64,
    "one_off_amount": pl.Float64,
    "effective_from": pl.String,
    "reason": pl.String,
    "account": pl.String,
    "role": pl.String,
    "decision_id": pl.String,
    "self_approved": pl.Boolean,
}
# what JSON gives each field that is not text (null aside)
TYPES: dict[str, type | tuple[type, ...]] = {
    "version": int,
    "id_numbers": list,
    "monthly_amount": (int, float),
    "one_off_amount": (int, float),
    "self_approved": bool,
}
TYPES |= {f: str for f, t in FIELDS.items() if t == pl.String}
TYPE_NAMES = {
    int: "a whole number",
    list: "a list",
    (int, float): "a number",
    bool: "true or false",
    str: "a text",
}
SCHEMA = {
    **FIELDS,
    "at_time": pl.Datetime("us", "Asia/Shanghai"),
    "log_file": pl.String,
    "log_line": pl.Int64,
}
MONTH_FILE = re.compile(r"^(\d{4}-\d{2})\.jsonl$")


class DecisionLogError(SafetynetError):
    """A line of the decision log that cannot be read (names the file and line)."""


def files(lake: Path, up_to: str) -> list[Path]:
    """The log's month files up to `up_to` (included), oldest first."""
    found = [p for p in (lake / FOLDER).glob("*.jsonl") if (m := MONTH_FILE.match(p.name)) and m[1] <= up_to]
    return sorted(found)


def digest(lake: Path, up_to: str) -> str | None:
    """SHA-256 of the log files a run of `up_to` reads, None when there are none: part of the build's
    id, so that a run on a log that has grown is a new build, never the same one with other bytes."""
    found = files(lake, up_to)
    if not found:
        return None
    h = hashlib.sha256()
    for path in found:
        h.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def _line(text: str, where: str) -> dict:
    try:
        entry = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DecisionLogError(f"{where}: not a JSON line ({exc.msg})") from None
    if not isinstance(entry, dict):
        raise DecisionLogError(f"{where}: not a JSON object")
    missing = [f for f in FIELDS if f not in entry]
    if missing:
        raise DecisionLogError(f"{where}: fields missing: {', '.join(missing)}")
    for field, wanted in TYPES.items():
        value = entry[field]
        if value is not None and (
            not isinstance(value, wanted) or isinstance(value, bool) != (wanted is bool)
        ):
            raise DecisionLogError(f"{where}: {field} {value!r} is not {TYPE_NAMES[wanted]}")
    if entry["id_numbers"] is not None and not all(isinstance(i, str) for i in entry["id_numbers"]):
        raise DecisionLogError(f"{where}: id_numbers {entry['id_numbers']!r} is not a list of texts")
    if entry["event"] not in EVENTS:
        raise DecisionLogError(f"{where}: event {entry['event']!r} is not one of {', '.join(EVENTS)}")
    try:
        at = dt.datetime.fromisoformat(entry["at"])
    except (TypeError, ValueError):
        raise DecisionLogError(f"{where}: at {entry['at']!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise DecisionLogError(f"{where}: at {entry['at']!r} has no time zone (+08:00)")
    return {f: entry[f] for f in FIELDS} | {"at_time": at.astimezone(CHINA)}


def checked_line(text: str, where: str) -> dict:
    """One line of the log, checked as a run checks it (every field, its type, the event, the time
    with its zone): its fields and `at_time`, else DecisionLogError naming `where` (file and line).
    The portal reads the log through this too (portal/decisions.py)."""
    return _line(text, where)


def _rows(texts: list[tuple[str, bytes]]) -> pl.DataFrame:
    """The typed lines (`SCHEMA`) of (file name, bytes) month files, in file and line order."""
    rows = []
    for file_name, data in texts:
        name = f"{FOLDER}/{file_name}"
        for number, text in enumerate(data.decode("utf-8").splitlines(), start=1):
            if text.strip():
                rows.append(
                    _line(text, f"lake/{name}, line {number}") | {"log_file": name, "log_line": number}
                )
    return pl.DataFrame(rows, schema=SCHEMA, orient="row") if rows else pl.DataFrame(schema=SCHEMA)


def read(lake: Path, up_to: str) -> pl.DataFrame:
    """Every line of the months up to `up_to`, typed (`SCHEMA`), in file and line order."""
    return _rows([(p.name, p.read_bytes()) for p in files(lake, up_to)])


def snapshot(lake: Path, up_to: str) -> tuple[pl.DataFrame, str | None]:
    """The lines a run of `up_to` reads and their digest (as `digest`), from one reading of the
    files: what the build holds is exactly what its id names."""
    texts = [(p.name, p.read_bytes()) for p in files(lake, up_to)]
    if not texts:
        return pl.DataFrame(schema=SCHEMA), None
    h = hashlib.sha256()
    for name, data in texts:
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return _rows(texts), h.hexdigest()[:16]


def of_build(h: Home, month: str) -> pl.DataFrame:
    """The log as the run of `month` read it at its start (`snapshot`, in the build)."""
    found = h.read(FOLDER, month)
    return found if found is not None else pl.DataFrame(schema=SCHEMA)


def line(**fields: object) -> str:
    """One log line as the portal writes it (every field, null when not given): for the synthetic
    world and the tests, which write through the same fields."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ValueError(f"not a field of the decision log: {', '.join(unknown)}")
    return json.dumps({f: fields.get(f) for f in FIELDS}, ensure_ascii=False, sort_keys=True) + "\n"
