"""The auditors' DuckDB warehouse: views over the Parquet lake, rebuilt after every publish.

DuckDB lets one process write a database file, and a writer locks readers out. The warehouse file
therefore holds only views; the data stay in the lake's Parquet files. A refresh builds a new file
beside the old one and renames it into place: a reader that has the old file open keeps reading it,
the next one opens the new file, and no read-only query is ever refused while a month loads.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import duckdb

from jobs.lake import Home
from safetynet.contract import SOURCES

VIEWS_DIR = Path(__file__).resolve().parent.parent / "warehouse" / "views"
DUCKDB_TYPES = {"date": "date", "amount": "decimal(16, 2)", "int": "integer"}


def _source_view(home: Home, source: str) -> str:
    """`lake_<source>`: the accepted rows of every month, with their file and row of origin."""
    spec = SOURCES[source]
    if any((home.lake / source).glob("month=*/data.parquet")):
        body = (
            f"select * from read_parquet('{home.lake}/{source}/*/data.parquet', "
            "hive_partitioning = true, union_by_name = true)"
        )
    else:  # never delivered: an empty view with the contract's columns, not a missing table
        cols = ", ".join(
            f"cast(null as {DUCKDB_TYPES.get(c.type, 'varchar')}) as {c.name}" for c in spec.columns
        )
        body = (
            f"select cast(null as varchar) as month, {cols}, cast(null as varchar) as source_file, "
            "cast(null as bigint) as source_row, cast(null as varchar) as run_id where false"
        )
    return f"create or replace view lake_{source} as {body}"


def _has_files(home: Home, dataset: str) -> bool:
    return any((home.lake / dataset).glob("month=*/*.parquet"))


def statements(home: Home) -> list[str]:
    """Source views first (the others read them), then every view file whose data exist yet."""
    out = [_source_view(home, s) for s in SOURCES]
    if _has_files(home, "_household_month"):
        out.append(
            f"create or replace view lake_household_month as select * from read_parquet("
            f"'{home.lake}/_household_month/*/data.parquet', hive_partitioning = true, union_by_name = true)"
        )
    # The means test's income computation and assets, as the checks saw them.
    for dataset in ("_means_members", "_means_households", "_means_assets"):
        if _has_files(home, dataset):
            out.append(
                f"create or replace view {dataset.lstrip('_')} as select * from read_parquet("
                f"'{home.lake}/{dataset}/*/data.parquet', hive_partitioning = true, union_by_name = true)"
            )
    for path in sorted(VIEWS_DIR.glob("*.sql")):
        sql = path.read_text(encoding="utf-8")
        required = re.findall(r"^-- requires: (\S+)", sql, flags=re.M)
        if all(_has_files(home, d) for d in required):
            out.append(sql.replace("{lake}", str(home.lake)))
    return out


def refresh(home: Home) -> Path:
    target = home.warehouse
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    con = duckdb.connect(str(tmp))
    try:
        for sql in statements(home):
            con.execute(sql)
    finally:
        con.close()
    os.replace(tmp, target)
    return target


def connect_read_only(home: Home) -> duckdb.DuckDBPyConnection:
    if not home.warehouse.exists():
        raise FileNotFoundError(f"{home.warehouse}: no warehouse yet (run a month first: safetynet run ...)")
    return duckdb.connect(str(home.warehouse), read_only=True)


def read(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """Run SQL and return a Polars frame (through Arrow, no copy of the values)."""
    import polars as pl

    return pl.from_arrow(con.sql(sql, params=params).to_arrow_table())
