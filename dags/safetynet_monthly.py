"""
### safetynet monthly load (低收入人口动态监测 · 月度数据接收与校验)

One run per calendar month (China Standard Time); its deliveries are read from
`<landing>/<YYYY-MM>/`. **The month**: a manual run names it with the param `month` (it wins over
the data interval, which for a manual trigger is the trigger time's); a scheduled or backfill run
takes it from its data interval.

1. `wait` waits for the month's turn and its deliveries: months run in order, each after the
   previous month is published (a manual or backfill run after a gap is refused, naming the missing
   month; a scheduled run waits for the gap to be backfilled; a backfill's months go one after
   another); a scheduled or backfill run also waits for the data team's readiness marker
   `_READY` in the month's folder (timeout in `rules/release/schedule.yaml`).
2. `start` checks the landing folder, names the month's build by what it is made of (deliveries'
   SHA-256, rule, suite and code versions, previous month's build) and opens the run's staging.
3. `ingest_divisions` loads the division codes first: every other source is checked against the
   latest divisions delivery. `ingest_roster` loads the roster next: each source is written one file
   per prefecture (the first 4 digits of a division code), and rows keyed by ID number are placed
   through the roster's households (`jobs/ingest/areas.py`).
4. `ingest` (mapped, one task per other source of the contract) reads, casts and validates a source with
   its Great Expectations suite; bad rows go to quarantine with file, row, column and reason. A
   source not delivered, or unusable as a whole, is recorded as such and does not fail the run.
5. `record` writes the month's delivery record and validation report.
6. `prefectures` lists the prefectures with households on the month's roster, and finds where
   the households and persons that moved between prefectures were placed in the window's earlier
   months (`_movers`, `jobs/ingest/areas.py`). `assess_area`
   (mapped, one task per prefecture) reads that prefecture's rows only, assembles its households,
   scores the hardship index, fires the warning rules, makes the leads, runs the means-test
   cross-checks and draws the random re-check sample. `assess` then works over the month: the
   checks across prefectures (one person in two households), and the cases: the month's outcomes
   close cases, the rest stand, turn overdue or expire (`jobs/cases/lifecycle.py`, `v_cases`); and it
   answers the month's requests from other provinces (`jobs/cross_region/answering.py`).
7. `export_areas` lists the prefectures with township files (households, cases or notices);
   `export` (mapped, one task per prefecture) writes each of its townships' files: lead list,
   doubtful records, re-check sample (each with the sheet 逾期未回传 of overdue cases),
   economic-status reports (PDF) for new or changed records, summary, manifest; and each of its
   counties' overview (`reports/<month>/overview/`).
8. `gate` compares the month with the last ones (rows per source, a delivery identical to last
   month's, the roster's size, leads and doubtful records against their usual count; thresholds in
   `rules/release/gate.yaml`). `approve` holds the release for the data team when a check tripped
   (Airflow's required actions: Approve or Reject) and passes at once otherwise, or when the run's
   param `approved_by` names who releases it (`safetynet run` does so for the person running it).
9. `publish` is the month's one commit point: the build is renamed into the lake and a new commit
   (warehouse views, township files) is made current by one rename; the Assets
   `safetynet_warehouse` and `safetynet_township_files` are updated for DAGs that follow them.
   Until then auditors and townships see the previous commit, whole.

Every task before `publish` writes only into the run's staging, so any task can be retried or
cleared at any point. Bad input (an unusable landing, a gap, a month not in YYYY-MM form) fails at
once, without retries. A task that fails for good marks the run `failed` in `v_runs` and alerts the
data team (`safetynet/alerts.py`). Params `landing` and `home` default to `$SAFETYNET_LANDING` /
`$SAFETYNET_HOME`.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import (
    Asset,
    AsyncCallback,
    CronDataIntervalTimetable,
    DeadlineAlert,
    DeadlineReference,
    Param,
    PokeReturnValue,
    dag,
    task,
)

from safetynet.contract import SOURCE_NAMES
from safetynet.embedded import embedded
from safetynet.rules import load_schedule
from safetynet.settings import settings
from safetynet.workers import EXPORT_SLOTS

DAG_ID = "safetynet_monthly"
OTHER_SOURCES = [s for s in SOURCE_NAMES if s not in ("divisions", "roster")]
SCHEDULE = load_schedule()
SETTINGS = settings()  # the deployment's (safetynet/settings.py), read when the DAG file is parsed
WAREHOUSE = Asset("safetynet_warehouse")  # a month published: auditors' views and lake
TOWNSHIP_FILES = Asset("safetynet_township_files")  # its township files (the portal follows it)


def _timeout(task_id: str) -> dt.timedelta:
    return dt.timedelta(minutes=SCHEDULE.execution_timeout_minutes[task_id])


def _locations(params: dict) -> tuple[str, str]:
    from safetynet.config import locations

    return _at_once(locations, params.get("landing"), params.get("home"))


def _at_once(call, *args):
    """Bad input and refused states fail the task at once: a retry would meet the same problem."""
    from airflow.sdk.exceptions import AirflowFailException

    from safetynet.errors import SafetynetError

    try:
        return call(*args)
    except SafetynetError as exc:
        raise AirflowFailException(str(exc)) from exc


def _record_failure(context) -> None:
    """A task failed for good: the run log says so and the data team is told (the published
    state is untouched)."""
    from pathlib import Path

    from airflow.sdk.exceptions import AirflowSensorTimeout

    from jobs.month import run as monthly
    from safetynet import alerts, runs
    from safetynet.lake import Home

    ti, exc = context["ti"], context.get("exception")
    try:
        month = monthly.run_month(
            context["params"].get("month"),
            context["dag_run"].run_type,
            context.get("data_interval_start"),
        )
    except Exception:  # a manual run that named no month
        month = None
    try:
        home = _locations(context["params"])[1]
    except Exception:  # no home configured: the alert goes to the log only
        home = None
    error = str(exc) if exc is not None else "failed"
    if home:
        h = Home(Path(home))
        entry = runs.read(h, context["run_id"]) or {}
        if isinstance(exc, AirflowSensorTimeout):
            error = f"timed out waiting for {entry.get('waiting_for') or 'its turn'}: {exc}"
        runs.failed(h, context["run_id"], ti.task_id, error, month)
        error = (runs.read(h, context["run_id"]) or {}).get("error") or error
    alerts.notify(
        home,
        "failure",
        f"safetynet: {ti.task_id} of run {context['run_id']} failed",
        error,
        run_id=context["run_id"],
        task=ti.task_id,
        month=month,
    )


class ReleaseApproval(ApprovalOperator):
    """Holds the township release when the gate tripped; passes at once otherwise."""

    def execute(self, context):
        from jobs.publish import release

        gated = context["ti"].xcom_pull(task_ids="gate")
        if not gated["held"]:
            return None  # nothing tripped, or released by the person running the month
        release.hold(_locations(context["params"])[1], context["run_id"], gated)  # cleared after a Reject
        return super().execute(context)

    def execute_complete(self, context, event):
        from jobs.publish import release

        if "error" not in event:
            user = event.get("responded_by_user") or {}
            by = user.get("name") or user.get("id") if isinstance(user, dict) else str(user)
            approved = event["chosen_options"] == [self.APPROVE]
            release.decided(_locations(context["params"])[1], context["run_id"], approved, by or "?")
        return super().execute_complete(context, event)


@dag(
    dag_id=DAG_ID,
    # 00:00 on the 1st, Asia/Shanghai: each run's data interval is one whole calendar month.
    schedule=CronDataIntervalTimetable("0 0 1 * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2024, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["safetynet", "monthly", "ingest", "validation", "hardship-index", "leads"],
    owner_links={"data-team": "mailto:safetynet-data-team@example.org"},
    default_args={
        "owner": "data-team",
        # SAFETYNET_TASK_RETRIES / SAFETYNET_RETRY_DELAY (seconds) let tests retry at once
        "retries": SETTINGS.task_retries,
        "retry_delay": dt.timedelta(seconds=SETTINGS.retry_delay),
        "on_failure_callback": _record_failure,
    },
    # Off in the embedded run: Airflow 3.3's `dag.test()` fails to finish a run whose DAG has a
    # deadline (it looks the alert up by an id only the DAG processor assigns).
    deadline=None
    if embedded()
    else DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=dt.timedelta(days=SCHEDULE.deadline_days),
        callback=AsyncCallback("safetynet.alerts.deadline_missed"),
    ),
    params={
        "month": Param(
            "",
            type="string",
            pattern=r"^(\d{4}-(0[1-9]|1[0-2]))?$",
            description="Month to load, YYYY-MM (manual runs name it; scheduled runs use their interval)",
        ),
        "landing": Param("", type="string", description="Landing folder holding <YYYY-MM>/ deliveries"),
        "home": Param("", type="string", description="Folder for the lake, warehouse and reports"),
        "wait_for_ready": Param(
            False,
            type="boolean",
            description="Wait for _READY on a manual run too (scheduled runs always do)",
        ),
        "approved_by": Param(
            "",
            type="string",
            description="Who releases the month if its release gate trips (no approval step)",
        ),
    },
    doc_md=__doc__,
)
# Longer than a screen on purpose: only wiring (each task a call into jobs/, their order, retries,
# the mapped tasks); splitting it would scatter the DAG's shape over several functions.
def safetynet_monthly():
    @task.sensor(
        poke_interval=SCHEDULE.ready_poke_minutes * 60,
        timeout=SCHEDULE.ready_timeout_hours * 3600,
        mode="reschedule",
        execution_timeout=_timeout("wait"),
    )
    def wait(params=None, dag_run=None, data_interval_start=None, run_id=None, ti=None) -> PokeReturnValue:
        from pathlib import Path

        from jobs.month import run as monthly
        from jobs.publish import deployment
        from safetynet.lake import Home
        from safetynet.months import previous_month

        def active(other: str) -> bool:
            try:  # running, not queued: with one run slot, a queued run waits for this one
                return monthly.value(ti.get_dagrun_state(DAG_ID, other)) == "running"
            except Exception:  # a run this Airflow does not know (another deployment, a test)
                return False

        landing, home = _locations(params)
        deployment.record(home, run_id)  # a deployed Airflow publishes to this home from now on
        month = _at_once(monthly.run_month, params.get("month"), dag_run.run_type, data_interval_start)
        prev = [monthly.month_start(previous_month(month))]
        waiting_for = _at_once(
            monthly.turn,
            Home(Path(home)),
            month,
            run_id,
            active,
            ti.get_dr_count(DAG_ID, logical_dates=prev, states=["running"]) > 0,
            ti.get_dr_count(DAG_ID, logical_dates=prev, states=["queued"]) > 0,
            monthly.value(dag_run.run_type) == "scheduled",
        )
        if waiting_for is None and (monthly.is_automatic(dag_run.run_type) or params["wait_for_ready"]):
            marker = _at_once(monthly.ready, landing, month)
            waiting_for = marker and f"the readiness marker {marker}"
        if waiting_for:
            monthly.note_waiting(home, run_id, month, waiting_for)
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=month)

    @task(execution_timeout=_timeout("start"))
    def start(month: str, params=None, run_id=None) -> dict:
        from jobs.month import run as monthly

        landing, home = _locations(params)
        return _at_once(monthly.start, month, landing, home, run_id)

    @task(execution_timeout=_timeout("ingest"))
    def ingest_divisions(run: dict, params=None, run_id=None) -> dict:
        from jobs.month import run as monthly

        return _at_once(monthly.ingest, "divisions", run["month"], *_locations(params), run_id)

    @task(execution_timeout=_timeout("ingest"))
    def ingest_roster(run: dict, divisions: dict, params=None, run_id=None) -> dict:
        from jobs.month import run as monthly

        return _at_once(monthly.ingest, "roster", run["month"], *_locations(params), run_id)

    @task(map_index_template="{{ task.op_kwargs['source'] }}", execution_timeout=_timeout("ingest"))
    def ingest(source: str, run: dict, roster: dict, params=None, run_id=None) -> dict:
        from jobs.month import run as monthly

        return _at_once(monthly.ingest, source, run["month"], *_locations(params), run_id)

    @task(execution_timeout=_timeout("record"))
    def record(run: dict, roster: dict, results: list[dict], params=None, run_id=None) -> dict:
        from jobs.month import run as monthly

        return _at_once(monthly.record, run["month"], _locations(params)[1], run_id)

    @task(execution_timeout=_timeout("prefectures"))
    def prefectures(recorded: dict, params=None, run_id=None) -> list[str]:
        from jobs.month import assess

        return _at_once(assess.prefectures, recorded["month"], _locations(params)[1], run_id)

    @task(map_index_template="{{ task.op_kwargs['area'] }}", execution_timeout=_timeout("assess_area"))
    def assess_area(area: str, recorded: dict, params=None, run_id=None) -> dict:
        from jobs.month import assess

        return _at_once(assess.assess_area, recorded["month"], _locations(params)[1], run_id, area)

    @task(execution_timeout=_timeout("assess"))
    def assess(recorded: dict, assessed: list[dict], params=None, run_id=None) -> dict:
        from jobs.month import assess

        return _at_once(assess.assess_month, recorded["month"], _locations(params)[1], run_id)

    @task(execution_timeout=_timeout("export_areas"))
    def export_areas(assessed: dict, params=None, run_id=None) -> list[str]:
        from jobs.export import lists as exports

        return _at_once(exports.export_areas, assessed["month"], _locations(params)[1], run_id)

    @task(
        map_index_template="{{ task.op_kwargs['area'] }}",
        execution_timeout=_timeout("export"),
        pool_slots=EXPORT_SLOTS,
    )
    def export(area: str, assessed: dict, params=None, run_id=None) -> dict:
        from jobs.export import lists as exports

        home = _locations(params)[1]
        return _at_once(exports.export_area, assessed["month"], home, run_id, area, EXPORT_SLOTS)

    @task(execution_timeout=_timeout("gate"))
    def gate(assessed: dict, exported: list[dict], params=None, run_id=None) -> dict:
        from jobs.publish import release

        home = _locations(params)[1]
        return _at_once(release.gate, assessed["month"], home, run_id, params["approved_by"] or None)

    approve = ReleaseApproval(
        task_id="approve",
        subject="safetynet {{ ti.xcom_pull(task_ids='gate')['month'] }}: release held by the gate",
        body="{{ ti.xcom_pull(task_ids='gate')['text'] }}\n\nApprove to publish the month and release "
        "the township files; Reject to publish nothing (the previous month stays current).",
        response_timeout=dt.timedelta(hours=SCHEDULE.approval_timeout_hours),
        fail_on_reject=True,
        retries=0,
    )

    @task(execution_timeout=_timeout("publish"), outlets=[WAREHOUSE, TOWNSHIP_FILES])
    def publish(assessed: dict, exported: list[dict], params=None, run_id=None, outlet_events=None) -> dict:
        from jobs.month import run as monthly

        done = _at_once(monthly.publish, assessed["month"], _locations(params)[1], run_id)
        for asset in (WAREHOUSE, TOWNSHIP_FILES):
            outlet_events[asset].extra = {k: done[k] for k in ("month", "build", "commit", "status")}
        return done

    run = start(wait())
    roster = ingest_roster(run, ingest_divisions(run))
    results = ingest.partial(run=run, roster=roster).expand(source=OTHER_SOURCES)
    recorded = record(run, roster, results)
    assessed = assess_area.partial(recorded=recorded).expand(area=prefectures(recorded))
    month = assess(recorded, assessed)
    exported = export.partial(assessed=month).expand(area=export_areas(month))
    gate(month, exported) >> approve >> publish(month, exported)


monthly_dag = safetynet_monthly()

if __name__ == "__main__":
    monthly_dag.test()
