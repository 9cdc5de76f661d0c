"""The assessment stage of a month: households → hardship index → warnings → leads, into the lake.

    <home>/lake/_household_month/month=YYYY-MM/data.parquet   one row per household: features,
                                                              points per indicator, sub-scores,
                                                              index, level, fired rules
    <home>/lake/_leads/month=YYYY-MM/data.parquet             one row per household with a fired rule

Both carry `rule_version`. The rule set is loaded (and checked) before anything is computed, so a
month is never scored with half a rule set.
"""

from __future__ import annotations

import polars as pl

from jobs.faults import fault
from jobs.households import FEATURES, STAGE_COLUMNS, assemble
from jobs.lake import Home, write_parquet
from jobs.leads import lookback, make_leads, warn
from jobs.means_test import match_checks, means_test
from jobs.score import score
from safetynet.progress import timed
from safetynet.rules import LEVELS, RuleSet, load_rules


def checked_rules() -> RuleSet:
    """The rule set, refusing any rule that names a column no stage provides."""
    rules = load_rules(columns=set(FEATURES) | STAGE_COLUMNS)
    match_checks(rules)
    return rules


def previous_leads(home: Home, month: str) -> pl.DataFrame | None:
    paths = [home.partition("_leads", m) / "data.parquet" for m in lookback(month)]
    paths = [p for p in paths if p.exists()]
    if not paths:
        return None
    rank_of = {lv: i for i, lv in enumerate(LEVELS)}
    return (
        pl.scan_parquet(paths)
        .filter(pl.col("pushed"))
        .select("household_id", "lead_id", "rule_ids", level_rank=pl.col("level").replace_strict(rank_of))
        .collect()
    )


def assess(month: str, home: str, run_id: str) -> dict:
    """Households, index, warnings, leads and the means test of the run's build (in staging)."""
    from jobs.monthly import open_build

    h = open_build(home, run_id)
    rules = checked_rules()
    with timed("households") as info:
        households, missing = assemble(h, month, rules)
        info.update(households=households.height, missing_sources=",".join(missing) or "none")
    with timed("hardship index") as info:
        scored = score(households, rules, month, missing)
        info.update(mean_score=round(float(scored["hardship_score"].mean() or 0), 1))
    with timed("warnings and leads") as info:
        warned = warn(scored, rules, month)
        leads = make_leads(warned, rules, month, previous_leads(h, month))
        info.update(leads=leads.height, pushed=int(leads["pushed"].sum()), rule_version=rules.version)
    fault("assess", "leads")
    write_parquet(
        warned.with_columns(missing_sources=pl.lit(",".join(missing))).sort("household_id"),
        h.partition("_household_month", month) / "data.parquet",
    )
    write_parquet(
        leads.sort("township_code", "rank", "lead_id"), h.partition("_leads", month) / "data.parquet"
    )
    # The means test builds the warehouse's views, this build included, in its own in-memory DuckDB.
    with timed("means test") as info:
        found = means_test(month, h, rules)
        info.update(doubtful=found["doubtful"], unchecked=found["unchecked"], recheck_sample=found["recheck"])
    return {
        "month": month,
        "households": households.height,
        "leads": leads.height,
        "pushed": int(leads["pushed"].sum()),
        "rule_version": rules.version,
    }
