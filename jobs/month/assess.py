"""The assessment stage of a month: households → hardship index → warnings → leads, into the lake.

It runs in two steps. `assess_area`, once per prefecture (jobs/ingest/areas.py; the DAG maps it over
`prefectures`), reads that prefecture's rows only and writes its files:

    <build>/_household_month/<prefecture>.parquet   one row per household: features, points per
                                                    indicator, sub-scores, index, level, fired rules
    <build>/_notices/<prefecture>.parquet           one row per child about to enter a school stage
                                                    (jobs/assess/notices.py)
    <build>/_doubtful/, _unchecked/, _recheck/, _means_*/<prefecture>.parquet
                                                    its means test and re-check sample (jobs/means_test/)
    <build>/_area_leads/<prefecture>.parquet        its leads before the cases; written last, so it
                                                    says the prefecture is done

`assess_month` then works over the month: the means-test checks across prefectures (one person
in two households) and the cases, and writes

    <build>/_leads/data.parquet     one row per household with a fired rule
    <build>/_cases/data.parquet     one row per case open or closed in the month (jobs/cases/lifecycle.py)
    <build>/_capacity/data.parquet  one row per township: its visiting capacity, the households
                                    issued, urgent beyond capacity and queued (jobs/cases/capacity.py)
    <build>/_decisions/, _decision_states/, exports/_decisions/decisions.csv
                                    the assistance decisions approved in the month and every
                                    decision's state on its roster (jobs/decisions/)

All carry `rule_version`. The rule set is loaded (and checked) before anything is computed, so a
month is never scored with half a rule set. `assess` runs both steps in one process.
"""

from __future__ import annotations

import polars as pl

from jobs.assess import notices
from jobs.assess.households import FEATURES, STAGE_COLUMNS, assemble
from jobs.assess.leads import make_leads, warn
from jobs.assess.month_window import applying, window
from jobs.assess.score import score
from jobs.cases import capacity
from jobs.cases import lifecycle as cases
from jobs.decisions import month as decisions
from jobs.ingest import areas
from jobs.means_test.checks import across_prefectures, match_checks, means_test
from safetynet.builds import open_build
from safetynet.errors import SafetynetError
from safetynet.faults import fault
from safetynet.lake import WHOLE, Home, write_parquet
from safetynet.progress import timed
from safetynet.rules import RuleSet, load_population, load_rules


def checked_rules(month: str | None = None) -> RuleSet:
    """The rule set, refusing any rule that names a column no stage provides; its parameters as in
    force in `month` (the latest without one)."""
    rules = load_rules(columns=set(FEATURES) | STAGE_COLUMNS, month=month)
    match_checks(rules)
    return rules


AREA_LEADS = "_area_leads"


class AssessError(SafetynetError):
    """A month that cannot be assessed as asked (names the month and why)."""


def prefectures(month: str, home: str, run_id: str) -> list[str]:
    """The prefectures with households on the month's roster: one `assess_area` each. A division
    code of an unknown prefecture was quarantined at ingest, so none is made up here. In a build,
    the month's households that moved between prefectures in the window are found here, once for
    every prefecture (`_movers`, jobs/ingest/areas.py)."""

    h = open_build(home, run_id)
    found = _listed(h, month)
    if h.building and h.building.month == month:
        earlier = window(month, load_population(month=month).lookback_months)[:-1]
        with timed("movers between prefectures") as info:
            moved = areas.movers(h, month, earlier, applying(h, month))
            info.update(households=moved["household_id"].drop_nulls().n_unique(), files=moved.height)
        write_parquet(moved, h.partition(areas.MOVERS, month) / WHOLE)
        fault("assess", "movers")
    return found


def _listed(h: Home, month: str) -> list[str]:
    files = h.files("roster", month)
    if not files:
        raise FileNotFoundError(
            f"{h.root}: no roster in the lake for {month}: households cannot be assembled"
        )
    if [p.name for p in files] == [WHOLE]:  # a task cleared after a publish by the code before
        raise AssessError(
            f"{month}: its build was loaded before the lake was kept by prefecture; "
            "start a new run of the month to assess it per prefecture"
        )
    found = sorted(p.stem for p in files if p.stem.isdigit())
    if not found:
        raise AssessError(f"{month}: the roster lists no household: nothing to assess")
    return found


def assess_area(month: str, home: str, run_id: str, area: str) -> dict:
    """One prefecture's households, index, warnings and leads (in staging)."""

    h = open_build(home, run_id)
    rules = checked_rules(month)
    # first, while the task holds nothing else: its reads of the roster and enrolment then never
    # stand beside the household frames
    with timed(f"anticipated needs {area}") as info:
        noticed = notices.anticipate(h, month, rules, area)
        info["notices"] = noticed.height
    write_parquet(noticed, h.partition("_notices", month) / f"{area}.parquet")
    del noticed
    with timed(f"households {area}") as info:
        households, missing = assemble(h, month, rules, area)
        info.update(households=households.height, missing_sources=",".join(missing) or "none")
    with timed(f"hardship index {area}") as info:
        scored = score(households, rules, month, missing)
        info.update(mean_score=round(float(scored["hardship_score"].mean() or 0), 1))
    count = households.height
    del households
    past = cases.history(h, month, rules)
    with timed(f"warnings and leads {area}") as info:
        warned = warn(scored, rules, month)
        del scored
        leads = make_leads(warned, rules, month, cases.covering_leads(past.closed))
        leads = cases.attach_leads(leads, past.open)
        info.update(leads=leads.height, pushed=int(leads["pushed"].sum()), rule_version=rules.version)
    fault("assess", "leads")
    # in household order as assembled: a sort here would copy the widest frame
    write_parquet(
        warned.lazy().with_columns(missing_sources=pl.lit(",".join(missing))),
        h.partition("_household_month", month) / f"{area}.parquet",
    )
    del warned
    # The means test builds the lake's views, this prefecture's files of the build, in its own DuckDB.
    with timed(f"means test {area}") as info:
        found = means_test(month, h, rules, past, area, leads)
        info.update(doubtful=found["doubtful"], unchecked=found["unchecked"], recheck_sample=found["recheck"])
    write_parquet(leads, h.partition(AREA_LEADS, month) / f"{area}.parquet")
    return {"month": month, "prefecture": area, "households": count, "leads": leads.height, **found}


def assess_month(month: str, home: str, run_id: str) -> dict:
    """The checks across prefectures and the cases of the month, over its prefectures' households,
    leads and means tests (`assess_area` has run for each)."""

    h = open_build(home, run_id)
    rules = checked_rules(month)
    wanted = _listed(h, month)
    done = sorted(p.stem for p in h.files(AREA_LEADS, month))
    if done != wanted:
        raise RuntimeError(f"{month}: prefectures {sorted(set(wanted) - set(done))} not assessed yet")
    past = cases.history(h, month, rules)
    leads = h.read(AREA_LEADS, month)
    hardship = h.read(
        "_household_month",
        month,
        ["household_id", "township_code", "hardship_score", capacity.NEED],
    )
    with timed("checks across prefectures") as info:
        info["doubtful"] = across_prefectures(month, h, rules, past)
    with timed("cases") as info:
        month_cases, leads = cases.track(h, month, rules, past, leads, hardship)
        info.update(**{s: int((month_cases["state"] == s).sum()) for s in cases.STATES})
    ledger = capacity.ledger(month, month_cases, hardship, rules)
    write_parquet(month_cases, h.partition("_cases", month) / "data.parquet")
    write_parquet(ledger, h.partition("_capacity", month) / "data.parquet")
    write_parquet(
        leads.sort("township_code", "rank", "lead_id"), h.partition("_leads", month) / "data.parquet"
    )
    with timed("assistance decisions") as info:
        info.update(decisions.decide(h, month))
    return {
        "month": month,
        "households": hardship.height,
        "prefectures": len(wanted),
        "leads": leads.height,
        "pushed": int(leads["pushed"].sum()),
        "issued_households": int(ledger["issued"].sum()),
        "queued_households": int(ledger["queued"].sum()),
        "beyond_capacity": int(ledger["beyond_capacity"].sum()),
        "rule_version": rules.version,
    }


def assess(month: str, home: str, run_id: str) -> dict:
    """The whole stage in one process: every prefecture, then the month."""
    for area in prefectures(month, home, run_id):
        assess_area(month, home, run_id, area)
    return assess_month(month, home, run_id)
