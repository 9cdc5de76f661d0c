"""`safetynet prune`: remove the builds that no commit of the kept months names.

Builds are kept forever by the commits (every commit keeps its catalog and warehouse for time
travel), so a year of a province is hundreds of gigabytes. Prune keeps the newest N published
months and removes every other build folder of the lake, never:

- a build any commit names for a kept month (time travel to any commit still reads the kept months
  as that commit published them);
- the build the current commit published (whatever its month: a rerun of an older month);
- a build a run still under way names (the run log says `waiting`, `running` or `held`: its build,
  the build it replaces and the previous month's it is built on); a killed run stays `running`
  until it is retried or replaced, so its builds stay too;
- the build holding the divisions delivery in force (delivered when it changes: later months
  check codes against it).

It touches nothing else: the commits (catalogs and warehouse files), the run log, staging (builds
being made), the portal's logs, the rendered documents' cache (`cache/documents/`). Removing a
build is a rename out of its name, then the delete, under the commit lock, so a reader never sees
half a build and no publish runs meanwhile.

A month is read again by the months after it: the look-back windows (`lookback_months`), events
reported late (`late_report_months`) and the release gate's usual counts. Keeping fewer months than
those rules name would change what the next month finds, so it is refused unless asked for.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from safetynet import runs
from safetynet.errors import SafetynetError
from safetynet.lake import Home, append_line, commit_lock, read_catalog
from safetynet.months import previous_month
from safetynet.rules import load_rules

UNDER_WAY = ("waiting", "running", "held")


class PruneError(SafetynetError):
    """A prune that cannot be done as asked (names the home and the problem)."""


@dataclass
class Plan:
    """What a prune keeps (each build with why) and removes (each with its bytes), and what the
    commits can still be read for afterwards."""

    root: Path
    kept_months: list[str]
    keep: dict[Path, list[str]] = field(default_factory=dict)
    remove: dict[Path, int] = field(default_factory=dict)
    commits: dict[int, dict[str, dict]] = field(default_factory=dict)

    @property
    def freed(self) -> int:
        return sum(self.remove.values())

    def readable(self, seq: int) -> tuple[list[str], list[str]]:
        """A commit's months whose builds remain after the prune, and those whose builds go."""
        kept, gone = [], []
        for month, entry in sorted(self.commits[seq].items()):
            (gone if build_path(self.root, month, entry["build"]) in self.remove else kept).append(month)
        return kept, gone


def build_path(root: Path, month: str, build: str) -> Path:
    return root / "lake" / f"month={month}" / f"build={build}"


def catalogs(root: Path) -> dict[int, dict[str, dict]]:
    """Every commit's catalog (month -> entry), by sequence number."""
    found = [int(p.name) for p in (root / "commits").glob("*") if p.name.isdigit()]
    return {seq: read_catalog(root, seq) for seq in sorted(found)}


def published_by(commits: dict[int, dict[str, dict]], seq: int) -> list[str]:
    """The month(s) commit `seq` published: whose build differs from the commit before it."""
    before = commits.get(seq - 1, {})
    return [m for m, e in commits[seq].items() if before.get(m, {}).get("build") != e["build"]]


def window_months(month: str) -> int:
    """Published months a later month reads (the look-back window, events reported late)."""
    population = load_rules(month=month).population
    return max(population.lookback_months, population.late_report_months)


def freed_bytes(folder: Path) -> int:
    """Bytes removing `folder` frees: its files with no other hard link (a staging copy of a build
    is hard-linked to it, and keeps those bytes)."""
    total = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            total += st.st_size if st.st_nlink == 1 else 0
    return total


def _keep(plan: Plan, path: Path, why: str) -> None:
    plan.keep.setdefault(path, []).append(why)


def _under_way(plan: Plan, home: Home) -> None:
    for entry in runs.entries(home):
        if entry.get("status") not in UNDER_WAY or not entry.get("month"):
            continue
        month = entry["month"]
        for key, m in (("build", month), ("seen", month), ("previous", previous_month(month))):
            if entry.get(key):
                _keep(plan, build_path(plan.root, m, entry[key]), f"run {entry['run_id']} is under way")


def make_plan(root: Path, keep_months: int, shorter_than_window: bool = False) -> Plan:
    """What `prune --keep-months N` would keep and remove in the home `root`, as it is now."""
    root = root.resolve()
    home = Home(root)
    if keep_months < 1:
        raise PruneError(f"--keep-months {keep_months}: keep at least the newest month")
    if home.commit == 0:
        raise PruneError(f"{root}: no month published yet; nothing to prune")
    commits = catalogs(root)
    current = commits[home.commit]
    newest = max(current)
    needed = window_months(newest)
    if keep_months < needed and not shorter_than_window:
        raise PruneError(
            f"--keep-months {keep_months}: the months after {newest} read the {needed} months before them "
            "(rules/parameters/population.yaml: lookback_months, late_report_months); pruning more would "
            f"change what they find. Keep at least {needed}, or add --shorter-than-window to accept that"
        )
    plan = Plan(root, sorted(current)[-keep_months:], commits=commits)
    for catalog in commits.values():
        for month in plan.kept_months:
            if month in catalog:
                _keep(
                    plan,
                    build_path(root, month, catalog[month]["build"]),
                    f"a commit names it for kept month {month}",
                )
    for month in published_by(commits, home.commit):
        _keep(plan, build_path(root, month, current[month]["build"]), "the current commit's build")
    divisions = next(
        (
            m
            for m in sorted(current, reverse=True)
            if (build_path(root, m, current[m]["build"]) / "divisions").exists()
        ),
        None,
    )
    if divisions:
        _keep(plan, build_path(root, divisions, current[divisions]["build"]), "the divisions in force")
    _under_way(plan, home)
    for build in sorted(root.glob("lake/month=*/build=*")):
        if build.is_dir() and build not in plan.keep:
            plan.remove[build] = freed_bytes(build)
    return plan


def _writable(folder: Path) -> None:
    """A sealed build (folders 0550, `lake.seal`) made removable by its owner."""
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o750)


def apply(root: Path, keep_months: int, shorter_than_window: bool = False) -> Plan:
    """Remove what `make_plan` lists, planned again under the commit lock (no publish meanwhile)."""
    root = root.resolve()
    with commit_lock(root):
        plan = make_plan(root, keep_months, shorter_than_window)
        for build in plan.remove:
            trash = build.with_name(f".{build.name}.{uuid.uuid4().hex}.pruned")
            os.replace(build, trash)  # out of its name first: no reader sees half a build
            _writable(trash)
            shutil.rmtree(trash)
            if not any(build.parent.iterdir()):
                build.parent.rmdir()
        if plan.remove:
            append_line(
                root / "lake" / "_pruned.jsonl",
                json.dumps(
                    {
                        "at": runs.now(),
                        "kept_months": plan.kept_months,
                        "removed": [b.relative_to(root).as_posix() for b in plan.remove],
                        "bytes": plan.freed,
                    },
                    ensure_ascii=False,
                )
                + "\n",
            )
    return plan


def report(plan: Plan, applied: bool) -> str:
    """What was (or would be) removed and kept, and what auditors can still time-travel to."""
    mb = lambda n: f"{n / 2**20:,.1f} MB"  # noqa: E731
    lines = [f"keeping the newest {len(plan.kept_months)} months: {', '.join(plan.kept_months)}"]
    for build, size in plan.remove.items():
        lines.append(
            f"{'removed' if applied else 'would remove'} {build.relative_to(plan.root)} ({mb(size)})"
        )
    for build, why in plan.keep.items():
        if build.exists():
            lines.append(f"kept {build.relative_to(plan.root)} ({'; '.join(dict.fromkeys(why))})")
    verb = "freed" if applied else "would free"
    lines.append(f"{verb} {mb(plan.freed)} in {len(plan.remove)} builds")
    lines.append("time travel afterwards (safetynet query --commit N):")
    for seq in plan.commits:
        kept, gone = plan.readable(seq)
        lines.append(
            f"  commit {seq}: reads {', '.join(kept) or 'no month'}"
            + (f"; months pruned (no rows): {', '.join(gone)}" if gone else " (whole)")
        )
    lines.append(
        "the commits, the run log (v_runs), staging, the portal's logs and the document cache "
        "(cache/documents/) are left as they are"
    )
    if not applied:
        lines.append("dry run: nothing removed (add --apply to remove)")
    return "\n".join(lines)
