"""A township's worklist: its open and overdue cases, one list's cases in one state (the home
page's counts link here), or the households a search finds."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from portal.casework import LISTS, SHEETS, STATE_FILTERS, chosen, search_cases, township_cases
from portal.pages import KIND_LABELS, names, page
from portal.session import MyTownship, SignedIn

router = APIRouter()


@router.get("/worklist/{township}", response_class=HTMLResponse)
def worklist(
    request: Request,
    account: SignedIn,
    township: MyTownship,
    q: str = "",
    list: str = "",  # noqa: A002 (the query parameter's name, as the home page links it)
    sheet: str = "",
    state: str = "",
) -> Response:
    app = request.app.state
    cases = township_cases(app.library.home(), app.landing, township, app.today())
    q = q.strip()[:40]
    due_days = app.settings.worklist_due_days
    shown = search_cases(cases, q) if q else chosen(cases, list, sheet, state, due_days)
    return page(
        request,
        "worklist.html",
        account,
        township=township,
        q=q,
        cases=shown.to_dicts(),
        counts=dict(cases.group_by("state").len().iter_rows()),
        kinds=KIND_LABELS,
        sheets=SHEETS,
        shown_as=filter_words(list, sheet, state, due_days),
        name=names(request).get(township, township),
    )


def filter_words(kind: str, sheet: str, state: str, due_days: int) -> str:
    """The worklist's filters as the page names them (empty: the default, every open case)."""
    words = [LISTS.get(kind, ""), SHEETS.get(sheet, "")]
    if state == "due":
        words.append(f"{due_days} 天内到期")
    else:
        words.append(STATE_FILTERS.get(state, ""))
    return " · ".join(w for w in words if w)
