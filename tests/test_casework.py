"""The worklist's case states, on tiny frames: an upload waiting for the run, an outcome read by a
run, a deadline passed, or still to visit; their days; the worklist's filters and the home page's
counts of them; the latest issue of a case; the head's name."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from portal.casework import (
    CASES,
    OUTCOMES,
    READ,
    case_states,
    chosen,
    head_names,
    latest_issues,
    returned_outcomes,
    search_cases,
    todo,
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
            "first_issued_on": [dt.date(2026, 9, 1)],
            "visit_by": [visit_by],
            "sheet": ["main"],
            "rank": [4],
        },
        schema_overrides={"rank": pl.UInt32},
    )


def _outcome(outcome: str | None, visited_on: str | None) -> pl.DataFrame:
    rows = [] if outcome is None else [{"lead_id": "L1", "outcome": outcome, "visited_on": visited_on}]
    return pl.DataFrame(rows, schema=OUTCOMES)


def _read(outcome: str | None, visited_on: str | None, month: str = "2026-09") -> pl.DataFrame:
    rows = [] if outcome is None else [("L1", outcome, visited_on, month)]
    return pl.DataFrame(rows, schema=READ, orient="row")


@pytest.mark.parametrize(
    ("visit_by", "waiting", "returned", "state", "outcome", "visited_on"),
    [
        (dt.date(2026, 9, 30), None, None, "待核查", None, None),
        (dt.date(2026, 9, 14), None, None, "已逾期", None, None),
        (dt.date(2026, 9, 15), None, None, "待核查", None, None),  # due today is not overdue
        (dt.date(2026, 9, 14), None, ("A", "2026-09-01"), "已结案", "A", "2026-09-01"),
        (dt.date(2026, 9, 14), ("B", "2026-09-10"), ("A", "2026-09-01"), "已回传待读取", "B", "2026-09-10"),
        (dt.date(2026, 9, 30), ("B", "2026-09-10"), None, "已回传待读取", "B", "2026-09-10"),
        # an outcome read in the month the case was last issued (a correction reopened it): open,
        # the corrected conclusion shown
        (dt.date(2026, 9, 14), None, ("A", "2026-09-01", "2026-08"), "已逾期", "A", "2026-09-01"),
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
        _read(*(returned or (None, None))),
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
    out = case_states(cases, heads, _outcome(None, None), _read(None, None), TODAY)
    assert out["id"].to_list() == ["L0", "L1"]
    assert out["head_name"].to_list() == [None, "张三"]


def test_a_case_is_as_last_issued_and_first_issued_in_its_first_month():
    issued = pl.LazyFrame(
        {
            "issued_on": [dt.date(2026, 10, 1), dt.date(2026, 9, 1), dt.date(2026, 10, 1)],
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
            "first_issued_on": [dt.date(2026, 9, 1)],
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
    assert_frame_equal(returned_outcomes({}), pl.DataFrame(schema=READ))


def test_a_case_s_returned_outcome_is_its_latest_visit(tmp_path):
    """The latest month's reading wins (a correction read later replaces the first outcome)."""
    paths = {}
    for month, rows in [
        ("2026-09", [("L1", "A", dt.date(2026, 9, 1))]),
        ("2026-10", [("L1", "B", dt.date(2026, 8, 1)), ("L2", "C", None)]),
    ]:
        paths[month] = [tmp_path / f"outcomes-{month}.parquet"]
        pl.DataFrame(rows, schema=["lead_id", "outcome", "visited_on"], orient="row").write_parquet(
            paths[month][0]
        )
    out = returned_outcomes(paths).sort("lead_id")
    assert out.rows() == [("L1", "B", "2026-08-01", "2026-10"), ("L2", "C", None, "2026-10")]


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


@pytest.mark.parametrize(
    ("visit_by", "waiting", "returned", "timing", "row"),
    [
        (dt.date(2026, 9, 20), None, None, "已下发 14 天，还剩 5 天", 6),
        (dt.date(2026, 9, 15), None, None, "已下发 14 天，今天到期", 6),
        (dt.date(2026, 9, 10), None, None, "已下发 14 天，逾期 5 天", 6),
        (dt.date(2026, 9, 10), ("B", "2026-09-12"), None, "已下发 14 天", 6),
        (dt.date(2026, 9, 10), None, ("A", "2026-09-05"), "用时 4 天", 6),
    ],
)
def test_a_case_s_days_are_counted_from_its_first_issue_to_today_or_its_visit(
    visit_by, waiting, returned, timing, row
):
    """The portrait said 已下发 0 天 (the days to this month's issue) where the worklist said 已逾期:
    both now print `timing`, from the first issue (2026-09-01) to today (2026-09-15)."""
    out = case_states(
        _case(visit_by),
        pl.DataFrame(schema={"household_id": pl.String, "head_name": pl.String}),
        _outcome(*(waiting or (None, None))),
        _read(*(returned or (None, None))),
        TODAY,
    )
    assert out.select("timing", "list_file", "list_row").row(0) == (timing, "线索清单.xlsx", row)


def _cases(*rows: tuple) -> pl.DataFrame:
    """(id, kind, sheet, state, days_left) rows, as `case_states` gives them."""
    frame = pl.DataFrame(rows, schema=["id", "kind", "sheet", "state", "days_left"], orient="row")
    return frame.with_columns(visit_by=pl.lit(TODAY) + pl.duration(days=pl.col("days_left")))


CASEWORK = _cases(
    ("L1", "lead", "main", "待核查", 0),
    ("L2", "lead", "main", "待核查", 2),
    ("L3", "lead", "main", "待核查", 3),
    ("L4", "lead", "overdue", "已逾期", -4),
    ("L5", "lead", "main", "已回传待读取", 1),
    ("L6", "lead", "main", "已结案", -9),
    ("D1", "doubtful", "main", "待核查", 10),
    ("D2", "doubtful", "main", "已结案", 5),
)


@pytest.mark.parametrize(
    ("kind", "sheet", "state", "ids"),
    [
        ("", "", "", ["L1", "L2", "L3", "L4", "D1"]),  # the default worklist: every open case
        ("lead", "main", "open", ["L1", "L2", "L3"]),
        ("lead", "main", "due", ["L1", "L2"]),  # due today and within 2 days
        ("lead", "overdue", "overdue", ["L4"]),
        ("lead", "main", "returned", ["L5"]),
        ("doubtful", "main", "open", ["D1"]),
        ("recheck", "main", "open", []),
        ("nonsense", "x", "y", ["L1", "L2", "L3", "L4", "D1"]),  # an unknown value filters nothing
    ],
)
def test_the_worklist_s_filters_choose_one_list_s_cases_in_one_state(kind, sheet, state, ids):
    assert chosen(CASEWORK, kind, sheet, state, 2)["id"].to_list() == ids


def test_the_home_page_s_todo_counts_what_the_worklist_s_filters_choose():
    done = todo(CASEWORK, 2)
    assert [(r["list"], r["sheet"], r["counts"]) for r in done["lists"]] == [
        ("lead", "main", {"open": 3, "due": 2, "overdue": 0, "returned": 1}),
        ("lead", "overdue", {"open": 1, "due": 0, "overdue": 1, "returned": 0}),
        ("doubtful", "main", {"open": 1, "due": 0, "overdue": 0, "returned": 0}),
    ]
    for r in done["lists"]:
        for f, n in r["counts"].items():
            assert chosen(CASEWORK, r["list"], r["sheet"], f, 2).height == n
    assert done["nearest"] == {"date": TODAY, "days_left": 0}
    assert [r["title"] for r in done["lists"]] == ["线索清单", "线索清单（逾期未回传）", "核对疑点清单"]
    assert done["lists"][2]["nearest"] == {"date": dt.date(2026, 9, 25), "days_left": 10}


# --- read once per commit (issue 33, item 8) ------------------------------------------------------

TOWNSHIP = "130102001"


def _commit(root, seq: int, build: str, visit_by: dt.date) -> None:
    """A tiny published home: August's commit `seq` with one build, one lead of TOWNSHIP issued
    (due `visit_by`) and listed, its household's roster, an outcome August's run read for another
    case (L0); `current` pointing at it."""
    import json
    import os

    from jobs.cases.lifecycle import CASE_SCHEMA
    from jobs.export.lists import ISSUED_SCHEMA

    folder = root / "lake" / "month=2026-08" / f"build={build}"
    for name in ("_issued", "_cases", "roster", "outcomes"):
        (folder / name).mkdir(parents=True)
    outcome = {"lead_id": "L0", "visited_on": dt.date(2026, 8, 20), "outcome": "维持现状"}
    outcome |= {"referred_to": None, "note": None, "source_file": "outcomes.csv", "source_row": 2}
    pl.DataFrame([outcome]).cast({"referred_to": pl.String, "note": pl.String}).write_parquet(
        folder / "outcomes" / "data.parquet"
    )
    issued = ("2026-08", "L1", "lead", "H1", TOWNSHIP, dt.date(2026, 9, 1), visit_by)
    pl.DataFrame([issued], schema=ISSUED_SCHEMA, orient="row").write_parquet(
        folder / "_issued" / "1301.parquet"
    )
    case = {"month": "2026-08", "case_id": "L1", "kind": "lead", "household_id": "H1", "state": "new"}
    case |= {"township_code": TOWNSHIP, "issued_on": dt.date(2026, 9, 1), "visit_by": visit_by}
    pl.DataFrame([case | {"sheet": "main", "rank": 1}]).cast(
        {k: v for k, v in CASE_SCHEMA.items() if k in {*case, "sheet", "rank"}}
    ).with_columns(
        pl.lit(None, dtype=t).alias(c) for c, t in CASE_SCHEMA.items() if c not in {*case, "sheet", "rank"}
    ).write_parquet(folder / "_cases" / "data.parquet")
    pl.DataFrame({"household_id": ["H1"], "name": ["袁丽"], "relation": ["户主"]}).write_parquet(
        folder / "roster" / "1301.parquet"
    )
    (root / "commits" / str(seq)).mkdir(parents=True)
    catalog = {"seq": seq, "months": {"2026-08": {"build": build}}}
    (root / "commits" / str(seq) / "catalog.json").write_text(json.dumps(catalog), encoding="utf-8")
    (root / "current").unlink(missing_ok=True)
    os.symlink(f"commits/{seq}", root / "current")


def test_a_township_s_cases_are_read_once_per_commit_and_again_for_a_new_commit(tmp_path, monkeypatch):
    """The home page, worklist and portrait ask for a township's cases on every request; a commit
    never changes, so its files are read once (at 2 M households, reading them each time was what
    did not scale), and a new commit is read anew."""
    from portal import case_history
    from portal.casework import township_cases
    from safetynet.lake import Home

    reads = []
    scan = pl.scan_parquet
    monkeypatch.setattr(
        pl, "scan_parquet", lambda source, *a, **k: reads.append(source) or scan(source, *a, **k)
    )
    _commit(tmp_path, 1, "b1", dt.date(2026, 9, 30))
    first = [township_cases(Home(tmp_path), None, TOWNSHIP, TODAY) for _ in range(3)]
    history = [case_history.history(Home(tmp_path), None, TOWNSHIP, "H1", TODAY) for _ in range(3)]
    assert first[0]["state"].to_list() == ["待核查"] and first[0]["head_name"].to_list() == ["袁丽"]
    assert_frame_equal(first[0], first[2]) and history[0] == history[2]
    read_first = len(reads)
    assert township_cases(Home(tmp_path), None, TOWNSHIP, TODAY, "H1").height == 1
    assert len(reads) == read_first  # the second and later requests of the commit read no file

    _commit(tmp_path, 2, "b2", dt.date(2026, 9, 10))  # a new commit: the deadline has moved
    again = township_cases(Home(tmp_path), None, TOWNSHIP, TODAY)
    assert len(reads) > read_first
    assert again["state"].to_list() == ["已逾期"]
    assert (
        "核查期限 2026-09-10"
        in case_history.history(Home(tmp_path), None, TOWNSHIP, "H1", TODAY)[0]["detail"]
    )


def test_an_upload_s_ids_are_looked_up_in_an_index_made_once_per_commit(tmp_path, monkeypatch):
    """An upload's ids are checked against every month's issues and closed cases of the province;
    they are read once per commit into an index (not on every upload), and again for a new one."""
    from portal import uploads
    from safetynet.lake import Home

    reads = []
    scan = pl.scan_parquet
    monkeypatch.setattr(
        pl, "scan_parquet", lambda source, *a, **k: reads.append(source) or scan(source, *a, **k)
    )
    _commit(tmp_path, 1, "b1", dt.date(2026, 9, 30))
    expected = [("L1", TOWNSHIP, "lead", dt.date(2026, 9, 1))]
    assert uploads.issued(Home(tmp_path), ["L1", "L9"]).rows() == expected
    assert uploads.read_back(Home(tmp_path), ["L1"]) == {}
    read_first = len(reads)
    assert uploads.issued(Home(tmp_path), ["L1"]).rows() == expected
    (back,) = uploads.read_back(Home(tmp_path), ["L0", "L1"]).items()
    assert back == ("L0", uploads.Returned("2026-08", ("维持现状", "2026-08-20", None, None), False))
    assert len(reads) == read_first

    _commit(tmp_path, 2, "b2", dt.date(2026, 9, 10))
    assert uploads.issued(Home(tmp_path), ["L1"]).rows() == expected
    assert len(reads) > read_first
