import datetime as dt
import json
import subprocess
import sys

import polars as pl
import pytest

from jobs.ingest.deliveries import read_source
from jobs.ingest.expectations import SUITE_DIR, build_suite, load_suite, stale_suites
from jobs.ingest.validate import check, failure_expr, validate
from safetynet.contract import SUITES

ROSTER = (
    "household_id,id_number,name,relation,division_code,residence_type,category,monthly_benefit,enrolled_on\n"
    "H1,11010519491231002X,王芳,户主,110105001001,城市,低保,600,2020-01-01\n"  # 2 good
    "H1,11010519491231002X,王芳,户主,110105001001,城市,低保,600,2020-01-01\n"  # 3 exact copy of 2
    "H2,110105194912310021,李强,户主,110105001001,城市,低保,600,2020-01-01\n"  # 4 bad check char
    "H3,440304199001010011,张伟,户主,110105001999,城市,低保,600,2020-01-01\n"  # 5 unknown division
    "H4,440304199001010038,赵敏,户主,110105001001,城市,低保户,600,2020-01-01\n"  # 6 not in code set
    "H5,440304199001010046,钱磊,户主,110105001001,城市,低保,-5,2020-01-01\n"  # 7 negative amount
    "H6,440304199001010054,孙丽,户主,110105001001,城市,低保,600,2027-01-01\n"  # 8 date after month
    "H7,440304199001010062,周杰,,110105001001,城市,低保,600,2020-01-01\n"  # 9 required missing
    "H8,440304199001010070,吴娟,户主,110105001001,城市,低保,600,2020-13-01\n"  # 10 bad date
    "H9,440304199001010089,郑涛,户主,110105001001,农村,特困,500,2020-01-01\n"  # 11 key conflict
    "H9,440304199001010089,郑涛,户主,110105001001,农村,低保,500,2020-01-01\n"  # 12 key conflict
    "H10,1.10105E+17,冯超,户主,110105001001,城市,低保,600,2020-01-01\n"  # 13 Excel
)
EXPECTED = {
    3: "exact duplicate of roster.csv row 2",
    4: "check character is invalid",
    5: "not in the latest divisions delivery",
    6: "code set",
    7: "negative",
    8: "implausible for the month",
    9: "required value is missing",
    10: "not a date",
    11: "key is not unique",
    12: "key is not unique",
    13: "scientific notation",
}


@pytest.fixture()
def roster(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER, encoding="utf-8")
    return read_source("roster", [path])


def test_every_row_is_accepted_or_quarantined_with_its_reason(roster):
    result = validate(roster, "2026-09", ["110105001001"], ge_sample=1000)
    assert result.delivered == 12
    assert result.accepted["source_row"].to_list() == [2]
    assert result.delivered == result.accepted.height + result.quarantined
    reasons = result.quarantine.group_by("source_row").agg(pl.col("reason").str.join("; ")).sort("source_row")
    assert reasons["source_row"].to_list() == sorted(EXPECTED)
    for row, reason in reasons.rows():
        assert EXPECTED[row] in reason, (row, reason)


@pytest.mark.parametrize("rows", [1, 2, 5])
def test_batches_give_what_one_batch_gives(roster, rows):
    """Row 3 copies row 2 and rows 11 and 12 share a key: in batches of one row, every such pair is
    split between batches."""
    whole = validate(roster, "2026-09", ["110105001001"], ge_sample=1000)
    kept: list[pl.DataFrame] = []
    batched = check(
        roster.source,
        roster.frame.lazy(),
        roster.malformed,
        "2026-09",
        ["110105001001"],
        kept.append,
        ge_sample=1000,
        batch_rows=rows,
    )
    assert len(kept) == -(-12 // rows)
    assert pl.concat(kept).equals(whole.accepted)
    assert batched.quarantine.equals(whole.quarantine)
    assert batched.ge_results == whole.ge_results
    assert (batched.delivered, batched.accepted_rows) == (12, 1)


def test_quarantine_keeps_the_value_as_delivered(roster):
    q = validate(roster, "2026-09", ["110105001001"], ge_sample=0).quarantine
    assert q.filter(pl.col("source_row") == 10)["raw_value"].to_list() == ["2020-13-01"]
    assert q.filter(pl.col("source_row") == 5)["raw_value"].to_list() == ["110105001999"]
    assert set(q.columns) >= {"source", "source_file", "source_row", "column", "reason", "raw_value"}


def test_ge_engine_agrees_with_polars_on_every_expectation(roster):
    # ge_sample above the row count: GE validates every row, and validate() raises on any disagreement.
    result = validate(roster, "2026-09", ["110105001001"], ge_sample=1000)
    checked = {r["type"] for r in result.ge_results}
    assert {
        "expect_column_values_to_be_valid_resident_id_number",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_between",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_match_regex",
    } <= checked
    failing = {(r["type"], r["column"]) for r in result.ge_results if not r["success"]}
    assert ("expect_column_values_to_be_valid_resident_id_number", "id_number") in failing


def test_without_a_divisions_delivery_codes_are_not_guessed(roster):
    result = validate(roster, "2026-09", None, ge_sample=0)
    assert 5 in result.accepted["source_row"].to_list()


def test_an_outcome_for_a_closed_case_is_quarantined_and_ge_agrees(tmp_path):
    path = tmp_path / "outcomes.csv"
    path.write_text(
        "lead_id,visited_on,outcome\n"
        "XS202608-H1,2026-09-05,临时救助\n"  # 2 an open case
        "XS202607-H2,2026-09-06,维持现状\n"  # 3 closed by an outcome in August
        "XS202608-H9,2026-09-07,退出\n",  # 4 never issued
        encoding="utf-8",
    )
    issued = ["XS202607-H2", "XS202608-H1"]
    result = validate(
        read_source("outcomes", [path]),
        "2026-09",
        None,
        ge_sample=1000,
        issued_ids=issued,
        closed_ids=["XS202607-H2"],
    )
    assert result.accepted["source_row"].to_list() == [2]
    reasons = dict(result.quarantine.select("source_row", "reason").iter_rows())
    assert "already closed" in reasons[3] and "never issued" in reasons[4]
    checked = {r["type"] for r in result.ge_results}
    assert "expect_column_values_to_not_be_in_set" in checked  # GE's engine gave the same verdicts


def test_committed_suites_match_the_contract():
    assert stale_suites() == []
    assert sorted(p.stem for p in SUITE_DIR.glob("*.json")) == sorted(SUITES)


@pytest.mark.parametrize("source", sorted(SUITES))
def test_every_expectation_in_every_suite_has_a_polars_translation(source):
    from jobs.ingest.validate import UNIQUENESS, month_parameters

    params = month_parameters("2026-09", ["110105001001"], ["XS202608-H0000000001"], ["XS202607-H0000000002"])
    suite = load_suite(source)
    assert suite == build_suite(SUITES[source])
    for exp in suite["expectations"]:
        assert exp["type"] in UNIQUENESS or failure_expr(exp, params) is not None
    # every required column is checked for presence of a value
    required = {e["kwargs"]["column"] for e in suite["expectations"] if e["type"].endswith("not_be_null")}
    assert required == set(SUITES[source].required)


def _id(body17: str) -> str:
    from safetynet.ids import check_character

    return body17 + check_character(body17)


# Issue 14's bad input: each quarantined with a clear reason or handled, never a silent wrong age.
BAD_EVENT_INPUT = [
    (
        "a snapshot date after the month",
        "disability",
        f"id_number,disability_type,grade,registered_on\n{_id('11010519800101001')},肢体,2,2026-10-03\n",
        "implausible for the month",
    ),
    (
        "a birth date that does not exist (30 February)",
        "disability",
        f"id_number,disability_type,grade,registered_on\n{_id('11010520100230001')},肢体,2,2026-09-03\n",
        "impossible birth date",
    ),
    (
        "an enrolment with no date",
        "enrolment",
        f"id_number,stage,enrolled_on,status\n{_id('11010520200101001')},学前,,在读\n",
        "required value is missing",
    ),
]


@pytest.mark.parametrize("case,source,text,reason", BAD_EVENT_INPUT, ids=[b[0] for b in BAD_EVENT_INPUT])
def test_bad_dates_and_births_are_quarantined_with_a_reason(tmp_path, case, source, text, reason):
    path = tmp_path / f"{source}.csv"
    path.write_text(text, encoding="utf-8")
    result = validate(read_source(source, [path]), "2026-09", None, ge_sample=0)
    assert result.accepted.height == 0
    assert any(reason in r for r in result.quarantine["reason"].to_list()), result.quarantine[
        "reason"
    ].to_list()


def test_a_legacy_15_digit_number_is_converted_with_its_19xx_birth_year(tmp_path):
    from safetynet import concepts

    path = tmp_path / "disability.csv"
    path.write_text("id_number,disability_type,grade,registered_on\n110105800229001,肢体,2,2026-09-03\n")
    accepted = validate(read_source("disability", [path]), "2026-09", None, ge_sample=0).accepted
    (id_number,) = accepted["id_number"].to_list()
    assert id_number.startswith("11010519800229") and len(id_number) == 18
    age = accepted.select(concepts.age_on(concepts.birth_date(), dt.date(2026, 9, 30))).item()
    assert age == 46


def test_an_empty_delivery_is_validated_without_importing_great_expectations(tmp_path):
    """Each Airflow task is a process of its own: importing GE took 6 s of a 6.0 s ingest of an empty
    source under the real services, five of a month's nineteen sources being empty there."""
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER.splitlines()[0] + "\n", encoding="utf-8")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from jobs.ingest.deliveries import read_source\n"
        "from jobs.ingest.validate import validate\n"
        f"result = validate(read_source('roster', [Path({str(path)!r})]), '2026-09', ['110105001001'])\n"
        "assert result.delivered == 0, result.delivered\n"
        "print('great_expectations' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


@pytest.fixture()
def ge_counted(monkeypatch):
    """GE's engine as a fresh process has it, counting each context started and suite built."""
    import great_expectations as gx

    from jobs.ingest import ge_engine

    monkeypatch.setattr(ge_engine, "_context", None)
    monkeypatch.setattr(ge_engine, "_suites", {})
    built = {"context": 0, "suite": 0}

    def counting(name, real):
        def call(*args, **kwargs):
            built[name] += 1
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(gx, "get_context", counting("context", gx.get_context))
    monkeypatch.setattr(gx, "ExpectationSuite", counting("suite", gx.ExpectationSuite))
    return built


def test_a_second_validation_starts_no_context_and_builds_no_suite(roster, tmp_path, ge_counted):
    """An ingest task paid GE's start-up for every source (issue 34): a process now starts the
    context once and builds a suite once, and what GE finds is the same every time."""
    first = validate(roster, "2026-09", ["110105001001"], ge_sample=1000)
    assert ge_counted == {"context": 1, "suite": 1}
    path = tmp_path / "outcomes.csv"
    path.write_text("lead_id,visited_on,outcome\nXS202608-H1,2026-09-05,临时救助\n", encoding="utf-8")
    other = validate(
        read_source("outcomes", [path]), "2026-09", None, ge_sample=1000, issued_ids=["XS202608-H1"]
    )
    assert other.ge_results and ge_counted == {"context": 1, "suite": 2}
    again = validate(roster, "2026-09", ["110105001001"], ge_sample=1000)
    assert ge_counted == {"context": 1, "suite": 2}
    assert again.ge_results == first.ge_results
    assert again.quarantine.equals(first.quarantine)


def test_a_changed_suite_file_is_built_again_not_served_stale(roster, tmp_path, monkeypatch, ge_counted):
    from jobs.ingest import expectations

    validate(roster, "2026-09", ["110105001001"], ge_sample=1000)
    changed = load_suite("roster")
    for exp in changed["expectations"]:
        if exp["kwargs"].get("column") == "monthly_benefit":
            exp["kwargs"]["min_value"] = 601  # every benefit delivered (at most 600) now fails
    (tmp_path / "roster.json").write_text(json.dumps(changed), encoding="utf-8")
    monkeypatch.setattr(expectations, "suite_path", lambda source: tmp_path / f"{source}.json")
    result = validate(roster, "2026-09", ["110105001001"], ge_sample=1000)
    assert ge_counted == {"context": 1, "suite": 2}
    (benefit,) = [r for r in result.ge_results if r["column"] == "monthly_benefit"]
    assert benefit["unexpected_count"] == benefit["element_count"] == 12 and not benefit["success"]


CROSS_REGION_REQUESTS = (
    "request_id,region,id_number,name,items,purpose,authorisation_ref,reply_by\n"
    "R1,44,11010519491231002X,王芳,不动产;存款,定期复核,SQ-1,2026-11-15\n"  # 2 good: reply_by after the month
    "R2,44,440304199001010011,张伟,不动产;房子,定期复核,SQ-2,2026-10-15\n"  # 3 an item not in the contract
    "R3,4,440304199001010038,赵敏,存款,申请核对,SQ-3,2026-10-15\n"  # 4 region not 2 digits
    "R4,44,440304199001010046,钱磊,存款,申请核对,,2026-10-15\n"  # 5 no authorisation: refused later, accepted
)


def test_a_cross_region_request_is_checked_item_by_item_and_may_name_a_later_reply_date(tmp_path):
    path = tmp_path / "cross_region_requests.csv"
    path.write_text(CROSS_REGION_REQUESTS, encoding="utf-8")
    result = validate(read_source("cross_region_requests", [path]), "2026-09", None, ge_sample=1000)
    assert sorted(result.accepted["request_id"]) == ["R1", "R4"]
    reasons = dict(zip(result.quarantine["source_row"], result.quarantine["reason"], strict=True))
    assert "items are not among" in reasons[3]
    assert "province code has the wrong form" in reasons[4]


def test_a_roster_s_registration_elsewhere_is_a_6_or_12_digit_code_of_anywhere(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(
        "household_id,id_number,name,relation,division_code,residence_type,category,hukou_division_code\n"
        "H1,11010519491231002X,王芳,户主,110105001001,城市,低保,440304\n"
        "H2,440304199001010011,张伟,户主,110105001001,城市,低保,4403041\n",
        encoding="utf-8",
    )
    result = validate(read_source("roster", [path]), "2026-09", ["110105001001"], ge_sample=1000)
    assert result.accepted["hukou_division_code"].to_list() == ["440304"]
    assert "6 or 12 digits" in result.quarantine["reason"][0]
