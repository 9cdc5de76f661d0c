"""Each policy concept is defined once in rules/parameters/population.yaml and computed the same by
the Polars path (safetynet/concepts.py) and the SQL path (warehouse/means_test/models/00_concepts.sql):
a table of edge cases through both, and the known answers."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest

from jobs.means_test.checks import MEANS_DIR
from safetynet import concepts as c
from safetynet.ids import check_character, convert_legacy_expr
from safetynet.rules import load_rules

P = load_rules().population


def pid(birth: str, n: int = 1) -> str:
    body = f"430101{birth}{n:03d}"
    return body + check_character(body)


LEGACY = pl.select(convert_legacy_expr(pl.lit("430101800229001"))).item()  # 15 digits: born 1980-02-29

# (case, id number, day, age)
AGES = [
    ("birthday on the month's last day: reached", pid("20100930"), "2026-09-30", 16),
    ("birthday the day after the month's end: not yet", pid("20101001"), "2026-09-30", 15),
    ("born 29 February, common year, 28 February: not yet", pid("20080229"), "2026-02-28", 17),
    ("born 29 February, common year, 1 March: reached", pid("20080229"), "2026-03-01", 18),
    ("born 29 February, leap year, 29 February", pid("20080229"), "2028-02-29", 20),
    ("born 28 February, leap year, 29 February", pid("20080228"), "2028-02-29", 20),
    ("turns 60 on the day: elderly", pid("19660930"), "2026-09-30", 60),
    ("59 the day before 60: working age", pid("19661001"), "2026-09-30", 59),
    ("16 on the day: working age", pid("20100930"), "2026-09-30", 16),
    ("18 on the day: adult", pid("20080930"), "2026-09-30", 18),
    ("legacy 15-digit number converted: born 19xx", LEGACY, "2026-09-30", 46),
    ("31 December birthday at year end", pid("19991231"), "2025-12-31", 26),
    ("1 January birthday", pid("20000101"), "2026-01-31", 26),
]
IMPOSSIBLE = [pid("20100230"), pid("20101301"), "4301012010"]  # 30 February, month 13, too short


def sql() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, value in P.sql_variables().items():
        con.execute(f"set variable {name} = ?", [value])
    con.execute((MEANS_DIR / "models" / "00_concepts.sql").read_text(encoding="utf-8"))
    return con


def polars_ages(ids: list[str], days: list[dt.date]) -> list[int | None]:
    frame = pl.DataFrame({"id_number": ids, "day": days})
    return frame.select(age=c.age_on(c.birth_date(), pl.col("day")))["age"].to_list()


def sql_ages(ids: list[str], days: list[dt.date]) -> list[int | None]:
    con = sql()
    rows = con.execute(
        "select age_on(id_number, day) from (select unnest(?) as id_number, unnest(?) as day, "
        "generate_subscripts(?, 1) as i) order by i",
        [ids, days, ids],
    ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize("case,id_number,day,age", AGES, ids=[a[0] for a in AGES])
def test_age_is_the_same_in_polars_and_sql(case, id_number, day, age):
    day = dt.date.fromisoformat(day)
    assert polars_ages([id_number], [day]) == [age]
    assert sql_ages([id_number], [day]) == [age]


def test_an_impossible_birth_date_gives_no_age_in_either_path():
    day = dt.date(2026, 9, 30)
    assert polars_ages(IMPOSSIBLE, [day] * 3) == [None] * 3
    assert sql_ages(IMPOSSIBLE, [day] * 3) == [None] * 3


# (age, labour capacity, health, disability grade, category)
MEMBERS = [
    (a, labour, health, grade, category)
    for a in (None, 15, P.working_age_from, 40, P.working_age_to, P.elderly_age, 80)
    for labour in ("有", "无", None)
    for health in ("健康", "大病", None)
    for grade in (None, 1, 2, 3)
    for category in ("低保", "特困", "低保边缘")
]


def test_every_concept_is_the_same_in_polars_and_sql():
    frame = pl.DataFrame(
        MEMBERS,
        schema={
            "age": pl.Int32,
            "labour": pl.String,
            "health": pl.String,
            "grade": pl.Int32,
            "category": pl.String,
        },
        orient="row",
    )
    age = pl.col("age")
    mine = frame.select(
        minor=c.is_minor(P, age).fill_null(False),
        elderly=c.is_elderly(P, age).fill_null(False),
        working=c.is_working_age(P, age).fill_null(False),
        severe=c.is_severe_disability(P, pl.col("grade")).fill_null(False),
        recipient=c.is_recipient(P, pl.col("category")).fill_null(False),
        single=c.is_single_person_candidate(P, age, pl.col("labour"), pl.col("health"), pl.col("grade")),
    )
    con = sql()
    con.register("members", frame.with_row_index("i").to_arrow())
    theirs = pl.from_arrow(
        con.sql(
            "select coalesce(is_minor(age), false) as minor, coalesce(is_elderly(age), false) as elderly, "
            "coalesce(is_working_age(age), false) as working, "
            "coalesce(is_severe_disability(grade), false) as severe, "
            "coalesce(is_recipient(category), false) as recipient, "
            "is_single_person_candidate(age, labour, health, grade) as single "
            "from members order by i"
        ).to_arrow_table()
    )
    assert mine.to_dicts() == theirs.to_dicts()
    # and the known answers at the bounds
    rows = frame.hstack(mine).to_dicts()

    def find(**want):
        return next(r for r in rows if all(r[k] == v for k, v in want.items()))

    assert find(age=P.working_age_from, grade=1)["single"]  # working age, severe disability
    assert not find(age=40, grade=3, labour="无", health="大病")["single"]  # not elderly, not severe
    assert find(age=P.elderly_age, labour="无", health="大病", grade=None)["single"]
    assert not find(age=P.elderly_age, labour="有", health="大病", grade=None)["single"]
    assert find(age=P.working_age_to)["working"] and not find(age=P.elderly_age)["working"]
    assert find(age=15)["minor"] and find(age=P.working_age_from)["working"]


def test_the_sql_reads_no_number_of_its_own():
    """The concepts' numbers live in rules/: the SQL names them only through variables."""
    text = (MEANS_DIR / "models" / "00_concepts.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    for number in (P.adult_age, P.elderly_age, P.working_age_from, P.working_age_to):
        assert f" {number}" not in body
    checks = "".join(p.read_text(encoding="utf-8") for p in (MEANS_DIR / "checks").glob("*.sql"))
    assert "date_diff('year'" not in checks and "'低保', '特困'" not in checks
