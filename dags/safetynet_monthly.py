"""
### safetynet monthly load (低收入人口动态监测 · 月度数据接收与校验)

One run per calendar month (China Standard Time). The run's **data interval** is the month; its
deliveries are read from `<landing>/<YYYY-MM>/`.

1. `start` checks the landing folder and opens the run's staging area.
2. `ingest_divisions` loads the division codes first: every other source is checked against the
   latest divisions delivery.
3. `ingest` (mapped, one task per source of the contract) reads, casts and validates a source with
   its Great Expectations suite; bad rows go to quarantine with file, row, column and reason. A
   source not delivered, or unusable as a whole, is recorded as such and does not fail the run.
4. `publish` swaps the month's partitions into the lake, records the run (`v_runs`), writes the
   validation report and refreshes the DuckDB warehouse.
5. `assess` assembles the month's households, scores the hardship index, fires the warning rules
   and makes the leads (`v_household_month`, `v_leads`), then runs the means-test cross-checks
   (`v_doubtful_records`) and draws the period's random re-check sample, all with `rules/`.
6. `export` writes each township's files under `<home>/exports/<YYYY-MM>/<county>/<township>/`:
   lead list, doubtful records, re-check sample, economic-status reports (PDF), summary, manifest.

Every task writes only under `<home>/staging/<run_id>/`, so retries and reruns replace a month
and never append. Params `landing` and `home` default to `$SAFETYNET_LANDING` / `$SAFETYNET_HOME`.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from safetynet.contract import SOURCE_NAMES

OTHER_SOURCES = [s for s in SOURCE_NAMES if s != "divisions"]


def _locations(params: dict) -> tuple[str, str]:
    from safetynet.config import locations

    return locations(params.get("landing"), params.get("home"))


@dag(
    dag_id="safetynet_monthly",
    # 00:00 on the 1st, Asia/Shanghai: each run's data interval is one whole calendar month.
    schedule=CronDataIntervalTimetable("0 0 1 * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2024, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["safetynet", "monthly", "ingest", "validation", "hardship-index", "leads"],
    default_args={"retries": 2, "retry_delay": dt.timedelta(seconds=30)},
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
    def publish(run: dict, divisions: dict, results: list[dict], params=None, run_id=None) -> dict:
        from jobs import monthly

        return monthly.publish(run["month"], _locations(params)[1], run_id)

    @task
    def assess(published: dict, params=None, run_id=None) -> dict:
        from jobs import assess

        return assess.assess(published["month"], _locations(params)[1], run_id)

    @task
    def export(assessed: dict, params=None, run_id=None) -> dict:
        from jobs import exports

        return exports.export(assessed["month"], _locations(params)[1], run_id)

    run = start()
    divisions = ingest_divisions(run)
    results = ingest.partial(run=run, divisions=divisions).expand(source=OTHER_SOURCES)
    export(assess(publish(run, divisions, results)))


monthly_dag = safetynet_monthly()

if __name__ == "__main__":
    monthly_dag.test()
