"""Prefectures: the lake's partitions of a month's sources, so the work of one prefecture reads its
own rows, not the province's.

    <build>/<source>/<prefecture>.parquet   rows of the households of a prefecture (4301.parquet)
    <build>/<source>/shared.parquet         rows of persons on households of several prefectures
    <build>/<source>/none.parquet           rows of persons on no household of the roster
    <build>/<source>/data.parquet           sources that are not per person (divisions, outcomes),
                                            and every source of a month loaded before prefectures
    <build>/_person_areas/data.parquet      each person of the roster and their prefecture
    <build>/_movers/data.parquet            where the month's households and persons were placed
                                            in earlier months of the window, when in another
                                            prefecture's file (`movers`)

A prefecture is the first four digits of a division code (GB/T 2260). The roster is placed by its
households' division: a household whose members' divisions differ goes with its first member's (the
head of household first, as households are assembled). Every other source with an ID number is
placed through the month's roster: it is loaded first, and a person's rows go to the prefecture of
their household, to `shared` when they are on households of two prefectures, to `none` when on no
household (applicants, people the roster never listed). Each partition keeps the delivered order.
A source with no rows keeps its columns in an empty `none.parquet`.

A household or person that moves between prefectures brings its history: earlier months' rows stay
where they were placed then, and the month's `movers` tell the new prefecture where to read them.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

import polars as pl

from safetynet.contract import SOURCES
from safetynet.errors import SafetynetError
from safetynet.faults import fault
from safetynet.lake import NOWHERE, SHARED, WHOLE, Home, replace_dir, write_parquet
from safetynet.workers import BATCH_ROWS

PREFECTURE_DIGITS = 4  # GB/T 2260: province (2), prefecture (2), county (2), township (3), village (3)
ROSTER = "roster"
PERSON_AREAS = "_person_areas"  # id_number -> prefecture or shared, of the month's roster
MOVERS = "_movers"  # month, to, _area, household_id: where the month's people were placed before
AREA = "_area"


class PlacementError(SafetynetError):
    """A source that cannot be placed by prefecture yet (names the source and month)."""


def prefecture(division_code: pl.Expr) -> pl.Expr:
    return division_code.str.slice(0, PREFECTURE_DIGITS)


TOWNSHIP = re.compile(r"[0-9]{9}")  # a township's division code


def prefecture_of(division_code: str) -> str:
    return division_code[:PREFECTURE_DIGITS]


def by_person(source: str) -> bool:
    """Sources placed through the roster: every per-person source but the roster itself."""
    return source != ROSTER and "id_number" in {c.name for c in SOURCES[source].columns}


def partitioned(source: str) -> bool:
    return source == ROSTER or by_person(source)


def household_areas(roster: pl.LazyFrame) -> pl.LazyFrame:
    """household_id -> its prefecture: the division of its first member, head of household first
    (then by ID number, then as delivered)."""
    first = (
        pl.col("division_code")
        .sort_by(pl.col("relation") != "户主", "id_number", maintain_order=True)
        .first()
    )
    return roster.group_by("household_id").agg(prefecture(first).alias(AREA))


def person_areas(roster: pl.LazyFrame, households: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """id_number -> the prefecture of their households, or `shared` when there are several;
    `households`: `household_areas` of the roster, when already found."""
    households = household_areas(roster) if households is None else households
    return (
        roster.select("household_id", "id_number")
        .join(households, on="household_id")
        .group_by("id_number")
        .agg(low=pl.col(AREA).min(), high=pl.col(AREA).max())
        .select(
            "id_number",
            pl.when(pl.col("low") == pl.col("high")).then("low").otherwise(pl.lit(SHARED)).alias(AREA),
        )
    )


def placement(h: Home, month: str) -> pl.LazyFrame | None:
    """Each person's prefecture (`person_areas`), by which a month's per-person rows are placed:
    from the month's roster once loaded, else (not delivered) the latest earlier one. The roster's
    ingest writes it once (`_person_areas`), so the other sources' tasks read 4.7 M pairs instead
    of grouping the roster again, 3 s each at 2 M households. A roster still to be loaded in this
    build is an error: placing by last month's households would put this month's movers in the
    wrong prefecture."""
    if h.building and h.building.month == month:
        delivery = h.building.path / "_deliveries" / f"{ROSTER}.parquet"
        if not delivery.exists():
            raise PlacementError(
                f"{month}: the roster is not loaded yet; per-person sources are placed by prefecture "
                "through it, so it is loaded first (ingest roster, then the others)"
            )
        status = pl.read_parquet(delivery, columns=["status"])["status"][0]
        if status == "delivered" and not h.files(ROSTER, month):  # being rewritten: never last month's
            raise PlacementError(f"{month}: the roster was loaded but its files are missing; retry the task")
    for m in reversed([m for m in h.months() if m <= month]):
        if (placed := h.scan(PERSON_AREAS, m)) is not None:
            return placed
        if (rows := h.scan(ROSTER, m)) is not None:  # a month loaded before it was kept
            return person_areas(rows)
    return None


def place(rows: pl.LazyFrame, source: str, areas: pl.DataFrame | None) -> pl.Series:
    """The prefecture file each of `rows` goes to (`_area`, in their order); `areas`: `lookup`.
    Found for all rows at once: one join, where a join per batch built the same table each time."""
    if areas is None:
        return rows.select(pl.repeat(NOWHERE, pl.len()).alias(AREA)).collect().to_series()
    key = "household_id" if source == ROSTER else "id_number"
    placed = rows.select(key).join(areas.lazy(), on=key, how="left", maintain_order="left")
    return placed.select(pl.col(AREA).fill_null(NOWHERE)).collect().to_series()


def lookup(rows: pl.LazyFrame, source: str, persons: pl.LazyFrame | None) -> pl.DataFrame | None:
    """What places a source's rows: the roster's households' prefectures, or the prefectures of the
    persons these rows name (`persons`: `placement`; a source of 36 rows does not hold the roster's
    4.7 M)."""
    if source == ROSTER:
        return household_areas(rows).collect()
    if persons is None:
        return None
    return persons.join(rows.select("id_number").unique(), on="id_number", how="semi").collect()


def write(
    rows: pl.DataFrame | pl.LazyFrame, source: str, folder: Path, persons: pl.LazyFrame | None = None
) -> list[str]:
    """The source's accepted rows into `folder`, one file per prefecture (all or nothing: the
    files are written beside it and the folder replaced by one rename), placed by `persons`
    (`placement`) a batch of `BATCH_ROWS` at a time, so a lazy `rows` (the batches an ingest has
    accepted) is never held whole. The roster also writes its persons' prefectures beside it
    (`_person_areas`). Returns the areas written."""
    tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}.tmp")
    rows = rows.lazy()
    if not partitioned(source):
        write_parquet(rows, tmp / WHOLE)
        replace_dir(tmp, folder)
        return []
    areas = lookup(rows, source, persons)
    if source == ROSTER:
        write_parquet(
            person_areas(rows, areas.lazy()).sort("id_number"), folder.parent / PERSON_AREAS / WHOLE
        )
    total = rows.select(pl.len()).collect().item()
    pieces = tmp / ".pieces"
    placed = place(rows, source, areas)
    for number, start in enumerate(range(0, total, BATCH_ROWS)):
        batch = rows.slice(start, BATCH_ROWS).collect().with_columns(placed.slice(start, BATCH_ROWS))
        for (area,), part in batch.partition_by(
            AREA, as_dict=True, include_key=False, maintain_order=True
        ).items():
            write_parquet(part, pieces / area / f"{number:05}.parquet")
    written = sorted(p.name for p in pieces.iterdir()) if pieces.exists() else []
    for area in written:
        write_parquet(pl.scan_parquet(sorted((pieces / area).iterdir())), tmp / f"{area}.parquet")
        fault("areas", source)
    if not written:
        write_parquet(rows.clear(), tmp / f"{NOWHERE}.parquet")
        written = [NOWHERE]
    shutil.rmtree(pieces, ignore_errors=True)
    replace_dir(tmp, folder)
    return written


def household_places(h: Home, month: str) -> pl.LazyFrame | None:
    """household_id -> its prefecture in a month: the roster file it sits in (a month loaded before
    prefectures: grouped, `household_areas`)."""
    files = h.files(ROSTER, month)
    if not files:
        return None
    if [p.name for p in files] == [WHOLE]:
        return household_areas(pl.scan_parquet(files))
    return pl.concat(
        pl.scan_parquet(p).select("household_id").unique().with_columns(pl.lit(p.stem).alias(AREA))
        for p in files
    )


def person_places(h: Home, month: str) -> pl.LazyFrame | None:
    """id_number -> the file of a month their rows were placed in (`person_areas`); a person not
    listed was placed in `none`."""
    if (placed := h.scan(PERSON_AREAS, month)) is not None:
        return placed
    rows = h.scan(ROSTER, month)  # a month loaded before `_person_areas` was kept
    return person_areas(rows) if rows is not None else None


def movers(h: Home, month: str, earlier: list[str], applicants: pl.LazyFrame | None = None) -> pl.DataFrame:
    """Where the month's prefectures find their households' earlier rows, when not in their own,
    shared or none files: one row per (month, `to`: the prefecture now, `_area`: the file then) for
    a person on its roster (or applying, `applicants`: id_number, to) placed elsewhere then, and one
    per household that sat in another prefecture then (`household_id`: its roster rows of that month
    are read there, for members who have left it since). Found once for the month, so each
    prefecture's task reads the files its people are in instead of every file of every month."""
    schema = {"month": pl.String, "to": pl.String, AREA: pl.String, "household_id": pl.String}
    files = h.files(ROSTER, month)
    if not files or [p.name for p in files] == [WHOLE]:
        return pl.DataFrame(schema=schema)
    now = pl.concat(pl.scan_parquet(p).select("id_number", to=pl.lit(p.stem)) for p in files)
    if applicants is not None:
        now = pl.concat([now, applicants.select("id_number", "to")])
    households = household_places(h, month)
    frames = []
    for m in earlier:
        if (then := person_places(h, m)) is None:
            continue
        persons = now.join(then, on="id_number").filter(pl.col(AREA) != pl.col("to"))
        frames.append(persons.select(pl.lit(m).alias("month"), "to", AREA).unique())
        then = household_places(h, m)
        moved = then.join(households.rename({AREA: "to"}), on="household_id").filter(
            pl.col(AREA) != pl.col("to")
        )
        frames.append(moved.select(pl.lit(m).alias("month"), "to", AREA, "household_id"))
    found = [f.collect() for f in frames]
    return pl.concat([pl.DataFrame(schema=schema), *found], how="diagonal").sort(
        "month", "to", AREA, "household_id", nulls_last=False
    )
