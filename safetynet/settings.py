"""The deployment's settings: where a run reads and writes, how many processes and threads it uses,
how it fails on purpose in tests. Policy lives in `rules/`; nothing here changes what a month computes.

Each setting is an environment variable `SAFETYNET_<NAME>` (an empty value counts as unset), typed
and described once here and printed by `safetynet settings`. `settings()` parses them once per
process for a given set of values: a variable set while the process runs (a test's monkeypatch,
`safetynet serve` for its workers) is seen at the next call, as `os.environ` was, and a module that
read a variable when it was imported (`workers.EXPORT_SLOTS`, `versions.RULES_DIR`) still reads
its setting then.

Two variables are not settings: `SAFETYNET_EMBEDDED` is a mark (the id of the process that runs
the DAG embedded, set for it and its children, `safetynet/embedded.py`), and `safetynet serve
--workers N` hands its options to its worker processes through `SAFETYNET_PORTAL_*`, which the
workers read here.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from safetynet.errors import SetupError

PREFIX = "SAFETYNET_"


class Settings(BaseSettings):
    """Every `SAFETYNET_*` variable the product reads (see the module docstring for the two marks)."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, env_ignore_empty=True, frozen=True)

    # where a run reads and writes
    landing: str | None = Field(
        None, description="Landing folder of the deliveries when the DAG is not given one (a param)"
    )
    home: str | None = Field(None, description="Home of the lake, builds and warehouse when not given one")
    rules: Path | None = Field(
        None,
        description="Another rules folder, to try a change before committing it (default: the package's)",
    )
    # processes, threads and memory of a task
    workers: int | None = Field(
        None,
        description="Processes a task draws documents with (default: its pool slots, capped by the CPUs)",
    )
    export_slots: int = Field(2, description="Pool slots of each prefecture's export task (read at import)")
    batch_rows: int = Field(
        500_000, description="Rows an ingest reads, checks and places at a time (its memory follows it)"
    )
    duckdb_threads: int | None = Field(
        None, description="Threads of a task's DuckDB (default: the CPUs this process may use)"
    )
    duckdb_memory: str = Field("3GB", description="Memory cap of the means test's DuckDB (it spills past it)")
    # documents and alerts
    cjk_font: str | None = Field(
        None,
        description="The Chinese TrueType font of the PDF reports (default: the first Debian font found)",
    )
    alert_command: str | None = Field(
        None,
        description="A command handed each alert as JSON on standard input (mail, chat)",
        json_schema_extra={"secret": True},  # often holds a chat robot's webhook key
    )
    # retries of the DAG's tasks (read when the DAG file is parsed)
    task_retries: int = Field(2, description="Retries of each DAG task")
    retry_delay: float = Field(30.0, description="Seconds between a task's retries")
    # the township portal, as `safetynet serve --workers N` hands it to each worker process
    portal_home: Path | None = Field(None, description="Home the portal serves (set by serve --workers)")
    portal_landing: Path | None = Field(
        None, description="Landing the portal's uploads go to (set by serve --workers)"
    )
    portal_https_only: bool = Field(
        False, description="Session cookie over HTTPS only (set by serve --workers --https-only)"
    )
    portal_today: dt.date | None = Field(
        None,
        description="The portal's date instead of today's (tests and demos only, with SAFETYNET_PORTAL_DEMO)",
    )
    portal_demo: bool = Field(
        False, description="A demo or test portal (serve --demo-accounts): SAFETYNET_PORTAL_TODAY allowed"
    )
    # fault points, for the tests of a failure anywhere (jobs/faults.py)
    fault: str = Field("", description="Fail at <task>:<point>[:raise|kill] (tests only)")
    fault_once: Path | None = Field(
        None, description="...only while this file does not exist; it is made when the fault fires"
    )


def settings() -> Settings:
    """The settings from the environment as it is now, parsed once for each set of values."""
    return _parsed(tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith(PREFIX))))


@functools.lru_cache(maxsize=16)
def _parsed(environment: tuple[tuple[str, str], ...]) -> Settings:
    """`environment` is the cache's key: the `SAFETYNET_*` variables `Settings()` reads."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            f"{PREFIX}{str(error['loc'][0]).upper()}={error['input']!r}: {error['msg']}"
            for error in exc.errors()
        ]
        raise SetupError("; ".join(problems)) from None


def described(current: Settings) -> list[tuple[str, str, str, str]]:
    """(variable, value, where it came from, description) of each setting, in declaration order."""
    rows = []
    for name, field in Settings.model_fields.items():
        value = getattr(current, name)
        source = "environment" if name in current.model_fields_set else "default"
        shown = "" if value is None else str(value)
        if shown and (field.json_schema_extra or {}).get("secret"):
            shown = "(set, not shown)"
        rows.append((PREFIX + name.upper(), shown, source, field.description or ""))
    return rows
