"""The wheel works installed: built from this checkout, installed with the locked libraries into a
fresh venv outside it, it generates and runs a small month from a folder outside it, finding its
rules, expectations, warehouse SQL and DAG inside the package (safetynet/resources.py).

Slow (about a minute and a half, most of it the month's run): choose it or leave it out by file,
`pytest tests/test_installed.py`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from safetynet.versions import code_version, rule_version, suite_version

pytestmark = pytest.mark.slow

MONTH = "2026-08"
LOCKED = ("--frozen", "--no-dev", "--no-emit-project", "--no-hashes")  # the lock's libraries, not the project
VERSIONS = "from safetynet.versions import code_version as c, rule_version as r, suite_version as s; print(c(), r(), s())"


def _uv() -> list[str]:
    """uv: this venv's, else as `make install` runs it (python3 -m uv), else the one on the PATH."""
    candidates = [[sys.executable, "-m", "uv"], ["python3", "-m", "uv"]]
    if shutil.which("uv"):
        candidates.append([shutil.which("uv")])
    for command in candidates:
        found = subprocess.run([*command, "--version"], capture_output=True)
        if found.returncode == 0:
            return command
    pytest.fail("uv is not installed: `make install` installs it (python3 -m pip install uv)")


def _run(command: list, cwd, env=None, timeout=600) -> str:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (
        f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A venv outside the checkout with the wheel and the locked libraries (uv's cache makes it seconds)."""
    uv, tmp = _uv(), tmp_path_factory.mktemp("installed")
    _run([*uv, "build", "--wheel", "--out-dir", tmp / "dist", ROOT], tmp)
    (wheel,) = (tmp / "dist").glob("safetynet-*.whl")
    locked = tmp / "requirements.txt"
    _run([*uv, "export", *LOCKED, "--project", ROOT, "-o", locked], tmp)
    _run([*uv, "venv", "--python", sys.executable, tmp / "venv"], tmp)
    python = tmp / "venv" / "bin" / "python"
    _run([*uv, "pip", "install", "--python", python, "-r", locked, wheel], tmp)
    return tmp / "venv" / "bin"


def test_the_installed_wheel_runs_a_month_outside_the_checkout(installed, tmp_path):
    work = tmp_path / "work"  # outside the checkout: nothing of it on the path or in the folder
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SAFETYNET_", "AIRFLOW", "PYTHON", "VIRTUAL_ENV"))
    }
    where = _run(
        [installed / "python", "-c", "import jobs, safetynet; print(jobs.__file__, safetynet.__file__)"],
        work,
        env,
    )
    assert str(ROOT) not in where and all(p.startswith(str(installed.parent)) for p in where.split())

    safetynet = installed / "safetynet"
    _run(
        [
            safetynet,
            "generate",
            "--month",
            MONTH,
            "--households",
            "200",
            "--seed",
            "1",
            "--landing",
            "landing",
        ],
        work,
        env,
    )
    ran = _run([safetynet, "run", "--month", MONTH, "--landing", "landing", "--home", "home"], work, env, 900)
    assert f"{MONTH}: success" in ran
    leads = _run([safetynet, "query", "--home", "home", "select count(*) as n from v_leads"], work, env)
    assert leads.strip()
    assert list((work / "home" / "exports" / MONTH).glob("*/*/*"))  # the townships' files

    shown = _run([safetynet, "settings"], work, env).splitlines()
    sources = {
        line.split()[0]: line.split()[1:3]
        for line in shown
        if line.split()[:1] in (["rules"], ["warehouse"], ["expectations"], ["dags"])
    }
    assert {name: source for name, (source, _) in sources.items()} == dict.fromkeys(sources, "package")
    assert len(sources) == 4 and all("site-packages/safetynet/_data/" in path for _, path in sources.values())
    # the same code, rules and suites as this checkout: the same versions in the build id
    assert _run([installed / "python", "-c", VERSIONS], work, env).split() == [
        code_version(),
        rule_version(),
        suite_version(),
    ]
