"""Worker processes started from a process whose `__main__` must not run again (Airflow's worker)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

MAIN = """
import sys
if __name__ == "__mp_main__":  # what the `airflow` command does in a worker: fail on import
    raise SystemExit("the parent's __main__ file was run again in a worker")
sys.path.insert(0, {root!r})
from safetynet.workers import pool

if __name__ == "__main__":
    with pool(2) as executor:
        print(sum(executor.map(abs, range(-100, 0))))
    print(__file__ == sys.argv[0])  # given back afterwards
"""


def test_workers_do_not_rerun_the_parents_main_file(tmp_path):
    script = tmp_path / "airflow_like.py"
    script.write_text(MAIN.format(root=str(ROOT)), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["5050", "True"]


def test_a_task_gets_its_slots_never_more_than_its_cgroup_allows(tmp_path, monkeypatch):
    """Processes come from the setting or the task's pool slots, capped by the CPUs the process may
    use (its affinity and its cgroup quota: a pod's limit, not the node's cores)."""
    import os

    from safetynet.workers import allotted, usable_cpus

    monkeypatch.delenv("SAFETYNET_WORKERS", raising=False)
    cpus = len(os.sched_getaffinity(0))
    quota = tmp_path / "cpu.max"
    quota.write_text("50000 100000\n")  # half a CPU
    assert usable_cpus(quota) == 1 and allotted(8, quota) == 1
    quota.write_text("max 100000\n")
    assert usable_cpus(quota) == cpus and allotted(1, quota) == 1 and allotted(64, quota) == cpus
    assert allotted(None, tmp_path / "no-cgroup") == cpus
    monkeypatch.setenv("SAFETYNET_WORKERS", "3")
    assert allotted(1, quota) == 3  # the data team's setting wins


def test_the_means_tests_duckdb_runs_on_the_cpus_the_task_may_use(tmp_path, monkeypatch):
    """DuckDB's default is the machine's core count; a task in a pod limited to one CPU (or pinned
    to one) must run it on one thread, and SAFETYNET_DUCKDB_THREADS still wins."""
    from jobs.means_test import checks as means_test
    from safetynet import workers
    from safetynet.lake import Home
    from safetynet.rules import load_rules

    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("100000 100000\n")  # one CPU's worth of quota
    monkeypatch.setattr(workers, "CGROUP_CPU_MAX", cpu_max)
    monkeypatch.setattr(workers.usable_cpus, "__defaults__", (cpu_max,))
    monkeypatch.delenv("SAFETYNET_DUCKDB_THREADS", raising=False)

    def setting() -> int:
        con = means_test.connect(Home(tmp_path / "home"), "2026-09", load_rules(), models=False)
        try:
            return con.execute("select current_setting('threads')").fetchone()[0]
        finally:
            con.close()

    assert setting() == 1
    monkeypatch.setenv("SAFETYNET_DUCKDB_THREADS", "3")
    assert setting() == 3
