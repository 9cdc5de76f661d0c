"""Content hashes that say which rules and suites a month was processed with."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# SAFETYNET_RULES points a run at another rules folder (to try a change before committing it).
RULES_DIR = Path(os.environ.get("SAFETYNET_RULES") or ROOT / "rules").resolve()
SUITES_DIR = ROOT / "expectations"


# When a run starts and how long it waits, and how the portal signs people in, never change what a
# month computes: not part of the version.
NOT_RULES = ("release/schedule.yaml", "portal/portal.yaml")


def content_hash(folder: Path, pattern: str, exclude: tuple[str, ...] = ()) -> str:
    """First 12 hex digits of SHA-256 over the sorted (relative path, bytes) of the files."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob(pattern)):
        if path.relative_to(folder).as_posix() in exclude:
            continue
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def rule_version(root: Path = RULES_DIR) -> str:
    return content_hash(root, "*.yaml", exclude=NOT_RULES)


def suite_version() -> str:
    return content_hash(SUITES_DIR, "*.json")


def code_version() -> str:
    """The code a month is computed with: jobs, the contract and helpers, the warehouse SQL, and the
    locked library versions (Polars and DuckDB write their version into every file)."""
    digest = hashlib.sha256()
    lock = ROOT / "uv.lock"
    digest.update(lock.read_bytes() if lock.exists() else b"no lock file")
    for folder, pattern in (("jobs", "*.py"), ("safetynet", "*.py"), ("warehouse", "*.sql")):
        digest.update(content_hash(ROOT / folder, pattern).encode())
    return digest.hexdigest()[:12]
