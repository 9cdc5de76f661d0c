"""Documents on demand: a listed household's portrait (家庭画像) to read in the browser, a
portrait or economic-status report drawn now into the township's addendum, and one drawn file."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jobs.export import portraits
from jobs.export.household_reports import REPORT_DIR
from jobs.export.returnable import OUTCOME_CODES
from portal import audit
from portal.case_history import history
from portal.casework import household_cases
from portal.documents import document, lead_case, listed_case, portrait_of, radar_svg, reportable
from portal.files import add_drawn, drawn_folder
from portal.pages import NotFound, log, names, page, send
from portal.session import CSRF, MyFolder, MyTownship, SignedIn, folder_of
from safetynet.pdf import MissingGlyph

router = APIRouter()
KINDS = ("portrait", "report")


@router.get("/portrait/{month}/{township}/{household}", response_class=HTMLResponse)
def portrait_page(request: Request, account: SignedIn, folder: MyFolder, household: str) -> Response:
    """A listed household's portrait (家庭画像), to read or print from the browser, with its cases'
    states as the worklist shows them and their history."""
    month, township, home = folder.month, folder.township, request.app.state.home
    case = listed_case(folder, household)
    found = portrait_of(home, request.app.state.library.commit(), month, township, household)
    if found is None:
        raise NotFound()
    app, today = request.app.state, request.app.state.today()
    cases = household_cases(app.library.home(), app.landing, township, household, today).to_dicts()
    events = history(app.library.home(), app.landing, township, household, today)
    log(
        request,
        "portrait",
        account,
        township_code=township,
        file=f"{month}/{township}/{household}",
        result="ok",
    )
    return page(
        request,
        "portrait.html",
        account,
        p=found,
        kind=case["kind"],
        cases=cases,
        events={c["id"]: [e for e in events if e["case_id"] == c["id"]] for c in cases},
        chart=radar_svg(found["dimensions"]),
        outcome_codes=OUTCOME_CODES,
        pdf=document(folder, drawn_folder(home, folder), f"{portraits.PORTRAIT_DIR}/{household}_"),
        month=month,
        name=names(request).get(township, township),
    )


@router.post("/draw/{month}/{township}", response_class=HTMLResponse, dependencies=[CSRF])
def draw(
    request: Request,
    account: SignedIn,
    folder: MyFolder,
    household: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
) -> Response:
    """Draws a listed lead's portrait or a listed doubtful-record or re-check household's report
    now, into the addendum, and answers with the file; one that exists is not drawn again."""
    month, township = folder.month, folder.township
    if kind not in KINDS or (kind == "report" and not reportable(folder, household)):
        raise NotFound()
    if kind == "portrait":
        lead_case(folder, household)
    drawn = drawn_folder(request.app.state.home, folder)
    prefix = f"{portraits.PORTRAIT_DIR if kind == 'portrait' else REPORT_DIR}/{household}_"
    where = f"{month}/{township}/{prefix}"
    found = document(folder, drawn, prefix)
    if found is not None:
        log(request, "draw", account, township_code=township, file=where, result="exists")
        return RedirectResponse(found, status_code=303)
    try:
        made = request.app.state.draw_now(request.app.state.library.home(), kind, month, township, household)
    except MissingGlyph as exc:
        log(request, "draw", account, township_code=township, file=where, result="failed", detail=str(exc))
        return page(request, "error.html", account, status=422, message=str(exc))
    if made is None:
        raise NotFound()
    name, data = made
    entry = add_drawn(drawn, name, data, account.username, dt.datetime.now(audit.CHINA))
    log(
        request,
        "draw",
        account,
        township_code=township,
        file=f"{month}/{township}/{entry['file']}",
        sha256=entry["sha256"],
        bytes=entry["bytes"],
        result="ok",
    )
    return RedirectResponse(f"/drawn/{month}/{township}/{quote(entry['file'])}", status_code=303)


@router.get("/drawn/{month}/{township}/{name:path}")
def download_drawn(
    request: Request, account: SignedIn, month: str, township: MyTownship, name: str
) -> Response:
    """A document drawn on demand, listed in the township's addendum: the rules of /download."""
    folder = folder_of(request, month, township)
    drawn = drawn_folder(request.app.state.home, folder) if folder else None
    return send(request, account, month, township, drawn, name)
