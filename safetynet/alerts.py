"""Notifications to the data team: a task failed for good, a release is held, a deadline passed,
a scheduled month waits for earlier months that only a backfill will publish.

Each alert is appended to `<home>/alerts/alerts.jsonl` (one JSON object per line) and, when
`SAFETYNET_ALERT_COMMAND` is set, handed as JSON on standard input to that command: a script that
mails, posts to the team's chat robot or opens a ticket. A notification that cannot be delivered is
logged and never fails the run it reports on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shlex
import subprocess
from pathlib import Path

from safetynet.config import locations
from safetynet.settings import settings

log = logging.getLogger(__name__)


def notify(home: str | Path | None, kind: str, subject: str, body: str = "", **fields) -> dict:
    alert = {
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "kind": kind,
        "subject": subject,
        "body": body,
        **fields,
    }
    line = json.dumps(alert, ensure_ascii=False, default=str)
    log.warning("safetynet alert: %s", line)
    try:
        if home:
            folder = Path(home) / "alerts"
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / "alerts.jsonl", "a", encoding="utf-8") as out:
                out.write(line + "\n")
        command = settings().alert_command
        if command:
            subprocess.run(shlex.split(command), input=line, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        log.error("safetynet alert not delivered (%s): %s", exc, line)
    return alert


def read(home: str | Path) -> list[dict]:
    path = Path(home) / "alerts" / "alerts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


async def deadline_missed(context: dict | None = None, **kwargs) -> None:
    """Airflow's deadline alert (run in the triggerer): a month's run has not finished in time."""
    dag_run = (context or {}).get("dag_run") or {}
    if dag_run.get("run_type") not in (None, "scheduled"):
        return  # a backfilled or manual month is late by design: its deadline is the schedule's
    conf = dag_run.get("conf") or {}
    try:
        home = locations(conf.get("landing"), conf.get("home"))[1]
    except Exception:  # no home configured: the log line is the alert
        home = None
    notify(
        home,
        "deadline",
        f"safetynet: run {dag_run.get('dag_run_id')} has not published its month by its deadline",
        f"deadline {(context or {}).get('deadline', {}).get('deadline_time')}; state {dag_run.get('state')}; "
        "see v_runs (waiting_for, release_gate) and the Airflow UI",
        run_id=dag_run.get("dag_run_id"),
        month=conf.get("month") or None,
    )
