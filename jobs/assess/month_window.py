"""What a month's households are assembled from: the month's look-back window of the lake, read
once through the home (`safetynet.lake.Home`) by `read_window`, and handed to the pure functions of
jobs/assess/households.py as frames.

The frames are lazy scans of the build's Parquet files: no byte is read until the households'
features collect them, so each part's filters still push down into its reads, and one
`collect_all` runs the parts side by side.

With `area` (a prefecture, jobs/ingest/areas.py), the rows of that prefecture's households only:
the roster's file of the prefecture; of every other source, its own, shared and none files,
filtered to its people (on its rosters of the window, or applying). In an earlier month it also
reads the files its people and households were placed in then, when in another prefecture (the
month's `areas.movers`): a household or person that moved in brings its history with it.

Which earlier snapshot a month's register is compared with, and from which day its rows are new
(`baseline`, `unseen_from`), follow from what was delivered in the window's months: read once.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import polars as pl

from jobs.ingest import areas
from jobs.ingest.coverage import covered_months
from jobs.ingest.watched import watched_members
from safetynet.lake import NOWHERE, SHARED, WHOLE, Home
from safetynet.months import add_months, month_bounds, month_range
from safetynet.rules import RuleSet

AMOUNT = pl.Decimal(16, 2)
# What the features read of each source: (source, months, columns). Months: "window" (the look-back
# window), "recent" (the month and the one before, where an earner is found) or "month".
READS: dict[str, tuple[str, str, dict]] = {
    "deaths": ("deaths", "window", {"id_number": pl.String, "died_on": pl.Date, "source_file": pl.String}),
    "missing_persons": ("missing_persons", "window", {"id_number": pl.String, "declared_on": pl.Date}),
    "employment": (
        "employment",
        "window",
        {"id_number": pl.String, "status": pl.String, "registered_on": pl.Date, "monthly_wage": AMOUNT},
    ),
    "insured_recently": ("social_insurance", "recent", {"id_number": pl.String, "scheme": pl.String}),
    "fund_recently": ("housing_fund", "recent", {"id_number": pl.String, "status": pl.String}),
    "medical_claims": (
        "medical_claims",
        "window",
        {
            "id_number": pl.String,
            "settled_on": pl.Date,
            "out_of_pocket": AMOUNT,
            "inpatient": pl.String,
            "total_cost": AMOUNT,
        },
    ),
    "education_aid": (
        "education_aid",
        "window",
        {"id_number": pl.String, "paid_on": pl.Date, "amount": AMOUNT},
    ),
    # the month's insurance and housing-fund rows, read once for the features and counted income
    "insurance": (
        "social_insurance",
        "month",
        {"id_number": pl.String, "scheme": pl.String, "contribution_base": AMOUNT},
    ),
    "fund": (
        "housing_fund",
        "month",
        {"id_number": pl.String, "status": pl.String, "monthly_deposit": AMOUNT},
    ),
    "medical_assistance": (
        "medical_assistance",
        "window",
        {"id_number": pl.String, "paid_on": pl.Date, "amount": AMOUNT},
    ),
    "work_injury": ("work_injury", "window", {"id_number": pl.String, "injured_on": pl.Date}),
    "legal_aid": ("legal_aid", "window", {"id_number": pl.String, "opened_on": pl.Date}),
    "disasters": (
        "disasters",
        "window",
        {"id_number": pl.String, "occurred_on": pl.Date, "house_damage": pl.String, "loss_amount": AMOUNT},
    ),
    "real_estate": (
        "real_estate",
        "month",
        {"id_number": pl.String, "property_id": pl.String, "usage": pl.String},
    ),
    "vehicles": (
        "vehicles",
        "month",
        {"id_number": pl.String, "vehicle_type": pl.String, "operating": pl.String},
    ),
    "business": (
        "business",
        "month",
        {"id_number": pl.String, "entity_type": pl.String, "status": pl.String, "entity_id": pl.String},
    ),
    "deposits": ("deposits", "month", {"id_number": pl.String, "balance": AMOUNT}),
}
# Registers delivered whole each month: compared with the last earlier one delivered (events).
SNAPSHOTS: dict[str, dict] = {
    "disability": {"id_number": pl.String, "grade": pl.Int32, "registered_on": pl.Date},
    "enrolment": {"id_number": pl.String, "stage": pl.String, "status": pl.String, "enrolled_on": pl.Date},
    "dilapidated_housing": {"id_number": pl.String, "grade": pl.String, "assessed_on": pl.Date},
}
# The sources whose months held the rigid expenditure is averaged over (jobs/ingest/coverage.py).
HELD = ("medical_claims", "education_aid")


def window(month: str, months: int) -> list[str]:
    """The `months` months ending with `month`."""
    return month_range(add_months(month, 1 - months), month)


class Snapshot(NamedTuple):
    """A register's rows of the month, of the last earlier month it was delivered in (None: none in
    the window), and the first day no run saw it (`unseen_from`)."""

    now: pl.LazyFrame
    before: pl.LazyFrame | None
    since: dt.date


class Window(NamedTuple):
    """The frames a month's households are assembled from (of one prefecture, with `area`)."""

    month: str
    months: list[str]  # the look-back window, ending with the month
    area: str | None
    roster: pl.LazyFrame  # the month's roster, and the applicants it watches (`with_applicants`)
    province_roster: pl.LazyFrame | None  # with `area`: every prefecture's roster rows of the month
    earlier_rosters: list[pl.LazyFrame]  # the earlier months' rosters, newest first
    rows: dict[str, pl.LazyFrame]  # READS' frames, each with the `month` it was delivered in
    snapshots: dict[str, Snapshot]  # SNAPSHOTS' frames
    quarantined: pl.LazyFrame  # household_id of households with a roster row quarantined this month
    missing: list[str]  # sources the rules read that were not delivered this month
    held: dict[str, int]  # HELD's months of the window that the lake holds


class Reach(NamedTuple):
    """Whose rows a prefecture reads (`area`): its people (ids on its rosters of the window, or
    applying; None until known) and, in earlier months, the files its households and people were
    placed in then when elsewhere (`moved`: month, _area, household_id)."""

    area: str
    month: str
    people: pl.Series | None
    moved: pl.DataFrame


# --- reading ----------------------------------------------------------------------------------


def read_window(home: Home, month: str, rules: RuleSet, area: str | None = None) -> Window:
    """Everything a month's households are assembled from (of one prefecture, with `area`), read
    once; the rows as lazy scans."""
    months = window(month, rules.population.lookback_months)
    earlier = months[:-1]
    deliveries = {m: delivered(home, m) for m in months}
    missing = sorted({s for ind in rules.indicators for s in ind.sources} - deliveries[month])
    reach = Reach(area, month, None, _no_movers()) if area is not None else None
    roster = scan(home, areas.ROSTER, [month], reach=reach)
    if roster is None:
        raise FileNotFoundError(
            f"{home.root}: no roster in the lake for {month}"
            + (f" in prefecture {area}" if area else "")
            + ": households cannot be assembled"
        )
    province = pl.scan_parquet(home.files(areas.ROSTER, month)) if area is not None else None
    roster, applicants = with_applicants(roster, watched_members(home, month), area, province)
    if reach is not None:  # households that moved in since, and whose rows the prefecture reads
        reach = reach._replace(moved=moved_into(home, month, earlier, area))
        listed = [
            r.select("id_number")
            for m in months
            if (r := scan(home, areas.ROSTER, [m], reach=reach)) is not None
        ]
        if applicants is not None:
            listed.append(applicants.select("id_number"))
        reach = reach._replace(people=pl.concat(listed).unique().collect()["id_number"])
    spans = {"window": months, "recent": [*earlier[-1:], month], "month": [month]}
    ran = {m: home.partition("_deliveries", m).exists() for m in months}
    return Window(
        month=month,
        months=months,
        area=area,
        roster=roster,
        province_roster=province,
        earlier_rosters=[
            r for m in reversed(earlier) if (r := scan(home, areas.ROSTER, [m], reach=reach)) is not None
        ],
        rows={
            name: rows(home, source, spans[span], schema, reach)
            for name, (source, span, schema) in READS.items()
        },
        snapshots={
            source: read_snapshot(home, source, schema, months, deliveries, ran, reach)
            for source, schema in SNAPSHOTS.items()
        },
        quarantined=quarantined_households(home, month),
        missing=missing,
        held={s: len(covered_months(home, s, month, len(months))) for s in HELD},
    )


def read_snapshot(
    home: Home,
    source: str,
    schema: dict,
    months: list[str],
    deliveries: dict[str, set[str]],
    ran: dict[str, bool],
    reach: Reach | None,
) -> Snapshot:
    """A register's rows of the month (the window's last) and of the last earlier month that
    delivered it."""
    *earlier, month = months
    base = baseline(source, earlier, deliveries)
    before = rows(home, source, [base], schema, reach) if base else None
    now = rows(home, source, [month], schema, reach)
    return Snapshot(now, before, unseen_from(source, earlier, month, deliveries, ran))


def delivered(home: Home, month: str) -> set[str]:
    """The sources a month's run found delivered (`_deliveries`); none when the month did not run."""
    folder = home.partition("_deliveries", month)
    if not folder.exists():
        return set()
    frame = pl.read_parquet(folder / "*.parquet", columns=["source", "status"])
    return set(frame.filter(pl.col("status") == "delivered")["source"])


def scan(
    home: Home, source: str, months: list[str], schema: dict | None = None, reach: Reach | None = None
) -> pl.LazyFrame | None:
    """The source's rows of those months (its given columns), each with the `month` it was
    delivered in; a month that was not loaded simply has no rows. None: no rows in any."""
    frames = []
    for m in months:
        found = month_rows(home, source, m, reach)
        if found is not None:
            frames.append((found.select(list(schema)) if schema else found).with_columns(month=pl.lit(m)))
    return pl.concat(frames) if frames else None


def rows(
    home: Home, source: str, months: list[str], schema: dict, reach: Reach | None = None
) -> pl.LazyFrame:
    """As `scan`, and no rows rather than None."""
    found = scan(home, source, months, schema, reach)
    return found if found is not None else empty(schema | {"month": pl.String})


def month_rows(home: Home, source: str, m: str, reach: Reach | None) -> pl.LazyFrame | None:
    """A source's rows of one month: all of them, or those a prefecture reads (`reach`)."""
    if reach is None:
        return home.scan(source, m)
    if source == areas.ROSTER:
        return _roster_rows(home, m, reach)
    if not areas.by_person(source):
        return home.scan(source, m)
    if reach.people is None:
        raise RuntimeError(f"the persons of prefecture {reach.area} are not known yet")
    files, own = home.files(source, m), []
    if [p.name for p in files] != [WHOLE]:
        # its own file whole (its people's rows, placed so: every row is joined with its
        # households' members), and of the shared and none files, and in an earlier month of
        # those its people were placed in then elsewhere (`moved`), its people's rows
        then = reach.moved.filter(pl.col("month") == m)[areas.AREA] if m != reach.month else []
        own = [p for p in files if p.stem == reach.area]
        files = [p for p in files if p.stem in {SHARED, NOWHERE, *then} - {reach.area}]
    frames = [pl.scan_parquet(own)] if own else []
    if files:
        frames.append(pl.scan_parquet(files).filter(pl.col("id_number").is_in(reach.people.implode())))
    return pl.concat(frames) if frames else None


def _roster_rows(home: Home, m: str, reach: Reach) -> pl.LazyFrame | None:
    """The prefecture's roster rows of a month, and in an earlier month those of the households
    that have moved in since, from the prefecture they were in then (`moved`)."""
    frames = [found] if (found := area_roster(home, m, reach.area)) is not None else []
    came = reach.moved.filter((pl.col("month") == m) & pl.col("household_id").is_not_null())
    for (then,), ids in came.group_by(areas.AREA, maintain_order=True):
        files = home.files(areas.ROSTER, m, then)
        if files:
            wanted = pl.col("household_id").is_in(ids["household_id"].implode())
            frames.append(pl.scan_parquet(files).filter(wanted))
    return pl.concat(frames) if frames else None


def area_roster(home: Home, month: str, area: str) -> pl.LazyFrame | None:
    """The roster rows of a prefecture's households in a month (a month loaded before prefectures:
    its one roster file, filtered)."""
    files = home.files(areas.ROSTER, month, area)
    if [p.name for p in files] != [WHOLE]:
        return pl.scan_parquet(files) if files else None
    found = pl.scan_parquet(files)
    mine = areas.household_areas(found).filter(pl.col(areas.AREA) == area).select("household_id")
    return found.join(mine, on="household_id", how="semi")


def quarantined_households(home: Home, month: str) -> pl.LazyFrame:
    """Households with a roster row quarantined this month: their members are not all known."""
    path = home.partition("_quarantine", month) / "roster.parquet"
    if not path.exists() or "household_id" not in pl.read_parquet_schema(path):
        return empty({"household_id": pl.String})
    return pl.scan_parquet(path).select("household_id").drop_nulls().unique()


def moved_into(home: Home, month: str, earlier: list[str], area: str) -> pl.DataFrame:
    """Where the prefecture's households and people of the month were in `earlier` months, when
    elsewhere (`areas.movers`): the month's `_movers`, found once for all prefectures by
    jobs/month/assess.prefectures, or found here."""
    path = home.partition(areas.MOVERS, month) / WHOLE
    found = (
        pl.read_parquet(path) if path.exists() else areas.movers(home, month, earlier, applying(home, month))
    )
    return found.filter(pl.col("to") == area).drop("to")


def applying(home: Home, month: str) -> pl.LazyFrame | None:
    """The applicants the month watches (jobs/ingest/watched.watched_members), with the prefecture
    they are assessed in (`to`)."""

    applicants = watched_members(home, month)
    if applicants is None:
        return None
    placed = areas.household_areas(applicants.lazy()).rename({areas.AREA: "to"})
    return applicants.lazy().select("id_number", "household_id").join(placed, on="household_id")


# --- pure: what the reads decide ----------------------------------------------------------------


def with_applicants(
    roster: pl.LazyFrame,
    applicants: pl.DataFrame | None,
    area: str | None,
    province: pl.LazyFrame | None,
) -> tuple[pl.LazyFrame, pl.LazyFrame | None]:
    """The month's roster (`application_id` null) with the watched applicants' households (of the
    prefecture, with `area`) that are not on any roster of the month (`province`: every
    prefecture's; without `area`, `roster`); and those applicants."""
    roster = roster.with_columns(application_id=pl.lit(None, pl.String))
    if applicants is None:
        return roster, None
    if area is not None:
        mine = areas.household_areas(applicants.lazy()).filter(pl.col(areas.AREA) == area)
        applicants = applicants.lazy().join(mine, on="household_id", how="semi").collect()
    on_roster = roster if area is None else province
    enrolled = applicants.lazy().join(on_roster.select("id_number"), on="id_number", how="semi")
    left = applicants.lazy().join(enrolled.select("household_id"), on="household_id", how="anti")
    return pl.concat([roster, left], how="diagonal_relaxed"), left


def baseline(source: str, months: list[str], deliveries: dict[str, set[str]]) -> str | None:
    """The latest of `months` whose delivery of the source arrived: what a snapshot is compared with."""
    return next((m for m in reversed(months) if source in deliveries[m]), None)


def unseen_from(
    source: str, months: list[str], month: str, deliveries: dict[str, set[str]], ran: dict[str, bool]
) -> dt.date:
    """The first day of the months whose rows of the source no run has seen: those after its
    last delivery in `months` (the earlier months of the window), or with none, from the first
    of them the lake ran (`ran`), or this month. A row dated since then is new this month."""
    base = baseline(source, months, deliveries)
    if base is not None:
        first = add_months(base, 1)
    else:
        first = next((m for m in months if ran[m]), month)
    return month_bounds(first)[0]


def empty(schema: dict) -> pl.LazyFrame:
    return pl.DataFrame(schema=schema).lazy()


def _no_movers() -> pl.DataFrame:
    return pl.DataFrame(schema={"month": pl.String, areas.AREA: pl.String, "household_id": pl.String})
