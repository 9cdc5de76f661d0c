"""The decisions approved in a month, as `_decisions` in the build and as `decisions.csv` for the
civil-affairs business system that keeps the roster (CONTRACT.md "Assistance decisions").

A decision is an "approved" line of the log; what it decides is that line's, a field it leaves
null taken from the proposal it approves (the "proposed" line of the same proposal and version),
and `proposed_by` is that proposal's account. The month of a decision is the month of its approval
in China time, so a rerun of a month reads the same lines and writes the same bytes.
"""

from __future__ import annotations

import polars as pl

# decisions.csv: the contract's columns, in its order
CSV_COLUMNS = (
    "decision_id",
    "case_id",
    "household_id",
    "id_numbers",
    "kind",
    "category",
    "monthly_amount",
    "one_off_amount",
    "effective_from",
    "proposed_by",
    "approved_by",
    "approved_on",
)
TAKEN = (
    "case_id",
    "household_id",
    "township_code",
    "county_code",
    "kind",
    "category",
    "id_numbers",
    "monthly_amount",
    "one_off_amount",
    "effective_from",
)
SCHEMA = {
    "month": pl.String,
    "decision_id": pl.String,
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
    "proposed_by": pl.String,
    "proposed_at": pl.Datetime("us", "Asia/Shanghai"),  # the first proposal of this proposal id
    "approved_by": pl.String,
    "approved_at": pl.Datetime("us", "Asia/Shanghai"),
    "approved_on": pl.Date,
    "self_approved": pl.Boolean,
    "log_file": pl.String,
    "log_line": pl.Int64,
}
BOM = b"\xef\xbb\xbf"  # for Excel and WPS, as `safetynet query --format csv --bom`


def approved(log: pl.DataFrame) -> pl.DataFrame:
    """One row per decision in the log (`jobs.decisions.log.read`): its first approval line, the
    fields it leaves null from the proposal it approves; sorted by decision id."""
    proposals = log.filter(pl.col("event") == "proposed")
    version = proposals.sort("at_time", "log_file", "log_line").unique(
        ["proposal_id", "version"], keep="last"
    )
    first = proposals.group_by("proposal_id").agg(proposed_at=pl.col("at_time").min())
    approvals = (
        log.filter(pl.col("event") == "approved")
        .sort("at_time", "log_file", "log_line")
        .unique("proposal_id", keep="first")
        .with_columns(
            decision_id=pl.coalesce("decision_id", pl.lit("JD") + pl.col("proposal_id").str.slice(2))
        )
    )
    joined = approvals.join(
        version.select("proposal_id", "version", *TAKEN, proposed_by="account"),
        on=["proposal_id", "version"],
        how="left",
        suffix="_proposed",
    ).join(first, on="proposal_id", how="left")
    return (
        joined.with_columns(
            [pl.coalesce(c, f"{c}_proposed").alias(c) for c in TAKEN],
            month=pl.col("at_time").dt.strftime("%Y-%m"),
            approved_by=pl.col("account"),
            approved_at=pl.col("at_time"),
            approved_on=pl.col("at_time").dt.date(),
            self_approved=pl.col("self_approved").fill_null(False),
        )
        .select([pl.col(c).cast(t) for c, t in SCHEMA.items()])
        .sort("decision_id")
    )


def of_month(decisions: pl.DataFrame, month: str) -> pl.DataFrame:
    return decisions.filter(pl.col("month") == month)


def csv_bytes(decisions: pl.DataFrame) -> bytes:
    """decisions.csv: UTF-8 with BOM, the contract's columns, ID numbers joined by ';', amounts
    with two decimals, empty for none; one row per decision in decision-id order."""
    flat = decisions.sort("decision_id").select(
        *[pl.col(c) for c in CSV_COLUMNS if c not in ("id_numbers", "approved_on")],
        id_numbers=pl.col("id_numbers").list.join(";"),
        approved_on=pl.col("approved_on").dt.strftime("%Y-%m-%d"),
    )
    return BOM + flat.select(CSV_COLUMNS).write_csv(float_precision=2).encode("utf-8")
