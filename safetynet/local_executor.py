"""Airflow's LocalExecutor, with the tasks' libraries imported in the scheduler before its workers fork.

A deployment on one machine names it in `AIRFLOW__CORE__EXECUTOR`
(`safetynet.local_executor.PreloadedLocalExecutor`, docs/data-team/airflow.md). The LocalExecutor
forks its workers from the scheduler when it starts (with `gc.freeze()` first, so the imported
modules' pages stay shared), and each worker's supervisor forks every task's process: what is
imported here is there at once in each task (`safetynet/preload.py`). It costs the scheduler the
libraries' memory, shared with the workers and tasks it forks (figures: docs/data-team/validation.md,
"Started once").
"""

from __future__ import annotations

from airflow.executors.local_executor import LocalExecutor

from safetynet.preload import preload


class PreloadedLocalExecutor(LocalExecutor):
    """The LocalExecutor, its workers forked after `preload()`."""

    def start(self) -> None:
        preload()
        super().start()
