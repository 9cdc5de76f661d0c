"""A township's published files: the account's months and townships, a folder with its SHA-256
(manifest), one file listed in it (a report or portrait drawn when first asked for), all of them
as a zip."""

from __future__ import annotations

import hashlib
from functools import partial
from pathlib import PurePosixPath

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.background import BackgroundTask

from jobs.cases.lifecycle import STATES
from jobs.decisions.log import DecisionLogError
from jobs.export.documents import REFUSED, DocumentChanged
from jobs.export.lists import ON_DEMAND
from portal import casework, decisions, uploads
from portal.accounts import Account
from portal.documents import DocumentFailed, files_table, on_demand, rendered, served
from portal.files import Folder, zip_folder
from portal.pages import attachment, log, names, page, send
from portal.session import MyFolder, MyTownship, SignedIn, folder_of

router = APIRouter()


class ZipResponse(FileResponse):
    chunk_size = 1 << 20  # Starlette's 64 KB costs a thread hop per chunk: 62 for a 4 MB zip


@router.get("/", response_class=HTMLResponse)
def index(request: Request, account: SignedIn) -> Response:
    """One table of the account's townships with their months' files; for a township office, its
    本月待办 first: each list's open, soon due, overdue and returned cases, as the worklist counts them."""
    if account.role == "admin":
        return RedirectResponse("/status", status_code=303)
    state = request.app.state
    library = state.library
    by_month = {m: account.townships(library.townships(m)) for m in library.months()}  # newest first
    townships = sorted({t for mine in by_month.values() for t in mine})
    months = {t: [m for m, mine in by_month.items() if t in mine] for t in townships}
    due_days = state.settings.worklist_due_days
    if account.may_upload:
        uploads.prepare(library.home())  # what the first upload is checked against, made meanwhile
    todo = {
        t: casework.todo(casework.township_cases(library.home(), state.landing, t, state.today()), due_days)
        for t in (townships if account.may_upload else [])
    }
    # a county's proposals to decide, a township's returned to correct (issue 36); a broken line
    # in the decision log leaves the files and worklists working (app.py's `unreadable_log`)
    unreadable = None
    try:
        county = decisions.proposals(state.home, county=account.area) if account.role == "county" else []
        mine = {t: decisions.proposals(state.home, township=t) for t in todo}
        returned = {t: sum(p["event"] == "returned" for p in found) for t, found in mine.items()}
    except DecisionLogError as exc:
        log(request, "decision_log", account, result="failed", detail=str(exc)[:500])
        county, returned, unreadable = [], {}, decisions.UNREADABLE
    return page(
        request,
        "index.html",
        account,
        pending=sum(p["event"] == "proposed" for p in county),
        returned=returned,
        unreadable=unreadable,
        months=months,
        latest=next(iter(by_month), None),
        county_months=[m for m, mine in by_month.items() if mine],
        todo=todo,
        filters=casework.STATE_FILTERS,
        names=names(request),
    )


@router.get("/files/{month}/{township}", response_class=HTMLResponse)
async def folder_page(request: Request, account: SignedIn, folder: MyFolder) -> Response:
    return page(
        request,
        "folder.html",
        account,
        folder=folder,
        files_table=files_table(folder.path, folder.month, folder.township),
        name=names(request).get(folder.township, folder.township),
        demand=on_demand(request.app.state.home, folder, STATES),
    )


@router.get("/download/{month}/{township}/{name:path}")
async def download(
    request: Request, account: SignedIn, month: str, township: MyTownship, name: str
) -> Response:
    folder = folder_of(request, month, township)
    entry = folder.entry(name) if folder else None
    if entry is not None and entry.get(ON_DEMAND):  # a report or portrait, drawn when first asked for
        return await run_in_threadpool(send_document, request, account, folder, entry)
    return send(request, account, month, township, folder, name)


def send_document(request: Request, account: Account, folder: Folder, entry: dict) -> Response:
    """A document the manifest lists as drawn on demand, from the cache or drawn now; the portal
    log records the SHA-256 and bytes of what was served."""
    month, township = folder.month, folder.township
    where = f"{month}/{township}/{entry['file']}"
    logged = partial(log, request, "download", account, township_code=township, file=where)
    try:
        data = served(request.app.state.library.home(), folder, entry)
    except DocumentFailed as exc:
        logged(result="failed", detail=str(exc))
        return page(request, "error.html", account, status=422, message=str(exc))
    except DocumentChanged as exc:  # drawn now, it could differ from its build's: refused, for the data team
        logged(result="refused", detail=str(exc))
        return page(request, "error.html", account, status=409, message=REFUSED)
    logged(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), result="ok")
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": attachment(f"{township}_{month}_{PurePosixPath(entry['file']).name}"),
            "Cache-Control": "no-store",
        },
    )


@router.get("/zip/{month}/{township}")
def download_zip(request: Request, account: SignedIn, folder: MyFolder) -> Response:
    month, township = folder.month, folder.township
    home = request.app.state.library.home()
    path, size, sha = zip_folder(
        folder, request.app.state.home / "portal" / "zips", lambda: rendered(home, folder)
    )
    log(
        request,
        "download",
        account,
        township_code=township,
        file=f"{month}/{township}.zip",
        sha256=sha,
        bytes=size,
        result="ok",
    )
    return ZipResponse(
        path,
        filename=f"{township}_{month}_全部文件.zip",
        media_type="application/zip",
        headers={"Cache-Control": "no-store"},
        # a zip with a document left out is served once, never kept (portal/files.py)
        background=BackgroundTask(path.unlink, missing_ok=True)
        if path.name.startswith(".partial-")
        else None,
    )
