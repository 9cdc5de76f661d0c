"""A township's published files: the account's months and townships, a folder with its SHA-256
(manifest), one file listed in it, all of them as a zip."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from jobs.cases.lifecycle import STATES
from portal import casework, uploads
from portal.documents import files_table, on_demand
from portal.files import zip_folder
from portal.pages import log, names, page, send
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
    return page(
        request,
        "index.html",
        account,
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
    return send(request, account, month, township, folder_of(request, month, township), name)


@router.get("/zip/{month}/{township}")
def download_zip(request: Request, account: SignedIn, folder: MyFolder) -> Response:
    month, township = folder.month, folder.township
    path, size, sha = zip_folder(folder, request.app.state.home / "portal" / "zips")
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
    )
