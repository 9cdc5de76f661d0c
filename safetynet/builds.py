"""A run's view of the home: the published months plus the build it is making."""

from __future__ import annotations

from pathlib import Path

from safetynet import runs
from safetynet.lake import Build, CommitError, Home, unseal_copy


def open_build(home: str | Path, run_id: str) -> Home:
    """The home as a task of `run_id` sees it: published months plus this run's build in staging.

    A task cleared after its run was published finds no staging; it gets a hard-linked copy of
    the published build back, so clearing any task at any point redoes it and publishes again."""
    h = Home(Path(home))
    builds = sorted(h.staging(run_id).glob("month=*/build=*"))
    if not builds:
        entry = runs.read(h, run_id)
        published = (
            entry and entry.get("build") and h.lake / f"month={entry['month']}" / f"build={entry['build']}"
        )
        if not (published and published.exists()):
            raise CommitError(
                f"run {run_id}: no staging area and nothing published; clear `start` to begin again"
            )
        current = h.catalog.get(entry["month"], {}).get("build")
        if current not in (entry["build"], entry.get("seen")):  # published, then replaced by another run
            raise CommitError(
                f"run {run_id}: its build {entry['build']} of {entry['month']} is no longer the published "
                f"one ({current}); redoing its tasks would roll the month back: start a new run of the month"
            )
        target = h.staging(run_id) / published.parent.name / published.name
        target.parent.mkdir(parents=True, exist_ok=True)
        unseal_copy(published, target)
        builds = [target]
    return Home(h.root, Build(builds[0].parent.name.removeprefix("month="), builds[0]))
