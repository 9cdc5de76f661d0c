"""The township portal (乡镇工作平台): FastAPI, Jinja2 templates rendered on the server, no script
and no asset from outside the server, so that it works on an old browser on the county intranet.

    GET  /login, POST /login, POST /logout     sign in and out (CSRF token on every form)
    GET  /password, POST /password             change one's own password (the old one and a new one)
    GET  /                                     本月待办 (a township) and the townships' months
    GET  /files/{month}/{township}             a township's files with their SHA-256 (manifest)
    GET  /download/{month}/{township}/{name}   one file listed in that manifest
    GET  /zip/{month}/{township}               the month's files as a zip
    GET  /worklist/{township}?q=&list=&sheet=&state=   open cases, one list in one state; find one
    GET  /portrait/{month}/{township}/{household}   a listed household's portrait (家庭画像)
    POST /draw/{month}/{township}              a portrait or report drawn on demand (addendum)
    GET  /drawn/{month}/{township}/{name}      a document drawn on demand, listed in the addendum
    GET  /upload/{township}, POST ...          return outcomes (township offices only)
    GET  /overview/{month}/{area}              a county's or a township's KPIs
    GET  /status                               the data team: uploads of every township
    GET  /applications, POST ...               application checks (逢救必核): upload an applicant
                                               household, get its means test and report at once
    GET  /applications/template.xlsx           the application's columns, to fill in
    GET  /applications/{id}, .../report.pdf    a check's result and its economic-status report
    POST /applications/{id}/release            a county office releases a check held for it
    GET  /propose/{township}/{case}, POST ...  a township proposes assistance from a verified case
    GET  /proposals/{township}                 a township's proposals and their states
    GET  /approvals                            a county's worklist of proposals, pending first
    GET  /proposal/{id}, POST .../approve, .../return   a proposal; the county approves or returns it
    GET  /proposal/{id}/correct, POST ...      a returned proposal corrected and proposed again
    GET  /proposal/{id}/审批表.pdf              an approved decision's document, drawn on demand

Everything a request names is checked against the account and the manifests; whatever does not
match is answered 404, the same as a file that does not exist.

This module is the wiring: middleware, the shared state routes read from `request.app.state`,
and one router per area (`portal/routes/`), each route standing on the dependencies of
`portal/session.py` (the signed-in account, the CSRF check, what the account may see).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from jobs.decisions.log import DecisionLogError
from portal import audit, decisions
from portal.accounts import Accounts
from portal.documents import draw_now
from portal.files import Library
from portal.guard import HEADER_PAIRS, Guard, hsts, post_limit, refusal
from portal.pages import log, page
from portal.routes import applications, documents, files, proposals, signin, status, uploads, worklist
from portal.session import SESSION_COOKIE, SignIn, account_or_none
from safetynet.errors import SetupError
from safetynet.rules import PortalSettings, load_portal
from safetynet.settings import settings

ROUTERS = (signin, files, uploads, worklist, status, documents, applications, proposals)
ERRORS = {
    403: "页面已过期或表单缺少校验码，请返回重新打开页面后再提交。",
    404: "未找到该页面或文件。",
    405: "不支持这种请求方式。",
}


def _secret(home: Path) -> str:
    """The key that signs session cookies, made once: portal processes started together (`serve
    --workers`) all read the first one made (a link never replaces an existing file)."""
    path = home / "portal" / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_name(f"secret_key.{os.getpid()}.tmp")
        tmp.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        tmp.chmod(0o600)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        tmp.unlink()
    return path.read_text(encoding="utf-8").strip()


def from_env() -> FastAPI:
    """The portal as `serve --workers N` starts it in each worker process (uvicorn's factory):
    home, landing and the cookie setting come from the environment the command set."""
    current = settings()
    if current.portal_home is None:
        raise SetupError("SAFETYNET_PORTAL_HOME is not set: start the portal with safetynet serve --home")
    return create_app(current.portal_home, current.portal_landing, https_only=current.portal_https_only)


async def to_sign_in(request: Request, exc: SignIn) -> Response:
    return RedirectResponse("/login", status_code=303)


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """An error page in Chinese; a refused form (403) and a page not found (404) are logged."""
    if exc.status_code == 403:
        detail = f"{request.url.path}: 表单缺少有效的校验码"
        log(request, "refused", account_or_none(request), result="refused", detail=detail)
    elif exc.status_code == 404:
        log(request, "not_found", account_or_none(request), result="refused", detail=request.url.path[:300])
    message = ERRORS.get(exc.status_code, "请求无法处理。")
    return page(request, "error.html", None, status=exc.status_code, message=message)


async def unreadable_log(request: Request, exc: DecisionLogError) -> Response:
    """A decision log line that cannot be read (portal/decisions.py): logged for the data team,
    who see the file and the line; an office sees that the records cannot be read for now."""
    who = account_or_none(request)
    log(request, "decision_log", who, result="failed", detail=str(exc)[:500])
    message = decisions.UNREADABLE
    if who and who.role == "admin":  # the data team: which file and line to mend
        message = f"审批记录文件有一行无法读取，请修复后刷新：{exc}"
    return page(request, "error.html", who, status=503, message=message)


def clock():
    """The portal's date: today's, or the one a test or demo set (`SAFETYNET_PORTAL_TODAY`, only
    with `SAFETYNET_PORTAL_DEMO`): a step is logged at the portal's date, so a date left set on a
    county's portal would put every step into another month's decision log file."""
    current = settings()
    fixed = current.portal_today
    if fixed and not current.portal_demo:
        raise SetupError(
            f"SAFETYNET_PORTAL_TODAY={fixed} is set on a portal that is not a demo: every proposal "
            f"and approval would be logged on {fixed}, in that month's decision log file. Unset it "
            "(it is for tests and demos: serve --demo-accounts, or SAFETYNET_PORTAL_DEMO=1)."
        )
    return (lambda: fixed) if fixed else dt.date.today


def create_app(
    home: Path,
    landing: Path | None = None,
    settings: PortalSettings | None = None,
    https_only: bool = False,
    today=None,
) -> FastAPI:
    home = home.resolve()
    today = today or clock()
    settings = settings or load_portal()
    audit.folder(home).mkdir(parents=True, exist_ok=True)
    app = FastAPI(title="safetynet portal", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        SessionMiddleware,
        secret_key=_secret(home),
        session_cookie=SESSION_COOKIE,
        max_age=int(settings.session_hours * 3600),
        same_site="strict",
        https_only=https_only,
    )
    headers = HEADER_PAIRS + (hsts(settings) if https_only else [])
    app.add_middleware(Guard, limit=post_limit(settings), refuse=refusal(home, settings), headers=headers)
    app.state.home, app.state.landing, app.state.settings, app.state.today = home, landing, settings, today
    app.state.accounts = Accounts(home, settings)
    app.state.library = Library(home)
    app.state.draw_now = draw_now  # read at creation: a test replaces `portal.app.draw_now`
    app.add_exception_handler(SignIn, to_sign_in)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(DecisionLogError, unreadable_log)
    for area in ROUTERS:
        app.include_router(area.router)
    return app
