"""Anticipated needs (预计需求提示): children who reach the age of a school stage that costs the family
money (kindergarten, senior high or vocational school, university) by the next school year's first
day get a green notice in the months before it (`rules/parameters/population.yaml`), once per child
and stage. Guangdong raised such a warning in June for a daughter entering kindergarten in September.

Notices are not leads: they have their own table and sheet (预计需求提示), no case, no deadline and
no place in the KPIs; at about 14 children per 100 households reaching some stage each year they
would swamp the ranked list.

    <home>/lake/_notices/month=YYYY-MM/<prefecture>.parquet   one row per child and stage noticed
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from jobs.assess.households import area_roster
from safetynet import concepts as c
from safetynet.lake import Home
from safetynet.months import add_months, month_bounds
from safetynet.rules import Population, RuleSet

NOTICE_SCHEMA = {
    "month": pl.String,
    "notice_id": pl.String,
    "household_id": pl.String,
    "township_code": pl.String,
    "county_code": pl.String,
    "id_number": pl.String,
    "name": pl.String,
    "stage": pl.String,
    "starts_on": pl.Date,
    "age_on_start": pl.Int32,
    "note": pl.String,
    "rule_version": pl.String,
}
# the child's name, the school year's first day, the age then, the stage's label
NOTICE_NOTE = "{}将于{}满{}周岁，{}，家庭教育支出将增加：请提前告知教育资助、学前教育资助等政策"


def school_year_start(month: str, p: Population) -> dt.date:
    """The next school year's first day on or after the month's first day."""
    start, _ = month_bounds(month)
    first = dt.date(start.year, *p.school_year_starts)
    return first if first >= start else dt.date(start.year + 1, *p.school_year_starts)


def anticipate(home: Home, month: str, rules: RuleSet, area: str | None = None) -> pl.DataFrame:
    """The month's notices (of one prefecture's households, with `area`): none outside the notice
    months."""
    p = rules.population
    roster = home.scan("roster", month) if area is None else area_roster(home, month, area)
    if int(month[5:]) not in p.notice_months or not p.stages or roster is None:
        return pl.DataFrame(schema=NOTICE_SCHEMA)
    roster = roster.collect()
    enrolled = home.scan("enrolment", month, area)
    enrolled = enrolled.collect() if enrolled is not None else None
    earlier = [home.read("_notices", add_months(month, -k)) for k in range(1, p.noticed_within_months + 1)]
    return due(month, p, roster, enrolled, [e for e in earlier if e is not None], rules.version)


def due(
    month: str,
    p: Population,
    roster: pl.DataFrame,
    enrolled: pl.DataFrame | None,
    earlier: list[pl.DataFrame],
    rule_version: str,
) -> pl.DataFrame:
    """Children of `roster` who reach a stage's age on the school year's first day, not enrolled at
    that stage or a later one (the order of `p.school_stages`), and not noticed for it before
    (`earlier` notices)."""
    starts_on = school_year_start(month, p)
    rank = p.stage_rank
    stages = pl.DataFrame(
        {
            "stage": [s.stage for s in p.stages],
            "age_on_start": [s.age for s in p.stages],
            "label": [s.label for s in p.stages],
            "stage_rank": [rank[s.stage] for s in p.stages],
        },
        schema_overrides={"age_on_start": pl.Int32},
    )
    children = (
        roster.select("household_id", "id_number", "name", "division_code")
        .unique("id_number", keep="first")
        .with_columns(age_on_start=c.age_on(c.birth_date(), starts_on))
        .join(stages, on="age_on_start", how="inner")
    )
    if enrolled is not None and enrolled.height:
        reached = enrolled.group_by("id_number").agg(
            reached=pl.col("stage").replace_strict(rank, default=None, return_dtype=pl.Int32).max()
        )
        children = children.join(reached, on="id_number", how="left").filter(
            pl.col("reached").is_null() | (pl.col("reached") < pl.col("stage_rank"))
        )
    if earlier:
        noticed = pl.concat([e.select("id_number", "stage") for e in earlier]).unique()
        children = children.join(noticed, on=["id_number", "stage"], how="anti")
    children = children.sort("household_id", "stage_rank", "id_number")
    number = pl.int_range(1, pl.len() + 1).over("household_id")
    return children.with_columns(
        month=pl.lit(month),
        notice_id=pl.format("YJ{}-{}-{}", pl.lit(month.replace("-", "")), "household_id", number),
        township_code=pl.col("division_code").str.slice(0, 9),
        county_code=pl.col("division_code").str.slice(0, 6),
        starts_on=pl.lit(starts_on),
        note=pl.format(NOTICE_NOTE, "name", pl.lit(starts_on.isoformat()), "age_on_start", "label"),
        rule_version=pl.lit(rule_version),
    ).select([pl.col(k).cast(v) for k, v in NOTICE_SCHEMA.items()])
