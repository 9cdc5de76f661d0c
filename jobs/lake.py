"""Where things live under `--home`, and the one way partitions are replaced.

    <home>/lake/<source>/month=YYYY-MM/data.parquet        accepted rows, typed
    <home>/lake/_quarantine/month=YYYY-MM/<source>.parquet  rejected rows, one row per problem
    <home>/lake/_deliveries/month=YYYY-MM/<source>.parquet  what each department delivered
    <home>/lake/_runs/<run_id>.parquet                      one row per finished run (history)
    <home>/staging/<run_id>/...                             a run's work before it is published
    <home>/reports/YYYY-MM/validation.html                  the data team's validation report
    <home>/warehouse/safetynet.duckdb                       auditors' views over the lake

A task writes only under staging; `publish` swaps whole month partitions in with renames, so a
rerun replaces a month and a failed run leaves the lake as it was.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse" / "safetynet.duckdb"

    def staging(self, run_id: str) -> Path:
        return self.root / "staging" / safe_name(run_id)

    def partition(self, dataset: str, month: str) -> Path:
        return self.lake / dataset / f"month={month}"

    def read(self, dataset: str, month: str) -> pl.DataFrame | None:
        """A month's partition of a dataset, or None when the month has none."""
        path = self.partition(dataset, month) / "data.parquet"
        return pl.read_parquet(path) if path.exists() else None

    def reports(self, month: str) -> Path:
        return self.root / "reports" / month


def safe_name(run_id: str) -> str:
    """Airflow run ids contain ':' and '+'; keep file names portable."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id)


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Write to a temporary name and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    frame.write_parquet(tmp, compression="zstd", statistics=True)
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
