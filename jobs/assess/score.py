"""The household hardship index (困难指数), computed from `rules/index/` with Polars expressions.

For each indicator in force, the household's value falls in one band, whose score (0-1) times the
indicator's weight gives its points. In each dimension, hardship points add and reverse points
(means: property, vehicles, deposits, help already received) subtract; the result is clipped to
[0, the dimension's hardship maximum] and scaled to the dimension's weight. The index (0-100) is
the sum over the dimensions whose sources were delivered, rescaled to their weights: a dimension
fed by a source that did not arrive is marked incomplete, never scored as "no hardship".
"""

from __future__ import annotations

import numpy as np
import polars as pl

from safetynet.months import month_bounds
from safetynet.rules import Band, Indicator, RuleSet

TOP_FACTORS = 3
SORT_ROWS = 250_000  # households whose points are sorted at once


def band_expr(column: str, bands: tuple[Band, ...]) -> pl.Expr:
    """The score of the band a value falls in ([min, max)); 0 outside every band or when missing."""
    expr = pl.lit(0.0)
    for band in bands:
        inside = pl.lit(True)
        if band.min is not None:
            inside = inside & (pl.col(column) >= band.min)
        if band.max is not None:
            inside = inside & (pl.col(column) < band.max)
        expr = pl.when(inside).then(pl.lit(band.score)).otherwise(expr)
    return expr


def points_column(indicator: Indicator) -> str:
    return f"points_{indicator.id}"


def score(households: pl.DataFrame, rules: RuleSet, month: str, missing_sources: list[str]) -> pl.DataFrame:
    """Adds points per indicator, sub-scores per dimension, the index, its level and top factors."""
    start, _ = month_bounds(month)
    indicators = rules.effective_indicators(start)
    points = [(band_expr(i.column, i.bands) * i.weight).alias(points_column(i)) for i in indicators]
    frame = households.lazy().with_columns(points)

    dims, complete_weight, incomplete = [], [], []
    for d in rules.dimensions:
        mine = [i for i in indicators if i.dimension == d.id]
        hardship = [i for i in mine if i.direction == "hardship"]
        maximum = sum(i.weight for i in hardship)
        if not hardship or maximum == 0:
            continue
        if any(s in missing_sources for i in mine for s in i.sources):
            incomplete.append(d.label)
            dims.append(pl.lit(None, dtype=pl.Float64).alias(f"dim_{d.id}"))
            continue
        raw = pl.sum_horizontal(pl.col(points_column(i)) for i in hardship)
        reverse = [pl.col(points_column(i)) for i in mine if i.direction == "reverse"]
        if reverse:
            raw = raw - pl.sum_horizontal(reverse)
        dims.append((raw.clip(0, maximum) / maximum * d.weight).alias(f"dim_{d.id}"))
        complete_weight.append(d.weight)
    frame = frame.with_columns(dims)
    total = pl.sum_horizontal(
        pl.col(f"dim_{d.id}") for d in rules.dimensions if f"dim_{d.id}" in frame.collect_schema()
    )
    frame = frame.with_columns(
        hardship_score=(total / sum(complete_weight) * 100).round(1)
        if complete_weight
        else pl.lit(None, pl.Float64),
        incomplete_dimensions=pl.lit("、".join(incomplete) if incomplete else None, dtype=pl.String),
    )
    level = pl.lit(None, dtype=pl.String)
    for lv in rules.levels:
        level = (
            pl.when((pl.col("hardship_score") >= lv.min) & (pl.col("hardship_score") < lv.max))
            .then(pl.lit(lv.label))
            .otherwise(level)
        )
    hardship = [i for i in indicators if i.direction == "hardship"]
    scored = frame.with_columns(hardship_level=level, rule_version=pl.lit(rules.version)).collect()
    return scored.with_columns(top_factors=top_factors(scored, hardship))


def top_factors(scored: pl.DataFrame, hardship: list[Indicator]) -> pl.Series:
    """The labels of a household's `TOP_FACTORS` hardship indicators with the most points (more
    than none), most first, ties in rule order, joined by 、. Sorted in NumPy, a slice of rows at a
    time (the points of a province's households as one array, and its sort order, would double the
    task's memory): a stable sort of each row's points is many times faster than Polars' per-row
    list sort at province scale, with identical results (figures: docs/design/benchmark-history.md,
    "The index's top factors")."""
    names = pl.Series([i.label for i in hardship], dtype=pl.String)
    columns = [points_column(i) for i in hardship]
    parts = [pl.Series("top_factors", [], dtype=pl.String)]
    for offset in range(0, scored.height if hardship else 0, SORT_ROWS):
        points = scored.slice(offset, SORT_ROWS).select(columns).to_numpy()
        order = np.argsort(-points, axis=1, kind="stable")[:, :TOP_FACTORS]
        best = np.take_along_axis(points, order, axis=1)
        picks = pl.DataFrame(
            {f"label{r}": names.gather(order[:, r]) for r in range(order.shape[1])}
            | {f"points{r}": best[:, r] for r in range(order.shape[1])}
        )
        labels = [pl.when(pl.col(f"points{r}") > 0).then(pl.col(f"label{r}")) for r in range(order.shape[1])]
        parts.append(
            picks.select(top_factors=pl.concat_str(labels, separator="、", ignore_nulls=True)).to_series()
        )
    if not hardship:
        return pl.Series("top_factors", [""] * scored.height, dtype=pl.String)
    return pl.concat(parts)
