"""The monthly DAG under the real services, as the data team runs it: PostgreSQL, Redis, Airflow's
api-server, scheduler, dag-processor and triggerer with the CeleryExecutor and two Celery workers
(separate processes, each with its own working folder and AIRFLOW_HOME), all on loopback. The
workers share only what a deployment shares: the lake (home) and the landing.

One session of the services covers: a manual trigger named by its month (docs/data-team/airflow.md's command), in
which the process of one prefecture's task is killed (SIGKILL, as a lost worker) and its retry
succeeds; a trigger with no month (refused at once); a release gate that trips, is held, rejected (nothing
published), then approved in a new run; a backfill created with more active runs than months
allowed, whose second month waits for the first and for its readiness marker written after the
backfill started. The months published equal those of the same jobs run in another process
(tests/direct.py), which runs beside the services.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import ROOT, safetynet
from services import airflow, postgres, redis

from jobs.publish import manifest
from safetynet import alerts, runs
from safetynet.lake import Home

pytestmark = [pytest.mark.services, pytest.mark.slow]

DAG = "safetynet_monthly"
MONTHS = ["2026-07", "2026-08", "2026-09", "2026-10"]  # whole intervals: backfills need them ended


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    """Four months of four prefectures; August's deposits are July's file sent again (the gate trips
    on it)."""
    path = tmp_path_factory.mktemp("services-landing")
    safetynet(
        "generate", "--month", MONTHS[0], "--months", "4", "--households", "500", "--seed", "6",
        "--county-households", "125", "--landing", str(path), check=True,
    )  # fmt: skip
    shutil.copyfile(path / "2026-07" / "deposits.csv", path / "2026-08" / "deposits.csv")
    return path


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> Path:
    """The rules, with the readiness marker looked for every 15 seconds (schedule.yaml is not part
    of the rule version, so builds are the same as with the shipped rules).

    Not shorter: the sensor waits in reschedule mode, each look a process of the same try, and
    Airflow 3.3.2 fails that try when the next look is queued before the executor has reported the
    previous one's process as finished ("reported that the task instance ... finished with state
    success, but the task instance's state attribute is queued"). That report took up to 6.2 s on a
    busy 2-core machine; with a look every 3 seconds, October's sensor failed three tries while it
    waited for September, and the backfill with it."""
    path = tmp_path_factory.mktemp("rules") / "rules"
    shutil.copytree(ROOT / "rules", path)
    schedule = path / "release" / "schedule.yaml"
    schedule.write_text(
        schedule.read_text(encoding="utf-8").replace("ready_poke_minutes: 10", "ready_poke_minutes: 0.25"),
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def in_process(landing, tmp_path_factory) -> Iterator[Callable[[], Path]]:
    """The same months run by the same jobs in another process (tests/direct.py), started before the
    services so that it runs while they do; calling the fixture's value waits for it and gives its
    home. The landing's readiness markers, which the test takes away and puts back, are no part of
    a delivery."""
    home = tmp_path_factory.mktemp("direct") / "home"
    log = home.parent / "direct.log"
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); from direct import run\n"
        f"for month in {MONTHS!r}: run(month, {str(landing)!r}, {str(home)!r}, f'direct-{{month}}')"
    )
    with open(log, "w") as out:
        months = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=subprocess.STDOUT)

    def done() -> Path:
        assert months.wait(timeout=900) == 0, log.read_text()[-3000:]
        return home

    yield done
    if months.poll() is None:  # the test failed before it compared
        months.kill()
        months.wait()


@pytest.fixture(scope="module", autouse=True)
def terminated_as_interrupted() -> Iterator[None]:
    """`make test` runs this test in the background, where the shell leaves an interrupt (Ctrl-C)
    ignored, and stops it with SIGTERM: taken here as an interrupt, so that the services and the
    database are stopped on the way out instead of left running."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    yield
    signal.signal(signal.SIGTERM, previous)


def finished(af, run_id: str):
    def check():
        state = af.api("GET", f"/dags/{DAG}/dagRuns/{run_id}")["state"]
        return state if state in ("success", "failed") else None

    return check


def marker_awaited(af, home: Path, run_id: str):
    """The run's entry once its sensor waits for the readiness marker; a failed run fails the test
    at once (with the services' logs) instead of being waited for."""

    def check():
        entry = run_log(home, run_id)
        if "_READY" in (entry.get("waiting_for") or ""):
            return entry
        if af.api("GET", f"/dags/{DAG}/dagRuns/{run_id}")["state"] == "failed":
            raise AssertionError(f"{run_id} failed before it waited for its marker: {entry}\n{af.tail()}")
        return None

    return check


def run_log(home: Path, run_id: str) -> dict:
    return runs.read(Home(home), run_id) or {}


def trigger(af, month: str | None) -> str:
    conf = {"month": month} if month else {}
    return af.api("POST", f"/dags/{DAG}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"]


def answer(af, run_id: str, option: str) -> None:
    af.api(
        "PATCH",
        f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails",
        {"chosen_options": [option]},
    )


def test_the_dag_under_the_real_services(landing, rules, in_process, tmp_path):
    home = tmp_path / "home"
    env = {
        "SAFETYNET_LANDING": str(landing),
        "SAFETYNET_HOME": str(home),
        "SAFETYNET_RULES": str(rules),
        "SAFETYNET_RETRY_DELAY": "1",
        # the first prefecture's task to reach its leads is killed, once
        "SAFETYNET_FAULT": "assess:leads:kill",
        "SAFETYNET_FAULT_ONCE": str(tmp_path / "killed"),
    }
    (landing / "2026-10" / "_READY").unlink()  # the data team has not finished October yet
    with postgres() as database, redis() as broker, airflow(database, tmp_path, env, broker) as af:
        # 1. the production page's manual trigger (docs/data-team/airflow.md) names its month; a trigger without one is refused at once
        af.cli("dags", "trigger", DAG, "--conf", json.dumps({"month": "2026-07"}))
        nameless = trigger(af, None)
        july = next(r["dag_run_id"] for r in af.runs(DAG) if r["conf"].get("month") == "2026-07")
        assert af.wait_for("July", finished(af, july)) == "success"
        # one task per prefecture; the one killed was retried, and the month went on
        assert (tmp_path / "killed").exists()
        mapped = af.api("GET", f"/dags/{DAG}/dagRuns/{july}/taskInstances/assess_area/listMapped")
        tries = sorted((t["try_number"], t["state"]) for t in mapped["task_instances"])
        assert tries == [(1, "success")] * 3 + [(2, "success")], tries
        assert af.wait_for("the run with no month", finished(af, nameless)) == "failed"
        refused = af.api("GET", f"/dags/{DAG}/dagRuns/{nameless}/taskInstances/wait")
        assert refused["state"] == "failed" and refused["try_number"] == 1  # bad input: no retries
        assert "names its month" in run_log(home, nameless)["error"]

        # 2. August trips the gate: held, nothing published; rejected; then approved
        for option in ("Reject", "Approve"):
            before = Home(home).commit
            august = trigger(af, "2026-08")
            af.wait_for("the release to be held", lambda r=august: run_log(home, r).get("status") == "held")
            held = run_log(home, august)
            assert any("deposits" in m and "byte-identical" in m for m in held["release_gate"])
            af.wait_for(
                "the approval step",
                lambda r=august: (
                    af.api("GET", f"/dags/{DAG}/dagRuns/{r}/taskInstances/approve")["state"]
                    in ("awaiting_input", "deferred")
                ),
            )
            assert Home(home).commit == before and "2026-08" not in Home(home).catalog
            assert not (home / "exports" / "2026-08").exists()  # no township has its files
            # Airflow 3.3.2 fails a task resumed before the executor has reported its parked
            # process as finished (measured here): answer once the scheduler has heard it.
            af.wait_for("the approval task's parked process", lambda r=august: af.parked(DAG, r, "approve"))
            answer(af, august, option)
            state = af.wait_for(f"August after {option}", finished(af, august))
            if option == "Reject":
                assert state == "failed"
                assert run_log(home, august)["status"] == "rejected"
                assert Home(home).commit == before and "2026-08" not in Home(home).catalog
            else:
                assert state == "success"
                assert run_log(home, august)["approved_by"]
                assert "2026-08" in Home(home).catalog

        # 3. the production page's backfill: one month after another, October waiting for its marker too
        af.cli(
            "backfill", "create", "--dag-id", DAG, "--from-date", "2026-09-01T00:00:00+08:00",
            "--to-date", "2026-10-01T00:00:00+08:00", "--max-active-runs", "2",
        )  # fmt: skip
        backfill = [r for r in af.runs(DAG) if r["run_type"] == "backfill"]
        assert len(backfill) == 2
        october = next(r["dag_run_id"] for r in backfill if r["logical_date"].startswith("2026-09-30T16"))
        september = next(r["dag_run_id"] for r in backfill if r["dag_run_id"] != october)
        waits = af.wait_for("October to wait for its readiness marker", marker_awaited(af, home, october))
        assert "2026-09" in Home(home).catalog  # it waited for September first
        (landing / "2026-10" / "_READY").touch()
        assert af.wait_for("October", finished(af, october)) == "success", waits
        assert af.wait_for("September", finished(af, september)) == "success"
        catalog = Home(home).catalog
        assert catalog["2026-10"]["previous"] == catalog["2026-09"]["build"]
        assert run_log(home, september)["commit"] < run_log(home, october)["commit"]

        # the published month is an Asset event, for DAGs that follow it (the portal's refresh)
        events = af.api("GET", "/assets/events?limit=100")["asset_events"]
        assert {e["extra"].get("month") for e in events} >= set(MONTHS)

    # both Celery workers ran tasks: each keeps the logs of the tasks it ran on its own disk
    for n in (1, 2):
        ran = {p.parent.name for p in (tmp_path / f"worker-{n}" / "airflow" / "logs").rglob("attempt=*.log")}
        assert ran, f"worker {n} ran no task"

    # failures reached the data team
    kinds = [(a["kind"], a.get("task")) for a in alerts.read(home)]
    assert ("failure", "wait") in kinds and ("failure", "approve") in kinds

    # the same months as the same jobs run in another process, byte for byte
    other = in_process()
    for month in MONTHS:
        mine, theirs = Home(home).build_dir(month), Home(other).build_dir(month)
        assert mine.name == theirs.name, month
        assert manifest.same(mine / "manifest.json", theirs / "manifest.json"), month
