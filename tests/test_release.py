"""The right month, in order, waited for, gated before release: the job functions the DAG's
`wait`, `gate` and `approve` call, here in this process (the real services: test_services.py)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import ROOT, safetynet
from direct import run

from jobs.ingest.deliveries import decode_csv
from jobs.month import run as monthly
from jobs.publish import release
from safetynet import alerts, runs
from safetynet.errors import LandingError, RulesError
from safetynet.lake import Home
from safetynet.rules import load_rules, load_schedule
from safetynet.versions import NOT_RULES, content_hash, rule_version

pytestmark = pytest.mark.slow

CST = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def august(landing, tmp_path_factory) -> Path:
    """A home with August published."""
    home = tmp_path_factory.mktemp("release") / "home"
    run("2026-08", str(landing), str(home), "aug")
    return home


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


# --- the right month ---------------------------------------------------------------------------


def test_the_month_param_wins_over_the_interval():
    # Airflow 3.3 gives a manual trigger the interval of the trigger time: never the month asked for
    assert monthly.run_month("2026-09", "manual", dt.datetime(2026, 11, 1, tzinfo=CST)) == "2026-09"
    assert monthly.run_month("2026-09", "backfill", dt.datetime(2026, 11, 1, tzinfo=CST)) == "2026-09"


def test_scheduled_and_backfill_runs_take_the_interval_in_china_standard_time():
    # 00:00 on 1 August in Beijing is still 31 July in UTC
    start = dt.datetime(2026, 7, 31, 16, 0, tzinfo=dt.UTC)
    assert monthly.run_month("", "scheduled", start) == "2026-08"
    assert monthly.run_month(None, "backfill", start) == "2026-08"
    # what a task's context gives: the Task SDK's enums, whose str() is not their value
    from airflow.sdk.api.datamodels._generated import DagRunState, DagRunType

    assert str(DagRunType.BACKFILL) != "backfill"
    assert monthly.run_month("", DagRunType.BACKFILL, start) == "2026-08"
    assert monthly.run_month("", DagRunType.SCHEDULED, start) == "2026-08"
    with pytest.raises(LandingError, match="a manual run names its month"):
        monthly.run_month("", DagRunType.MANUAL, start)
    assert monthly.value(DagRunState.RUNNING) == "running"  # how `wait` reads another run's state


@pytest.mark.parametrize("asked", ["", None])
def test_a_manual_run_without_a_month_is_refused_naming_the_param(asked):
    with pytest.raises(LandingError, match=r"names its month.*--conf"):
        monthly.run_month(asked, "manual", dt.datetime(2026, 10, 1, tzinfo=CST))
    with pytest.raises(LandingError, match="names its month"):
        monthly.run_month(asked, "scheduled", None)  # no interval either


def test_a_month_not_in_yyyy_mm_form_is_refused():
    with pytest.raises(LandingError, match="'2026-13' is not in YYYY-MM form"):
        monthly.run_month("2026-13", "manual", None)


# --- in order ----------------------------------------------------------------------------------


def never(_run_id: str) -> bool:
    return False


def test_the_first_month_of_an_empty_home_runs(tmp_path):
    assert monthly.turn(Home(tmp_path), "2026-10", "r", never) is None


def test_the_next_month_runs_after_the_previous_is_published(august):
    assert monthly.turn(Home(august), "2026-09", "r", never) is None


def test_a_gap_is_refused_naming_the_missing_month(august):
    with pytest.raises(monthly.OrderError) as refused:
        monthly.turn(Home(august), "2026-10", "r", never)
    message = str(refused.value)
    assert "2026-10 cannot run: 2026-09 is not published" in message
    assert "last published before it: 2026-08" in message
    assert "safetynet backfill --from 2026-09 --to 2026-10" in message


def test_a_scheduled_run_after_a_gap_waits_for_the_earlier_months(august, tmp_path):
    """Unpausing the DAG on a home whose September is not published makes October's scheduled run:
    it waits (within the readiness timeout) for September, naming the backfill that fills it, and
    the data team is told once; a manual or backfill run with the same gap is refused at once."""
    home = copy(august, tmp_path / "home")
    waits = monthly.turn(Home(home), "2026-10", "scheduled__oct", never, scheduled=True)
    assert waits.startswith("2026-09 to be published")
    assert (
        "airflow backfill create --dag-id safetynet_monthly --from-date 2026-09-01T00:00:00+08:00 "
        "--to-date 2026-09-01T00:00:00+08:00" in waits
    )
    for _ in range(2):  # the sensor pokes again and again
        monthly.note_waiting(str(home), "scheduled__oct", "2026-10", waits)
    entry = runs.read(Home(home), "scheduled__oct")
    assert entry["status"] == "waiting" and entry["waiting_for"] == waits
    told = [a for a in alerts.read(home) if a["kind"] == "waiting"]
    assert len(told) == 1 and "airflow backfill create" in told[0]["body"]
    with pytest.raises(monthly.OrderError, match="2026-10 cannot run: 2026-09 is not published"):
        monthly.turn(Home(home), "2026-10", "manual__oct", never)
    # once September is published (by the backfill), October's turn has come
    assert monthly.turn(Home(august), "2026-09", "backfill__sep", never, scheduled=False) is None


class _Airflow:
    """What `wait` asks Airflow through its task instance: no other run of the DAG is active."""

    def get_dagrun_state(self, dag_id, run_id):
        return "success"

    def get_dr_count(self, dag_id, logical_dates, states):
        return 0


def test_the_dags_wait_keeps_a_scheduled_run_after_a_gap_waiting(august, landing, tmp_path):
    from types import SimpleNamespace

    from airflow.sdk.api.datamodels._generated import DagRunType

    from safetynet.embedded import load_dag

    home = copy(august, tmp_path / "home")
    poke = load_dag().get_task("wait").python_callable
    params = {"month": "", "landing": str(landing), "home": str(home), "wait_for_ready": False}
    october = dt.datetime(2026, 10, 1, tzinfo=CST)
    scheduled = SimpleNamespace(run_type=DagRunType.SCHEDULED)
    done = poke(params, scheduled, october, "scheduled__oct", _Airflow())
    assert done.is_done is False
    assert "airflow backfill create" in runs.read(Home(home), "scheduled__oct")["waiting_for"]
    manual = SimpleNamespace(run_type=DagRunType.MANUAL)
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="2026-09 is not published"):
        poke({**params, "month": "2026-10"}, manual, october, "manual__oct", _Airflow())


def test_a_month_waits_while_the_previous_months_run_is_under_way(tmp_path):
    """A backfill starts its months at once: the second waits, even on an empty home."""
    home = Home(tmp_path)
    assert monthly.turn(home, "2026-09", "sep", never, previous_active=True) == (
        "2026-08 to be published (its run is under way)"
    )
    runs.waiting(home, "aug", "2026-08", "the readiness marker x/_READY")
    assert "2026-08 to be published" in monthly.turn(home, "2026-09", "sep", lambda r: r == "aug")
    # the run of August ended without publishing it (killed, failed): September is a gap now
    runs.failed(home, "aug", "start", "boom")
    with pytest.raises(monthly.OrderError, match="run aug of 2026-08 did not publish it"):
        monthly.turn(home, "2026-09", "sep", never)


def test_a_backfill_run_backwards_is_refused_not_left_waiting(tmp_path):
    with pytest.raises(monthly.OrderError, match="queued behind it.*--run-backwards"):
        monthly.turn(Home(tmp_path), "2026-09", "sep", never, previous_queued=True)


def test_two_runs_of_a_month_go_one_after_the_other(august):
    home = Home(august)
    runs.update(home, "other", month="2026-09", status="running")
    try:
        assert "run other of 2026-09 to finish" in monthly.turn(
            home, "2026-09", "mine", lambda r: r == "other"
        )
        assert monthly.turn(home, "2026-09", "mine", never) is None  # a dead run holds nothing
    finally:
        home.run_log("other").unlink()


def test_the_cli_refuses_a_gap_before_anything_runs(august, landing, tmp_path):
    home = copy(august, tmp_path / "home")
    october = shutil.copytree(landing / "2026-09", tmp_path / "landing" / "2026-10")
    before = sorted(p.name for p in (home / "commits").iterdir())
    done = safetynet("run", "--month", "2026-10", "--landing", str(october.parent), "--home", str(home))
    assert done.returncode == 2
    assert "2026-10 cannot run: 2026-09 is not published" in done.stderr
    assert sorted(p.name for p in (home / "commits").iterdir()) == before


# --- waited for --------------------------------------------------------------------------------


def test_the_readiness_marker_is_looked_for_and_not_a_delivery(landing, tmp_path):
    month = tmp_path / "landing" / "2026-08"
    shutil.copytree(landing / "2026-08", month)
    assert monthly.ready(month.parent, "2026-08") is None
    (month / "_READY").unlink()
    assert monthly.ready(month.parent, "2026-08") == month / "_READY"
    (month / "_READY").touch()
    from jobs.ingest.deliveries import find_deliveries

    _, unknown = find_deliveries(month)
    assert "_READY" not in [p.name for p in unknown]


def test_generate_writes_the_marker_last_or_not_at_all(tmp_path):
    safetynet(
        "generate", "--month", "2026-08", "--households", "50", "--landing", str(tmp_path / "a"), check=True
    )
    safetynet(
        "generate", "--month", "2026-08", "--households", "50", "--landing", str(tmp_path / "b"), "--no-ready",
        check=True,
    )  # fmt: skip
    files = sorted((tmp_path / "a" / "2026-08").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    assert files[-1].name == "_READY"
    assert not (tmp_path / "b" / "2026-08" / "_READY").exists()


# --- the release gate --------------------------------------------------------------------------


def held_september(august: Path, landing: Path, tmp_path: Path, change) -> tuple[Path, dict]:
    """September built on August with `change` applied to its deliveries, gated without approval."""
    home = copy(august, tmp_path / "home")
    changed = tmp_path / "landing"
    shutil.copytree(landing / "2026-09", changed / "2026-09")
    change(changed / "2026-09")
    result = run("2026-09", str(changed), str(home), "sep", approved_by="")
    return home, result


def test_a_delivery_sent_again_holds_the_release(august, landing, tmp_path):
    def resend(month: Path):
        shutil.copyfile(landing / "2026-08" / "deposits.csv", month / "deposits.csv")

    home, result = held_september(august, landing, tmp_path, resend)
    assert result["status"] == "held"
    entry = runs.read(Home(home), "sep")
    assert entry["status"] == "held" and entry["approved_by"] is None
    assert any("deposits (金融资产)" in m and "byte-identical to 2026-08" in m for m in entry["release_gate"])
    # held: nothing published, the townships see August only
    assert "2026-09" not in Home(home).catalog and not (home / "exports" / "2026-09").exists()
    checks = json.loads(
        (home / "staging" / "sep").glob("month=*/build=*/release.json").__next__().read_text()
    )
    assert [c for c in checks["checks"] if c["tripped"]]
    # the data team was told
    assert [a for a in alerts.read(home) if a["kind"] == "held"]


def test_a_roster_that_shrank_sharply_holds_the_release(august, landing, tmp_path):
    def shrink(month: Path):
        """Half the roster's lines, as a department whose extract stopped halfway would send."""
        path = month / "roster.csv"
        text, _ = decode_csv(path, path.read_bytes())
        lines = text.decode("utf-8").splitlines()
        path.write_text("\n".join(lines[: len(lines) // 2]) + "\n", encoding="utf-8")

    home, result = held_september(august, landing, tmp_path, shrink)
    tripped = runs.read(Home(home), "sep")["release_gate"]
    assert any(m.startswith("roster (监测对象名册): households fell from") for m in tripped)
    assert any(m.startswith("roster (监测对象名册): rows fell from") for m in tripped)


@pytest.mark.parametrize(
    ("now", "before", "digits", "said"),
    [
        (400, 1_000, 0, "fell from 1,000 to 400 (\u221260%)"),
        (1_200, 1_000, 0, "rose from 1,000 to 1,200 (+20%)"),
        (9_000, 10_000, 1, "fell from 10,000 to 9,000 (\u221210.0%)"),
        (0, 5_000, 0, "fell from 5,000 to 0 (\u2212100%)"),
        (300, 0, 0, "rose from 0 to 300"),
        (700, 700, 0, "unchanged at 700"),
        (150, 100.5, 0, "rose from 100 to 150 (+49%)"),  # a median between two months
    ],
)
def test_the_gate_message_says_from_what_to_what(now, before, digits, said):
    """The data team reads "fell from N to M (−x%)": the share of the count before, with a minus sign."""
    assert release._moved(now, before, digits) == said


@pytest.mark.parametrize(
    ("now", "before", "tripped", "message"),
    [
        (
            400,
            1_000,
            True,
            "medical_claims (医保结算): rows fell from 1,000 to 400 (\u221260%) since 2026-08 "
            "(limit 100% either way: 500 to 2,000)",
        ),
        (
            1_900,
            1_000,
            False,
            "medical_claims (医保结算): rows rose from 1,000 to 1,900 (+90%) since 2026-08 "
            "(limit 100% either way: 500 to 2,000)",
        ),
    ],
)
def test_a_sources_rows_message_names_both_counts_and_the_band(now, before, tripped, message):
    from types import SimpleNamespace

    gate = SimpleNamespace(rows_change={"event": 1.0}, rows_min=100)
    a, b = ({"status": "delivered", "rows_delivered": n} for n in (now, before))
    check = release._rows_check("medical_claims", a, b, ("2026-09", "2026-08"), gate)
    assert (check["tripped"], check["message"]) == (tripped, message)


def test_a_fall_is_as_far_off_as_a_rise():
    """An event source falling from 10,000 rows to 100 trips the same limit a tenfold rise does."""
    assert release._change(100, 10_000) == release._change(10_000, 100) == 99
    assert release._change(150, 100) == release._change(100, 150) == 0.5
    assert release._change(0, 100) == float("inf")


def test_an_ordinary_month_is_released_at_once(august, landing, tmp_path):
    home, result = held_september(august, landing, tmp_path, lambda month: None)
    assert result["status"] in ("success", "incomplete")
    entry = runs.read(Home(home), "sep")
    assert not entry["release_gate"]
    checks = json.loads((Home(home).build_dir("2026-09") / "release.json").read_text())["checks"]
    assert {c["check"] for c in checks} >= {"rows", "roster", "leads", "doubtful"}


def test_the_person_running_it_releases_a_tripped_month(august, landing, tmp_path):
    home = copy(august, tmp_path / "home")
    changed = tmp_path / "landing"
    shutil.copytree(landing / "2026-09", changed / "2026-09")
    shutil.copyfile(landing / "2026-08" / "deposits.csv", changed / "2026-09" / "deposits.csv")
    result = run("2026-09", str(changed), str(home), "sep", approved_by="wang (safetynet run)")
    assert result["status"] in ("success", "incomplete")
    entry = runs.read(Home(home), "sep")
    assert entry["release_gate"] and entry["approved_by"] == "wang (safetynet run)"


def test_a_rejected_release_publishes_nothing_and_says_who(august, landing, tmp_path):
    def resend(month: Path):
        shutil.copyfile(landing / "2026-08" / "deposits.csv", month / "deposits.csv")

    home, _ = held_september(august, landing, tmp_path, resend)
    commit = Home(home).commit
    release.decided(str(home), "sep", approved=False, by="li")
    runs.failed(Home(home), "sep", "approve", "HITLRejectException")  # the task's failure hook
    entry = runs.read(Home(home), "sep")
    assert entry["status"] == "rejected" and "rejected by li" in entry["error"]
    assert Home(home).commit == commit


class _GateResult:
    """The task instance `approve` pulls the gate's result from."""

    def __init__(self, gated: dict):
        self.gated = gated

    def xcom_pull(self, task_ids: str) -> dict:
        assert task_ids == "gate"
        return self.gated


def test_approve_cleared_after_a_reject_is_held_again_and_alerts(august, landing, tmp_path, monkeypatch):
    """Reject, then clear `approve`: Airflow asks for approval again, so the run log says `held`
    again (not `rejected`) and the data team is alerted again."""
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    from safetynet.embedded import load_dag

    def resend(month: Path):
        shutil.copyfile(landing / "2026-08" / "deposits.csv", month / "deposits.csv")

    home, _ = held_september(august, landing, tmp_path, resend)
    release.decided(str(home), "sep", approved=False, by="li")
    runs.failed(Home(home), "sep", "approve", "HITLRejectException")
    assert runs.read(Home(home), "sep")["status"] == "rejected"
    tripped = runs.read(Home(home), "sep")["release_gate"]
    asked = []  # Airflow's own request for a human answer, which needs its API server
    monkeypatch.setattr(ApprovalOperator, "execute", lambda self, context: asked.append(context["run_id"]))
    approve = load_dag().get_task("approve")
    context = {
        "ti": _GateResult({"month": "2026-09", "held": True, "tripped": tripped, "text": ""}),
        "params": {"landing": str(landing), "home": str(home)},
        "run_id": "sep",
    }
    approve.execute(context)
    assert asked == ["sep"]
    entry = runs.read(Home(home), "sep")
    assert entry["status"] == "held" and entry["error"] is None and entry["release_gate"] == tripped
    assert len([a for a in alerts.read(home) if a["kind"] == "held"]) == 2
    approve.execute(context)  # asked once more while held: no second alert
    assert len([a for a in alerts.read(home) if a["kind"] == "held"]) == 2


# --- thresholds in rules/ ----------------------------------------------------------------------


def test_gate_thresholds_are_rules_and_the_schedule_is_not_part_of_the_rule_version(tmp_path):
    rules = copy(ROOT / "rules", tmp_path / "rules")
    version = content_hash(rules, "*.yaml", exclude=NOT_RULES)
    assert version == rule_version()
    schedule = rules / "release" / "schedule.yaml"
    schedule.write_text(
        schedule.read_text(encoding="utf-8").replace("ready_poke_minutes: 10", "ready_poke_minutes: 1")
    )
    assert load_schedule(rules).ready_poke_minutes == 1
    assert content_hash(rules, "*.yaml", exclude=NOT_RULES) == version  # when to run changes no result
    gate = rules / "release" / "gate.yaml"
    gate.write_text(gate.read_text(encoding="utf-8").replace("count_ratio: 2.0", "count_ratio: 3.0"))
    assert content_hash(rules, "*.yaml", exclude=NOT_RULES) != version  # what to hold is a rule
    assert load_rules(rules).release_gate.count_ratio == 3.0
    gate.write_text(gate.read_text(encoding="utf-8").replace("count_ratio: 3.0", "count_ratio: 0.5"))
    with pytest.raises(RulesError, match=r"release/gate.yaml: key 'count_ratio': must be above 1"):
        load_rules(rules)
    schedule.write_text(
        schedule.read_text(encoding="utf-8").replace("ready_timeout_hours", "ready_timeout_hour")
    )
    with pytest.raises(RulesError, match="ready_timeout_hour"):
        load_schedule(rules)


# --- timeouts, bad landings and alerts through the embedded DAG ---------------------------------

EMBEDDED = """
import json, sys
from pathlib import Path
from safetynet.embedded import load_dag, logical_date_for, prepare
month, landing, home = sys.argv[1:4]
prepare(Path(home))
run = load_dag().test(
    logical_date=logical_date_for(month),
    run_conf={"month": month, "landing": landing, "home": home, "wait_for_ready": True},
)
print(json.dumps({"state": str(run.state), "tries": {t.task_id: t.try_number for t in run.get_task_instances()}}))
"""


def embedded(month: str, landing: Path, home: Path, rules: Path) -> dict:
    import os
    import subprocess
    import sys

    env = {**os.environ, "SAFETYNET_RULES": str(rules), "SAFETYNET_RETRY_DELAY": "0"}
    done = subprocess.run(
        [sys.executable, "-c", EMBEDDED, month, str(landing), str(home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_readiness_marker_that_never_comes_times_out_clearly_and_an_empty_month_fails_at_once(
    august, landing, tmp_path
):
    rules = copy(ROOT / "rules", tmp_path / "rules")
    schedule = rules / "release" / "schedule.yaml"
    text = schedule.read_text(encoding="utf-8")
    text = text.replace("ready_poke_minutes: 10", "ready_poke_minutes: 0.02")
    text = text.replace("ready_timeout_hours: 240", "ready_timeout_hours: 0.002")
    schedule.write_text(text, encoding="utf-8")
    home = copy(august, tmp_path / "home")
    commit = Home(home).commit
    late = tmp_path / "landing"
    shutil.copytree(landing / "2026-09", late / "2026-09")
    (late / "2026-09" / "_READY").unlink()

    result = embedded("2026-09", late, home, rules)
    assert result["state"] == "failed"
    entry = [e for e in runs.entries(Home(home)) if e.get("month") == "2026-09"][-1]
    assert entry["status"] == "failed" and entry["failed_task"] == "wait"
    assert f"timed out waiting for the readiness marker {late / '2026-09' / '_READY'}" in entry["error"]
    assert Home(home).commit == commit  # the previous published state, whole
    assert any(a["kind"] == "failure" and a["task"] == "wait" for a in alerts.read(home))

    # a month folder with the marker but no delivery at all: refused at `start`, not retried
    for path in (late / "2026-09").iterdir():
        path.unlink()
    (late / "2026-09" / "_READY").touch()
    result = embedded("2026-09", late, home, rules)
    assert result["state"] == "failed" and result["tries"]["start"] == 1
    entry = [e for e in runs.entries(Home(home)) if e.get("month") == "2026-09"][-1]
    assert entry["failed_task"] == "start" and "no deliveries for 2026-09" in entry["error"]
    assert Home(home).commit == commit


def test_run_log_states_move_on_after_a_failure(tmp_path):
    home = Home(tmp_path)
    runs.waiting(home, "r", "2026-09", "the readiness marker a/_READY")
    runs.failed(home, "r", "wait", "timed out")
    runs.waiting(home, "r", "2026-09", "the readiness marker a/_READY")  # the wait was cleared
    entry = runs.read(home, "r")
    assert entry["status"] == "waiting" and entry["error"] is None and entry["failed_task"] is None
    release.decided(str(tmp_path), "r", approved=False, by="li")
    runs.failed(home, "r", "approve", "HITLRejectException")  # the rejection's own failure
    assert runs.read(home, "r")["status"] == "rejected"
    runs.failed(home, "r", "publish", "disk full")  # a later failure of the same run is one
    assert runs.read(home, "r")["status"] == "failed"


def test_the_deadline_alert_reaches_the_data_team(tmp_path):
    import asyncio

    context = {
        "dag_run": {
            "dag_run_id": "scheduled__x",
            "state": "running",
            "conf": {"home": str(tmp_path), "landing": "l"},
        },
        "deadline": {"deadline_time": "2026-11-10T00:00:00Z"},
    }
    asyncio.run(alerts.deadline_missed(context=context))
    backfilled = {**context, "dag_run": {**context["dag_run"], "run_type": "backfill", "dag_run_id": "b"}}
    asyncio.run(alerts.deadline_missed(context=backfilled))  # late by design: no alert
    (alert,) = alerts.read(tmp_path)
    assert alert["kind"] == "deadline" and alert["run_id"] == "scheduled__x"
    assert "has not published its month by its deadline" in alert["subject"]
