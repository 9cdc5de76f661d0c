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
    assert all(t.retries >= 2 for t in dag.tasks)
    assert set(dag.params) == {"landing", "home"}
    assert dag.max_active_runs == 1


def test_one_mapped_ingest_task_per_source_after_divisions(dag):
    from safetynet.contract import SOURCE_NAMES

    ingest = dag.get_task("ingest")
    assert set(dag.task_ids) == {
        "start",
        "ingest_divisions",
        "ingest",
        "record",
        "assess",
        "export",
        "publish",
    }
    assert "record" in dag.get_task("assess").upstream_task_ids
    assert "ingest_divisions" in ingest.upstream_task_ids
    assert {"ingest", "ingest_divisions"} <= dag.get_task("record").upstream_task_ids
    # one commit point, after everything a month produces
    assert dag.get_task("publish").upstream_task_ids == {"export"}
    assert not dag.get_task("publish").downstream_task_ids
    assert all(t.on_failure_callback for t in dag.tasks)  # a failure is recorded in the run log
    from safetynet.embedded import load_dag

    expanded = load_dag().get_task("ingest").op_kwargs_expand_input.value["source"]
    assert sorted(expanded + ["divisions"]) == sorted(SOURCE_NAMES)


def test_timetable_is_an_interval_over_the_calendar_month(dag):
    from airflow.sdk import CronDataIntervalTimetable
    from airflow.serialization.encoders import coerce_to_core_timetable

    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    core = coerce_to_core_timetable(dag.timetable)
    from safetynet.embedded import logical_date_for

    interval = core.infer_manual_data_interval(run_after=logical_date_for("2026-02"))
    assert interval.start == dt.datetime(2026, 2, 1, tzinfo=CST)
    assert interval.end == dt.datetime(2026, 3, 1, tzinfo=CST)
    from jobs.monthly import month_of

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
