"""The assessment stage of a month: households → hardship index → warnings → leads, into the lake.

    <home>/lake/_household_month/month=YYYY-MM/data.parquet   one row per household: features,
                                                              points per indicator, sub-scores,
                                                              index, level, fired rules
    <home>/lake/_leads/month=YYYY-MM/data.parquet             one row per household with a fired rule
    <home>/lake/_cases/month=YYYY-MM/data.parquet             one row per case open or closed in the
                                                              month (jobs/cases.py)
    <home>/lake/_notices/month=YYYY-MM/data.parquet           one row per child about to enter a
                                                              school stage (jobs/notices.py)

Both carry `rule_version`. The rule set is loaded (and checked) before anything is computed, so a
month is never scored with half a rule set.
"""

from __future__ import annotations

import polars as pl

from jobs import cases, notices
from jobs.faults import fault
from jobs.households import FEATURES, STAGE_COLUMNS, assemble
from jobs.lake import write_parquet
from jobs.leads import make_leads, warn
from jobs.means_test import match_checks, means_test
from jobs.score import score
from safetynet.progress import timed
from safetynet.rules import RuleSet, load_rules


def checked_rules() -> RuleSet:
    """The rule set, refusing any rule that names a column no stage provides."""
    rules = load_rules(columns=set(FEATURES) | STAGE_COLUMNS)
    match_checks(rules)
    return rules


def assess(month: str, home: str, run_id: str) -> dict:
    """Households, index, warnings, leads and the means test of the run's build (in staging)."""
    from jobs.monthly import open_build

    h = open_build(home, run_id)
    rules = checked_rules()
    # first, while the task holds nothing else: its reads of the roster and enrolment (about 1 GB
    # at 2 M households) then never stand beside the province's household frames
    with timed("anticipated needs") as info:
        noticed = notices.anticipate(h, month, rules)
        info["notices"] = noticed.height
    write_parquet(noticed, h.partition("_notices", month) / "data.parquet")
    del noticed
    with timed("households") as info:
        households, missing = assemble(h, month, rules)
        info.update(households=households.height, missing_sources=",".join(missing) or "none")
    with timed("hardship index") as info:
        scored = score(households, rules, month, missing)
        info.update(mean_score=round(float(scored["hardship_score"].mean() or 0), 1))
    past = cases.history(h, month, rules)
    with timed("warnings and leads") as info:
        warned = warn(scored, rules, month)
        leads = make_leads(warned, rules, month, cases.covering_leads(past.closed))
        leads = cases.attach_leads(leads, past.open)
        info.update(leads=leads.height, pushed=int(leads["pushed"].sum()), rule_version=rules.version)
    fault("assess", "leads")
    # in household order as assembled: a sort here would copy the province's widest frame
    write_parquet(
        warned.lazy().with_columns(missing_sources=pl.lit(",".join(missing))),
        h.partition("_household_month", month) / "data.parquet",
    )
    # The wide frames are on disk now: only what the cases need stays in memory through the means
    # test, whose DuckDB joins are the task's largest (the task's peak RSS is the month's). The
    # cases' two columns are read back from the file: selecting them from the scored frame cost
    # 1.6 GB at 2 M households, the task's peak.
    count = households.height
    del households, scored, warned
    hardship = pl.read_parquet(
        h.partition("_household_month", month) / "data.parquet", columns=["household_id", "hardship_score"]
    )
    # The means test builds the warehouse's views, this build included, in its own in-memory DuckDB.
    with timed("means test") as info:
        found = means_test(month, h, rules, past)
        info.update(doubtful=found["doubtful"], unchecked=found["unchecked"], recheck_sample=found["recheck"])
    with timed("cases") as info:
        month_cases, leads = cases.track(h, month, rules, past, leads, hardship)
        info.update(**{s: int((month_cases["state"] == s).sum()) for s in cases.STATES})
    write_parquet(month_cases, h.partition("_cases", month) / "data.parquet")
    write_parquet(
        leads.sort("township_code", "rank", "lead_id"), h.partition("_leads", month) / "data.parquet"
    )
    return {
        "month": month,
        "households": count,
        "leads": leads.height,
        "pushed": int(leads["pushed"].sum()),
        "rule_version": rules.version,
    }
