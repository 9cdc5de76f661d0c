"""Run the real monthly DAG in this process: Airflow with a SQLite metadata DB under `<home>/airflow`.

No scheduler or API server is started; `DAG.test()` runs the same DAG, task by task, with the
same dependency checks, XComs and retries, and records the run in the metadata DB.
"""

from __future__ import annotations

import datetime as dt
import getpass
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from safetynet.resources import folder

DAG_FILE = "safetynet_monthly.py"  # in the package data's dags/ (safetynet/resources.py)
DAG_ID = "safetynet_monthly"
TZ = ZoneInfo("Asia/Shanghai")
MARK = "SAFETYNET_EMBEDDED"


def embedded() -> bool:
    """True in the process that runs the DAG embedded (`DAG.test()` runs its tasks in this same
    process). The mark is this process's id, so an environment that merely inherits or sets the
    variable (a deployed worker started from a shell that ran `safetynet run`) is not taken for it."""
    return os.environ.get(MARK) == str(os.getpid())


def airflow_env(home: Path, airflow_home: Path | None = None) -> dict[str, str]:
    """`airflow_home`: where Airflow's SQLite metadata DB and logs go (default `<home>/airflow`; a
    home that a deployed Airflow publishes to gets none of it)."""
    af = (airflow_home or home / "airflow").resolve()
    return {
        "AIRFLOW_HOME": str(af),
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder("dags")),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{af / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR"),
        "GX_ANALYTICS_ENABLED": "False",
        MARK: str(os.getpid()),  # no deadline alert (nothing would watch it), no deployment record
    }


def prepare(home: Path, airflow_home: Path | None = None) -> None:
    """Point Airflow at `<home>/airflow` (or `airflow_home`) and create its metadata DB once."""
    env = airflow_env(home, airflow_home)
    os.environ.update(env)
    af = Path(env["AIRFLOW_HOME"])
    af.mkdir(parents=True, exist_ok=True)
    if not (af / "airflow.db").exists():
        done = subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
            env=os.environ.copy(),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{done.stderr[-2000:]}")


def logical_date_for(month: str) -> dt.datetime:
    """Airflow's manual run for a data-interval timetable covers the last whole interval before
    its logical date, so the run for month M is triggered at 00:00 on the 1st of M+1."""
    start = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=TZ)
    return (start + dt.timedelta(days=32)).replace(day=1)


def load_dag():
    spec = importlib.util.spec_from_file_location("safetynet_monthly", folder("dags") / DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.monthly_dag


def run_month(
    month: str, landing: Path, home: Path, approved_by: str | None = None, airflow_home: Path | None = None
):
    """Run the DAG for `month`; returns Airflow's DagRun. The person running it releases the
    month if its release gate trips (`approved_by`, default: the user running it)."""
    prepare(home, airflow_home)
    dag = load_dag()
    return dag.test(
        logical_date=logical_date_for(month),
        run_conf={
            "month": month,
            "landing": str(landing.resolve()),
            "home": str(home.resolve()),
            "approved_by": approved_by or f"{getpass.getuser()} (safetynet run)",
        },
    )
