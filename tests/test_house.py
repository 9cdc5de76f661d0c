"""The house's floors, as `make lint` checks them (pyproject.toml, [tool.importlinter]): an upward
import or a circle between modules fails the lint, on a copy of the code with one planted."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cli", "synthetic", "portal", "jobs", "safetynet")
LINT = str(Path(sys.executable).with_name("lint-imports"))


def lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT, "--no-cache", str(tree / "pyproject.toml")],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("house")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy)
    return copy


def plant(tree: Path, module: str, line: str) -> Path:
    path = tree / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    return path


def test_the_code_as_it_is_keeps_the_floors(tree):
    done = lint(tree)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "2 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    "module, line, broken",
    [
        # the base reaching up into a stage
        ("safetynet.lake", "from jobs.assess import households  # noqa", "Floors"),
        # a stage reaching up into the month's tasks, deferred inside a function as cycles once hid
        ("jobs.ingest.coverage", "def _f():\n    from jobs.month import run  # noqa", "Floors"),
        # the product importing the synthetic generator
        ("jobs.export.lists", "from synthetic import generate  # noqa", "Floors"),
        # two modules of one stage importing each other (households reads through month_window)
        ("jobs.assess.month_window", "from jobs.assess import households  # noqa", "No circles"),
    ],
    ids=["base imports a stage", "stage imports the tasks", "product imports a tool", "circle in a stage"],
)
def test_a_planted_upward_import_or_circle_breaks_the_lint(tree, module, line, broken):
    path = tree / (module.replace(".", "/") + ".py")
    before = path.read_text(encoding="utf-8")
    try:
        plant(tree, module, line)
        done = lint(tree)
    finally:
        path.write_text(before, encoding="utf-8")
    assert done.returncode == 1, done.stdout[-3000:]
    verdicts = " ".join(done.stdout.split())  # a contract's name may be folded over two lines
    assert re.search(rf"{broken}[^.]*? BROKEN", verdicts), done.stdout[-3000:]


# A parameter's values are dated: a caller that knows the month it works for must say it, or it
# reads the latest value, one not yet in force for that month (an application, a backfill).
LOADERS = {"load_rules", "load_population", "checked_rules", "candidate_rules"}
WITHOUT_A_MONTH = {
    # the synthetic generator's concepts (working age) are the same in every month it writes
    ("synthetic/generate.py", "load_population"),
}


def calls_without_a_month(tree_root: Path) -> list[tuple[str, str, int]]:
    import ast

    found = []
    for package in ("cli", "jobs", "portal", "synthetic"):
        for path in sorted((tree_root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                given = {k.arg for k in node.keywords} | ({"month"} if len(node.args) >= 2 else set())
                where = (path.relative_to(tree_root).as_posix(), name)
                if name in LOADERS and "month" not in given and where not in WITHOUT_A_MONTH:
                    if name in ("checked_rules",) and node.args:  # checked_rules(month)
                        continue
                    found.append((*where, node.lineno))
    return found


def test_every_job_reads_the_rules_in_force_in_its_month():
    assert calls_without_a_month(ROOT) == []


def test_a_call_without_a_month_is_found(tree):
    path = tree / "jobs" / "ingest" / "report.py"
    before = path.read_text(encoding="utf-8")
    try:
        path.write_text(
            before + "\n\ndef _f():\n    return load_population().lookback_months\n", encoding="utf-8"
        )
        assert [(f, n) for f, n, _ in calls_without_a_month(tree)] == [
            ("jobs/ingest/report.py", "load_population")
        ]
    finally:
        path.write_text(before, encoding="utf-8")
