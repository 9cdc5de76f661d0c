"""Calendar months as the contract writes them: `YYYY-MM`."""

from __future__ import annotations

import datetime as dt


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """First and last day of a month."""
    start = dt.date.fromisoformat(f"{month}-01")
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return start, end


def month_range(first: str, last: str) -> list[str]:
    """Every month from `first` to `last`, inclusive (empty when first is after last)."""
    months = []
    start, _ = month_bounds(first)
    while (month := start.strftime("%Y-%m")) <= last:
        months.append(month)
        start = month_bounds(month)[1] + dt.timedelta(days=1)
    return months


def previous_month(month: str) -> str:
    start, _ = month_bounds(month)
    return (start - dt.timedelta(days=1)).strftime("%Y-%m")


def next_month(month: str) -> str:
    return (month_bounds(month)[1] + dt.timedelta(days=1)).strftime("%Y-%m")


def add_months(month: str, n: int) -> str:
    """The month `n` months after `month` (before it when n is negative)."""
    year, mon = map(int, month.split("-"))
    index = year * 12 + mon - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
