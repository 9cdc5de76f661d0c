"""Calendar months as the contract writes them: `YYYY-MM`."""

from __future__ import annotations

import datetime as dt
import re


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


_PERIODS = (
    (r"^(\d{4})H1$", r"\1年上半年"),
    (r"^(\d{4})H2$", r"\1年下半年"),
    (r"^(\d{4})Q(\d)$", r"\1年第\2季度"),
)


def period_label(period: str) -> str:
    """A re-check period as township staff read it (jobs/means_test/checks.py `period_of`):
    2026H2 -> 2026年下半年, 2026Q3 -> 2026年第3季度, 2026P05 -> 2026年第5期."""
    for pattern, label in (*_PERIODS, (r"^(\d{4})P0*(\d+)$", r"\1年第\2期")):
        if re.match(pattern, period):
            return re.sub(pattern, label, period)
    return period
