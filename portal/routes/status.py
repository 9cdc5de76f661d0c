"""What a county or the data team reads: an area's overview (KPIs) and every township's uploads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from portal.accounts import Account
from portal.casework import upload_status
from portal.corrections import corrections
from portal.cross_region import section as cross_region_section
from portal.documents import overview_html
from portal.files import AREA
from portal.pages import NotFound, log, names, page
from portal.session import SignedIn, role_in

router = APIRouter()


@router.get("/overview/{month}/{area}", response_class=HTMLResponse)
def overview_page(request: Request, account: SignedIn, month: str, area: str) -> Response:
    """The KPIs of a county (its accounts, admin) or a township (its own account too), and the
    corrections of its townships' outcomes."""
    library = request.app.state.library
    if (
        not AREA.fullmatch(area)
        or not account.may_see(area)
        or month not in library.months()
        or not any(t.startswith(area) for t in library.townships(month))
    ):
        raise NotFound()
    log(request, "overview", account, township_code=area, file=f"{month}/{area}", result="ok")
    body = overview_html(library.root, library.commit(), month, area, tuple(sorted(names(request).items())))
    corrected = corrections(library.home(), request.app.state.landing, month, area).to_dicts()
    return page(
        request,
        "overview.html",
        account,
        body=body,
        month=month,
        area=area,
        corrections=corrected,
        names=names(request),
    )


@router.get("/status", response_class=HTMLResponse)
def status(request: Request, account: Annotated[Account, Depends(role_in("admin"))]) -> Response:
    """The data team's view: every township's uploads, and the cross-region checks."""
    library = request.app.state.library
    rows = upload_status(library, request.app.state.landing)
    months, cross_region = library.months(), cross_region_section(library)
    return page(request, "status.html", account, rows=rows, months=months, cross_region=cross_region)
