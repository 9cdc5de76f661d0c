"""A case's history as the portrait lists it, on tiny frames: issued each month it stood on a list,
overdue when a deadline passed before the outcome came back, returned on the day of its upload,
read and closed by the run after, corrected; the events in the order a case goes through them."""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
import pytest

from jobs.decisions.confirm import SCHEMA as STATE_SCHEMA
from portal.case_history import CORRECTIONS, EVENTS, LABELS, SOURCES, STEPS, Facts, events, upload_log
from safetynet.lake import Home

KEPT = {
    "case_id": pl.String,
    "kind": pl.String,
    "state": pl.String,
    "issued_on": pl.Date,
    "visit_by": pl.Date,
    "sheet": pl.String,
    "rank": pl.UInt32,
    "outcome": pl.String,
    "visited_on": pl.Date,
    "upload_sha256": pl.String,
    "run_month": pl.String,
}
WAITING = ["lead_id", "visited_on", "outcome", "referred_to", "note", "upload_sha256"]
UPLOADED = {"upload_sha256": pl.String, "uploaded_on": pl.Date, "upload_file": pl.String}
AUG, SEP = dt.date(2026, 9, 1), dt.date(2026, 10, 1)  # the days August's and September's lists are issued
ISSUED = ("L1", "lead", "new", AUG, dt.date(2026, 9, 10), "main", 3, None, None, None, "2026-08")
STANDING = ("L1", "lead", "overdue", SEP, dt.date(2026, 9, 10), "overdue", 1, None, None, None, "2026-09")
CLOSED = (
    "L1",
    "lead",
    "closed",
    AUG,
    dt.date(2026, 9, 10),
    None,
    None,
    "纳入低保",
    dt.date(2026, 9, 8),
    "abc",
    "2026-09",
)
WAITS = ("L1", "2026-10-05", "维持现状", None, None, "def")


def _facts(kept: list[tuple], waiting: list[tuple] = (), today: dt.date = dt.date(2026, 10, 10)) -> Facts:
    uploaded = pl.DataFrame(
        [("abc", dt.date(2026, 9, 8), "线索清单.xlsx"), ("def", dt.date(2026, 10, 6), "更正.xlsx")],
        schema=UPLOADED,
        orient="row",
    )
    return Facts(
        pl.DataFrame(kept, schema=KEPT, orient="row"),
        pl.DataFrame(list(waiting), schema=dict.fromkeys(WAITING, pl.String), orient="row"),
        uploaded,
        today,
    )


@pytest.mark.parametrize(
    ("kept", "waiting", "today", "expected"),
    [
        ([ISSUED], [], dt.date(2026, 9, 5), [(AUG, "下发")]),
        ([ISSUED], [], dt.date(2026, 9, 10), [(AUG, "下发")]),  # due today is not overdue
        (
            [ISSUED, STANDING],
            [],
            dt.date(2026, 10, 10),
            [(AUG, "下发"), (dt.date(2026, 9, 11), "逾期"), (SEP, "下发")],
        ),
        (
            [ISSUED, STANDING],
            [WAITS],
            dt.date(2026, 10, 10),
            [(AUG, "下发"), (dt.date(2026, 9, 11), "逾期"), (SEP, "下发"), (dt.date(2026, 10, 6), "已回传")],
        ),
        # uploaded before its deadline, read by September's run (lists issued 2026-10-01): never overdue
        (
            [ISSUED, CLOSED],
            [],
            dt.date(2026, 10, 10),
            [(AUG, "下发"), (dt.date(2026, 9, 8), "已回传"), (SEP, "已读取"), (SEP, "已结案")],
        ),
    ],
)
def test_a_case_s_history_is_its_events_in_order(kept, waiting, today, expected):
    got = events(_facts(kept, waiting, today))
    assert list(zip(got["on"], got["label"], strict=True)) == expected
    assert got.schema == pl.Schema(EVENTS)


def test_a_read_outcome_not_uploaded_on_the_portal_is_returned_when_read():
    """An outcome the data team delivered (no upload logged): no 已回传, and the run's day ends the
    overdue count (a deadline after it was never missed)."""
    closed = (*CLOSED[:9], None, CLOSED[10])
    late = (*ISSUED[:4], dt.date(2026, 10, 5), *ISSUED[5:])
    got = events(_facts([late, closed]))
    assert got["label"].to_list() == ["下发", "已读取", "已结案"]


NOV = dt.date(2026, 11, 1)  # the day October's lists are issued
CORRECTED = (*CLOSED[:7], "不符合条件", dt.date(2026, 9, 8), None, "2026-10")
REOPENED = ("L1", "lead", "reopened", NOV, dt.date(2026, 11, 15), "main", 2, None, None, None, "2026-10")


@pytest.mark.parametrize(
    ("later", "expected"),
    [
        # a correction read by October's run that keeps the case closed: read, corrected, closed again
        (CORRECTED, [(NOV, "已读取"), (NOV, "更正"), (NOV, "已结案")]),
        # one whose new conclusion asks for action: reopened and listed again
        (REOPENED, [(NOV, "下发"), (NOV, "更正")]),
    ],
)
def test_a_correction_read_by_a_run_is_in_the_history(later, expected):
    """Issue 33, item 3 left corrections in `_cases`: closed again, or reopened; the portrait says 更正."""
    got = events(_facts([ISSUED, CLOSED, later], today=dt.date(2026, 11, 5)))
    tail = list(zip(got["on"], got["label"], strict=True))[-len(expected) :]
    assert tail == expected
    assert "更正" in got.filter(pl.col("code") == "corrected")["label"].to_list()


def test_a_reopening_correction_says_what_it_changed_and_why_and_when_it_came_back():
    """The reopened row keeps no outcome: the history takes the correction from the outcomes the run
    read, says old → new with the clerk's reason, and shows the correction's upload as 已回传."""
    read = pl.DataFrame(
        [("L1", "2026-10", "临时救助", "2026-10-05", "家中突发变故", "def")], schema=CORRECTIONS, orient="row"
    )
    plain = _facts([ISSUED, CLOSED, REOPENED], today=dt.date(2026, 11, 5))
    got = events(Facts(plain.kept, plain.waiting, plain.uploaded, plain.today, read))
    said = got.filter(pl.col("code") == "corrected")["detail"].to_list()
    assert said == [
        "结论由 纳入低保 更正为 临时救助（更正原因：家中突发变故），需要办理，案件重新打开并列入清单"
    ]
    back = got.filter(pl.col("code") == "returned")
    assert (
        dt.date(2026, 10, 6),
        "上传《更正.xlsx》：核查结论 临时救助，核查日期 2026-10-05（更正）",
    ) in list(zip(back["on"], back["detail"], strict=True))


def test_every_kind_of_event_has_its_label_and_a_source():
    assert list(LABELS.values()) == [
        "下发",
        "逾期",
        "已回传",
        "已读取",
        "更正",
        "已结案",
        "申请",
        "退回",
        "批准",
        "救助到位",
        "未落实",
    ]
    # issued, overdue, returned, read (and closed), corrected; proposed, sent back, approved,
    # arrived, lapsed
    assert len(SOURCES) == 10


# --- the decision steps (issue 36, item 4) ------------------------------------------------------


def _step(event: str, on: dt.date, **extra) -> dict:
    return {
        "case_id": "L1",
        "on": on,
        "event": event,
        "kind": "单人保",
        "monthly_amount": 650.0,
        "one_off_amount": None,
        "reason": None,
        "decision_id": None,
    } | extra


def _state(state: str, **extra) -> dict:
    row = dict.fromkeys(STATE_SCHEMA)
    return (
        row
        | {
            "month": "2026-12",
            "decision_id": "JD202609-H1-01",
            "case_id": "L1",
            "household_id": "H1",
            "township_code": "430102001",
            "county_code": "430102",
            "kind": "单人保",
            "category": "低保",
            "id_numbers": ["430102199001010011"],
            "effective_from": "2026-10",
            "approved_on": dt.date(2026, 9, 20),
            "due_month": "2026-11",
            "state": state,
        }
        | extra
    )


STEPS_ = [
    _step("proposed", dt.date(2026, 9, 15)),
    _step("returned", dt.date(2026, 9, 16), reason="收入未核实"),
    _step("proposed", dt.date(2026, 9, 18), monthly_amount=600.0),
    _step("approved", dt.date(2026, 9, 20), monthly_amount=600.0, decision_id="JD202609-H1-01"),
]
ARRIVED = _state(
    "已落实", since="2026-10", confirmed_month="2026-10", source_file="roster.xlsx", source_row=4
)
LAPSED = _state("未落实", since="2026-11")
AWAITED = _state("待落实", since="2026-10")
TEMPORARY = _state(
    "已落实",
    kind="临时救助",
    since="2026-09",
    confirmed_month="2026-09",
    source_file="2026-09.jsonl",
    source_row=2,
)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (ARRIVED, ("arrived", "救助到位", "经2026年10月名册确认落实")),
        (LAPSED, ("lapsed", "未落实", "自2026年11月起未落实")),
        (AWAITED, None),  # approved, not yet on a roster: neither
        (TEMPORARY, ("arrived", "救助到位", "批准即落实")),
    ],
    ids=["confirmed", "lapsed", "awaited", "temporary"],
)
def test_a_decision_s_steps_and_its_roster_state_are_in_the_history(state, expected):
    facts = dataclasses.replace(
        _facts([ISSUED, CLOSED]),
        steps=pl.DataFrame(STEPS_, schema=STEPS),
        states=pl.DataFrame([state], schema=STATE_SCHEMA),
    )
    got = events(facts)
    steps = got.filter(pl.col("code").is_in(["proposed", "sent_back", "approved"]))
    assert list(zip(steps["label"], steps["detail"], strict=True)) == [
        ("申请", "申请单人保，每月 650.00 元"),
        ("退回", "单人保申请被退回，退回原因：收入未核实"),
        ("申请", "申请单人保，每月 600.00 元"),
        ("批准", "单人保已批准，决定编号 JD202609-H1-01，每月 600.00 元"),
    ]
    after = got.filter(pl.col("code").is_in(["arrived", "lapsed"]))
    if expected is None:
        assert after.height == 0 and not {"救助到位", "未落实"} & set(got["label"])
        return
    ((code, label, on, detail),) = after.select("code", "label", "on", "detail").rows()
    assert (code, label) == expected[:2] and expected[2] in detail and "JD202609-H1-01" in detail
    if state is TEMPORARY:
        assert on == dt.date(2026, 9, 20)  # a one-off payment arrives with its approval
    else:
        assert on > dt.date(2026, 9, 20)  # the day the month's run read the roster


def test_no_case_no_events_and_no_log_no_uploads(tmp_path):
    assert events(Facts(pl.DataFrame(), pl.DataFrame(), pl.DataFrame(), dt.date(2026, 9, 1))).height == 0
    assert upload_log(tmp_path, "130102001").schema == pl.Schema(UPLOADED)


def test_the_upload_log_is_read_from_where_the_last_reading_stopped(tmp_path):
    """The portrait reads the township's uploads from the portal's trail, which every request of
    every office lengthens: each reading reads only the lines added since the one before (issue 33,
    item 8), a line still being written waits for the next, and a new file is read whole."""
    import json

    from portal import audit

    log = audit.folder(tmp_path) / "2026-09.jsonl"
    log.parent.mkdir(parents=True)

    def line(sha: str, township: str = "130102001", action: str = "upload") -> str:
        entry = {"at": "2026-09-08T10:00:00.000+08:00", "action": action, "township_code": township}
        return json.dumps(entry | {"sha256": sha, "file": f"{sha}.xlsx"}, sort_keys=True) + "\n"

    log.write_text(line("aaa") + line("xxx", action="download"), encoding="utf-8")
    assert sorted(upload_log(tmp_path, "130102001")["upload_sha256"]) == ["aaa"]
    # the first line rewritten in place (it never is): not read again, as it was read already
    log.write_bytes(log.read_bytes().replace(b"aaa", b"zzz"))
    half = line("bbb")
    with open(log, "a", encoding="utf-8") as f:
        f.write(half[:20])
    assert sorted(upload_log(tmp_path, "130102001")["upload_sha256"]) == ["aaa"]
    with open(log, "a", encoding="utf-8") as f:
        f.write(half[20:] + line("ccc", township="130102002"))
    assert sorted(upload_log(tmp_path, "130102001")["upload_sha256"]) == ["aaa", "bbb"]
    log.unlink()
    log.write_text(line("ddd"), encoding="utf-8")  # another file at the same place: read whole
    assert sorted(upload_log(tmp_path, "130102001")["upload_sha256"]) == ["ddd"]


def test_the_rules_are_loaded_once_per_month_not_three_times_a_portrait(monkeypatch):
    """The day a run read an outcome is the day its month's lists are issued (the rules); loading
    the rules parses every rule file (0.25 s), and a portrait asked for it three times per page."""
    from portal import case_history

    loaded = []
    real = case_history.load_rules
    monkeypatch.setattr(case_history, "load_rules", lambda month: loaded.append(month) or real(month=month))
    first = events(_facts([ISSUED, CLOSED]))
    assert len(loaded) <= 1  # none when an earlier test read September's day already
    loaded.clear()
    again = events(_facts([ISSUED, CLOSED]))
    assert first.equals(again) and (again["code"] == "closed").any()
    assert loaded == []


def test_a_broken_decision_log_leaves_the_portrait_without_its_steps_not_broken(tmp_path):
    from portal import case_history, decisions

    log = decisions.folder(tmp_path) / "2026-09.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text('{"event": "proposed", "at": "2026-09-2\n', encoding="utf-8")  # cut off
    steps = case_history.decision_steps(Home(tmp_path), "430102001", "H1")
    assert steps.height == 0 and steps.schema == pl.Schema(STEPS)
