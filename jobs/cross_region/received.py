"""Answers in (跨省核对结果): delivered answers checked against the ledger, which they then update.

An answer row is refused into `_quarantine` with its reason when it names a request never made
(unknown request_id), an item the request did not ask, a region other than the one asked, or an id
number other than the request's: the ledger is the latest published month's `_xr_requests` (answers
arriving in a month answer requests made before it). The rows accepted then update the ledger's
answered items, answered_on, pending items and status (`apply`).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from jobs.cross_region.ledger import LEDGER_SCHEMA, joined, status
from jobs.ingest.deliveries import META

SOURCE = "cross_region_answers"

# check -> (column, reason template: the row, its value, what the request holds)
PROBLEMS = {
    "unknown_request": ("request_id", "{} row {}: request {} was never made by this province"),
    "item_not_asked": ("item", "{} row {}: item {} was not asked by request {} (asked: {})"),
    "region_not_asked": ("region", "{} row {}: answered by region {}, but request {} asked region {}"),
    "other_person": ("id_number", "{} row {}: id number {} is not the one request {} asked about"),
}


def unasked(ledger: pl.DataFrame, rows: pl.LazyFrame) -> pl.DataFrame:
    """The delivered answer rows (`rows`: as delivered, strings, `META`) that do not answer a request
    of the `ledger`, one quarantine row each (`META`, column, check, reason, raw_value) naming its
    first problem, in delivery order."""
    asked = ledger.lazy().select(
        "request_id",
        asked_items=pl.col("items").str.split(";"),
        asked_region="region",
        asked_id="id_number",
    )
    found = rows.select(*META, "request_id", "item", "region", "id_number").join(
        asked, on="request_id", how="left"
    )
    known = pl.col("asked_region").is_not_null()
    checks = {
        "unknown_request": ~known,
        "item_not_asked": ~pl.col("asked_items").list.contains(pl.col("item")).fill_null(False),
        "region_not_asked": pl.col("region") != pl.col("asked_region"),
        "other_person": pl.col("id_number") != pl.col("asked_id"),
    }
    reasons = {
        "unknown_request": pl.format(PROBLEMS["unknown_request"][1], *META, "request_id"),
        "item_not_asked": pl.format(
            PROBLEMS["item_not_asked"][1], *META, "item", "request_id", pl.col("asked_items").list.join(";")
        ),
        "region_not_asked": pl.format(
            PROBLEMS["region_not_asked"][1], *META, "region", "request_id", "asked_region"
        ),
        "other_person": pl.format(PROBLEMS["other_person"][1], *META, "id_number", "request_id"),
    }
    check, reason, column = pl.lit(None, pl.String), pl.lit(None, pl.String), pl.lit(None, pl.String)
    for name in reversed(PROBLEMS):  # the first problem wins: an unknown request hides the others
        hit = checks[name].fill_null(False)
        check = pl.when(hit).then(pl.lit(name)).otherwise(check)
        reason = pl.when(hit).then(reasons[name]).otherwise(reason)
        column = pl.when(hit).then(pl.lit(PROBLEMS[name][0])).otherwise(column)
    out = found.with_columns(check=check, reason=reason, column=column).filter(pl.col("check").is_not_null())
    named = ("request_id", "item", "region", "id_number")
    raw = pl.coalesce(*(pl.when(pl.col("column") == c).then(pl.col(c)) for c in named))
    return out.select(*META, "column", "check", "reason", raw_value=raw).sort(META).collect()


def apply(ledger: pl.DataFrame, answers: pl.DataFrame | None, as_of: dt.date) -> pl.DataFrame:
    """The ledger with the accepted `answers` (request_id, item, answered_on) added: answered items
    (those answered before and now), the latest answer date, pending items and status as of `as_of`."""
    if answers is not None and answers.height:
        got = (
            answers.select("request_id", "item", "answered_on")
            .group_by("request_id")
            .agg(new_items=pl.col("item").unique(), new_on=pl.col("answered_on").max())
        )
        ledger = (
            ledger.join(got, on="request_id", how="left")
            .with_columns(
                answered_items=pl.concat_list(
                    pl.col("answered_items").fill_null("").str.split(";"),
                    pl.col("new_items").fill_null(pl.lit([], pl.List(pl.String))),
                ).map_elements(lambda items: joined(set(items)), return_dtype=pl.String),
                answered_on=pl.max_horizontal("answered_on", "new_on"),
            )
            .drop("new_items", "new_on")
        )
    return status(ledger.select(list(LEDGER_SCHEMA)), as_of).select(list(LEDGER_SCHEMA))
