"""The synthetic generator: deterministic, consistent across months, realistic, and dirty."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from jobs.ingest.deliveries import decode_csv, find_deliveries, read_source
from safetynet.contract import SOURCES
from safetynet.ids import check_character
from safetynet.months import month_bounds
from synthetic.generate import (
    SOURCE_MAKERS,
    _declared_incomes,
    _labour_capacity,
    county_month,
    county_population,
    generate,
    month_deliveries,
    month_index,
)


def digest(folder):
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()
    }


@pytest.fixture(scope="module")
def months(tmp_path_factory):
    landing = tmp_path_factory.mktemp("gen")
    for month in ("2026-08", "2026-09"):
        generate(month, 5000, 3, landing)
    return landing


def frame(landing, month, source):
    found, _ = find_deliveries(landing / month)
    return read_source(source, found[source]).frame


def test_same_seed_same_bytes_other_seed_other_people(months, tmp_path):
    generate("2026-08", 5000, 3, tmp_path / "again")
    assert digest(tmp_path / "again" / "2026-08") == digest(months / "2026-08")
    generate("2026-08", 5000, 4, tmp_path / "other")
    assert digest(tmp_path / "other" / "2026-08")["roster.csv"] != digest(months / "2026-08")["roster.csv"]


def test_consecutive_months_have_the_same_people_and_events_happen_once(months):
    aug, sep = frame(months, "2026-08", "roster"), frame(months, "2026-09", "roster")
    assert sep["household_id"].n_unique() > 0.99 * aug["household_id"].n_unique()
    dead = frame(months, "2026-08", "deaths")["id_number"]
    assert dead.len() > 0
    # in 1 of 7 households last month's dead are still listed, on purpose (synthetic/generate.py, `stale`;
    # the 5,000 households are one county: the household number is the generator's row)
    stale = pl.col("household_id").str.slice(1).cast(pl.Int64) % 7 == 0
    assert not sep.filter(~stale)["id_number"].is_in(dead.implode()).any()
    assert not frame(months, "2026-09", "deaths")["id_number"].is_in(dead.implode()).any()
    shared = aug.join(sep, on="id_number", suffix="_sep")
    assert (shared["name"] == shared["name_sep"]).mean() > 0.99  # names differ only where dirt padded them


def test_population_proportions_are_those_documented(months):
    roster = frame(months, "2026-08", "roster")
    households = roster.group_by("household_id").agg(pl.len().alias("size"), pl.col("category").first())
    assert 2.1 < households["size"].mean() < 2.8
    assert 0.40 < (households["category"] == "低保").mean() < 0.50
    disabled = frame(months, "2026-08", "disability").height / roster.height
    assert 0.11 < disabled < 0.18


def test_departments_deliver_in_their_own_ways(months):
    files = {p.name for p in (months / "2026-08").iterdir()}
    assert {
        "medical_claims.part-1.csv",
        "medical_claims.part-2.csv",
        "vehicles.xlsx",
        "divisions.csv",
    } <= files
    assert "divisions.csv" not in {
        p.name for p in (months / "2026-09").iterdir()
    }  # delivered when it changes
    roster_bytes = (months / "2026-08" / "roster.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        roster_bytes.decode("utf-8")
    assert roster_bytes.decode("gb18030").startswith("户编号,身份证号")
    assert (months / "2026-08" / "medical_claims.part-1.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_dirt_and_rare_characters_are_present(months):
    roster = frame(months, "2026-08", "roster")
    text = (months / "2026-08" / "roster.csv").read_bytes().decode("gb18030")
    assert "\u3000" in text  # full-width padding, trimmed on ingest
    assert roster["name"].str.contains("[䶮𬌗𠇔𬱖㛃𡒄]").any()
    every_csv = b"".join(decode_csv(p, p.read_bytes())[0] for p in (months / "2026-08").glob("*.csv"))
    assert b"E+17" in every_csv  # an ID number Excel turned into a number
    assert '"' in (months / "2026-08" / "deposits.csv").read_bytes().decode("gbk")  # thousands separators


def test_truth_file_names_planted_households(months):
    truth = pl.read_csv(months / "_truth" / "2026-08.csv")
    assert set(truth.columns) == {"household_id", "kind", "detail", "month"}
    assert {"hardship", "ineligible", "eligible"} == set(truth["kind"])
    roster_households = set(frame(months, "2026-08", "roster")["household_id"])
    assert set(truth["household_id"]) <= roster_households | set(
        truth["household_id"].filter(truth["detail"] == "death_of_earner")
    )


def test_some_people_are_listed_in_two_households_and_the_truth_says_which(months):
    roster = frame(months, "2026-08", "roster")
    shared = roster.group_by("id_number").agg(pl.col("household_id").n_unique().alias("n"), "household_id")
    in_two = set(shared.filter(pl.col("n") > 1).explode("household_id")["household_id"])
    assert in_two
    truth = pl.read_csv(months / "_truth" / "2026-08.csv")
    planted = set(truth.filter(pl.col("detail") == "person_in_two_households")["household_id"])
    assert planted and planted <= in_two


def test_asset_identifiers_are_unique_across_counties(tmp_path):
    generate("2026-08", 40_000, 3, tmp_path)  # two counties, each numbering its households from 0
    vehicles = frame(tmp_path, "2026-08", "vehicles")
    assert vehicles["vehicle_id"].n_unique() == vehicles.height > 0
    estate = frame(tmp_path, "2026-08", "real_estate").unique()
    assert estate.select("property_id", "id_number").n_unique() == estate.height > 0


def test_the_generator_keeps_the_files_it_did_not_write_and_says_so(tmp_path):
    folder = tmp_path / "2026-08"
    folder.mkdir()
    part = folder / "outcomes.part-430101001.csv"  # as the portal writes a township's outcomes
    part.write_text("lead_id,visited_on,outcome\nXS202607-H1-1,2026-08-03,维持现状\n", encoding="utf-8")
    note = folder / "说明.txt"
    note.write_text("数据组备注", encoding="utf-8")
    (folder / "roster.csv").write_text("stale")  # its own from an earlier generation: rewritten
    kept, said = part.read_bytes(), []
    generate("2026-08", 300, 3, tmp_path, say=said.append)
    assert part.read_bytes() == kept and note.read_text(encoding="utf-8") == "数据组备注"
    assert (folder / "roster.csv").read_bytes().decode("gb18030").startswith("户编号")
    assert said == [
        "kept 2026-08/outcomes.part-430101001.csv (not written by the generator)",
        "kept 2026-08/说明.txt (not written by the generator)",
        "no outcome invented for the 1 ids the townships answered in 2026-08/outcomes.part-430101001.csv",
    ]
    found, _ = find_deliveries(folder)
    assert found["outcomes"] == [folder / "outcomes.csv", part]  # both read by the month's run


@pytest.mark.slow  # two months through the DAG's tasks
def test_an_upload_between_two_generated_months_reaches_v_outcomes(tmp_path):
    """README's next-month steps with one upload in between: generate August, run it, a township
    uploads one outcome through the portal, generate September with --home, run it."""
    import datetime as dt

    from direct import run

    from jobs.publish.sealed import connect
    from portal import uploads
    from safetynet.lake import Home
    from safetynet.rules import load_portal
    from synthetic.generate import outcomes

    landing, home = tmp_path / "landing", tmp_path / "home"
    generate("2026-08", 300, 1, landing)
    run("2026-08", str(landing), str(home), "upload-2026-08")
    # a lead the generator would answer itself: the township's answer must be the one that counts
    invented = outcomes("2026-09", 1, landing, home).filter(pl.col("lead_id").str.starts_with("XS"))
    lead_id, made_up = invented.select("lead_id", "outcome").row(0)
    answer = "转介" if made_up != "转介" else "临时救助"
    with connect(home) as con:
        (township,) = con.execute("select township_code from v_leads where lead_id = ?", [lead_id]).fetchone()
    upload = f"线索编号,核查日期,核查结论,转介部门\n{lead_id},2026-09-04,{answer},残联\n".encode()
    checked = uploads.receive(
        home, landing, township, "线索清单.csv", upload, load_portal(), dt.date(2026, 9, 10)
    )
    assert [r.status for r in checked.rows] == ["接受"] and checked.written == {"2026-09": 1}
    part = landing / "2026-09" / f"outcomes.part-{township}.csv"
    uploaded, said = part.read_bytes(), []

    generate("2026-09", 300, 1, landing, home=Home(home).root, say=said.append)
    assert part.read_bytes() == uploaded, "the township's outcomes are kept"
    assert f"kept 2026-09/{part.name} (not written by the generator)" in said
    assert lead_id not in pl.read_csv(landing / "2026-09" / "outcomes.csv")["lead_id"].to_list()
    run("2026-09", str(landing), str(home), "upload-2026-09")
    with connect(home) as con:
        rows = con.execute(
            "select month, outcome, visited_on from v_outcomes where lead_id = ?", [lead_id]
        ).fetchall()
    assert rows == [("2026-09", answer, dt.date(2026, 9, 4))]


# --- the parts: one maker a source, the population in its parts ---------------------------------


def planted(month: str, n: int = 3):
    """A tiny county where everything happens to everyone in `month`, so every maker has rows:
    recipients in a village, 19-year-old students, every event in the month, every holding."""
    mi = month_index(month)
    households, persons = county_population(1, 0, n, "430101")
    households = households.with_columns(
        category=pl.lit("低保"),
        residence_type=pl.lit("农村"),
        disaster_month=pl.lit(mi),
        dilapidated=pl.lit("B"),
        **{flag: pl.lit(True) for flag in ("excess_deposit", "second_home", "has_car", "has_company")},
    )
    persons = persons.with_columns(
        birth=pl.lit(dt.date(2007, 1, 1)),
        college=pl.lit(True),
        disability_month=pl.lit(-999),
        deposit=pl.lit(100.0),
        **{
            event: pl.lit(mi)
            for event in (
                "death_month",
                "missing_month",
                "unemployed_month",
                "injury_month",
                "big_bill_month",
            )
        },
        **{
            flag: pl.lit(True)
            for flag in ("employed", "owns_home", "two_wheeler", "tiny_business", "housing_fund")
        },
    )
    return county_month(month, 1, 0, households, persons)


WHOLE_MONTH = {"divisions", "outcomes", "cross_region_answers", "cross_region_requests"}


def test_every_source_is_made_by_one_maker_but_those_made_for_the_whole_month():
    assert set(SOURCE_MAKERS) | WHOLE_MONTH == set(SOURCES)
    assert not WHOLE_MONTH & set(SOURCE_MAKERS)


# (source, month, draws from the month's generator): education aid is paid in March and September;
# legal aid opens in household 0 in the calendar's month 0 (hh x 7 + month index, every 2,000th).
MAKERS = [
    ("roster", "2026-09", False),
    ("disability", "2026-09", False),
    ("enrolment", "2026-09", False),
    ("education_aid", "2026-09", False),
    ("medical_claims", "2026-09", True),
    ("medical_assistance", "2026-09", True),
    ("employment", "2026-09", True),
    ("work_injury", "2026-09", True),
    ("social_insurance", "2026-09", False),
    ("deaths", "2026-09", True),
    ("missing_persons", "2026-09", True),
    ("real_estate", "2026-09", False),
    ("vehicles", "2026-09", False),
    ("business", "2026-09", False),
    ("deposits", "2026-09", False),
    ("housing_fund", "2026-09", False),
    ("disasters", "2026-09", True),
    ("dilapidated_housing", "2026-09", False),
    ("legal_aid", "2024-01", True),
]


def test_the_table_names_every_maker_in_the_order_of_the_draws():
    assert [source for source, _, _ in MAKERS] == list(SOURCE_MAKERS)


@pytest.mark.parametrize(("source", "month", "draws"), MAKERS)
def test_a_maker_delivers_its_sources_contract_columns_for_the_countys_people(source, month, draws):
    m = planted(month)
    made = SOURCE_MAKERS[source](m)
    assert made.columns == [c.name for c in SOURCES[source].columns]
    assert made.height > 0
    assert made["id_number"].is_in(m.persons["id_number"].implode()).all()
    spec = SOURCES[source]
    if spec.event_date:  # an event is dated within the month it is delivered in
        start, end = month_bounds(month)
        assert made[spec.event_date].is_between(start, end).all()


@pytest.mark.parametrize(("source", "month", "draws"), MAKERS)
def test_only_the_makers_that_date_or_price_rows_draw_from_the_months_generator(source, month, draws):
    """Which makers move the month's draws: reordering those changes a seed's month."""
    m = planted(month)
    before = m.rng.bit_generator.state
    SOURCE_MAKERS[source](m)
    assert (m.rng.bit_generator.state != before) == draws


def test_the_month_is_its_makers_in_table_order():
    households, persons = county_population(2, 0, 60, "430101")
    sources, _ = month_deliveries("2026-09", 2, 0, households, persons)
    m = county_month("2026-09", 2, 0, households, persons)
    assert list(sources) == list(SOURCE_MAKERS)
    for source, make in SOURCE_MAKERS.items():
        assert_frame_equal(sources[source], make(m))


@pytest.mark.parametrize("n", [1, 7, 60])
def test_a_countys_households_and_members_agree(n):
    households, persons = county_population(4, 1, n, "430201")
    assert households.height == n and households["household_id"].n_unique() == n
    assert households["division_code"].str.starts_with("430201").all()
    members = persons.group_by("hh").agg(pl.len().alias("listed"), pl.col("relation").first())
    sizes = households.with_row_index("hh").join(members.with_columns(pl.col("hh").cast(pl.UInt32)), on="hh")
    assert (sizes["size"] == sizes["listed"]).all()
    assert (sizes.filter(pl.col("category") == "特困")["size"] == 1).all()
    assert (persons.filter(pl.col("pos") == 0)["relation"] == "户主").all()
    ids = persons["id_number"]
    assert ids.n_unique() == persons.height
    assert all(len(i) == 18 and check_character(i[:17]) == i[17] for i in ids)


@pytest.mark.parametrize(
    ("health", "working_age", "labour"),
    [
        ("健康", True, "有"),
        ("慢性病", True, "部分丧失"),
        ("大病", True, "无"),
        ("残疾", True, "无"),
        ("健康", False, "无"),
    ],
)
def test_labour_capacity_follows_health_within_working_age(health, working_age, labour):
    assert _labour_capacity(np.array([health]), np.array([working_age])).tolist() == [labour]


# One household a case: (positions, working age, labour capacity, income factor) -> declared incomes.
# The household's income is factor x 900 x size, split among its earners, or the head's if none.
INCOMES = [
    ([0, 1], [True, True], ["有", "有"], 0.5, [450.0, 450.0]),
    ([0, 1, 2], [False, True, False], ["无", "部分丧失", "无"], 1.0, [0.0, 2700.0, 0.0]),
    ([0, 1], [False, False], ["无", "无"], 0.25, [450.0, 0.0]),
    ([0], [True], ["无"], 0.333, [300.0]),  # 299.7, rounded to the yuan
]


@pytest.mark.parametrize(("pos", "working_age", "labour", "factor", "declared"), INCOMES)
def test_a_households_income_is_declared_by_its_earners(pos, working_age, labour, factor, declared):
    income = _declared_incomes(
        np.zeros(len(pos), dtype=int),
        np.array(pos),
        np.array(working_age),
        np.array(labour),
        np.array([factor]),
        np.array([len(pos)]),
    )
    assert income.tolist() == declared
