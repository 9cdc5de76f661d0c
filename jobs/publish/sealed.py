"""The auditors' sealed connection: it reads the lake and nothing else.

DuckDB's own settings do most of it: the views are built over this home's lake (absolute paths)
in an in-memory database, `allowed_directories` is the lake, nothing spills to disk, external
access is off and the configuration is locked. Measured on DuckDB 2.0, that still lets `copy ... to`
and `export database` write inside the lake, `load` a bundled extension and `create temp table`, so
only statements DuckDB reports as SELECT are run at all (`describe`, `show`, `summarize`, `from x`
and `with ... select` are SELECTs; `explain analyze` would execute what it explains and is refused).
The lake's files are also read-only on disk (`safetynet/lake.seal`), and in a deployment owned by
another account than the auditors' (docs/data-team/permissions.md).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from jobs.publish.warehouse import run_log_statements, statements
from safetynet.errors import SafetynetError
from safetynet.lake import Home, read_catalog


class RefusedStatement(SafetynetError):
    """A statement the auditors' connection does not run; the message is one line."""


class NoWarehouse(SafetynetError):
    """No month has been published in this home yet, or no such commit."""


class SealedConnection:
    """A DuckDB connection that runs SELECT statements only, over the lake only."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con

    def check(self, sql: str) -> None:
        try:
            statements = self._con.extract_statements(sql)
        except duckdb.Error as exc:
            raise RefusedStatement(str(exc).splitlines()[0]) from None
        if not statements:
            raise RefusedStatement("no statement given")
        if len(statements) > 1:
            raise RefusedStatement(
                "one statement at a time (a PIVOT without an IN (...) list counts as several: "
                "list the values)"
            )
        kind = statements[0].type
        if kind != duckdb.StatementType.SELECT:
            raise RefusedStatement(
                f"refused: {kind.name.lower()} statements are not allowed; the warehouse is read-only "
                "and reads the lake only (select, with ... select, describe, show, summarize)"
            )

    def sql(self, sql: str, params: list | None = None) -> duckdb.DuckDBPyRelation:
        self.check(sql)
        return self._con.sql(sql, params=params)

    def execute(self, sql: str, params: list | None = None) -> duckdb.DuckDBPyConnection:
        self.check(sql)
        return self._con.execute(sql, params or [])

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> SealedConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def connect(root: Path, commit: int | None = None) -> SealedConnection:
    """The warehouse of `root` as its current commit published it, or as commit N did (time travel).

    The views are built here, in memory, from the commit's catalog with this home's absolute paths:
    a relative path would be looked up in the current directory first, so an auditor working in
    another copy of a home would silently read that copy's lake."""

    root = root.resolve()
    home = Home(root)  # reads `current` once: the connection keeps this commit whatever lands later
    if home.commit == 0:
        raise NoWarehouse(f"{root}: no month published yet (run one: safetynet run ...)")
    seq = home.commit if commit is None else commit
    if not 1 <= seq <= home.commit:
        raise NoWarehouse(f"{root}: no commit {commit} (commits: 1 to {home.commit}; see v_runs.commit)")
    return _sealed(root, statements(home, read_catalog(root, seq), ordered=True))


def connect_run_log(root: Path) -> SealedConnection:
    """Before the home's first month is published: `v_runs` alone, over the run log (the first
    month waiting for its marker, or failed), sealed as the warehouse is."""

    root = root.resolve()
    home = Home(root)
    if home.commit or not any((home.lake / "_runs").glob("*.json")):
        raise NoWarehouse(
            f"{root}: no month published yet and no run in its run log (run one: safetynet run ...)"
        )
    return _sealed(root, run_log_statements(home))


def _sealed(root: Path, statements: list[str]) -> SealedConnection:
    con = duckdb.connect(":memory:")
    for sql in statements:
        con.execute(sql)
    con.execute("set temp_directory = ''")  # no spilling to a folder in the current directory
    con.execute("set allowed_directories = ?", [[f"{root / 'lake'}/"]])
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")
    return SealedConnection(con)


def connect_read_only(home: Home, commit: int | None = None) -> duckdb.DuckDBPyConnection:
    """A sealed read-only connection to the current warehouse, or to an earlier commit's."""
    return connect(home.root, commit)


def read(con, sql: str, params: list | None = None):
    """Run SQL and return a Polars frame (through Arrow, no copy of the values)."""
    import polars as pl  # deferred: the sealed connection serves the CLI, which starts without Polars

    return pl.from_arrow(con.sql(sql, params=params).to_arrow_table())
