"""An office's duty in application checks (逢救必核): whose household it may check, and how many.

PIPL treats deposits and property as sensitive personal information, processed only by those whose
duty it is: a township office checks applicants of its own township, a county office of its county
(`area`, the account's division code prefix; the data team's is empty: every area).

- Every member's division code lies in the area, else the application is refused, naming the
  township whose area it is (`outside`).
- A member who stands on the latest month's roster of a township outside the area (a move, or a
  probe) is held for the county's release: until then the office learns nothing of him (`elsewhere`).
- An office's checks are counted per day (China time); above `daily_threshold` (rules/portal/
  portal.yaml) further checks are held for the county's release too.
"""

from __future__ import annotations

import datetime as dt
import math

import polars as pl

from safetynet.lake import Home
from safetynet.rules import PortalSettings


def outside(members: pl.DataFrame, area: str) -> pl.DataFrame:
    """The members whose division code is not in the area, in file order."""
    return members.filter(~pl.col("division_code").str.starts_with(area)).sort("source_row")


def elsewhere(h: Home, month: str, ids: list[str], area: str) -> pl.DataFrame:
    """Rows of the month's roster, in townships outside the area, of the given ID numbers."""
    roster = h.scan("roster", month)
    if roster is None or not area:
        return pl.DataFrame(
            schema={"id_number": pl.String, "household_id": pl.String, "division_code": pl.String}
        )
    return (
        roster.filter(pl.col("id_number").is_in(ids) & ~pl.col("division_code").str.starts_with(area))
        .select("id_number", "household_id", "division_code")
        .unique()
        .sort("id_number", "household_id")
        .collect()
    )


def daily_threshold(past: list[int], settings: PortalSettings) -> int:
    """The checks an office may make in a day before the next is held: `application_daily_multiple`
    times its usual day (the mean over the `application_baseline_days` before today, a day without a
    check counting as none), and never fewer than `application_daily_minimum`."""
    usual = sum(past) / settings.application_baseline_days
    return max(math.ceil(settings.application_daily_multiple * usual), settings.application_daily_minimum)


def counted(entry: dict) -> bool:
    """A check the office made itself: checked or held (a county's release is not the office's)."""
    return entry["status"] in ("checked", "held") and not entry.get("released_by")


def day_counts(entries: list[dict], office: str, day: dt.date, days: int) -> tuple[int, list[int]]:
    """(the office's checks on `day`, its checks on each of the `days` days before that were not
    held): from the application log's lines."""
    first = (day - dt.timedelta(days=days)).isoformat()
    today = day.isoformat()
    per_day: dict[str, int] = {}
    today_count = 0
    for e in entries:
        if e.get("office") != office or not counted(e):
            continue
        date = e["at"][:10]
        if date == today:
            today_count += 1
        elif first <= date < today and e["status"] == "checked":
            per_day[date] = per_day.get(date, 0) + 1
    return today_count, [per_day[d] for d in sorted(per_day)]
