"""What starting Great Expectations costs an `ingest` task's process, and what preloading saves (issue 34).

    python benchmarks/ge_start.py [--households 3000] [--sources enrolment,deaths] [--work DIR]

Generates a month (2026-08, seed 1), loads its divisions and roster into a build, then:

1. **parts**: in a fresh interpreter, each step of GE's start on one source's sample, timed apart
   (import, context, suite, data source and batch, first and second validation);
2. **tasks**: each source's `ingest` (jobs/month/run.py), as an Airflow task process runs it, three
   ways: a fresh interpreter (`python -c`); a process forked from a parent holding what a
   LocalExecutor worker holds (Airflow's executor and task supervisor: the task process before
   this issue); and one forked from a parent that also ran `safetynet.preload.preload()` (what
   `PreloadedLocalExecutor` and the Celery workers do now). Each task's seconds (fork or start to
   its end) and those of its GE check (`ge_check`, the GE import included when it happens there).

Prints JSON; figures go to docs/data-team/validation.md ("Started once").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

MONTH = "2026-08"
RUN_ID = "ge-start"

PARTS = """
import json, sys, time
marks, t0 = {}, time.perf_counter()
def mark(name):
    global t0
    t = time.perf_counter(); marks[name] = round(t - t0, 3); t0 = t
from pathlib import Path
from jobs.ingest import validate as v
from jobs.ingest.deliveries import cast, read_source
from jobs.ingest.expectations import load_suite
mark("import polars and jobs.ingest")
source, landing = sys.argv[1], Path(sys.argv[2])
typed, _ = cast(read_source(source, sorted(landing.glob(f"{source}*.csv"))))
sample = v._pandas_sample(typed.head(v.GE_SAMPLE_ROWS))
suite = load_suite(source)
params = v._narrowed(suite, sample, v.month_parameters(sys.argv[3], None))
exps = [e for e in suite["expectations"] if e["type"] not in v.UNIQUENESS and not any(
    isinstance(x, dict) and x.get("$PARAMETER") not in params for x in e["kwargs"].values())]
frame = v._to_pandas(sample)
mark("read and cast the sample")
import great_expectations as gx
mark("import great_expectations")
from jobs.ingest.expectations import register_custom_expectations
register_custom_expectations()
mark("register the custom expectation")
from jobs.ingest import ge_engine
ge_engine.context()
mark("get_context(mode='ephemeral')")
ge_engine.suite(source, exps)
mark("build the ExpectationSuite")
ge_engine.results(source, exps, frame, params)
mark("first validation (data source, batch, validate)")
ge_engine.results(source, exps, frame, params)
mark("second validation, same process")
print(json.dumps({"source": source, "rows": sample.height, "expectations": len(exps), "seconds": marks}))
"""

TASK = """
import json, os, sys, time
from jobs.ingest import validate
from jobs.month import run as monthly
spent = [0.0]
ge_check = validate.ge_check
def timed_ge_check(*args, **kwargs):
    t = time.perf_counter()
    try:
        return ge_check(*args, **kwargs)
    finally:
        spent[0] += time.perf_counter() - t
validate.ge_check = timed_ge_check
source, month, landing, home, run_id = sys.argv[1:6]
monthly.ingest(source, month, landing, home, run_id)
with open(sys.argv[6], "w") as out:
    json.dump({"ge_check": round(spent[0], 2)}, out)
"""

# What a LocalExecutor worker holds when its supervisor forks a task (Airflow 3.3).
WORKER = "import airflow.executors.local_executor, airflow.sdk.execution_time.supervisor\n"

FORKS = """
import json, os, sys, time
if sys.argv[1] == "preloaded":
    from safetynet.preload import preload
    preload()
sources, month, landing, home, run_id, out = sys.argv[2].split(","), *sys.argv[3:8]
task = compile(open(sys.argv[8]).read(), "task", "exec")
figures = {}
for source in sources:
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        sys.argv = ["task", source, month, landing, home, run_id, out]
        exec(task, {"__name__": "__task__"})
        os._exit(0)  # as the task SDK's child does
    _, status = os.waitpid(pid, 0)
    assert status == 0, (source, status)
    figures[source] = {"task": round(time.perf_counter() - start, 2), **json.load(open(out))}
print(json.dumps(figures))
"""


def sh(*args: str, env: dict | None = None) -> str:
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{' '.join(args[:3])} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def prepare(work: Path, households: int) -> tuple[Path, Path]:
    landing, home = work / "landing", work / "home"
    if not (landing / MONTH).exists():
        cli = str(Path(sys.executable).parent / "safetynet")
        sh(
            cli,
            "generate",
            "--month",
            MONTH,
            "--households",
            str(households),
            "--seed",
            "1",
            "--landing",
            str(landing),
        )
    code = (
        "import sys\nfrom jobs.month import run as m\n"
        "m.start(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])\n"
        "for s in ('divisions', 'roster'): m.ingest(s, sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])\n"
    )
    sh(sys.executable, "-c", code, MONTH, str(landing), str(home), RUN_ID)
    return landing, home


def tasks(mode: str, sources: list[str], landing: Path, home: Path, work: Path) -> dict:
    out, script = work / "task.json", work / "task.py"
    script.write_text(TASK, encoding="utf-8")
    args = [MONTH, str(landing), str(home), RUN_ID, str(out)]
    if mode != "fresh":
        code = WORKER + FORKS
        printed = sh(sys.executable, "-c", code, mode, ",".join(sources), *args, str(script))
        return json.loads(printed.strip().splitlines()[-1])  # the tasks print their own lines before
    figures = {}
    for source in sources:
        start = time.perf_counter()
        sh(sys.executable, "-c", TASK + "os._exit(0)  # as the task SDK's child does\n", source, *args)
        figures[source] = {"task": round(time.perf_counter() - start, 2), **json.loads(out.read_text())}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=3000)
    parser.add_argument("--sources", default="", help="comma-separated; default every mapped source")
    parser.add_argument("--work", type=Path, default=Path("/tmp/ge-start"))
    parser.add_argument("--modes", default="fresh,fork,preloaded")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    landing, home = prepare(args.work, args.households)
    from safetynet.contract import SOURCE_NAMES

    mapped = [s for s in SOURCE_NAMES if s not in ("divisions", "roster")]  # the mapped `ingest` tasks
    sources = args.sources.split(",") if args.sources else mapped
    report = {"parts": json.loads(sh(sys.executable, "-c", PARTS, "enrolment", str(landing / MONTH), MONTH))}
    for mode in args.modes.split(","):
        figures = tasks(mode, sources, landing, home, args.work)
        report[mode] = {
            "per_task": figures,
            "sum_task": round(sum(f["task"] for f in figures.values()), 1),
            "sum_ge_check": round(sum(f["ge_check"] for f in figures.values()), 1),
        }
    report["load"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
