"""The month's asking, as jobs/month/run.py runs it: answers checked, the ledger and its files.

At ingest, the delivered answers are checked against the ledger (`refused_answers`); in the
`record` step, the ledger as of the month's end is written with the month's request files
(`record_requests`)."""

from __future__ import annotations

import polars as pl

from jobs.cross_region import ledger, received
from safetynet.lake import Home, write_parquet
from safetynet.months import month_bounds
from safetynet.rules import load_cross_region

ROSTER_COLUMNS = ["household_id", "id_number", "name", "hukou_division_code"]


def refused_answers(h: Home, month: str, rows: pl.LazyFrame) -> pl.DataFrame:
    """The delivered `cross_region_answers` rows answering no request of the latest published
    ledger, as quarantine rows with their reasons (`received.unasked`)."""
    return received.unasked(ledger.previous(h, month), rows)


def record_requests(h: Home, month: str, division_codes: list[str] | None) -> dict:
    """Write the build's `_xr_requests` (the ledger as of the month's end) and its outgoing files;
    returns counts. Members are asked about only when the monitoring province is known (the
    divisions in force) and the month's roster was delivered."""
    build = h.building.path
    rules = load_cross_region(month)
    _, end = month_bounds(month)
    before = ledger.previous(h, month)
    lines = ledger.applicants(h.root, month, build / ledger.APPLICATIONS_FILE)  # as the run started
    applied = ledger.not_pending(lines, before)
    earlier = received.apply(
        pl.concat([before, applied], how="diagonal_relaxed").unique(
            "request_id", keep="first", maintain_order=True
        ),
        h.read(received.SOURCE, month, ["request_id", "item", "answered_on"]),
        end,
    )
    province = ledger.monitoring_province(division_codes)
    roster = h.read("roster", month, ROSTER_COLUMNS)
    members = (
        ledger.members_due(roster, province, earlier, month, rules)
        if province is not None and roster is not None
        else pl.DataFrame(schema=ledger.REQUEST_SCHEMA)
    )
    whole = received.apply(pl.concat([earlier, members], how="diagonal_relaxed"), None, end).sort(
        "requested_month", "request_id"
    )
    write_parquet(whole, h.partition(ledger.REQUESTS, month) / "data.parquet")
    files = ledger.write_outgoing(whole, month, build)
    counts = whole.group_by("status").len()
    return {
        "province": province,
        "members": members.height,
        "applicants": applied.height,
        "files": len(files),
        **{row["status"]: row["len"] for row in counts.iter_rows(named=True)},
    }
