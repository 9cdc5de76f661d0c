"""The manual stays true: its generated pages are what the code makes now, every view and column is
described, every module is on the layout page, every page is in the navigation, and the real-service
test runs with the Airflow settings the production page lists."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("docs_gen", ROOT / "docs" / "gen.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)
sys.path.insert(0, str(ROOT / "tests"))
import services  # noqa: E402  (tests/services.py, beside this file)

GENERATED = [*gen.PAGES, *gen.SECTIONS]


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return gen.generated()


@pytest.mark.parametrize("page", GENERATED)
def test_a_generated_page_is_what_the_code_makes_now(generated, page):
    on_disk = (ROOT / "docs" / page).read_text(encoding="utf-8")
    assert on_disk == generated[page], f"docs/{page} is out of date: run `make docs` (python docs/gen.py)"


def test_every_command_has_its_section():
    import typer

    from cli.main import app

    page = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        assert f"## `safetynet {name}`" in page, f"docs/reference/cli.md: no section for `safetynet {name}`"
        for sub in getattr(command, "commands", {}):
            assert f"### `safetynet {name} {sub}`" in page, (
                f"docs/reference/cli.md: no `safetynet {name} {sub}`"
            )


def test_every_view_and_column_is_described():
    docs = gen.view_docs()  # raises, naming the yml and the column, when one is not
    assert sorted(docs) == sorted(p.stem for p in gen.VIEWS.glob("*.sql"))


VIEW_YML = {
    "complete": ("description: one row per x\ncolumns:\n  - name: a\n    description: the a\n", None),
    "no yml": (None, "v_x.yml: missing"),
    "no view description": ("columns:\n  - name: a\n    description: the a\n", "no description of the view"),
    "a column without description": (
        "description: d\ncolumns:\n  - name: a\n    description: the a\n  - name: b\n",
        "column b has no description",
    ),
    "an empty column description": (
        "description: d\ncolumns:\n  - name: a\n    description: ' '\n",
        "column a",
    ),
    "no columns": ("description: d\n", "no columns"),
    "a column twice": (
        "description: d\ncolumns:\n  - name: a\n    description: x\n  - name: a\n    description: y\n",
        "described twice",
    ),
    "an unknown key": (
        "description: d\ntests: []\ncolumns:\n  - name: a\n    description: x\n",
        "unknown keys",
    ),
}


@pytest.mark.parametrize("case", VIEW_YML)
def test_view_yml_checks(case, tmp_path, monkeypatch):
    text, problem = VIEW_YML[case]
    views = tmp_path / "warehouse" / "views"
    views.mkdir(parents=True)
    (views / "v_x.sql").write_text("create view v_x as select 1 as a\n")
    if text is not None:
        (views / "v_x.yml").write_text(text)
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    monkeypatch.setattr(gen, "VIEWS", views)
    if problem is None:
        assert list(gen.view_docs()) == ["v_x"]
    else:
        with pytest.raises(gen.DocError, match=problem) as raised:
            gen.view_docs()
        assert "warehouse/views/v_x.yml" in str(raised.value)


def test_the_views_columns_are_the_warehouses(looped):
    """The columns each yml describes are those the published warehouse has, in its order."""
    described = {view: [c["name"] for c in doc["columns"]] for view, doc in gen.view_docs().items()}
    actual = gen.warehouse_columns(looped)
    for view, columns in actual.items():
        missing = [c for c in columns if c not in described[view]]
        extra = [c for c in described[view] if c not in columns]
        assert not missing, f"warehouse/views/{view}.yml: columns not described: {missing}"
        assert not extra, f"warehouse/views/{view}.yml: describes columns the view lacks: {extra}"
        assert described[view] == columns, f"warehouse/views/{view}.yml: columns not in the view's order"


def test_every_module_is_on_the_layout_page():
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    page = (ROOT / "docs" / "reference" / "layout.md").read_text(encoding="utf-8")
    listed, folder, folders = set(), None, []
    for line in page.splitlines():
        if line.startswith("## `"):
            folder = line.strip("# `").rstrip("/")
            folders.append(folder)
        elif line.startswith("| `") and folder:
            listed.add(f"{folder}/{line.split('`')[1]}")
    assert len(folders) == len(set(folders)), "docs/reference/layout.md: a folder listed in two places"
    missing = sorted(set(tracked) - listed)
    assert not missing, f"docs/reference/layout.md lacks {missing}: run `make docs`"


def _nav_pages(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [p for value in node.values() for p in _nav_pages(value)]
    return [p for item in node for p in _nav_pages(item)]


def test_every_page_is_in_the_navigation():
    nav = _nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])
    pages = {
        p.relative_to(ROOT / "docs").as_posix()
        for p in (ROOT / "docs").rglob("*.md")
        if not p.name.endswith(".intro.md")
    }
    assert not pages - set(nav), f"mkdocs.yml nav lacks {sorted(pages - set(nav))}"
    assert not set(nav) - pages, f"mkdocs.yml nav names missing pages {sorted(set(nav) - pages)}"


def test_the_production_page_names_what_an_operator_had_to_find_alone():
    required = {e["name"] for e in gen.airflow_settings() if e["required"]}
    for name in (
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__API__BASE_URL",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CORE__EXECUTOR",
    ):
        assert name in required, f"docs/data-team/airflow-settings.yml: {name} is not listed as required"


@pytest.mark.parametrize(("page", "scope"), [("airflow.md", "all"), ("executors.md", "celery")])
def test_the_pages_shell_example_exports_every_required_setting(page, scope):
    exported = set()
    for line in (ROOT / "docs" / "data-team" / page).read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            exported |= {word.split("=")[0] for word in line.split("#")[0].split()[1:] if "=" in word}
    for entry in gen.airflow_settings():
        if entry["required"] and entry["scope"] == scope:
            assert entry["name"] in exported, (
                f"docs/data-team/{page}: the example does not set {entry['name']}"
            )


@pytest.mark.parametrize("broker", [None, "redis://127.0.0.1:1/0"])
def test_the_real_services_run_with_the_settings_the_page_lists(broker, tmp_path):
    env = services.airflow_env("http://127.0.0.1:1", "postgresql://db", tmp_path, {}, broker)
    entries = gen.airflow_settings()
    for entry in entries:
        if entry["scope"] == "all" or (entry["scope"] == "celery" and broker):
            assert entry["name"] in env, f"tests/services.py does not set {entry['name']}"
    listed = {entry["name"] for entry in entries}
    own = {k for k in env if k.startswith(("AIRFLOW", "GX_")) and k not in services.os.environ}
    assert not own - listed, f"docs/data-team/airflow-settings.yml lacks {sorted(own - listed)}"
    assert env["AIRFLOW__CORE__EXECUTOR"] == ("CeleryExecutor" if broker else services.LOCAL_EXECUTOR)
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:1/execution/"


def test_the_manual_builds_offline_and_strict(tmp_path):
    """mkdocs --strict: a broken link or a page left out of the navigation fails the build."""
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "mkdocs"),
            "build",
            "--strict",
            "--site-dir",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**services.os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _bench(date: str, seconds: float) -> dict:
    stages = [
        {"stage": "floor: read every delivery once", "seconds": 2.0, "rows": 100, "peak_mb": 512},
        {"stage": "ingest", "seconds": seconds, "rows": 100, "peak_mb": 1024},
    ]
    return {"kind": "bench", "date": date, "commit": "abc", "machine": {"cpus": 2}, "households": 10}, stages


@pytest.mark.parametrize(
    ("files", "shown", "hidden"),
    [
        ({}, "No stage figures committed yet", "| ingest |"),
        ({"bench-2026-12-01-10.json": "2026-12-01"}, "| ingest | 8.0 | 12 | 1.00 | 4.00 |", "2026-11-01"),
        (
            {"bench-2026-11-01-10.json": "2026-11-01", "bench-2026-12-01-10.json": "2026-12-01"},
            "bench-2026-12-01-10.json`, 2026-12-01",
            "2026-11-01",
        ),
    ],
)
def test_the_benchmark_page_shows_the_latest_json(files, shown, hidden, tmp_path, monkeypatch):
    import json

    for name, date in files.items():
        record, stages = _bench(date, 8.0)
        (tmp_path / name).write_text(json.dumps(record | {"month": "2026-09", "stages": stages}))
    monkeypatch.setattr(gen, "RESULTS", tmp_path)
    monkeypatch.setattr(gen, "ROOT", tmp_path.parent)
    page = gen.benchmarks_page()
    assert shown in page
    assert hidden not in page


def test_make_bench_records_machine_date_and_commit(tmp_path):
    import json

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import record  # benchmarks/record.py

    stages = [{"stage": "floor", "seconds": 1.5, "rows": 10, "peak_mb": 100.0}]
    path = record.write("bench", {"households": 10, "stages": stages}, "10", folder=tmp_path)
    written = json.loads(path.read_text())
    assert path.name.startswith("bench-") and path.name.endswith("-10.json")
    assert written["stages"] == stages
    assert written["machine"]["cpus"] >= 1 and written["date"] and written["commit"]
