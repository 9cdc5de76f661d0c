"""Celery workers' configuration: Airflow's, with the DAG's libraries imported once at start.

A deployment names it in `AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS` (docs/data-team/airflow.md).

Each task runs in a process forked from its Celery worker, and imports what its body needs on its
own: Great Expectations alone took 6 s of every ingest task's process under the real services
(tests/test_services.py). Imported by the worker before it forks (`safetynet/preload.py`, the
same list the LocalExecutor's scheduler imports), they are there at once in every task's process.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

from safetynet.preload import PRELOADED

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": PRELOADED}
