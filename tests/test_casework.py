"""The worklist's case states, on tiny frames: an upload waiting for the run, an outcome read by a
run, a deadline passed, or still to visit; the latest issue of a case; the head's name."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from portal.casework import (
    CASES,
    OUTCOMES,
    case_states,
    head_names,
    latest_issues,
    returned_outcomes,
    search_cases,
)

TODAY = dt.date(2026, 9, 15)


def _case(visit_by: dt.date) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": ["L1"],
            "kind": ["lead"],
            "household_id": ["H1"],
            "first_month": ["2026-08"],
            "month": ["2026-08"],
            "visit_by": [visit_by],
        }
    )


def _outcome(outcome: str | None, visited_on: str | None) -> pl.DataFrame:
    rows = [] if outcome is None else [{"lead_id": "L1", "outcome": outcome, "visited_on": visited_on}]
    return pl.DataFrame(rows, schema=OUTCOMES)


@pytest.mark.parametrize(
    ("visit_by", "waiting", "returned", "state", "outcome", "visited_on"),
    [
        (dt.date(2026, 9, 30), None, None, "待核查", None, None),
        (dt.date(2026, 9, 14), None, None, "已逾期", None, None),
        (dt.date(2026, 9, 15), None, None, "待核查", None, None),  # due today is not overdue
        (dt.date(2026, 9, 14), None, ("A", "2026-09-01"), "已回传", "A", "2026-09-01"),
        (dt.date(2026, 9, 14), ("B", "2026-09-10"), ("A", "2026-09-01"), "已上传待入库", "B", "2026-09-10"),
        (dt.date(2026, 9, 30), ("B", "2026-09-10"), None, "已上传待入库", "B", "2026-09-10"),
    ],
)
def test_a_case_s_state_is_its_upload_then_its_outcome_then_its_deadline(
    visit_by, waiting, returned, state, outcome, visited_on
):
    heads = pl.DataFrame({"household_id": ["H1"], "head_name": ["张三"]})
    out = case_states(
        _case(visit_by),
        heads,
        _outcome(*(waiting or (None, None))),
        _outcome(*(returned or (None, None))),
        TODAY,
    )
    assert out.columns == list(CASES)
    assert out.select("head_name", "state", "outcome", "visited_on").row(0) == (
        "张三",
        state,
        outcome,
        visited_on,
    )


def test_cases_are_listed_by_deadline_then_id_and_a_household_without_a_head_has_none():
    cases = pl.concat(
        [
            _case(dt.date(2026, 9, 30)),
            _case(dt.date(2026, 9, 1)).with_columns(id=pl.lit("L0"), household_id=pl.lit("H2")),
        ]
    )
    heads = pl.DataFrame({"household_id": ["H1"], "head_name": ["张三"]})
    out = case_states(cases, heads, _outcome(None, None), _outcome(None, None), TODAY)
    assert out["id"].to_list() == ["L0", "L1"]
    assert out["head_name"].to_list() == [None, "张三"]


def test_a_case_is_as_last_issued_and_first_issued_in_its_first_month():
    issued = pl.LazyFrame(
        {
            "id": ["L1", "L1", "L2"],
            "kind": ["lead", "lead", "recheck"],
            "household_id": ["H1", "H1", "H2"],
            "township_code": ["130102001", "130102001", "130102002"],
            "month": ["2026-09", "2026-08", "2026-09"],
            "visit_by": [dt.date(2026, 10, 31), dt.date(2026, 9, 30), dt.date(2026, 10, 31)],
        }
    )
    expected = pl.DataFrame(
        {
            "id": ["L1"],
            "kind": ["lead"],
            "household_id": ["H1"],
            "first_month": ["2026-08"],
            "month": ["2026-09"],
            "visit_by": [dt.date(2026, 10, 31)],
        }
    )
    assert_frame_equal(latest_issues(issued, "130102001"), expected)


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ([("H1", "李四", "配偶"), ("H1", "张三", "户主")], [("H1", "张三")]),
        ([("H1", "李四", "配偶")], [("H1", "李四")]),  # no head on the roster: the first member
        ([("H9", "王五", "户主")], []),  # not a case's household
    ],
)
def test_a_household_s_head_name_is_its_户主(members, expected):
    roster = pl.LazyFrame(members, schema=["household_id", "name", "relation"], orient="row")
    out = head_names(roster, _case(TODAY))
    assert out.rows() == expected


def test_no_roster_and_no_outcomes_read_as_empty_frames():
    assert head_names(None, _case(TODAY)).columns == ["household_id", "head_name"]
    assert_frame_equal(returned_outcomes([]), pl.DataFrame(schema=OUTCOMES))


def test_a_case_s_returned_outcome_is_its_latest_visit(tmp_path):
    paths = []
    for i, rows in enumerate(
        [[("L1", "A", dt.date(2026, 9, 1))], [("L1", "B", dt.date(2026, 8, 1)), ("L2", "C", None)]]
    ):
        paths.append(tmp_path / f"outcomes-{i}.parquet")
        pl.DataFrame(rows, schema=["lead_id", "outcome", "visited_on"], orient="row").write_parquet(paths[-1])
    out = returned_outcomes(paths).sort("lead_id")
    assert out.rows() == [("L1", "A", "2026-09-01"), ("L2", "C", None)]


SEARCHED = pl.DataFrame(
    {
        "id": ["L1", "L2", "L3"],
        "household_id": ["H0012", "H0345", "H0678"],
        "head_name": ["袁丽", "王建国", None],
    }
)


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("袁丽", ["L1"]),
        ("袁 丽", ["L1"]),  # a space typed between the characters
        ("袁\u3000丽", ["L1"]),  # the ideographic (full-width) space
        ("袁\t丽 ", ["L1"]),
        ("H0012", ["L1"]),
        ("\uff28\uff10\uff10\uff11\uff12", ["L1"]),  # Ｈ００１２ typed in full-width mode
        ("h0012", ["L1"]),  # an id's letter typed in lower case
        ("０", ["L1", "L2", "L3"]),  # a full-width digit alone
        ("王 建", ["L2"]),
        ("袁丽丽", []),
        ("\u3000", []),  # only a space: nothing, not everything
    ],
)
def test_a_search_ignores_spaces_and_full_width_characters(q, found):
    assert search_cases(SEARCHED, q)["id"].to_list() == found
