"""
### safetynet monthly load (低收入人口动态监测 · 月度数据接收与校验)

One run per calendar month (China Standard Time). The run's **data interval** is the month; its
deliveries are read from `<landing>/<YYYY-MM>/`.

1. `start` checks the landing folder, names the month's build by what it is made of (deliveries'
   SHA-256, rule, suite and code versions, previous month's build) and opens the run's staging.
2. `ingest_divisions` loads the division codes first: every other source is checked against the
   latest divisions delivery.
3. `ingest` (mapped, one task per source of the contract) reads, casts and validates a source with
   its Great Expectations suite; bad rows go to quarantine with file, row, column and reason. A
   source not delivered, or unusable as a whole, is recorded as such and does not fail the run.
4. `record` writes the month's delivery record and validation report.
5. `assess` assembles the month's households, scores the hardship index, fires the warning rules
   and makes the leads, then runs the means-test cross-checks and draws the random re-check sample.
6. `export` writes each township's files: lead list, doubtful records, re-check sample,
   economic-status reports (PDF), summary, manifest.
7. `publish` is the month's one commit point: the build is renamed into the lake and a new commit
   (warehouse views, township files) is made current by one rename. Until then auditors and
   townships see the previous commit, whole.

Every task before `publish` writes only into the run's staging, so any task can be retried or
cleared at any point; a task that fails for good marks the run `failed` in `v_runs`. Params
`landing` and `home` default to `$SAFETYNET_LANDING` / `$SAFETYNET_HOME`.
"""

from __future__ import annotations

import datetime as dt
import os

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from safetynet.contract import SOURCE_NAMES

OTHER_SOURCES = [s for s in SOURCE_NAMES if s != "divisions"]


def _locations(params: dict) -> tuple[str, str]:
    from safetynet.config import locations

    return locations(params.get("landing"), params.get("home"))


def _record_failure(context) -> None:
    """A task failed for good: the run log says so (the published state is untouched)."""
    from pathlib import Path

    from jobs import runs
    from jobs.lake import Home

    try:
        home = _locations(context["params"])[1]
    except Exception:  # no home configured: nothing to record into
        return
    ti = context["ti"]
    runs.failed(Home(Path(home)), context["run_id"], ti.task_id, repr(context.get("exception")))


@dag(
    dag_id="safetynet_monthly",
    # 00:00 on the 1st, Asia/Shanghai: each run's data interval is one whole calendar month.
    schedule=CronDataIntervalTimetable("0 0 1 * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2024, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["safetynet", "monthly", "ingest", "validation", "hardship-index", "leads"],
    default_args={
        # SAFETYNET_TASK_RETRIES / SAFETYNET_RETRY_DELAY (seconds) let tests retry at once
        "retries": int(os.environ.get("SAFETYNET_TASK_RETRIES", "2")),
        "retry_delay": dt.timedelta(seconds=float(os.environ.get("SAFETYNET_RETRY_DELAY", "30"))),
        "on_failure_callback": _record_failure,
    },
    params={
        "landing": Param("", type="string", description="Landing folder holding <YYYY-MM>/ deliveries"),
        "home": Param("", type="string", description="Folder for the lake, warehouse and reports"),
    },
    doc_md=__doc__,
)
def safetynet_monthly():
    @task
    def start(params=None, data_interval_start=None, run_id=None) -> dict:
        from jobs import monthly

        landing, home = _locations(params)
        return monthly.start(monthly.month_of(data_interval_start), landing, home, run_id)

    @task
    def ingest_divisions(run: dict, params=None, run_id=None) -> dict:
        from jobs import monthly

        return monthly.ingest("divisions", run["month"], *_locations(params), run_id)

    @task(map_index_template="{{ task.op_kwargs['source'] }}")
    def ingest(source: str, run: dict, divisions: dict, params=None, run_id=None) -> dict:
        from jobs import monthly

        return monthly.ingest(source, run["month"], *_locations(params), run_id)

    @task
    def record(run: dict, divisions: dict, results: list[dict], params=None, run_id=None) -> dict:
        from jobs import monthly

        return monthly.record(run["month"], _locations(params)[1], run_id)

    @task
    def assess(recorded: dict, params=None, run_id=None) -> dict:
        from jobs import assess

        return assess.assess(recorded["month"], _locations(params)[1], run_id)

    @task
    def export(assessed: dict, params=None, run_id=None) -> dict:
        from jobs import exports

        return exports.export(assessed["month"], _locations(params)[1], run_id)

    @task
    def publish(exported: dict, params=None, run_id=None) -> dict:
        from jobs import monthly

        return monthly.publish(exported["month"], _locations(params)[1], run_id)

    run = start()
    divisions = ingest_divisions(run)
    results = ingest.partial(run=run, divisions=divisions).expand(source=OTHER_SOURCES)
    publish(export(assess(record(run, divisions, results))))


monthly_dag = safetynet_monthly()

if __name__ == "__main__":
    monthly_dag.test()
