"""The auditors' DuckDB warehouse: views over the published builds of the lake, one file per commit.

DuckDB lets one process write a database file, and a writer locks readers out. A warehouse file
therefore holds only views and the small `_catalog` table (month -> build, run, stale); the data
stay in the builds' Parquet files. Each commit writes its own file (`commits/<seq>/safetynet.duckdb`)
and `current` is swapped to it, so a reader keeps the commit it opened and the next one opens the
new one. Paths in its views are relative to the home (`lake/...`), for a DuckDB client started
in the home.

Auditors read through `connect_read_only` (`jobs/publish/sealed.py`): the same views, built from the
commit's catalog with this home's absolute paths in a sealed in-memory connection, so a moved or
restored home reads its own lake whatever the current directory.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from safetynet.contract import SOURCES
from safetynet.lake import Home, dataset_files
from safetynet.months import previous_month
from safetynet.resources import folder
from safetynet.rules import load_decisions, load_population, load_rules

VIEWS_DIR = folder("warehouse") / "views"
DUCKDB_TYPES = {"date": "date", "amount": "decimal(16, 2)", "int": "integer"}
# {lake:<dataset>/*.parquet}: a view needs the dataset; {lake?:...}: a dataset older builds lack, read
# as no rows (the view unions it by name with its typed columns)
PLACEHOLDER = re.compile(r"\{lake(\?)?:([\w*./]+)\}")
NO_ROWS = "(select 0 as _no_rows where false)"
DERIVED = ("_household_month", "_means_members", "_means_households", "_means_assets", "_means_cross_region")
VIEW_NAMES = {"_household_month": "lake_household_month"}
CATALOG_TABLE = (
    "create or replace table _catalog (month varchar, build varchar, previous varchar, "
    "status varchar, run_id varchar, stale boolean)"
)
ORDER = {
    "_household_month": "month, household_id",
    "_means_members": "month, household_id, id_number",
    "_means_households": "month, household_id",
    "_means_assets": "month, household_id",
    "_means_cross_region": "month, household_id, id_number",
}


class Layout:
    """The files of each dataset in a catalog's builds, as paths the views can name."""

    def __init__(
        self, home: Home, builds: dict[str, Path], relative: bool, ordered: bool, area: str | None = None
    ):
        self.home = home
        self.builds = dict(sorted(builds.items()))
        self.relative = relative
        self.ordered = ordered
        self.area = area

    def files(self, pattern: str) -> list[str]:
        """`pattern` (e.g. `_leads/*.parquet`) in every build that has it, oldest month first: a
        dataset's files as every reader takes them (`dataset_files`). With `area`, the build in
        progress gives that prefecture's files only (its own and the shared)."""
        out = []
        for month, build in self.builds.items():
            if pattern.endswith("/*.parquet"):
                building = self.home.building is not None and month == self.home.building.month
                paths = dataset_files(
                    build / pattern.removesuffix("/*.parquet"), self.area if building else None
                )
            else:
                paths = [build / pattern] if any(build.glob(pattern)) else []
            out += [p.relative_to(self.home.root).as_posix() if self.relative else str(p) for p in paths]
        return out

    def scan(self, pattern: str) -> str:
        """A subquery over a dataset with `month` and `build` from the path and the month's run_id."""
        files = ", ".join(f"'{f}'" for f in self.files(pattern))
        return (
            f"(select data.*, catalog.run_id from read_parquet([{files}], hive_partitioning = true, "
            "hive_types = {'month': varchar, 'build': varchar}, union_by_name = true) as data "
            "left join _catalog as catalog on catalog.month = data.month)"
        )


def _source_view(layout: Layout, source: str) -> str:
    """`lake_<source>`: the accepted rows of every month, with their file and row of origin."""
    spec = SOURCES[source]
    if layout.files(f"{source}/*.parquet"):
        body = f"select * from {layout.scan(f'{source}/*.parquet')}"
        if layout.ordered:  # auditors get every view in a fixed order; the means test needs none
            body += " order by month, source_file, source_row"
    else:  # never delivered: an empty view with the contract's columns, not a missing table
        cols = ", ".join(
            f"cast(null as {DUCKDB_TYPES.get(c.type, 'varchar')}) as {c.name}" for c in spec.columns
        )
        body = (
            f"select {cols}, cast(null as varchar) as source_file, cast(null as bigint) as source_row, "
            "cast(null as varchar) as month, cast(null as varchar) as build, "
            "cast(null as varchar) as run_id where false"
        )
    return f"create or replace view lake_{source} as {body}"


def catalog_rows(home: Home, catalog: dict[str, dict]) -> list[tuple]:
    """(month, build, previous, status, run_id, stale): stale when the month was built on a
    previous month whose published build has changed since, or on a previous month that is stale
    itself (October built on a September built on an August since rerun)."""
    rows, stale = [], {}
    for month, entry in sorted(catalog.items()):
        prev = previous_month(month)
        stale[month] = prev in catalog and (catalog[prev]["build"] != entry.get("previous") or stale[prev])
        rows.append(
            (
                month,
                entry["build"],
                entry.get("previous"),
                entry.get("status"),
                entry.get("run_id"),
                stale[month],
            )
        )
    return rows


def statements(
    home: Home,
    catalog: dict[str, dict] | None = None,
    relative: bool = False,
    ordered: bool = False,
    views: bool = True,
    area: str | None = None,
    only: tuple[str, ...] = (),
    up_to: str | None = None,
) -> list[str]:
    """The `_catalog` table, source views first (the others read them), then every view file whose
    datasets exist. Without `catalog`: the home's current catalog plus the build in progress; with
    `up_to`, only its months up to that one (what a build of that month may read: a rerun of an
    earlier month after later ones are published must make the same bytes).
    `relative`: paths from the home (the warehouse file); `ordered`: every view in a fixed order;
    `views`: false for the lake's views only (`lake_*`, the means test's), not warehouse/views/;
    `area`: the build in progress read for one prefecture (the means test of `assess_area`);
    `only`: these views of warehouse/views/ alone, for a job that reads one that reads no source
    view (jobs/cases/capacity.py reads v_rule_yield)."""
    if catalog is None:
        catalog = {m: e for m, e in home.catalog.items() if up_to is None or m <= up_to}
        builds = {m: home.build_dir(m) for m in catalog}
        if home.building:
            build = home.building.path
            catalog[home.building.month] = {"build": build.name.removeprefix("build=")}
            builds[home.building.month] = build
    else:
        builds = {m: home.lake / f"month={m}" / f"build={e['build']}" for m, e in catalog.items()}
    layout = Layout(home, builds, relative, ordered, area)
    out = [CATALOG_TABLE]
    out += [
        "insert into _catalog values " + ", ".join(_literal(r) for r in rows)
        for rows in [catalog_rows(home, catalog)]
        if rows
    ]
    out += [_source_view(layout, s) for s in SOURCES if not only]
    # features and points; the means test's income and assets as checked
    for dataset in DERIVED if not only else ():
        if layout.files(f"{dataset}/*.parquet"):
            order = f" order by {ORDER[dataset]}" if ordered else ""
            out.append(
                f"create or replace view {VIEW_NAMES.get(dataset, dataset.lstrip('_'))} as select * from "
                f"{layout.scan(f'{dataset}/*.parquet')}{order}"
            )
    for path in sorted(VIEWS_DIR.glob("*.sql")) if views else []:
        if only and path.stem not in only:
            continue
        sql = path.read_text(encoding="utf-8")
        if all(optional or layout.files(p) for optional, p in PLACEHOLDER.findall(sql)):
            sql = PLACEHOLDER.sub(
                lambda m: layout.scan(m[2]) if layout.files(m[2]) else NO_ROWS,
                sql,
            )
            sql = sql.replace("{portal_log}", _jsonl(home, "_portal_log", PORTAL_LOG_COLUMNS, relative))
            sql = sql.replace(
                "{application_log}", _jsonl(home, "_applications/log", APPLICATION_LOG_COLUMNS, relative)
            )
            sql = sql.replace("{application_members}", _application_members(home, relative))
            sql = sql.replace("{decision_log}", _decision_log(home, builds, relative))
            sql = _rule_parameters(sql, max(catalog, default=None))
            out.append(sql.replace("{lake}", "lake" if relative else str(home.lake)))
    return out


def run_log_statements(home: Home) -> list[str]:
    """`v_runs` alone, over an empty catalog: what a home answers before its first commit."""
    sql = (VIEWS_DIR / "v_runs.sql").read_text(encoding="utf-8")
    return [CATALOG_TABLE, sql.replace("{lake}", str(home.lake))]


def _rule_parameters(sql: str, month: str | None) -> str:
    """The case rules a view names ({kpi_months}, {yield_outcomes}, {withdraw_outcomes}), the decision
    rules ({urgent_help_hours}, {assistance_kinds}) and the recipient categories
    ({recipient_categories}), written in as literals as in force in `month`, the latest month the
    views read: each policy number lives once, in rules/."""

    def listed(codes: tuple[str, ...]) -> str:
        return "(" + ", ".join("'" + o.replace("'", "''") + "'" for o in codes) + ")"

    if any(f"{{{k}}}" in sql for k in ("urgent_help_hours", "assistance_kinds", "recipient_categories")):
        decisions = load_decisions(month)  # rules/decisions/, and the population's recipients
        sql = (
            sql.replace("{urgent_help_hours}", str(decisions.urgent_help_hours))
            .replace("{assistance_kinds}", listed(decisions.assistance_kinds))
            .replace("{recipient_categories}", listed(load_population(month=month).recipient_categories))
        )
    if not any(f"{{{key}}}" in sql for key in ("kpi_months", "yield_outcomes", "withdraw_outcomes")):
        return sql
    cases = load_rules(month=month).cases
    return (
        sql.replace("{kpi_months}", str(cases.kpi_months))
        .replace("{yield_outcomes}", listed(cases.yield_outcomes))
        .replace("{withdraw_outcomes}", listed(cases.withdraw_outcomes))
    )


# jobs/applications/checks.py's log (kept here: the warehouse must not import the check's dependencies)
APPLICATION_LOG_COLUMNS = {
    "at": "varchar",
    "application_id": "varchar",
    "status": "varchar",
    "account": "varchar",
    "role": "varchar",
    "township_code": "varchar",
    "household_id": "varchar",
    "authorisation_ref": "varchar",
    "applied_for": "varchar",
    "members": "integer",
    "member_ids": "varchar[]",
    "month_used": "varchar",
    "build": "varchar",
    "result": "varchar",
    "detail": "varchar",
    "file": "varchar",
    "file_sha256": "varchar",
    "report_file": "varchar",
    "report_sha256": "varchar",
    "client_address": "varchar",
    "office": "varchar",
    "day_count": "integer",
    "day_threshold": "integer",
    "held_for": "varchar",
    "held_reason": "varchar",
    "held_file": "varchar",
    "released_by": "varchar",
    "released_at": "varchar",
    "authorisation_sha256": "varchar",
    "authorisation_file": "varchar",
}
# the portal's decision log (jobs/decisions/log.py FIELDS; a test keeps the two alike)
DECISION_LOG_COLUMNS = {
    "at": "varchar",
    "event": "varchar",
    "proposal_id": "varchar",
    "version": "integer",
    "case_id": "varchar",
    "household_id": "varchar",
    "township_code": "varchar",
    "county_code": "varchar",
    "kind": "varchar",
    "category": "varchar",
    "id_numbers": "varchar[]",
    "monthly_amount": "double",
    "one_off_amount": "double",
    "effective_from": "varchar",
    "reason": "varchar",
    "account": "varchar",
    "role": "varchar",
    "decision_id": "varchar",
    "self_approved": "boolean",
}
PORTAL_LOG_COLUMNS = {
    "at": "varchar",
    "account": "varchar",
    "role": "varchar",
    "township_code": "varchar",
    "action": "varchar",
    "file": "varchar",
    "sha256": "varchar",
    "bytes": "bigint",
    "client_address": "varchar",
    "result": "varchar",
    "detail": "varchar",
}


def _jsonl(home: Home, folder: str, columns: dict[str, str], relative: bool, filename: bool = False) -> str:
    """An append-only log of the lake (`lake/<folder>/*.jsonl`), or an empty table with its columns;
    `filename`: with the file each line is in (`filename`)."""
    if not any((home.lake / folder).glob("*.jsonl")):
        cols = ", ".join(f"cast(null as {t}) as {c}" for c, t in columns.items())
        cols += ", cast(null as varchar) as filename" if filename else ""
        return f"(select {cols} where false)"
    where = f"lake/{folder}" if relative else str(home.lake / folder)
    typed = ", ".join(f"'{c}': '{t}'" for c, t in columns.items())
    named = ", filename = true" if filename else ""
    return f"read_json('{where}/*.jsonl', format = 'newline_delimited', columns = {{{typed}}}{named})"


def _decision_log(home: Home, builds: dict[str, Path], relative: bool) -> str:
    """The decision log as the latest month's run read it at its start (jobs/decisions/log.py
    `snapshot`, in its build), so that the views of a commit never change as the log grows; a build
    made before the copy: the live files of the months up to that month."""
    latest = max(builds, default=None)
    copy = builds[latest] / "_decision_log" / "data.parquet" if latest else None
    if copy is None or not copy.exists():
        live = _jsonl(home, "_decision_log", DECISION_LOG_COLUMNS, relative, filename=True)
        up_to = f"regexp_extract(filename, '(\\d{{4}}-\\d{{2}})\\.jsonl$', 1) <= '{latest}'"
        return f"(select * from {live} where {up_to})" if latest else live
    where = copy.relative_to(home.root).as_posix() if relative else str(copy)
    cols = ", ".join(f'cast("{c}" as {t}) as "{c}"' for c, t in DECISION_LOG_COLUMNS.items())
    return f"(select {cols}, log_file as filename from read_parquet('{where}'))"


def _application_members(home: Home, relative: bool) -> str:
    """The members of every application checked (`jobs/applications/checks.py`), or an empty table."""
    folder = home.lake / "_applications" / "checks"
    if not any(folder.glob("*/*/members.parquet")):
        return (
            "(select cast(null as varchar) as application_id, cast(null as varchar) as checked_at, "
            "cast(null as varchar) as household_id, cast(null as varchar) as id_number, "
            "cast(null as varchar) as name, cast(null as varchar) as relation, "
            "cast(null as varchar) as division_code, cast(null as varchar) as result, "
            "cast(null as varchar) as month_used, cast(null as varchar) as source_file, "
            "cast(null as bigint) as source_row where false)"
        )
    where = "lake/_applications/checks" if relative else str(folder)
    return f"read_parquet('{where}/*/*/members.parquet', union_by_name = true)"


def _literal(row: tuple) -> str:
    def one(v):
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        return "'" + str(v).replace("'", "''") + "'"

    return "(" + ", ".join(one(v) for v in row) + ")"


def write(home: Home, catalog: dict[str, dict], target: Path) -> Path:
    """A commit's warehouse file, for DuckDB clients run from the home: paths relative to it."""
    con = duckdb.connect(str(target), config={"file_search_path": str(home.root.resolve())})
    try:
        for sql in statements(home, catalog, relative=True, ordered=True):
            con.execute(sql)
    finally:
        con.close()
    return target
