"""Policy concepts as Polars expressions, from `rules/parameters/population.yaml`.

The SQL path defines the same concepts as macros in `warehouse/means_test/models/00_concepts.sql`,
reading the same parameters as DuckDB variables (`Population.sql_variables`);
`tests/test_concepts.py` checks both paths agree on a table of edge cases.

Age is whole years on a day: the year difference, less one if the day's month and day come before
the birthday's. A person born on 29 February is a year older on 1 March of a common year.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from safetynet.rules import Population


def birth_date(id_number: str | pl.Expr = "id_number") -> pl.Expr:
    """The birth date in a resident ID number (characters 7-14); null if it is not a real date."""
    ids = pl.col(id_number) if isinstance(id_number, str) else id_number
    return ids.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)


def _month_day(day: pl.Expr) -> pl.Expr:
    return day.dt.month().cast(pl.Int32) * 100 + day.dt.day().cast(pl.Int32)


def age_on(birth: pl.Expr, on: pl.Expr | dt.date) -> pl.Expr:
    """Whole years from `birth` to `on` (null when either is null)."""
    day = pl.lit(on, dtype=pl.Date) if isinstance(on, dt.date) else on
    before_birthday = (_month_day(day) < _month_day(birth)).cast(pl.Int32)
    return (day.dt.year().cast(pl.Int32) - birth.dt.year().cast(pl.Int32) - before_birthday).cast(pl.Int32)


def is_minor(p: Population, age: pl.Expr) -> pl.Expr:
    return age < p.adult_age


def is_elderly(p: Population, age: pl.Expr) -> pl.Expr:
    return age >= p.elderly_age


def is_working_age(p: Population, age: pl.Expr) -> pl.Expr:
    return age.is_between(p.working_age_from, p.working_age_to)


def is_dependant(p: Population, age: pl.Expr) -> pl.Expr:
    """Below working age or elderly: the dependency ratio's numerator."""
    return (age < p.working_age_from) | is_elderly(p, age)


def is_severe_disability(p: Population, grade: pl.Expr) -> pl.Expr:
    return grade.is_in(list(p.severe_disability_grades))


def is_recipient(p: Population, category: pl.Expr) -> pl.Expr:
    return category.is_in(list(p.recipient_categories))


def is_single_person_candidate(
    p: Population, age: pl.Expr, labour_capacity: pl.Expr, health_status: pl.Expr, grade: pl.Expr
) -> pl.Expr:
    """A member who may be enrolled alone (单人保) when the household's category allows it: of
    working age with a severe disability, or elderly with no labour capacity and a serious illness
    or a severe disability. Unknown facts count as not met."""
    severe = is_severe_disability(p, grade).fill_null(False)
    disabled_worker = is_working_age(p, age) & severe
    frail_elder = is_elderly(p, age) & (labour_capacity == "无") & ((health_status == "大病") | severe)
    return (disabled_worker.fill_null(False) | frail_elder.fill_null(False)).fill_null(False)
