"""The auditors' sealed connection: it reads the lake and nothing else.

DuckDB's own settings do most of it: the warehouse is attached read-only, `file_search_path` is the
home (so the views' relative paths find this home's lake), `allowed_directories` is the lake, external
access is off and the configuration is locked. Measured on DuckDB 2.0, that still lets `copy ... to`
and `export database` write inside the lake, `load` a bundled extension and `create temp table`, so
only statements DuckDB reports as SELECT are run at all (`describe`, `show`, `summarize`, `from x`
and `with ... select` are SELECTs; `explain analyze` would execute what it explains and is refused).
The lake's files are also read-only on disk (`jobs/lake.seal`), and in a deployment owned by
another account than the auditors' (README, Deployment).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from safetynet.errors import SafetynetError


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
            raise RefusedStatement("one statement at a time")
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


def warehouse_file(root: Path, commit: int | None = None) -> Path:
    root = root.resolve()
    if commit is None:
        if not (root / "current").is_symlink():
            raise NoWarehouse(f"{root}: no month published yet (run one: safetynet run ...)")
        return root / "current" / "safetynet.duckdb"
    path = root / "commits" / str(commit) / "safetynet.duckdb"
    if not path.exists():
        known = sorted(int(p.name) for p in (root / "commits").glob("[0-9]*"))
        raise NoWarehouse(f"{root}: no commit {commit} (commits: {', '.join(map(str, known)) or 'none'})")
    return path


def connect(root: Path, commit: int | None = None) -> SealedConnection:
    """The current warehouse of `root`, or the one an earlier commit published (time travel)."""
    root = root.resolve()
    # Resolve `current` once: the connection keeps this commit even if a new one lands meanwhile.
    path = warehouse_file(root, commit).resolve()
    con = duckdb.connect(":memory:", config={"file_search_path": str(root)})
    con.execute(f"attach '{path}' as warehouse (read_only)")
    con.execute("use warehouse")
    lake = root / "lake"
    con.execute("set allowed_directories = ?", [[f"{lake}/", "lake/"]])
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")
    return SealedConnection(con)
