"""The field-like world's township offices (issue 30, item 6 follow-up): the loop 监测 → 预警 → 核查 → 救助
closes between two runs.

After a month's run, each township takes its issued lists from the published warehouse (`v_cases`: every
open case on a sheet, i.e. new, standing, escalated, overdue or expired; not closed, not queued) and visits
households in list order, urgent (紧急) first, then by rank, up to its capacity
(rules/outcomes/capacity.yaml, longest division-code prefix). A visited household gets one row per id in
`<landing>/<next month>/outcomes.part-<township code>.csv`, the contract's `outcomes` columns, the outcome
the truth of that household and month calls for:

    need, low income or rigid expenditure        纳入低保 (the truth's slow kinds are of uncovered households)
    need, sudden (medical, collapse, death)      临时救助
    ineligible (income above, assets over)       退出
    neither, covered (低保, 特困)                维持现状
    neither, not covered                         不符合条件

and `UNVERIFIABLE` of the visits 无法核实 (nobody home). The truth has no near-need flag, so no
纳入低保边缘. The visit falls within the month after the list's issue, by `visit_by` for most, after it for
`LATE`. Seeded by (seed, month): a rerun writes the same bytes; nothing else in the landing is touched.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from safetynet.contract import SOURCES
from safetynet.months import month_bounds, next_month
from safetynet.rules import load_rules
from synthetic.field_world import RECIPIENTS, SLOW

URGENT = "紧急"
UNVERIFIABLE = 0.05  # share of visits finding nobody to verify (assumed; no field figure)
LATE = 0.10  # share of visits made after the deadline, when the month leaves room (assumed)
OUTCOME_COLUMNS = [c.name for c in SOURCES["outcomes"].columns]
LIST_SCHEMA = {
    "case_id": pl.String,
    "household_id": pl.String,
    "township_code": pl.String,
    "urgency": pl.String,
    "rank": pl.Int64,
    "issued_on": pl.Date,
    "visit_by": pl.Date,
}


def capacity_table(townships: list[str], month: str) -> tuple[pl.DataFrame, int, str]:
    """Visits each township can make a month, from rules/outcomes/capacity.yaml (longest division-code
    prefix wins); the default, and where they come from."""
    places = load_rules(month=month).capacity.at(month_bounds(month)[0])
    default = places["default"]

    def of(code: str) -> int:
        prefixes = [p for p in places if p != "default" and code.startswith(p)]
        return places[max(prefixes, key=len)] if prefixes else default

    rows = [(code, of(code)) for code in sorted(set(townships))]
    table = pl.DataFrame(rows, schema={"township_code": pl.String, "capacity": pl.Int64}, orient="row")
    return table, default, f"{default} by default (rules/outcomes/capacity.yaml)"


def read_lists(home: Path, month: str) -> pl.DataFrame:
    """The month's issued lists as published: one row per open case on a sheet (v_cases)."""
    from jobs.publish.sealed import connect  # the warehouse: only when a run is read

    with connect(home) as con:
        got = con.execute(
            "select case_id, household_id, township_code, urgency, rank, issued_on, visit_by "
            "from v_cases where month = ? and sheet is not null order by case_id",
            [month],
        )
        rows = got.fetchall()
    return pl.DataFrame(rows, schema=LIST_SCHEMA, orient="row")


def visited_households(lists: pl.DataFrame, capacity: pl.DataFrame) -> pl.DataFrame:
    """Per township, its households in list order (urgent first, then the best rank of their items,
    then the id) up to its capacity: household_id, township_code, issued_on, visit_by (the earliest)."""
    households = (
        lists.group_by("township_code", "household_id")
        .agg(
            urgent=(pl.col("urgency") == URGENT).any(),
            rank=pl.col("rank").min(),
            issued_on=pl.col("issued_on").min(),
            visit_by=pl.col("visit_by").min(),
        )
        .sort(["township_code", "urgent", "rank", "household_id"], descending=[False, True, False, False])
        .join(capacity.select("township_code", "capacity"), on="township_code", how="left")
    )
    place = pl.int_range(1, pl.len() + 1).over("township_code")
    return households.filter(place <= pl.col("capacity")).drop("urgent", "rank", "capacity")


def outcome_of() -> pl.Expr:
    """The outcome the truth calls for (module docstring); a household the truth no longer has
    (nobody left) cannot be verified."""
    slow = pl.any_horizontal(SLOW)
    covered = pl.col("category").is_in(RECIPIENTS)
    return (
        pl.when(pl.col("need").is_null())
        .then(pl.lit("无法核实"))
        .when(pl.col("need") & slow)
        .then(pl.lit("纳入低保"))
        .when(pl.col("need"))
        .then(pl.lit("临时救助"))
        .when(pl.col("ineligible"))
        .then(pl.lit("退出"))
        .when(covered)
        .then(pl.lit("维持现状"))
        .otherwise(pl.lit("不符合条件"))
    )


def visit_dates(visited: pl.DataFrame, month_end: dt.date, late: np.ndarray, u: np.ndarray) -> pl.Series:
    """A day from the list's issue to its deadline (to the month's end when already overdue), or
    after the deadline for a late visit the month leaves room for."""
    start = visited["issued_on"].to_numpy().astype("datetime64[D]")
    due = visited["visit_by"].fill_null(month_end).to_numpy().astype("datetime64[D]")
    end = np.datetime64(month_end, "D")
    on_time_end = np.where(due < start, end, np.minimum(due, end))
    is_late = late & (due >= start) & (due < end)
    lo = np.where(is_late, due + 1, start)
    hi = np.where(is_late, end, on_time_end)
    days = (hi - lo).astype(np.int64) + 1
    return pl.Series("visited_on", lo + (u * days).astype(np.int64).astype("timedelta64[D]"))


def outcome_rows(
    lists: pl.DataFrame,
    truth: pl.DataFrame,
    capacity: pl.DataFrame,
    month: str,
    seed: int,
    unverifiable: float = UNVERIFIABLE,
) -> pl.DataFrame:
    """The townships' outcomes of `month`'s lists (`LIST_SCHEMA`) against that month's `truth` (the
    field world's): township_code and the `outcomes` columns, one row per id of a visited household."""
    visited = visited_households(lists, capacity).sort("household_id")
    rng = np.random.default_rng([seed, 30, 6, int(month.replace("-", ""))])
    n = visited.height
    nobody, late, u = rng.random(n) < unverifiable, rng.random(n) < LATE, rng.random(n)
    facts = truth.filter(pl.col("month") == month).select(
        "household_id", "category", "need", "ineligible", *SLOW
    )
    visited = visited.with_columns(
        visit_dates(visited, month_bounds(next_month(month))[1], late, u), nobody=pl.Series(nobody)
    ).join(facts, on="household_id", how="left", maintain_order="left")
    visited = visited.with_columns(
        outcome=pl.when("nobody").then(pl.lit("无法核实")).otherwise(outcome_of()),
    )
    return (
        lists.select("case_id", "household_id")
        .join(visited.select("household_id", "township_code", "outcome", "visited_on"), on="household_id")
        .select(
            "township_code",
            lead_id="case_id",
            visited_on=pl.col("visited_on").cast(pl.String),
            outcome="outcome",
            referred_to=pl.lit(None, pl.String),
            note=pl.lit(None, pl.String),
            upload_sha256=pl.lit(None, pl.String),
        )
        .sort("township_code", "lead_id")
    )


def write_outcomes(landing: Path, month: str, rows: pl.DataFrame) -> dict[str, int]:
    """`<landing>/<month>/outcomes.part-<township>.csv` per township with rows (replaced whole, as
    the portal does); nothing else is touched. Rows per township."""
    folder = landing / month
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for (township,), part in rows.partition_by("township_code", as_dict=True, maintain_order=True).items():
        part.select(OUTCOME_COLUMNS).write_csv(folder / f"outcomes.part-{township}.csv")
        written[township] = part.height
    return written


def return_visits(home: Path, landing: Path, truth: pl.DataFrame, month: str, seed: int) -> pl.DataFrame:
    """Between the run of `month` and the next: the townships visit and their outcomes land in the
    next month's folder. Returns the rows written."""
    lists = read_lists(home, month)
    capacity, _, _ = capacity_table(lists["township_code"].to_list(), month)
    rows = outcome_rows(lists, truth, capacity, month, seed)
    write_outcomes(landing, next_month(month), rows)
    return rows
