"""What every area of the portal answers with: a page from its template, a file to download, a
line of the audit trail. Shared state (home, settings, library) is read from `request.app.state`,
which `portal.app.create_app` fills."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from portal import audit
from portal.accounts import Account

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters["url"] = lambda s: quote(str(s), safe="/")
KIND_LABELS = {"lead": "预警线索", "doubtful": "核对疑点", "recheck": "随机抽查"}
ROLE_LABELS = {"township": "乡镇（街道）", "county": "县（区）民政局", "admin": "数据组"}
MEDIA_TYPES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pdf": "application/pdf",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
}


class NotFound(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=404)


def address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def log(request: Request, action: str, who: Account | None = None, **fields) -> None:
    """One line of the audit trail; `who` is the signed-in account (or `account=` a name)."""
    if who is not None:
        fields |= {"account": who.username, "role": who.role}
    audit.write(request.app.state.home, action, client_address=address(request), **fields)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on the first page it is put in."""
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(24)
    return request.session["csrf"]


def page(request: Request, template: str, account: Account | None, status: int = 200, **context) -> Response:
    settings = request.app.state.settings
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "account": account,
            "csrf": csrf_token(request),
            "roles": ROLE_LABELS,
            "min_length": settings.password_min_length,
            "lockout": settings,
            **context,
        },
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def names(request: Request) -> dict[str, str]:
    """Division code -> name, as the published month names them."""
    return request.app.state.library.names()


def attachment(filename: str) -> str:
    """Content-Disposition for a Chinese file name (RFC 6266/5987, as old and new browsers read it)."""
    return f"attachment; filename*=utf-8''{quote(filename)}"


def send(request: Request, account: Account, month: str, township: str, found, name: str) -> Response:
    """A file `found` (a township's folder, or its documents drawn on demand) lists as `name`."""
    entry = found.entry(name) if found else None
    if entry is None:
        raise NotFound()
    path = found.path_of(entry)
    if not path.is_file():
        raise NotFound()
    log(
        request,
        "download",
        account,
        township_code=township,
        file=f"{month}/{township}/{entry['file']}",
        sha256=entry["sha256"],
        bytes=entry["bytes"],
        result="ok",
    )
    # lists and reports are small (KB): one read, one answer, no thread hop per chunk
    return Response(
        path.read_bytes(),
        media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
        headers={
            "Content-Disposition": attachment(f"{township}_{month}_{path.name}"),
            "Cache-Control": "no-store",
        },
    )
