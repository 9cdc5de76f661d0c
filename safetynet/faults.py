"""Fault points the jobs honour, for testing that a failure anywhere leaves the published state whole.

    SAFETYNET_FAULT=<task>:<point>[:raise|kill]   fail at that point (default: raise)
    SAFETYNET_FAULT_ONCE=<file>                   ...only while <file> does not exist (it is created
                                                  when the fault fires), so the retry succeeds

`kill` ends the process with SIGKILL, as the OOM killer or a lost worker would: no cleanup, no
callbacks. Points: `ingest:<source>`, `batch:<source>` (a source's first batch checked, the others
not), `areas:<source>` (a source's prefecture files half written), `record:<month>`,
`assess:<stage>` (`movers`: the month's movers written, no prefecture assessed yet),
`export:<stage>`, `publish:manifest|rename|commit|run log`, `commit:warehouse|swap`,
`application:record` (an application check's members and report written, its log line not yet).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path


class InjectedFault(RuntimeError):
    """Raised at a fault point named by SAFETYNET_FAULT."""


def fault(task: str, point: str) -> None:
    spec = os.environ.get("SAFETYNET_FAULT", "")
    if not spec:
        return
    want_task, want_point, *rest = spec.split(":") + [""]
    if (want_task, want_point) != (task, point):
        return
    once = os.environ.get("SAFETYNET_FAULT_ONCE")
    if once:
        marker = Path(once)
        if marker.exists():
            return
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    if rest and rest[0] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise InjectedFault(f"injected fault at {task}:{point}")
