"""Which months a 12-month figure rests on: the months of the look-back window whose events of a
source the lake holds.

A month is held when the source was delivered in it (a file of its own, not only a history), or
when a history delivery
(`<source>.history.csv`, contract version 3) in a later month of the window reaches back to it: a
history reaches from the month of its earliest row (`history_from` in `_deliveries`) to the month
before its own. A month the department did not deliver, and no history covers, is a gap: its
events are unknown, not absent, and the figure is a sum over fewer months than its name says.
"""

from __future__ import annotations

import polars as pl

from safetynet.contract import HISTORY, SOURCES
from safetynet.lake import Home
from safetynet.months import add_months, month_range

# The figures each event source feeds (jobs/assess/households.py FEATURES; the means test's wages)
FIGURES = {
    "medical_claims": "oop_medical_12m, inpatient_12m",
    "medical_assistance": "medical_assistance_12m",
    "education_aid": "education_aid_12m",
    "employment": "wages of the last 12 months (means test), months_unemployed",
    "work_injury": "work_injuries_12m",
    "deaths": "deaths_12m",
    "missing_persons": "missing_12m",
    "disasters": "disaster_damage_12m, disaster_loss_12m",
    "legal_aid": "legal_aid_12m",
}


def _delivery(h: Home, source: str, month: str) -> dict | None:
    path = h.partition("_deliveries", month) / f"{source}.parquet"
    if not path.exists():
        return None
    row = pl.read_parquet(path).row(0, named=True)
    return row if row["status"] == "delivered" else None


def covered_months(h: Home, source: str, month: str, months: int) -> list[str]:
    """The months of the `months` months ending with `month` whose events of `source` the lake holds."""
    window = month_range(add_months(month, 1 - months), month)
    held: set[str] = set()
    for m in window:
        record = _delivery(h, source, m)
        if record is None:
            continue
        if any(HISTORY not in f["file"] for f in record["files"]):  # the month's own events came
            held.add(m)
        if record.get("history_from"):
            held.update(month_range(record["history_from"], add_months(m, -1)))
    return [m for m in window if m in held]


def figures_rest_on(h: Home, month: str, months: int) -> list[dict]:
    """Per event source with 12-month figures: the months held, those from history, the gaps."""
    window = month_range(add_months(month, 1 - months), month)
    out = []
    for source, figures in FIGURES.items():
        held = covered_months(h, source, month, months)
        out.append(
            {
                "source": source,
                "zh": SOURCES[source].zh,
                "figures": figures,
                "held": held,
                "missing": [m for m in window if m not in held],
                "months": months,
            }
        )
    return out
