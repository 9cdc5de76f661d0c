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
