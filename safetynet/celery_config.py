"""Celery workers' configuration: Airflow's, with the DAG's libraries imported once at start.

A deployment names it in `AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS` (docs/data-team/airflow.md).

Each task runs in a process forked from its Celery worker, and imports what its body needs on its
own: Great Expectations alone took 6 s of every ingest task's process under the real services
(tests/test_services.py). Imported by the worker before it forks, they are there at once in every
task's process. Only installed libraries: never this repository's own modules, whose files the
build's code version is taken from (safetynet/versions.py), so a worker never computes a month
with code older than the version it writes. A new lock means restarting the workers, as a new
Airflow does. Imports only: nothing here starts a thread or opens a file before the fork.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

PRELOADED = (
    "polars",
    "duckdb",
    "numpy",
    "great_expectations",
    # what the ingest's GE check imports (jobs/ingest/expectations.py, jobs/ingest/validate.py)
    "great_expectations.execution_engine",
    "great_expectations.expectations.expectation",
    "great_expectations.expectations.metrics.map_metric_provider",
    "great_expectations.data_context.types.base",
    "great_expectations.expectations.expectation_configuration",
    "xlsxwriter",
)

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": PRELOADED}
