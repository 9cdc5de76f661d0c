"""Means-test cross-checks (家庭经济状况核对) in DuckDB SQL that auditors can read.

`warehouse/means_test/models/*.sql` build the month's members, households and assets with their
income evidence, once, as temp tables; each `warehouse/means_test/checks/<check_id>.sql` reads them
and returns doubtful records (疑点数据): month, household_id, township_code, check_id, direction
(应退 / 核实 / 应保), evidence in Chinese naming the department, values and dates, and source_refs
(`month/file:row` of every row used).
Households whose standard is missing are listed in `unchecked` with the reason, never passed.

`assess_area` runs the means test of one prefecture (`area`): the views give it the prefecture's
files of the month (jobs/ingest/areas.py) and it writes `<prefecture>.parquet` in each dataset. The checks
that compare households across the whole month (`ACROSS_PREFECTURES`: one person in two households,
in another county or prefecture too) run once over the month in `assess` (`across_prefectures`),
into `_doubtful/shared.parquet`. Without `area`, the whole month in one `data.parquet` each.

    <build>/_doubtful/<prefecture>.parquet, shared.parquet
    <build>/_unchecked/<prefecture>.parquet
    <build>/_recheck/<prefecture>.parquet      the re-check sample, in the period's draw month
    <build>/_means_members/, _means_households/, _means_assets/   the models, as checked
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import duckdb
import polars as pl

from jobs.assess.households import window
from jobs.assess.leads import visit_by
from jobs.cases.lifecycle import History
from jobs.cross_region import evidence
from jobs.publish import warehouse
from safetynet.errors import RulesError
from safetynet.lake import SHARED, WHOLE, Home, replace_dir, write_parquet
from safetynet.months import add_months, month_bounds
from safetynet.progress import timed
from safetynet.resources import folder
from safetynet.rules import RuleSet
from safetynet.settings import settings
from safetynet.workers import threads

# checks that compare a household with the others of the whole month, not of its prefecture
ACROSS_PREFECTURES = ("person_in_two_households",)
MEANS_DIR = folder("warehouse") / "means_test"
DOUBTFUL_SCHEMA = {
    "month": pl.String,
    "record_id": pl.String,
    "household_id": pl.String,
    "township_code": pl.String,
    "check_id": pl.String,
    "direction": pl.String,
    "evidence": pl.String,
    "source_refs": pl.List(pl.String),
    "issued": pl.Boolean,  # false: the same finding was visited within closed_cover_months
}
# evidence from another province's answer; about a member registered in another prefecture of the
# province (jobs/cross_region/evidence.py flags): the means test's records carry them too
CROSS_FLAGS = {"cross_province": pl.Boolean, "cross_city": pl.Boolean}
MODELS = ("means_members", "means_households", "means_assets", "means_cross_region")


def checks() -> list[Path]:
    return sorted((MEANS_DIR / "checks").glob("*.sql"))


def match_checks(rules: RuleSet) -> None:
    """Every check's SQL has its entry in rules/means_test/checks.yaml (label, direction, what to
    verify at home) and the other way round."""
    sql = {p.stem for p in checks()}
    listed = {c.id for c in rules.means_checks}
    if sql - listed:
        raise RulesError(
            f"means_test/checks.yaml: key 'checks': no entry for {', '.join(sorted(sql - listed))} "
            f"(warehouse/means_test/checks/<id>.sql exists)"
        )
    if listed - sql:
        raise RulesError(
            f"means_test/checks.yaml: key 'checks': no SQL for {', '.join(sorted(listed - sql))} "
            "in warehouse/means_test/checks/"
        )


def connect(
    home: Home, month: str, rules: RuleSet, models: bool = True, area: str | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the warehouse's views (the build's files of one prefecture, with
    `area`), the month's parameters and (unless `models` is false) the models, built once as temp
    tables that every check reads."""
    # Threads: the CPUs the task may use, or SAFETYNET_DUCKDB_THREADS (safetynet/workers.py; the
    # determinism test runs the checks on 1 thread and on all cores).
    # SAFETYNET_DUCKDB_MEMORY (3GB unless set) caps DuckDB's memory (its temp tables included): past
    # it, DuckDB spills to a folder beside the build, so the task's peak RSS stays bounded at any scale.
    config = {"memory_limit": settings().duckdb_memory, "threads": threads()}
    if home.building is not None:
        # one folder per connection: prefectures' means tests run at once, and DuckDB's spill
        # files carry no name of their own (two instances in one folder would read each other's)
        spill = home.building.path.parent / ".duckdb-spill"
        spill.mkdir(exist_ok=True)  # DuckDB makes the last folder of the path only
        config["temp_directory"] = str(spill / uuid.uuid4().hex)
    con = duckdb.connect(config=config)
    for sql in warehouse.statements(home, views=False, area=area):  # the models and checks read them
        con.execute(sql)
    start, end = month_bounds(month)
    limits = rules.means_limits
    variables = {
        "month": month,
        "month_start": start,
        "month_end": end,
        "window_start": month_bounds(window(month, rules.population.lookback_months)[0])[0],
        "near_dibao_factor": limits.near_dibao_factor,
        "financial_assets_months": limits.financial_assets_months,
        "max_homes": limits.max_homes,
        "home_usages": list(limits.home_usages),
        "non_residential_usages": list(limits.non_residential_usages),
        "car_types": list(limits.car_types),
        "car_exempt_types": list(limits.car_exempt_types),
        "business_exempt_types": list(limits.business_exempt_types),
        "housing_fund_wage_share": limits.housing_fund_wage_share,
        **minimum_base_variables(rules, start),
        **rules.population.sql_variables(),
    }
    for name, value in variables.items():
        con.execute(f"set variable {name} = ?", [value])
    evidence.prepare(con, home, month, evidence.evidence_months(month))
    if models:
        build_models(con)
    return con


def minimum_base_variables(rules: RuleSet, month_start: dt.date) -> dict[str, list]:
    """The minimum contribution bases in force in the month, for the members model: division
    prefixes longest first ('' for the default, which every code starts with) and their yuan."""
    places = rules.minimum_base.at(month_start) if rules.minimum_base is not None else None
    ordered = sorted((places or {}).items(), key=lambda kv: (kv[0] == "default", -len(kv[0])))
    return {
        "minimum_base_prefixes": ["" if prefix == "default" else prefix for prefix, _ in ordered],
        "minimum_base_values": [float(value) for _, value in ordered],
    }


def build_models(con: duckdb.DuckDBPyConnection, quiet: bool = False) -> None:
    for model in sorted((MEANS_DIR / "models").glob("*.sql")):
        if quiet:
            con.execute(model.read_text(encoding="utf-8"))
            continue
        with timed(f"model {model.stem}"):
            con.execute(model.read_text(encoding="utf-8"))


def run_checks(con: duckdb.DuckDBPyConnection, paths: list[Path] | None = None) -> pl.DataFrame:
    frames = []
    refs = None
    for path in checks() if paths is None else paths:
        with timed(f"check {path.stem}") as info:
            frame = pl.from_arrow(con.sql(path.read_text(encoding="utf-8")).to_arrow_table())
            info["records"] = frame.height
        refs = evidence.marked_refs(con) if refs is None else refs
        frames.append(
            evidence.flags(frame, refs)
            .with_columns(record_id=pl.lit(None, pl.String), issued=pl.lit(True))
            .select([pl.col(c).cast(t) for c, t in (DOUBTFUL_SCHEMA | CROSS_FLAGS).items()])
        )
    return pl.concat(frames) if frames else pl.DataFrame(schema=DOUBTFUL_SCHEMA | CROSS_FLAGS)


def record_ids(
    doubtful: pl.DataFrame, past: History, month: str, codes: dict[str, str] | None = None
) -> pl.DataFrame:
    """Each record's case id and whether it is issued. A record on a household and check with an
    open case stands on that case (same id); one whose case was closed within closed_cover_months
    with the same evidence is not issued again (it carries the closed case's id); any other record
    is a new case `YD<YYYYMM>-<household>-<code>`, the check's two-digit code from
    rules/means_test/checks.yaml (`codes`: check id -> code; a check without one keeps its id there).

    Cases are matched by household and check, never by parsing an id, so a case issued before the
    codes (`YD202608-H1-private_car`) keeps its id until its outcome closes it."""
    check = pl.col("check_id")
    code = check.replace_strict(codes, default=check, return_dtype=pl.String) if codes else check
    new = pl.format("YD{}-{}-{}", pl.lit(month.replace("-", "")), "household_id", code)
    keys = ["household_id", "check_id"]
    standing = past.open.filter(pl.col("kind") == "doubtful").select(*keys, standing="case_id").unique(keys)
    evidence = doubtful.sort("evidence").group_by(keys).agg(joined=pl.col("evidence").str.join("；"))
    settled = (
        past.closed.filter(pl.col("kind") == "doubtful")
        .sort("month")
        .unique(keys, keep="last")
        .join(evidence, on=keys)
        .filter(pl.col("evidence") == pl.col("joined"))
        .select(*keys, settled="case_id")
    )
    return (
        doubtful.drop("record_id", "issued", strict=False)
        .join(standing, on=keys, how="left")
        .join(settled, on=keys, how="left")
        .with_columns(
            record_id=pl.coalesce("standing", "settled", new),
            issued=pl.col("standing").is_not_null() | pl.col("settled").is_null(),
        )
        .drop("standing", "settled")
    )


def period_of(month: str, period_months: int) -> str:
    """2026H2 for half-years, 2026Q3 for quarters, 2026P05 otherwise."""
    year, mon = map(int, month.split("-"))
    index = (mon - 1) // period_months + 1
    letter = {6: "H", 3: "Q"}.get(period_months)
    return f"{year}{letter}{index}" if letter else f"{year}P{index:02d}"


def _months_before(month: str, n: int) -> list[str]:
    return [add_months(month, -k) for k in range(n, 0, -1)]


def draw_recheck(con: duckdb.DuckDBPyConnection, h: Home, month: str, rules: RuleSet) -> pl.DataFrame | None:
    """The period's random re-check sample, drawn in the first month of the period that is run."""
    rule = rules.recheck
    period = period_of(month, rule.period_months)
    for drawn_in in h.months():
        if drawn_in < month and (found := h.read("_recheck", drawn_in, ["period"])) is not None:
            if (found["period"] == period).any():
                return None  # already drawn this period
    recent = _months_before(month, rule.exclude_checked_within_months)
    paths = [str(p) for d in ("_recheck", "_doubtful") for m in recent for p in h.files(d, m)]
    if paths:
        con.execute(
            "create or replace temp view recently_checked as select distinct household_id "
            f"from read_parquet({paths}, union_by_name = true)"
        )
    else:
        con.execute(
            "create or replace temp view recently_checked as "
            "select cast(null as varchar) as household_id where false"
        )
    con.execute("set variable recheck_seed = ?", [f"{rule.seed_prefix}-{period}"])
    con.execute("set variable recheck_period = ?", [period])
    con.execute("set variable recheck_rate = ?", [rule.rate])
    return pl.from_arrow(
        con.sql((MEANS_DIR / "recheck_sample.sql").read_text(encoding="utf-8")).to_arrow_table()
    )


def _doubtful(found: pl.DataFrame, past: History, month: str, rules: RuleSet) -> pl.DataFrame:
    return (
        record_ids(found, past, month, {c.id: c.code for c in rules.means_checks})
        .with_columns(rule_version=pl.lit(rules.version), **visit_by(rules.deadlines, "doubtful", month))
        .sort("township_code", "household_id", "check_id")
    )


def one_visit(found: pl.DataFrame, leads: pl.DataFrame | None) -> pl.DataFrame:
    """An 应保 record (eligible_not_covered) on a household whose lead is pushed this month names
    the lead: the township makes one home visit for both."""
    if leads is None or leads.height == 0:
        return found
    pushed = (
        leads.filter(pl.col("pushed")).select("household_id", visit_lead="lead_id").unique("household_id")
    )
    named = (pl.col("check_id") == "eligible_not_covered") & pl.col("visit_lead").is_not_null()
    return (
        found.join(pushed, on="household_id", how="left", maintain_order="left")
        .with_columns(
            evidence=pl.when(named)
            .then(pl.format("{}与同户线索{}为同一次入户核查。", "evidence", "visit_lead"))
            .otherwise("evidence")
        )
        .drop("visit_lead")
    )


def means_test(
    month: str,
    h: Home,
    rules: RuleSet,
    past: History,
    area: str | None = None,
    leads: pl.DataFrame | None = None,
) -> dict:
    """The checks, the unchecked households and the re-check sample, into the month's build (of
    one prefecture, with `area`: every check but those across prefectures). `leads`: the month's
    leads of those households, which the 应保 records name (`one_visit`)."""
    con = connect(h, month, rules, area=area)
    paths = [p for p in checks() if area is None or p.stem not in ACROSS_PREFECTURES]
    doubtful = _doubtful(one_visit(run_checks(con, paths), leads), past, month, rules)
    name = f"{area}.parquet" if area else WHOLE
    unchecked = pl.from_arrow(
        con.sql((MEANS_DIR / "unchecked.sql").read_text(encoding="utf-8")).to_arrow_table()
    )
    sample = draw_recheck(con, h, month, rules)
    # The income computation, the assets behind every check and what other provinces answered or
    # still owe (待异地核对), kept for reports, lists and auditors.
    for model in MODELS:
        keys = "household_id" if model in ("means_households", "means_assets") else "household_id, id_number"
        frame = pl.from_arrow(con.sql(f"select * from {model} order by {keys}").to_arrow_table())
        write_parquet(frame, h.partition(f"_{model}", month) / name)
        del frame
    con.close()
    write_parquet(doubtful, h.partition("_doubtful", month) / name)
    write_parquet(unchecked.sort("household_id"), h.partition("_unchecked", month) / name)
    if sample is not None:
        sample = sample.with_columns(
            record_id=pl.format("CC{}-{}", "period", "household_id"),
            **visit_by(rules.deadlines, "recheck", month),
        )
        write_parquet(
            sample.sort("township_code", "category", "draw_rank"), h.partition("_recheck", month) / name
        )
    elif area is None:  # a rerun of a month that is not the period's draw month leaves no sample behind
        replace_dir(None, h.partition("_recheck", month))
    else:
        (h.partition("_recheck", month) / name).unlink(missing_ok=True)
    return {
        "doubtful": doubtful.height,
        "doubtful_issued": int(doubtful["issued"].sum()),
        "unchecked": unchecked.height,
        "recheck": 0 if sample is None else sample.height,
    }


def across_prefectures(month: str, h: Home, rules: RuleSet, past: History) -> int:
    """The checks across the whole month (`ACROSS_PREFECTURES`), once every prefecture's means test
    has written its households: into `_doubtful/shared.parquet`. Returns the records found."""
    con = connect(h, month, rules, models=False)
    try:  # the month's households as the prefectures' means tests counted them
        con.execute(
            "create temp table means_households as select * exclude (month, build, run_id) "
            "from main.means_households where month = getvariable('month')"
        )
        paths = [p for p in checks() if p.stem in ACROSS_PREFECTURES]
        doubtful = _doubtful(run_checks(con, paths), past, month, rules)
    finally:
        con.close()
    write_parquet(doubtful, h.partition("_doubtful", month) / f"{SHARED}.parquet")
    return doubtful.height
