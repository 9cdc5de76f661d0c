"""The libraries a month's tasks import, imported once by the process their task processes fork from.

Each Airflow task runs in a process of its own, forked, not started afresh: on Linux the task SDK's
supervisor forks the task runner with a bare `os.fork()` (Airflow 3.3,
`airflow/sdk/execution_time/supervisor.py`, `WatchedSubprocess.start`; only macOS execs a new
interpreter), and the supervisor itself runs in a LocalExecutor worker, forked by `multiprocessing`
from the scheduler when the executor starts (`LocalExecutor.start`), or in a Celery worker's pool
process. What the forking process has imported, every task has at once. Great Expectations alone
took seconds of every ingest task's process when each imported it (figures:
docs/data-team/validation.md, "Started once").

Only installed libraries: never this repository's own modules, whose files the build's code
version is taken from (safetynet/versions.py), so a worker never computes a month with code older
than the version it writes. A new lock means restarting the scheduler and workers, as a new
Airflow does. Imports only, and never Polars: importing it starts its jemalloc background threads
(with `safetynet/__init__.py`'s `background_thread:true`) and its `polars-ooc` cleaner, and a forked
child has neither: jemalloc turns background threads off in a child (`background_thread_postfork_child`),
so each task would keep the pages it frees, which that setting is there to return (the means test's
peak). Each task imports Polars itself, a fraction of a second once the rest is loaded (figures:
docs/data-team/validation.md, "Started once"). What the list does start is safe across a fork:
OpenBLAS's thread pool (numpy and scipy, under GE) is shut down before a fork and started again
when first needed; Arrow's own jemalloc thread (pyarrow, under pandas, under GE) is Arrow's default,
not this setting, and a task goes without it, as it did when GE was first preloaded. DuckDB starts
no thread until a connection is made.
(tests/test_settings.py checks this in a forked child.)
"""

from __future__ import annotations

import importlib
import logging

PRELOADED = (
    "duckdb",
    "numpy",
    "great_expectations",
    # what the ingest's GE check imports (jobs/ingest/expectations.py, jobs/ingest/ge_engine.py)
    "great_expectations.execution_engine",
    "great_expectations.expectations.expectation",
    "great_expectations.expectations.metrics.map_metric_provider",
    "great_expectations.data_context.types.base",
    "great_expectations.expectations.expectation_configuration",
    "xlsxwriter",
)


def preload() -> None:
    """Import `PRELOADED` into this process (once; a second call costs nothing)."""
    # GE logs a line per public API it registers (hundreds, at INFO) into the scheduler's log
    logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)
    for name in PRELOADED:
        importlib.import_module(name)
