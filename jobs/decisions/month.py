"""A month's decisions in the run (called by `jobs.month.assess.assess_month`): read the decision log
up to the month as the run's start copied it into the build (jobs/decisions/log.py `snapshot`), the
month's roster and last month's states; write

    <build>/_decisions/data.parquet                one row per decision approved in the month
    <build>/_decision_states/data.parquet          every decision approved so far, in its state
    <build>/exports/_decisions/decisions.csv       the month's decisions for the business system
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import polars as pl

from jobs.decisions import confirm, decided
from jobs.decisions import log as decision_log
from safetynet.lake import WHOLE, Home, write_parquet
from safetynet.months import previous_month
from safetynet.rules import load_decisions, load_population

CSV = Path("exports") / "_decisions" / "decisions.csv"


def read(h: Home, month: str) -> tuple[pl.DataFrame, pl.DataFrame | None, pl.DataFrame]:
    """The decisions approved up to `month`, last month's states (None without), the month's roster."""
    decisions = decided.approved(decision_log.of_build(h, month))  # as read at the run's start
    before = h.read("_decision_states", previous_month(month))
    roster = h.read("roster", month, confirm.ROSTER_COLUMNS)
    if roster is None:
        roster = pl.DataFrame(
            schema={c: pl.String for c in confirm.ROSTER_COLUMNS} | {"source_row": pl.Int64}
        )
    return decisions, before, roster


def compute(
    month: str, decisions: pl.DataFrame, before: pl.DataFrame | None, roster: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the month's decisions, every decision's state as of the month)."""
    recipients = load_population(month=month).recipient_categories
    states = confirm.states(month, decisions, before, roster, load_decisions(month), recipients)
    return decided.of_month(decisions, month), states


def write(h: Home, month: str, approved: pl.DataFrame, states: pl.DataFrame) -> Path:
    write_parquet(approved, h.partition("_decisions", month) / WHOLE)
    write_parquet(states, h.partition("_decision_states", month) / WHOLE)
    target = h.building.path / CSV
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(decided.csv_bytes(approved))
    os.replace(tmp, target)
    return target


def decide(h: Home, month: str) -> dict:
    """The month's decisions and states into the build; counts for the task's answer."""
    approved, states = compute(month, *read(h, month))
    write(h, month, approved, states)
    named = {confirm.PENDING: "pending", confirm.CONFIRMED: "confirmed", confirm.UNCONFIRMED: "unconfirmed"}
    return {"decisions": approved.height} | {
        name: int((states["state"] == state).sum()) for state, name in named.items()
    }
