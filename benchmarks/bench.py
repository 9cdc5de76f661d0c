"""`make bench`: a province-scale month through each stage, with the read floor beside it.

Each stage runs in its own process so its peak RSS is its own. Figures printed per stage: wall
seconds, rows per second, peak RSS. The floor is the time to merely read the same deliveries once
(bytes from disk, decoded, parsed as CSV/xlsx into string columns), the least any ingest must do.

    python benchmarks/bench.py [--households 2000000] [--month 2026-09] [--work DIR] [--dag]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _peak_mb() -> float:
    """Peak RSS of this stage's process or of the child it ran (`safetynet run`)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def stage_generate(month: str, households: int, landing: Path, _home: Path) -> int:
    from jobs.generate import generate

    return sum(generate(month, households, 7, landing).values())


def stage_floor(month: str, _households: int, landing: Path, _home: Path) -> int:
    from jobs.ingest import find_deliveries, read_file

    found, _ = find_deliveries(landing / month)
    return sum(read_file(p)[0].height for paths in found.values() for p in paths)


def stage_ingest(month: str, _households: int, landing: Path, home: Path) -> int:
    from jobs import monthly
    from safetynet.contract import SOURCE_NAMES

    run_id = "bench"
    monthly.start(month, str(landing), str(home), run_id)
    rows = 0
    for source in SOURCE_NAMES:  # divisions first, as in the DAG
        rows += monthly.ingest(source, month, str(landing), str(home), run_id)["rows_delivered"] or 0
    return rows


def stage_publish(month: str, _households: int, _landing: Path, home: Path) -> int:
    from jobs import monthly

    return monthly.publish(month, str(home), "bench") and 0


def stage_dag(month: str, _households: int, landing: Path, home: Path) -> int:
    """The whole monthly DAG through `safetynet run` (embedded Airflow), as the data team runs it."""
    shutil.rmtree(home, ignore_errors=True)
    cli = str(Path(sys.executable).parent / "safetynet")
    subprocess.run(
        [cli, "run", "--month", month, "--landing", str(landing), "--home", str(home)],
        check=True,
        capture_output=True,
    )
    import duckdb

    con = duckdb.connect(str(home / "warehouse" / "safetynet.duckdb"), read_only=True)
    return con.execute("select rows_delivered from v_runs").fetchone()[0]


STAGES = {
    "generate": stage_generate,
    "floor": stage_floor,
    "ingest+validate": stage_ingest,
    "publish": stage_publish,
    "whole DAG (safetynet run)": stage_dag,
}


def run_stage(name: str, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--stage",
        name,
        "--month",
        args.month,
        "--households",
        str(args.households),
        "--work",
        str(args.work),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"stage {name} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--households", type=int, default=2_000_000)
    parser.add_argument("--month", default="2026-09")
    parser.add_argument("--work", type=Path, default=ROOT / ".bench")
    parser.add_argument("--dag", action="store_true", help="also time the whole DAG through `safetynet run`")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    args = parser.parse_args()
    landing, home = args.work / "landing", args.work / "home"
    if args.stage:
        start = time.perf_counter()
        rows = STAGES[args.stage](args.month, args.households, landing, home)
        print(
            json.dumps(
                {
                    "stage": args.stage,
                    "seconds": time.perf_counter() - start,
                    "rows": rows,
                    "peak_mb": _peak_mb(),
                }
            )
        )
        return
    marker = landing / f".generated-{args.month}-{args.households}"
    results = []
    if not marker.exists():
        shutil.rmtree(args.work, ignore_errors=True)
        landing.mkdir(parents=True)
        results.append(run_stage("generate", args))
        marker.touch()
    shutil.rmtree(home, ignore_errors=True)
    for name in ("floor", "ingest+validate", "publish"):
        results.append(run_stage(name, args))
    if args.dag:
        results.append(run_stage("whole DAG (safetynet run)", args))
    floor = next(r for r in results if r["stage"] == "floor")
    print(
        f"\nbenchmark: {args.households:,} households, month {args.month}, {floor['rows']:,} delivered rows"
    )
    print(f"{'stage':<28}{'seconds':>9}{'rows/s':>14}{'peak RSS MB':>13}{'x floor':>9}")
    for r in results:
        rate = f"{r['rows'] / r['seconds']:,.0f}" if r["rows"] else "-"
        ratio = r["seconds"] / floor["seconds"]
        print(f"{r['stage']:<28}{r['seconds']:>9.1f}{rate:>14}{r['peak_mb']:>13.0f}{ratio:>9.2f}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
