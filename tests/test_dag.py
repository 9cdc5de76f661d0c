"""DAG integrity: imports cleanly, is wired as documented, and its timetable covers calendar months."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from conftest import ROOT

CST = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["safetynet_monthly"]


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert list(dagbag.dag_ids) == ["safetynet_monthly"]


def test_tags_retries_docs_and_params(dag):
    assert {"safetynet", "monthly"} <= set(dag.tags)
    assert dag.doc_md and "data interval" in dag.doc_md
    # every task retries, but the human approval: a retry would ask again after a Reject
    assert all(t.retries >= 2 for t in dag.tasks if t.task_id != "approve")
    assert dag.get_task("approve").retries == 0
    assert set(dag.params) == {"month", "landing", "home", "wait_for_ready", "approved_by"}
    assert dag.max_active_runs == 1


def test_production_habits(dag):
    """Owners, execution timeouts from rules/release/schedule.yaml, a failure hook, a deadline
    alert and Assets as outlets of the one commit point."""
    from safetynet.rules import load_schedule

    schedule = load_schedule()
    assert {t.owner for t in dag.tasks} == {"data-team"}
    for t in dag.tasks:
        if t.task_id != "approve":
            key = "ingest" if t.task_id.startswith("ingest") else t.task_id
            assert t.execution_timeout.total_seconds() == schedule.execution_timeout_minutes[key] * 60
        assert t.on_failure_callback
    assert dag.deadline is not None
    wait = dag.get_task("wait")
    assert wait.mode == "reschedule" and wait.timeout == schedule.ready_timeout_hours * 3600
    outlets = {a.name for a in dag.get_task("publish").outlets}
    assert outlets == {"safetynet_warehouse", "safetynet_township_files"}
    approve = dag.get_task("approve")
    assert approve.fail_on_reject and approve.response_timeout.total_seconds() == 3600 * (
        schedule.approval_timeout_hours
    )


def test_one_mapped_ingest_task_per_source_after_divisions(dag):
    from safetynet.contract import SOURCE_NAMES

    ingest = dag.get_task("ingest")
    assert set(dag.task_ids) == {
        "wait",
        "gate",
        "approve",
        "start",
        "ingest_divisions",
        "ingest_roster",
        "ingest",
        "record",
        "prefectures",
        "assess_area",
        "assess",
        "export_areas",
        "export",
        "publish",
    }
    # one household task per prefecture, then the month's checks across them
    assert dag.get_task("prefectures").upstream_task_ids == {"record"}
    assert dag.get_task("assess_area").upstream_task_ids == {"prefectures", "record"}
    assert dag.get_task("assess").upstream_task_ids == {"assess_area", "record"}
    # the roster after the divisions, every other source after the roster (placed through it)
    assert dag.get_task("ingest_roster").upstream_task_ids == {"start", "ingest_divisions"}
    assert ingest.upstream_task_ids == {"start", "ingest_roster"}
    assert {"ingest", "ingest_roster"} <= dag.get_task("record").upstream_task_ids
    assert dag.get_task("start").upstream_task_ids == {"wait"}
    # one commit point, after everything a month produces and the release gate
    assert dag.get_task("publish").upstream_task_ids == {"assess", "export", "approve"}
    # township files per prefecture, after the month's cases
    assert dag.get_task("export_areas").upstream_task_ids == {"assess"}
    assert dag.get_task("export").upstream_task_ids == {"assess", "export_areas"}
    assert dag.get_task("gate").upstream_task_ids == {"assess", "export"}
    assert dag.get_task("approve").upstream_task_ids == {"gate"}
    assert not dag.get_task("publish").downstream_task_ids
    assert all(t.on_failure_callback for t in dag.tasks)  # a failure is recorded in the run log
    from safetynet.embedded import load_dag

    expanded = load_dag().get_task("ingest").op_kwargs_expand_input.value["source"]
    assert sorted(expanded + ["divisions", "roster"]) == sorted(SOURCE_NAMES)


def test_timetable_is_an_interval_over_the_calendar_month(dag):
    from airflow.sdk import CronDataIntervalTimetable
    from airflow.serialization.encoders import coerce_to_core_timetable

    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    core = coerce_to_core_timetable(dag.timetable)
    from safetynet.embedded import logical_date_for

    interval = core.infer_manual_data_interval(run_after=logical_date_for("2026-02"))
    assert interval.start == dt.datetime(2026, 2, 1, tzinfo=CST)
    assert interval.end == dt.datetime(2026, 3, 1, tzinfo=CST)
    from jobs.month.run import month_of

    assert month_of(interval.start) == "2026-02"


def test_scheduled_runs_cover_consecutive_whole_months(dag):
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    core = coerce_to_core_timetable(dag.timetable)
    restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=True)
    first = core.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    second = core.next_dagrun_info(last_automated_data_interval=first.data_interval, restriction=restriction)
    assert first.data_interval.start == dt.datetime(2024, 1, 1, tzinfo=CST)
    assert first.data_interval.end == second.data_interval.start == dt.datetime(2024, 2, 1, tzinfo=CST)
    assert second.data_interval.end == dt.datetime(2024, 3, 1, tzinfo=CST)
