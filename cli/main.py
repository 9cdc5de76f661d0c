"""`safetynet`: generate synthetic deliveries, run a month through the DAG, query the warehouse.

Exit status of `run`: 0 the month loaded; 1 the run failed (nothing published); 2 the landing
folder or month cannot be used (nothing written); 3 the month loaded but a delivery was unusable
as a whole (the month is incomplete; the file and problem are printed).
"""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from safetynet.errors import DeliveryError, LandingError, RulesError, SetupError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def fail(message: str, code: int) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


class World(StrEnum):
    synthetic = "synthetic"
    field = "field"


def _generate_field(
    month: str,
    landing: Path,
    households: int,
    seed: int,
    months: int,
    ready: bool,
    truth: Path | None,
    history: bool,
) -> None:
    """`generate --world field`: every month at once (the world is simulated over all of them)."""
    from jobs.month.run import check_month
    from synthetic.field_world import generate_field, run_months

    try:
        check_month(month)
    except LandingError as exc:
        fail(str(exc), 2)
    truth = truth or landing.parent / f"{landing.name}-truth"
    start = time.perf_counter()
    try:
        rows = generate_field(landing, truth, run_months(month, months), households, seed, history, ready)
    except ValueError as exc:
        fail(str(exc), 2)
    for this, files in rows.items():
        typer.echo(f"{this}: {sum(files.values()):,} rows in {len(files)} files -> {landing / this}")
    typer.echo(f"field-like world in {time.perf_counter() - start:.1f} s; truth: {truth / 'truth.parquet'}")


@app.command()
def generate(
    month: Annotated[str, typer.Option(help="First month to generate, YYYY-MM")],
    landing: Annotated[Path, typer.Option(help="Landing folder; files go to <landing>/<YYYY-MM>/")],
    households: Annotated[int, typer.Option(min=1, help="Monitored households")] = 3000,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same people and events")] = 1,
    months: Annotated[int, typer.Option(min=1, help="Number of consecutive months")] = 1,
    home: Annotated[
        Path | None, typer.Option(help="A --home of runs: outcomes report visits of last month's leads there")
    ] = None,
    ready: Annotated[
        bool, typer.Option(help="Mark each month's folder complete with _READY, as the data team does")
    ] = True,
    county_households: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Households per county, at most 20,000 (counties go to prefectures 4301, 4302, ... in turn)",
        ),
    ] = None,
    world: Annotated[
        World,
        typer.Option(
            help="synthetic: the demo's planted stories; field: a field-like world with a hidden state"
        ),
    ] = World.synthetic,
    truth: Annotated[
        Path | None,
        typer.Option(
            help="With --world field: the truth's folder, outside the landing (default <landing>-truth)"
        ),
    ] = None,
    history: Annotated[
        bool,
        typer.Option(help="With --world field: a year of history (<source>.history.csv) in the first month"),
    ] = True,
) -> None:
    """Write synthetic deliveries for every source of the contract (with realistic dirt) and a truth file."""
    if world is World.field:
        _generate_field(month, landing, households, seed, months, ready, truth, history)
        return
    from rich.progress import Progress

    from jobs.month.run import check_month
    from synthetic.generate import HOUSEHOLDS_PER_COUNTY
    from synthetic.generate import generate as gen

    try:
        check_month(month)
    except LandingError as exc:
        fail(str(exc), 2)
    year, mon = map(int, month.split("-"))
    for i in range(months):
        y, m = divmod(mon - 1 + i, 12)
        this = f"{year + y:04d}-{m + 1:02d}"
        start = time.perf_counter()
        kept: list[str] = []  # what the generator left in the folder, said after the progress bar
        try:
            with Progress(transient=True) as bar:
                task = bar.add_task(f"generating {this}", total=households)
                rows = gen(
                    this,
                    households,
                    seed,
                    landing,
                    progress=lambda n, t=task: bar.advance(t, n),
                    home=home,
                    ready=ready,
                    county_size=county_households or HOUSEHOLDS_PER_COUNTY,
                    say=kept.append,
                )
        except DeliveryError as exc:  # a township's outcomes part that cannot be read: kept, not guessed at
            fail(f"{exc}; the generator cannot tell which outcomes it must not invent", 2)
        for line in kept:
            typer.echo(f"{this}: {line}")
        typer.echo(
            f"{this}: {sum(rows.values()):,} rows in {len(rows)} sources -> {landing / this} "
            f"({time.perf_counter() - start:.1f} s); truth: {landing / '_truth' / (this + '.csv')}"
        )


OutsideAirflow = Annotated[
    bool,
    typer.Option(
        "--outside-airflow",
        help="Publish to a home a deployed Airflow publishes to, outside it (no Asset events, no "
        "approval step, its metadata DB kept out of the home); needs --released-by",
    ),
]
ReleasedBy = Annotated[
    str | None,
    typer.Option(
        help="Who releases the months if their gate trips (v_runs.approved_by); with --outside-airflow"
    ),
]


def _released(
    home: Path, first: str, last: str, outside: bool, released_by: str | None, command: str
) -> tuple[str | None, bool]:
    """(who releases, whether the embedded Airflow must keep its metadata out of the home) for
    `safetynet run|backfill`. A home a deployed Airflow publishes to is refused, naming its
    backfill, unless the operator says --outside-airflow and who releases."""
    from jobs.publish import deployment

    why = deployment.refusal(home, first, last)
    name = (released_by or "").strip()
    if why is None:
        return (f"{name} (safetynet {command})" if name else None), False
    if not (outside and name):
        raise LandingError(why)
    return f"{name} (safetynet {command} --outside-airflow)", True


def _airflow_home(outside: bool) -> Path | None:
    """A temporary folder for the embedded Airflow of a run --outside-airflow (None: `<home>/airflow`)."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix="safetynet-airflow-")) if outside else None


def _load(
    month: str, landing: Path, home: Path, approved_by: str | None = None, airflow_home: Path | None = None
) -> int:
    """Run the DAG for one month, print what happened and where; return the exit status."""
    from jobs.cross_region import kpis as cross_region
    from jobs.publish import deployment
    from jobs.publish.sealed import connect_read_only, read
    from safetynet import runs
    from safetynet.embedded import run_month
    from safetynet.lake import Home

    home.mkdir(parents=True, exist_ok=True)
    dag_run = run_month(month, landing, home, approved_by, airflow_home)
    if str(dag_run.state) != "success":
        entry = runs.read(Home(home), dag_run.run_id) or {}
        if entry.get("status") not in ("success", "incomplete", "failed"):
            runs.failed(
                Home(home), dag_run.run_id, entry.get("failed_task") or "?", f"DAG run ended {dag_run.state}"
            )
        logs = (airflow_home or home / "airflow") / "logs"
        typer.secho(
            f"error: run {dag_run.run_id} for {month} ended {dag_run.state}; nothing new was published, "
            f"readers still see the previous commit (task logs: {logs})",
            fg="red",
            err=True,
        )
        return 1
    with connect_read_only(Home(home)) as con:
        r = read(con, "select * from v_runs where run_id = ?", [dag_run.run_id]).row(0, named=True)
        unusable = con.execute(
            "select error from v_deliveries where month = ? and status = 'unusable'", [month]
        ).fetchall()
        later = con.execute("select month from _catalog where stale order by month").fetchall()
        asked = cross_region.summary(con, month)
    typer.echo(
        f"\n{month}: {r['status']} — {r['rows_delivered']:,} rows delivered, {r['accepted']:,} accepted, "
        f"{r['quarantined']:,} quarantined (build {r['build']}, commit {r['commit']}, run {r['run_id']})"
    )
    if r["replaced"]:
        typer.echo(
            f"replaces build {r['replaced']} of {month} (safetynet diff --home {home} --month {month})"
        )
    typer.echo(asked)
    if r["sources_not_delivered"]:
        typer.secho(f"not delivered this month: {', '.join(r['sources_not_delivered'])}", fg="yellow")
    for check in r["release_gate"] or []:
        typer.secho(f"release gate tripped: {check}", fg="yellow")
    if r["release_gate"]:
        typer.secho(
            f"released by {r['approved_by']} (the person running the month is the approval)", fg="yellow"
        )
    for (error,) in unusable:
        typer.secho(f"unusable: {error}", fg="red", err=True)
    if later:
        months = ", ".join(m for (m,) in later)
        rerun = (
            deployment.backfill_command(later[0][0], later[-1][0])
            if deployment.read(home)
            else f"safetynet backfill --from {later[0][0]} --landing {landing} --home {home}"
        )
        typer.secho(f"stale: {months} were built on an earlier {month}; rerun them: {rerun}", fg="yellow")
    typer.echo(
        f"lake:       {home / 'lake'}\nwarehouse:  {home / 'warehouse' / 'safetynet.duckdb'}"
        f"\nreport:     {home / 'reports' / month / 'validation.html'}"
        f"\noverviews:  {home / 'reports' / month / 'overview'}"
        f"\nexports:    {home / 'exports' / month}"
    )
    return 3 if unusable else 0


@app.command()
def run(
    month: Annotated[str, typer.Option(help="Month to load, YYYY-MM")],
    landing: Annotated[Path, typer.Option(help="Landing folder holding <YYYY-MM>/ deliveries")],
    home: Annotated[Path, typer.Option(help="Folder for lake, warehouse, reports and Airflow's DB")],
    outside_airflow: OutsideAirflow = False,
    released_by: ReleasedBy = None,
) -> None:
    """Run the monthly Airflow DAG for one month, embedded (SQLite metadata DB, no servers). A home
    a deployed Airflow publishes to is refused: rerun the month there (the message names how)."""
    from jobs.month.assess import checked_rules
    from jobs.month.run import check_month, preflight, turn
    from safetynet.lake import Home
    from safetynet.pdf import find_font

    try:
        approved_by, outside = _released(
            home.resolve(), check_month(month), month, outside_airflow, released_by, "run"
        )
        preflight(landing, month)
        turn(Home(home.resolve()), month, "", active=lambda _: False)  # months in order, no gap
        checked_rules(month)
        find_font()
    except (LandingError, RulesError, SetupError) as exc:
        fail(str(exc), 2)
    airflow_home = _airflow_home(outside)
    code = _load(month, landing.resolve(), home.resolve(), approved_by, airflow_home)
    _forget(airflow_home, code)
    raise typer.Exit(code)


def _forget(airflow_home: Path | None, code: int) -> None:
    """The temporary Airflow of a run --outside-airflow goes; a failed run's stays for its logs."""
    import shutil

    if airflow_home is not None and code != 1:
        shutil.rmtree(airflow_home, ignore_errors=True)


@app.command()
def backfill(
    first: Annotated[str, typer.Option("--from", help="First month, YYYY-MM")],
    landing: Annotated[Path, typer.Option(help="Landing folder holding <YYYY-MM>/ deliveries")],
    home: Annotated[Path, typer.Option(help="Folder for lake, warehouse, reports and Airflow's DB")],
    last: Annotated[
        str | None, typer.Option("--to", help="Last month, YYYY-MM (default: the last published month)")
    ] = None,
    outside_airflow: OutsideAirflow = False,
    released_by: ReleasedBy = None,
) -> None:
    """Run the DAG for each month in order (windows and divisions depend on earlier months).

    Without --to, reruns --from and every later published month: what to do after an earlier
    month was rerun and later ones are stale. Every month is checked before the first runs; a
    failed month stops the backfill."""
    from jobs.month.assess import checked_rules
    from jobs.month.run import check_month, preflight, turn
    from safetynet.lake import Home
    from safetynet.months import month_range
    from safetynet.pdf import find_font

    try:
        if last is None:
            last = max([check_month(first), *Home(home.resolve()).months()])
        months = month_range(check_month(first), check_month(last))
        if not months:
            raise LandingError(f"--from {first} is after --to {last}")
        approved_by, outside = _released(
            home.resolve(), months[0], months[-1], outside_airflow, released_by, "backfill"
        )
        for month in months:
            preflight(landing, month)
            checked_rules(month)  # each month's rules, as in force on its first day
        turn(Home(home.resolve()), months[0], "", active=lambda _: False)
        find_font()
    except (LandingError, RulesError, SetupError) as exc:
        fail(str(exc), 2)
    airflow_home = _airflow_home(outside)
    worst = 0
    for month in months:
        code = _load(month, landing.resolve(), home.resolve(), approved_by, airflow_home)
        if code == 1:  # a failed month stops the backfill, and the exit status says it failed
            worst = 1
            break
        worst = max(worst, code)
    _forget(airflow_home, worst)
    raise typer.Exit(worst)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help='One SELECT, e.g. "select * from v_runs"')],
    home: Annotated[Path, typer.Option(help="The --home of the runs")],
    format: Annotated[Format, typer.Option("--format", help="table, csv or json")] = Format.table,
    bom: Annotated[bool, typer.Option("--bom", help="CSV in UTF-8 with BOM, for Excel and WPS")] = False,
    commit: Annotated[
        int | None, typer.Option(help="Read the warehouse as commit N published it (see v_runs.commit)")
    ] = None,
) -> None:
    """Read-only SQL on the warehouse: one SELECT over the lake, nothing else (never blocks, and is
    never blocked by, a running load)."""
    import duckdb

    from jobs.publish.sealed import NoWarehouse, RefusedStatement, connect_read_only, connect_run_log, read
    from safetynet.lake import Home

    h = Home(home)
    first = commit is None and h.commit == 0  # nothing published yet: the run log answers alone
    try:
        with connect_run_log(h.root) if first else connect_read_only(h, commit) as con:
            frame = read(con, sql)
    except (NoWarehouse, RefusedStatement) as exc:
        fail(str(exc), 2)
    except duckdb.CatalogException as exc:
        if first:
            fail(f"{h.root.resolve()}: no month published yet; only v_runs answers (the run log)", 2)
        fail(str(exc).splitlines()[0], 2)
    except duckdb.Error as exc:
        fail(str(exc).splitlines()[0], 2)
    if format is Format.csv:
        import polars as pl

        nested = [c for c, t in frame.schema.items() if t.is_nested()]
        # lists and structs as JSON text, one cell each (CSV has no nested values)
        flat = frame.with_columns(
            pl.Series(
                c, [json.dumps(v, ensure_ascii=False, default=str) for v in frame[c].to_list()], pl.String
            )
            for c in nested
        )
        if bom:  # for Excel and WPS: a text from outside that starts like a formula cannot run
            from safetynet.formulas import for_spreadsheet

            sys.stdout.buffer.write(b"\xef\xbb\xbf" + for_spreadsheet(flat).write_csv().encode("utf-8"))
        else:  # the auditors' CSV: every value exact
            sys.stdout.write(flat.write_csv())
    elif format is Format.json:
        sys.stdout.write(json.dumps(frame.to_dicts(), ensure_ascii=False, default=str, indent=1) + "\n")
    else:
        import polars as pl

        with pl.Config(tbl_rows=200, tbl_cols=50, fmt_str_lengths=80, tbl_width_chars=200):
            typer.echo(frame)


@app.command()
def diff(
    month: Annotated[str, typer.Option(help="Month whose two builds to compare, YYYY-MM")],
    home: Annotated[Path, typer.Option(help="The --home of the runs")],
    old: Annotated[
        str | None, typer.Option(help="Old build (default: the one the current build replaced)")
    ] = None,
    new: Annotated[str | None, typer.Option(help="New build (default: the current build)")] = None,
) -> None:
    """Compare two builds of a month: inputs, versions, files, and rows of every changed table."""
    from jobs.publish import manifest
    from safetynet.lake import Home

    h = Home(home.resolve())
    folder = h.lake / f"month={month}"
    builds = sorted(p.name.removeprefix("build=") for p in folder.glob("build=*"))
    new = new or h.catalog.get(month, {}).get("build")
    if old is None:
        entries = [
            json.loads(p.read_text(encoding="utf-8")) for p in sorted((h.lake / "_runs").glob("*.json"))
        ]
        replaced = [e["replaced"] for e in entries if e.get("month") == month and e.get("build") == new]
        old = next((r for r in reversed(replaced) if r), None)
    known = ", ".join(builds) or "none"
    if new is None:
        fail(f"{month} is not published in {home} (builds in the lake: {known})", 2)
    if old is None:
        fail(f"{month}: build {new} replaced no earlier build; name one with --old (builds: {known})", 2)
    for name, build in (("old", old), ("new", new)):
        if build not in builds:
            fail(f"{folder}: no build {build!r} for --{name} (builds of {month}: {known})", 2)
    out = manifest.compare(folder / f"build={old}", folder / f"build={new}")
    typer.echo(json.dumps(out, ensure_ascii=False, indent=1))


@app.command()
def documents(
    month: Annotated[str, typer.Option(help="Published month whose documents to draw, YYYY-MM")],
    home: Annotated[Path, typer.Option(help="The --home of the runs")],
    township: Annotated[str | None, typer.Option(help="Only this township (9 digits)")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write into DIR/<county>/<township>/ instead of the home's cache")
    ] = None,
) -> None:
    """Draw a month's household reports and portraits from its published build (every township's,
    or one's) into the home's document cache, or --out: the bytes the portal serves. Prints the
    counts, the seconds and each document not drawn; exit status 1 when any was not."""
    from jobs.export.documents import render_month
    from safetynet.errors import SafetynetError
    from safetynet.workers import allotted

    try:
        done = render_month(home.resolve(), month, township, out.resolve() if out else None, allotted())
    except SafetynetError as exc:  # no published build of the month (NotPublished), a bad --township
        fail(str(exc), 2)
    typer.echo(
        f"{done['month']}: {done['townships']} townships, {done['documents']} documents "
        f"({done['drawn']} drawn now, {done['documents'] - done['drawn'] - len(done['failures'])} "
        f"already drawn), {done['seconds']:.1f} s, in {done['folder']}"
    )
    for failure in done["failures"]:  # the household and the character's code point (safetynet/pdf.py)
        typer.echo(f"not drawn: {failure.township_code}/{failure.file}: {failure.message}", err=True)
    if done["failures"]:
        raise typer.Exit(1)


@app.command()
def prune(
    keep_months: Annotated[int, typer.Option(help="Keep the builds of the newest N published months")],
    home: Annotated[Path, typer.Option(envvar="SAFETYNET_HOME", help="The --home of the runs")],
    apply: Annotated[bool, typer.Option("--apply", help="Remove them (without it: a dry run)")] = False,
    shorter_than_window: Annotated[
        bool,
        typer.Option(
            "--shorter-than-window",
            help="Allow keeping fewer months than the next month reads (its results would change)",
        ),
    ] = False,
) -> None:
    """Remove the builds no commit of the kept months names (never the current commit's, the month
    before the oldest kept, the divisions in force at a kept month, nor a run's not finished or
    failed at publish); a dry run unless --apply. Says what auditors can still time-travel to."""
    from jobs.publish.prune import PruneError, make_plan, report
    from jobs.publish.prune import apply as remove

    try:
        if apply:
            plan = remove(home, keep_months, shorter_than_window)
        else:
            plan = make_plan(home, keep_months, shorter_than_window)
    except PruneError as exc:
        fail(str(exc), 2)
    typer.echo(report(plan, applied=apply))


@app.command()
def shadow(
    rules: Annotated[Path, typer.Option(help="The candidate rules: a copy of rules/ with changes")],
    month: Annotated[str, typer.Option(help="Published month to score again, YYYY-MM")],
    home: Annotated[Path, typer.Option(help="The --home of the runs, read only: nothing is written there")],
    out: Annotated[
        Path | None, typer.Option(help="Write every difference to this .csv or .parquet file")
    ] = None,
) -> None:
    """Score a published month with candidate rules, publishing nothing: the leads and doubtful
    records they add, drop or change per township, and how the dropped ones ended."""
    from jobs.month.shadow import ShadowError, report, write_details
    from jobs.month.shadow import shadow as run_shadow

    if out is not None and out.suffix not in (".csv", ".parquet"):
        fail(f"--out {out}: name a .csv or .parquet file", 2)
    if out is not None and out.resolve().is_relative_to(home.resolve()):
        fail(f"--out {out}: inside the home, and a shadow run writes nothing there", 2)
    try:
        result = run_shadow(home.resolve(), month, rules.resolve())
    except (ShadowError, RulesError) as exc:
        fail(str(exc), 2)
    for note in result.notes:
        typer.secho(f"note: {note}", fg="yellow", err=True)
    typer.echo(report(result))
    if out is not None:
        write_details(result.details, out)
        typer.echo(f"{result.details.height:,} differences -> {out}")


@app.command()
def check(
    home: Annotated[Path, typer.Option(help="The --home of the runs: the latest published month is used")],
    application: Annotated[
        Path,
        typer.Option(
            help="The applicant household: a .csv or .xlsx, a row per member (docs/policy/applications.md)"
        ),
    ],
    authorisation: Annotated[
        Path | None,
        typer.Option(help="The applicant's signed authorisation (授权书): a PDF, JPG or PNG scan; required"),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the report (家庭经济状况核查报告 PDF)")] = Path("."),
    by: Annotated[str | None, typer.Option(help="Who asks (recorded); default: the login name")] = None,
) -> None:
    """Check an applicant household (逢救必核) with the means test against the latest published month:
    prints the result, writes the economic-status report and records the check with the signed
    authorisation (v_application_checks). Exit status 0 checked, 2 refused (the problems are
    printed; only the refusal is logged)."""
    import getpass

    from jobs.applications.checks import ApplicationRefused, submit
    from safetynet.lake import Home
    from safetynet.pdf import FontChain, find_font
    from safetynet.rules import load_rules

    if not (home / "current").exists():
        fail(f"{home}: no published month (run a month first)", 2)
    try:
        data = application.read_bytes()
        signed = (authorisation.name, authorisation.read_bytes()) if authorisation else None
    except OSError as exc:
        fail(f"{exc.filename}: cannot be read ({exc.strerror})", 2)
    try:
        fonts = FontChain(find_font())
    except SetupError as exc:
        fail(str(exc), 2)
    try:
        who = by or getpass.getuser()
        checked = submit(
            home.resolve(),
            application.name,
            data,
            load_rules(month=max(Home(home.resolve()).catalog, default=None)),  # the latest month's
            fonts,
            who,
            "data_team",
            authorisation=signed,
        )
    except ApplicationRefused as exc:
        for problem in exc.problems:
            typer.secho(f"refused: {problem}", fg="red", err=True)
        raise typer.Exit(2) from None
    app_ = checked.application
    out.mkdir(parents=True, exist_ok=True)
    report = out / f"{checked.application_id}_家庭经济状况核查报告.pdf"
    report.write_bytes(checked.report)
    typer.echo(
        f"application {checked.application_id}: household {app_.household_id}, township "
        f"{app_.township_code}, {app_.members.height} members, applied for {app_.applied_for}"
    )
    typer.echo(f"data of {app_.month} (build {app_.build})")
    typer.echo(f"result: {checked.result}. {checked.detail}")
    for r in checked.records:
        typer.echo(f"  {r['direction']} {r['label']}: {r['evidence']}")
    typer.echo(f"authorisation: SHA-256 {checked.entry['authorisation_sha256']}")
    typer.echo(f"report: {report} (SHA-256 {checked.entry['report_sha256']})")


@app.command()
def expectations(
    write: Annotated[bool, typer.Option(help="Rewrite expectations/*.json from the contract")] = False,
) -> None:
    """Check (or rewrite) the Great Expectations suites against the contract."""
    from jobs.ingest.expectations import stale_suites, write_suites

    if write:
        for path in write_suites():
            typer.echo(f"wrote {path}")
        return
    stale = stale_suites()
    if stale:
        fail(
            f"suites out of date with the contract: {', '.join(stale)} (run: safetynet expectations --write)",
            1,
        )
    typer.echo("suites match the contract")


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as lines of left-aligned columns (the last column is not padded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]) for row in rows
    ]


def _rule_values(values: object, prefix: str = "") -> list[tuple[str, str]]:
    """(key, value) of a loaded rule file's fields, a mapping's entries as `key.entry`."""
    items = values.items() if isinstance(values, dict) else vars(values).items()
    rows = []
    for key, value in items:
        if isinstance(value, dict):
            rows += _rule_values(value, f"{prefix}{key}.")
        else:
            shown = ", ".join(map(str, value)) if isinstance(value, tuple | list) else str(value)
            rows.append((f"{prefix}{key}", shown))
    return rows


@app.command()
def settings() -> None:
    """The deployment's settings: each SAFETYNET_* variable, its value, where it came from and what it
    does; the folders of rules, SQL, suites and DAG in use; the schedule and portal limits (deployment
    values kept in rules/, outside the rule version)."""
    from safetynet.settings import described
    from safetynet.settings import settings as current_settings

    try:
        current = current_settings()  # before the rules' module, which finds its folder at import
        from safetynet.resources import FOLDERS, located
        from safetynet.rules import load_portal, load_schedule

        folders = [(name, *map(str, reversed(located(name, current)))) for name in FOLDERS]
    except SetupError as exc:
        fail(str(exc), 2)
    rows = [("setting", "value", "from", "description")]
    rows += [(name, value or "-", source, text) for name, value, source, text in described(current)]
    typer.echo("\n".join(_columns(rows)))
    typer.echo("\npackage data (safetynet/resources.py)")
    typer.echo("\n".join(_columns([("folder", "from", "path"), *folders])))
    rules = located("rules", current)[0]
    try:
        files = {"release/schedule.yaml": load_schedule(rules), "portal/portal.yaml": load_portal(rules)}
    except RulesError as exc:
        fail(str(exc), 2)
    typer.echo(f"\ndeployment values in {rules} (not part of the rule version)")
    rows = [("file", "key", "value")]
    rows += [(name, key, value) for name, loaded in files.items() for key, value in _rule_values(loaded)]
    typer.echo("\n".join(_columns(rows)))


if __name__ == "__main__":
    app()


users = typer.Typer(no_args_is_help=True, help="Accounts of the township portal (in <home>/portal/).")
app.add_typer(users, name="users")


class Role(StrEnum):
    township = "township"
    county = "county"
    admin = "admin"


HomeOption = Annotated[Path, typer.Option(help="The --home of runs the portal serves")]


def _accounts(home: Path):
    from portal.accounts import Accounts
    from safetynet.rules import load_portal

    if not home.is_dir():
        fail(f"{home}: no such home folder", 2)
    return Accounts(home, load_portal())


def _password(password: str | None) -> str:
    return password or typer.prompt("password", hide_input=True, confirmation_prompt=True)


@users.command("add")
def users_add(
    home: HomeOption,
    username: Annotated[str, typer.Option(help="Sign-in name: letters, digits, '.', '_', '-'")],
    role: Annotated[
        Role, typer.Option(help="township (one township), county (its townships, read-only), admin")
    ],
    area: Annotated[str, typer.Option(help="9-digit township or 6-digit county code; none for admin")] = "",
    password: Annotated[str | None, typer.Option(help="Without it, prompted (not echoed)")] = None,
) -> None:
    """Open an account."""
    from portal.accounts import AccountError

    accounts = _accounts(home)
    try:
        account = accounts.add(username, role.value, area, _password(password))
    except AccountError as exc:
        fail(str(exc), 2)
    typer.echo(f"added {account.username} ({account.role} {account.area})")


@users.command("list")
def users_list(home: HomeOption) -> None:
    """Every account, with its role, area and whether it is disabled."""
    for a in _accounts(home).list():
        state = "disabled" if a.disabled else "active"
        typer.echo(f"{a.username}\t{a.role}\t{a.area or '-'}\t{state}\t{a.created_at}")


@users.command("disable")
def users_disable(home: HomeOption, username: Annotated[str, typer.Option()]) -> None:
    """Disable an account; its open sessions end at once."""
    from portal.accounts import AccountError

    try:
        _accounts(home).disable(username)
    except AccountError as exc:
        fail(str(exc), 2)
    typer.echo(f"disabled {username}")


@users.command("reset")
def users_reset(
    home: HomeOption,
    username: Annotated[str, typer.Option()],
    password: Annotated[str | None, typer.Option(help="Without it, prompted (not echoed)")] = None,
) -> None:
    """Set a new password (and enable the account again); its sessions end, its locks are lifted."""
    from portal.accounts import AccountError

    try:
        _accounts(home).reset(username, _password(password))
    except AccountError as exc:
        fail(str(exc), 2)
    typer.echo(f"reset {username}")


@app.command()
def serve(
    home: HomeOption,
    landing: Annotated[
        Path | None,
        typer.Option(help="Where uploaded outcomes go: <landing>/<month>/outcomes.part-<township>.csv"),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on (behind the county's reverse proxy)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8080,
    https_only: Annotated[
        bool, typer.Option(help="Send the session cookie over HTTPS only (behind a TLS proxy)")
    ] = False,
    forwarded_allow_ips: Annotated[
        str | None, typer.Option(help="The reverse proxy's address, trusted for X-Forwarded-For")
    ] = None,
    demo_accounts: Annotated[
        bool, typer.Option(help="Open (or reset) demo accounts for the first townships and print them")
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, help="Portal processes sharing the port (sessions and logs are shared)")
    ] = 1,
) -> None:
    """The township portal (乡镇工作平台): sign-in, downloads, outcome uploads, worklist."""
    import os

    import uvicorn

    from portal.app import _secret, clock, create_app

    if not home.is_dir():
        fail(f"{home}: no such home folder (run a month first: make demo)", 2)
    if demo_accounts:
        os.environ["SAFETYNET_PORTAL_DEMO"] = "1"  # a demo portal: SAFETYNET_PORTAL_TODAY allowed
    try:
        clock()  # a date set on a portal that is not a demo: refused before it logs a step
    except SetupError as exc:
        fail(str(exc), 2)
    if landing is not None and not landing.is_dir():
        fail(f"{landing}: no such landing folder", 2)
    if demo_accounts:
        _demo_accounts(home)
    options = {
        "host": host,
        "port": port,
        "proxy_headers": forwarded_allow_ips is not None,
        "forwarded_allow_ips": forwarded_allow_ips,
        "log_level": "warning",
    }
    typer.echo(
        f"portal: http://{host}:{port}/login  (home {home}, landing {landing or 'not set: no uploads'}"
        f"{f', {workers} processes' if workers > 1 else ''})"
    )
    if workers == 1:
        uvicorn.run(create_app(home, landing, https_only=https_only), **options)
        return
    _secret(home.resolve())  # one signing key for every process, made before they start
    os.environ["SAFETYNET_PORTAL_HOME"] = str(home.resolve())
    os.environ["SAFETYNET_PORTAL_LANDING"] = str(landing.resolve()) if landing else ""
    os.environ["SAFETYNET_PORTAL_HTTPS_ONLY"] = "1" if https_only else ""
    uvicorn.run("portal.app:from_env", factory=True, workers=workers, **options)


def _demo_accounts(home: Path) -> None:
    """Accounts for the demo: the data team, the first county and its first two townships, each
    with a random password the portal's policy accepts."""
    from portal.accounts import strong_password
    from portal.files import Library

    library = Library(home)
    months = library.months()
    if not months:
        fail(f"{home}: no month published yet (make demo)", 2)
    townships = library.townships(months[0])
    county = townships[0][:6]
    mine = [t for t in townships if t.startswith(county)][:2]
    accounts = _accounts(home)
    wanted = [("data-team", "admin", ""), (f"county-{county}", "county", county)]
    wanted += [(f"town-{t}", "township", t) for t in mine]
    typer.echo("demo accounts (passwords new on every start):")
    for username, role, area in wanted:
        password = strong_password()
        if accounts.get(username):
            accounts.reset(username, password)
        else:
            accounts.add(username, role, area, password)
        typer.echo(f"  {username:<22} {password}   {role} {area}")
