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

from safetynet.settings import settings


class InjectedFault(RuntimeError):
    """Raised at a fault point named by SAFETYNET_FAULT."""


def fault(task: str, point: str) -> None:
    current = settings()  # read at each point, as a test sets and clears the fault while it runs
    spec = current.fault
    if not spec:
        return
    want_task, want_point, *rest = spec.split(":") + [""]
    if (want_task, want_point) != (task, point):
        return
    marker = current.fault_once
    if marker is not None:
        if marker.exists():
            return
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    if rest and rest[0] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise InjectedFault(f"injected fault at {task}:{point}")
