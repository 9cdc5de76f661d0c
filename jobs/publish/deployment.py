"""Which scheduler publishes to a home: a deployed Airflow, once its first run has recorded so.

A home a deployed Airflow publishes to gets its reruns and backfills through that Airflow: its runs
update the Assets that the portal's refresh follows, and a tripped release gate waits there for the
data team's approval. The first task run of a deployed Airflow writes `<home>/airflow-deployment.json`
(once; later runs leave it as it is); `safetynet run` and `safetynet backfill`, which run the DAG
embedded, then refuse that home unless told to publish outside it, with the name of who releases.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from pathlib import Path

from safetynet.embedded import DAG_ID, embedded
from safetynet.lake import write_json

MARKER = "airflow-deployment.json"


def record(home: str | Path, run_id: str) -> None:
    """Called by the DAG's first task; does nothing in the embedded run or once recorded."""
    path = Path(home) / MARKER
    if embedded() or path.exists():
        return
    write_json(
        {
            "dag_id": DAG_ID,
            "first_run_id": run_id,
            "recorded_at": dt.datetime.now(dt.UTC).isoformat(),
            "host": socket.gethostname(),
            "airflow_home": os.environ.get("AIRFLOW_HOME"),
        },
        path,
    )


def read(home: Path) -> dict | None:
    path = home / MARKER
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def backfill_command(first: str, last: str) -> str:
    """The deployed Airflow's backfill of months `first` to `last` (their first days, in China
    Standard Time: the logical dates of their scheduled runs)."""
    return (
        f"airflow backfill create --dag-id {DAG_ID} --from-date {first}-01T00:00:00+08:00 "
        f"--to-date {last}-01T00:00:00+08:00"
    )


def refusal(home: Path, first: str, last: str) -> str | None:
    """Why `safetynet run|backfill` must not publish to `home` (None: it may)."""
    deployed = read(home)
    if deployed is None:
        return None
    return (
        f"{home} is published to by a deployed Airflow (its first run {deployed['first_run_id']} "
        f"recorded {home / MARKER}): rerun the months there, where they update the Assets and a "
        f"tripped release gate waits for approval: {backfill_command(first, last)} . To publish from "
        "here anyway (no Asset events, no approval step, the Airflow metadata kept outside the home), "
        "pass --outside-airflow --released-by NAME"
    )
