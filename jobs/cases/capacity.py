"""Lists a township can work (能力内下发): which of a month's new items go out and which wait.

A township's clerk visits so many homes a month (rules/outcomes/capacity.yaml, by township). A visit
is a household: its new lead and its new doubtful records go or wait together. Per township:

    weighed   households with work issued earlier and still open within the case lifetime (a lead
              or doubtful case standing, escalated or overdue; not expired, not a re-check draw):
              the deadlines (2 to 30 days) all fall before next month's list, so "within the
              deadline" would weigh nothing, and a clerk with 25 homes left from last month would be
              handed 40 more. An expired case (rules/outcomes/cases.yaml) is the county's to press
              (县级督办), and stops weighing so a township is never shut out for good.
    joining   a household with such work takes its new items along on that visit, for nothing.
    urgent    a household with an urgent (紧急) item is issued whatever the capacity; beyond it, it is
              counted as `beyond_capacity`.
    the rest  ranked (`item_order`) and issued while the capacity minus the weighed households and
              the urgent ones allows. The others wait: state `queued` (排队待下发), not on the lists,
              with their place (`queue_rank`) and why (`queue_reason`); next month they compete with
              its new items by the same order, older first among equals, and keep `first_month`.

A queued item is never dropped: like an issued case whose condition disappeared, it waits for a
visit (its `condition_gone` says so); only an outcome closes it. The re-check draw is outside
capacity: the six-monthly sample is a duty of its own.

The ledger (`_capacity`, one row per township and month) keeps the figures the KPIs read.
"""

from __future__ import annotations

import duckdb
import polars as pl

from jobs.publish import warehouse
from safetynet.lake import Home
from safetynet.months import month_bounds, previous_month
from safetynet.rules import NEAR_DIBAO, RuleSet
from safetynet.workers import threads

CANDIDATE_KINDS = ("lead", "doubtful")
CANDIDATE_STATES = ("new", "queued")  # before allotment: found this month, or waiting since
WEIGHED_STATES = ("standing", "escalated", "overdue", "reopened")
URGENT = "紧急"
NEED = "income_after_rigid_ratio"  # jobs/assess/households.py: the depth of a household's need
YIELD_SCHEMA = {"rule_id": pl.String, "visited": pl.Int64, "helpful": pl.Int64}
LEDGER_SCHEMA = {
    "month": pl.String,
    "township_code": pl.String,
    "county_code": pl.String,
    "households": pl.Int64,  # on the month's roster
    "capacity": pl.Int32,
    "weighed": pl.Int64,  # households with issued work still open (see above)
    "issued": pl.Int64,  # households issued new items this month
    "visits": pl.Int64,  # households with issued work open this month: weighed and issued, once each
    "urgent": pl.Int64,  # ... of them with an urgent item
    "beyond_capacity": pl.Int64,  # urgent households issued past the capacity
    "queued": pl.Int64,  # households waiting
    "oldest_queued": pl.String,  # first_month of the longest-waiting item
}


def capacity_of(rules: RuleSet, month: str) -> pl.Expr:
    """Each row's township capacity (households) in force for the month, longest prefix first."""
    places = rules.capacity.at(month_bounds(month)[0])
    expr = pl.lit(places["default"])
    for prefix in sorted((p for p in places if p != "default"), key=len):
        expr = pl.when(pl.col("township_code").str.starts_with(prefix)).then(places[prefix]).otherwise(expr)
    return expr.cast(pl.Int32)


def learned_yield(h: Home, month: str, catalog: dict[str, dict] | None = None) -> pl.DataFrame:
    """Each warning rule's visited and helpful leads, and each means-test check's records, as of the
    month before `month` (v_rule_yield, v_check_yield: the auditors' figures, computed by their own
    SQL): what outcomes have taught so far. Rule and check ids are apart (tests/test_rules.py)."""
    earlier = previous_month(month)
    if catalog is None and not h.files("_cases", earlier):
        return pl.DataFrame(schema=YIELD_SCHEMA)
    con = duckdb.connect(config={"threads": threads()})
    try:
        made = warehouse.statements(h, catalog, only=("v_rule_yield", "v_check_yield"))
        if not any("v_rule_yield" in sql for sql in made):
            return pl.DataFrame(schema=YIELD_SCHEMA)
        for sql in made:
            con.execute(sql)
        found = con.sql(
            "select rule_id, visited, helpful from v_rule_yield where month = $1 union all "
            "select check_id, visited, helpful from v_check_yield where month = $1 order by all",
            params=[earlier],
        ).pl()
    finally:
        con.close()
    return found.cast(YIELD_SCHEMA)


def expected_yield(items: pl.DataFrame, yields: pl.DataFrame, min_visited: int) -> pl.DataFrame:
    """case_id -> the share of visits expected to bring help: a lead's best rule, a record's check,
    among those with at least `min_visited` visits; any other item the visits-weighted mean of those;
    0 for all while none has enough (then the order and the depth of need decide)."""
    learned = yields.filter(pl.col("visited") >= min_visited)
    visited = learned["visited"].sum()
    mean = learned["helpful"].sum() / visited if visited else 0.0
    ids = pl.when(pl.col("kind") == "lead").then(pl.col("rule_ids")).otherwise(pl.concat_list("check_id"))
    best = (
        items.select("case_id", rule_id=ids)
        .explode("rule_id")
        .join(learned.select("rule_id", rate=pl.col("helpful") / pl.col("visited")), on="rule_id")
        .group_by("case_id")
        .agg(pl.col("rate").max())
    )
    return (
        items.select("case_id")
        .join(best, on="case_id", how="left")
        .select("case_id", expected=pl.col("rate").fill_null(mean))
    )


def item_order(order: tuple[str, ...]) -> pl.Expr:
    """The order items are issued in within a township: urgent first, then the expected yield, the
    colour or direction (rules/outcomes/capacity.yaml `order`; an 应保 record of a household not
    below the standard after rigid expenditure is a near-dibao candidate, `低保边缘`), the depth of
    need (the household's income after rigid expenditure against its standard, lowest first; none
    last), the hardship index, the longest waiting, and the ids (a stable order)."""
    position = {label: i for i, label in enumerate(order)}
    near = (pl.col("direction") == "应保") & (pl.col(NEED) >= 1).fill_null(False)
    label = (
        pl.when(pl.col("kind") == "lead")
        .then(pl.col("level"))
        .when(near)
        .then(pl.lit(NEAR_DIBAO))
        .otherwise(pl.col("direction"))
    )
    return pl.struct(
        (pl.col("urgency") != URGENT).fill_null(True),
        -pl.col("expected"),
        label.replace_strict(position, default=len(position), return_dtype=pl.Int64),
        pl.col(NEED).fill_null(float("inf")),
        -pl.col("hardship_score").fill_null(0),
        pl.col("first_month"),
        pl.col("household_id"),
        pl.col("case_id"),
    )


def households(items: pl.DataFrame, weighed: pl.DataFrame, room: pl.DataFrame) -> pl.DataFrame:
    """One row per township and household with candidate items: whether it goes and why it waits.
    `items` carry `item_rank`; `weighed`: township_code, household_id with issued work; `room`:
    township_code, room (the capacity left after the weighed households)."""
    ranked = (
        items.group_by("township_code", "household_id")
        .agg(best=pl.col("item_rank").min(), urgent=(pl.col("urgency") == URGENT).any())
        .join(weighed.with_columns(joining=pl.lit(True)), on=["township_code", "household_id"], how="left")
        .join(room, on="township_code", how="left")
        .with_columns(pl.col("joining").fill_null(False))
        .sort("township_code", "best")
    )
    place = (~pl.col("joining")).cast(pl.Int64).cum_sum().over("township_code")
    return (
        ranked.with_columns(fits=place <= pl.col("room"))
        .with_columns(
            goes=pl.col("joining") | pl.col("urgent") | pl.col("fits"),
            beyond_capacity=pl.col("urgent") & ~pl.col("joining") & ~pl.col("fits"),
        )
        .with_columns(
            queue_rank=pl.when(~pl.col("goes")).then(
                pl.col("best").rank("ordinal").over("township_code", "goes").cast(pl.UInt32)
            )
        )
        .drop("fits")
    )


def allot(
    month_cases: pl.DataFrame, rules: RuleSet, month: str, hardship: pl.DataFrame, yields: pl.DataFrame
):
    """The month's cases with each candidate item issued (state new) or waiting (state queued), and
    every row's township `capacity`. `hardship`: household_id, hardship_score (and
    income_after_rigid_ratio where known); `yields`: rule_id,
    visited, helpful (`learned_yield`)."""
    month_cases = month_cases.with_columns(capacity=capacity_of(rules, month))
    candidate = pl.col("state").is_in(CANDIDATE_STATES) & pl.col("kind").is_in(CANDIDATE_KINDS)
    items = month_cases.filter(candidate)
    if items.height == 0:
        return month_cases
    weighed = (
        month_cases.filter(pl.col("state").is_in(WEIGHED_STATES) & pl.col("kind").is_in(CANDIDATE_KINDS))
        .select("township_code", "household_id")
        .unique()
    )
    need = [NEED] if NEED in hardship.columns else []
    items = (
        items.join(hardship.select("household_id", "hardship_score", *need), on="household_id", how="left")
        .with_columns([] if need else [pl.lit(None, pl.Float64).alias(NEED)])
        .join(expected_yield(items, yields, rules.capacity.yield_min_visited), on="case_id", how="left")
        .with_columns(item_rank=item_order(rules.capacity.order).rank("ordinal").over("township_code"))
    )
    room = (
        items.select("township_code", "capacity")
        .unique("township_code")
        .join(weighed.group_by("township_code").len("weighed"), on="township_code", how="left")
        .select("township_code", room=pl.col("capacity") - pl.col("weighed").fill_null(0))
    )
    decided = households(items, weighed, room)
    return _apply(month_cases, candidate, decided, items)


def _apply(month_cases: pl.DataFrame, candidate: pl.Expr, decided: pl.DataFrame, items: pl.DataFrame):
    """Each candidate case issued or queued as its household is; why the waiting ones wait."""
    issued = decided.filter("goes").group_by("township_code").len("issued")
    by_case = (
        items.select("case_id", "township_code", "household_id", "capacity")
        .join(decided, on=["township_code", "household_id"])
        .join(issued, on="township_code", how="left")
        .select(
            "case_id",
            "goes",
            "queue_rank",
            beyond=pl.col("beyond_capacity"),
            reason=pl.when(~pl.col("goes")).then(
                pl.format(
                    "本月入户核查能力 {} 户已排满（在办未回传 {} 户，本月下发 {} 户），"
                    "排队第 {} 位，顺延下月",
                    "capacity",
                    pl.col("capacity") - pl.col("room"),
                    pl.col("issued").fill_null(0),
                    "queue_rank",
                )
            ),
        )
    )
    waits = candidate & ~pl.col("goes")
    return (
        month_cases.drop("queue_rank", "queue_reason", "beyond_capacity", strict=False)
        .join(by_case, on="case_id", how="left")
        .with_columns(
            state=pl.when(waits)
            .then(pl.lit("queued"))
            .when(candidate)
            .then(pl.lit("new"))
            .otherwise("state"),
            changed=pl.when(candidate).then(True).otherwise("changed"),
            first_issued_on=pl.when(waits).then(None).otherwise("first_issued_on"),
            opened_on=pl.when(waits).then(None).otherwise("opened_on"),
            days_open=pl.when(waits).then(None).otherwise("days_open"),
            overdue=pl.when(waits).then(False).otherwise("overdue"),
            beyond_capacity=pl.col("beyond").fill_null(False),
            queue_reason="reason",
        )
        .drop("goes", "beyond", "reason")
        .sort("township_code", "kind", "case_id")  # as advance left them: the same bytes on a rerun
    )


def ledger(month: str, month_cases: pl.DataFrame, roster: pl.DataFrame, rules: RuleSet) -> pl.DataFrame:
    """One row per township of the month (on the roster or with cases): its households, capacity,
    the households weighed, issued, visited (weighed or issued: a household joining its open work
    once), urgent, beyond capacity and queued. `roster`: household_id,
    township_code of the month's households."""
    open_cases = month_cases.filter(pl.col("kind").is_in(CANDIDATE_KINDS))
    counts = open_cases.group_by("township_code").agg(
        weighed=pl.col("household_id").filter(pl.col("state").is_in(WEIGHED_STATES)).n_unique(),
        issued=pl.col("household_id").filter(pl.col("state") == "new").n_unique(),
        visits=pl.col("household_id").filter(pl.col("state").is_in((*WEIGHED_STATES, "new"))).n_unique(),
        urgent=pl.col("household_id")
        .filter((pl.col("state") == "new") & (pl.col("urgency") == URGENT))
        .n_unique(),
        beyond_capacity=pl.col("household_id").filter(pl.col("beyond_capacity")).n_unique(),
        queued=pl.col("household_id").filter(pl.col("state") == "queued").n_unique(),
        oldest_queued=pl.col("first_month").filter(pl.col("state") == "queued").min(),
    )
    towns = pl.concat(
        [roster.group_by("township_code").len("households"), open_cases.select("township_code").unique()],
        how="diagonal",
    )
    return (
        towns.group_by("township_code")
        .agg(pl.col("households").sum())
        .join(counts, on="township_code", how="left")
        .with_columns(
            month=pl.lit(month),
            county_code=pl.col("township_code").str.slice(0, 6),
            capacity=capacity_of(rules, month),
        )
        .with_columns(
            pl.col(c).fill_null(0)
            for c in ("weighed", "issued", "visits", "urgent", "beyond_capacity", "queued")
        )
        .select([pl.col(c).cast(t) for c, t in LEDGER_SCHEMA.items()])
        .sort("township_code")
    )
