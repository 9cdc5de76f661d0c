"""Per-stage progress lines: what ran, on how many rows, in how many seconds, and the process's
peak resident memory so far (where a task's peak RSS is reached)."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


def say(stage: str, message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {stage:<28} {message}", file=sys.stderr, flush=True)


@contextmanager
def timed(stage: str) -> Iterator[dict]:
    """Yields a dict the caller fills with counts; prints them with the elapsed seconds."""
    info: dict = {}
    start = time.perf_counter()
    yield info
    parts = [f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in info.items()]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    say(stage, " ".join(parts) + f" ({time.perf_counter() - start:.1f} s, peak {peak:.1f} GB)")
