"""The benchmarks' figures as data: each run of `make bench` or `make bench-field` is written as one
JSON file under benchmarks/results/ (machine, date, commit, and the figures), and docs/gen.py makes
docs/benchmarks.md from the latest of each kind. Commit the file to publish the figures."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> dict:
    """What the figures were measured on: CPUs this process may use, memory, platform."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError):
        memory = None
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "memory_gb": round(memory) if memory else None,
        "platform": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
    }


def commit() -> str | None:
    """The checkout's commit, with `+changes` when its tracked files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=ROOT).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+changes" if dirty else "")


def write(kind: str, figures: dict, label: str = "", folder: Path = RESULTS) -> Path:
    """`<folder>/<kind>-<date>[-<label>].json`: the figures with the machine, date and commit."""
    today = datetime.date.today().isoformat()
    record = {"kind": kind, "date": today, "commit": commit(), "machine": machine(), **figures}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{today}{'-' + label if label else ''}.json"
    path.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path
