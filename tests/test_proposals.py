"""Proposals for assistance (issue 36, the portal side): the decision log's lines and states, the
proposal form's checks (table-driven, on a household built in the test), the 审批表, and every
route on a published month: a township proposes from a verified case, the county returns and
approves, a stranger, another township and another county see nothing. The browser test is
tests/test_portal_browser.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import re
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from jobs.decisions.confirm import SCHEMA as STATE_SCHEMA
from jobs.export import approval_forms
from portal import audit, decisions, proposals
from portal.accounts import Accounts
from portal.app import create_app
from portal.documents import fonts
from portal.proposals import Entered, Household, Member, amounts, check, default_members, kinds_of
from safetynet.lake import Home
from safetynet.rules import load_decisions, load_population, load_portal
from tests.direct import run
from tests.workbooks import september_open

PASSWORD = "correct horse 1"
TODAY = dt.date(2026, 9, 20)
NOW = dt.datetime(2026, 9, 20, 10, 30, tzinfo=decisions.CHINA)
# the decision log's fields as the interface (s7-decisions-interface.md, point 2) lists them
CONTRACT_FIELDS = [
    "at",
    "event",
    "proposal_id",
    "version",
    "case_id",
    "household_id",
    "township_code",
    "county_code",
    "kind",
    "category",
    "id_numbers",
    "monthly_amount",
    "one_off_amount",
    "effective_from",
    "reason",
    "account",
    "role",
    "decision_id",
    "self_approved",
]


# --- the decision log ----------------------------------------------------------------------------


def fields(household: str = "H0001", **extra) -> dict:
    return {
        "case_id": "XS202608-0001",
        "household_id": household,
        "township_code": "430102001",
        "county_code": "430102",
        "kind": "单人保",
        "category": "低保",
        "id_numbers": ["430102199001010011"],
        "monthly_amount": 650.0,
        "one_off_amount": None,
        "effective_from": "2026-10",
        "reason": "重度残疾，无收入",
    } | extra


def test_a_line_has_every_field_of_the_interface_and_nothing_else(tmp_path):
    state = decisions.propose(tmp_path, fields(), "town", "township", NOW)
    (path,) = (tmp_path / "lake" / "_decision_log").glob("*.jsonl")
    assert path.name == "2026-09.jsonl"  # the step's month, China time
    (entry,) = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert sorted(entry) == sorted(CONTRACT_FIELDS)
    assert entry["at"] == "2026-09-20T10:30:00+08:00"
    assert (entry["event"], entry["version"], entry["decision_id"], entry["self_approved"]) == (
        "proposed",
        1,
        None,
        False,
    )
    assert entry["proposal_id"] == state["proposal_id"] == "SB202609-H0001-01"
    assert (entry["account"], entry["role"]) == ("town", "township")


def test_a_step_s_month_is_china_time():
    late = dt.datetime(2026, 9, 30, 17, 0, tzinfo=dt.UTC)  # 01:00 on 1 October in China
    assert decisions.line("proposed", late, **fields())["at"] == "2026-10-01T01:00:00+08:00"
    assert decisions.next_proposal_id([], "H1", late) == "SB202610-H1-01"


def test_proposal_ids_count_within_the_household_and_month(tmp_path):
    ids = [
        decisions.propose(tmp_path, fields(case_id=case), "town", "township", NOW)["proposal_id"]
        for case in ("XS1", "YD1")
    ]
    other = decisions.propose(tmp_path, fields("H0002"), "town", "township", NOW)["proposal_id"]
    later = decisions.propose(
        tmp_path, fields(case_id="XS2"), "town", "township", NOW + dt.timedelta(days=20)
    )
    assert ids == ["SB202609-H0001-01", "SB202609-H0001-02"]
    assert other == "SB202609-H0002-01" and later["proposal_id"] == "SB202610-H0001-01"


def test_returned_corrected_and_approved_with_each_step_s_account(tmp_path):
    pid = decisions.propose(tmp_path, fields(), "town", "township", NOW)["proposal_id"]
    returned = decisions.decide(tmp_path, pid, "returned", "county", "county", "收入未核实", NOW)
    assert (returned["state"], returned["returned_reason"]) == (decisions.RETURNED, "收入未核实")
    corrected = decisions.propose(
        tmp_path, fields(monthly_amount=600.0), "town2", "township", NOW, resubmit=pid
    )
    assert (corrected["proposal_id"], corrected["version"], corrected["state"]) == (pid, 2, decisions.PENDING)
    approved = decisions.decide(tmp_path, pid, "approved", "county", "county", None, NOW)
    assert approved["decision_id"] == "JD" + pid[2:] and approved["monthly_amount"] == 600.0
    steps = decisions.read(tmp_path)
    assert [(s["event"], s["version"], s["account"]) for s in steps] == [
        ("proposed", 1, "town"),
        ("returned", 1, "county"),
        ("proposed", 2, "town2"),
        ("approved", 2, "county"),
    ]
    # each line says what was decided, the approval too
    assert steps[-1]["id_numbers"] == ["430102199001010011"] and steps[-1]["effective_from"] == "2026-10"


@pytest.mark.parametrize(
    ("steps", "event", "account", "refused"),
    [
        ([], "approved", "town", decisions.OwnProposal),  # nobody approves their own
        ([], "returned", "town", decisions.OwnProposal),
        ([("approved", "county")], "approved", "county2", decisions.StepRefused),  # a second click
        ([("approved", "county")], "returned", "county2", decisions.StepRefused),
        ([("returned", "county")], "approved", "county", decisions.StepRefused),  # to be corrected first
    ],
)
def test_a_step_the_state_does_not_allow_is_refused(tmp_path, steps, event, account, refused):
    pid = decisions.propose(tmp_path, fields(), "town", "township", NOW)["proposal_id"]
    for e, who in steps:
        decisions.decide(tmp_path, pid, e, who, "county", "原因", NOW)
    before = decisions.read(tmp_path)
    with pytest.raises(refused):
        decisions.decide(tmp_path, pid, event, account, "county", "原因", NOW)
    assert decisions.read(tmp_path) == before


def test_an_account_that_proposed_any_version_may_not_approve_even_the_data_team(tmp_path):
    pid = decisions.propose(tmp_path, fields(), "admin", "admin", NOW)["proposal_id"]
    decisions.decide(tmp_path, pid, "returned", "county", "county", "补充材料", NOW)
    decisions.propose(tmp_path, fields(), "town", "township", NOW, resubmit=pid)
    with pytest.raises(decisions.OwnProposal):
        decisions.decide(tmp_path, pid, "approved", "admin", "admin", None, NOW)


def test_only_a_returned_proposal_is_corrected(tmp_path):
    pid = decisions.propose(tmp_path, fields(), "town", "township", NOW)["proposal_id"]
    with pytest.raises(decisions.StepRefused):
        decisions.propose(tmp_path, fields(), "town", "township", NOW, resubmit=pid)


def test_one_case_has_one_open_proposal_of_a_kind(tmp_path):
    """A second click on 提交 (or the same proposal made twice) is not a second proposal while the
    first is pending or returned; once approved, not at all for that kind (the next test)."""
    pid = decisions.propose(tmp_path, fields(), "town", "township", NOW)["proposal_id"]
    with pytest.raises(decisions.AlreadyOpen) as twice:
        decisions.propose(tmp_path, fields(), "town2", "township", NOW)
    assert twice.value.proposal_id == pid
    decisions.decide(tmp_path, pid, "returned", "county", "county", "补充", NOW)
    with pytest.raises(decisions.AlreadyOpen):
        decisions.propose(tmp_path, fields(), "town", "township", NOW)
    other = decisions.propose(tmp_path, fields(kind="临时救助"), "town", "township", NOW)  # another kind
    decisions.propose(tmp_path, fields(), "town", "township", NOW, resubmit=pid)
    decisions.decide(tmp_path, pid, "approved", "county", "county", None, NOW)
    with pytest.raises(decisions.AlreadyApproved):
        decisions.propose(tmp_path, fields(), "town", "township", NOW)
    again = decisions.propose(tmp_path, fields(kind="纳入特困"), "town", "township", NOW)
    assert len({pid, other["proposal_id"], again["proposal_id"]}) == 3


@pytest.mark.parametrize(("kind", "again"), [("单人保", False), ("纳入低保", False), ("临时救助", True)])
def test_a_kind_approved_for_a_case_is_not_proposed_again_unless_it_recurs(tmp_path, kind, again):
    pid = decisions.propose(tmp_path, fields(kind=kind), "town", "township", NOW)["proposal_id"]
    decisions.decide(tmp_path, pid, "approved", "county", "county", None, NOW)
    if again:
        assert decisions.propose(tmp_path, fields(kind=kind), "town", "township", NOW)["proposal_id"] != pid
        return
    with pytest.raises(decisions.AlreadyApproved) as refused:
        decisions.propose(tmp_path, fields(kind=kind), "town", "township", NOW)
    assert refused.value.proposal_id == pid and len(decisions.read(tmp_path)) == 2
    # another case of the household, or another kind for the case, is proposed as before
    decisions.propose(tmp_path, fields(kind=kind, case_id="XS202608-0002"), "town", "township", NOW)
    decisions.propose(tmp_path, fields(kind="纳入特困"), "town", "township", NOW)


def test_self_approved_temporary_help_is_a_proposal_and_an_approval(tmp_path):
    temporary = fields(kind="临时救助", category=None, monthly_amount=None, one_off_amount=800.0)
    state = decisions.propose(tmp_path, temporary, "town", "township", NOW, self_approve=True)
    assert state["state"] == decisions.APPROVED and state["self_approved"]
    proposed, approved = decisions.read(tmp_path)
    assert (approved["event"], approved["self_approved"], approved["account"]) == ("approved", True, "town")
    assert approved["one_off_amount"] == 800.0 and not proposed["self_approved"]


def test_the_county_worklist_is_pending_first_oldest_first(tmp_path):
    made = []
    for day, household in enumerate(["H3", "H1", "H2", "H4"]):
        at = NOW + dt.timedelta(days=day)
        proposed = fields(household, case_id=f"XS-{household}")
        made.append(decisions.propose(tmp_path, proposed, "town", "township", at)["proposal_id"])
    decisions.decide(tmp_path, made[0], "approved", "county", "county", None, NOW + dt.timedelta(days=5))
    decisions.decide(tmp_path, made[2], "returned", "county", "county", "x", NOW + dt.timedelta(days=5))
    shown = decisions.worklist(decisions.proposals(tmp_path, county="430102"))
    assert [(p["household_id"], p["state"]) for p in shown] == [
        ("H1", decisions.PENDING),
        ("H4", decisions.PENDING),
        ("H2", decisions.RETURNED),
        ("H3", decisions.APPROVED),
    ]
    assert decisions.proposals(tmp_path, county="430103") == []
    assert len(decisions.proposals(tmp_path, township="430102001")) == 4


def test_the_run_reads_the_portal_s_lines_as_they_are_written(tmp_path):
    """The other side of the interface (jobs/decisions/log.py, the run's reader) reads what the
    portal appends: the same fields, each step, the decision with its proposal's account."""
    from jobs.decisions import decided
    from jobs.decisions import log as run_log

    assert list(decisions.FIELDS) == list(run_log.FIELDS) == CONTRACT_FIELDS
    pid = decisions.propose(tmp_path, fields(), "town", "township", NOW)["proposal_id"]
    decisions.decide(tmp_path, pid, "returned", "county", "county", "收入未核实", NOW)
    decisions.propose(tmp_path, fields(monthly_amount=600.0), "town2", "township", NOW, resubmit=pid)
    decisions.decide(tmp_path, pid, "approved", "county", "county", None, NOW)
    temporary = fields("H0002", kind="临时救助", category=None, monthly_amount=None, one_off_amount=800.0)
    decisions.propose(tmp_path, temporary, "town", "township", NOW, self_approve=True)
    read = run_log.read(tmp_path / "lake", "2026-09")
    assert read["event"].to_list() == ["proposed", "returned", "proposed", "approved", "proposed", "approved"]
    made = decided.approved(read).to_dicts()
    assert [(d["decision_id"], d["proposed_by"], d["approved_by"], d["self_approved"]) for d in made] == [
        ("JD" + pid[2:], "town2", "county", False),
        ("JD202609-H0002-01", "town", "town", True),
    ]
    assert made[0]["monthly_amount"] == 600.0 and made[0]["id_numbers"] == ["430102199001010011"]
    assert str(made[0]["approved_on"]) == "2026-09-20" and made[0]["month"] == "2026-09"


# --- the form ------------------------------------------------------------------------------------


def member(key: str, id_number: str, income: float, health: str = "健康", counted: bool = True) -> Member:
    masked = id_number[:6] + "********" + id_number[-4:]
    relation = "户主" if key == "1" else "子女"
    grade = "肢体一级残疾" if health == "残疾" else None
    return Member(
        key, id_number, masked, f"成员{key}", relation, health, "无", grade, bool(grade), income, counted
    )


HOUSEHOLD = Household(
    month="2026-08",
    household_id="H0001",
    township_code="430102001",
    category="其他低收入",
    residence_type="城市",
    per_capita_income=300.0,
    dibao_standard=840.0,
    counted=2,
    members=(
        member("1", "430102197001010011", 600.0),
        member("2", "430102200001010022", 0.0, "残疾"),
        member("3", "430102194001010033", 0.0, counted=False),
    ),
)
KINDS = kinds_of(load_decisions("2026-09"))
RECIPIENTS = load_population(month="2026-09").recipient_categories


def entered(**typed) -> Entered:
    return Entered(
        **(
            {
                "kind": "纳入低保",
                "members": ("1", "2"),
                "amount": "1080",
                "effective_from": "2026-10",
                "reason": "核查属实",
            }
            | typed
        )
    )


def test_the_form_is_prefilled_from_the_means_test_and_the_rules():
    rules = load_decisions("2026-09")
    dibao = KINDS["纳入低保"]
    assert default_members(HOUSEHOLD, dibao) == ("1", "2")  # the members the means test counts
    assert amounts(rules, HOUSEHOLD, dibao, ("1", "2")) == (1080.0, None)  # (840 - 300) x 2
    single = KINDS["单人保"]
    assert default_members(HOUSEHOLD, single) == ("2",)  # the disabled member
    assert amounts(rules, HOUSEHOLD, single, ("2",)) == (840.0, None)  # 840 - her own 0
    assert amounts(rules, HOUSEHOLD, KINDS["纳入特困"], ("1", "2"))[0] == pytest.approx(840 * 1.3 * 2)
    assert amounts(rules, HOUSEHOLD, KINDS["临时救助"], ("1", "2")) == (None, None)  # the office enters it


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ({"kind": "发钱"}, "请选择救助类型"),
        ({"amount": "三百"}, "金额“三百”不是数字"),
        ({"amount": ""}, "请填写每月救助金额"),
        ({"amount": "-5"}, "应大于 0"),
        (
            {"kind": "单人保", "members": ("1", "2"), "amount": "840"},
            "单人保只能选择一名成员（现在选了 2 名）",
        ),
        ({"members": ("1", "9")}, "所选成员不在本户（H0001）"),
        ({"members": ()}, "请选择救助覆盖的成员"),
        ({"effective_from": "2026-08"}, "生效月份 2026-08 已经过去，不能早于本月（2026-09）"),
        ({"effective_from": "十月"}, "生效月份“十月”应写成 年-月"),
        ({"effective_from": "2026-13"}, "应写成 年-月"),
        ({"reason": "  "}, "请填写理由"),
        ({"kind": "纳入低保边缘", "amount": "100"}, "纳入低保边缘不发放救助金，金额请留空"),
        (
            {"kind": "临时救助", "amount": "1500", "self_approve": True},
            "先行救助只限乡镇直接批准临时救助，金额不超过 1000 元",
        ),
        ({"kind": "纳入低保", "self_approve": True}, "先行救助只限"),
        ({"kind": "调整金额"}, "调整金额只适用于已在低保、特困中的家庭（本户现为其他低收入）"),
        ({"kind": "退出", "amount": ""}, "退出只适用于已在低保、特困中的家庭"),
    ],
)
def test_a_form_with_a_problem_is_refused_in_chinese(typed, problem):
    got, errors = check(entered(**typed), HOUSEHOLD, KINDS, TODAY, 1000.0, "township", RECIPIENTS)
    assert got is None and any(problem in e for e in errors), errors


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ({}, {"kind": "纳入低保", "category": "低保", "monthly_amount": 1080.0, "one_off_amount": None}),
        ({"amount": "１,０８０.５ 元"}, {"monthly_amount": 1080.5}),  # full-width digits and 元
        (
            {"kind": "单人保", "members": ("2",), "amount": "840"},
            {"category": "低保", "id_numbers": ["430102200001010022"]},
        ),
        (
            {"kind": "临时救助", "amount": "800", "self_approve": True},
            {"one_off_amount": 800.0, "monthly_amount": None},
        ),
        ({"effective_from": "2026-09"}, {"effective_from": "2026-09"}),  # this month is not past
    ],
)
def test_a_good_form_gives_the_log_s_fields(typed, expected):
    got, errors = check(entered(**typed), HOUSEHOLD, KINDS, TODAY, 1000.0, "township", RECIPIENTS)
    assert errors == [] and got | expected == got


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ({"kind": "调整金额"}, {"category": "低保", "monthly_amount": 1080.0}),  # its current category
        ({"kind": "退出", "amount": ""}, {"category": None, "monthly_amount": None}),
    ],
)
def test_a_recipient_household_s_amount_is_adjusted_or_it_leaves(typed, expected):
    recipient = dataclasses.replace(HOUSEHOLD, category="低保")
    got, errors = check(entered(**typed), recipient, KINDS, TODAY, 1000.0, "township", RECIPIENTS)
    assert errors == [] and got | expected == got


def test_a_county_office_does_not_approve_temporary_help_as_its_own_proposal():
    typed = entered(kind="临时救助", amount="500", self_approve=True)
    assert check(typed, HOUSEHOLD, KINDS, TODAY, 1000.0, "admin", RECIPIENTS)[1]


# --- the 审批表 ----------------------------------------------------------------------------------


def approved_steps(tmp_path: Path) -> list[dict]:
    pid = decisions.propose(tmp_path, fields(), "town", "township", NOW)["proposal_id"]
    decisions.decide(tmp_path, pid, "returned", "county", "county", "请补充残疾证", NOW)
    decisions.propose(tmp_path, fields(), "town", "township", NOW, resubmit=pid)
    return decisions.decide(tmp_path, pid, "approved", "county", "county", None, NOW)["steps"]


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_the_approval_form_is_drawn_once_and_kept(tmp_path):
    steps = approved_steps(tmp_path)
    names = {"430102": "芙蓉区", "430102001": "文艺路街道"}
    file, data = approval_forms.served(tmp_path, steps, names, fonts())
    text = pdf_text(data)
    assert file == f"审批表/{steps[-1]['decision_id']}.pdf" and data.startswith(b"%PDF")
    for shown in (
        "社会救助审批表",
        steps[-1]["decision_id"],
        "单人保",
        "430102********0011",
        "650.00",
        "请补充残疾证",
        "文艺路街道",
    ):
        assert shown in text, shown
    assert "430102199001010011" not in text  # ID numbers masked, as every document prints them
    (kept,) = (tmp_path / approval_forms.CACHE).rglob("*.pdf")
    kept.write_bytes(b"%PDF kept")  # the second request reads the kept file
    assert approval_forms.served(tmp_path, steps, names, fonts())[1] == b"%PDF kept"


def test_a_proposal_not_approved_has_no_form(tmp_path):
    state = decisions.propose(tmp_path, fields(), "town", "township", NOW)
    with pytest.raises(approval_forms.NotApproved):
        approval_forms.served(tmp_path, state["steps"], {}, fonts())


# --- the routes, on a published month ------------------------------------------------------------


@pytest.fixture(scope="module")
def site(landing, tmp_path_factory):
    """August published; two of a township's leads returned on the portal (one household with a
    disabled member, visited); accounts for that township, its neighbour, its county, another
    county's township and two of the data team."""
    root = tmp_path_factory.mktemp("proposals")
    land = september_open(landing, root)
    home = root / "home"
    run("2026-08", str(land), str(home), "proposals-08")
    h = Home(home)
    issued = h.read("_issued", "2026-08").filter(pl.col("kind") == "lead")
    roster = h.read("roster", "2026-08")
    disabled = roster.filter(pl.col("health_status") == "残疾")["household_id"]
    by_township = issued.group_by("township_code").agg(pl.col("household_id").is_in(disabled.implode()).sum())
    mine = by_township.sort("household_id", "township_code", descending=[True, False])["township_code"][0]
    county = mine[:6]
    townships = sorted(issued["township_code"].unique())
    neighbour = next(t for t in townships if t[:6] == county and t != mine)
    elsewhere = county[:4] + ("98" if county.endswith("99") else "99")  # a county with nothing here
    leads = issued.filter(pl.col("township_code") == mine).sort("id")
    lead = leads.filter(pl.col("household_id").is_in(disabled.implode())).row(0, named=True)
    unvisited = leads.filter(pl.col("household_id") != lead["household_id"]).row(0, named=True)
    accounts = Accounts(home, load_portal())
    for username, role, area in (
        ("town", "township", mine),
        ("town2", "township", mine),
        ("neighbour", "township", neighbour),
        ("county", "county", county),
        ("farcounty", "county", elsewhere),
        ("admin", "admin", ""),
        ("admin2", "admin", ""),
    ):
        accounts.add(username, role, area, PASSWORD)
    s = {"home": home, "landing": land, "mine": mine, "neighbour": neighbour, "county": county}
    s |= {"lead": lead, "unvisited": unvisited}
    c = signed_in(s, "town")
    body = f"线索编号,核查日期,核查结论\n{lead['id']},2026-09-05,纳入低保\n".encode()
    r = c.post(
        f"/upload/{mine}",
        files={"file": ("回传.csv", body)},
        data={"csrf_token": token(c, f"/upload/{mine}")},
    )
    assert r.status_code == 200 and 'id="accepted">1<' in r.text.replace(" ", ""), r.text[-2000:]
    return s


def client(site) -> TestClient:
    app = create_app(site["home"], site["landing"], today=lambda: TODAY)
    return TestClient(app, client=("10.0.0.1", 40000), follow_redirects=False)


def token(c: TestClient, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', c.get(path).text).group(1)


def signed_in(site, username: str) -> TestClient:
    c = client(site)
    r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token(c, "/login")})
    assert r.status_code == 303
    return c


def form_of(page: str) -> dict:
    """The proposal form's fields as the page fills them (the members ticked)."""
    pick = lambda name: re.search(rf'name="{name}"[^>]*value="([^"]*)"', page).group(1)  # noqa: E731
    return {
        "kind": re.search(r'<option value="([^"]+)" selected>', page).group(1),
        "members": re.findall(r'name="members" value="([^"]+)" checked', page),
        "amount": pick("amount"),
        "effective_from": pick("effective_from"),
        "csrf_token": pick("csrf_token"),
    }


def actions(site) -> list[tuple[str, str, str]]:
    return [
        (e["action"], e["account"], e["result"])
        for e in audit.read(site["home"])
        if e["action"].startswith("proposal")
    ]


def test_a_township_proposes_single_dibao_the_county_returns_then_approves(site):
    t, lead = site["mine"], site["lead"]
    town = signed_in(site, "town")
    page = town.get(f"/propose/{t}/{lead['id']}?kind=单人保")
    assert page.status_code == 200
    form = form_of(page.text)
    assert form["kind"] == "单人保" and len(form["members"]) == 1 and form["effective_from"] == "2026-10"
    assert re.search(r'id="per-capita">[0-9.]+ 元', page.text) and re.search(
        r'id="standard">[0-9.]+ 元', page.text
    )
    assert float(form["amount"]) > 0  # the rules' prefill: the standard less her own income
    r = town.post(f"/propose/{t}/{lead['id']}", data=form | {"reason": "重度残疾，单独纳入低保"})
    assert r.status_code == 303
    pid = r.headers["location"].rsplit("/", 1)[1]
    assert re.fullmatch(rf"SB[0-9]{{6}}-{lead['household_id']}-01", pid)
    # the proposer's own page: no approval buttons; the county's worklist has it pending
    assert 'id="approve"' not in town.get(f"/proposal/{pid}").text
    county = signed_in(site, "county")
    worklist = county.get("/approvals").text
    assert pid in worklist and "待审批" in worklist
    assert (
        county.post(
            f"/proposal/{pid}/return", data={"reason": " ", "csrf_token": token(county, f"/proposal/{pid}")}
        ).status_code
        == 400
    )
    r = county.post(
        f"/proposal/{pid}/return",
        data={"reason": "请附残疾证等级", "csrf_token": token(county, f"/proposal/{pid}")},
    )
    assert r.status_code == 303
    again = town.get(f"/proposal/{pid}").text
    assert "已退回" in again and "请附残疾证等级" in again and f"/proposal/{pid}/correct" in again
    town2 = signed_in(site, "town2")  # another clerk of the township corrects it
    corrected = form_of(town2.get(f"/proposal/{pid}/correct").text)
    assert corrected["kind"] == "单人保" and corrected["members"] == form["members"]
    r = town2.post(f"/proposal/{pid}/correct", data=corrected | {"reason": "重度残疾（一级），附残疾证"})
    assert r.status_code == 303
    r = county.post(f"/proposal/{pid}/approve", data={"csrf_token": token(county, f"/proposal/{pid}")})
    assert r.status_code == 303
    done = county.get(f"/proposal/{pid}").text
    assert "已批准" in done and "JD" + pid[2:] in done
    steps = [s for s in decisions.read(site["home"]) if s["proposal_id"] == pid]
    assert [(s["event"], s["version"], s["account"], s["role"]) for s in steps] == [
        ("proposed", 1, "town", "township"),
        ("returned", 1, "county", "county"),
        ("proposed", 2, "town2", "township"),
        ("approved", 2, "county", "county"),
    ]
    assert all(s["case_id"] == lead["id"] and s["township_code"] == t for s in steps)
    assert (
        steps[-1]["kind"] == "单人保"
        and steps[-1]["category"] == "低保"
        and len(steps[-1]["id_numbers"]) == 1
    )
    assert steps[-1]["id_numbers"][0] in set(Home(site["home"]).read("roster", "2026-08")["id_number"])
    logged = actions(site)
    for step in (
        ("proposal", "town", "ok"),
        ("proposal_return", "county", "refused"),
        ("proposal_return", "county", "ok"),
        ("proposal_resubmit", "town2", "ok"),
        ("proposal_approve", "county", "ok"),
    ):
        assert step in logged, (step, logged)
    # a second click on 批准 goes to the first one's answer, nothing appended
    county.post(f"/proposal/{pid}/approve", data={"csrf_token": token(county, f"/proposal/{pid}")})
    assert len([s for s in decisions.read(site["home"]) if s["proposal_id"] == pid]) == 4


def test_a_form_with_problems_is_shown_again_and_nothing_is_logged(site):
    t, lead = site["mine"], site["lead"]
    town = signed_in(site, "town")
    form = form_of(town.get(f"/propose/{t}/{lead['id']}").text)
    before = decisions.read(site["home"])
    bad = form | {"amount": "abc", "effective_from": "2026-08", "members": ["1", "99"], "reason": "x"}
    r = town.post(f"/propose/{t}/{lead['id']}", data=bad | {"kind": "单人保"})
    assert r.status_code == 400
    for problem in ("金额“abc”不是数字", "已经过去", "不在本户", "单人保只能选择一名成员"):
        assert problem in r.text, problem
    assert decisions.read(site["home"]) == before


def test_the_data_team_does_not_approve_its_own_proposal(site):
    t, lead = site["mine"], site["lead"]
    admin = signed_in(site, "admin")
    form = form_of(admin.get(f"/propose/{t}/{lead['id']}?kind=纳入特困").text)
    pid = (
        admin.post(f"/propose/{t}/{lead['id']}", data=form | {"reason": "数据组代录"})
        .headers["location"]
        .rsplit("/", 1)[1]
    )
    page = admin.get(f"/proposal/{pid}").text
    assert 'id="approve"' not in page and 'id="own"' in page
    r = admin.post(f"/proposal/{pid}/approve", data={"csrf_token": token(admin, f"/proposal/{pid}")})
    assert r.status_code == 403 and "不能审批本人提出的申请" in r.text
    assert ("proposal_approve", "admin", "refused") in actions(site)
    assert decisions.proposal(site["home"], pid)["state"] == decisions.PENDING
    admin2 = signed_in(site, "admin2")
    assert (
        admin2.post(
            f"/proposal/{pid}/approve", data={"csrf_token": token(admin2, f"/proposal/{pid}")}
        ).status_code
        == 303
    )


def test_temporary_help_within_the_limit_is_approved_by_the_township(site):
    t, lead = site["mine"], site["lead"]
    town = signed_in(site, "town")
    form = form_of(town.get(f"/propose/{t}/{lead['id']}?kind=临时救助").text)
    r = town.post(
        f"/propose/{t}/{lead['id']}",
        data=form | {"amount": "800", "self_approve": "1", "reason": "突发重病，先行救助"},
    )
    pid = r.headers["location"].rsplit("/", 1)[1]
    found = decisions.proposal(site["home"], pid)
    assert found["state"] == decisions.APPROVED and found["self_approved"] and found["approved_by"] == "town"
    assert ("proposal_approve", "town", "ok") in actions(site)
    assert town.get(f"/proposal/{pid}/审批表.pdf").status_code == 200


def _newcomer(members: pl.LazyFrame, household_id: str) -> pl.LazyFrame:
    """A member joins in the month published meanwhile, listed first (户主, the smallest name)."""
    first = members.filter(pl.col("household_id") == household_id).head(1)
    joined = first.with_columns(
        name=pl.lit("一新成员"), relation=pl.lit("户主"), id_number=pl.lit("110101201001010013")
    )
    return pl.concat([members, joined])


def _gone(members: pl.LazyFrame, household_id: str, id_number: str) -> pl.LazyFrame:
    """The chosen member has left the household in the month published meanwhile."""
    return members.filter((pl.col("household_id") != household_id) | (pl.col("id_number") != id_number))


@pytest.mark.parametrize("change", ["newcomer", "gone"])
def test_a_member_chosen_is_the_same_person_after_a_month_is_published(site, monkeypatch, change):
    t, lead = site["mine"], site["lead"]
    hid = lead["household_id"]
    shown = proposals.household(Home(site["home"]), t, hid)
    assert len(shown.members) >= 2
    chosen = shown.members[-1]  # the last member listed: a newcomer listed first moves everyone
    town = signed_in(site, "town")
    page = town.get(f"/propose/{t}/{lead['id']}?kind=临时救助").text
    keys = re.findall(r'name="members" value="([^"]+)"', page)
    assert chosen.id_number not in page and len(keys) == len(shown.members)
    form = form_of(page) | {"members": [keys[-1]], "amount": "800", "self_approve": "1", "reason": "核查属实"}
    scan = Home.scan

    def published(self, dataset, month, area=None):
        found = scan(self, dataset, month, area)
        if dataset != "_means_members" or found is None:
            return found
        return _newcomer(found, hid) if change == "newcomer" else _gone(found, hid, chosen.id_number)

    monkeypatch.setattr(Home, "scan", published)
    before = decisions.read(site["home"])
    r = town.post(f"/propose/{t}/{lead['id']}", data=form)
    if change == "gone":
        assert r.status_code == 400 and "所选成员不在本户" in r.text
        assert decisions.read(site["home"]) == before
        return
    assert r.status_code == 303, r.text[-1500:]
    found = decisions.proposal(site["home"], r.headers["location"].rsplit("/", 1)[1])
    assert found["id_numbers"] == [chosen.id_number]


def test_a_second_proposal_of_an_approved_kind_is_refused_with_the_decision_named(site):
    t, lead = site["mine"], site["lead"]
    approved = next(
        p
        for p in decisions.proposals(site["home"], township=t)
        if p["case_id"] == lead["id"] and p["kind"] == "单人保" and p["decision_id"]
    )  # approved in the first route test
    town = signed_in(site, "town")
    form = form_of(town.get(f"/propose/{t}/{lead['id']}?kind=单人保").text) | {"reason": "再次申请"}
    before = decisions.read(site["home"])
    r = town.post(f"/propose/{t}/{lead['id']}", data=form)
    assert r.status_code == 400 and "已经批准" in r.text and approved["decision_id"] in r.text
    assert f'href="/proposal/{approved["proposal_id"]}"' in r.text
    assert decisions.read(site["home"]) == before and ("proposal", "town", "refused") in actions(site)


def approved_id(site) -> str:
    return next(
        p["proposal_id"] for p in decisions.proposals(site["home"], township=site["mine"]) if p["decision_id"]
    )


def pending_id(site) -> str:
    """A pending 纳入低保 proposal for the lead: the open one (corrected if it was returned)."""
    t, lead = site["mine"], site["lead"]
    town = signed_in(site, "town")
    form = form_of(town.get(f"/propose/{t}/{lead['id']}").text)
    r = town.post(f"/propose/{t}/{lead['id']}", data=form | {"reason": "待审"})
    pid = r.headers["location"].rsplit("/", 1)[1]
    found = decisions.proposal(site["home"], pid)
    if found["event"] == "returned":
        again = {k: found[k] for k in decisions.CARRIED if k not in ("proposal_id", "version")}
        decisions.propose(site["home"], again | {"reason": "已补充"}, "town", "township", NOW, resubmit=pid)
    return pid


# who may open what: 200 (or 303 to what they asked), 404 (not theirs: as a page that does not
# exist), "login" (a stranger is sent to sign in)
ACCESS = [
    (
        "/propose/{mine}/{lead}",
        {"town": 200, "admin": 200, "neighbour": 404, "county": 404, "farcounty": 404, None: "login"},
    ),
    ("/propose/{mine}/{unvisited}", {"town": 404, "admin": 404}),  # not verified: nothing to propose from
    ("/propose/{mine}/XS202608-NOSUCH", {"town": 404}),
    (
        "/proposals/{mine}",
        {"town": 200, "county": 200, "admin": 200, "neighbour": 404, "farcounty": 404, None: "login"},
    ),
    ("/approvals", {"county": 200, "admin": 200, "town": 404, "neighbour": 404, None: "login"}),
    (
        "/proposal/{approved}",
        {"town": 200, "county": 200, "admin": 200, "neighbour": 404, "farcounty": 404, None: "login"},
    ),
    (
        "/proposal/{approved}/审批表.pdf",
        {"town": 200, "county": 200, "admin": 200, "neighbour": 404, "farcounty": 404, None: "login"},
    ),
    ("/proposal/{pending}/审批表.pdf", {"town": 404, "county": 404}),  # not approved: no document
    ("/proposal/{pending}/correct", {"town": 404}),  # not returned: nothing to correct
    ("/proposal/SB202609-NOSUCH-01", {"town": 404, "admin": 404}),
]


@pytest.mark.parametrize(("path", "expected"), ACCESS, ids=[p for p, _ in ACCESS])
def test_each_route_answers_only_the_accounts_that_may_see_it(site, path, expected):
    values = {"mine": site["mine"], "lead": site["lead"]["id"], "unvisited": site["unvisited"]["id"]}
    if "{approved}" in path:
        values["approved"] = approved_id(site)
    if "{pending}" in path:
        values["pending"] = pending_id(site)
    url = path.format(**values)
    for who, status in expected.items():
        c = signed_in(site, who) if who else client(site)
        r = c.get(url)
        if status == "login":
            assert r.status_code == 303 and r.headers["location"] == "/login", (who, url)
        else:
            assert r.status_code == status, (who, url, r.status_code)


@pytest.mark.parametrize(
    ("who", "step", "status"),
    [
        (None, "approve", "login"),
        ("town", "approve", 404),  # a township office does not approve (only 先行救助, its own way)
        ("neighbour", "approve", 404),
        ("farcounty", "approve", 404),
        ("farcounty", "return", 404),
        ("neighbour", "correct", 404),
    ],
)
def test_a_step_by_an_account_that_may_not_take_it_is_not_found(site, who, step, status):
    pid = pending_id(site)
    c = signed_in(site, who) if who else client(site)
    before = decisions.read(site["home"])
    mine = signed_in(site, "town")
    data = {"csrf_token": token(c, "/login") if who is None else token(c, "/"), "reason": "x"}
    r = c.post(f"/proposal/{pid}/{step}", data=data)
    if status == "login":
        assert r.status_code in (303, 403), r.status_code
    else:
        assert r.status_code == status
    assert decisions.read(site["home"]) == before
    assert mine.get(f"/proposal/{pid}").status_code == 200


def test_a_second_click_on_submit_goes_to_the_first_proposal(site):
    t, lead = site["mine"], site["lead"]
    town = signed_in(site, "town")
    form = form_of(town.get(f"/propose/{t}/{lead['id']}?kind=纳入低保边缘").text) | {"reason": "低保边缘"}
    first = town.post(f"/propose/{t}/{lead['id']}", data=form)
    second = town.post(f"/propose/{t}/{lead['id']}", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    pid = first.headers["location"].rsplit("/", 1)[1]
    assert [s["event"] for s in decisions.read(site["home"]) if s["proposal_id"] == pid] == ["proposed"]
    assert ("proposal", "town", "refused") in actions(site)


def test_a_post_to_propose_for_another_township_s_case_is_refused(site):
    neighbour = signed_in(site, "neighbour")
    t, lead = site["mine"], site["lead"]
    before = decisions.read(site["home"])
    r = neighbour.post(
        f"/propose/{t}/{lead['id']}", data={"csrf_token": token(neighbour, "/"), "kind": "纳入低保"}
    )
    assert r.status_code == 404 and decisions.read(site["home"]) == before


def test_the_portrait_links_a_verified_case_to_its_proposal_form(site):
    t, lead = site["mine"], site["lead"]
    town = signed_in(site, "town")
    page = town.get(f"/portrait/2026-08/{t}/{lead['household_id']}").text
    assert f'href="/propose/{t}/{lead["id"]}"' in page
    assert (
        'href="/propose/'
        not in signed_in(site, "county").get(f"/portrait/2026-08/{t}/{lead['household_id']}").text
    )
    assert (
        f'href="/proposals/{t}"' in town.get("/").text
        and 'href="/approvals"' in signed_in(site, "county").get("/").text
    )


def test_the_home_pages_count_what_waits_for_each_office(site):
    t, lead = site["mine"], site["lead"]
    town, county = signed_in(site, "town"), signed_in(site, "county")
    pid = pending_id(site)
    waiting = sum(p["event"] == "proposed" for p in decisions.proposals(site["home"], county=site["county"]))
    assert f"待审批 {waiting} 条" in county.get("/").text
    county.post(
        f"/proposal/{pid}/return", data={"reason": "请补充", "csrf_token": token(county, f"/proposal/{pid}")}
    )
    returned = sum(p["event"] == "returned" for p in decisions.proposals(site["home"], township=t))
    assert f"{returned} 条已退回待修改" in town.get("/").text
    assert (
        pid in town.get(f"/proposals/{t}").text and lead["household_id"] in town.get(f"/proposals/{t}").text
    )


def test_a_reason_no_font_can_draw_is_said_in_chinese_not_a_server_error(site):
    t, lead = site["mine"], site["lead"]
    town, county = signed_in(site, "town"), signed_in(site, "county")
    form = form_of(town.get(f"/propose/{t}/{lead['id']}?kind=临时救助").text) | {"amount": "1500"}
    r = town.post(f"/propose/{t}/{lead['id']}", data=form | {"reason": "核查属实\U000f0001"})
    pid = r.headers["location"].rsplit("/", 1)[1]
    county.post(f"/proposal/{pid}/approve", data={"csrf_token": token(county, f"/proposal/{pid}")})
    r = county.get(f"/proposal/{pid}/审批表.pdf")
    assert r.status_code == 422 and "U+F0001" in r.text


def test_a_broken_line_in_the_decision_log_is_named_and_the_home_page_still_works(tmp_path):
    home = tmp_path / "home"
    accounts = Accounts(home, load_portal())
    accounts.add("county", "county", "430102", PASSWORD)
    accounts.add("admin", "admin", "", PASSWORD)
    good = decisions.line("proposed", NOW, **fields(), proposal_id="SB202609-H0001-01", version=1)
    good |= {"account": "town", "role": "township"}
    log_file = decisions.folder(home) / "2026-09.jsonl"
    log_file.parent.mkdir(parents=True)
    text = json.dumps(good, ensure_ascii=False)
    log_file.write_text(text + "\n" + text[:40] + "\n", encoding="utf-8")  # cut off as a full disk leaves it
    app = create_app(home, today=lambda: TODAY)
    county = TestClient(app, client=("10.0.0.1", 40000), follow_redirects=False)
    county.post(
        "/login", data={"username": "county", "password": PASSWORD, "csrf_token": token(county, "/login")}
    )
    r = county.get("/approvals")
    assert r.status_code == 503 and decisions.UNREADABLE in r.text and "2026-09.jsonl" not in r.text
    home_page = county.get("/")
    assert home_page.status_code == 200 and decisions.UNREADABLE in home_page.text
    admin = TestClient(app, client=("10.0.0.1", 40000), follow_redirects=False)
    admin.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token(admin, "/login")}
    )
    r = admin.get("/proposal/SB202609-H0001-01")
    assert r.status_code == 503 and "lake/_decision_log/2026-09.jsonl, line 2" in r.text
    failed = [e for e in audit.read(home) if e["action"] == "decision_log"]
    assert failed and all("2026-09.jsonl, line 2" in e["detail"] and e["result"] == "failed" for e in failed)


@pytest.mark.parametrize(
    ("id_number", "shown"),
    [
        ("430102199001010011", "430102********0011"),
        ("430102900101123", "430102******123"),  # 15 digits (before 1999)
        ("4301021990010100", "430***********00"),  # mistyped: 16 digits
        ("1234567", "*******"),
    ],
)
def test_an_id_number_of_any_length_is_masked_on_the_approval_form(tmp_path, id_number, shown):
    pid = decisions.propose(tmp_path, fields(id_numbers=[id_number]), "town", "township", NOW)["proposal_id"]
    steps = decisions.decide(tmp_path, pid, "approved", "county", "county", None, NOW)["steps"]
    text = pdf_text(approval_forms.served(tmp_path, steps, {}, fonts())[1])
    assert shown in text and id_number not in text and not re.search(r"[0-9]{10}", text)


# --- the roster's answer to the decisions (issue 36, item 4) -------------------------------------

ARRIVED, LAPSED, AWAITED = "JD202609-HTESTA-01", "JD202609-HTESTB-01", "JD202609-HTESTC-01"
NEIGHBOURS, FARAWAY = "JD202609-HTESTN-01", "JD202609-HTESTF-01"


def _roster_state(decision_id: str, township: str, household: str, case_id: str, state: str) -> dict:
    confirmed = state == "已落实"
    return dict.fromkeys(STATE_SCHEMA) | {
        "month": "2026-08",
        "decision_id": decision_id,
        "case_id": case_id,
        "household_id": household,
        "township_code": township,
        "county_code": township[:6],
        "kind": "单人保",
        "category": "低保",
        "id_numbers": ["430102199001010011"],
        "effective_from": "2026-06",
        "approved_on": dt.date(2026, 5, 20),
        "due_month": "2026-07",
        "state": state,
        "since": {"已落实": "2026-06", "未落实": "2026-07", "待落实": "2026-06"}[state],
        "confirmed_month": "2026-06" if confirmed else None,
        "source_file": "roster_2026-06.xlsx" if confirmed else None,
        "source_row": 12 if confirmed else None,
    }


@pytest.fixture
def roster_states(site):
    """The latest published month's `_decision_states` with decisions of the lead's household in
    each state, one of the neighbouring township and one of another county (restored after)."""
    t, lead = site["mine"], site["lead"]
    far = site["county"][:4] + ("98" if site["county"].endswith("99") else "99") + "001"
    rows = [
        _roster_state(ARRIVED, t, lead["household_id"], lead["id"], "已落实"),
        _roster_state(LAPSED, t, lead["household_id"], lead["id"], "未落实"),
        _roster_state(AWAITED, t, lead["household_id"], lead["id"], "待落实"),
        _roster_state(NEIGHBOURS, site["neighbour"], "HN0001", "XS-N", "未落实"),
        _roster_state(FARAWAY, far, "HF0001", "XS-F", "未落实"),
    ]
    path = Home(site["home"]).partition("_decision_states", "2026-08") / "data.parquet"
    before = path.read_bytes() if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows, schema=STATE_SCHEMA).write_parquet(path)
    yield site
    if before is None:
        path.unlink()
    else:
        path.write_bytes(before)


def _events(page: str, code: str) -> list[str]:
    """The details of a portrait's events of one kind."""
    return re.findall(rf'<tr class="event-{code}">(?:<td>[^<]*</td>){{3}}<td>([^<]*)</td>', page)


def test_the_portrait_shows_help_that_arrived_or_stalled_only_from_the_roster(roster_states):
    site = roster_states
    t, lead = site["mine"], site["lead"]
    page = signed_in(site, "town").get(f"/portrait/2026-08/{t}/{lead['household_id']}").text
    arrived, lapsed = _events(page, "arrived"), _events(page, "lapsed")
    assert len(arrived) == 1 and ARRIVED in arrived[0] and "2026年06月名册确认落实" in arrived[0]
    assert len(lapsed) == 1 and LAPSED in lapsed[0] and "2026年07月" in lapsed[0]
    # approved, not yet on a roster (待落实): neither arrived nor stalled
    assert AWAITED not in "".join(arrived + lapsed)


def _arrival_rows(page: str) -> list[tuple[str, str]]:
    """(decision id, state) of each row of the table of approved decisions, in order."""
    table = page.split('id="arrivals"', 1)[1].split("</table>", 1)[0]
    return re.findall(
        r'<tr class="roster-\w+">\s*<td>(?:<a [^>]*>)?(JD[^<]+)<.*?<td class="state">([^<]+)<', table, re.S
    )


def test_the_county_sees_its_townships_decisions_stalled_first(roster_states):
    site = roster_states
    rows = _arrival_rows(signed_in(site, "county").get("/approvals").text)
    assert [state for _, state in rows] == ["未落实", "未落实", "待落实", "救助到位"]
    assert dict(rows) == {LAPSED: "未落实", NEIGHBOURS: "未落实", AWAITED: "待落实", ARRIVED: "救助到位"}
    assert FARAWAY not in signed_in(site, "county").get("/approvals").text  # another county's
    far = _arrival_rows(signed_in(site, "farcounty").get("/approvals").text)
    assert far == [(FARAWAY, "未落实")]


def test_a_township_sees_only_its_own_decisions_states(roster_states):
    site = roster_states
    mine = _arrival_rows(signed_in(site, "town").get(f"/proposals/{site['mine']}").text)
    assert dict(mine) == {LAPSED: "未落实", AWAITED: "待落实", ARRIVED: "救助到位"}
    theirs = signed_in(site, "neighbour").get(f"/proposals/{site['neighbour']}").text
    assert _arrival_rows(theirs) == [(NEIGHBOURS, "未落实")]
    assert ARRIVED not in theirs and LAPSED not in theirs and AWAITED not in theirs
