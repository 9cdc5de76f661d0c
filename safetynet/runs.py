"""The run log, `lake/_runs/<run id>.json`: the only place Airflow's run id and clock times are kept.

One file per run, rewritten as the run moves on: `waiting` (for the previous month or the readiness
marker, `waiting_for` says which), `running` from `start`, `held` when the release gate tripped and
waits for the data team, then `success` or `incomplete` when `publish` has committed its build,
`rejected` when the data team refused the release, or `failed` (with the task and the error) when a
task fails for good. Auditors read it as `v_runs`. A run killed outright stays `running` with no finish time
until it is retried or another run of the month replaces it.
"""

from __future__ import annotations

import datetime as dt
import json

from safetynet.lake import Home, write_json

FIELDS = (
    "run_id month build previous seen started_at finished_at status error failed_task attempts commit "
    "replaced rule_version suite_version code_version files rows_delivered accepted quarantined "
    "sources_not_delivered sources_unusable errors unknown_files waiting_for release_gate approved_by"
).split()


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def read(home: Home, run_id: str) -> dict | None:
    path = home.run_log(run_id)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def entries(home: Home) -> list[dict]:
    """Every run of the run log, in the order they started."""
    found = [json.loads(p.read_text(encoding="utf-8")) for p in (home.lake / "_runs").glob("*.json")]
    # a run refused before it started has only its finish time
    return sorted(found, key=lambda e: (e.get("started_at") or e.get("finished_at") or "", e["run_id"]))


def waiting(home: Home, run_id: str, month: str, waiting_for: str) -> bool:
    """A run that has not started its month yet says what it waits for; True when that is new."""
    entry = read(home, run_id) or {}
    status = entry.get("status")
    if status not in (None, "waiting", "failed") or (
        status == "waiting" and entry["waiting_for"] == waiting_for
    ):
        return False
    update(
        home,
        run_id,
        month=month,
        status="waiting",
        waiting_for=waiting_for,
        started_at=entry.get("started_at") if status == "waiting" else now(),
        finished_at=None,
        error=None,
        failed_task=None,
    )
    return True


def update(home: Home, run_id: str, **fields) -> dict:
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise KeyError(f"run log has no field {sorted(unknown)}")
    entry = read(home, run_id) or dict.fromkeys(FIELDS)
    entry.update(run_id=run_id, **fields)
    write_json(entry, home.run_log(run_id))
    return entry


def started(home: Home, run_id: str, month: str, build: dict, seen: str | None) -> dict:
    """`seen`: the month's published build when the run started; publish refuses to replace any
    other (another run published the month meanwhile)."""
    entry = read(home, run_id) or {}
    return update(
        home,
        run_id,
        month=month,
        build=build["build"],
        previous=build["previous"],
        seen=seen,
        started_at=now(),
        finished_at=None,
        status="running",
        error=None,
        failed_task=None,
        waiting_for=None,
        release_gate=None,
        approved_by=None,
        attempts=(entry.get("attempts") or 0) + 1,
        rule_version=build["rule_version"],
        suite_version=build["suite_version"],
        code_version=build["code_version"],
    )


def failed(home: Home, run_id: str, task: str, error: str, month: str | None = None) -> None:
    """Called by the DAG when a task fails for good; never overwrites a published run."""
    entry = read(home, run_id) or {}
    if entry.get("status") in ("success", "incomplete") or (
        entry.get("status") == "rejected" and task == "approve"
    ):
        return
    month = entry.get("month") or month
    update(
        home, run_id, month=month, status="failed", failed_task=task, error=error[:2000], finished_at=now()
    )
