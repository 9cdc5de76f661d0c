"""The portal's audit trail: every sign-in, failed sign-in, sign-out, download and upload, one JSON
line each, appended to `<home>/lake/_portal_log/<YYYY-MM>.jsonl` (by the event's month, China time)
and flushed to disk before the answer goes out. The lake is where auditors read: `v_portal_log`.
Lines are only ever appended; nothing in the portal rewrites or deletes them.
"""

from __future__ import annotations

import datetime as dt
import json
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
