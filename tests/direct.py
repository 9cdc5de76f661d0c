"""The DAG's tasks called in order, in this process (or in a child with `python tests/direct.py`).

The end-to-end tests run the real DAG through Airflow; the commit, fault and determinism tests
need many runs and call the same job functions the DAG's task bodies call, in the DAG's order.

    python tests/direct.py MONTH LANDING HOME RUN_ID [FIRST_TASK]

`first` and `last` run part of the month: from the home a failed task left, or up to a task.
"""

from __future__ import annotations

import sys

TASKS = ("start", "ingest", "record", "assess", "export", "gate", "publish")


def run(
    month: str,
    landing: str,
    home: str,
    run_id: str,
    first: str = "start",
    approved_by: str = "tests",
    last: str = "publish",
) -> dict:
    from jobs.export import lists as exports
    from jobs.month import assess
    from jobs.month import run as monthly
    from jobs.publish import release
    from safetynet.contract import SOURCE_NAMES

    todo = TASKS[TASKS.index(first) : TASKS.index(last) + 1]
    if "start" in todo:
        monthly.start(month, landing, home, run_id)
    if "ingest" in todo:
        for source in SOURCE_NAMES:  # divisions first, as in the DAG
            monthly.ingest(source, month, landing, home, run_id)
    if "record" in todo:
        monthly.record(month, home, run_id)
    if "assess" in todo:
        assess.assess(month, home, run_id)
    if "export" in todo:
        exports.export(month, home, run_id)
    if "gate" in todo and release.gate(month, home, run_id, approved_by or None)["held"]:
        return {"month": month, "status": "held"}
    if "publish" not in todo:  # stopped between tasks, as the DAG leaves a home when a task fails
        return {"month": month, "status": "staged"}
    return monthly.publish(month, home, run_id)


if __name__ == "__main__":
    run(*sys.argv[1:])
