"""Validate one source against its Great Expectations suite; split its rows into accepted and quarantined.

Two engines read the same suite:

* Polars evaluates every expectation on every row, vectorised, and says which rows fail and why.
  This is what decides the quarantine: at province scale (5 M persons) GE's pandas engine is far
  beyond the monthly budget (figures: docs/data-team/validation.md).
* GE's own engine validates a deterministic sample of the same rows with the same suite, and its
  per-row verdicts must agree with Polars' for that sample; a disagreement fails the task. The GE
  results are what the validation report shows. GE's context and each suite are started once per
  process and reused (`jobs/ingest/ge_engine.py`).

A month's ingest checks its rows a batch at a time (`check`, `SAFETYNET_BATCH_ROWS`), so its memory
follows the batch and not the delivery (figures: docs/design/benchmark-history.md, "Per task"). What
needs every row is found before the batches: exact duplicates and conflicting keys, from a hash of
each row and the key columns alone. The month's bytes do not depend on the batch size (tested).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from jobs.ingest import ge_engine
from jobs.ingest.deliveries import META, RawSource, cast
from jobs.ingest.expectations import load_suite, register_custom_expectations
from safetynet.contract import HISTORY, Source
from safetynet.errors import SafetynetError
from safetynet.ids import id_problem_expr, valid_id_expr
from safetynet.months import add_months, month_bounds
from safetynet.rules import load_population

QUARANTINE_SCHEMA = {
    "source": pl.String,
    "source_file": pl.String,
    "source_row": pl.Int64,
    "column": pl.String,
    "check": pl.String,
    "reason": pl.String,
    "raw_value": pl.String,
    # the row's household as delivered (roster): its members are then not all known this month
    "household_id": pl.String,
}
# Rows GE's engine checks per source (the sample is seeded, so a rerun checks the same rows).
GE_SAMPLE_ROWS = 5_000
UNIQUENESS = {"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"}


class EnginesDisagree(SafetynetError):
    """GE's engine and the Polars translation of a suite gave different verdicts: a bug to fix."""


@dataclass
class Validated:
    quarantine: pl.DataFrame
    delivered: int
    accepted_rows: int
    ge_results: list[dict] = field(default_factory=list)
    accepted: pl.DataFrame | None = None  # when validated in memory (`validate`)

    @property
    def quarantined(self) -> int:
        return self.delivered - self.accepted_rows


def month_parameters(
    month: str,
    division_codes: list[str] | None,
    issued_ids: list[str] | None = None,
    closed_ids: list[str] | None = None,
) -> dict:
    """Suite parameters for a month: its last day, the event window, the divisions in force, the ids
    issued to townships before it (what `outcomes` may name) and those of cases already closed."""
    start, end = month_bounds(month)
    population = load_population(month=month)
    return {
        "month": month,
        "month_end": end,
        # Departments report events late; rows dated up to late_report_months back are accepted.
        "event_window_start": month_bounds(add_months(month, -population.late_report_months))[0],
        "earliest_date": dt.date(1900, 1, 1),  # an earlier date is a typing error in every source
        "division_codes": division_codes,
        "issued_ids": issued_ids,
        "closed_ids": closed_ids,
    }


def _param(value: object, params: dict) -> object:
    if isinstance(value, dict) and "$PARAMETER" in value:
        return params[value["$PARAMETER"]]
    return value


def failure_expr(exp: dict, params: dict) -> tuple[pl.Expr, pl.Expr] | None:
    """(fails, reason) for one expectation: a cheap boolean for every row, and the reason text,
    which is only computed for the rows that fail. None for table-level expectations."""
    kw = {k: _param(v, params) for k, v in exp["kwargs"].items()}
    reason = pl.lit(exp["meta"]["reason"])
    kind = exp["type"]
    if kind in UNIQUENESS:
        return None
    c = pl.col(kw["column"])
    if kind == "expect_column_values_to_not_be_null":
        return c.is_null(), reason
    if kind == "expect_column_values_to_be_valid_resident_id_number":
        return c.is_not_null() & ~valid_id_expr(c), id_problem_expr(c)
    if kind == "expect_column_values_to_match_regex":
        return c.is_not_null() & ~c.str.contains(kw["regex"]), reason
    if kind == "expect_column_values_to_be_in_set":
        if kw["value_set"] is None:  # no divisions delivery in force: reported, not guessed
            return None
        return c.is_not_null() & ~c.is_in(pl.Series(kw["value_set"], dtype=pl.String).implode()), reason
    if kind == "expect_column_values_to_not_be_in_set":
        if kw["value_set"] is None:
            return None
        return c.is_not_null() & c.is_in(pl.Series(kw["value_set"], dtype=pl.String).implode()), reason
    if kind == "expect_column_values_to_be_between":
        lo, hi = kw.get("min_value"), kw.get("max_value")
        fails = pl.lit(False)
        if lo is not None:
            fails = fails | (c < pl.lit(lo))
        if hi is not None:
            fails = fails | (c > pl.lit(hi))
        return (c.is_not_null() & fails).fill_null(False), reason
    raise ValueError(f"expectation type {kind} has no Polars translation")


def _duplicates(rows: pl.LazyFrame, columns: list[str], key: list[str]) -> pl.DataFrame:
    """Exact duplicate rows (later copies, across a source's parts) and conflicting keys (all rows),
    of `rows` as delivered (with their number `__i`).

    Rows are grouped by a 64-bit hash first (one cheap column instead of every column), then the
    few candidate groups are compared exactly, so a hash collision can never quarantine a row. Only
    the hashes, the keys and the candidates are held, never every column of every row.
    """
    hashed = rows.select("__i", h=pl.struct(columns).hash(seed=20_240_101)).collect(engine="streaming")
    later = hashed.select("__i", first_i=pl.col("__i").min().over("h")).filter(
        pl.col("first_i") != pl.col("__i")
    )
    del hashed
    candidates = rows.filter(pl.col("__i").is_in(pl.concat([later["__i"], later["first_i"]]).implode()))
    candidates = candidates.collect()

    def values(numbers: pl.Series) -> pl.DataFrame:
        found = numbers.rename("__i").to_frame().join(candidates, on="__i", how="left", maintain_order="left")
        return found.select(pl.col(columns).fill_null("\0"))

    same = (values(later["__i"]) == values(later["first_i"])).select(pl.all_horizontal(pl.all())).to_series()
    later = later.filter(same) if later.height else later
    copies = later.join(
        candidates.select(pl.col("__i").alias("first_i"), first_file="source_file", first_row="source_row"),
        on="first_i",
    ).select(
        "__i",
        column=pl.lit("*"),
        check=pl.lit("duplicate_row"),
        reason=pl.format("exact duplicate of {} row {}", pl.col("first_file"), pl.col("first_row")),
        raw_value=pl.lit(None, pl.String),
    )
    out = [copies]
    if key:
        originals = (
            rows.select("__i", *key)
            .filter(
                ~pl.col("__i").is_in(later["__i"].implode())
                & pl.all_horizontal(pl.col(k).is_not_null() for k in key)
            )
            .collect(engine="streaming")
        )
        shared = originals.filter(pl.len().over(pl.struct(key).hash(seed=7)) > 1)
        conflicts = shared.filter(pl.len().over(key) > 1).select(
            "__i",
            column=pl.lit(",".join(key)),
            check=pl.lit("expect_compound_columns_to_be_unique"),
            reason=pl.lit("key is not unique: other rows carry the same key with different values"),
            raw_value=pl.concat_str([pl.col(k) for k in key], separator="|"),
        )
        out.append(conflicts)
    return pl.concat(out)


def _sample(rows: int, n: int) -> pl.Series:
    """The numbers of the rows GE's engine checks: all, or a seeded sample of `n` (a rerun checks
    the same rows)."""
    numbers = pl.int_range(0, rows, dtype=pl.UInt32, eager=True)
    return numbers if rows <= n else numbers.sample(n, seed=20_240_101).sort()


def validate(
    raw: RawSource,
    month: str,
    division_codes: list[str] | None,
    ge_sample: int = GE_SAMPLE_ROWS,
    issued_ids: list[str] | None = None,
    closed_ids: list[str] | None = None,
) -> Validated:
    """Cast, evaluate the suite, split rows held in memory (an upload, a test); every delivered row
    is accepted or quarantined."""
    kept: list[pl.DataFrame] = []
    result = check(
        raw.source,
        raw.frame.lazy(),
        raw.malformed,
        month,
        division_codes,
        kept.append,
        ge_sample,
        issued_ids,
        closed_ids,
    )
    result.accepted = pl.concat(kept)
    return result


def check(
    source: Source,
    rows: pl.LazyFrame,
    malformed: pl.DataFrame | None,
    month: str,
    division_codes: list[str] | None,
    accept: Callable[[pl.DataFrame], object],
    ge_sample: int = GE_SAMPLE_ROWS,
    issued_ids: list[str] | None = None,
    closed_ids: list[str] | None = None,
    batch_rows: int | None = None,
    held: pl.LazyFrame | None = None,
) -> Validated:
    """Cast, evaluate the suite and split a source's delivered `rows` (trimmed strings, `META`), a
    batch of `batch_rows` at a time (all at once when None): each batch's accepted rows are handed
    to `accept`, in delivery order; every delivered row is accepted or quarantined. What needs every
    row (duplicates, conflicting keys, GE's sample) is found first or gathered as the batches pass.
    `held`: the typed rows earlier months put in the lake (`month`, `source_file`, `source_row` and
    the source's columns); a row of a history delivery equal to one of them is quarantined."""
    columns = [c.name for c in source.columns]
    suite = load_suite(source.name)
    params = month_parameters(month, division_codes, issued_ids, closed_ids)
    checks = [(exp, f) for exp in suite["expectations"] if (f := failure_expr(exp, params)) is not None]
    rows = rows.with_row_index("__i")
    total = rows.select(pl.len()).collect().item()
    if held is not None:  # each held row once, where it was first delivered: gathered for every batch
        held = (
            held.group_by(columns)
            .agg(
                held_in=pl.struct("month", "source_file", "source_row")
                .sort_by("month", "source_file", "source_row")
                .first()
            )
            .collect()
            .lazy()
        )
    duplicates = _duplicates(rows, columns, list(source.key))
    sampled = _sample(total, ge_sample) if ge_sample else pl.Series([], dtype=pl.UInt32)
    step = batch_rows or max(total, 1)
    quarantine, sample, accepted = [], [], 0
    for start in range(0, max(total, 1), step):
        batch = rows.slice(start, step).collect()
        typed, found = _batch(source, batch, checks, duplicates)
        if held is not None:
            held_rows = _already_held(typed.with_columns(batch["__i"]), held, columns)
            found = pl.concat([found, held_rows], how="vertical_relaxed")
        bad = pl.Series(np.zeros(batch.height, dtype=bool)).scatter((found["__i"].unique() - start), True)
        household = pl.col("household_id") if "household_id" in columns else pl.lit(None, pl.String)
        quarantine.append(
            batch[found["__i"] - start]
            .select(*META, household_id=household)
            .hstack(found.drop("__i"))
            .with_columns(source=pl.lit(source.name))
            .select(QUARANTINE_SCHEMA.keys())
        )
        accept(typed.filter(~bad))
        accepted += batch.height - bad.sum()
        sample.append(typed.filter(batch["__i"].is_in(sampled.implode())))
    quarantine = pl.concat(quarantine)
    ge_results = (
        ge_check(source.name, suite, pl.concat(sample), total, quarantine, params) if ge_sample else []
    )
    if malformed is not None and malformed.height:
        total += malformed.height
        # rows refused before the checks (a closed case named without a reason) keep their check
        known = set(malformed.columns)
        malformed = malformed.with_columns(
            source=pl.lit(source.name),
            column=pl.col("column").fill_null("*") if "column" in known else pl.lit("*"),
            check=pl.col("check").fill_null("malformed_row") if "check" in known else pl.lit("malformed_row"),
            household_id=pl.lit(None, pl.String),
        )
        quarantine = pl.concat([quarantine, malformed.select(QUARANTINE_SCHEMA.keys())])
    return Validated(quarantine, total, accepted, ge_results)


def _already_held(typed: pl.DataFrame, held: pl.LazyFrame, columns: list[str]) -> pl.DataFrame:
    """Rows of a history delivery (`<source>.history.csv`) that the lake already holds, equal in
    every column: read once, not counted twice (CONTRACT.md, version 3)."""
    history = typed.filter(pl.col("source_file").str.contains(HISTORY, literal=True))
    found = history.lazy().join(held, on=columns, nulls_equal=True).collect()
    return found.select(
        "__i",
        column=pl.lit("*"),
        check=pl.lit("already_held"),
        reason=pl.format(
            "already in the lake: delivered in {} ({} row {}); read once",
            pl.col("held_in").struct.field("month"),
            pl.col("held_in").struct.field("source_file"),
            pl.col("held_in").struct.field("source_row"),
        ),
        raw_value=pl.lit(None, pl.String),
    ).cast({"__i": pl.UInt32})


def _batch(
    source: Source, batch: pl.DataFrame, checks: list, duplicates: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A batch's typed rows and its problems (`__i`, column, check, reason, raw_value), one per
    failed cell and check."""
    columns = [c.name for c in source.columns]
    typed, cast_problems = cast(RawSource(source, batch.drop("__i"), [], []))
    # One frame with the typed values, the values as delivered (`__r_*`) and the row number `__i`.
    work = typed.hstack([batch["__i"]]).hstack(batch.select(pl.col(c).alias(f"__r_{c}") for c in columns))
    cast_problems = cast_problems.join(work.select("__i", *META), on=META).select(
        "__i", "column", check=pl.lit("cast"), reason="reason", raw_value="raw_value"
    )
    # Lazy, so that sub-expressions shared by several checks are computed once.
    masks = work.lazy().select(fails.alias(str(i)) for i, (_, (fails, _)) in enumerate(checks)).collect()
    records = [cast_problems]
    for i, (exp, (_, reason)) in enumerate(checks):
        rows = masks[str(i)].arg_true()
        if len(rows):
            col = exp["kwargs"]["column"]
            records.append(
                work[rows].select(
                    "__i",
                    column=pl.lit(col),
                    check=pl.lit(exp["type"]),
                    reason=reason,
                    raw_value=pl.col(f"__r_{col}"),
                )
            )
    first, last = batch["__i"].first(), batch["__i"].last()
    records.append(
        duplicates.filter(pl.col("__i").is_between(first, last)) if batch.height else duplicates.clear()
    )
    found = pl.concat(records, how="vertical_relaxed")
    # A required value that cannot be cast is null after casting; its reason is the cast failure,
    # so the derived "missing" record for the same cell is dropped.
    cast_cells = found.filter(pl.col("check") == "cast").select("__i", "column")
    found = found.join(
        found.filter(pl.col("check") == "expect_column_values_to_not_be_null")
        .join(cast_cells, on=["__i", "column"], how="semi")
        .select("__i", "column", "check"),
        on=["__i", "column", "check"],
        how="anti",
    )
    return typed, found.unique(subset=["__i", "column", "check"], keep="first").sort("__i", "column", "check")


def _pandas_sample(sample: pl.DataFrame) -> pl.DataFrame:
    sample = sample.sort(META)
    return sample.with_columns(
        [pl.col(c).cast(pl.Float64) for c, t in sample.schema.items() if isinstance(t, pl.Decimal)]
    )


def _to_pandas(sample: pl.DataFrame):
    """GE's pandas engine compares dates correctly only as Python date objects."""
    frame = sample.with_row_index("__i").to_pandas()
    for c, t in sample.schema.items():
        if t == pl.Date:
            frame[c] = frame[c].dt.date.where(frame[c].notna(), None)
    return frame


def _narrowed(suite: dict, sample: pl.DataFrame, params: dict) -> dict:
    """The suite's parameters, each value set cut to the sample's values.

    GE copies every expectation's kwargs many times; a 36,000-code set made that the cost of
    validation. Values of the sample that are in the set are exactly the sample's values found in
    the intersection, so the verdicts are unchanged."""
    ge_params = {k: v for k, v in params.items() if v is not None}
    for exp in suite["expectations"]:
        value_set = exp["kwargs"].get("value_set")
        name = value_set.get("$PARAMETER") if isinstance(value_set, dict) else None
        if name in ge_params:
            seen = sample[exp["kwargs"]["column"]].drop_nulls().unique()
            values = pl.Series(ge_params[name], dtype=pl.String)
            ge_params[name] = values.filter(values.is_in(seen.implode())).to_list()
    return ge_params


def _agree(source: str, exp: dict, ge_rows: set, rows: pl.DataFrame, quarantine: pl.DataFrame) -> None:
    """Raise unless GE flags the same sampled rows as the Polars verdicts for this expectation."""
    column = exp["kwargs"].get("column")
    polars_bad = quarantine.filter(pl.col("check") != "cast")
    ours = polars_bad.filter((pl.col("check") == exp["type"]) & (pl.col("column") == column))
    ours = set(rows.join(ours.select(META).unique(), on=META, how="semi")["__i"])
    # A value that failed to cast is null to GE, so only GE's not-null check sees it; in the
    # quarantine it carries the cast reason instead. Leave those cells out of both.
    skip = set()
    if exp["type"] == "expect_column_values_to_not_be_null":
        cast_bad = quarantine.filter(pl.col("check") == "cast").select(*META, "column").unique()
        skip = set(rows.join(cast_bad.filter(pl.col("column") == column), on=META, how="semi")["__i"])
    if ge_rows - skip != ours - skip:
        raise EnginesDisagree(
            f"{source}: GE and Polars disagree on {exp['type']}({column}): "
            f"GE flags {len(ge_rows - skip)} sampled rows, Polars {len(ours - skip)}"
        )


def ge_check(
    source: str, suite: dict, sample: pl.DataFrame, rows: int, quarantine: pl.DataFrame, params: dict
) -> list[dict]:
    """Run GE's engine on a sample of a source's `rows` typed rows and require that it agrees with
    the Polars verdicts row by row."""
    sample = _pandas_sample(sample)
    if sample.height == 0:  # nothing delivered: no GE import (seconds in each task's own process)
        return []
    register_custom_expectations()
    ge_params = _narrowed(suite, sample, params)
    expectations = [
        e
        for e in suite["expectations"]
        if not (e["type"] in UNIQUENESS and sample.height < rows)  # uniqueness needs all rows
        and not any(
            isinstance(v, dict) and v.get("$PARAMETER") not in ge_params for v in e["kwargs"].values()
        )
    ]
    by_position = ge_engine.results(source, expectations, _to_pandas(sample), ge_params)
    indexed = sample.select(META).with_row_index("__i")
    summary = []
    for position, exp in enumerate(expectations):
        res = by_position[position]
        r = res.result
        if exp["type"] not in UNIQUENESS:
            _agree(source, exp, {d["__i"] for d in r.get("unexpected_index_list") or []}, indexed, quarantine)
        summary.append(
            {
                "type": exp["type"],
                "column": exp["kwargs"].get("column") or ",".join(exp["kwargs"].get("column_list", [])),
                "reason": exp["meta"]["reason"],
                "success": bool(res.success),
                "element_count": r.get("element_count"),
                "unexpected_count": r.get("unexpected_count"),
                "unexpected_percent": r.get("unexpected_percent"),
                "sampled_rows": sample.height,
            }
        )
    return summary
