"""Deployment settings (safetynet/settings.py) and where the package data is found (safetynet/resources.py)."""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from safetynet import resources
from safetynet.errors import SetupError
from safetynet.settings import PREFIX, Settings, described, settings
from safetynet.versions import content_hash

ALL = [PREFIX + name.upper() for name in Settings.model_fields]


@pytest.fixture
def clean(monkeypatch):
    """An environment with no SAFETYNET_* variable."""
    for name in ALL:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("SAFETYNET_WORKERS", "3", "workers", 3),
        ("SAFETYNET_WORKERS", "", "workers", None),  # empty is unset, as `if setting:` read it
        ("SAFETYNET_DUCKDB_THREADS", "1", "duckdb_threads", 1),
        ("SAFETYNET_DUCKDB_MEMORY", "64MB", "duckdb_memory", "64MB"),
        ("SAFETYNET_DUCKDB_MEMORY", "", "duckdb_memory", "3GB"),
        ("SAFETYNET_EXPORT_SLOTS", "4", "export_slots", 4),
        ("SAFETYNET_BATCH_ROWS", "100", "batch_rows", 100),
        ("SAFETYNET_TASK_RETRIES", "0", "task_retries", 0),
        ("SAFETYNET_RETRY_DELAY", "0", "retry_delay", 0.0),
        ("SAFETYNET_RULES", "/srv/rules", "rules", Path("/srv/rules")),
        ("SAFETYNET_LANDING", "/srv/landing", "landing", "/srv/landing"),
        ("SAFETYNET_PORTAL_HTTPS_ONLY", "1", "portal_https_only", True),
        ("SAFETYNET_PORTAL_HTTPS_ONLY", "", "portal_https_only", False),  # serve sets "" for no
        ("SAFETYNET_PORTAL_LANDING", "", "portal_landing", None),
        ("SAFETYNET_FAULT", "assess:leads:kill", "fault", "assess:leads:kill"),
        ("SAFETYNET_FAULT_ONCE", "", "fault_once", None),
    ],
)
def test_a_variable_is_read_typed_and_empty_means_unset(clean, variable, value, field, expected):
    clean.setenv(variable, value)
    assert getattr(settings(), field) == expected


def test_defaults_are_todays(clean):
    current = settings()
    assert (current.export_slots, current.batch_rows, current.duckdb_memory) == (2, 500_000, "3GB")
    assert (current.task_retries, current.retry_delay, current.workers, current.rules) == (
        2,
        30.0,
        None,
        None,
    )


def test_a_variable_set_while_the_process_runs_is_read_at_the_next_call(clean):
    """Parsed once per set of values, yet a test's monkeypatch (or serve's workers) is seen at once."""
    first = settings()
    assert settings() is first  # parsed once
    clean.setenv("SAFETYNET_WORKERS", "5")
    assert settings().workers == 5
    clean.delenv("SAFETYNET_WORKERS")
    assert settings().workers is None and settings() is first


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SAFETYNET_WORKERS", "many"),
        ("SAFETYNET_BATCH_ROWS", "1e"),
        ("SAFETYNET_RETRY_DELAY", "soon"),
        ("SAFETYNET_PORTAL_HTTPS_ONLY", "maybe"),
    ],
)
def test_a_wrong_value_is_an_error_naming_the_variable_and_the_value(clean, variable, value):
    clean.setenv(variable, value)
    with pytest.raises(SetupError, match=f"{variable}='{value}': "):
        settings()


def test_each_setting_says_where_it_came_from_and_what_it_does(clean):
    clean.setenv("SAFETYNET_DUCKDB_MEMORY", "1GB")
    rows = {name: (value, source, text) for name, value, source, text in described(settings())}
    assert list(rows) == ALL
    assert rows["SAFETYNET_DUCKDB_MEMORY"][:2] == ("1GB", "environment")
    assert rows["SAFETYNET_BATCH_ROWS"][:2] == ("500000", "default")
    assert rows["SAFETYNET_HOME"][:2] == ("", "default")
    assert all(text for _, _, text in rows.values())


def _tree(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
    return root


@pytest.mark.parametrize(
    ("packaged", "checkout", "given", "expected"),
    [
        ("rules", "rules", None, "package"),  # an installed wheel: its own copy
        (None, "rules", None, "checkout"),  # a checkout (its package has no _data)
        ("rules", "rules", "mine", "settings"),  # SAFETYNET_RULES wins over both
        (None, "rules", "mine", "settings"),
    ],
)
def test_a_folder_comes_from_the_settings_then_the_package_then_the_checkout(
    tmp_path, clean, packaged, checkout, given, expected
):
    package = _tree(tmp_path / "site" / "safetynet" / resources.PACKAGED, *filter(None, [packaged]))
    repo = _tree(tmp_path / "repo", *filter(None, [checkout]))
    clean.setattr(resources, "_packaged_root", lambda: package)
    clean.setattr(resources, "CHECKOUT", repo)
    if given:
        clean.setenv("SAFETYNET_RULES", str(_tree(tmp_path, given) / given))
    path, source = resources.located("rules")
    assert source == expected
    assert path == {"package": package, "checkout": repo, "settings": tmp_path}[expected] / (given or "rules")


def test_a_folder_found_nowhere_is_an_error_naming_both_places(tmp_path, clean):
    clean.setattr(resources, "_packaged_root", lambda: tmp_path / "site")
    clean.setattr(resources, "CHECKOUT", tmp_path / "repo")
    with pytest.raises(SetupError, match=r"warehouse/ is neither in the installed package .*site/warehouse"):
        resources.folder("warehouse")
    with pytest.raises(ValueError, match="'templates' is not package data"):
        resources.folder("templates")


def test_in_a_checkout_the_repository_folders_are_used(clean):
    repo = Path(__file__).resolve().parent.parent
    assert {name: resources.located(name) for name in resources.FOLDERS} == {
        name: (repo / name, "checkout") for name in resources.FOLDERS
    }
    assert resources.lock_file() == repo / "uv.lock"


@pytest.mark.parametrize(
    ("files", "exclude_folders", "same_as"),
    [
        ({"a.py": "1", "_data/dags/d.py": "2"}, ("_data",), {"a.py": "1"}),  # the wheel's data is no code
        ({"a.py": "1", "sub/b.py": "2"}, ("_data",), {"a.py": "1", "sub/b.py": "2"}),
        ({"a.py": "1", "_data/d.py": "2"}, (), {"a.py": "1", "_data/d.py": "2"}),
    ],
)
def test_the_code_hash_leaves_out_the_package_data(tmp_path, files, exclude_folders, same_as):
    def tree(name: str, contents: dict[str, str]) -> Path:
        for relative, text in contents.items():
            (tmp_path / name / relative).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name / relative).write_text(text)
        return tmp_path / name

    assert content_hash(tree("left", files), "*.py", exclude_folders=exclude_folders) == content_hash(
        tree("right", same_as), "*.py"
    )


def test_the_settings_command_prints_each_setting_its_value_and_its_source(clean):
    clean.setenv("SAFETYNET_WORKERS", "3")
    done = CliRunner().invoke(app, ["settings"])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    table = {line.split()[0]: line.split() for line in lines if line.startswith(PREFIX)}
    assert list(table) == ALL
    assert table["SAFETYNET_WORKERS"][1:3] == ["3", "environment"]
    assert table["SAFETYNET_BATCH_ROWS"][1:3] == ["500000", "default"]
    assert table["SAFETYNET_HOME"][1:3] == ["-", "default"]
    assert any(line.split()[:2] == ["rules", "checkout"] for line in lines)
    # the deployment values kept in rules/: the schedule and the portal's limits
    assert any(line.split()[:3] == ["release/schedule.yaml", "deadline_days", "40.0"] for line in lines)
    assert any(line.split()[:2] == ["portal/portal.yaml", "upload_max_rows"] for line in lines)


def test_a_portal_worker_without_its_home_is_told_how_to_start(clean):
    from portal.app import from_env

    with pytest.raises(SetupError, match="SAFETYNET_PORTAL_HOME is not set"):
        from_env()


def test_a_portal_date_is_refused_unless_the_portal_is_a_demo(clean, tmp_path):
    from portal.app import create_app

    clean.setenv("SAFETYNET_PORTAL_TODAY", "2026-09-20")
    with pytest.raises(SetupError, match="SAFETYNET_PORTAL_TODAY=2026-09-20 is set on a portal that is not"):
        create_app(tmp_path)
    done = CliRunner().invoke(app, ["serve", "--home", str(tmp_path), "--port", "1"])
    assert done.exit_code == 2 and "SAFETYNET_PORTAL_TODAY=2026-09-20" in done.output
    clean.setenv("SAFETYNET_PORTAL_DEMO", "1")
    assert str(create_app(tmp_path).state.today()) == "2026-09-20"


def test_the_settings_command_names_a_wrong_value(clean):
    clean.setenv("SAFETYNET_BATCH_ROWS", "lots")
    done = CliRunner().invoke(app, ["settings"])
    assert done.exit_code == 2
    assert "SAFETYNET_BATCH_ROWS='lots'" in done.output


def test_the_settings_command_does_not_print_the_alert_command(clean):
    """An alert command often carries a chat robot's webhook key: `settings` says it is set, no more."""
    clean.setenv("SAFETYNET_ALERT_COMMAND", "curl -d @- https://robot.example/send?key=s3cr3t")
    done = CliRunner().invoke(app, ["settings"])
    assert done.exit_code == 0, done.output
    assert "s3cr3t" not in done.output and "(set, not shown)" in done.output


def test_a_wrong_setting_breaks_only_what_reads_it(clean):
    """The rules' module finds its folder at import: a typo in another setting must not stop every
    command (the data team runs `safetynet settings` to find it)."""
    clean.setenv("SAFETYNET_TASK_RETRIES", "two")
    done = subprocess.run(
        [sys.executable, "-c", "import safetynet.rules, jobs.publish.warehouse; print('imported')"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "imported" in done.stdout, done.stderr[-2000:]


def test_celery_workers_import_libraries_once_but_none_of_this_repositorys_code():
    """A worker keeps what it imported for its whole life: this repository's modules would outlive a
    change of their files, from which the build's code version is taken (safetynet/versions.py)."""
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    from safetynet.celery_config import CELERY_CONFIG, PRELOADED

    assert {k: v for k, v in CELERY_CONFIG.items() if k != "imports"} == DEFAULT_CELERY_CONFIG
    assert CELERY_CONFIG["imports"] == PRELOADED and "great_expectations" in PRELOADED
    own = {"cli", "dags", "jobs", "portal", "safetynet", "synthetic"}
    assert not {name.split(".")[0] for name in PRELOADED} & own
    assert all(importlib.util.find_spec(name.split(".")[0]) for name in PRELOADED)


# the preloading process, then a task forked from it: which threads each has (issue 34 review)
FORKED_TASK = """
import json, os, sys, threading
import safetynet
from safetynet.preload import preload

def threads():
    return [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]

preload()
seen = {"python_threads": threading.active_count(), "modules": sorted({"great_expectations", "polars"} & set(sys.modules))}
reader, writer = os.pipe()
if os.fork() == 0:
    import polars as pl

    pl.DataFrame({"a": range(100_000)}).sum()
    os.write(writer, json.dumps(threads()).encode())
    os._exit(0)
seen["task"] = json.loads(os.read(reader, 10_000))
print(json.dumps(seen))
"""


def test_a_task_forked_after_the_preload_returns_freed_pages_itself():
    """Polars imported before the fork started jemalloc's background threads in the scheduler, and a
    forked task had none (jemalloc turns them off in a child): the page return that
    `safetynet/__init__.py` sets up was lost in every task. Now the task imports Polars and has
    them; Great Expectations is still preloaded, and no Python thread runs before the fork."""
    done = subprocess.run([sys.executable, "-c", FORKED_TASK], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    assert "jemalloc_bg_thd" in seen["task"], seen["task"]
    assert seen["python_threads"] == 1 and seen["modules"] == ["great_expectations"]


def test_the_local_executor_imports_the_libraries_before_it_forks_its_workers(monkeypatch):
    """Each task's process is forked from a LocalExecutor worker, forked from the scheduler: what
    the scheduler imported before is there at once in every task (issue 34: Great Expectations
    took seconds of each ingest task)."""
    from airflow.executors.local_executor import LocalExecutor

    from safetynet import local_executor

    calls = []
    monkeypatch.setattr(local_executor, "preload", lambda: calls.append("preload"))
    monkeypatch.setattr(LocalExecutor, "start", lambda self: calls.append("fork the workers"))
    local_executor.PreloadedLocalExecutor(parallelism=1).start()
    assert calls == ["preload", "fork the workers"]


def test_airflow_forks_task_processes_without_a_new_interpreter():
    """The preload only reaches a task whose process is forked, not exec'd: Airflow 3.3's task
    supervisor execs a new interpreter on macOS only (and, in later Airflow, when asked to)."""
    from airflow.configuration import conf
    from airflow.sdk.execution_time import supervisor

    assert sys.platform not in supervisor._FORK_EXEC_PLATFORMS
    assert not conf.getboolean("core", "execute_tasks_new_python_interpreter", fallback=False)
    assert multiprocessing.get_start_method(allow_none=False) == "fork"  # the LocalExecutor's workers
