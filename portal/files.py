"""The township files as the portal serves them: only what a township's manifest lists.

A request names a month, a township and a file name. The month and township must have the right
form, the township must be the account's, and the name must be, character for character, a `file`
entry of that township's `manifest.json` in the published build of that month. The path served is
made from the manifest entry, never from the request. Anything else is "not found", the same answer
whether the file exists for another township or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from jobs.lake import Home

MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
TOWNSHIP = re.compile(r"[0-9]{9}")


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
        path = (self.path / entry["file"]).resolve()
        if not path.is_relative_to(self.path.resolve()):  # a manifest is ours, but never trust a path
            raise FileNotFoundError(entry["file"])
        return path


class Library:
    """The published township folders of a home, read from its current commit on every call (a
    month published while the portal runs is seen at once)."""

    def __init__(self, root: Path):
        self.root = root

    def home(self) -> Home:
        return Home(self.root)

    def months(self) -> list[str]:
        return sorted(self.home().catalog, reverse=True)

    def townships(self, month: str) -> list[str]:
        build = self.home().build_dir(month)
        if build is None:
            return []
        return sorted(p.parent.name for p in (build / "exports").glob("*/*/manifest.json"))

    def folder(self, month: str, township: str) -> Folder | None:
        """The folder, or None when the month or township is malformed or has none."""
        if not MONTH.fullmatch(month or "") or not TOWNSHIP.fullmatch(township or ""):
            return None
        build = self.home().build_dir(month)
        if build is None:
            return None
        path = build / "exports" / township[:6] / township
        manifest = path / "manifest.json"
        if not manifest.is_file():
            return None
        return Folder(month, township, path, json.loads(manifest.read_text(encoding="utf-8")))


def zip_folder(folder: Folder) -> tuple[Path, int]:
    """The month's files of one township as a zip in a temporary file (removed by the caller), with
    every file the manifest lists plus the manifest itself. Dated by the month, so that the same
    build gives the same bytes."""
    stamp = dt.datetime.strptime(folder.month, "%Y-%m").timetuple()[:6]
    handle = tempfile.NamedTemporaryFile(prefix="safetynet-zip-", suffix=".zip", delete=False)
    handle.close()
    path = Path(handle.name)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for entry in [*folder.files, {"file": "manifest.json"}]:
            info = zipfile.ZipInfo(f"{folder.township}_{folder.month}/{entry['file']}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o640 << 16
            with zf.open(info, "w") as out, folder.path_of(entry).open("rb") as src:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
    return path, path.stat().st_size
