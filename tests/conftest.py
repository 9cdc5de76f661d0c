"""Test setup. Airflow reads its configuration when first imported, so its environment is set
here, before any test module imports it: a throw-away AIRFLOW_HOME with a SQLite metadata DB."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parent.parent
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="safetynet-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "GX_ANALYTICS_ENABLED": "False",
    }
)

CLI = [str(Path(sys.executable).parent / "safetynet")]


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


def whole_months(fixture):
    """For a fixture that runs or generates whole months: every test that uses it, directly or
    through another fixture, is in the slow tier (pyproject.toml's markers; `make check` leaves it
    out). A test that runs months in its own body carries `@pytest.mark.slow` itself."""
    fixture.whole_months = True
    return fixture


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info else ()
        if any(getattr(d.func, "whole_months", False) for fixturedefs in defs for d in fixturedefs):
            item.add_marker(pytest.mark.slow)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        longest_first(items)


# The tiers whose modules take longest, in that order (pyproject.toml's markers).
LONGEST = ("services", "browser", "slow")


def longest_first(items: list[pytest.Item]) -> None:
    """On pytest-xdist's processes (`make test`: `--dist loadfile`, a module on one process, so its
    module fixtures are built once) the modules of the longest tiers start first, so that none of
    them starts when the other process has nearly done; a module keeps its order."""

    def tier(item: pytest.Item) -> int:
        marks = {m.name for m in item.iter_markers()}
        return next((i for i, name in enumerate(LONGEST) if name in marks), len(LONGEST))

    module: dict[str, int] = {}
    for item in items:
        path = item.nodeid.split("::")[0]
        module[path] = min(module.get(path, len(LONGEST)), tier(item))
    items.sort(key=lambda item: module[item.nodeid.split("::")[0]])


def safetynet(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    """Run the installed `safetynet` command as a user would."""
    done = subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=900)
    if check and done.returncode != 0:
        raise AssertionError(
            f"safetynet {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


@pytest.fixture(scope="session")
@whole_months
def landing(tmp_path_factory) -> Path:
    """Two consecutive synthetic months, generated once for the session."""
    path = tmp_path_factory.mktemp("landing")
    safetynet(
        "generate",
        "--month",
        "2026-08",
        "--months",
        "2",
        "--households",
        "600",
        "--seed",
        "11",
        "--landing",
        str(path),
        check=True,
    )
    return path


@pytest.fixture(scope="session")
@whole_months
def looped(landing, tmp_path_factory) -> Path:
    """A home where the loop has turned once: August run, September generated with the townships'
    outcomes of August's cases and run (in this process, as tests/direct.py runs the DAG's tasks).
    Read only: tests that change a home make their own."""
    from direct import run

    from synthetic.generate import generate

    root = tmp_path_factory.mktemp("looped")
    land, home = root / "landing", root / "home"
    for part in ("2026-08", "_truth"):  # other tests may generate later months into the session's landing
        shutil.copytree(landing / part, land / part)
    run("2026-08", str(land), str(home), "looped-2026-08")
    generate("2026-09", 600, 11, land, home=home)  # as the landing fixture, with outcomes of August's cases
    # The generator visits 85% of the cases at random; a township leaves its first August lead
    # unvisited whatever the draw, so September always has an overdue lead.
    path = land / "2026-09" / "outcomes.csv"
    outcomes = pl.read_csv(path, infer_schema=False)
    first_lead = outcomes.filter(pl.col("lead_id").str.starts_with("XS"))["lead_id"].sort()[:1]
    outcomes.filter(~pl.col("lead_id").is_in(first_lead.implode())).write_csv(path)
    run("2026-09", str(land), str(home), "looped-2026-09")
    return home
