"""Content hashes that say which rules and suites a month was processed with."""

from __future__ import annotations

import hashlib
from pathlib import Path

from safetynet.resources import PACKAGED, folder, lock_file

# The folder of the packages `jobs` and `safetynet`: the checkout, or site-packages when installed.
ROOT = Path(__file__).resolve().parent.parent
# SAFETYNET_RULES points a run at another rules folder (to try a change before committing it).
RULES_DIR = folder("rules")
SUITES_DIR = folder("expectations")


# When a run starts and how long it waits, and how the portal signs people in, never change what a
# month computes: not part of the version.
NOT_RULES = ("release/schedule.yaml", "portal/portal.yaml")


def content_hash(
    root: Path, pattern: str, exclude: tuple[str, ...] = (), exclude_folders: tuple[str, ...] = ()
) -> str:
    """First 12 hex digits of SHA-256 over the sorted (relative path, bytes) of the files, less the
    files named in `exclude` and those under the top folders named in `exclude_folders`."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob(pattern)):
        relative = path.relative_to(root)
        if relative.as_posix() in exclude or relative.parts[0] in exclude_folders:
            continue
        digest.update(relative.as_posix().encode())
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
    lock = lock_file()
    digest.update(lock.read_bytes() if lock is not None else b"no lock file")
    # the package data an installed safetynet carries is not its code (the same hash as a checkout's)
    for code, pattern in (
        (ROOT / "jobs", "*.py"),
        (ROOT / "safetynet", "*.py"),
        (folder("warehouse"), "*.sql"),
    ):
        digest.update(content_hash(code, pattern, exclude_folders=(PACKAGED,)).encode())
    return digest.hexdigest()[:12]
