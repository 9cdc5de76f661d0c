"""The township files as the portal serves them: only what a township's manifest lists.

A request names a month, a township and a file name. The month and township must have the right
form, the township must be the account's, and the name must be, character for character, a `file`
entry of that township's `manifest.json` in the published build of that month. The path served is
made from the manifest entry, never from the request. Anything else is "not found", the same answer
whether the file exists for another township or not at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

import polars as pl

from jobs.lake import Home

MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
TOWNSHIP = re.compile(r"[0-9]{9}")
AREA = re.compile(r"[0-9]{6}|[0-9]{9}")  # a county or a township


@dataclass(frozen=True)
class Folder:
    month: str
    township: str
    path: Path
    manifest: dict

    @property
    def files(self) -> list[dict]:
        return self.manifest["files"]

    def entry(self, name: str) -> dict | None:
        return next((f for f in self.files if f["file"] == name), None)

    def path_of(self, entry: dict) -> Path:
        name = PurePosixPath(entry["file"])
        if name.is_absolute() or ".." in name.parts:  # a manifest is ours, but never trust a path
            raise FileNotFoundError(entry["file"])
        return self.path / name


@lru_cache(maxsize=8192)
def _manifest(path: Path) -> dict | None:
    """A township manifest; cached by path, which is safe because a build is immutable and named
    by its content (a new build of a month is a new path)."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


@lru_cache(maxsize=64)
def _townships(build: Path) -> tuple[str, ...]:
    return tuple(sorted(p.parent.name for p in (build / "exports").glob("*/*/manifest.json")))


@lru_cache(maxsize=64)
def _names(divisions: Path) -> dict[str, str]:
    return dict(pl.read_parquet(divisions, columns=["division_code", "name"]).iter_rows())


class Library:
    """The published township folders of a home. The commit is read on every call (a month
    published while the portal runs is seen at once); what a build holds is cached, as builds never
    change."""

    def __init__(self, root: Path):
        self.root = root
        self._seen: tuple[str, Home] | None = None

    def home(self) -> Home:
        """The home as of its current commit (one `readlink` per call; the catalog is read again
        only when the commit changed)."""
        link = self.root / "current"
        commit = os.readlink(link) if link.is_symlink() else ""
        if self._seen is None or self._seen[0] != commit:
            self._seen = (commit, Home(self.root))
        return self._seen[1]

    def months(self) -> list[str]:
        return sorted(self.home().catalog, reverse=True)

    def commit(self) -> str:
        """The current commit's name, as `home()` last read it."""
        self.home()
        return self._seen[0]

    def townships(self, month: str) -> list[str]:
        build = self.home().build_dir(month)
        return list(_townships(build)) if build is not None else []

    def names(self) -> dict[str, str]:
        """Division names from the latest divisions delivery of the published months."""
        home = self.home()
        for month in reversed(sorted(home.catalog)):
            path = home.partition("divisions", month) / "data.parquet"
            if path.exists():
                return _names(path)
        return {}

    def folder(self, month: str, township: str) -> Folder | None:
        """The folder, or None when the month or township is malformed or has none."""
        if not MONTH.fullmatch(month or "") or not TOWNSHIP.fullmatch(township or ""):
            return None
        build = self.home().build_dir(month)
        if build is None:
            return None
        return self.folder_at(build / "exports" / township[:6] / township, month, township)

    @staticmethod
    def folder_at(path: Path, month: str, township: str) -> Folder | None:
        manifest = _manifest(path / "manifest.json")
        return Folder(month, township, path, manifest) if manifest is not None else None


def zip_folder(folder: Folder, cache: Path) -> tuple[Path, int, str]:
    """The month's files of one township as a zip: every file the manifest lists plus the manifest
    itself, stored, not deflated (the workbooks and PDFs are compressed already), dated by the
    month. The same build gives the same bytes, so the zip is made once per build folder and kept
    in `cache` (named by the build) with its SHA-256. Returns (path, bytes, sha256)."""
    build = folder.path.parent.parent.parent.name  # exports/<county>/<township> in build=<id>
    target = cache / f"{folder.month}_{build}_{folder.township}.zip"
    digest = target.with_suffix(".sha256")
    if not (target.is_file() and digest.is_file()):
        cache.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.strptime(folder.month, "%Y-%m").timetuple()[:6]
        handle = tempfile.NamedTemporaryFile(dir=cache, prefix=".zip-", suffix=".tmp", delete=False)
        handle.close()
        tmp = Path(handle.name)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for entry in [*folder.files, {"file": "manifest.json"}]:
                info = zipfile.ZipInfo(f"{folder.township}_{folder.month}/{entry['file']}", date_time=stamp)
                info.external_attr = 0o640 << 16
                with zf.open(info, "w") as out, folder.path_of(entry).open("rb") as src:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
        with tmp.open("rb") as f:
            sha = hashlib.file_digest(f, "sha256").hexdigest()
        os.replace(tmp, target)
        digest.write_text(sha, encoding="utf-8")
    return target, target.stat().st_size, digest.read_text(encoding="utf-8").strip()
