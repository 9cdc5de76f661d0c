"""`safetynet prune`: remove the builds that no commit of the kept months names.

Builds are kept forever by the commits (every commit keeps its catalog and warehouse for time
travel), so a year of a province is hundreds of gigabytes. Prune keeps the newest N published
months and removes every other build folder of the lake, never:

- a build any commit names for a kept month (time travel to any commit still reads the kept months
  as that commit published them);
- the build the current commit published (whatever its month: a rerun of an older month);
- the build of the month before the oldest kept month (a rerun of that month reads its events
  and windows on it);
- a build a run not finished names (the run log says `waiting`, `running` or `held`: its build,
  the build it replaces and the previous month's it is built on); a killed run stays `running`
  until it is retried or replaced, so its builds stay too; likewise a run `failed` at `publish`
  (its build may already be renamed into the lake: a cleared publish finishes it);
- for every kept month, the build holding the divisions delivery in force at that month (delivered
  when it changes: the month's names and codes are read from it), in every commit naming the month.

Removing a build is, under the commit lock (no publish meanwhile): a line in `lake/_pruned.jsonl`
naming it, a rename out of its name (no reader sees half a build), then the delete; a prune killed
half-way leaves `.build=*.pruned` folders, which the next prune deletes first. Once the builds are
gone, the warehouse file of every commit that named one is written again as publish writes it (its
views list the Parquet files that exist), and a closing line is appended to `_pruned.jsonl` (the
portal keys what it caches per commit on that file too). Nothing else is touched: the catalogs, the
run log, staging (builds being made), the portal's logs, the rendered documents' cache
(`cache/documents/`).

A month is read again by the months after it: every months-parameter of rules/ (`*_months`: the
look-back windows, events reported late, closed cases' cover, the KPIs, refused applicants, the
random recheck, the release gate's usual counts, ...), and the household portraits read every earlier
month's closed cases and outcomes. Keeping fewer months than the longest of those windows would change
what the next month finds, so it is refused unless asked for.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from jobs.publish import warehouse
from safetynet import runs
from safetynet.errors import SafetynetError
from safetynet.lake import PRUNED_LOG, Home, append_line, commit_lock, read_catalog
from safetynet.months import previous_month
from safetynet.rules import load_rules

FINISHED = ("success", "incomplete", "rejected", "failed")


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
    rewritten: list[int] = field(default_factory=list)

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


def months_parameters(month: str) -> dict[str, int]:
    """Every months-parameter of rules/ in force in `month` (a name ending `_months`, e.g.
    `population.lookback_months`, `release_gate.usual_months`), by its dotted name."""
    found: dict[str, int] = {}
    _walk(load_rules(month=month), "", found, set())
    return found


def _walk(obj: object, path: str, found: dict[str, int], seen: set[int]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        items = [(str(k), v) for k, v in obj.items()]
    elif isinstance(obj, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(obj)]
    elif dataclasses.is_dataclass(obj):
        items = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    elif hasattr(obj, "__dict__"):
        items = list(vars(obj).items())
    else:
        return
    for key, value in items:
        if key.endswith("_months") and isinstance(value, int) and not isinstance(value, bool):
            found[path + key] = value
        else:
            _walk(value, f"{path}{key}.", found, seen)


def window_months(month: str) -> tuple[int, list[str]]:
    """Published months a later month reads: the longest months-parameter of rules/, and its names."""
    found = months_parameters(month)
    longest = max(found.values())
    return longest, sorted(name for name, value in found.items() if value == longest)


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
    """The builds of runs not finished, and of runs failed at `publish` (a cleared publish finishes
    them)."""
    for entry in runs.entries(home):
        status = entry.get("status")
        if not entry.get("month"):
            continue
        if status == "failed" and entry.get("failed_task") == "publish":
            why = f"run {entry['run_id']} failed at publish"
        elif status not in FINISHED:
            why = f"run {entry['run_id']} is not finished"
        else:
            continue
        month = entry["month"]
        for key, m in (("build", month), ("seen", month), ("previous", previous_month(month))):
            if entry.get(key):
                _keep(plan, build_path(plan.root, m, entry[key]), why)


def _divisions(plan: Plan) -> None:
    """In every commit, for each kept month it names: the build of the divisions delivery in force
    at that month (the latest at or before it)."""
    for catalog in plan.commits.values():
        in_force = None
        for month in sorted(catalog):
            if (build_path(plan.root, month, catalog[month]["build"]) / "divisions").exists():
                in_force = month
            if month in plan.kept_months and in_force:
                _keep(
                    plan,
                    build_path(plan.root, in_force, catalog[in_force]["build"]),
                    f"the divisions in force at {month}",
                )


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
    needed, names = window_months(newest)
    if keep_months < needed and not shorter_than_window:
        raise PruneError(
            f"--keep-months {keep_months}: the months after {newest} read the {needed} months before them "
            f"(rules/: {', '.join(names)}); pruning more would change what they find. "
            f"Keep at least {needed}, or add --shorter-than-window to accept that"
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
    before = previous_month(plan.kept_months[0])
    if before in current:
        _keep(
            plan,
            build_path(root, before, current[before]["build"]),
            f"a rerun of {plan.kept_months[0]} reads it",
        )
    _divisions(plan)
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


def _log(root: Path, record: dict) -> None:
    append_line(
        root / "lake" / PRUNED_LOG, json.dumps({"at": runs.now(), **record}, ensure_ascii=False) + "\n"
    )


def _sweep(root: Path) -> None:
    """Delete what a prune killed half-way left: builds renamed out of their names."""
    for trash in sorted(root.glob("lake/month=*/.build=*.pruned")):
        _writable(trash)
        shutil.rmtree(trash)
        if not any(trash.parent.iterdir()):
            trash.parent.rmdir()


def _rewrite_warehouses(plan: Plan) -> list[int]:
    """Write again, as publish writes it, the warehouse file of every commit that named a removed
    build: its views list the Parquet files that remain (a view over a removed file would fail)."""
    home, rewritten = Home(plan.root), []
    for seq, catalog in plan.commits.items():
        target = plan.root / "commits" / str(seq) / "safetynet.duckdb"
        named = {build_path(plan.root, m, e["build"]) for m, e in catalog.items()}
        if not target.exists() or not named & plan.remove.keys():
            continue
        tmp = target.with_name(f".safetynet.{uuid.uuid4().hex}.duckdb.tmp")
        warehouse.write(home, catalog, tmp)
        os.replace(tmp, target)  # a reader keeps the file it opened
        rewritten.append(seq)
    return rewritten


def apply(root: Path, keep_months: int, shorter_than_window: bool = False) -> Plan:
    """Remove what `make_plan` lists, planned again under the commit lock (no publish meanwhile):
    each build logged, then renamed out of its name, then deleted; then the warehouse files
    written again and a closing line logged."""
    root = root.resolve()
    with commit_lock(root):
        _sweep(root)
        plan = make_plan(root, keep_months, shorter_than_window)
        for build, size in plan.remove.items():
            _log(root, {"removing": build.relative_to(root).as_posix(), "bytes": size})
            trash = build.with_name(f".{build.name}.{uuid.uuid4().hex}.pruned")
            os.replace(build, trash)  # out of its name first: no reader sees half a build
            _writable(trash)
            shutil.rmtree(trash)
            if not any(build.parent.iterdir()):
                build.parent.rmdir()
        if plan.remove:
            plan.rewritten = _rewrite_warehouses(plan)
            _log(
                root,
                {
                    "kept_months": plan.kept_months,
                    "removed": [b.relative_to(root).as_posix() for b in plan.remove],
                    "bytes": plan.freed,
                    "warehouses": plan.rewritten,
                },
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
    if plan.remove:
        lines.append(
            "a pruned month's rows are gone from every view but v_runs and _catalog; the kept months "
            "read as before, but documents drawn after the prune no longer read a pruned month's closed "
            "cases and outcomes (the portraits' assistance history), so a kept month's document whose "
            "inputs reached into a pruned month is refused as changed"
        )
    if plan.rewritten:
        lines.append(f"warehouse files written again: commits {', '.join(map(str, plan.rewritten))}")
    lines.append(
        "the catalogs, the run log (v_runs), staging, the portal's logs and the document cache "
        "(cache/documents/) are left as they are"
    )
    if not applied:
        lines.append("dry run: nothing removed (add --apply to remove)")
    return "\n".join(lines)
