"""Other provinces' requests answered (issue 35, items 3 and 4): only the items asked, 无数据 where a
department did not deliver, 否 where it holds nothing, refused without an authorisation; the answers
file, v_cross_region and what auditors and townships can reach. Tiny homes built in the test."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import polars as pl
import pytest

from jobs.cross_region import answering, kpis
from jobs.export import overview
from jobs.month.run import DELIVERY_SCHEMA
from jobs.publish import warehouse
from jobs.publish.sealed import connect, read
from portal.files import Library
from safetynet.contract import SOURCES
from safetynet.lake import Build, Home, make_commit, write_parquet
from synthetic import incoming_requests

MONTH = "2026-09"
WANG, ZHANG, NOBODY, LI = (
    "11010519491231002X",
    "110105199001010011",
    "110105198502020022",
    "110105197003030033",
)
DELIVERED = ("divisions", "real_estate", "deposits", "deaths", "cross_region_requests")


def lake_rows(source: str, rows: list[dict], month: str = MONTH) -> pl.DataFrame:
    """Accepted rows of a source as ingest leaves them: the contract's columns, typed, and where
    they came from."""
    types = {"date": pl.Date, "amount": pl.Float64, "int": pl.Int64}
    schema = {c.name: types.get(c.type, pl.String) for c in SOURCES[source].columns}
    frame = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    return frame.with_columns(
        source_file=pl.lit(f"{source}.csv"), source_row=pl.int_range(2, frame.height + 2, dtype=pl.Int64)
    )


REQUESTS = [
    # request_id, region, id_number, name, items, purpose, authorisation_ref, reply_by
    ("R1", "44", WANG, "王芳", "存款;不动产", "申请核对", "SQ-1", dt.date(2026, 10, 15)),
    ("R2", "44", ZHANG, "张伟", "机动车;死亡;不动产", "定期复核", "SQ-2", dt.date(2026, 10, 15)),
    ("R3", "32", NOBODY, "赵敏", "存款;公积金", "定期复核", "SQ-3", dt.date(2026, 10, 20)),
    ("R4", "32", LI, "钱磊", "存款;不动产", "申请核对", None, dt.date(2026, 10, 20)),
]


def build_home(root, delivered=DELIVERED, requests=REQUESTS, month: str = MONTH) -> Home:
    """A home building `month`: our province 11, Wang owns two homes and a deposit, Zhang died in
    an earlier month, Li (who asks without authorisation) holds a deposit."""
    build = root / "staging" / "run" / f"month={month}" / "build=b"
    sources = {
        "divisions": [("110105001001", "某街道"), ("110105001002", "某镇")],
        "real_estate": [
            (WANG, "P1", 80.0, "住宅", dt.date(2010, 1, 1)),
            (WANG, "P2", 45.5, "商业", dt.date(2015, 1, 1)),
            (LI, "P9", 60.0, "住宅", dt.date(2012, 1, 1)),
        ],
        "deposits": [(WANG, "农行", 12000.0), (WANG, "工行", 3000.5), (LI, "建行", 50000.0)],
        "deaths": [],
        "vehicles": [],
        "cross_region_requests": requests,
    }
    for source in delivered:
        write_parquet(lake_rows(source, sources.get(source, [])), build / source / "data.parquet")
    earlier = root / "lake" / "month=2026-08" / "build=a"
    write_parquet(
        lake_rows("deaths", [(ZHANG, dt.date(2026, 8, 3))], "2026-08"), earlier / "deaths" / "data.parquet"
    )
    (root / "commits" / "1").mkdir(parents=True)
    (root / "commits" / "1" / "catalog.json").write_text(
        json.dumps({"seq": 1, "months": {"2026-08": {"build": "a"}}}), encoding="utf-8"
    )
    (root / "current").symlink_to("commits/1")
    statuses = [{"source": s, "status": "delivered" if s in delivered else "not_delivered"} for s in SOURCES]
    records = pl.DataFrame(statuses, schema=DELIVERY_SCHEMA)
    write_parquet(records, build / "_deliveries" / "data.parquet")
    return Home(root, Build(month, build))


def answered(tmp_path, **kw) -> pl.DataFrame:
    h = build_home(tmp_path, **kw)
    answering.answer_month(h, MONTH)
    return pl.read_parquet(h.partition(answering.INCOMING, MONTH) / "data.parquet"), h


def answers_of(h: Home, region: str) -> pl.DataFrame:
    path = h.building.path / answering.ANSWERS / f"{region}.csv"
    return pl.read_csv(path, infer_schema=False)


@pytest.mark.parametrize(
    ("request_id", "item", "found", "value", "detail"),
    [
        ("R1", "存款", "是", "15000.50", "2家机构"),
        ("R1", "不动产", "是", "125.50", "2处（住宅1、商业1）"),
        ("R2", "死亡", "是", None, "死亡日期 2026-08-03"),  # a death of an earlier month of the lake
        ("R2", "不动产", "否", None, None),  # real estate delivered, nothing for Zhang
        ("R2", "机动车", "无数据", None, answering.NOT_DELIVERED),  # vehicles not delivered this month
        ("R3", "存款", "否", None, None),  # a person we hold nothing about
        ("R3", "公积金", "无数据", None, answering.NOT_DELIVERED),
    ],
)
def test_each_item_asked_is_answered_from_its_department(tmp_path, request_id, item, found, value, detail):
    _, h = answered(tmp_path)
    rows = pl.concat([answers_of(h, "44"), answers_of(h, "32")])
    row = rows.filter((pl.col("request_id") == request_id) & (pl.col("item") == item)).to_dicts()
    assert row == [
        {
            "request_id": request_id,
            "id_number": dict((r[0], r[2]) for r in REQUESTS)[request_id],
            "item": item,
            "found": found,
            "value": value,
            "detail": detail,
            "answered_on": "2026-09-30",
            "region": "11",
        }
    ]


def test_only_the_items_asked_are_answered(tmp_path):
    _, h = answered(tmp_path)
    asked = {r[0]: sorted(r[4].split(";")) for r in REQUESTS}
    rows = pl.concat([answers_of(h, "44"), answers_of(h, "32")])
    got = rows.group_by("request_id").agg(pl.col("item").sort()).rows()
    assert dict(got) == asked
    given = pl.read_parquet(h.partition(answering.GIVEN, MONTH) / "data.parquet")
    assert set(given["request_id"]) == {"R1", "R2", "R3"}  # R4 refused: nothing given


def test_a_request_without_authorisation_is_refused_and_nothing_given(tmp_path):
    incoming, h = answered(tmp_path)
    refused = incoming.filter(pl.col("request_id") == "R4").row(0, named=True)
    assert refused["status"] == "已拒绝" and "授权书" in refused["reason"]
    rows = answers_of(h, "32").filter(pl.col("request_id") == "R4")
    # Li holds a house and a deposit: neither value reaches the asking province
    assert rows["item"].to_list() == ["不动产", "存款"] and set(rows["found"]) == {"无数据"}
    assert rows["value"].null_count() == 2 and set(rows["detail"]) == {answering.REFUSED_REASON}
    assert incoming.filter(pl.col("status") == "已回复")["request_id"].to_list() == ["R1", "R2", "R3"]


def test_the_incoming_log_names_who_asked_for_whom_and_where_the_request_is(tmp_path):
    incoming, _ = answered(tmp_path)
    assert incoming.columns == list(answering.INCOMING_SCHEMA)
    first = incoming.row(0, named=True)
    assert first | {"reply_by": None} == {
        "request_id": "R1",
        "region": "44",
        "id_number": WANG,
        "name": "王芳",
        "items": "存款;不动产",
        "purpose": "申请核对",
        "authorisation_ref": "SQ-1",
        "requested_on": dt.date(2026, 9, 1),
        "reply_by": None,
        "answered_on": dt.date(2026, 9, 30),
        "status": "已回复",
        "reason": None,
        "answered_from": MONTH,
        "source_ref": f"{MONTH}/cross_region_requests.csv:2",
    }


def test_the_answers_file_has_the_contract_s_columns_and_a_rerun_the_same_bytes(tmp_path):
    _, h = answered(tmp_path / "a")
    _, again = answered(tmp_path / "b")
    for region in ("32", "44"):
        path = answering.ANSWERS / f"{region}.csv"
        data = (h.building.path / path).read_bytes()
        assert data.startswith("\ufeff".encode())  # UTF-8 with BOM, as the other CSV exports
        header = data.decode("utf-8-sig").splitlines()[0].split(",")
        assert header == [c.name for c in SOURCES["cross_region_answers"].columns]
        assert data == (again.building.path / path).read_bytes()
    answering.answer_month(h, MONTH)  # the same run again: the same files, no other
    assert sorted(p.name for p in (h.building.path / answering.ANSWERS).iterdir()) == ["32.csv", "44.csv"]


def test_no_requests_delivered_gives_empty_logs_and_no_answers_file(tmp_path):
    delivered = tuple(s for s in DELIVERED if s != "cross_region_requests")
    incoming, h = answered(tmp_path, delivered=delivered)
    assert incoming.height == 0 and incoming.schema == pl.Schema(answering.INCOMING_SCHEMA)
    assert not any((h.building.path / answering.ANSWERS).iterdir())


def outgoing(rows: list[tuple]) -> pl.DataFrame:
    """`_xr_requests` as the interface names its columns (the ledger is xrask's: a drift shows here)."""
    schema = {
        "request_id": pl.String,
        "region": pl.String,
        "id_number": pl.String,
        "name": pl.String,
        "household_id": pl.String,
        "purpose": pl.String,
        "authorisation_ref": pl.String,
        "items": pl.String,
        "requested_on": pl.Date,
        "reply_by": pl.Date,
        "requested_month": pl.String,
        "answered_items": pl.String,
        "answered_on": pl.Date,
        "pending_items": pl.String,
        "status": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def D(day: int, month: int = 9) -> dt.date:  # noqa: N802 - a date of 2026, short in the tables
    return dt.date(2026, month, day)


LEDGER = [
    ("XR1144202608-A", "44", WANG, "王芳", "H1", "定期复核", "SQ-H1", "存款;不动产", D(5, 8), D(5), "2026-08",
     "存款;不动产", D(1), None, "已回复"),
    ("XR1144202609-B", "44", ZHANG, "张伟", "H2", "申请核对", "SQ-A2", "存款", D(10), D(25, 10), "2026-09",
     None, None, "存款", "待回复"),
    ("XR1132202608-C", "32", LI, "钱磊", "H3", "定期复核", "SQ-H3", "不动产;死亡", D(3, 8), D(3), "2026-08",
     "死亡", D(2), "不动产", "逾期"),
    ("XR1132202609-D", "32", NOBODY, "赵敏", "H4", "定期复核", "SQ-H4", "社保", D(12), D(20), "2026-09",
     "社保", D(20), None, "已回复"),
]  # fmt: skip


def published(root) -> Home:
    """The tiny home with September answered, the ledger beside it, published as a commit (August
    was built before issue 35: no `_xr_*` table)."""
    h = build_home(root)
    answering.answer_month(h, MONTH)
    write_parquet(outgoing(LEDGER), h.partition("_xr_requests", MONTH) / "data.parquet")
    target = root / "lake" / f"month={MONTH}" / "build=b"
    target.parent.mkdir(parents=True)
    h.building.path.rename(target)
    runs = root / "lake" / "_runs"
    runs.mkdir(parents=True)
    (runs / "r.json").write_text(json.dumps({"run_id": "r", "month": MONTH, "build": "b"}), encoding="utf-8")
    make_commit(root, MONTH, {"build": "b", "status": "success", "run_id": "r"}, warehouse.write)
    return Home(root)


def test_v_cross_region_counts_both_directions_per_status(tmp_path):
    published(tmp_path)
    with connect(tmp_path) as con:
        counts = read(
            con,
            "select month, direction, status, count(*) as n, median(days_to_answer) as days from v_cross_region "
            "group by all order by all",
        )
        kpis = read(con, "select * from v_cross_region_kpis order by all")
    assert counts.rows() == [
        (MONTH, "发出", "已回复", 2, 17.5),  # 27 days (Aug 5 -> Sep 1) and 8 (Sep 12 -> Sep 20)
        (MONTH, "发出", "待回复", 1, None),
        (MONTH, "发出", "逾期", 1, None),
        (MONTH, "收到", "已回复", 3, 29.0),
        (MONTH, "收到", "已拒绝", 1, None),
    ]
    sent = kpis.filter(pl.col("direction") == "发出").select("region", *KPI_FIGURES)
    assert sent.rows() == [
        ("32", 2, 1, 1, 0, 1, 0, 8.0),
        ("44", 2, 1, 1, 1, 0, 0, 27.0),
        ("all", 4, 2, 2, 1, 1, 0, 17.5),
    ]


KPI_FIGURES = (
    "requests",
    "made_in_month",
    "answered",
    "pending",
    "overdue",
    "refused",
    "median_days_to_answer",
)


def test_an_auditor_reads_what_was_given_and_a_refusal_gives_nothing(tmp_path):
    published(tmp_path)
    with connect(tmp_path) as con:
        given = read(
            con, "select request_id, region, id_number, item, found, value from v_cross_region_given"
        )
        refused = read(con, "select reason from v_cross_region where status = '已拒绝'")
    assert given.filter(pl.col("request_id") == "R1").rows() == [
        ("R1", "44", WANG, "不动产", "是", 125.5),
        ("R1", "44", WANG, "存款", "是", 15000.5),
    ]
    assert "R4" not in set(given["request_id"]) and LI not in set(given["id_number"])
    assert refused["reason"].to_list() == [answering.REFUSED_REASON]


def test_the_views_build_over_months_made_before_the_cross_region_tables(tmp_path):
    root = tmp_path
    earlier = root / "lake" / "month=2026-08" / "build=a"
    write_parquet(
        lake_rows("deaths", [(ZHANG, dt.date(2026, 8, 3))], "2026-08"), earlier / "deaths" / "data.parquet"
    )
    con = duckdb.connect()
    for sql in warehouse.statements(Home(root), {"2026-08": {"build": "a"}}, only=VIEWS):
        con.execute(sql)
    for view in VIEWS:
        assert con.sql(f"select count(*) from {view}").fetchall() == [(0,)], view


VIEWS = ("v_cross_region", "v_cross_region_given", "v_cross_region_kpis")


def test_no_township_can_reach_a_cross_region_file(tmp_path):
    """The answers sit in the month's exports beside the counties' folders, in no township's
    folder: the portal serves a township only what its folder's manifest lists."""
    home = published(tmp_path)
    library = Library(tmp_path)
    build = home.build_dir(MONTH)
    files = sorted(p.relative_to(build).as_posix() for p in (build / "exports").rglob("*.csv"))
    assert files == ["exports/_cross_region/answers/32.csv", "exports/_cross_region/answers/44.csv"]
    assert library.townships(MONTH) == []
    for township in ("_cross_region", "_cross_region/answers", "../_cross_region", "110105001"):
        assert library.folder(MONTH, township) is None
    listed = [f for m in build.glob("exports/*/*/manifest.json") for f in json.loads(m.read_text())["files"]]
    assert not [f for f in listed if "_cross_region" in f["file"]]


@pytest.mark.parametrize(
    ("doubtful_columns", "expected", "shown"),
    [
        ("", None, "本月数据未标注跨省、跨市"),  # a month built before the marks (or no doubtful record)
        (
            ", true as cross_province, false as cross_city",
            {"cross_province": 1, "cross_city": 0},
            "跨省 1 条，跨市 0 条",
        ),
    ],
)
def test_the_status_and_overview_show_per_province_figures_and_the_marked_records(
    tmp_path, doubtful_columns, expected, shown
):
    """The figures are v_cross_region_kpis' rows and v_doubtful_records' marks (xrevid's columns,
    read by name), shown by one template in the county overview and the data team's status page."""
    home = published(tmp_path)
    con = duckdb.connect()
    for sql in warehouse.statements(home):
        con.execute(sql)
    con.execute(
        "create view v_doubtful_records as select '2026-09' as month, '110105001' as township_code"
        + doubtful_columns
    )
    figures = kpis.figures(con, MONTH, "110105")
    assert [(r["region"], r["requests"], r["overdue"]) for r in figures["sent"]] == [
        ("32", 2, 1),
        ("44", 2, 0),
        ("all", 4, 1),
    ]
    assert [(r["region"], r["refused"]) for r in figures["received"]] == [("32", 1), ("44", 0), ("all", 1)]
    assert figures["doubtful"] == expected
    html = str(overview.cross_region_html(figures))
    assert "跨省核对" in html and shown in html and "<td>合计</td>" in html


def test_the_generator_s_requests_pass_the_contract_and_include_a_refusal_and_a_stranger(tmp_path):
    from jobs.ingest.deliveries import read_source
    from jobs.ingest.validate import validate
    from synthetic.generate import generate

    generate(MONTH, 60, 1, tmp_path)
    path = tmp_path / MONTH / "cross_region_requests.csv"
    first = path.read_bytes()
    result = validate(read_source("cross_region_requests", [path]), MONTH, None, ge_sample=1000)
    asked = result.accepted
    assert result.quarantined == 0 and asked.height == incoming_requests.PER_MONTH + 1
    assert asked["authorisation_ref"].null_count() == 1
    assert set(asked["purpose"]) == {"申请核对", "定期复核"} and "43" not in set(asked["region"])
    roster = pl.read_csv(tmp_path / MONTH / "roster.csv", encoding="gb18030", infer_schema=False)
    strangers = set(asked["id_number"]) - set(roster[roster.columns[1]])
    assert strangers == {incoming_requests.stranger(MONTH, 1)}
    generate(MONTH, 60, 1, tmp_path)
    assert path.read_bytes() == first  # the same seed, the same requests


def test_safetynet_run_prints_the_month_s_cross_region_line(tmp_path):
    published(tmp_path)
    with connect(tmp_path) as con:
        line = kpis.summary(con, MONTH)
        before = kpis.summary(con, "2026-08")  # a month built before issue 35
    assert line == (
        "cross-region requests: sent 4 (made this month 2, answered 2, overdue 1, median days to answer "
        "17.5); received 4 (answered 3, refused 1)"
    )
    assert before == "cross-region requests: sent none; received none"


def test_the_hand_made_ledger_is_the_asking_side_s():
    """The outgoing ledger these tests build by the interface's columns is the one xrask writes."""
    from jobs.cross_region import ledger

    assert outgoing([]).schema == pl.Schema(ledger.LEDGER_SCHEMA)
