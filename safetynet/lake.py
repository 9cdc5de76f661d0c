"""Where things live under `--home`, and the one commit point of a month.

    <home>/lake/month=YYYY-MM/build=<content id>/   all a run of the month produced, immutable:
        <source>/<prefecture>.parquet  accepted rows, typed, one file per prefecture (jobs/ingest/areas.py);
                                       a month loaded before prefectures has <source>/data.parquet
        _quarantine/<source>.parquet   rejected rows, one row per problem
        _deliveries/<source>.parquet   what each department delivered
        _raw/<source>/                 the delivered bytes
        _household_month/, _leads/, _doubtful/, _unchecked/, _recheck/, _means_*/   the assessment
        exports/<county>/<township>/   the township files
        exports/_decisions/decisions.csv   the month's assistance decisions (jobs/decisions/)
        report/validation.html         the data team's validation report
        manifest.json                  the run manifest (inputs, versions, rows per stage, content id)
    <home>/lake/_runs/<run id>.json    the run log: Airflow's run id, clock times, status, attempts
    <home>/commits/<seq>/              one commit: catalog.json (month -> build), the auditors'
                                       warehouse safetynet.duckdb, exports/<month> and reports/<month>
                                       links into the builds
    <home>/current -> commits/<seq>    THE commit point: a symbolic link replaced by one rename
    <home>/exports -> current/exports, <home>/reports -> current/reports,
    <home>/warehouse/safetynet.duckdb -> ../current/safetynet.duckdb   fixed links through `current`
    <home>/staging/<run id>/           a run's build while it is made; nobody reads it

A build is named by what it is made of (its content id: the deliveries' SHA-256, the rule, suite
and code versions, and the previous month's build), so a rerun on the same inputs makes the same
build. Every task writes only into its run's staging; `publish` renames the build into the lake and
swaps `current`, so readers see the previous commit whole until that rename, and the new one whole
after it. Links are relative, so a home that is moved or restored reads its own lake.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import polars as pl

from safetynet.errors import SafetynetError
from safetynet.faults import fault


class CommitError(SafetynetError):
    """A build or commit that cannot be made as asked (names the run, month and build)."""


@dataclass(frozen=True)
class Build:
    """The month a run is producing, and the staging folder it writes to."""

    month: str
    path: Path


@dataclass(frozen=True)
class Home:
    root: Path
    building: Build | None = None

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse" / "safetynet.duckdb"

    @cached_property
    def commit(self) -> int:
        """The current commit's sequence number (0: nothing published yet), read once."""
        link = self.root / "current"
        return int(os.readlink(link).rsplit("/", 1)[-1]) if link.is_symlink() else 0

    @cached_property
    def catalog(self) -> dict[str, dict]:
        """month -> {build, previous, status, run_id} as of `commit`; read once per Home."""
        return read_catalog(self.root, self.commit)

    def months(self) -> list[str]:
        """Published months, plus the month being built."""
        months = set(self.catalog)
        if self.building:
            months.add(self.building.month)
        return sorted(months)

    def build_dir(self, month: str) -> Path | None:
        if self.building and self.building.month == month:
            return self.building.path
        entry = self.catalog.get(month)
        return self.lake / f"month={month}" / f"build={entry['build']}" if entry else None

    def partition(self, dataset: str, month: str) -> Path:
        """A dataset of a month: the build in progress for its month, else the published build.
        A month with neither gives a path that does not exist."""
        build = self.build_dir(month)
        return (build or self.lake / f"month={month}" / "unpublished") / dataset

    def files(self, dataset: str, month: str, area: str | None = None) -> list[Path]:
        """A month's files of a dataset: its one `data.parquet`, or its prefectures' files in name
        order (jobs/ingest/areas.py); with `area`, only those holding that prefecture's rows (its own and
        the shared). None exist: an empty list."""
        return dataset_files(self.partition(dataset, month), area)

    def scan(self, dataset: str, month: str, area: str | None = None) -> pl.LazyFrame | None:
        """A month's rows of a dataset (of one prefecture, with `area`), or None when it has none."""
        files = self.files(dataset, month, area)
        return pl.scan_parquet(files) if files else None

    def read(
        self, dataset: str, month: str, columns: list[str] | None = None, area: str | None = None
    ) -> pl.DataFrame | None:
        """A month's rows of a dataset (its files for one prefecture, with `area`), or None when the
        month has none."""
        files = self.files(dataset, month, area)
        return pl.read_parquet(files, columns=columns) if files else None

    def staging(self, run_id: str) -> Path:
        return self.root / "staging" / safe_name(run_id)

    def run_log(self, run_id: str) -> Path:
        return self.lake / "_runs" / f"{safe_name(run_id)}.json"


WHOLE = "data.parquet"  # a dataset in one file: derived ones, and sources loaded before prefectures
SHARED = "shared"  # rows of persons on households of several prefectures
NOWHERE = "none"  # rows of persons on no household of the roster


def dataset_files(folder: Path, area: str | None = None) -> list[Path]:
    """The Parquet files of a dataset's folder (see `Home.files`)."""
    if (folder / WHOLE).exists():
        return [folder / WHOLE]
    if area is not None:
        return [p for name in (area, SHARED) if (p := folder / f"{name}.parquet").exists()]
    return sorted(folder.glob("[!.]*.parquet"))


def read_catalog(root: Path, seq: int) -> dict[str, dict]:
    if seq == 0:
        return {}
    return json.loads((root / "commits" / str(seq) / "catalog.json").read_text(encoding="utf-8"))["months"]


def safe_name(run_id: str) -> str:
    """Airflow run ids contain ':' and '+'; keep file names portable."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id)


def write_parquet(frame: pl.DataFrame | pl.LazyFrame, path: Path) -> None:
    """Write to a temporary name and rename, so a reader never sees half a file. A lazy frame is
    computed as it is written (a sort of the province's household rows then costs one copy of them,
    not two)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    # One zero: Polars' kernels give -0.0 or 0.0 for the same zero depending on how the data are
    # chunked (measured: 3 of 590 index sub-scores flipped between two runs), and the bytes of a
    # month must not depend on that.
    lazy = frame.lazy()
    floats = [name for name, dtype in lazy.collect_schema().items() if dtype.is_float()]
    lazy = lazy.with_columns(pl.when(pl.col(c) == 0).then(0.0).otherwise(pl.col(c)).alias(c) for c in floats)
    lazy.sink_parquet(tmp, compression="zstd", statistics=True)
    os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MB chunks (deliveries and PDFs run to gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(data: object, path: Path) -> None:
    """Sorted keys, fixed indentation, temporary name then rename: same data, same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(
        json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True, default=str) + "\n", "utf-8"
    )
    os.replace(tmp, path)


def replace_dir(new: Path | None, target: Path) -> None:
    """Put `new` in place of `target` (or just remove `target` when `new` is None)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    trash = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
    if target.exists():
        os.replace(target, trash)
    if new is not None:
        os.replace(new, target)
    shutil.rmtree(trash, ignore_errors=True)


def _swap_link(link: Path, points_to: str) -> None:
    """Make `link` point to `points_to` with one rename (atomic on POSIX)."""
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex}.tmp")
    os.symlink(points_to, tmp)
    os.replace(tmp, link)


def _fixed_link(link: Path, points_to: str) -> None:
    if not (link.is_symlink() and os.readlink(link) == points_to):
        link.parent.mkdir(parents=True, exist_ok=True)
        _swap_link(link, points_to)


def seal(folder: Path) -> None:
    """Make a published build read-only, and readable by its owner and group only (it holds ID
    numbers): files 0440, folders 0550."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if not path.is_symlink():
            path.chmod(0o550 if path.is_dir() else 0o440)
    folder.chmod(0o550)


def unseal_copy(build: Path, target: Path) -> None:
    """A writable staging copy of a published build (hard links: no bytes copied). Tasks replace
    files by rename, never write into them, so the published build stays as it was."""
    shutil.copytree(build, target, copy_function=os.link)
    for path in [target, *target.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


PRUNED_LOG = "_pruned.jsonl"  # lake/_pruned.jsonl: what `safetynet prune` removed (jobs/publish/prune.py)


def pruned_marker(root: Path) -> int:
    """What changes when a prune has removed builds: the size of `lake/_pruned.jsonl` (0: never
    pruned). A commit's builds never change, but a prune removes some of them, so what is cached
    per commit is keyed on this too."""
    try:
        return (root / "lake" / PRUNED_LOG).stat().st_size
    except FileNotFoundError:
        return 0


def append_line(path: Path, line: str) -> None:
    """One line appended to an append-only log, in one write (O_APPEND: writers in other threads
    and processes never interleave) and flushed to disk before the caller answers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on the file `path` (made if missing); the kernel drops it if the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def commit_lock(root: Path):
    """One commit at a time per home."""
    return locked(root / ".commit.lock")


def make_commit(root: Path, month: str, entry: dict, write_warehouse) -> int:
    """Publish `entry` as the month's build: a new commit with the catalog, the warehouse and the
    links, then `current` swapped to it. Returns the commit's sequence number; a month already
    published as this very build makes no new commit. Call it holding `commit_lock`."""
    home = Home(root)
    if home.catalog.get(month, {}).get("build") == entry["build"]:
        _fix_links(root)
        return home.commit
    seq = home.commit + 1
    catalog = {**home.catalog, month: entry}
    folder = root / "commits" / str(seq)
    for left in (root / "commits").glob(".*.tmp"):  # by commits killed half-way; none runs now
        shutil.rmtree(left, ignore_errors=True)
    tmp = root / "commits" / f".{seq}.{uuid.uuid4().hex}.tmp"
    tmp.mkdir(parents=True)
    write_json({"seq": seq, "months": dict(sorted(catalog.items()))}, tmp / "catalog.json")
    for kind, sub in (("exports", "exports"), ("reports", "report")):
        (tmp / kind).mkdir()
        for m, e in catalog.items():
            if (root / "lake" / f"month={m}" / f"build={e['build']}" / sub).exists():
                os.symlink(f"../../../lake/month={m}/build={e['build']}/{sub}", tmp / kind / m)
    write_warehouse(Home(root), catalog, tmp / "safetynet.duckdb")
    fault("commit", "warehouse")
    if folder.exists():  # left by a commit killed before it swapped `current`: never published
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    fault("commit", "swap")
    _swap_link(root / "current", f"commits/{seq}")
    _fix_links(root)
    return seq


def _fix_links(root: Path) -> None:
    _fixed_link(root / "exports", "current/exports")
    _fixed_link(root / "reports", "current/reports")
    _fixed_link(root / "warehouse" / "safetynet.duckdb", "../current/safetynet.duckdb")
