"""What the cross-region checks came to, as the data team's status page and the county overview show
it: per province, requests sent, answered, overdue and the median days to answer (the rows of
`v_cross_region_kpis`, both directions), and the doubtful records whose evidence came from another
province's answer (跨省) or from another prefecture of the province (跨市), the `cross_province` and
`cross_city` columns of `v_doubtful_records` when the warehouse has them (months built before issue
35 have not). Every figure is a row the SQL made; nothing is recounted here.
"""

from __future__ import annotations

import polars as pl

KPI_COLUMNS = (
    "requests",
    "made_in_month",
    "answered",
    "pending",
    "overdue",
    "refused",
    "median_days_to_answer",
)
MARKS = ("cross_province", "cross_city")


def _frame(con, sql: str, params: list) -> pl.DataFrame:
    """Rows through Arrow: the export's own connection and the auditors' sealed one both answer it."""
    return pl.from_arrow(con.sql(sql, params=params).to_arrow_table())


def marks(con) -> tuple[str, ...]:
    """The 跨省/跨市 columns `v_doubtful_records` has (none without the view or before issue 35)."""
    found = _frame(
        con,
        "select column_name from information_schema.columns where table_name = 'v_doubtful_records'",
        [],
    )["column_name"]
    return tuple(c for c in MARKS if c in set(found))


def doubtful_marked(con, month: str, area: str = "") -> dict[str, int] | None:
    """Doubtful records of the month (of the area's townships) marked 跨省 and 跨市; None when the
    warehouse does not mark them."""
    present = marks(con)
    if not present:
        return None
    counts = ", ".join(f"count(*) filter (where {c}) as {c}" for c in present)
    row = _frame(
        con,
        f"select {counts} from v_doubtful_records where month = ? and starts_with(township_code, ?)",
        [month, area],
    ).row(0, named=True)
    return {c: int(row.get(c) or 0) for c in MARKS if c in row}


def figures(con, month: str, area: str = "") -> dict:
    """The month's cross-region figures: `sent` and `received` (one dict per province, the 'all'
    row last) and `doubtful` (跨省/跨市 counts of the area, None when not marked)."""
    rows = _frame(
        con,
        "select * from v_cross_region_kpis where month = ? order by direction, region = 'all', region",
        [month],
    )
    return {
        "month": month,
        "sent": rows.filter(pl.col("direction") == "发出").to_dicts(),
        "received": rows.filter(pl.col("direction") == "收到").to_dicts(),
        "doubtful": doubtful_marked(con, month, area),
    }


def keep_month(con, month: str) -> None:
    """For a connection serving every county of one month (the export's overviews, on its own
    connection): the month's marked doubtful records computed once, into a temp table the per-county
    queries read instead of the view."""
    present = marks(con)
    if present:
        con.execute(
            "create temp table v_doubtful_records_now as select month, township_code, "
            f"{', '.join(present)} from v_doubtful_records where month = ?",
            [month],
        )
        con.execute("create or replace temp view v_doubtful_records as select * from v_doubtful_records_now")


def summary(con, month: str) -> str:
    """One line for `safetynet run`: the month's requests sent and received over every province."""
    rows = _frame(
        con,
        "select * from v_cross_region_kpis where month = ? and region = 'all' order by direction",
        [month],
    )
    by = {r["direction"]: r for r in rows.to_dicts()}
    sent, received = by.get("发出"), by.get("收到")
    parts = [
        f"sent {sent['requests']} (made this month {sent['made_in_month']}, answered {sent['answered']}, "
        f"overdue {sent['overdue']}, median days to answer {_days(sent)})"
        if sent
        else "sent none",
        f"received {received['requests']} (answered {received['answered']}, refused {received['refused']})"
        if received
        else "received none",
    ]
    return "cross-region requests: " + "; ".join(parts)


def _days(row: dict) -> str:
    return "—" if row["median_days_to_answer"] is None else f"{row['median_days_to_answer']:g}"
