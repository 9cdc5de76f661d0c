"""Proposals for assistance (全过程网办): a township proposes from a verified case, the county
approves or returns it from its worklist, the township corrects a returned one; each step goes to
the decision log (portal/decisions.py) and the audit trail; an approved decision's 审批表 (PDF)
is drawn on demand (jobs/export/approval_forms.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jobs.export import approval_forms
from portal import decisions
from portal.accounts import Account
from portal.case_history import history
from portal.documents import fonts
from portal.pages import MEDIA_TYPES, NotFound, attachment, log, names, page
from portal.proposals import (
    FROM_OUTCOME,
    Entered,
    Household,
    amounts,
    check,
    default_members,
    kinds_of,
    next_month,
    recipient_categories,
    rules_now,
    verified_case,
)
from portal.proposals import household as household_of
from portal.session import CSRF, MyTownship, SignedIn, role_in
from safetynet.pdf import MissingGlyph

router = APIRouter()
Proposer = Annotated[Account, Depends(role_in("township", "admin"))]
Decider = Annotated[Account, Depends(role_in("county", "admin"))]
Members = Annotated[list[str], Form()]


def _now(request: Request) -> dt.datetime:
    """The step's time: now, on the portal's date (a test's synthetic month sets another)."""
    now = dt.datetime.now(decisions.CHINA)
    day = request.app.state.today()
    if day == dt.date.today():  # the portal's own date (the server's): the time is now's
        return now
    return dt.datetime.combine(day, now.time(), decisions.CHINA)


def entered_form(
    kind: Annotated[str, Form()] = "",
    members: Members = [],  # noqa: B006 (FastAPI copies a form default)
    amount: Annotated[str, Form()] = "",
    effective_from: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    self_approve: Annotated[str, Form()] = "",
) -> Entered:
    return Entered(kind, tuple(members), amount[:40], effective_from[:20], reason[:2000], bool(self_approve))


Typed = Annotated[Entered, Depends(entered_form)]


def case_and_household(request: Request, township: str, case_id: str) -> tuple[dict, Household | None]:
    """The township's verified case (else 404) and its household as the latest means test counted it."""
    app = request.app.state
    home = app.library.home()
    case = verified_case(home, app.landing, township, case_id, app.today())
    if case is None:
        raise NotFound()
    return case, household_of(home, township, case["household_id"])


def form_page(
    request: Request, account: Account, case: dict, h: Household | None, entered: Entered, **context
) -> Response:
    """The proposal form, prefilled (or as typed, with its problems)."""
    app = request.app.state
    rules = rules_now(app.today())
    kinds = kinds_of(rules)
    reference = {k.name: amounts(rules, h, k, default_members(h, k)) for k in kinds.values()} if h else {}
    township = case["township_code"]
    events = history(app.library.home(), app.landing, township, case["household_id"], app.today())
    return page(
        request,
        "propose.html",
        account,
        status=400 if context.get("errors") else 200,
        case=case,
        h=h,
        kinds=kinds,
        e=entered,
        reference=reference,
        limit=rules.self_approval_limit,
        events=[e for e in events if e["case_id"] == case["id"]],
        township=township,
        name=names(request).get(township, township),
        **({"errors": [], "proposal": None, "approved": None} | context),
    )


def prefilled(request: Request, case: dict, h: Household | None, kind: str, member: str) -> Entered:
    """A new proposal as the case and the rules fill it: the kind its conclusion names, the
    members it covers, the rules' amount, next month."""
    rules = rules_now(request.app.state.today())
    kinds = kinds_of(rules)
    chosen = kinds.get(kind) or kinds.get(case["outcome"] if case["outcome"] in FROM_OUTCOME else "纳入低保")
    keys = default_members(h, chosen, member) if h else ()
    monthly, one_off = amounts(rules, h, chosen, keys) if h else (None, None)
    value = monthly if chosen.amount == "monthly" else one_off if chosen.amount == "one_off" else None
    return Entered(
        chosen.name, keys, "" if value is None else f"{value:.2f}", next_month(request.app.state.today()), ""
    )


@router.get("/propose/{township}/{case_id}", response_class=HTMLResponse)
def propose_form(
    request: Request, account: Proposer, township: MyTownship, case_id: str, kind: str = "", member: str = ""
) -> Response:
    case, h = case_and_household(request, township, case_id)
    return form_page(
        request, account, case | {"township_code": township}, h, prefilled(request, case, h, kind, member)
    )


@router.post("/propose/{township}/{case_id}", response_class=HTMLResponse, dependencies=[CSRF])
def propose(
    request: Request, account: Proposer, township: MyTownship, case_id: str, entered: Typed
) -> Response:
    case, h = case_and_household(request, township, case_id)
    case = case | {"township_code": township}
    return submitted(request, account, case, h, entered, None)


def submitted(
    request: Request,
    account: Account,
    case: dict,
    h: Household | None,
    entered: Entered,
    resubmit: str | None,
) -> Response:
    """A proposal (or a returned one corrected) checked and appended, else the form again."""
    app = request.app.state
    rules = rules_now(app.today())
    if h is None:
        errors = [f"户 {case['household_id']} 不在已发布月份的核对结果中，无法按名册填写，请联系数据团队。"]
        fields = None
    else:
        limit, recipients = rules.self_approval_limit, recipient_categories(app.today())
        fields, errors = check(entered, h, kinds_of(rules), app.today(), limit, account.role, recipients)
    if errors:
        context = {"proposal": decisions.proposal(app.home, resubmit) if resubmit else None}
        return form_page(request, account, case, h, entered, errors=errors, **context)
    township = case["township_code"]
    fields |= {
        "case_id": case["id"],
        "household_id": case["household_id"],
        "township_code": township,
        "county_code": township[:6],
    }
    try:
        state = decisions.propose(
            app.home, fields, account.username, account.role, _now(request), resubmit, entered.self_approve
        )
    except decisions.AlreadyApproved as exc:  # decided once: the form again, naming the decision
        detail = f"{exc.proposal_id}: 同一案件同一救助类型已批准"
        log(request, "proposal", account, township_code=township, result="refused", detail=detail)
        error = (
            f"本案件的{fields['kind']}申请已经批准（决定编号 {decisions.decision_id(exc.proposal_id)}），"
            "不能重复申请；金额有变化请申请调整金额，不再符合条件请申请退出。"
        )
        approved = decisions.proposal(app.home, exc.proposal_id)
        return form_page(request, account, case, h, entered, errors=[error], approved=approved)
    except decisions.AlreadyOpen as exc:  # a second click, or made twice: the open one
        detail = f"{exc.proposal_id}: 同一案件同一救助类型已有未办结的申请"
        log(request, "proposal", account, township_code=township, result="refused", detail=detail)
        return RedirectResponse(f"/proposal/{exc.proposal_id}", status_code=303)
    except decisions.StepRefused:
        raise NotFound() from None
    action = "proposal_resubmit" if resubmit else "proposal"
    detail = f"{state['proposal_id']} v{state['version']} {state['kind']}"
    log(request, action, account, township_code=township, result="ok", detail=detail)
    if state["self_approved"]:
        log(
            request,
            "proposal_approve",
            account,
            township_code=township,
            result="ok",
            detail=detail + " 先行救助",
        )
    return RedirectResponse(f"/proposal/{state['proposal_id']}", status_code=303)


def visible(request: Request, account: Account, proposal_id: str) -> dict:
    """A proposal of a township the account may see, else 404."""
    found = decisions.proposal(request.app.state.home, proposal_id)
    if found is None or not account.may_see(found["township_code"]):
        raise NotFound()
    return found


@router.get("/proposals/{township}", response_class=HTMLResponse)
def township_proposals(request: Request, account: SignedIn, township: MyTownship) -> Response:
    """A township's proposals, newest first, with their states; below, its approved decisions as
    the latest published roster shows them."""
    found = decisions.proposals(request.app.state.home, township=township)
    return page(
        request,
        "proposals.html",
        account,
        proposals=list(reversed(found)),
        arrivals=decisions.arrivals(request.app.state.library.home(), township=township),
        township=township,
        names=names(request),
        name=names(request).get(township, township),
        title="救助申请",
    )


@router.get("/approvals", response_class=HTMLResponse)
def approvals(request: Request, account: Decider) -> Response:
    """A county's worklist: its townships' proposals, pending first, oldest first; below, its
    approved decisions as the latest published roster shows them (未落实 first)."""
    county = account.area if account.role == "county" else None
    found = decisions.worklist(decisions.proposals(request.app.state.home, county=county))
    return page(
        request,
        "proposals.html",
        account,
        proposals=found,
        arrivals=decisions.arrivals(request.app.state.library.home(), county=county),
        township=None,
        names=names(request),
        title="救助审批",
    )


@router.get("/proposal/{proposal_id}", response_class=HTMLResponse)
def proposal_page(request: Request, account: SignedIn, proposal_id: str) -> Response:
    found = visible(request, account, proposal_id)
    app = request.app.state
    h = household_of(app.library.home(), found["township_code"], found["household_id"])
    events = history(
        app.library.home(), app.landing, found["township_code"], found["household_id"], app.today()
    )
    return proposal_view(request, account, found, h, [e for e in events if e["case_id"] == found["case_id"]])


def proposal_view(
    request: Request, account: Account, found: dict, h: Household | None, events: list, **context
) -> Response:
    covered = set(found["id_numbers"] or [])
    proposers = {s["account"] for s in found["steps"] if s["event"] == "proposed"}
    pending = found["event"] == "proposed"
    return page(
        request,
        "proposal.html",
        account,
        status=context.pop("status", 200),
        p=found,
        h=h,
        covered=[m for m in h.members if m.id_number in covered] if h else [],
        events=events,
        may_decide=pending and account.role in ("county", "admin") and account.username not in proposers,
        own=pending and account.username in proposers,
        may_correct=found["event"] == "returned" and account.role in ("township", "admin"),
        name=names(request).get(found["township_code"], found["township_code"]),
        **({"error": None} | context),
    )


def decided(request: Request, account: Account, proposal_id: str, event: str, reason: str) -> Response:
    """A pending proposal returned or approved by a county office (or the data team), never by an
    account that proposed it; a second click goes to the first one's answer."""
    found = visible(request, account, proposal_id)
    app = request.app.state
    action = {"approved": "proposal_approve", "returned": "proposal_return"}[event]
    where = {"township_code": found["township_code"]}
    problem = None
    if event == "returned" and not reason.strip():
        problem = "退回时请填写退回原因，乡镇据此修改后重新提交。"
    elif account.username in {s["account"] for s in found["steps"] if s["event"] == "proposed"}:
        problem = "不能审批本人提出的申请，请由县（区）民政局的其他账户审批。"
    if problem:
        log(request, action, account, **where, result="refused", detail=f"{proposal_id}: {problem}")
        h = household_of(app.library.home(), found["township_code"], found["household_id"])
        return proposal_view(
            request, account, found, h, [], status=403 if "本人" in problem else 400, error=problem
        )
    try:
        state = decisions.decide(
            app.home,
            proposal_id,
            event,
            account.username,
            account.role,
            reason.strip()[:500] or None,
            _now(request),
        )
    except decisions.StepRefused:
        return RedirectResponse(f"/proposal/{proposal_id}", status_code=303)
    log(request, action, account, **where, result="ok", detail=f"{proposal_id} v{state['version']}")
    return RedirectResponse(f"/proposal/{proposal_id}", status_code=303)


@router.post("/proposal/{proposal_id}/approve", response_class=HTMLResponse, dependencies=[CSRF])
def approve(request: Request, account: Decider, proposal_id: str) -> Response:
    return decided(request, account, proposal_id, "approved", "")


@router.post("/proposal/{proposal_id}/return", response_class=HTMLResponse, dependencies=[CSRF])
def return_(
    request: Request, account: Decider, proposal_id: str, reason: Annotated[str, Form()] = ""
) -> Response:
    return decided(request, account, proposal_id, "returned", reason)


def returned_case(
    request: Request, account: Account, proposal_id: str
) -> tuple[dict, dict, Household | None]:
    """A returned proposal the account may correct (its township's office, or the data team)."""
    found = visible(request, account, proposal_id)
    if found["event"] != "returned":
        raise NotFound()
    township = found["township_code"]
    case = {"id": found["case_id"], "household_id": found["household_id"], "township_code": township}
    return found, case, household_of(request.app.state.library.home(), township, found["household_id"])


@router.get("/proposal/{proposal_id}/correct", response_class=HTMLResponse)
def correct_form(request: Request, account: Proposer, proposal_id: str) -> Response:
    found, case, h = returned_case(request, account, proposal_id)
    covered = set(found["id_numbers"] or [])
    amount = found["monthly_amount"] if found["monthly_amount"] is not None else found["one_off_amount"]
    entered = Entered(
        found["kind"],
        tuple(m.key for m in h.members if m.id_number in covered) if h else (),
        "" if amount is None else f"{amount:.2f}",
        found["effective_from"] or "",
        found["reason"] or "",
    )
    return form_page(request, account, case, h, entered, proposal=found)


@router.post("/proposal/{proposal_id}/correct", response_class=HTMLResponse, dependencies=[CSRF])
def correct(request: Request, account: Proposer, proposal_id: str, entered: Typed) -> Response:
    _, case, h = returned_case(request, account, proposal_id)
    return submitted(request, account, case, h, entered, proposal_id)


@router.get("/proposal/{proposal_id}/审批表.pdf")
def approval_form(request: Request, account: SignedIn, proposal_id: str) -> Response:
    """An approved decision's 审批表, drawn on first request and kept (jobs/export/approval_forms.py)."""
    found = visible(request, account, proposal_id)
    if found["decision_id"] is None:
        raise NotFound()
    home = request.app.state.home
    try:
        file, data = approval_forms.served(home, found["steps"], names(request), fonts())
    except MissingGlyph as exc:  # a character typed in a reason that no installed font has
        where = {"township_code": found["township_code"], "file": f"审批表/{found['decision_id']}.pdf"}
        log(request, "download", account, **where, result="failed", detail=str(exc))
        return page(request, "error.html", account, status=422, message=str(exc))
    log(
        request,
        "download",
        account,
        township_code=found["township_code"],
        file=file,
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        result="ok",
    )
    return Response(
        data,
        media_type=MEDIA_TYPES[".pdf"],
        headers={
            "Content-Disposition": attachment(f"{found['decision_id']}_审批表.pdf"),
            "Cache-Control": "no-store",
        },
    )
