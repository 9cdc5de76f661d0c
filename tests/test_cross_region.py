"""Cross-region checks (issue 35): the rules file, requests out, answers in."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from jobs.cross_region.asking import record_requests
from jobs.cross_region.ledger import LEDGER_SCHEMA, REQUESTS, members_due, request_id, stage_applications
from jobs.ingest import validate
from jobs.month.run import refused_rows
from safetynet.contract import CROSS_REGION_ITEMS, SOURCES
from safetynet.errors import RulesError
from safetynet.ids import check_character
from safetynet.lake import Build
from safetynet.rules import load_cross_region
from safetynet.versions import RULES_DIR
from synthetic.cross_region import HOME_AREA, OTHER_COUNTIES, answer
from synthetic.generate import _roster, county_month, county_population

# --- the rules file ---------------------------------------------------------------------------------


def test_rules_file_loads_with_every_item_in_the_contracts_order():
    rules = load_cross_region("2026-05")
    assert rules.recheck_months == 6 and rules.evidence_months == 6 and rules.reply_days > 0
    assert rules.member_items == CROSS_REGION_ITEMS == rules.applicant_items
    assert rules.authorisation("H0001") == "SQ-H0001"


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("value: 6, reference: 民政部", "value: 0, reference: 民政部", "recheck_months"),
        (
            "[不动产, 机动车, 市场主体, 存款, 社保, 公积金, 死亡]\n      reference: 民政部",
            "[不动产, 房产]\n      reference: 民政部",
            "房产",
        ),
        ('"SQ-{household_id}"', '"SQ-{id}"', "household_id"),
    ],
)
def test_rules_file_refuses_bad_values_naming_the_key(tmp_path: Path, old: str, new: str, says: str):
    folder = tmp_path / "cross_region"
    folder.mkdir()
    text = (RULES_DIR / "cross_region" / "cross_region.yaml").read_text(encoding="utf-8")
    assert old in text
    (folder / "cross_region.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(RulesError, match=says):
        load_cross_region("2026-05", root=tmp_path)


# --- requests out -------------------------------------------------------------------------------------

PROVINCE = "44"  # the divisions of the tests lie in 44 (Guangdong)
DIVISIONS = ["440105", "440106001000"]
OUTGOING = (
    "request_id",
    "id_number",
    "name",
    "items",
    "purpose",
    "authorisation_ref",
    "requested_on",
    "reply_by",
)


class Lake:
    """A lake of tiny frames: the published months' datasets and the month being built (the parts
    of `safetynet.lake.Home` the cross-region jobs read)."""

    def __init__(self, root: Path):
        self.root = root
        self.published: dict[str, dict[str, pl.DataFrame]] = {}
        self.current: dict[str, pl.DataFrame] = {}
        self.building = None

    def start(self, month: str, **datasets: pl.DataFrame) -> Lake:
        self.building = Build(month, self.root / "builds" / month)
        shutil.rmtree(self.building.path, ignore_errors=True)
        self.building.path.mkdir(parents=True)
        stage_applications(self.root, month, self.building.path)  # as jobs/month/run.start
        self.current = dict(datasets)
        return self

    def publish(self) -> None:
        month = self.building.month
        self.published[month] = {
            **self.current,
            REQUESTS: pl.read_parquet(self.partition(REQUESTS, month) / "data.parquet"),
        }
        self.building = None

    def months(self) -> list[str]:
        return sorted({*self.published, *([self.building.month] if self.building else [])})

    def partition(self, dataset: str, month: str) -> Path:
        return self.root / "builds" / month / dataset

    def read(self, dataset: str, month: str, columns: list[str] | None = None) -> pl.DataFrame | None:
        here = (
            self.current if self.building and month == self.building.month else self.published.get(month, {})
        )
        frame = here.get(dataset)
        return None if frame is None else frame.select(columns or frame.columns)


def roster(*people: tuple[str, str | None]) -> pl.DataFrame:
    """Members (id number, hukou_division_code), each in a household of their own."""
    return pl.DataFrame(
        {
            "household_id": [f"H{i:03}" for i in range(len(people))],
            "id_number": [p[0] for p in people],
            "name": [f"成员{i}" for i in range(len(people))],
            "hukou_division_code": [p[1] for p in people],
        }
    )


def answers(*rows: tuple[str, str, str, str, str]) -> pl.DataFrame:
    """Accepted answers: request_id, id_number, item, region, answered_on."""
    frame = pl.DataFrame(
        rows, schema=["request_id", "id_number", "item", "region", "answered_on"], orient="row"
    )
    return frame.with_columns(pl.col("answered_on").str.to_date(), found=pl.lit("否"))


def run_month(lake: Lake, month: str, **datasets: pl.DataFrame) -> pl.DataFrame:
    lake.start(month, **datasets)
    record_requests(lake, month, DIVISIONS)
    ledger = pl.read_parquet(lake.partition(REQUESTS, month) / "data.parquet")
    lake.publish()
    return ledger


ANNA, BO, CHEN, DING = (
    body + check_character(body)
    for body in ("11010119900101001", "44010519800101002", "51010419700101003", "44030119600101004")
)


def test_a_member_registered_in_another_province_gets_one_request_when_first_seen(tmp_path: Path):
    lake = Lake(tmp_path)
    members = roster((ANNA, "110101"), (BO, "440105"), (CHEN, None), (DING, "440301"))
    ledger = run_month(lake, "2026-05", roster=members)
    assert ledger.select("id_number", "region", "purpose", "status", "requested_on", "reply_by").rows() == [
        (ANNA, "11", "定期复核", "待回复", dt.date(2026, 5, 31), dt.date(2026, 6, 20))
    ]
    assert ledger["request_id"][0] == request_id(PROVINCE, "11", ANNA, "定期复核", "2026-05")
    assert ledger["request_id"][0].startswith("XR4411202605-") and len(ledger["request_id"][0]) == 23
    assert ledger["authorisation_ref"][0] == "SQ-H000"
    assert ledger["items"][0] == ";".join(CROSS_REGION_ITEMS) == ledger["pending_items"][0]


def earlier(last_month: str, status: str) -> pl.DataFrame:
    """A ledger with one request for ANNA made in `last_month`, now `status`."""
    return pl.DataFrame(
        [{"request_id": "XR-1", "id_number": ANNA, "requested_month": last_month, "status": status}],
        schema={k: LEDGER_SCHEMA[k] for k in ("request_id", "id_number", "requested_month", "status")},
    )


@pytest.mark.parametrize(
    ("last_month", "status", "asked"),
    [
        ("2026-05", "待回复", False),  # pending: never a second request
        ("2025-11", "待回复", False),  # pending, even past the re-check
        ("2025-12", "已回复", False),  # answered five months ago: the re-check is not yet due
        ("2025-11", "已回复", True),  # answered six months ago: the half-yearly re-check
        ("2025-06", "已回复", True),
        ("2025-11", "逾期", True),  # never answered: asked again at the re-check (a fresh request)
        ("2026-02", "逾期", False),
    ],
)
def test_a_member_is_asked_again_only_at_the_recheck_and_never_while_pending(
    last_month: str, status: str, asked: bool
):
    rules = load_cross_region("2026-05")
    due = members_due(roster((ANNA, "110101")), PROVINCE, earlier(last_month, status), "2026-05", rules)
    assert due.height == int(asked)


def test_requests_over_months_first_answer_recheck(tmp_path: Path):
    """May: asked; June: answered in full (已回复); July-October: nothing; November: re-checked."""
    lake, members = Lake(tmp_path), roster((ANNA, "110101"))
    first = run_month(lake, "2026-05", roster=members)["request_id"][0]
    got = answers(*((first, ANNA, item, "11", "2026-06-10") for item in CROSS_REGION_ITEMS))
    june = run_month(lake, "2026-06", roster=members, cross_region_answers=got)
    assert june.select("status", "answered_on", "pending_items").row(0) == (
        "已回复",
        dt.date(2026, 6, 10),
        None,
    )
    assert june["answered_items"][0] == ";".join(CROSS_REGION_ITEMS)
    for month in ("2026-07", "2026-08", "2026-09", "2026-10"):
        assert run_month(lake, month, roster=members).height == 1
    november = run_month(lake, "2026-11", roster=members)
    assert november["requested_month"].to_list() == ["2026-05", "2026-11"]
    assert november["status"].to_list() == ["已回复", "待回复"]
    assert (lake.root / "builds" / "2026-11" / "exports/_cross_region/outgoing/11.csv").exists()
    assert not (lake.root / "builds" / "2026-10" / "exports/_cross_region/outgoing").exists()


def test_a_rerun_gives_the_same_request_ids_and_file_bytes(tmp_path: Path):
    members = roster((ANNA, "110101"), (CHEN, "510104"), (DING, "510105"))
    runs = []
    for attempt in ("first", "rerun"):
        lake = Lake(tmp_path / attempt)
        ledger = run_month(lake, "2026-05", roster=members)
        folder = lake.root / "builds" / "2026-05" / "exports" / "_cross_region" / "outgoing"
        runs.append(
            (ledger["request_id"].to_list(), {p.name: p.read_bytes() for p in sorted(folder.iterdir())})
        )
    assert runs[0] == runs[1]
    ids, files = runs[0]
    assert sorted(files) == ["11.csv", "51.csv"]
    text = files["51.csv"].decode("utf-8")
    assert text.startswith("\ufeff")  # UTF-8 with BOM, as the other CSV exports
    header, *rows = text.removeprefix("\ufeff").splitlines()
    assert tuple(header.split(",")) == OUTGOING  # the contract's columns, in its order
    assert [r.split(",")[0] for r in rows] == sorted(i for i in ids if i.startswith("XR4451"))
    assert rows[0].split(",")[-2:] == ["2026-05-31", "2026-06-20"]


def test_an_applicants_request_is_read_from_the_application_checks_lines(tmp_path: Path):
    """xrevid's lines (interface point 5) go into the ledger and the outgoing file of their month; the
    applicant, also on the roster, gets no second request as a member while it is pending."""
    rid = request_id(PROVINCE, "11", ANNA, "申请核对", "2026-05")
    line = {
        "request_id": rid,
        "region": "11",
        "id_number": ANNA,
        "name": "申请人",
        "household_id": "SQ2026050001",
        "purpose": "申请核对",
        "authorisation_ref": "SQS-2026-0001",
        "items": "不动产;存款",
        "requested_on": "2026-05-12",
        "reply_by": "2026-06-01",
    }
    path = tmp_path / "lake" / "_xr_applications" / "2026-05.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(line, ensure_ascii=False) + "\n" + json.dumps(line) + "\n", encoding="utf-8")
    ledger = run_month(Lake(tmp_path), "2026-05", roster=roster((ANNA, "110101")))
    assert ledger.select("request_id", "purpose", "items", "status", "pending_items").rows() == [
        (rid, "申请核对", "不动产;存款", "待回复", "不动产;存款")
    ]
    outgoing = (tmp_path / "builds/2026-05/exports/_cross_region/outgoing/11.csv").read_text(
        encoding="utf-8-sig"
    )
    assert (
        outgoing.splitlines()[1]
        == f"{rid},{ANNA},申请人,不动产;存款,申请核对,SQS-2026-0001,2026-05-31,2026-06-20"
    )


def test_a_late_answer_is_overdue_before_it_arrives_and_answered_after(tmp_path: Path):
    lake, members = Lake(tmp_path), roster((ANNA, "110101"))
    rid = run_month(lake, "2026-05", roster=members)["request_id"][0]
    part = answers(*((rid, ANNA, item, "11", "2026-06-15") for item in CROSS_REGION_ITEMS[:3]))
    june = run_month(lake, "2026-06", roster=members, cross_region_answers=part)
    assert june.select("status", "answered_items", "pending_items").row(0) == (
        "逾期",  # reply_by 2026-06-20 has passed with four items unanswered: 待异地核对, never "nothing"
        "不动产;机动车;市场主体",
        "存款;社保;公积金;死亡",
    )
    rest = answers(*((rid, ANNA, item, "11", "2026-07-02") for item in CROSS_REGION_ITEMS[3:]))
    july = run_month(lake, "2026-07", roster=members, cross_region_answers=rest)
    assert july.select("status", "answered_on", "pending_items").row(0) == (
        "已回复",
        dt.date(2026, 7, 2),
        None,
    )


# --- answers in ---------------------------------------------------------------------------------------


def delivered(*rows: tuple[str, str, str, str]) -> pl.LazyFrame:
    """An answers delivery as read (strings): request_id, id_number, item, region."""
    frame = pl.DataFrame(rows, schema=["request_id", "id_number", "item", "region"], orient="row")
    return frame.with_columns(
        found=pl.lit("否"),
        value=pl.lit(None, pl.String),
        detail=pl.lit(None, pl.String),
        answered_on=pl.lit("2026-06-10"),
        source_file=pl.lit("cross_region_answers.csv"),
        source_row=pl.int_range(2, frame.height + 2, dtype=pl.Int64),
    ).lazy()


@pytest.mark.parametrize(
    ("row", "check", "says"),
    [
        (("XR4411202605-0000000000", ANNA, "存款", "11"), "unknown_request", "was never made"),
        (("{rid}", ANNA, "死亡", "11"), "item_not_asked", "item 死亡 was not asked"),
        (("{rid}", ANNA, "存款", "51"), "region_not_asked", "answered by region 51, but request"),
        (("{rid}", CHEN, "存款", "11"), "other_person", f"id number {CHEN} is not the one"),
        (("{rid}", ANNA, "存款", "11"), None, None),
    ],
)
def test_an_answer_to_no_request_of_ours_is_quarantined_with_its_reason(
    tmp_path: Path, row: tuple, check: str | None, says: str | None
):
    lake = Lake(tmp_path)
    rid = request_id(PROVINCE, "11", ANNA, "申请核对", "2026-05")
    lake.published["2026-05"] = {
        REQUESTS: pl.DataFrame(
            [
                {
                    "request_id": rid,
                    "region": "11",
                    "id_number": ANNA,
                    "items": "不动产;存款",
                    "requested_month": "2026-05",
                }
            ],
            schema=LEDGER_SCHEMA,
        )
    }
    lake.start("2026-06")
    rows = delivered((row[0].format(rid=rid), *row[1:]))
    refused = refused_rows(lake, "cross_region_answers", "2026-06", rows)
    kept = []
    result = validate.check(
        SOURCES["cross_region_answers"],
        rows.join(
            refused.lazy().select("source_file", "source_row"), on=["source_file", "source_row"], how="anti"
        ),
        refused,
        "2026-06",
        None,
        kept.append,
        ge_sample=0,
    )
    quarantined = result.quarantine.filter(pl.col("check") == check) if check else result.quarantine
    if check is None:
        assert result.quarantine["reason"].to_list() == [] and result.accepted_rows == 1
        return
    assert result.accepted_rows == 0 and result.delivered == 1
    assert quarantined.select("source", "source_row").row(0) == ("cross_region_answers", 2)
    assert says in quarantined["reason"][0] and "cross_region_answers.csv row 2" in quarantined["reason"][0]


# --- the synthetic world ------------------------------------------------------------------------------


def test_the_generator_registers_some_members_elsewhere_the_same_way_for_a_seed():
    households, persons = county_population(1, 0, 3000, "430101")
    rosters = [_roster(county_month("2026-09", 1, 0, households, persons)) for _ in range(2)]
    assert rosters[0].equals(rosters[1])
    roster = rosters[0]
    code = pl.col("hukou_division_code")
    elsewhere = roster.filter(~code.str.starts_with("43"))
    other_city = roster.filter(code.str.starts_with("43"))
    assert 0.005 < elsewhere.height / roster.height < 0.015  # about 1% in another province
    assert 0.01 < other_city.height / roster.height < 0.03  # about 2% in another prefecture of it
    assert set(elsewhere["hukou_division_code"].str.slice(0, 6)) <= set(OTHER_COUNTIES)
    assert set(roster["hukou_division_code"].drop_nulls().str.len_chars()) == {6, 12}
    assert (
        other_city["hukou_division_code"].str.slice(0, 4) != other_city["division_code"].str.slice(0, 4)
    ).all()
    earlier = _roster(county_month("2026-08", 1, 0, households, persons))
    assert (
        earlier["hukou_division_code"].drop_nulls().len() < roster["hukou_division_code"].drop_nulls().len()
    )


def generated_ledger(n: int) -> pl.DataFrame:
    """n requests of August for recipients' members, all pending, as the home's ledger holds them."""
    ids = [f"XR4311202608-{i:010X}" for i in range(n)]
    return pl.DataFrame(
        {
            "request_id": ids,
            "region": ["11"] * n,
            "id_number": [ANNA] * n,
            "household_id": [f"H{i:04}" for i in range(n)],
            "items": [";".join(CROSS_REGION_ITEMS)] * n,
            "pending_items": [";".join(CROSS_REGION_ITEMS)] * n,
            "requested_on": [dt.date(2026, 8, 31)] * n,
            "reply_by": [dt.date(2026, 9, 20)] * n,
            "requested_month": ["2026-08"] * n,
            "recipient": [True] * n,
        }
    )


def test_the_generator_answers_last_months_requests_some_late_some_without_data_some_planted():
    ledger = generated_ledger(60)
    september, planted = answer(ledger, "2026-08", "2026-09", seed=1)
    late = set(ledger["request_id"]) - set(september["request_id"])
    assert 0 < len(late) < 20  # one in ten answered a month after reply_by
    assert september["answered_on"].str.to_date().max() <= dt.date(2026, 9, 20)
    assert set(september["found"]) == {"是", "否", "无数据"}
    assert september.group_by("request_id").len()["len"].unique().to_list() == [len(CROSS_REGION_ITEMS)]
    homes = september.filter((pl.col("item") == "不动产") & (pl.col("found") == "是"))
    deposits = september.filter((pl.col("item") == "存款") & (pl.col("found") == "是"))
    assert homes.height and deposits.height and (deposits["value"].cast(pl.Float64) > 200_000).all()
    assert homes["value"].cast(pl.Float64).is_between(*HOME_AREA).all()
    households = dict(zip(ledger["request_id"], ledger["household_id"], strict=True))
    assert set(planted.filter(pl.col("detail") == "second_property_other_province")["household_id"]) == {
        households[r] for r in homes["request_id"]
    }
    # the late ones come the month after, dated after their reply_by
    october, _ = answer(ledger, "2026-09", "2026-10", seed=1)
    assert set(october["request_id"]) == late
    assert (october["answered_on"].str.to_date() > dt.date(2026, 9, 20)).all()
    assert answer(ledger, "2026-08", "2026-09", seed=1)[0].equals(september)


def test_the_generators_answers_pass_the_ledgers_checks_and_answer_its_requests(tmp_path: Path):
    """The two halves together: August's requests, September's generated answers read back."""
    lake = Lake(tmp_path)
    households, persons = county_population(1, 0, 3000, "430101")
    august = _roster(county_month("2026-08", 1, 0, households, persons))
    ledger = run_month(lake, "2026-08", roster=august)
    assert ledger.height and set(ledger["status"]) == {"待回复"}
    got, _ = answer(ledger.with_columns(recipient=pl.lit(True)), "2026-08", "2026-09", seed=1)
    rows = got.with_columns(
        source_file=pl.lit("cross_region_answers.csv"), source_row=pl.int_range(2, got.height + 2)
    )
    lake.start("2026-09")
    assert refused_rows(lake, "cross_region_answers", "2026-09", rows.lazy()).height == 0
    september = run_month(
        lake,
        "2026-09",
        roster=_roster(county_month("2026-09", 1, 0, households, persons)),
        cross_region_answers=got.with_columns(pl.col("answered_on").str.to_date()),
    )
    by_status = dict(
        september.filter(pl.col("requested_month") == "2026-08").group_by("status").len().iter_rows()
    )
    assert (
        by_status["已回复"] == got["request_id"].n_unique()
        and by_status.get("逾期", 0) == ledger.height - by_status["已回复"]
    )
    assert (
        september.filter(pl.col("requested_month") == "2026-09").height > 0
    )  # members first seen in September


def test_a_month_without_cross_region_files_is_whole_and_says_they_did_not_come(tmp_path, landing):
    """The cross-region answers and requests come only when there is something to answer or ask
    (`Source.monthly`): their absence leaves what was asked pending and does not make the month
    incomplete, where a department's missing delivery does."""
    from tests.direct import run as run_direct

    land = tmp_path / "landing"
    shutil.copytree(landing / "2026-08", land / "2026-08")
    for name in ("cross_region_answers", "cross_region_requests"):
        for path in (land / "2026-08").glob(f"{name}.*"):
            path.unlink()
    home = tmp_path / "home"
    run_direct("2026-08", str(land), str(home), "xr-absent", last="record")
    record = json.loads(next(home.rglob("record.json")).read_text(encoding="utf-8"))
    assert record["status"] == "success" and record["sources_not_delivered"] == []
    (land / "2026-08" / "legal_aid.csv").unlink()
    run_direct("2026-08", str(land), str(tmp_path / "home2"), "xr-absent-2", last="record")
    record = json.loads(next((tmp_path / "home2").rglob("record.json")).read_text(encoding="utf-8"))
    assert record["status"] == "incomplete" and record["sources_not_delivered"] == ["legal_aid"]


# --- review findings (s7): re-asked, applicants' dates, applicants while pending -----------------------

MODEL = Path(__file__).parents[1] / "warehouse/means_test/models/02_means_cross_region.sql"


def pending_in_the_means_test(ledger: pl.DataFrame) -> list[tuple]:
    """`means_cross_region` (02_means_cross_region.sql) of ANNA over `ledger`, no answers standing."""
    import duckdb

    from jobs.cross_region.evidence import PENDING, PROVINCES

    con = duckdb.connect()
    con.register("xr_requests", ledger.to_arrow())
    con.execute(
        "create table means_members as select 'H000' as household_id, ? as id_number, '成员0' as name, "
        "'110101' as hukou_division_code, '跨省' as registered_elsewhere",
        [ANNA],
    )
    con.execute(
        "create table lake_cross_region_answers (id_number varchar, request_id varchar, item varchar, "
        "found varchar, value double, detail varchar, answered_on date, region varchar, month varchar, "
        "source_file varchar, source_row bigint)"
    )
    con.execute("set variable month = '2026-12'")
    con.execute("set variable xr_items = ?", [list(CROSS_REGION_ITEMS)])
    con.execute("set variable xr_evidence_from = '2026-07'")
    con.execute("set variable xr_pending_statuses = ?", [list(PENDING)])
    con.execute("set variable xr_provinces = map(?, ?)", [list(PROVINCES), list(PROVINCES.values())])
    con.execute(MODEL.read_text(encoding="utf-8"))
    return con.sql("select pending_items, overdue from means_cross_region").fetchall()


def test_a_request_asked_again_is_closed_and_its_items_no_longer_wait(tmp_path: Path):
    """May: asked, never answered (逾期); November: asked again (the May one 已重发); December: the
    November one answered in full -> nothing waits, nothing is overdue."""
    lake, members = Lake(tmp_path), roster((ANNA, "110101"))
    for month in ("2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"):
        run_month(lake, month, roster=members)
    november = run_month(lake, "2026-11", roster=members)
    assert november["status"].to_list() == ["已重发", "待回复"]
    again = november["request_id"][1]
    got = answers(*((again, ANNA, item, "11", "2026-12-05") for item in CROSS_REGION_ITEMS))
    december = run_month(lake, "2026-12", roster=members, cross_region_answers=got)
    assert december.select("requested_month", "status").rows() == [
        ("2026-05", "已重发"),
        ("2026-11", "已回复"),
    ]
    assert pending_in_the_means_test(december) == [([], False)]


def application_line(tmp_path: Path, person: str, month: str, day: str) -> str:
    rid = request_id(PROVINCE, "11", person, "申请核对", month)
    line = {
        "request_id": rid,
        "region": "11",
        "id_number": person,
        "name": "申请人",
        "household_id": "SQ2026050001",
        "purpose": "申请核对",
        "authorisation_ref": "SQS-2026-0001",
        "items": "不动产;存款",
        "requested_on": day,
        "reply_by": (dt.date.fromisoformat(day) + dt.timedelta(days=20)).isoformat(),
    }
    path = tmp_path / "lake" / "_xr_applications" / f"{month}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(line, ensure_ascii=False) + "\n")
    return rid


def test_an_applicants_request_is_dated_as_a_members_and_waits_at_the_months_end(tmp_path: Path):
    """Checked on the 3rd: the request goes out in the month's file, dated the month's end, reply due
    `reply_days` after; never overdue in the file that first sends it."""
    rid = application_line(tmp_path, ANNA, "2026-05", "2026-05-03")
    ledger = run_month(Lake(tmp_path), "2026-05", roster=roster((BO, "440105")))
    assert ledger.select("request_id", "status", "requested_on", "reply_by").rows() == [
        (rid, "待回复", dt.date(2026, 5, 31), dt.date(2026, 6, 20))
    ]
    outgoing = (tmp_path / "builds/2026-05/exports/_cross_region/outgoing/11.csv").read_text(
        encoding="utf-8-sig"
    )
    assert outgoing.splitlines()[1].endswith(",2026-05-31,2026-06-20")


def test_an_applicant_with_a_request_pending_is_not_asked_again(tmp_path: Path):
    """A member's request for ANNA waits (May); her application in June makes no new request."""
    lake, members = Lake(tmp_path), roster((ANNA, "110101"))
    may = run_month(lake, "2026-05", roster=members)
    application_line(tmp_path, ANNA, "2026-06", "2026-06-03")
    june = run_month(lake, "2026-06", roster=members)
    assert june["request_id"].to_list() == may["request_id"].to_list()
    assert not (lake.root / "builds" / "2026-06" / "exports/_cross_region/outgoing").exists()


def test_the_generators_registrations_are_the_same_on_every_polars_version():
    """The draws are sha256 of the id number and the seed, not Expr.hash: pinned values."""
    from synthetic.cross_region import stable_hash

    ids = pl.DataFrame({"id_number": [ANNA, BO]})
    got = ids.select(stable_hash(pl.col("id_number"), 35) % 10_000)["id_number"].to_list()
    want = [
        (int.from_bytes(hashlib.sha256(f"{i}|35".encode()).digest()[:8], "big") >> 1) % 10_000
        for i in (ANNA, BO)
    ]
    assert got == want


def test_the_applicants_lines_are_part_of_the_build_id_and_read_as_the_run_started(tmp_path, landing):
    """A line appended after a start makes another build; the build reads the copy it started with."""
    from jobs.month.run import start

    land = tmp_path / "landing"
    shutil.copytree(landing / "2026-08", land / "2026-08")
    home = tmp_path / "home"
    builds = [start("2026-08", str(land), str(home), "xr-build-0")["build"]]
    application_line(home, ANNA, "2026-08", "2026-08-03")
    builds.append(start("2026-08", str(land), str(home), "xr-build-1")["build"])
    application_line(home, BO, "2026-08", "2026-08-04")
    builds.append(start("2026-08", str(land), str(home), "xr-build-2")["build"])
    assert len(set(builds)) == 3
    copy = next((home).rglob(f"build={builds[1]}/xr_applications.jsonl"))
    assert [json.loads(line)["id_number"] for line in copy.read_text(encoding="utf-8").splitlines()] == [ANNA]


@pytest.mark.parametrize(
    ("pending", "overdue", "asks"),
    [
        (["不动产", "存款"], False, 0),  # a request waits: none made, the report names the pending one
        (["不动产", "存款"], True, 1),  # overdue: asked afresh
        ([], False, 1),  # nothing waits
    ],
)
def test_an_application_makes_no_request_for_a_member_with_one_waiting(pending, overdue, asks):
    from types import SimpleNamespace

    from jobs.applications.cross_region import CHINA, asked

    members = pl.DataFrame(
        {
            "id_number": [ANNA],
            "name": ["申甲"],
            "division_code": ["440105"],
            "hukou_division_code": ["110101"],
        }
    )
    app = SimpleNamespace(month="2026-06", members=members, household_id="SQ1", authorisation_ref="SQ-1")
    waiting = {"name": "申甲", "registered_elsewhere": "跨省", "province": "北京市", "pending_items": pending,
               "overdue": overdue, "reply_by": dt.date(2026, 6, 20), "answers": None}  # fmt: skip
    checked = SimpleNamespace(row={"cross_region": [waiting]})
    found = asked(app, checked, dt.datetime(2026, 6, 3, 10, tzinfo=CHINA))
    assert len(found) == asks
    (member,) = checked.row["cross_region"]
    assert member["reply_by"] == (dt.date(2026, 6, 20) if not asks else "2026-07-20")
