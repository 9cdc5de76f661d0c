"""Corrections (更正) of closed cases' outcomes as a county reads them beside its townships' KPIs:
each a row that changes the outcome a run read for its id, read by a later month's run (the lake's
`outcomes`, as `v_outcomes` marks them) or uploaded and waiting for the next run. A township account
sees its own township's alone (the overview's area is its township)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from portal import uploads
from safetynet.lake import Home

CONTENT = ("outcome", "visited_on", "referred_to", "note")
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
    """The row each month's run followed for each id (its latest visit), as text."""
    scans = [s.with_columns(month=pl.lit(m)) for m in months if (s := home.scan("outcomes", m)) is not None]
    schema = {"lead_id": pl.String, "month": pl.String, **{c: pl.String for c in CONTENT}}
    if not scans:
        return pl.DataFrame(schema=schema)
    return (
        pl.concat([s.select(list(schema)) for s in scans], how="vertical_relaxed")
        .with_columns(pl.col(c).cast(pl.String) for c in CONTENT)
        .sort("lead_id", "month", "visited_on")
        .group_by("lead_id", "month", maintain_order=True)
        .last()
        .collect()
    )


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


def _changed() -> pl.Expr:
    """A row that says something else than the one before it (its columns `<column>_was`)."""
    return pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_was")) for c in CONTENT)


def corrections(home: Home, landing: Path | None, month: str, area: str) -> pl.DataFrame:
    """The corrections of `area`'s cases read by the runs up to `month`, and, at the latest month,
    those uploaded and waiting for the next run; newest first."""
    months = [m for m in sorted(home.catalog) if m <= month]
    places = _townships(home, months, area)
    returned = _returned(home, months).join(places.select("lead_id"), on="lead_id", how="semi")
    earlier = returned.select(
        "lead_id", pl.col("month").alias("after"), *[pl.col(c).alias(f"{c}_was") for c in CONTENT]
    )
    read = (
        returned.with_columns(after=pl.col("month").shift(1).over("lead_id"))
        .join(earlier, on=["lead_id", "after"], how="inner")
        .filter(_changed())
        .rename({"month": "read_in"})
    )
    frames = [read]
    if months and month == sorted(home.catalog)[-1]:
        latest = (
            returned.group_by("lead_id")
            .last()
            .select("lead_id", *[pl.col(c).alias(f"{c}_was") for c in CONTENT])
        )
        waiting = uploads.pending(home, landing, "*").select("lead_id", *CONTENT)
        if waiting.height:
            frames.append(
                waiting.join(latest, on="lead_id", how="inner")
                .filter(_changed())
                .with_columns(read_in=pl.lit(WAITING))
            )
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
