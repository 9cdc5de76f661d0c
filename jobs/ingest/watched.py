"""The application checks a month watches: read from the application log (written by
jobs/applications/checks.py), fixed in the month's build when its run starts, and assembled with the
month's households (jobs/assess/households.py) so that the event rules see the applicants."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl

from safetynet.contract import SOURCES
from safetynet.lake import Home
from safetynet.months import add_months, month_bounds

NEW_APPLICANT = "其他低收入"  # the category an applicant in none is checked as


def log_folder(home: Path) -> Path:
    return home / "lake" / "_applications" / "log"


def entries(home: Path, months: tuple[str, str] | None = None) -> list[dict]:
    """The log's lines of `months` (first, last; all without), newest first."""
    out: list[dict] = []
    for path in sorted(log_folder(home).glob("*.jsonl"), reverse=True):
        if months and not months[0] <= path.stem <= months[1]:
            continue
        # the last line may be being written: only lines ended by a newline are read
        found = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n")[:-1] if line]
        out += sorted(reversed(found), key=lambda e: e["at"], reverse=True)  # of one time: the later line
    return out


def records(
    home: Path, area: str = "", months: tuple[str, str] | None = None, limit: int | None = None
) -> list[dict]:
    """The log's checked applications of townships starting with `area`, newest first: of the log
    files of `months` (first, last) only, and the newest `limit` only."""
    found = [
        e
        for e in entries(home, months)
        if e["status"] == "checked" and (e["township_code"] or "").startswith(area)
    ]
    return found if limit is None else found[:limit]


def watched(home: Path, month: str, months: int) -> list[dict]:
    """The applications a month watches: checked in the `months` months ending with it (never after
    its last day, so a rerun reads the same ones), the latest check of each household."""
    _, end = month_bounds(month)
    since = add_months(month, -months)
    latest: dict[str, dict] = {}
    for entry in records(home, months=(add_months(since, 1), month)):  # newest first
        if since < entry["at"][:7] and entry["at"][:10] <= end.isoformat():
            latest.setdefault(entry["household_id"], entry)
    return sorted(latest.values(), key=lambda e: e["application_id"])


WATCHED_FILE = "watched_applications.json"  # in a month's build: the checks it watched


def write_watched(home: Path, month: str, months: int, build: Path) -> str | None:
    """The checks a month watches, written into its build when the run starts (what its households
    are assembled from, whatever is checked meanwhile); returns their digest for the build's
    content id (None: none)."""
    entries = [
        {k: e[k] for k in ("application_id", "household_id", "report_file", "report_sha256")}
        for e in watched(home, month, months)
    ]
    if not entries:
        return None
    text = json.dumps(entries, ensure_ascii=False, indent=1, sort_keys=True)
    (build / WATCHED_FILE).write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode()).hexdigest()


def watched_members(home: Home, month: str) -> pl.DataFrame | None:
    """The members of the checks the month's build watches, as roster rows with their
    `application_id`: an applicant turned away (or not yet enrolled) is assembled with the month's
    households, and only the event rules raise a lead for it (jobs/assess/leads.warn)."""
    build = home.build_dir(month)
    path = build / WATCHED_FILE if build else None
    if path is None or not path.exists():
        return None
    roster = [c.name for c in SOURCES["roster"].columns]
    frames = [
        pl.read_parquet(home.lake / Path(e["report_file"]).parent / "members.parquet").select(
            *roster, "application_id", "source_file", "source_row"
        )
        for e in json.loads(path.read_text(encoding="utf-8"))
    ]
    return pl.concat(frames, how="vertical_relaxed").with_columns(
        category=pl.col("category").fill_null(NEW_APPLICANT), month=pl.lit(month)
    )
