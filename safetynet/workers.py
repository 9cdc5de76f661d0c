"""Worker processes for CPU-bound work inside a task (the household reports).

How many: `allotted(slots)`. A task is given its processes by the deployment, never by the machine's
core count (which on a Celery worker running several tasks, or in a Kubernetes pod, is the node's):
`SAFETYNET_WORKERS` if set, else the task's pool slots (the DAG gives `export` its slots and passes
them), never more than the CPUs this process may use (its CPU affinity and its cgroup's CPU quota, a
pod's limit).

Workers are spawned, not forked: the task's process runs Polars' and Airflow's threads, and a fork
would copy their locks mid-use. A spawned worker re-runs the parent's `__main__` file unless told
otherwise; under Airflow's LocalExecutor that file is the `airflow` command, whose import in a
worker fails (the task process forbids database access) and broke the pool at province scale. The
workers need nothing from `__main__`, so it is hidden from them while the pool runs.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path

from safetynet.settings import settings

# The export task's pool slots, and so the processes it draws documents with: a deployment setting
# (SAFETYNET_EXPORT_SLOTS), read when this module is imported.
EXPORT_SLOTS = settings().export_slots
# Rows an ingest task reads, checks and places at a time, so its memory follows this setting and not
# the size of a delivery: a deployment setting (SAFETYNET_BATCH_ROWS), read when imported.
BATCH_ROWS = settings().batch_rows
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs this process may run on: its affinity, capped by its cgroup's CPU quota."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return cpus
    if quota == "max":
        return cpus
    return max(1, min(cpus, math.ceil(int(quota) / int(period))))


def allotted(slots: int | None = None, cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """Processes a task runs: SAFETYNET_WORKERS, else its pool `slots` (else the CPUs it may use),
    never more than the CPUs it may use."""
    setting = settings().workers
    if setting is not None:
        return max(1, setting)
    usable = usable_cpus(cpu_max)
    return max(1, min(slots or usable, usable))


def threads() -> int:
    """Threads a task's DuckDB runs: SAFETYNET_DUCKDB_THREADS if set, else the CPUs this process may
    use. DuckDB's own default is the machine's core count, which in a pod or beside other tasks on a
    Celery worker is the node's. (Polars sizes its pool by Rust's `available_parallelism`, which
    already honours the affinity and the cgroup's quota.)"""
    setting = settings().duckdb_threads
    return max(1, setting) if setting is not None else usable_cpus()


@contextmanager
def pool(
    workers: int, initializer: Callable | None = None, initargs: tuple = ()
) -> Iterator[ProcessPoolExecutor]:
    main = sys.modules["__main__"]
    path = main.__dict__.pop("__file__", None)
    try:
        with ProcessPoolExecutor(workers, get_context("spawn"), initializer, initargs) as executor:
            yield executor
    finally:
        if path is not None:
            main.__file__ = path
