"""The release gate: before 1,500 townships get a month's files, compare the month with the last ones.

A check trips when a department's rows moved far from last month's, a delivery is byte-identical to
last month's (a file sent again), the roster shrank or grew sharply, or the leads or doubtful records
are far off their usual count (thresholds: `rules/release/gate.yaml`). A tripped gate holds the
month's publication (the township release and the warehouse with it) for the data team's approval;
a run by hand (`safetynet run`) is approved by the person running it. The checks are written into
the build as `release.json`, so auditors see what was checked, against what, and what tripped.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import polars as pl

from safetynet import alerts, runs
from safetynet.builds import open_build
from safetynet.contract import HISTORY, SOURCES
from safetynet.lake import Home, dataset_files, write_json
from safetynet.months import previous_month
from safetynet.progress import say
from safetynet.rules import ReleaseGate, load_rules


def _deliveries(build: Path) -> dict[str, dict]:
    paths = sorted((build / "_deliveries").glob("*.parquet"))
    if not paths:
        return {}
    return {r["source"]: r for r in pl.concat([pl.read_parquet(p) for p in paths]).to_dicts()}


def _inputs(build: Path) -> dict[str, set[str]]:
    made_of = json.loads((build / "build.json").read_text(encoding="utf-8"))
    out: dict[str, set[str]] = {}
    for f in made_of["inputs"]:
        if HISTORY not in f["file"]:  # a history resent is read once (already_held), not a month resent
            out.setdefault(f["source"], set()).add(f["sha256"])
    return out


def _rows(build: Path, dataset: str) -> int | None:
    files = dataset_files(build / dataset)
    return pl.scan_parquet(files).select(pl.len()).collect().item() if files else None


def _households(build: Path) -> int | None:
    files = dataset_files(build / "roster")
    if not files:
        return None
    return pl.scan_parquet(files).select(pl.col("household_id").n_unique()).collect().item()


def _change(now: float, before: float) -> float:
    """How far apart two counts are, the same either way: 100 to 200 and 200 to 100 are both 1.0
    (a halving is as far off as a doubling)."""
    low, high = sorted((now, before))
    return high / low - 1 if low else float("inf")


def _moved(now: float, before: float, digits: int = 0) -> str:
    """How a count moved, as the data team reads it: "fell from 1,000 to 400 (−60%)"; the share is
    of the count before (a fall cannot pass −100%), not the gate's measure (`_change`)."""
    if now == before:
        return f"unchanged at {now:,.0f}"
    way = "rose" if now > before else "fell"
    if not before:
        return f"{way} from 0 to {now:,.0f}"
    sign = "+" if now > before else "\u2212"  # a minus sign, not a hyphen
    return f"{way} from {before:,.0f} to {now:,.0f} ({sign}{abs(now - before) / before:.{digits}%})"


def _limits(usual: float, limit: float) -> str:
    """The counts the gate lets pass around `usual` (a change of `limit` either way, `_change`)."""
    return f"limit {limit:.0%} either way: {usual / (1 + limit):,.0f} to {usual * (1 + limit):,.0f}"


def _earlier(h: Home, build: Path, months: int) -> list[tuple[str, Path]]:
    """The builds this one was made on, newest first: the chain of `previous` in build.json (what
    the build id names), not whatever the catalog holds now, so the gate's result is part of the
    build's content."""
    out = []
    made_of = json.loads((build / "build.json").read_text(encoding="utf-8"))
    month, previous = made_of["month"], made_of["previous"]
    while previous and len(out) < months:
        month = previous_month(month)
        path = h.lake / f"month={month}" / f"build={previous}"
        if not path.exists():
            break
        out.append((month, path))
        previous = json.loads((path / "build.json").read_text(encoding="utf-8"))["previous"]
    return out


def _check(check: str, source: str | None, value, usual, tripped: bool, message: str) -> dict:
    return {
        "check": check,
        "source": source,
        "value": value,
        "usual": usual,
        "tripped": tripped,
        "message": message,
    }


def _rows_check(name: str, a: dict, b: dict, months: tuple[str, str], gate: ReleaseGate) -> dict | None:
    """A source's rows against the month before (`a` now, `b` then): gone, or moved too far."""
    source, (month, prev_month) = SOURCES[name], months
    if b.get("status") == "delivered" and a.get("status") != "delivered":
        return _check(
            "rows",
            name,
            None,
            b["rows_delivered"],
            True,
            f"{name} ({source.zh}): {b['rows_delivered']:,} rows in {prev_month}, "
            f"{a.get('status', 'not_delivered').replace('_', ' ')} in {month}",
        )
    if a.get("status") != "delivered" or b.get("status") != "delivered":
        return None
    # a history delivery (earlier months' events, once) is not the month's volume
    rows = a["rows_delivered"] - (a.get("history_rows") or 0)
    usual = b["rows_delivered"] - (b.get("history_rows") or 0)
    limit = gate.rows_change[source.kind]
    share = _change(rows, usual)
    return _check(
        "rows",
        name,
        rows,
        usual,
        max(rows, usual) >= gate.rows_min and share > limit,
        f"{name} ({source.zh}): rows {_moved(rows, usual)} since {prev_month} ({_limits(usual, limit)})",
    )


def _source_checks(build: Path, prev: Path, months: tuple[str, str], gate: ReleaseGate) -> list[dict]:
    """Per source: its rows against the month before, and a file sent again unchanged."""
    now, before = _deliveries(build), _deliveries(prev)
    now_in, before_in = _inputs(build), _inputs(prev)
    out: list[dict] = []
    for name, source in SOURCES.items():
        if source.kind == "reference":
            continue  # delivered when it changes
        a = now.get(name, {})
        rows = _rows_check(name, a, before.get(name, {}), months, gate)
        out += [rows] if rows else []
        same = now_in.get(name, set()) & before_in.get(name, set())
        # a small file may well repeat (five housing-fund accounts unchanged); a large one should not
        if gate.identical_delivery and same and (a.get("rows_delivered") or 0) >= gate.rows_min:
            message = (
                f"{name} ({source.zh}): a file of {months[0]} is byte-identical to {months[1]}'s "
                f"(SHA-256 {sorted(same)[0][:12]}…): was last month's file sent again?"
            )
            out.append(_check("identical_delivery", name, len(same), 0, True, message))
    return out


def _roster_check(build: Path, prev: Path, prev_month: str, gate: ReleaseGate) -> list[dict]:
    households, usual = _households(build), _households(prev)
    if households is None or not usual:
        return []
    share = _change(households, usual)
    message = (
        f"roster (监测对象名册): households {_moved(households, usual, 1)} since {prev_month} "
        f"({_limits(usual, gate.roster_change)})"
    )
    return [_check("roster", "roster", households, usual, share > gate.roster_change, message)]


def _count_checks(build: Path, earlier: list[tuple[str, Path]], gate: ReleaseGate) -> list[dict]:
    """The month's leads and doubtful records against the median of the earlier months'."""
    out: list[dict] = []
    for dataset, label in (("_leads", "leads (线索)"), ("_doubtful", "doubtful records (核对疑点)")):
        counts = [c for c in (_rows(path, dataset) for _, path in earlier) if c is not None]
        count = _rows(build, dataset)
        if not counts or count is None:
            continue
        usual = statistics.median(counts)
        far = _change(count, usual) > gate.count_ratio - 1
        message = (
            f"{label}: {_moved(count, usual)} from the median of {len(counts)} earlier month(s) "
            f"(limit ×{gate.count_ratio:g} either way: {usual / gate.count_ratio:,.0f} to "
            f"{usual * gate.count_ratio:,.0f})"
        )
        out.append(
            _check(
                dataset.strip("_"), None, count, usual, far and max(count, usual) >= gate.count_min, message
            )
        )
    return out


def checks(h: Home, month: str, gate: ReleaseGate) -> list[dict]:
    """Every check of the gate with what it compared; `tripped` says which hold the release."""
    build = h.build_dir(month)
    earlier = _earlier(h, build, gate.usual_months)
    if not earlier:
        return []  # the home's first month: nothing to compare with
    prev_month, prev = earlier[0]
    return (
        _source_checks(build, prev, (month, prev_month), gate)
        + _roster_check(build, prev, prev_month, gate)
        + _count_checks(build, earlier, gate)
    )


def gate(month: str, home: str, run_id: str, approved_by: str | None = None) -> dict:
    """Run the gate on the run's build; returns whether the release is held for approval."""
    h = open_build(home, run_id)
    result = checks(h, month, load_rules(month=month).release_gate)
    tripped = [c["message"] for c in result if c["tripped"]]
    write_json({"month": month, "checks": result}, h.building.path / "release.json")
    held = bool(tripped) and not approved_by
    if tripped:
        runs.update(
            h, run_id, release_gate=tripped, approved_by=approved_by, **({"status": "held"} if held else {})
        )
        for message in tripped:
            say("gate", f"TRIPPED {message}")
        say("gate", f"{month}: held for the data team's approval" if held else f"released by {approved_by}")
        if held:
            _alert_held(home, run_id, month, tripped)
    elif result:
        say("gate", f"{month}: {len(result)} checks passed; released")
    else:
        say("gate", f"{month}: no published month before it to compare with; released")
    text = "\n".join(f"- {m}" for m in tripped)
    return {"month": month, "held": held, "tripped": tripped, "text": text}


def _alert_held(home: str, run_id: str, month: str, tripped: list[str]) -> None:
    alerts.notify(
        home,
        "held",
        f"safetynet: {month}'s release is held for approval (run {run_id})",
        "\n".join(tripped),
        run_id=run_id,
        month=month,
    )


def hold(home: str, run_id: str, gated: dict) -> None:
    """`approve` asks the data team: the run log says `held` while Airflow waits for an answer.
    The gate has said so on the run's first pass; after a Reject (or an approval timed out) the data
    team may clear `approve` to be asked again, and the run is held again, with a new alert."""
    h = Home(Path(home))
    entry = runs.read(h, run_id) or {}
    if entry.get("status") not in ("rejected", "failed"):
        return
    runs.update(
        h,
        run_id,
        status="held",
        release_gate=gated["tripped"],
        approved_by=None,
        error=None,
        failed_task=None,
        finished_at=None,
    )
    say("approve", f"{gated['month']}: held again for the data team's approval")
    _alert_held(home, run_id, gated["month"], gated["tripped"])


def decided(home: str, run_id: str, approved: bool, by: str) -> None:
    """The data team answered the held release: the run log says who, and which way."""
    h = Home(Path(home))
    if approved:
        runs.update(h, run_id, approved_by=by, status="running")
    else:
        runs.update(
            h,
            run_id,
            status="rejected",
            error=f"release rejected by {by}: nothing published",
            failed_task="approve",
            finished_at=runs.now(),
        )
