"""The township files as the portal serves them: only what a township's manifest lists.

A request names a month, a township and a file name. The month and township must have the right
form, the township must be the account's, and the name must be, character for character, a `file`
entry of that township's `manifest.json` in the published build of that month. The path served is
made from the manifest entry, never from the request. Anything else is "not found", the same answer
whether the file exists for another township or not at all.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

import polars as pl

from jobs.ingest.areas import TOWNSHIP, prefecture_of
from safetynet.lake import Home, dataset_files, pruned_marker

MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
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
def _names(divisions: tuple[Path, ...]) -> dict[str, str]:
    return dict(pl.read_parquet(list(divisions), columns=["division_code", "name"]).iter_rows())


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
        """The current commit's months whose build is still in the lake (`safetynet prune` removes
        builds of months the catalog still names), newest first."""
        home = self.home()
        return sorted((m for m in home.catalog if home.build_dir(m).is_dir()), reverse=True)

    def commit(self) -> str:
        """What names the current commit's data, the key of what is cached per commit: the commit
        as `home()` last read it, and the prune marker when a prune has removed builds since."""
        self.home()
        marker = pruned_marker(self.root)
        return f"{self._seen[0]}+pruned{marker}" if marker else self._seen[0]

    def townships(self, month: str) -> list[str]:
        build = self.home().build_dir(month)
        return list(_townships(build)) if build is not None and build.is_dir() else []

    def names(self) -> dict[str, str]:
        """Division names from the latest divisions delivery of the published months."""
        home = self.home()
        for month in reversed(sorted(home.catalog)):
            if files := home.files("divisions", month):
                return _names(tuple(files))
        return {}

    def folder(self, month: str, township: str) -> Folder | None:
        """The folder, or None when the month or township is malformed or has none."""
        if not MONTH.fullmatch(month or "") or not TOWNSHIP.fullmatch(township or ""):
            return None
        build = self.home().build_dir(month)
        if build is None or not build.is_dir():  # a pruned month (its manifests may be cached)
            return None
        return self.folder_at(build / "exports" / township[:6] / township, month, township)

    @staticmethod
    def folder_at(path: Path, month: str, township: str) -> Folder | None:
        manifest = _manifest(path / "manifest.json")
        return Folder(month, township, path, manifest) if manifest is not None else None


def zip_folder(
    folder: Folder, cache: Path, documents: Callable[[], tuple[dict[str, bytes], list]] = lambda: ({}, [])
) -> tuple[Path, int, str]:
    """The month's files of one township as a zip: every file the manifest lists plus the manifest
    itself, stored, not deflated (the workbooks and PDFs are compressed already), dated by the
    month. The documents drawn on demand come from `documents()` (called only when the zip is
    made: their bytes by file, and the failures; one not drawn is left out). The same build gives
    the same bytes, so a whole zip (every listed document in it) is made once per build folder and
    kept in `cache` (named by the build) with its SHA-256; one with a document left out is never
    kept. Returns (path, bytes, sha256)."""
    build = folder.path.parent.parent.parent.name.removeprefix("build=")  # exports/<county>/<township>
    target = cache / f"{folder.month}_{build}_{folder.township}.zip"
    digest = target.with_suffix(".sha256")
    if target.is_file() and digest.is_file():
        return target, target.stat().st_size, digest.read_text(encoding="utf-8").strip()
    cache.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.strptime(folder.month, "%Y-%m").timetuple()[:6]
    handle = tempfile.NamedTemporaryFile(dir=cache, prefix=".zip-", suffix=".tmp", delete=False)
    handle.close()
    tmp = Path(handle.name)
    drawn, failures = documents() if any(f.get("on_demand") for f in folder.files) else ({}, [])
    whole = not failures and all(e["file"] in drawn for e in folder.files if e.get("on_demand"))
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for entry in [*folder.files, {"file": "manifest.json"}]:
            info = zipfile.ZipInfo(f"{folder.township}_{folder.month}/{entry['file']}", date_time=stamp)
            info.external_attr = 0o640 << 16
            if entry.get("on_demand"):
                if entry["file"] in drawn:  # else a character no font has: named when it is opened
                    zf.writestr(info, drawn[entry["file"]])
                continue
            with zf.open(info, "w") as out, folder.path_of(entry).open("rb") as src:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
    with tmp.open("rb") as f:
        sha = hashlib.file_digest(f, "sha256").hexdigest()
    if not whole:  # served once, under a name of its own, never kept for the build
        partial = cache / f".partial-{uuid.uuid4().hex}.zip"
        os.replace(tmp, partial)
        return partial, partial.stat().st_size, sha
    os.replace(tmp, target)
    digest.write_text(sha, encoding="utf-8")
    return target, target.stat().st_size, digest.read_text(encoding="utf-8").strip()


# --- documents drawn on demand ---------------------------------------------------------------------
# A published build is sealed (read-only), so a document a township asks for after the month was
# published (a lead's portrait that export did not print, the economic-status report of a doubtful
# record or re-check draw that was not new or changed) is drawn into the home, beside the build:
#
#     <home>/portal/drawn/<month>/<build>/<township>/家庭画像/<household>_<head>.pdf
#     <home>/portal/drawn/<month>/<build>/<township>/家庭经济状况核查报告/<household>_<head>.pdf
#     <home>/portal/drawn/<month>/<build>/<township>/manifest.json   the addendum manifest
#
# The addendum lists each file with its SHA-256, bytes, when and by whom it was drawn. It is named by
# the build, so a month rebuilt from new deliveries starts a new addendum; drawing the same document
# again gives the same bytes and is not written twice.

DRAWN_MANIFEST = "manifest.json"
_draw_lock = threading.Lock()


def drawn_folder(root: Path, folder: Folder) -> Folder:
    """The addendum of a published township folder (its files drawn on demand), read now."""
    build = folder.path.parent.parent.parent.name.removeprefix("build=")  # exports/<county>/<township>
    path = root / "portal" / "drawn" / folder.month / build / folder.township
    empty = {"month": folder.month, "township_code": folder.township, "build": build, "files": []}
    return drawn_folder_at(Folder(folder.month, folder.township, path, empty))


def add_drawn(drawn: Folder, name: str, data: bytes, by: str, at: dt.datetime) -> dict:
    """Writes a drawn document into the addendum and lists it; returns its entry. A document
    already listed is left as it is (the same build draws the same bytes)."""
    if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
        raise FileNotFoundError(name)
    with _draw_lock, _locked(drawn.path):
        current = drawn_folder_at(drawn)
        listed = current.entry(name)
        if listed is not None:
            return listed
        target = drawn.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        _write(target, data)
        entry = {
            "file": name,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "drawn_at": at.isoformat(timespec="seconds"),
            "by": by,
        }
        manifest = {**current.manifest, "files": sorted([*current.files, entry], key=lambda f: f["file"])}
        _write(drawn.path / DRAWN_MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode())
        return entry


def drawn_folder_at(drawn: Folder) -> Folder:
    path = drawn.path / DRAWN_MANIFEST
    if not path.is_file():
        return drawn
    return Folder(drawn.month, drawn.township, drawn.path, json.loads(path.read_text(encoding="utf-8")))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """A file lock on the addendum, so that two portal processes never write it at once."""
    path.mkdir(parents=True, exist_ok=True)
    with (path / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@lru_cache(maxsize=1024)
def listed_cases(build: Path, township: str) -> tuple[dict, ...]:
    """The cases on a township's lists in a published build (either sheet), in list order, with
    the head of household's name and whether this month's means test or re-check has the household
    (only those households' economic-status reports can be drawn from the month's data)."""
    cases = pl.scan_parquet(build / "_cases" / "data.parquet").filter(
        (pl.col("township_code") == township) & pl.col("sheet").is_not_null()
    )
    found = [
        pl.scan_parquet(paths).select("household_id")
        for name in ("_doubtful", "_recheck")
        if (paths := dataset_files(build / name, prefecture_of(township)))
    ]
    in_means = (
        pl.concat(found).unique().with_columns(reportable=pl.lit(True))
        if found
        else pl.LazyFrame(schema={"household_id": pl.String, "reportable": pl.Boolean})
    )
    roster = dataset_files(build / "roster", prefecture_of(township))
    columns = ("household_id", "id_number", "name", "relation", "division_code")
    heads = (  # no roster file: a prefecture whose households all left the roster, cases still listed
        (pl.scan_parquet(roster) if roster else pl.LazyFrame(schema=dict.fromkeys(columns, pl.String)))
        .filter(pl.col("division_code").str.starts_with(township))
        .sort("household_id", pl.col("relation") != "户主", "id_number")
        .group_by("household_id", maintain_order=True)
        .agg(head_name=pl.col("name").first())
    )
    rows = (
        cases.select("case_id", "kind", "household_id", "state", "level", "sheet", "rank", "visit_by")
        .join(heads, on="household_id", how="left")
        .join(in_means, on="household_id", how="left")
        .with_columns(pl.col("reportable").fill_null(False))
        .sort("kind", "sheet", "rank", "case_id")
        .collect()
    )
    return tuple(rows.iter_rows(named=True))
