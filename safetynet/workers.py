"""Worker processes for CPU-bound work inside a task (the household reports).

Workers are spawned, not forked: the task's process runs Polars' and Airflow's threads, and a fork
would copy their locks mid-use. A spawned worker re-runs the parent's `__main__` file unless told
otherwise; under Airflow's LocalExecutor that file is the `airflow` command, whose import in a
worker fails (the task process forbids database access) and broke the pool at province scale. The
workers need nothing from `__main__`, so it is hidden from them while the pool runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context


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
