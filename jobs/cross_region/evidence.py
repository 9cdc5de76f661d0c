"""Answers from other provinces as means-test evidence, and what still waits for one (CONTRACT.md,
"Cross-region checks"; issue 35, items 2 and 4).

The month's outgoing ledger (`_xr_requests`, written by the `record` step: jobs/cross_region/ledger.py)
and the accepted `cross_region_answers` are read by the means test's models
(warehouse/means_test/models/02_means_cross_region.sql, 03_means_assets.sql): an answered item found
(是) stands as evidence like a local delivery for `evidence_months` (rules/cross_region/), the latest
answer per person and item winning; an item asked and not answered is 待异地核对, never "nothing
registered". A member registered in another prefecture of the province (跨市) has the evidence about
him marked so. This module gives the models their variables and the ledger's view, and flags each
doubtful record whose evidence came from another province (`cross_province`) or is about a member
registered in another prefecture (`cross_city`).

Which answered items are evidence for which check: 不动产 (value: the area) is a home toward 多套住房
(multiple_homes: the answer names no usage), 存款 (value: the balance) toward the financial-asset
limit, 机动车 a car (private_car: the answer names no type, the check asks to verify the exempt cases
at home), 市场主体 an active entity (business). 社保, 公积金 and 死亡 are shown in the report's 异地核对
table but feed no check: an answer is one value with no scheme, status or date, while the
employee-insurance check and the counted income need the scheme (城镇职工) and the deposit status
(正常), and the deaths checks need the date of death to place it in a month.
"""

from __future__ import annotations

import duckdb
import polars as pl

from safetynet.contract import CROSS_REGION_ITEMS
from safetynet.lake import Home
from safetynet.months import add_months
from safetynet.rules import load_cross_region

LEDGER = "_xr_requests"  # the outgoing ledger as of the month's end (interface point 4: ledger.REQUESTS)
PENDING = ("待回复", "逾期")  # a request's statuses with items still waiting for an answer
PENDING_LABEL = "待异地核对"
NO_DATA = "无数据"  # an answer's found: the other province has no data on the item
NO_DATA_LABEL = "异地无数据"  # such an item, in the lists and reports: not known, never "nothing registered"
CROSS_CITY_MARK = (
    "（跨市）"  # the models' elsewhere_mark (warehouse/means_test/models/02_means_cross_region.sql)
)
# the ledger's columns (interface point 4), for a month whose build has none
LEDGER_COLUMNS = {
    "request_id": "varchar",
    "region": "varchar",
    "id_number": "varchar",
    "name": "varchar",
    "household_id": "varchar",
    "purpose": "varchar",
    "authorisation_ref": "varchar",
    "items": "varchar",
    "requested_on": "date",
    "reply_by": "date",
    "requested_month": "varchar",
    "answered_items": "varchar",
    "answered_on": "date",
    "pending_items": "varchar",
    "status": "varchar",
}
# GB/T 2260: the provinces' two-digit codes and names, for what township staff read
PROVINCES = {
    "11": "北京市",
    "12": "天津市",
    "13": "河北省",
    "14": "山西省",
    "15": "内蒙古自治区",
    "21": "辽宁省",
    "22": "吉林省",
    "23": "黑龙江省",
    "31": "上海市",
    "32": "江苏省",
    "33": "浙江省",
    "34": "安徽省",
    "35": "福建省",
    "36": "江西省",
    "37": "山东省",
    "41": "河南省",
    "42": "湖北省",
    "43": "湖南省",
    "44": "广东省",
    "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市",
    "51": "四川省",
    "52": "贵州省",
    "53": "云南省",
    "54": "西藏自治区",
    "61": "陕西省",
    "62": "甘肃省",
    "63": "青海省",
    "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
    "71": "台湾省",
    "81": "香港特别行政区",
    "82": "澳门特别行政区",
}


def evidence_from(month: str, evidence_months: int) -> str:
    """The first month whose answers still stand as evidence in `month`: an answer stays evidence
    for `evidence_months` months, the month it arrived in included (until the next re-check)."""
    return add_months(month, -(evidence_months - 1))


def ledger_view(con: duckdb.DuckDBPyConnection, h: Home, month: str) -> None:
    """`xr_requests`: the month's outgoing ledger, or no rows with its columns when the build has
    none (a month built before issue 35, or no request ever made)."""
    files = [str(p) for p in h.files(LEDGER, month)]
    if files:
        con.execute(f"create or replace temp view xr_requests as select * from read_parquet({files})")
        return
    cols = ", ".join(f"cast(null as {t}) as {c}" for c, t in LEDGER_COLUMNS.items())
    con.execute(f"create or replace temp view xr_requests as select {cols} where false")


def prepare(con: duckdb.DuckDBPyConnection, h: Home, month: str, evidence_months: int) -> None:
    """The models' variables (items, provinces' names, the first month of evidence) and the ledger."""
    con.execute("set variable xr_items = ?", [list(CROSS_REGION_ITEMS)])
    con.execute("set variable xr_evidence_from = ?", [evidence_from(month, evidence_months)])
    con.execute("set variable xr_pending_statuses = ?", [list(PENDING)])
    con.execute("set variable xr_provinces = map(?, ?)", [list(PROVINCES), list(PROVINCES.values())])
    ledger_view(con, h, month)


def evidence_months(month: str) -> int:
    """How many months an answer stays evidence (rules/cross_region/: until the next re-check)."""
    return load_cross_region(month).evidence_months


def marked_refs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The models' `xr_refs`: other provinces' answer rows standing as evidence (none when the
    models were not built)."""
    built = con.sql("select count(*) from duckdb_tables() where table_name = 'xr_refs'").fetchall()[0][0]
    return [r[0] for r in con.sql("select ref from xr_refs order by ref").fetchall()] if built else []


def flags(found: pl.DataFrame, answer_refs: list[str]) -> pl.DataFrame:
    """Each doubtful record's `cross_province` (a source ref is another province's answer row,
    `marked_refs`) and `cross_city` (its evidence names a member registered in another prefecture
    of the province, marked （跨市） by the models: the mark and the flag cannot disagree)."""
    answered = pl.col("source_refs").list.eval(pl.element().is_in(answer_refs)).list.any()
    return found.with_columns(
        cross_province=answered.fill_null(False),
        cross_city=pl.col("evidence").str.contains(CROSS_CITY_MARK, literal=True).fill_null(False),
    )


def pending_by_household(members: pl.DataFrame | None) -> pl.DataFrame:
    """Each household with items waiting for another province's answer or answered 无数据 there, and
    the lists' 异地核对 text, "待异地核对（不动产、存款）；异地无数据（机动车）" (items in CROSS_REGION_ITEMS
    order), from `_means_cross_region`."""
    schema = {"household_id": pl.String, "cross_region": pl.String}
    if members is None or members.height == 0:
        return pl.DataFrame(schema=schema)
    if not isinstance(members.schema.get("answers"), pl.List):  # no answers column, or all null
        members = members.with_columns(
            answers=pl.lit(None, pl.List(pl.Struct({"item": pl.String, "found": pl.String})))
        )
    no_data = (
        members.select("household_id", answer=pl.col("answers"))
        .explode("answer")
        .drop_nulls("answer")
        .filter(pl.col("answer").struct.field("found") == NO_DATA)
        .select("household_id", item=pl.col("answer").struct.field("item"))
    )
    pending = members.select("household_id", item=pl.col("pending_items")).explode("item")
    texts = [_items_text(pending, PENDING_LABEL), _items_text(no_data, NO_DATA_LABEL)]
    return (
        pl.concat(texts)
        .group_by("household_id", maintain_order=True)
        .agg(pl.col("text").str.join("；"))
        .sort("household_id")
        .select("household_id", cross_region="text")
        .cast(schema)
    )


def _items_text(items: pl.DataFrame, label: str) -> pl.DataFrame:
    """household_id and "<label>（<items>）" of each household's items (household_id, item)."""
    order = {item: n for n, item in enumerate(CROSS_REGION_ITEMS)}
    return (
        items.cast({"household_id": pl.String, "item": pl.String})
        .drop_nulls("item")
        .unique()
        .sort("household_id", pl.col("item").replace_strict(order, default=len(order)))
        .group_by("household_id", maintain_order=True)
        .agg(pl.col("item").str.join("、"))
        .select("household_id", text=pl.format("{}（{}）", pl.lit(label), "item"))
        .cast({"household_id": pl.String, "text": pl.String})
    )
