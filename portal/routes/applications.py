"""Application checks (逢救必核): an applicant household uploaded or entered in the form is means
tested at once, with its economic-status report; a check held for a county office is released by it."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from jobs.applications import checks as applications
from portal.accounts import Account
from portal.documents import fonts, published_rules
from portal.pages import MEDIA_TYPES, NotFound, address, attachment, log, names, page
from portal.session import CSRF, SignedIn, role_in
from safetynet.contract import APPLICATION

router = APIRouter()
Checker = Annotated[Account, Depends(role_in("township", "admin"))]
Releaser = Annotated[Account, Depends(role_in("county"))]


def applications_page(request: Request, account: Account, status: int = 200, **context) -> Response:
    home = request.app.state.home
    area = "" if account.role == "admin" else account.area
    return page(
        request,
        "applications.html",
        account,
        status=status,
        checks=applications.records(home, area, limit=200),
        held=applications.held(home, area),
        may_check=account.role in ("township", "admin"),
        may_release=account.role == "county",
        # counts and reasons of a hold are the county's and the data team's: to the office that
        # typed him they would tell that someone stands on another township's roster
        may_read_holds=account.role in ("county", "admin"),
        columns=APPLICATION,
        rows=range(applications.FORM_ROWS),
        area=area,
        **({"error": None, "checked": None, "entered": None} | context),
    )


def application_of(request: Request, account: Account, application_id: str) -> dict:
    """The latest line of an application the account may see (checked, held, or refused on its
    release), else 404."""
    entry = applications.find(request.app.state.home, application_id)
    if entry is None or entry["status"] not in ("checked", "held", "refused"):
        raise NotFound()
    if not account.may_see(entry["township_code"] or "-"):
        raise NotFound()
    return entry


def logged_check(request: Request, account: Account, action: str, checked) -> None:
    log(
        request,
        action,
        account,
        township_code=checked.application.township_code,
        file=checked.report_file or None,
        sha256=checked.entry.get("report_sha256"),
        bytes=len(checked.report),
        result="ok" if checked.status == "checked" else checked.status,
        detail=checked.application_id,
    )


@router.get("/applications", response_class=HTMLResponse)
def applications_list(request: Request, account: SignedIn) -> Response:
    return applications_page(request, account)


@router.get("/applications/template.xlsx")
def application_template(account: SignedIn) -> Response:
    return Response(
        applications.template(),
        media_type=MEDIA_TYPES[".xlsx"],
        headers={"Content-Disposition": attachment("申请家庭核对模板.xlsx"), "Cache-Control": "no-store"},
    )


async def entered_in_form(
    request: Request, authorisation_ref: str, applied_for: str
) -> tuple[str, bytes, dict]:
    """An application typed into the form: its file name, its CSV, and what was typed (to show
    again if it is refused)."""
    form = await request.form()
    members = {c: [str(v) for v in form.getlist(c)] for c in applications.FORM_COLUMNS}
    data = applications.form_csv(members, authorisation_ref, applied_for)
    rows = [
        {c: (members[c][i] if i < len(members[c]) else "") for c in applications.FORM_COLUMNS}
        for i in range(applications.FORM_ROWS)
    ]
    entered = {"authorisation_ref": authorisation_ref, "applied_for": applied_for, "rows": rows}
    return applications.FORM_FILE, data, entered


@router.post("/applications", response_class=HTMLResponse, dependencies=[CSRF])
async def application_check(
    request: Request,
    account: Checker,
    file: Annotated[UploadFile | None, File()] = None,
    authorisation: Annotated[UploadFile | None, File()] = None,
    authorisation_ref: Annotated[str, Form()] = "",
    applied_for: Annotated[str, Form()] = "",
) -> Response:
    """An application checked at once, uploaded as a file or entered in the form, with the
    signed authorisation: a township office for its own township, the data team for any; a
    county office reads and releases. A check outside the office's duty is held."""
    state = request.app.state
    filename = (file.filename if file else "") or ""
    data = await file.read(state.settings.upload_max_bytes + 1) if file else b""
    signed = None
    if authorisation is not None and (authorisation.filename or authorisation.size):
        signed = (
            authorisation.filename or "",
            await authorisation.read(state.settings.authorisation_max_bytes + 1),
        )
    entered = None
    if not data and not filename:  # entered in the form
        filename, data, entered = await entered_in_form(request, authorisation_ref, applied_for)
    area = "" if account.role == "admin" else account.area
    try:
        checked = await run_in_threadpool(
            applications.submit,
            *(
                state.home,
                filename,
                data,
                published_rules(state.home),
                fonts(),
                account.username,
                account.role,
                area,
            ),
            *(address(request), None, state.settings, signed),
        )
    except applications.ApplicationRefused as exc:  # the form comes back as it was filled in
        return applications_page(request, account, status=400, error=exc.problems, entered=entered)
    logged_check(request, account, "application", checked)
    return RedirectResponse(f"/applications/{checked.application_id}", status_code=303)


@router.post("/applications/{application_id}/release", response_class=HTMLResponse, dependencies=[CSRF])
def application_release(request: Request, account: Releaser, application_id: str) -> Response:
    """A held check released by the county office of its township, checked at once (in the
    thread pool: a check reads the lake and draws a PDF). A second click, or a release that
    another came before, goes to the first one's answer."""
    entry = application_of(request, account, application_id)
    result = RedirectResponse(f"/applications/{application_id}", status_code=303)
    if entry.get("released_by"):
        return result
    if entry["status"] != "held":
        raise NotFound()
    state = request.app.state
    try:
        checked = applications.release(
            *(
                state.home,
                application_id,
                published_rules(state.home),
                fonts(),
                account.username,
                account.role,
                account.area,
            ),
            address(request),
            None,
            state.settings,
        )
    except applications.AlreadyReleased:
        return result
    except applications.ApplicationRefused as exc:
        log(request, "release", account, result="refused", detail=f"{application_id}: {exc}"[:2000])
        return applications_page(request, account, status=400, error=exc.problems)
    logged_check(request, account, "release", checked)
    return result


@router.get("/applications/{application_id}", response_class=HTMLResponse)
def application_result(request: Request, account: SignedIn, application_id: str) -> Response:
    entry = application_of(request, account, application_id)
    held = entry["status"] == "held"
    if held and account.role == "township":  # why it is held is the county's to read
        entry = entry | {"held_reason": None}
    refused = entry["status"] == "refused"  # on its release: the detail is masked when logged
    report = None if held or refused else applications.sections_of(request.app.state.home, entry)
    return page(
        request,
        "application.html",
        account,
        e=entry,
        held=held,
        refused=refused,
        may_release=held and account.role == "county",
        report=report,
        name=names(request).get(entry["township_code"], entry["township_code"]),
    )


@router.get("/applications/{application_id}/report.pdf")
def application_report(request: Request, account: SignedIn, application_id: str) -> Response:
    entry = application_of(request, account, application_id)
    if entry["status"] != "checked":
        raise NotFound()
    data = (request.app.state.home / "lake" / entry["report_file"]).read_bytes()
    log(
        request,
        "download",
        account,
        township_code=entry["township_code"],
        file=entry["report_file"],
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        result="ok",
    )
    return Response(
        data,
        media_type=MEDIA_TYPES[".pdf"],
        headers={
            "Content-Disposition": attachment(f"{application_id}_家庭经济状况核查报告.pdf"),
            "Cache-Control": "no-store",
        },
    )
