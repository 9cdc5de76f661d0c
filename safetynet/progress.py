"""Per-stage progress lines: what ran, on how many rows, in how many seconds, and the process's
peak resident memory so far (where a task's peak RSS is reached).

They go to standard output: Airflow's task supervisor logs a task's stdout at INFO and its stderr at
ERROR, and a spawned worker process (safetynet/workers.py) writes to the task's stdout too."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def say(stage: str, message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {stage:<28} {message}", file=sys.stdout, flush=True)


@contextmanager
def timed(stage: str) -> Iterator[dict]:
    """Yields a dict the caller fills with counts; prints them with the elapsed seconds."""
    info: dict = {}
    start = time.perf_counter()
    yield info
    parts = [f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in info.items()]
    say(stage, " ".join(parts) + f" ({time.perf_counter() - start:.1f} s, {memory()})")


def memory() -> str:
    """The process's resident memory now and at its peak so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    status = Path("/proc/self/status")
    now = (
        next(
            (
                int(line.split()[1]) / 2**20
                for line in status.read_text().splitlines()
                if line.startswith("VmRSS")
            ),
            None,
        )
        if status.exists()
        else None
    )
    return (f"rss {now:.1f} GB, " if now is not None else "") + f"peak {peak:.1f} GB"
