"""`make bench` (benchmarks/bench.py): two months in one sitting, each with its table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench  # noqa: E402  (benchmarks/bench.py, a script beside its record.py)


@pytest.mark.parametrize(
    ("argv", "months", "households"),
    [
        ([], ["2026-08", "2026-09"], 2_000_000),
        (["--households", "20000"], ["2026-08", "2026-09"], 20_000),
        (["--month", "2027-01", "--first-month"], ["2026-12"], 2_000_000),
    ],
)
def test_the_bench_runs_a_first_then_a_second_month(argv, months, households):
    args = bench.parse_args(argv)
    planned = bench.plan(args.month, args.first_month)
    assert [m for m, _ in planned] == months
    assert args.households == households
    for month, stages in planned:
        # every stage of the DAG, township files and the commit included, and the floor, each month
        for stage in (
            "floor",
            "ingest+validate",
            "record",
            "township files + reports",
            "publish (the commit)",
        ):
            assert stage in stages, (month, stage)
    assert "portal (safetynet serve)" in planned[-1][1] or args.first_month


def _stage(name: str, seconds: float, peak: int, **extra) -> dict:
    return {"stage": name, "seconds": seconds, "rows": 100, "peak_mb": peak, **extra}


def test_the_month_table_sums_the_dag_stages_with_mapped_ones_on_two_workers():
    results = [
        _stage("floor", 2.0, 50),
        _stage("ingest+validate", 10.0, 400),
        _stage("record", 1.0, 100),
        _stage(
            "households per prefecture (2 workers)",
            30.0,
            300,
            wall_2_worker=8.0,
            month_tasks=[{"task": "assess", "seconds": 2.0, "peak_mb": 200}],
        ),
        _stage("households", 5.0, 900),  # the assessment again, step by step: not added
        _stage("township files + reports", 12.0, 350, wall_2_worker=6.0),
        _stage("publish (the commit)", 3.0, 120),
        _stage("portal (safetynet serve)", 50.0, 800),
    ]
    size = {"total": 3 * 2**20, "build": 2 * 2**20, "by_folder": {"exports": 2**20, "_raw": 2**20}}
    summary = bench.month_summary("2026-09", "second", results, size)
    assert summary["whole_seconds"] == 10 + 1 + (8 + 2) + 6 + 3
    assert summary["whole_x_floor"] == 15.0
    assert summary["whole_peak_mb"] == 400  # the stages of the month, not the portal's or the parts'
    table = bench.month_table(summary)
    assert "second month 2026-09" in table
    assert "whole month (sum of the DAG stages)" in table
    assert "bytes the month added: 3.0 MB (build 2.0 MB: exports 1.0 MB, _raw 1.0 MB)" in table


def test_bytes_count_a_hard_linked_file_once(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 1000)
    (tmp_path / "b").hardlink_to(tmp_path / "a")
    (tmp_path / "c").symlink_to(tmp_path / "a")
    assert bench.folder_bytes([tmp_path]) == 1000
    seen: set = set()
    bench.folder_bytes([tmp_path], seen)
    assert bench.folder_bytes([tmp_path], seen) == 0  # already in the home before the month


def test_the_benchmarks_page_shows_each_month_against_its_own_floor(tmp_path, monkeypatch):
    import json

    sys.path.insert(0, str(ROOT / "docs"))
    import gen  # docs/gen.py

    first = bench.month_summary(
        "2026-08", "first", [_stage("floor", 2.0, 50), _stage("record", 4.0, 100)], None
    )
    second = bench.month_summary(
        "2026-09", "second", [_stage("floor", 4.0, 50), _stage("record", 4.0, 100)], None
    )
    record = {
        "kind": "bench",
        "date": "2026-12-06",
        "households": 20_000,
        "months": [first, second],
        "stages": [],
    }
    (tmp_path / "bench-2026-12-06-20000.json").write_text(json.dumps(record))
    monkeypatch.setattr(gen, "RESULTS", tmp_path)
    monkeypatch.setattr(gen, "ROOT", tmp_path.parent)
    page = gen.benchmarks_page()
    assert "### The first month, 2026-08" in page and "### The second month, 2026-09" in page
    assert "| record | 4.0 | 25 | 0.10 | 2.00 |" in page  # 4 s against the first month's 2 s floor
    assert "| record | 4.0 | 25 | 0.10 | 1.00 |" in page  # ... and against the second's 4 s
    assert "| **whole month** (the DAG's stages) | 4.0 | | 0.10 | 1.00 |" in page


def test_the_month_is_the_dag_s_stages_the_steps_only_when_asked():
    """Review: the step-by-step assessment rewrote the build as one file per dataset, so the
    export read the whole province per prefecture; and a whole-DAG run was added to each month."""
    default = dict(bench.plan("2026-09"))
    assert not set(bench.PART_OF_ASSESS) & set(default["2026-08"])
    steps = dict(bench.plan("2026-09", steps=True))["2026-08"]
    assert steps.index("households per prefecture (2 workers)") < steps.index("households")
    assert steps.index("cases") < steps.index("township files + reports")
    results = [
        _stage("floor", 10, 100),
        _stage("ingest+validate", 20, 1000),
        _stage("whole DAG (safetynet run)", 500, 3000),
    ]
    summary = bench.month_summary("2026-08", "first", results, None)
    assert summary["whole_seconds"] == 20 and summary["whole_peak_mb"] == 1000
