"""Other provinces' requests answered (跨省核对, CONTRACT.md version 3, "Answering").

Each run answers the month's accepted `cross_region_requests` rows from the month's own lake: the
month this run publishes, which becomes the latest published month when it does. Only the items
asked are answered, each from its department's delivery (`ITEM_SOURCES`): `是` with a value and a
detail when the department holds something for the person, `否` when it delivered this month and
holds nothing, `无数据` when it did not deliver this month (the month's `_deliveries`): a source
missing is never read as "nothing registered". A death is looked up in every month of the lake.
A request without `authorisation_ref` is refused (已拒绝): its items are answered `无数据` with the
reason as detail, and nothing is given.

    <build>/_xr_incoming/data.parquet   one row per request received (PIPL: who asked, for whom)
    <build>/_xr_given/data.parquet      one row per item answered: what was given
    <build>/exports/_cross_region/answers/<province>.csv
                                        the answers to one asking province, the columns of
                                        `cross_region_answers`, UTF-8 with BOM, sorted by request
                                        id and item: the same inputs give the same bytes

The files sit beside the counties' folders, in no township's folder or manifest: only the data
team hands them on. Auditors read them as `v_cross_region` and `v_cross_region_given`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from jobs.cross_region import ledger
from safetynet.contract import CROSS_REGION_ITEMS, SOURCES
from safetynet.errors import SafetynetError
from safetynet.lake import WHOLE, Home, replace_dir, write_parquet
from safetynet.months import month_bounds

# Which delivery answers which item (CONTRACT.md, "Cross-region checks"; the items of CROSS_REGION_ITEMS)
ITEM_SOURCES = {
    "不动产": "real_estate",
    "机动车": "vehicles",
    "市场主体": "business",
    "存款": "deposits",
    "社保": "social_insurance",
    "公积金": "housing_fund",
    "死亡": "deaths",
}
INCOMING = "_xr_incoming"
GIVEN = "_xr_given"
ANSWERS = Path("exports") / "_cross_region" / "answers"
ANSWERED, REFUSED = "已回复", "已拒绝"
REFUSED_REASON = "未附授权书编号，不予提供（请附当事人签署的授权书编号后重新请求）"
NOT_DELIVERED = "本月该部门未报送数据，无法核对"

ANSWER_COLUMNS = [c.name for c in SOURCES["cross_region_answers"].columns]
INCOMING_SCHEMA = {
    "request_id": pl.String,
    "region": pl.String,
    "id_number": pl.String,
    "name": pl.String,
    "items": pl.String,
    "purpose": pl.String,
    "authorisation_ref": pl.String,
    "requested_on": pl.Date,
    "reply_by": pl.Date,
    "answered_on": pl.Date,
    "status": pl.String,
    "reason": pl.String,
    "answered_from": pl.String,
    "source_ref": pl.String,
}
GIVEN_SCHEMA = {
    "request_id": pl.String,
    "item": pl.String,
    "found": pl.String,
    "value": pl.Float64,
    "detail": pl.String,
}
FACT_SCHEMA = {"item": pl.String, "id_number": pl.String, "value": pl.Float64, "detail": pl.String}


class AnswerError(SafetynetError):
    """A month whose requests cannot be answered (names the month and why)."""


@dataclass(frozen=True)
class Answered:
    """A month's incoming requests, what was given, and the answer rows per item asked."""

    incoming: pl.DataFrame
    given: pl.DataFrame
    answers: pl.DataFrame


def _counted(label: pl.Expr) -> pl.Expr:
    """`住宅2、商业1`: how many rows of each label, in label order."""
    return pl.concat_str(label, label.len().over(label).cast(pl.String)).unique().sort().str.join("、")


def _real_estate(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Total area; detail the count and usage of the properties."""
    return rows.group_by("id_number").agg(
        value=pl.col("area").cast(pl.Float64).sum(),
        detail=pl.format("{}处（{}）", pl.len(), _counted(pl.col("usage"))),
    )


def _vehicles(rows: pl.LazyFrame) -> pl.LazyFrame:
    return rows.group_by("id_number").agg(
        value=pl.len().cast(pl.Float64),
        detail=pl.format(
            "{}辆（{}；营运{}辆）",
            pl.len(),
            _counted(pl.col("vehicle_type")),
            (pl.col("operating") == "是").sum(),
        ),
    )


def _business(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Registered capital of the entities still existing (存续); every entity in the detail."""
    label = pl.concat_str("entity_type", "role", "status", separator="·")
    return rows.group_by("id_number").agg(
        value=pl.col("registered_capital").cast(pl.Float64).filter(pl.col("status") == "存续").sum(),
        detail=pl.format("{}户（{}）", pl.len(), _counted(label)),
    )


def _deposits(rows: pl.LazyFrame) -> pl.LazyFrame:
    return rows.group_by("id_number").agg(
        value=pl.col("balance").cast(pl.Float64).sum(),
        detail=pl.format("{}家机构", pl.col("institution").n_unique()),
    )


def _social_insurance(rows: pl.LazyFrame) -> pl.LazyFrame:
    """The contribution base of the latest month delivered."""
    latest = rows.filter(pl.col("month") == pl.col("month").max().over("id_number"))
    return latest.group_by("id_number").agg(
        value=pl.col("contribution_base").cast(pl.Float64).max(),
        detail=pl.format(
            "{}（{}）", pl.col("scheme").unique().sort().str.join("、"), pl.col("month").first()
        ),
    )


def _housing_fund(rows: pl.LazyFrame) -> pl.LazyFrame:
    return rows.group_by("id_number").agg(
        value=pl.col("monthly_deposit").cast(pl.Float64).sum(),
        detail=pl.format("月缴存（{}）", pl.col("status").unique().sort().str.join("、")),
    )


def _deaths(rows: pl.LazyFrame) -> pl.LazyFrame:
    return rows.group_by("id_number").agg(
        value=pl.lit(None, pl.Float64), detail=pl.format("死亡日期 {}", pl.col("died_on").min())
    )


SUMMARIES = {
    "不动产": _real_estate,
    "机动车": _vehicles,
    "市场主体": _business,
    "存款": _deposits,
    "社保": _social_insurance,
    "公积金": _housing_fund,
    "死亡": _deaths,
}


def facts(rows: dict[str, pl.LazyFrame | None]) -> pl.DataFrame:
    """One row per item and person held (`item, id_number, value, detail`), from each item's
    delivered rows (None: none in the lake)."""
    parts = [
        SUMMARIES[item](frame)
        .select(pl.lit(item).alias("item"), pl.col("id_number"), pl.col("value"), pl.col("detail"))
        .cast(FACT_SCHEMA)
        for item, frame in rows.items()
        if frame is not None
    ]
    return pl.concat(parts).collect() if parts else pl.DataFrame(schema=FACT_SCHEMA)


def _asked(requests: pl.DataFrame) -> pl.DataFrame:
    """One row per request and item asked, items in the contract's order."""
    order = pl.Enum(CROSS_REGION_ITEMS)
    return (
        requests.select("request_id", "id_number", "refused", item=pl.col("items").str.split(";"))
        .explode("item")
        .with_columns(pl.col("item").str.strip_chars())
        .unique(["request_id", "item"])
        .sort("request_id", pl.col("item").cast(order))
    )


def answer(
    requests: pl.DataFrame, held: pl.DataFrame, delivered: set[str], month: str, province: str
) -> Answered:
    """The month's requests (`cross_region_requests` rows with `source_ref`) answered from `held`
    (`facts`), given the sources delivered this month. Pure: same inputs, same frames."""
    answered_on = month_bounds(month)[1]
    requests = requests.with_columns(
        refused=pl.col("authorisation_ref").str.strip_chars().fill_null("") == ""
    )
    has_data = pl.col("item").replace_strict(
        {i: s in delivered for i, s in ITEM_SOURCES.items()}, return_dtype=pl.Boolean
    )
    rows = (
        _asked(requests)
        .join(held, on=["item", "id_number"], how="left", maintain_order="left")
        .with_columns(
            found=pl.when(pl.col("refused"))
            .then(pl.lit("无数据"))
            .when(pl.col("detail").is_not_null())  # held: a death of an earlier month too
            .then(pl.lit("是"))
            .when(has_data)
            .then(pl.lit("否"))
            .otherwise(pl.lit("无数据"))
        )
        .with_columns(
            value=pl.when(pl.col("found") == "是").then(pl.col("value").round(2)),
            detail=pl.when(pl.col("refused"))
            .then(pl.lit(REFUSED_REASON))
            .when(pl.col("found") == "是")
            .then(pl.col("detail"))
            .when(pl.col("found") == "无数据")
            .then(pl.lit(NOT_DELIVERED)),
        )
    )
    answers = rows.select(
        "request_id",
        "id_number",
        "item",
        "found",
        "value",
        "detail",
        answered_on=pl.lit(answered_on),
        region=pl.lit(province),
    )
    given = rows.filter(~pl.col("refused")).select(list(GIVEN_SCHEMA)).cast(GIVEN_SCHEMA)
    incoming = (
        requests.select(
            "request_id",
            "region",
            "id_number",
            "name",
            "items",
            "purpose",
            "authorisation_ref",
            requested_on=pl.lit(month_bounds(month)[0]),  # received with the month's deliveries
            reply_by="reply_by",
            answered_on=pl.lit(answered_on),
            status=pl.when(pl.col("refused")).then(pl.lit(REFUSED)).otherwise(pl.lit(ANSWERED)),
            reason=pl.when(pl.col("refused")).then(pl.lit(REFUSED_REASON)),
            answered_from=pl.lit(month),
            source_ref="source_ref",
        )
        .cast(INCOMING_SCHEMA)
        .sort("request_id")
    )
    return Answered(incoming, given, answers)


def monitoring_province(h: Home, month: str) -> str | None:
    """Our province as the asking side names it (`ledger.monitoring_province`), from the divisions
    in force in `month`: the latest `divisions` delivery at or before it."""
    for m in reversed([m for m in h.months() if m <= month]):
        codes = h.read("divisions", m, ["division_code"])
        if codes is not None and codes.height:
            return ledger.monitoring_province(codes["division_code"].to_list())
    return None


def received(h: Home, month: str) -> pl.DataFrame:
    """The month's accepted requests, each with `source_ref` ("<month>/<file>:<row>")."""
    columns = [c.name for c in SOURCES["cross_region_requests"].columns]
    rows = h.read("cross_region_requests", month, [*columns, "source_file", "source_row"])
    if rows is None:
        schema = {c: INCOMING_SCHEMA[c] for c in columns} | {"source_file": pl.String, "source_row": pl.Int64}
        rows = pl.DataFrame(schema=schema)
    return rows.with_columns(
        source_ref=pl.format("{}/{}:{}", pl.lit(month), pl.col("source_file"), pl.col("source_row"))
    ).drop("source_file", "source_row")


def delivered_sources(h: Home, month: str) -> set[str]:
    """The sources delivered in the month (its `_deliveries` records)."""
    records = h.read("_deliveries", month, ["source", "status"])
    if records is None:
        return set()
    return set(records.filter(pl.col("status") == "delivered")["source"])


def held_rows(h: Home, month: str, ids: list[str]) -> dict[str, pl.LazyFrame | None]:
    """Each item's delivered rows of the persons asked about: the month's, and a death of any
    month up to it."""
    out: dict[str, pl.LazyFrame | None] = {}
    for item, source in ITEM_SOURCES.items():
        columns = [c.name for c in SOURCES[source].columns]
        months = [m for m in h.months() if m <= month] if item == "死亡" else [month]
        scans = [s.select(columns) for m in months if (s := h.scan(source, m)) is not None]
        out[item] = (
            pl.concat(scans, how="vertical_relaxed").filter(pl.col("id_number").is_in(ids)) if scans else None
        )
    return out


def write(h: Home, month: str, answered: Answered) -> list[Path]:
    """The month's `_xr_incoming`, `_xr_given` and one answers file per asking province, each
    replaced whole (a rerun leaves no file of an earlier try)."""
    write_parquet(answered.incoming, h.partition(INCOMING, month) / WHOLE)
    write_parquet(answered.given, h.partition(GIVEN, month) / WHOLE)
    target = h.building.path / ANSWERS
    staging = target.with_name(f".answers.{uuid.uuid4().hex}.tmp")
    staging.mkdir(parents=True)
    regions = answered.incoming.select("request_id", "region")
    answers = answered.answers.join(regions, on="request_id", suffix="_asking", maintain_order="left")
    written = []
    for (asking,), rows in sorted(answers.partition_by("region_asking", as_dict=True).items()):
        path = staging / f"{asking}.csv"
        rows.select(ANSWER_COLUMNS).write_csv(
            path, include_bom=True, date_format="%Y-%m-%d", float_precision=2
        )
        written.append(target / path.name)
    replace_dir(staging, target)
    return written


def answer_month(h: Home, month: str) -> dict:
    """Answer the month's requests from other provinces, into the run's build."""
    requests = received(h, month)
    province = monitoring_province(h, month)
    if province is None and requests.height:
        raise AnswerError(
            f"{month}: the divisions in force name no one province: the answering province is unknown"
        )
    ids = requests["id_number"].unique().sort().to_list()
    held = facts(held_rows(h, month, ids)) if ids else facts({})
    answered = answer(requests, held, delivered_sources(h, month), month, province or "")
    files = write(h, month, answered)
    status = answered.incoming["status"]
    return {
        "requests_received": answered.incoming.height,
        "requests_refused": int((status == REFUSED).sum()),
        "items_given": answered.given.height,
        "answer_files": len(files),
    }
