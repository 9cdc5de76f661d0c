"""Per-stage progress lines: what ran, on how many rows, in how many seconds."""

from __future__ import annotations

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
    say(stage, " ".join(parts) + f" ({time.perf_counter() - start:.1f} s)")
