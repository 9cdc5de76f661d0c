"""The portal's audit trail: every sign-in, failed sign-in, sign-out, download and upload, one JSON
line each, appended to `<home>/lake/_portal_log/<YYYY-MM>.jsonl` (by the event's month, China time)
and flushed to disk before the answer goes out. The lake is where auditors read: `v_portal_log`.
Lines are only ever appended; nothing in the portal rewrites or deletes them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path

from safetynet.lake import append_line

CHINA = dt.timezone(dt.timedelta(hours=8))
FIELDS = (
    "at",
    "account",
    "role",
    "township_code",
    "action",
    "file",
    "sha256",
    "bytes",
    "client_address",
    "result",
    "detail",
)


def folder(home: Path) -> Path:
    return home / "lake" / "_portal_log"


def write(home: Path, action: str, **fields: object) -> dict:
    now = dt.datetime.now(CHINA)
    entry = {k: None for k in FIELDS} | {"at": now.isoformat(timespec="milliseconds"), "action": action}
    entry |= {k: v for k, v in fields.items() if k in FIELDS}
    append_line(
        folder(home) / f"{now:%Y-%m}.jsonl", json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n"
    )
    return entry


def read(home: Path) -> list[dict]:
    out = []
    for path in sorted(folder(home).glob("*.jsonl")):
        out += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return out


# what `actions` has read of each log file: (device and inode, bytes read, the entries kept)
_TAIL: dict[tuple[Path, frozenset[str]], tuple[tuple[int, int], int, list[dict]]] = {}
_TAIL_LOCK = threading.Lock()


def actions(home: Path, wanted: frozenset[str]) -> list[dict]:
    """The entries of the `wanted` actions (uploads, for the portrait and the data team's status),
    as `read` gives them, in order. Each file is read from where the last call stopped: lines are
    only ever appended, and reading the whole trail on every page grew with every request any
    office made (issue 33, item 8). A line not yet ended is left for the next call."""
    out = []
    with _TAIL_LOCK:
        for path in sorted(folder(home).glob("*.jsonl")):
            key = (path.resolve(), wanted)
            with open(path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                file_id = (stat.st_dev, stat.st_ino)
                seen_id, offset, kept = _TAIL.get(key, (file_id, 0, []))
                if seen_id != file_id or stat.st_size < offset:  # another file at that path
                    offset, kept = 0, []
                handle.seek(offset)
                chunk = handle.read()
            end = chunk.rfind(b"\n") + 1
            new = [json.loads(line) for line in chunk[:end].decode("utf-8").splitlines() if line]
            kept = kept + [e for e in new if e["action"] in wanted]
            _TAIL[key] = (file_id, offset + end, kept)
            out += kept
    return out
