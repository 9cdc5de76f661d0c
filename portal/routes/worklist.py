"""A township's worklist: its open and overdue cases, or the households a search finds."""

from __future__ import annotations

import polars as pl
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from portal.casework import open_cases, search_cases
from portal.pages import KIND_LABELS, names, page
from portal.session import MyTownship, SignedIn

router = APIRouter()


@router.get("/worklist/{township}", response_class=HTMLResponse)
def worklist(request: Request, account: SignedIn, township: MyTownship, q: str = "") -> Response:
    state = request.app.state
    cases = open_cases(state.library.home(), state.landing, township, state.today())
    q = q.strip()[:40]
    if q:
        shown = search_cases(cases, q)
    else:
        shown = cases.filter(pl.col("state").is_in(["待核查", "已逾期"]))
    return page(
        request,
        "worklist.html",
        account,
        township=township,
        q=q,
        cases=shown.to_dicts(),
        counts=dict(cases.group_by("state").len().iter_rows()),
        kinds=KIND_LABELS,
        name=names(request).get(township, township),
    )
