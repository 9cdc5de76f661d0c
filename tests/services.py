"""The real services on loopback: PostgreSQL (Debian's), Redis (Debian's) as the Celery broker, then
Airflow's api-server, scheduler, dag-processor and triggerer with the CeleryExecutor and two Celery
workers, each a separate process with its own working folder and AIRFLOW_HOME (task logs stay on
the worker, served from its own port), as a data team spreads the DAG over worker machines. Without
a broker, the LocalExecutor.

Used by tests/test_services.py; also runnable by hand to look around:

    python tests/services.py LANDING HOME     (prints the API address; Ctrl-C stops everything)
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# What a deployment sets, and the values these services run with: the production page's table is
# generated from it (docs/gen.py), so the page lists what this test runs.
AIRFLOW_SETTINGS = ROOT / "docs" / "data-team" / "airflow-settings.yml"
# Without a broker: the LocalExecutor, with the tasks' libraries imported before it forks its workers.
LOCAL_EXECUTOR = "safetynet.local_executor.PreloadedLocalExecutor"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin(name: str) -> str:
    """A PostgreSQL program: on PATH, or in Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name) or next(
        iter(sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found: apt-get install postgresql (make test does)")
    return found


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throw-away PostgreSQL server on 127.0.0.1; yields its SQLAlchemy URL for Airflow."""
    # PostgreSQL refuses to run as root: then it runs as `nobody`, in a folder of its own in /tmp.
    user = "nobody" if os.geteuid() == 0 else None
    data = Path(tempfile.mkdtemp(prefix="safetynet-pg-"))
    if user:
        uid = pwd.getpwnam(user).pw_uid
        os.chown(data, uid, -1)
    port = free_port()
    run = {"user": user, "capture_output": True, "text": True, "cwd": "/tmp"}
    done = subprocess.run(
        [
            pg_bin("initdb"),
            "-D",
            str(data / "db"),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ],
        **run,
    )
    if done.returncode:
        raise RuntimeError(f"initdb failed: {done.stderr}")
    server = subprocess.Popen(
        [
            pg_bin("postgres"),
            "-D",
            str(data / "db"),
            "-p",
            str(port),
            "-k",
            str(data),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=200",
        ],
        user=user,
        cwd="/tmp",
        stdout=subprocess.DEVNULL,
        stderr=open(data / "postgres.log", "w"),  # noqa: SIM115 - closed with the process
    )
    try:
        for _ in range(100):
            ready = subprocess.run([pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)], **run)
            if ready.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"PostgreSQL did not start: {(data / 'postgres.log').read_text()}")
        created = subprocess.run(
            [pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "airflow"], **run
        )
        if created.returncode:
            raise RuntimeError(f"createdb failed: {created.stderr}")
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/airflow"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def redis() -> Iterator[str]:
    """A throw-away Redis on 127.0.0.1, nothing saved to disk; yields its URL for Celery's broker."""
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("redis-server not found: apt-get install redis-server (make test does)")
    data = Path(tempfile.mkdtemp(prefix="safetynet-redis-"))
    port = free_port()
    server = subprocess.Popen(
        [
            found,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data),
        ],
        stdout=open(data / "redis.log", "w"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"Redis did not start: {(data / 'redis.log').read_text()}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


@dataclass
class Airflow:
    """Airflow's services against a database; talks to the REST API as the data team's tools do."""

    env: dict[str, str]
    url: str
    logs: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    token: str = ""

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([str(BIN / "airflow"), *args], env=self.env, capture_output=True, text=True)
        if check and done.returncode:
            raise AssertionError(
                f"airflow {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.url}/api/v2{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read().decode()[:2000]}") from None

    def runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns?order_by=logical_date&limit=100")["dag_runs"]

    def wait_for(self, what: str, check, timeout: float = 900, every: float = 2) -> object:
        """Poll `check()` until it returns something true; fail with the services' logs otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            for p in self.processes:
                if p.poll() is not None:
                    raise AssertionError(f"an Airflow service exited ({p.args}):\n{self.tail()}")
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}:\n{self.tail()}")

    def parked(self, dag_id: str, run_id: str, task_id: str) -> bool:
        """Has the scheduler heard that the process of a deferred task exited? Airflow 3.3.2 fails a
        task resumed before that (the executor's late "success" meets a queued task); the process
        took from under 1 s to 6.3 s to exit here."""
        key = f"TaskInstanceKey(dag_id='{dag_id}', task_id='{task_id}', run_id='{run_id}'"
        log = (self.logs / "scheduler.log").read_text(errors="replace")
        return any(
            "Received executor event with state success" in line and key in line for line in log.splitlines()
        )

    def tail(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.logs.glob("*.log")))


def _settings(scopes: tuple[str, ...], **values: str) -> dict[str, str]:
    """The entries of the production page's settings (docs/data-team/airflow-settings.yml) of these
    scopes, with this test's values."""
    entries = yaml.safe_load(AIRFLOW_SETTINGS.read_text(encoding="utf-8"))
    return {e["name"]: str(e["test"]).format(**values) for e in entries if e["scope"] in scopes}


def airflow_env(
    url: str, database: str, work: Path, extra_env: dict[str, str], broker: str | None = None
) -> dict[str, str]:
    """The services' environment: every Airflow setting the production page lists (the test's own
    choices included), then `extra_env`, then the CeleryExecutor's with a `broker`."""
    values = {
        "url": url,
        "database": database,
        "broker": broker or "",
        "dags": str(ROOT / "dags"),
        "work": str(work),
        "executor": "CeleryExecutor" if broker else LOCAL_EXECUTOR,
    }
    env = {**os.environ, **_settings(("all",), **values), **extra_env}
    if broker:
        env |= _settings(("celery",), **values)
    env.pop("SAFETYNET_EMBEDDED", None)
    return env


def worker_env(folder: Path, log_port: int) -> dict[str, str]:
    """A Celery worker's own settings: its machine's AIRFLOW_HOME and log server port."""
    own = _settings(("worker",), log_port=str(log_port))
    return {"AIRFLOW_HOME": str(folder / "airflow"), **own}


@contextlib.contextmanager
def airflow(
    database: str, work: Path, extra_env: dict[str, str], broker: str | None = None, workers: int = 2
) -> Iterator[Airflow]:
    """Migrate the database, start the four services (and with a `broker`, the CeleryExecutor and
    `workers` Celery workers), and wait until the DAG is parsed."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = airflow_env(url, database, work, extra_env, broker)
    logs = work / "service-logs"
    logs.mkdir(parents=True, exist_ok=True)
    service = Airflow(env, url, logs)
    service.cli("db", "migrate")
    commands = {
        "api-server": (["api-server", "--port", str(port), "--host", "127.0.0.1"], env, work),
        "scheduler": (["scheduler"], env, work),
        "dag-processor": (["dag-processor"], env, work),
        "triggerer": (["triggerer"], env, work),
    }
    for n in range(1, workers + 1 if broker else 1):
        folder = work / f"worker-{n}"  # the worker machine's own disk: nothing the others read
        folder.mkdir(parents=True, exist_ok=True)
        own = worker_env(folder, free_port())
        commands[f"worker-{n}"] = (
            ["celery", "worker", "--celery-hostname", f"worker{n}@%h"],
            env | own,
            folder,
        )
    try:
        for name, (args, own_env, cwd) in commands.items():
            service.processes.append(
                subprocess.Popen(
                    [str(BIN / "airflow"), *args],
                    env=own_env,
                    cwd=cwd,
                    stdout=open(logs / f"{name}.log", "w"),  # noqa: SIM115 - closed with the process
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

        def token() -> str | None:
            try:
                with urllib.request.urlopen(f"{url}/auth/token", timeout=5) as response:
                    return json.loads(response.read())["access_token"]
            except (OSError, ValueError):
                return None

        service.token = service.wait_for("the api-server", token, timeout=180)
        service.wait_for(
            "the DAG to be parsed",
            lambda: any(d["dag_id"] == "safetynet_monthly" for d in service.api("GET", "/dags")["dags"]),
            timeout=180,
        )
        yield service
    finally:
        for p in service.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, 15)
        for p in service.processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)


if __name__ == "__main__":
    landing, home = sys.argv[1:3]
    with (
        postgres() as db,
        redis() as broker,
        airflow(
            db, Path(tempfile.mkdtemp()), {"SAFETYNET_LANDING": landing, "SAFETYNET_HOME": home}, broker
        ) as af,
    ):
        print(f"Airflow at {af.url} (all users are admins); Ctrl-C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
