"""Assistance decisions (issue 36): the rules file and its loader; the run's side (decisions.csv, the
roster's confirmation, v_decisions and the funnel) on tiny frames, in-process."""

from __future__ import annotations

import datetime as dt
import re
import shutil

import duckdb
import polars as pl
import pytest

from jobs.decisions import confirm, decided
from jobs.decisions import log as decision_log
from jobs.publish import warehouse
from safetynet.errors import RulesError
from safetynet.lake import Home
from safetynet.rules import load_decisions
from safetynet.versions import RULES_DIR

DECISIONS = "decisions/decisions.yaml"

# --- the rules ----------------------------------------------------------------------------------------


def test_the_committed_decision_rules_load():
    d = load_decisions("2026-03")
    assert list(d.kinds) == ["纳入低保", "纳入特困", "纳入低保边缘", "临时救助", "单人保", "调整金额", "退出"]
    assert (d.confirm_within_months, d.urgent_help_hours, d.tekun_factor) == (2, 48, 1.3)
    assert d.kinds["单人保"].members == "one" and d.kinds["单人保"].category == "低保"
    assert d.kinds["临时救助"].confirmed_by == "approval" and d.kinds["退出"].category is None
    assert "退出" not in d.assistance_kinds and "调整金额" in d.assistance_kinds


@pytest.mark.parametrize(
    ("kind", "income", "standard", "members", "member_income", "expected"),
    [
        ("纳入低保", 300.0, 600, 3, None, (900.0, None)),  # (600 - 300) x 3
        ("纳入低保", 700.0, 600, 3, None, (0.0, None)),  # never below 0
        ("单人保", 450.0, 600, 4, 100.0, (500.0, None)),  # one person: 600 - the member's own 100
        ("纳入特困", 0.0, 600, 2, None, (1560.0, None)),  # 600 x 1.3 x 2
        ("纳入低保边缘", 650.0, 600, 3, None, (None, None)),
        ("临时救助", 300.0, 600, 3, None, (None, None)),  # one-off: entered by the office
        ("退出", 900.0, 600, 3, None, (None, None)),
    ],
)
def test_amounts_are_prefilled_per_kind(kind, income, standard, members, member_income, expected):
    assert load_decisions().amount(kind, income, standard, members, member_income) == expected


@pytest.mark.parametrize(
    ("kind", "one_off", "approver"),
    [
        ("临时救助", 800.0, "township"),
        ("临时救助", 1000.0, "township"),
        ("临时救助", 1500.0, "county"),
        ("纳入低保", None, "county"),
        ("单人保", None, "county"),
    ],
)
def test_only_small_temporary_assistance_is_approved_by_the_township(kind, one_off, approver):
    assert load_decisions().approver(kind, one_off) == approver


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    target = tmp_path_factory.mktemp("decision-rules") / "rules"
    shutil.copytree(RULES_DIR, target)
    return target


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("{value: 2, reference", "{value: 0, reference", "confirm_within_months.values", "at least 1"),
        ("confirm_within_months:", "confirm_within_month:", "confirm_within_month", "did you mean"),
        (
            "        退出: {category: null, members: household, amount: none, confirmed_by: roster, "
            "assistance: false}\n",
            "",
            "kinds",
            "each kind",
        ),
        (
            "单人保: {category: 低保, members: one, amount: single",
            "单人保: {category: 低保, members: one, amount: dibao",
            "kinds.values",
            "one member's amount",
        ),
        ("amount: tekun,", "amount: tekunn,", "kinds.values", "must be one of"),
        (
            "amount: none, confirmed_by: roster, assistance: true}\n        临时",
            "amount: none, confirmed_by: roster, assistance: true, self_approval: true}\n        临时",
            "self_approval",
            "one-off",
        ),
        ("{value: 1.3,", '{value: "1.3",', "tekun_factor", "must be"),
        (", assistance: false}", "}", "退出.assistance", "is missing"),  # each kind says whether it is help
    ],
)
def test_a_broken_decisions_file_is_refused_naming_file_key_and_problem(root, old, new, key, problem):
    text = (RULES_DIR / DECISIONS).read_text(encoding="utf-8")
    assert old in text
    (root / DECISIONS).write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_decisions(root=root)
    message = str(caught.value)
    assert message.startswith(f"rules/{DECISIONS}: ") and key in message and problem in message, message


# --- the run: the log, decisions.csv, the roster's confirmation -------------------------------------

HH, TOWN, COUNTY = "H0000000100", "430102001", "430102"


def step(event, at, proposal="SB202603-H0000000100-01", version=1, account="xz01", role="township", **fields):
    """One log line as the portal writes it (s7 interface): every field, null when not applicable."""
    entry = {
        "at": at,
        "event": event,
        "proposal_id": proposal,
        "version": version,
        "case_id": "XS202602-H0000000100",
        "household_id": HH,
        "township_code": TOWN,
        "county_code": COUNTY,
        "kind": "纳入低保",
        "category": "低保",
        "id_numbers": ["430102199001010011", "430102199201010022"],
        "monthly_amount": 520.0,
        "one_off_amount": None,
        "effective_from": "2026-03",
        "reason": "人均收入低于低保标准",
        "account": account,
        "role": role,
        "decision_id": None,
        "self_approved": False,
    } | fields
    if event == "approved":
        entry["decision_id"] = "JD" + proposal[2:]
    return decision_log.line(**entry)


def write_log(lake, lines_by_month):
    for month, lines in lines_by_month.items():
        path = lake / decision_log.FOLDER / f"{month}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(lines), encoding="utf-8")


RETURNED_THEN_APPROVED = [
    step("proposed", "2026-03-02T09:00:00+08:00", monthly_amount=600.0),
    step("returned", "2026-03-03T10:00:00+08:00", account="xq01", role="county", reason="收入核算有误"),
    step("proposed", "2026-03-04T09:30:00+08:00", version=2, monthly_amount=520.0, reason="已更正收入"),
    step("approved", "2026-03-05T15:00:00+08:00", version=2, account="xq01", role="county"),
]


def test_a_returned_proposal_corrected_and_approved_is_one_decision_of_the_corrected_version(tmp_path):
    write_log(tmp_path, {"2026-03": RETURNED_THEN_APPROVED})
    d = decided.approved(decision_log.read(tmp_path, "2026-03"))
    assert d.height == 1
    row = d.row(0, named=True)
    assert row["decision_id"] == "JD202603-H0000000100-01" and row["version"] == 2
    assert (row["monthly_amount"], row["proposed_by"], row["approved_by"]) == (520.0, "xz01", "xq01")
    assert str(row["approved_on"]) == "2026-03-05" and row["month"] == "2026-03"
    assert str(row["proposed_at"])[:10] == "2026-03-02"  # the first proposal: days to approval count from it


def test_decisions_csv_has_the_contracts_columns_with_bom_and_the_same_bytes_on_rerun(tmp_path):
    write_log(
        tmp_path,
        {
            "2026-02": [
                step("proposed", "2026-02-27T09:00:00+08:00", proposal="SB202602-H0000000100-01"),
                step(
                    "approved",
                    "2026-02-28T23:59:59+08:00",
                    proposal="SB202602-H0000000100-01",
                    account="xq01",
                    role="county",
                ),
            ],
            # approved on 1 March China time (still February in UTC): a decision of March
            "2026-03": [
                *RETURNED_THEN_APPROVED,
                step(
                    "approved",
                    "2026-03-01T07:00:00+08:00",
                    proposal="SB202602-H0000000200-01",
                    household_id="H0000000200",
                    kind="单人保",
                    id_numbers=["430102195001010033"],
                    account="xq02",
                    role="county",
                ),
            ],
        },
    )
    made = [
        decided.csv_bytes(
            decided.of_month(decided.approved(decision_log.read(tmp_path, "2026-03")), "2026-03")
        )
        for _ in range(2)
    ]
    assert made[0] == made[1]
    text = made[0].decode("utf-8")
    assert made[0].startswith(b"\xef\xbb\xbf")
    lines = text.removeprefix("\ufeff").splitlines()
    assert lines[0] == (
        "decision_id,case_id,household_id,id_numbers,kind,category,monthly_amount,"
        "one_off_amount,effective_from,proposed_by,approved_by,approved_on"
    )
    assert lines[1:] == [
        "JD202602-H0000000200-01,XS202602-H0000000100,H0000000200,430102195001010033,单人保,低保,520.00,,"
        "2026-03,,xq02,2026-03-01",
        "JD202603-H0000000100-01,XS202602-H0000000100,H0000000100,430102199001010011;430102199201010022,"
        "纳入低保,低保,520.00,,2026-03,xz01,xq01,2026-03-05",
    ]


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ('{"at": "2026-03-02T09:00:00+08:00"}\n', "fields missing: event, proposal_id"),
        ("not json\n", "not a JSON line"),
        (
            step("proposed", "2026-03-02T09:00:00+08:00", monthly_amount="520"),
            "monthly_amount '520' is not a number",
        ),
        (step("proposed", "2026-03-02T09:00:00+08:00", version=True), "version True is not a whole number"),
        (step("proposed", "2026-03-02 09:00:00"), "has no time zone"),
        (step("decided", "2026-03-02T09:00:00+08:00"), "event 'decided' is not one of"),
    ],
)
def test_a_broken_log_line_is_refused_naming_file_and_line(tmp_path, bad, problem):
    write_log(tmp_path, {"2026-03": [RETURNED_THEN_APPROVED[0], bad]})
    with pytest.raises(
        decision_log.DecisionLogError, match=r"_decision_log/2026-03.jsonl, line 2: "
    ) as caught:
        decision_log.read(tmp_path, "2026-03")
    assert problem in str(caught.value)


def decision(
    did, kind, effective_from="2026-03", month="2026-03", household=HH, ids=("P1", "P2"), category=None
):
    spec = load_decisions().kinds[kind]
    return {
        "month": month,
        "decision_id": did,
        "case_id": f"C{did}",
        "household_id": household,
        "township_code": TOWN,
        "county_code": COUNTY,
        "kind": kind,
        "category": category
        if category is not None
        else (spec.category if spec.category != "current" else None),
        "id_numbers": list(ids),
        "effective_from": effective_from,
        "approved_on": dt.date(2026, 3, 5),
        "log_file": f"_decision_log/{month}.jsonl",
        "log_line": 4,
    }


def roster(*rows):
    """(household, id number, category) rows of a month's roster."""
    return pl.DataFrame(
        [(h, p, c, "roster.csv", i + 2) for i, (h, p, c) in enumerate(rows)],
        schema={
            "household_id": pl.String,
            "id_number": pl.String,
            "category": pl.String,
            "source_file": pl.String,
            "source_row": pl.Int64,
        },
        orient="row",
    )


def run_states(decisions, rosters):
    """The states month by month over `rosters` ({month: roster}), each month on the last's."""
    frame = pl.DataFrame(decisions).with_columns(pl.col("approved_on").cast(pl.Date))
    before, out = None, {}
    for month, r in rosters.items():
        before = out[month] = confirm.states(month, frame, before, r, load_decisions(), ("低保", "特困"))
    return out


ON_DIBAO = roster((HH, "P1", "低保"), (HH, "P2", "低保"))
NEAR = roster((HH, "P1", "低保边缘"), (HH, "P2", "低保边缘"))
SINGLE = roster((HH, "P1", "低保边缘"), (HH, "P2", "低保"))  # only P2 on dibao: 单人保
OTHER = roster(("H9", "P9", "低保"))  # the household off the roster


@pytest.mark.parametrize(
    ("kind", "ids", "rosters", "expected"),
    [
        # the household in 低保 on April's roster: confirmed in April, source its first row
        (
            "纳入低保",
            ("P1", "P2"),
            {"2026-03": NEAR, "2026-04": ON_DIBAO, "2026-05": NEAR},
            [("待落实", None, None), ("已落实", "2026-04", 2), ("已落实", "2026-04", 2)],
        ),
        # 单人保: the member P2 in 低保 is enough, the household stays 低保边缘
        ("单人保", ("P2",), {"2026-03": SINGLE}, [("已落实", "2026-03", 3)]),
        ("单人保", ("P1",), {"2026-03": SINGLE}, [("待落实", None, None)]),
        # not shown on March's and April's rosters: 未落实 from April; shown in May: confirmed late
        (
            "纳入低保",
            ("P1", "P2"),
            {"2026-03": NEAR, "2026-04": NEAR, "2026-05": ON_DIBAO},
            [("待落实", None, None), ("未落实", None, None), ("已落实", "2026-05", 2)],
        ),
        # 退出: off the roster, or in no recipient category
        (
            "退出",
            ("P1", "P2"),
            {"2026-03": ON_DIBAO, "2026-04": OTHER},
            [("待落实", None, None), ("已落实", "2026-04", None)],
        ),
        ("退出", ("P1", "P2"), {"2026-03": NEAR}, [("已落实", "2026-03", 2)]),
        # 临时救助: a one-off payment, confirmed by its approval
        ("临时救助", ("P1", "P2"), {"2026-03": NEAR}, [("已落实", "2026-03", 4)]),
        # 调整金额: the household still in a recipient category
        (
            "调整金额",
            ("P1", "P2"),
            {"2026-03": NEAR, "2026-04": ON_DIBAO},
            [("待落实", None, None), ("已落实", "2026-04", 2)],
        ),
    ],
)
def test_the_roster_confirms_a_decision(kind, ids, rosters, expected):
    out = run_states([decision("D1", kind, ids=ids)], rosters)
    got = [out[m].select("state", "confirmed_month", "source_row").row(0) for m in rosters]
    assert got == expected


def test_a_decision_effective_later_waits_and_its_state_says_since_when():
    out = run_states(
        [decision("D1", "纳入低保", effective_from="2026-04")],
        {"2026-03": ON_DIBAO, "2026-04": NEAR, "2026-05": NEAR, "2026-06": NEAR},
    )
    assert [out[m].select("state", "since", "due_month").row(0) for m in out] == [
        ("待落实", "2026-03", "2026-05"),  # not effective yet: its roster is not looked at
        ("待落实", "2026-03", "2026-05"),
        ("未落实", "2026-05", "2026-05"),
        ("未落实", "2026-05", "2026-05"),
    ]


# --- the views: v_decisions, v_assistance_funnel, v_rule_yield on a tiny world ----------------------

T1, T2 = "430102001", "430102002"


def case(
    month, cid, state, township=T1, kind="lead", urgency="紧急", category="低保", visited=None, days=None
):
    return {
        "month": month,
        "case_id": cid,
        "kind": kind,
        "household_id": "H" + cid,
        "township_code": township,
        "county_code": township[:6],
        "state": state,
        "first_month": "2026-08",
        "first_issued_on": dt.date(2026, 9, 5),
        "urgency": urgency,
        "category": category,
        "visited_on": visited,
        "days_open": days,
        "rule_ids": ["medical_hard"],
        "outcome": "纳入低保" if visited else None,
    }


TINY_CASES = {
    "2026-08": [
        case("2026-08", "C1", "new"),
        case("2026-08", "C2", "new", category="特困"),
        case("2026-08", "C3", "new", urgency="一般", category="低保边缘"),
        case("2026-08", "C4", "new", township=T2, kind="doubtful", category="其他低收入"),
    ],
    "2026-09": [
        case("2026-09", "C1", "closed", visited=dt.date(2026, 9, 6), days=1),
        case("2026-09", "C2", "closed", category="特困", visited=dt.date(2026, 9, 10), days=5),
        case(
            "2026-09",
            "C3",
            "closed",
            urgency="一般",
            category="低保边缘",
            visited=dt.date(2026, 9, 15),
            days=10,
        ),
        case("2026-09", "C4", "standing", township=T2, kind="doubtful", category="其他低收入"),
    ],
}


def tiny_log(leaving=()):
    """September's log; the cases numbered in `leaving` propose 退出 instead of their kind."""
    out = {"kind": "退出", "category": None, "monthly_amount": None, "one_off_amount": None}

    def p(n, event, at, **kw):
        cid = f"C{n}"
        base = {
            "proposal": f"SB202609-HC{n}-01",
            "case_id": cid,
            "household_id": "H" + cid,
            "township_code": T1,
            "county_code": T1[:6],
            "id_numbers": [f"P{n}"],
        }
        return step(event, at, **(base | kw | (out if n in leaving else {})))

    county = {"account": "xq01", "role": "county"}
    temp = {"kind": "临时救助", "category": None, "monthly_amount": None, "one_off_amount": 800.0}
    tekun = {"kind": "纳入特困", "category": "特困", "effective_from": "2026-09"}
    dibao = {"effective_from": "2026-09"}
    return [
        # C1: proposed the day after the list's issue, approved 42 hours after it: helped within 48 hours
        p(1, "proposed", "2026-09-06T10:00:00+08:00", **temp),
        p(1, "approved", "2026-09-06T18:00:00+08:00", **temp, **county),
        # C2: approved a week after the issue: helped, not within 48 hours; not on September's roster
        p(2, "proposed", "2026-09-10T09:00:00+08:00", **tekun),
        p(2, "approved", "2026-09-12T09:00:00+08:00", **tekun, **county),
        # C3: returned once, corrected, approved; on September's roster in 低保
        p(3, "proposed", "2026-09-15T09:00:00+08:00", **dibao),
        p(3, "returned", "2026-09-16T09:00:00+08:00", **dibao, **county, reason="金额有误"),
        p(3, "proposed", "2026-09-17T09:00:00+08:00", version=2, **dibao),
        p(3, "approved", "2026-09-18T09:00:00+08:00", version=2, **dibao, **county),
    ]


def tiny_world(root, log, sept_roster):
    """The tiny world's cases, `log` as September's decision log and the states on `sept_roster`."""
    from jobs.cases import lifecycle
    from safetynet.lake import write_parquet

    write_log(root / "lake", {"2026-09": log})
    decisions = decided.approved(decision_log.read(root / "lake", "2026-09"))
    states = confirm.states("2026-09", decisions, None, sept_roster, load_decisions(), ("低保", "特困"))
    for month, rows in TINY_CASES.items():
        build = root / "lake" / f"month={month}" / "build=b"
        write_parquet(lifecycle.conform(pl.DataFrame(rows)), build / "_cases" / "data.parquet")
    build = root / "lake" / "month=2026-09" / "build=b"
    write_parquet(decided.of_month(decisions, "2026-09"), build / "_decisions" / "data.parquet")
    write_parquet(states, build / "_decision_states" / "data.parquet")
    return Home(root)


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory):
    sept_roster = roster(("HC3", "P3", "低保"), ("HC2", "P2", "低保边缘"))
    return tiny_world(tmp_path_factory.mktemp("funnel"), tiny_log(), sept_roster)


def query(home, sql):
    con = duckdb.connect()
    for statement in warehouse.statements(home, catalog={m: {"build": "b"} for m in TINY_CASES}):
        if "_runs/" not in statement:  # no run log in a hand-built lake
            con.execute(statement)
    return pl.from_arrow(con.sql(sql).to_arrow_table())


def test_v_decisions_shows_every_step_with_its_account_and_time(tiny_home):
    rows = query(
        tiny_home,
        "select step, account, strftime(\"at\" at time zone 'Asia/Shanghai', '%m-%d %H:%M') as at, month, source "
        "from v_decisions where case_id = 'C3'",
    )
    assert rows.rows() == [
        ("提交", "xz01", "09-15 09:00", "2026-09", "lake/_decision_log/2026-09.jsonl"),
        ("退回", "xq01", "09-16 09:00", "2026-09", "lake/_decision_log/2026-09.jsonl"),
        ("提交", "xz01", "09-17 09:00", "2026-09", "lake/_decision_log/2026-09.jsonl"),
        ("批准", "xq01", "09-18 09:00", "2026-09", "lake/_decision_log/2026-09.jsonl"),
        ("落实", None, None, "2026-09", "roster 2026-09 roster.csv:2"),
    ]
    one_off = query(tiny_home, "select step, source from v_decisions where case_id = 'C1' and step = '落实'")
    assert one_off.rows() == [("落实", "lake/_decision_log/2026-09.jsonl:2")]


def test_the_funnel_and_the_48_hour_share_on_a_tiny_world(tiny_home):
    funnel = query(tiny_home, "select * from v_assistance_funnel where area_level = 'township' order by all")
    sept = funnel.filter((pl.col("month") == "2026-09") & (pl.col("area_code") == T1)).row(0, named=True)
    assert (sept["visited"], sept["proposed"], sept["approved"], sept["confirmed"], sept["unconfirmed"]) == (
        3,
        3,
        3,
        2,
        0,
    )  # C3's corrected proposal is not a second proposal; C1's 临时救助 is confirmed by its approval
    assert sept["median_days_to_visit"] == 5  # 1, 5, 10
    assert sept["median_days_visit_to_proposal"] == 0
    assert (
        sept["median_days_proposal_to_approval"] == 2.0
    )  # 8 hours, 2 days, 3 days (from the first proposal)
    assert sept["median_days_approval_to_confirmation"] == 12  # 18 September to September's roster
    aug = {r["area_code"]: r for r in funnel.filter(pl.col("month") == "2026-08").iter_rows(named=True)}
    assert aug[T1]["leads"] == 3 and aug[T2]["leads"] == 1
    # urgent cases on recipients: C1 (低保) helped 42 hours after the issue, C2 (特困) after a week
    assert (
        aug[T1]["urgent_recipient_cases"],
        aug[T1]["urgent_helped_in_time"],
        aug[T1]["urgent_helped_share"],
    ) == (2, 1, 0.5)
    assert (aug[T2]["urgent_recipient_cases"], aug[T2]["urgent_helped_share"]) == (0, None)  # not a recipient


def test_the_yield_per_rule_is_carried_through_to_confirmed_assistance(tiny_home):
    y = query(
        tiny_home,
        "select visited, helpful, assisted, assisted_yield from v_rule_yield where month = '2026-09'",
    )
    # C3 confirmed by the roster, C1's one-off payment by its approval; C2 not yet on the roster
    assert y.rows() == [(3, 3, 2, 0.6667)]


def test_the_warehouse_reads_every_field_the_portal_logs():
    """jobs/publish/warehouse.py keeps the log's columns apart (it may not import jobs.decisions)."""
    assert list(warehouse.DECISION_LOG_COLUMNS) == list(decision_log.FIELDS)


def test_the_county_overview_shows_the_funnel(tiny_home):
    from jobs.export import overview
    from safetynet.rules import load_rules

    con = duckdb.connect()
    for statement in warehouse.statements(tiny_home, catalog={m: {"build": "b"} for m in TINY_CASES}):
        if "_runs/" not in statement:
            con.execute(statement)
    data = overview.gather(con, "2026-09", T1[:6], load_rules(month="2026-09"))
    html = overview.render(data, {}, load_rules(month="2026-09"), standalone=True)
    funnel = html[html.index('<div id="funnel">') :]
    cells = re.findall(r'<td class="n">([^<]*)</td>', funnel[: funnel.index("</table>")])
    assert cells == ["0", "3", "3", "3", "2", "—", "5.0", "0.0", "2.0", "12.0"]
    assert "线索 →" in funnel and "已落实" in funnel
    cohort = funnel[funnel.index('<table id="cohort">') :]
    assert "本月下发案件的去向" in funnel
    rows = re.findall(r"<tr><td>([^<]*)</td>(.*?)</tr>", cohort[: cohort.index("</table>")])
    assert [(m, re.findall(r'<td class="n">([^<]*)</td>', r)) for m, r in rows] == [
        ("2026-08", ["4", "3", "3", "3", "2", "5.0", "0.0", "2.0", "12.0"])  # the county: T1 and T2
    ]
    # August's urgent cases, issued in September: one of two helped within 48 hours
    assert (
        "上月数据（2026-08，本月下发）中已在册低保、特困对象的紧急线索 2 条，其中下发后 48 小时内获批救助 1 条（50%）"
        in funnel
    )


@pytest.mark.parametrize(
    ("month", "households"),
    [
        ("2026-09", ["H1", "H3", "H4", "H7"]),  # H2 and H5 a month late, H6 (from August) never
        ("2026-10", ["H1", "H2", "H3", "H4", "H5", "H7"]),
        ("2026-12", ["H1", "H2", "H3", "H4", "H5", "H7"]),
    ],
)
def test_the_synthetic_rosters_show_most_decisions_some_late_some_never(tmp_path, month, households):
    from synthetic import decisions as synthetic

    def approved(n, effective_from):
        return step(
            "approved",
            f"2026-09-1{n}T17:00:00+08:00",
            proposal=f"SB202609-H{n}-01",
            household_id=f"H{n}",
            effective_from=effective_from,
            account="xq01",
            role="county",
        )

    lines = [approved(n, "2026-09") for n in range(1, 6)] + [approved(n, "2026-08") for n in (6, 7)]
    write_log(tmp_path / "lake", {"2026-09": lines})
    changes = synthetic.shown(month, tmp_path)
    roster_ = pl.DataFrame(
        {
            "household_id": [f"H{n}" for n in range(1, 8)],
            "id_number": [f"P{n}" for n in range(1, 8)],
            "category": ["低保边缘"] * 7,
        }
    )
    shown = synthetic.on_roster(roster_, changes).filter(pl.col("category") == "低保")
    assert shown["household_id"].to_list() == households


def test_a_grown_log_is_a_new_build_and_a_later_month_is_not_read(tmp_path):
    from jobs.month.run import build_id

    assert decision_log.digest(tmp_path, "2026-03") is None
    write_log(tmp_path, {"2026-03": RETURNED_THEN_APPROVED[:2], "2026-04": RETURNED_THEN_APPROVED[2:]})
    before = decision_log.digest(tmp_path, "2026-03")
    assert decision_log.digest(tmp_path, "2026-03") == before  # the same files, the same digest
    assert decision_log.read(tmp_path, "2026-03").height == 2  # April's lines are not March's run's
    write_log(tmp_path, {"2026-03": RETURNED_THEN_APPROVED[:3]})
    assert decision_log.digest(tmp_path, "2026-03") != before
    ids = {build_id("2026-03", [], None, decision_log=d)["build"] for d in (None, before, "other")}
    assert len(ids) == 3


# --- review findings (fixdec) ----------------------------------------------------------------------

ONLY_P1 = roster((HH, "P1", "低保"), (HH, "P2", "低保边缘"))  # P1 on dibao from an earlier 单人保
P1_LEFT = roster((HH, "P1", "低保"))  # P2 gone off the roster (moved away, died)


@pytest.mark.parametrize(
    ("kind", "r", "expected"),
    [
        # a whole-household decision needs every covered member on the roster in the category
        ("纳入低保", ONLY_P1, ("待落实", None)),
        ("纳入低保", ON_DIBAO, ("已落实", 2)),
        # a covered member gone off the roster does not hold it back: the ones still there decide
        ("纳入低保", P1_LEFT, ("已落实", 2)),
        # 退出: no covered member left in a recipient category
        ("退出", ONLY_P1, ("待落实", None)),
        ("退出", roster((HH, "P1", "低保边缘"), (HH, "P2", "低保")), ("待落实", None)),
        ("退出", NEAR, ("已落实", 2)),
    ],
)
def test_a_household_decision_is_confirmed_only_by_every_covered_member(kind, r, expected):
    out = run_states([decision("D1", kind)], {"2026-03": r})
    assert out["2026-03"].select("state", "source_row").row(0) == expected


def test_a_late_approval_is_not_unconfirmed_on_its_first_run():
    """Effective March, approved in May: counted from May, as a decision effective in May is."""
    late = decision("D1", "纳入低保", effective_from="2026-03", month="2026-05")
    out = run_states([late], {"2026-05": NEAR, "2026-06": NEAR})
    assert [out[m].select("state", "due_month").row(0) for m in out] == [
        ("待落实", "2026-06"),
        ("未落实", "2026-06"),
    ]


def test_an_exit_is_not_counted_as_assistance(tmp_path):
    """C1 and C3 leave assistance (退出) instead: C1's exit approved within 48 hours of the urgent
    list is no help, and C3's exit the roster confirms is no assistance that arrived."""
    log = tiny_log(leaving=(1, 3))
    home = tiny_world(tmp_path, log, roster(("HC3", "P3", "低保边缘"), ("HC2", "P2", "低保边缘")))
    aug = query(
        home,
        "select urgent_recipient_cases, urgent_helped_in_time from v_assistance_funnel "
        f"where month = '2026-08' and area_code = '{T1}'",
    )
    assert aug.rows() == [(2, 0)]  # C2's 特困 came after a week, C1's exit is no help
    confirmed = query(home, "select case_id from v_decisions where step = '落实' order by all")
    assert confirmed.rows() == [("C1",), ("C3",)]  # both exits are on the roster (off it, not in 低保)
    y = query(home, "select visited, assisted, assisted_yield from v_rule_yield where month = '2026-09'")
    assert y.rows() == [(3, 0, 0.0)]


VIEWS_OF_THE_LOG = (
    "select * from v_decisions order by all",
    "select * from v_assistance_funnel order by all",
)


def test_the_views_of_a_commit_do_not_change_as_the_log_grows(tmp_path):
    """The views read the log up to the commit's latest month (September here): a line October's
    portal appends, approving August's urgent C2 within hours, changes nothing."""
    home = tiny_world(tmp_path, tiny_log(), roster(("HC3", "P3", "低保")))
    before = [query(home, sql).rows() for sql in VIEWS_OF_THE_LOG]
    later = step("approved", "2026-08-05T12:00:00+08:00", proposal="SB202610-HC2-01", case_id="C2")
    write_log(home.lake, {"2026-10": [later]})
    assert [query(home, sql).rows() for sql in VIEWS_OF_THE_LOG] == before


def test_the_run_reads_the_log_as_its_start_copied_it_into_the_build(tmp_path):
    """A line appended to the month's own file after the run's start is neither in its decisions
    nor in the views of its commit: both read the copy its build holds."""
    from jobs.decisions import month as decision_month
    from safetynet.lake import WHOLE, Build, write_parquet

    home = tiny_world(tmp_path, tiny_log(), roster(("HC3", "P3", "低保")))
    build = home.lake / "month=2026-09" / "build=b"
    rows, digest = decision_log.snapshot(home.lake, "2026-09")
    assert digest == decision_log.digest(home.lake, "2026-09")
    write_parquet(rows, build / decision_log.FOLDER / WHOLE)
    before = [query(home, sql).rows() for sql in VIEWS_OF_THE_LOG]
    extra = step("approved", "2026-09-29T12:00:00+08:00", proposal="SB202609-HC4-01", case_id="C4")
    with (home.lake / decision_log.FOLDER / "2026-09.jsonl").open("a", encoding="utf-8") as f:
        f.write(extra)
    assert [query(home, sql).rows() for sql in VIEWS_OF_THE_LOG] == before
    running = Home(home.root, building=Build("2026-09", build))
    decisions, _, _ = decision_month.read(running, "2026-09")
    assert sorted(decisions["case_id"]) == ["C1", "C2", "C3"]  # not C4, appended after the start


def test_the_cohort_follows_a_months_cases_to_where_they_went(tiny_home):
    """August's cases in T1 (C1, C2, C3) were all visited, proposed for and approved in September;
    C1's 临时救助 and C3's 低保 are confirmed, C2's 特困 not yet. September issued none: no row."""
    rows = query(tiny_home, "select * from v_assistance_cohort where area_level = 'township' order by all")
    got = {(r["cohort_month"], r["area_code"]): r for r in rows.iter_rows(named=True)}
    assert set(got) == {("2026-08", T1), ("2026-08", T2)}
    t1 = got["2026-08", T1]
    counts = ("cohort_leads", "cohort_visited", "cohort_proposed", "cohort_approved", "cohort_confirmed")
    assert [t1[c] for c in counts] == [3, 3, 3, 3, 2]
    assert [got["2026-08", T2][c] for c in counts] == [1, 0, 0, 0, 0]
    assert t1["cohort_median_days_to_visit"] == 5  # issued 5 Sept; visited 6, 10, 15 Sept: 1, 5, 10
    assert t1["cohort_median_days_visit_to_proposal"] == 0
    assert t1["cohort_median_days_proposal_to_approval"] == 2.0  # 8 hours, 2 days, 3 days
    assert t1["cohort_median_days_approval_to_confirmation"] == 12  # C3: 18 Sept to September's roster


@pytest.mark.slow
def test_a_line_logged_after_the_runs_start_is_not_in_its_decisions(landing, tmp_path):
    """The whole run (tests/direct.py): `start` copies September's log into the build; an approval
    the portal appends after it is left for the next run, so decisions.csv matches the build's id."""
    from direct import run

    home = tmp_path / "home"
    run("2026-08", str(landing), str(home), "aug-1")
    cases = Home(home).read("_cases", "2026-08", ["case_id", "household_id", "township_code", "county_code"])
    one, two = cases.sort("case_id").head(2).iter_rows(named=True)

    def lines(c, day):
        at = f"2026-09-{day:02d}T09:00:00+08:00"
        fields = c | {"proposal": f"SB202609-{c['household_id']}-01", "effective_from": "2026-09"}
        return [step("proposed", at, **fields), step("approved", at, **fields, account="xq01", role="county")]

    write_log(home / "lake", {"2026-09": lines(one, 3)})
    run("2026-09", str(landing), str(home), "sep-1", last="start")
    with (home / "lake" / decision_log.FOLDER / "2026-09.jsonl").open("a", encoding="utf-8") as f:
        f.write("".join(lines(two, 20)))  # appended while the run goes on
    done = run("2026-09", str(landing), str(home), "sep-1", first="ingest")
    build = home / "lake" / "month=2026-09" / f"build={done['build']}"
    assert pl.read_parquet(build / decision_log.FOLDER / "data.parquet").height == 2
    exported = (build / "exports" / "_decisions" / "decisions.csv").read_text(encoding="utf-8-sig")
    assert one["case_id"] in exported and two["case_id"] not in exported
    # September's grown file makes a new build; then October's file gains an approval, within hours,
    # of an urgent case on a recipient: a rerun of September (refused as not reproducible if any byte
    # differed) gives that same build
    grown = run("2026-09", str(landing), str(home), "sep-2")["build"]
    assert grown != done["build"]
    urgent = (
        Home(home)
        .read("_cases", "2026-08")
        .filter((pl.col("urgency") == "紧急") & pl.col("category").is_in(["低保", "特困"]))
        .sort("case_id")
        .row(0, named=True)
    )
    fields = {k: urgent[k] for k in ("case_id", "household_id", "township_code", "county_code")}
    at = f"{urgent['first_issued_on']}T10:00:00+08:00"
    late = {"proposal": f"SB202610-{urgent['household_id']}-01", "effective_from": "2026-10"}
    write_log(
        home / "lake", {"2026-10": [step("approved", at, **fields, **late, account="xq01", role="county")]}
    )
    assert run("2026-09", str(landing), str(home), "sep-3")["build"] == grown
