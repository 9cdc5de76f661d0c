"""Corrections (更正) of closed cases' outcomes as a county reads them beside its townships' KPIs:
each an outcome that changed what closed its case (the conclusion, date or referral:
jobs/cases/lifecycle.py `CORRECTED`), read by a later month's run (the mark `corrects_outcome` the
lifecycle writes in `_cases`, which `v_outcomes` reads too) or uploaded and waiting for the next run.
A township account sees its own township's alone (the overview's area is its township)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from portal import uploads
from safetynet.lake import Home

CONTENT = uploads.CONTENT
WAITING = "待下月读取"
COLUMNS = {
    "township_code": pl.String,
    "lead_id": pl.String,
    "was": pl.String,  # the conclusion it corrects
    "now": pl.String,
    "note": pl.String,  # the reason given
    "visited_on": pl.String,
    "read_in": pl.String,  # the month whose run read it, or WAITING
}


def _returned(home: Home, months: list[str]) -> pl.DataFrame:
    """The row each month's run followed for each id (its latest visit, as the lifecycle's
    `outcomes_by_case` orders them), as text."""
    scans = [s.with_columns(month=pl.lit(m)) for m in months if (s := home.scan("outcomes", m)) is not None]
    schema = {"lead_id": pl.String, "month": pl.String, **{c: pl.String for c in CONTENT}}
    if not scans:
        return pl.DataFrame(schema=schema)
    order = ["lead_id", "month", "visited_on", "source_file", "source_row"]
    return (
        pl.concat([s.select(*schema, "source_file", "source_row") for s in scans], how="vertical_relaxed")
        .sort(order)
        .group_by("lead_id", "month", maintain_order=True)
        .last()
        .select(list(schema))
        .with_columns(pl.col(c).cast(pl.String) for c in CONTENT)
        .collect()
    )


def _marked(home: Home, months: list[str]) -> pl.DataFrame:
    """The corrections each month's run read: its cases marked `corrects_outcome` (`_cases`)."""
    schema = {"lead_id": pl.String, "month": pl.String, "outcome_was": pl.String}
    frames = [pl.DataFrame(schema=schema)]
    for m in months:
        scan = home.scan("_cases", m)
        if scan is None or "corrects_outcome" not in scan.collect_schema().names():
            continue  # a month built before the mark was kept
        frames.append(
            scan.filter(pl.col("corrects_outcome").is_not_null())
            .select(lead_id="case_id", month=pl.lit(m), outcome_was="corrects_outcome")
            .collect()
        )
    return pl.concat(frames)


def _townships(home: Home, months: list[str], area: str) -> pl.DataFrame:
    """The township each id of `area` was last issued to."""
    paths = [p for m in months for p in home.files("_issued", m)]
    if not paths:
        return pl.DataFrame(schema={"lead_id": pl.String, "township_code": pl.String})
    return (
        pl.scan_parquet(paths)
        .sort("month")
        .group_by("id")
        .agg(pl.col("township_code").last())
        .filter(pl.col("township_code").str.starts_with(area))
        .select(lead_id="id", township_code="township_code")
        .collect()
    )


def _waiting(home: Home, landing: Path | None, places: pl.DataFrame) -> pl.DataFrame:
    """The outcomes uploaded and not yet read that correct a closed case of `places`: what they say
    differs from what closed it (`uploads.corrected_part`)."""
    waiting = uploads.pending(home, landing, "*").join(places.select("lead_id"), on="lead_id", how="semi")
    read = uploads.read_back(home, waiting["lead_id"].unique().to_list())
    rows = []
    for r in waiting.select("lead_id", *CONTENT).cast(pl.String).iter_rows(named=True):
        done = read.get(r["lead_id"])
        says = uploads.corrected_part(tuple(r[c] or None for c in CONTENT))
        if done is not None and done.closed and says != uploads.corrected_part(done.content):
            rows.append({**r, "read_in": WAITING, "outcome_was": done.outcome})
    schema = {"lead_id": pl.String, **{c: pl.String for c in CONTENT}, "read_in": pl.String}
    return pl.DataFrame(rows, schema={**schema, "outcome_was": pl.String})


def corrections(home: Home, landing: Path | None, month: str, area: str) -> pl.DataFrame:
    """The corrections of `area`'s cases read by the runs up to `month`, and, at the latest month,
    those uploaded and waiting for the next run; newest first."""
    months = [m for m in sorted(home.catalog) if m <= month]
    places = _townships(home, months, area)
    read = (
        _marked(home, months)
        .join(_returned(home, months), on=["lead_id", "month"], how="inner")
        .rename({"month": "read_in"})
    )
    frames = [read]
    if months and month == sorted(home.catalog)[-1]:
        frames.append(_waiting(home, landing, places))
    found = pl.concat([f.select("lead_id", "read_in", *CONTENT, "outcome_was") for f in frames])
    return (
        found.join(places, on="lead_id", how="inner")
        .select(
            "township_code",
            "lead_id",
            was="outcome_was",
            now="outcome",
            note="note",
            visited_on="visited_on",
            read_in="read_in",
        )
        .sort("read_in", "township_code", "lead_id", descending=[True, False, False])
        .cast(COLUMNS)
    )
