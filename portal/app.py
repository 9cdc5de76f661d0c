"""The township portal (乡镇工作平台): FastAPI, Jinja2 templates rendered on the server, no script
and no asset from outside the server, so that it works on an old browser on the county intranet.

    GET  /login, POST /login, POST /logout     sign in and out (CSRF token on every form)
    GET  /password, POST /password             change one's own password (the old one and a new one)
    GET  /                                     the account's townships and months
    GET  /files/{month}/{township}             a township's files with their SHA-256 (manifest)
    GET  /download/{month}/{township}/{name}   one file listed in that manifest
    GET  /zip/{month}/{township}               the month's files as a zip
    GET  /worklist/{township}?q=               open and overdue cases; find a household
    GET  /portrait/{month}/{township}/{household}   a listed lead's household portrait (家庭画像)
    POST /draw/{month}/{township}              a portrait or report drawn on demand (addendum)
    GET  /drawn/{month}/{township}/{name}      a document drawn on demand, listed in the addendum
    GET  /upload/{township}, POST ...          return outcomes (township offices only)
    GET  /status                               the data team: uploads of every township
    GET  /applications, POST ...               application checks (逢救必核): upload an applicant
                                               household, get its means test and report at once
    GET  /applications/template.xlsx           the application's columns, to fill in
    GET  /applications/{id}, .../report.pdf    a check's result and its economic-status report
    POST /applications/{id}/release            a county office releases a check held for it

Everything a request names is checked against the account and the manifests; whatever does not
match is answered 404, the same as a file that does not exist.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import polars as pl
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from jobs.applications import checks as applications
from jobs.cases.lifecycle import STATES
from jobs.export import portraits
from jobs.export.household_reports import REPORT_DIR, Reports, division_names
from jobs.export.household_reports import gather as report_rows
from jobs.export.returnable import OUTCOME_CODES
from jobs.ingest.areas import prefecture_of
from portal import audit, uploads
from portal.accounts import Account, Accounts, WeakPassword, escaped
from portal.files import AREA, TOWNSHIP, Folder, Library, add_drawn, drawn_folder, listed_cases, zip_folder
from safetynet.contract import APPLICATION
from safetynet.errors import SetupError
from safetynet.lake import Home
from safetynet.pdf import FontChain, MissingGlyph, find_font
from safetynet.rules import PortalSettings, load_portal, load_rules
from safetynet.settings import settings

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters["url"] = lambda s: quote(str(s), safe="/")
KIND_LABELS = {"lead": "预警线索", "doubtful": "核对疑点", "recheck": "随机抽查"}
ROLE_LABELS = {"township": "乡镇（街道）", "county": "县（区）民政局", "admin": "数据组"}
SESSION_COOKIE = "safetynet_session"
MEDIA_TYPES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pdf": "application/pdf",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # a worklist search puts a name in the URL: it never leaves the server's origin (and forms keep
    # a real Origin header, which no-referrer turns into `null`)
    "Referrer-Policy": "same-origin",
}
HEADER_PAIRS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
SAME_ANSWER = "用户名或密码错误，或该账户在本机已被暂时锁定。请稍后再试或联系县民政局数据组。"


class Guard:
    """Pure ASGI middleware (Starlette's `@app.middleware` costs a task per request): a post larger
    than `limit(path)`, or of unknown length (chunked), is refused before its body is read; every answer
    says no scripts, no framing, no sniffing, no referrer."""

    def __init__(
        self, app, limit: Callable[[str], int], refuse, headers: list[tuple[bytes, bytes]] = HEADER_PAIRS
    ) -> None:
        self.app, self.limit, self.refuse, self.headers = app, limit, refuse, headers

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        if scope["method"] == "POST":
            length = dict(scope["headers"]).get(b"content-length", b"").decode("latin-1")
            if not (length.isdigit() and int(length) <= self.limit(scope["path"])):
                return await self.refuse(scope, length)(scope, receive, send_with_headers)
        await self.app(scope, receive, send_with_headers)


class ZipResponse(FileResponse):
    chunk_size = 1 << 20  # Starlette's 64 KB costs a thread hop per chunk: 62 for a 4 MB zip


class NotFound(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=404)


class SignIn(Exception):
    """No valid session: go to the sign-in page."""


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


def create_app(
    home: Path,
    landing: Path | None = None,
    settings: PortalSettings | None = None,
    https_only: bool = False,
    today=dt.date.today,
) -> FastAPI:
    home = home.resolve()
    settings = settings or load_portal()
    accounts = Accounts(home, settings)
    library = Library(home)
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
    app.state.accounts = accounts

    def refused_post(scope, length: str) -> Response:
        status = 413 if length.isdigit() else 411
        client = scope.get("client") or ("unknown", 0)
        audit.write(
            home,
            "refused",
            bytes=int(length) if length.isdigit() else None,
            client_address=client[0],
            result="refused",
            detail=f"{scope['path']}: 请求过大或大小未知（{status}）",
        )
        return HTMLResponse(
            "<!doctype html><meta charset='utf-8'><p>文件超过 "
            f"{settings.upload_max_bytes // 1_000_000} MB 或大小未知，已拒绝。<a href='/'>返回</a></p>",
            status_code=status,
        )

    def limit(path: str) -> int:
        """A post's largest body: an application's carries its file and the signed authorisation."""
        signed = settings.authorisation_max_bytes if path == "/applications" else 0
        return settings.upload_max_bytes + signed + 65536

    # behind a TLS proxy, the browser is told to come by HTTPS only from now on (HSTS)
    hsts = [(b"strict-transport-security", f"max-age={settings.hsts_days * 86400}".encode())]
    app.add_middleware(
        Guard, limit=limit, refuse=refused_post, headers=HEADER_PAIRS + (hsts if https_only else [])
    )

    def address(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def log(request: Request, action: str, who: Account | None = None, **fields) -> None:
        """One line of the audit trail; `who` is the signed-in account (or `account=` a name)."""
        if who is not None:
            fields |= {"account": who.username, "role": who.role}
        audit.write(home, action, client_address=address(request), **fields)

    def csrf(request: Request) -> str:
        if "csrf" not in request.session:
            request.session["csrf"] = secrets.token_urlsafe(24)
        return request.session["csrf"]

    def check_csrf(request: Request, token: str | None) -> None:
        expected = request.session.get("csrf")
        if not expected or not token or not hmac.compare_digest(expected, token):
            raise StarletteHTTPException(status_code=403, detail="csrf")

    def user(request: Request, quiet: bool = False) -> Account:
        """The signed-in account, or SignIn. A cookie that fails its signature or has expired, or a
        session that was ended (sign-out, disabled, reset, too old), is logged as refused."""
        s = request.session
        account = accounts.get(s.get("u", "")) if s.get("u") else None
        if (
            account is None
            or account.disabled
            or s.get("e") != account.epoch
            or time.time() - s.get("t", 0) > settings.session_hours * 3600
            or not accounts.session_open(s.get("sid", ""), account.username)
        ):
            cookie = request.cookies.get(SESSION_COOKIE)
            if not quiet and (s.get("u") or (cookie and not s)):
                log(
                    request,
                    "session_refused",
                    account=s.get("u"),
                    result="refused",
                    detail=f"{request.url.path}: "
                    + ("会话已结束或已过期" if s.get("u") else "会话 cookie 签名无效或已过期"),
                )
            if s.get("u") and not quiet:  # an ended session; an anonymous one keeps its CSRF token
                request.session.clear()
            raise SignIn()
        return account

    def signed_in_or_none(request: Request) -> Account | None:
        try:
            return user(request, quiet=True)
        except SignIn:
            return None

    def page(
        request: Request, template: str, account: Account | None, status: int = 200, **context
    ) -> Response:
        return TEMPLATES.TemplateResponse(
            request,
            template,
            {
                "account": account,
                "csrf": csrf(request),
                "roles": ROLE_LABELS,
                "min_length": settings.password_min_length,
                "lockout": settings,
                **context,
            },
            status_code=status,
            headers={"Cache-Control": "no-store"},
        )

    def townships_of(account: Account) -> dict[str, list[str]]:
        """month -> the account's townships with files that month (newest month first)."""
        return {m: account.townships(library.townships(m)) for m in library.months()}

    def mine(account: Account, township: str) -> str:
        """The township, if the account may see it and it has files in some published month."""
        if not TOWNSHIP.fullmatch(township) or not account.may_see(township):
            raise NotFound()
        if not any(library.folder(m, township) for m in library.months()):
            raise NotFound()
        return township

    def names() -> dict[str, str]:
        return library.names()

    @app.exception_handler(SignIn)
    async def _sign_in(request: Request, exc: SignIn) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 403:
            log(
                request,
                "refused",
                signed_in_or_none(request),
                result="refused",
                detail=f"{request.url.path}: 表单缺少有效的校验码",
            )
            message = "页面已过期或表单缺少校验码，请返回重新打开页面后再提交。"
        elif exc.status_code == 404:
            log(
                request,
                "not_found",
                signed_in_or_none(request),
                result="refused",
                detail=request.url.path[:300],
            )
            message = "未找到该页面或文件。"
        elif exc.status_code == 405:
            message = "不支持这种请求方式。"
        else:
            message = "请求无法处理。"
        return page(request, "error.html", None, status=exc.status_code, message=message)

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)  # browsers ask for it on every page; not worth a 404 line

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> Response:
        return page(request, "login.html", None, message=None)

    @app.post("/login", response_class=HTMLResponse)
    def login(
        request: Request,
        username: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        csrf_token: Annotated[str | None, Form()] = None,
    ) -> Response:
        check_csrf(request, csrf_token)
        username = username.strip()
        account = accounts.sign_in(username, password, address(request))
        if account is None:
            known = accounts.get(username)
            log(
                request,
                "sign_in_failed",
                known,
                account=known.username if known else escaped(username),
                township_code=(known.area or None) if known else None,
                result="locked" if accounts.locked(username, address(request)) else "refused",
                detail=None if known else "unknown account",
            )
            return page(request, "login.html", None, status=401, message=SAME_ANSWER)
        start_session(request, account)
        log(request, "sign_in", account, township_code=account.area or None, result="ok")
        return RedirectResponse("/", status_code=303)

    def start_session(request: Request, account: Account) -> None:
        request.session.clear()
        request.session.update(
            {
                "u": account.username,
                "e": account.epoch,
                "t": int(time.time()),
                "sid": accounts.open_session(account.username),
                "csrf": secrets.token_urlsafe(24),
            }
        )

    @app.get("/password", response_class=HTMLResponse)
    def password_form(request: Request) -> Response:  # user() reads the accounts' database
        return page(request, "password.html", user(request), message=None, done=False)

    @app.post("/password", response_class=HTMLResponse)
    def change_password(
        request: Request,
        old: Annotated[str, Form()] = "",
        new: Annotated[str, Form()] = "",
        again: Annotated[str, Form()] = "",
        csrf_token: Annotated[str | None, Form()] = None,
    ) -> Response:
        """One's own new password: the old one is checked as a sign-in is, the new one by the policy;
        every other session of the account ends, this one goes on."""
        check_csrf(request, csrf_token)
        account = user(request)
        if new != again:
            return page(
                request, "password.html", account, status=400, message="两次输入的新密码不一致", done=False
            )
        try:
            changed = accounts.change_password(account.username, old, new, address(request))
        except WeakPassword as exc:
            return page(request, "password.html", account, status=400, message=exc.chinese, done=False)
        if changed is None:
            log(request, "password_change_failed", account, result="refused", detail="原密码错误或账户已锁定")
            return page(
                request,
                "password.html",
                account,
                status=400,
                message="原密码错误，或该账户在本机已被暂时锁定",
                done=False,
            )
        start_session(request, changed)
        log(request, "password_changed", changed, township_code=changed.area or None, result="ok")
        return page(request, "password.html", changed, message=None, done=True)

    @app.post("/logout")
    async def logout(request: Request, csrf_token: Annotated[str | None, Form()] = None) -> Response:
        check_csrf(request, csrf_token)
        try:
            account = user(request)
            accounts.close_session(request.session["sid"])
            log(request, "sign_out", account, result="ok")
        except SignIn:
            pass
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/", response_class=HTMLResponse)
    async def index(request: Request) -> Response:
        account = user(request)
        if account.role == "admin":
            return RedirectResponse("/status", status_code=303)
        by_month = townships_of(account)
        return page(request, "index.html", account, by_month=by_month, names=names())

    @app.get("/files/{month}/{township}", response_class=HTMLResponse)
    async def folder_page(request: Request, month: str, township: str) -> Response:
        account = user(request)
        folder = library.folder(month, mine(account, township))
        if folder is None:
            raise NotFound()
        return page(
            request,
            "folder.html",
            account,
            folder=folder,
            files_table=files_table(folder.path, folder.month, folder.township),
            name=names().get(township, township),
            demand=on_demand(folder),
        )

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

    @app.get("/download/{month}/{township}/{name:path}")
    async def download(request: Request, month: str, township: str, name: str) -> Response:
        account = user(request)
        return send(request, account, month, township, library.folder(month, mine(account, township)), name)

    @app.get("/zip/{month}/{township}")
    def download_zip(request: Request, month: str, township: str) -> Response:
        account = user(request)
        folder = library.folder(month, mine(account, township))
        if folder is None:
            raise NotFound()
        path, size, sha = zip_folder(folder, home / "portal" / "zips")
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

    @app.get("/upload/{township}", response_class=HTMLResponse)
    async def upload_form(request: Request, township: str) -> Response:
        account = user(request)
        mine(account, township)
        if not account.may_upload:
            raise NotFound()
        target = uploads.target_month(library.home(), landing)
        return page(
            request,
            "upload.html",
            account,
            township=township,
            result=None,
            error=None,
            target=target,
            landing=landing,
            name=names().get(township, township),
        )

    @app.post("/upload/{township}", response_class=HTMLResponse)
    async def upload(
        request: Request,
        township: str,
        file: Annotated[UploadFile | None, File()] = None,
        csrf_token: Annotated[str | None, Form()] = None,
    ) -> Response:
        check_csrf(request, csrf_token)
        account = user(request)
        mine(account, township)
        if not account.may_upload:
            raise NotFound()
        target = uploads.target_month(library.home(), landing)
        context = {
            "township": township,
            "target": target,
            "landing": landing,
            "name": names().get(township, township),
        }
        if landing is None:
            return page(
                request,
                "upload.html",
                account,
                status=503,
                result=None,
                error="门户未配置回传目录（--landing），暂不能上传，请联系数据组。",
                **context,
            )
        filename = (file.filename if file else "") or ""
        data = await file.read(settings.upload_max_bytes + 1) if file else b""
        sha = hashlib.sha256(data).hexdigest()

        def logged(result: str, detail: str) -> None:
            log(
                request,
                "upload",
                account,
                township_code=township,
                file=filename[:200],
                sha256=sha,
                bytes=len(data),
                result=result,
                detail=detail,
            )

        try:  # read, checked and merged off the event loop: every other request goes on meanwhile
            rows = await uploads.read_in_worker(filename, data, settings)
            result = await run_in_threadpool(
                uploads.receive, home, landing, township, filename, data, settings, today(), rows
            )
        except uploads.UploadRefused as exc:
            logged("refused", str(exc))
            return page(request, "upload.html", account, status=400, result=None, error=str(exc), **context)
        logged(
            "ok" if result.count("接受") else "nothing accepted",
            f"接受 {result.count('接受')}，拒绝 {result.count('拒绝')}，跳过 {result.count('跳过')}；"
            + "，".join(f"{m} 月 {n} 条" for m, n in sorted(result.written.items())),
        )
        return page(request, "upload.html", account, result=result, error=None, **context)

    @app.get("/worklist/{township}", response_class=HTMLResponse)
    def worklist(request: Request, township: str, q: str = "") -> Response:
        account = user(request)
        mine(account, township)
        cases = open_cases(library.home(), landing, township, today())
        q = q.strip()[:40]
        if q:
            shown = cases.filter(
                pl.col("household_id").str.contains(q, literal=True)
                | pl.col("head_name").fill_null("").str.contains(q, literal=True)
            )
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
            name=names().get(township, township),
        )

    @app.get("/overview/{month}/{area}", response_class=HTMLResponse)
    def overview_page(request: Request, month: str, area: str) -> Response:
        """The KPIs of a county (its accounts, admin) or a township (its own account too)."""
        account = user(request)
        if (
            not AREA.fullmatch(area)
            or not account.may_see(area)
            or month not in library.months()
            or not any(t.startswith(area) for t in library.townships(month))
        ):
            raise NotFound()
        log(request, "overview", account, township_code=area, file=f"{month}/{area}", result="ok")
        body = overview_html(library.root, library.commit(), month, area, tuple(sorted(names().items())))
        return page(request, "overview.html", account, body=body, month=month, area=area)

    def listed(folder: Folder) -> tuple[dict, ...]:
        return listed_cases(folder.path.parent.parent.parent, folder.township)

    def document(folder: Folder, drawn: Folder, prefix: str) -> str | None:
        """The address of a household's document (`prefix` = folder and household id), published
        with the month or drawn on demand; None when it is neither."""
        for route, where in (("download", folder), ("drawn", drawn)):
            entry = next((e for e in where.files if e["file"].startswith(prefix)), None)
            if entry is not None:
                return f"/{route}/{folder.month}/{folder.township}/{quote(entry['file'])}"
        return None

    def on_demand(folder: Folder) -> dict:
        """The folder page's documents on demand: every listed lead's portrait, the reports of the
        listed doubtful-record and re-check households not drawn at export, the addendum."""
        drawn = drawn_folder(home, folder)
        leads, reports, seen = [], [], set()
        for case in listed(folder):
            hid = case["household_id"]
            if case["kind"] == "lead":
                pdf = document(folder, drawn, f"{portraits.PORTRAIT_DIR}/{hid}_")
                leads.append({**case, "pdf": pdf})
            elif case["reportable"] and hid not in seen:
                seen.add(hid)
                pdf = document(folder, drawn, f"{REPORT_DIR}/{hid}_")
                if pdf is None or pdf.startswith("/drawn/"):
                    reports.append({**case, "pdf": pdf})
        return {"leads": leads, "reports": reports, "drawn": drawn, "states": STATES}

    def lead_case(folder: Folder, household: str) -> dict:
        case = next(
            (c for c in listed(folder) if c["kind"] == "lead" and c["household_id"] == household), None
        )
        if case is None:
            raise NotFound()
        return case

    @app.get("/portrait/{month}/{township}/{household}", response_class=HTMLResponse)
    def portrait_page(request: Request, month: str, township: str, household: str) -> Response:
        """A listed lead's household portrait (家庭画像), to read or print from the browser."""
        account = user(request)
        folder = library.folder(month, mine(account, township))
        if folder is None:
            raise NotFound()
        lead_case(folder, household)
        found = portrait_of(home, library.commit(), month, township, household)
        if found is None:
            raise NotFound()
        log(
            request,
            "portrait",
            account,
            township_code=township,
            file=f"{month}/{township}/{household}",
            result="ok",
        )
        drawn = drawn_folder(home, folder)
        return page(
            request,
            "portrait.html",
            account,
            p=found,
            chart=radar_svg(found["dimensions"]),
            outcome_codes=OUTCOME_CODES,
            pdf=document(folder, drawn, f"{portraits.PORTRAIT_DIR}/{household}_"),
            month=month,
            name=names().get(township, township),
        )

    @app.post("/draw/{month}/{township}", response_class=HTMLResponse)
    def draw(
        request: Request,
        month: str,
        township: str,
        household: Annotated[str, Form()] = "",
        kind: Annotated[str, Form()] = "",
        csrf_token: Annotated[str | None, Form()] = None,
    ) -> Response:
        """Draws a listed lead's portrait or a listed doubtful-record or re-check household's report
        now, into the addendum, and answers with the file; one that exists is not drawn again."""
        check_csrf(request, csrf_token)
        account = user(request)
        folder = library.folder(month, mine(account, township))
        if folder is None or kind not in ("portrait", "report"):
            raise NotFound()
        if kind == "portrait":
            lead_case(folder, household)
        elif not any(
            c["kind"] != "lead" and c["reportable"] and c["household_id"] == household for c in listed(folder)
        ):
            raise NotFound()
        drawn = drawn_folder(home, folder)
        prefix = f"{portraits.PORTRAIT_DIR if kind == 'portrait' else REPORT_DIR}/{household}_"
        where = f"{month}/{township}/{prefix}"
        found = document(folder, drawn, prefix)
        if found is not None:
            log(request, "draw", account, township_code=township, file=where, result="exists")
            return RedirectResponse(found, status_code=303)
        try:
            made = draw_now(library.home(), kind, month, township, household)
        except MissingGlyph as exc:
            log(
                request, "draw", account, township_code=township, file=where, result="failed", detail=str(exc)
            )
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

    @app.get("/drawn/{month}/{township}/{name:path}")
    def download_drawn(request: Request, month: str, township: str, name: str) -> Response:
        """A document drawn on demand, listed in the township's addendum: the rules of /download."""
        account = user(request)
        folder = library.folder(month, mine(account, township))
        return send(request, account, month, township, drawn_folder(home, folder) if folder else None, name)

    def applications_page(request: Request, account: Account, status: int = 200, **context) -> Response:
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

    @app.get("/applications", response_class=HTMLResponse)
    def applications_list(request: Request) -> Response:
        return applications_page(request, user(request))

    @app.get("/applications/template.xlsx")
    def application_template(request: Request) -> Response:
        user(request)
        return Response(
            applications.template(),
            media_type=MEDIA_TYPES[".xlsx"],
            headers={"Content-Disposition": attachment("申请家庭核对模板.xlsx"), "Cache-Control": "no-store"},
        )

    @app.post("/applications", response_class=HTMLResponse)
    async def application_check(
        request: Request,
        file: Annotated[UploadFile | None, File()] = None,
        authorisation: Annotated[UploadFile | None, File()] = None,
        csrf_token: Annotated[str | None, Form()] = None,
        authorisation_ref: Annotated[str, Form()] = "",
        applied_for: Annotated[str, Form()] = "",
    ) -> Response:
        """An application checked at once, uploaded as a file or entered in the form, with the
        signed authorisation: a township office for its own township, the data team for any; a
        county office reads and releases. A check outside the office's duty is held."""
        check_csrf(request, csrf_token)
        account = user(request)
        if account.role not in ("township", "admin"):
            raise NotFound()
        filename = (file.filename if file else "") or ""
        data = await file.read(settings.upload_max_bytes + 1) if file else b""
        signed = None
        if authorisation is not None and (authorisation.filename or authorisation.size):
            signed = (
                authorisation.filename or "",
                await authorisation.read(settings.authorisation_max_bytes + 1),
            )
        entered = None
        if not data and not filename:  # entered in the form
            form = await request.form()
            members = {c: [str(v) for v in form.getlist(c)] for c in applications.FORM_COLUMNS}
            filename = applications.FORM_FILE
            data = applications.form_csv(members, authorisation_ref, applied_for)
            rows = [
                {c: (members[c][i] if i < len(members[c]) else "") for c in applications.FORM_COLUMNS}
                for i in range(applications.FORM_ROWS)
            ]
            entered = {"authorisation_ref": authorisation_ref, "applied_for": applied_for, "rows": rows}
        try:
            checked = await run_in_threadpool(
                applications.submit,
                home,
                filename,
                data,
                _rules(),
                _fonts(),
                account.username,
                account.role,
                "" if account.role == "admin" else account.area,
                address(request),
                None,
                settings,
                signed,
            )
        except applications.ApplicationRefused as exc:  # the form comes back as it was filled in
            return applications_page(request, account, status=400, error=exc.problems, entered=entered)
        logged_check(request, account, "application", checked)
        return RedirectResponse(f"/applications/{checked.application_id}", status_code=303)

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

    @app.post("/applications/{application_id}/release", response_class=HTMLResponse)
    def application_release(
        request: Request, application_id: str, csrf_token: Annotated[str | None, Form()] = None
    ) -> Response:
        """A held check released by the county office of its township, checked at once (in the
        thread pool: a check reads the lake and draws a PDF). A second click, or a release that
        another came before, goes to the first one's answer."""
        check_csrf(request, csrf_token)
        account = user(request)
        entry = application_of(account, application_id)
        result = RedirectResponse(f"/applications/{application_id}", status_code=303)
        if account.role != "county":
            raise NotFound()
        if entry.get("released_by"):
            return result
        if entry["status"] != "held":
            raise NotFound()
        try:
            checked = applications.release(
                *(home, application_id, _rules(), _fonts(), account.username, account.role, account.area),
                address(request),
                None,
                settings,
            )
        except applications.AlreadyReleased:
            return result
        except applications.ApplicationRefused as exc:
            log(request, "release", account, result="refused", detail=f"{application_id}: {exc}"[:2000])
            return applications_page(request, account, status=400, error=exc.problems)
        logged_check(request, account, "release", checked)
        return result

    def application_of(account: Account, application_id: str) -> dict:
        """The latest line of an application the account may see (checked, held, or refused on its
        release), else 404."""
        entry = applications.find(home, application_id)
        if entry is None or entry["status"] not in ("checked", "held", "refused"):
            raise NotFound()
        if not account.may_see(entry["township_code"] or "-"):
            raise NotFound()
        return entry

    @app.get("/applications/{application_id}", response_class=HTMLResponse)
    def application_result(request: Request, application_id: str) -> Response:
        account = user(request)
        entry = application_of(account, application_id)
        held = entry["status"] == "held"
        if held and account.role == "township":  # why it is held is the county's to read
            entry = entry | {"held_reason": None}
        refused = entry["status"] == "refused"  # on its release: the detail is masked when logged
        return page(
            request,
            "application.html",
            account,
            e=entry,
            held=held,
            refused=refused,
            may_release=held and account.role == "county",
            report=None if held or refused else applications.sections_of(home, entry),
            name=names().get(entry["township_code"], entry["township_code"]),
        )

    @app.get("/applications/{application_id}/report.pdf")
    def application_report(request: Request, application_id: str) -> Response:
        account = user(request)
        entry = application_of(account, application_id)
        if entry["status"] != "checked":
            raise NotFound()
        path = home / "lake" / entry["report_file"]
        data = path.read_bytes()
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

    @app.get("/status", response_class=HTMLResponse)
    def status(request: Request) -> Response:
        account = user(request)
        if account.role != "admin":
            raise NotFound()
        return page(
            request, "status.html", account, rows=upload_status(library, landing), months=library.months()
        )

    return app


@lru_cache(maxsize=1)
def _fonts() -> FontChain:
    """The font chain, read once per portal process (0.4 s) for the documents drawn on demand."""
    return FontChain(find_font())


@lru_cache(maxsize=1)
def _rules():
    return load_rules()


@lru_cache(maxsize=4)
def _reports(month: str, build: str, names: tuple) -> Reports:
    return Reports(_rules(), month, build, dict(names))


@lru_cache(maxsize=64)
def _division_names(root: Path, commit: str, month: str) -> tuple:
    return tuple(sorted(division_names(Home(root), month).items()))


@lru_cache(maxsize=512)
def portrait_of(root: Path, commit: str, month: str, township: str, household: str) -> dict | None:
    """A listed lead's portrait as of a commit (a commit never changes), as the export gathers it."""
    return portraits.portrait(Home(root), month, township, household, _rules().dimensions)


def draw_now(h: Home, kind: str, month: str, township: str, household: str) -> tuple[str, bytes] | None:
    """A portrait or economic-status report drawn now, with the code and names the export uses, so
    it has the bytes the export would have written; (path in the township folder, bytes)."""
    build = h.build_dir(month).name.removeprefix("build=")
    names = _division_names(h.root, str(h.commit), month)
    if kind == "portrait":
        return portraits.draw(h, month, township, household, _rules().dimensions, dict(names), _fonts())
    rows = report_rows(h, month, {household}).get(township, [])
    row = next((r for r in rows if r["household_id"] == household and r.get("draw", True)), None)
    if row is None:
        return None
    head = row["members"][0]["name"] if row["members"] else None
    name = portraits.file_name(household, head, REPORT_DIR)
    return name, _reports(month, build, names).household(row)


RADAR = (320, 250, 150, 122, 86)  # the portal's radar chart: width, height, centre x, centre y, radius


def radar_svg(dims: list[dict]) -> dict:
    """The inline SVG radar chart's shapes: rings, spokes, the household's and the township median's
    polygons, and the labels (the same geometry as the PDF's, jobs/export/portraits.radar)."""
    _, _, cx, cy, r = RADAR
    n = len(dims)

    def path(values) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in portraits.radar(values, cx, cy, r))

    labels = [
        {"x": round(x, 1), "y": round(y + 4, 1), "text": d["label"], "score": portraits.points(d["score"])}
        for d, (x, y) in zip(dims, portraits.radar([1.22] * n, cx, cy, r), strict=True)
    ]
    return {
        "size": RADAR[:2],
        "rings": [path([ring] * n) for ring in (0.25, 0.5, 0.75, 1.0)],
        "spokes": [(round(x, 1), round(y, 1)) for x, y in portraits.radar([1.0] * n, cx, cy, r)],
        "centre": (cx, cy),
        "household": path(portraits.shares(dims, "score")),
        "median": path(portraits.shares(dims, "median")),
        "labels": labels,
    }


def attachment(filename: str) -> str:
    """Content-Disposition for a Chinese file name (RFC 6266/5987, as old and new browsers read it)."""
    return f"attachment; filename*=utf-8''{quote(filename)}"


PORTRAITS = portraits.PORTRAIT_DIR + "/"


@lru_cache(maxsize=4096)
def files_table(path: Path, month: str, township: str) -> Markup:
    """A folder's file tables (names, rows, bytes, SHA-256, links), rendered once per build folder:
    a build never changes, and 100 escaped, quoted links per page were most of a page's cost."""
    folder = Library.folder_at(path, month, township)
    return Markup(
        TEMPLATES.get_template("files_table.html").render(
            folder=folder,
            lists=[f for f in folder.files if "/" not in f["file"]],
            reports=[f for f in folder.files if "/" in f["file"] and not f["file"].startswith(PORTRAITS)],
            portraits=[f for f in folder.files if f["file"].startswith(PORTRAITS)],
        )
    )


@lru_cache(maxsize=256)
def overview_html(root: Path, commit: str, month: str, area: str, names: tuple) -> Markup:
    """An area's overview as of a commit, rendered once (a commit never changes)."""
    from jobs.export import overview
    from jobs.publish.sealed import connect

    with connect(root) as con:
        data = overview.gather(con, month, area, _rules())
    return Markup(overview.render(data, dict(names), _rules(), standalone=False))


def open_cases(home: Home, landing: Path | None, township: str, today: dt.date) -> pl.DataFrame:
    """Every case issued to a township, its latest issue, and its state: 已回传 (an outcome read by a
    run), 已上传待入库 (uploaded, read by the next run), 已逾期 (past its deadline) or 待核查."""
    months = sorted(home.catalog)
    issued = [p for m in months for p in home.files("_issued", m, prefecture_of(township))]
    schema = {
        "id": pl.String,
        "kind": pl.String,
        "household_id": pl.String,
        "first_month": pl.String,
        "month": pl.String,
        "visit_by": pl.Date,
        "head_name": pl.String,
        "state": pl.String,
        "outcome": pl.String,
        "visited_on": pl.String,
    }
    if not issued:
        return pl.DataFrame(schema=schema)
    cases = (
        pl.scan_parquet(issued)
        .filter(pl.col("township_code") == township)
        .sort("month")
        .group_by("id")
        .agg(
            pl.col("kind", "household_id").last(),
            first_month=pl.col("month").first(),
            month=pl.col("month").last(),
            visit_by=pl.col("visit_by").last(),
        )
        .collect()
    )
    done = [p for m in months for p in home.files("outcomes", m)]
    returned = (
        pl.scan_parquet(done)
        .select("lead_id", "outcome", pl.col("visited_on").cast(pl.String))
        .sort("visited_on")
        .group_by("lead_id")
        .last()
        .collect()
        if done
        else pl.DataFrame(schema={"lead_id": pl.String, "outcome": pl.String, "visited_on": pl.String})
    )
    waiting = uploads.pending(home, landing, township).select("lead_id", "outcome", "visited_on")
    roster = home.scan("roster", months[-1], area=prefecture_of(township))
    heads = (
        roster.filter(pl.col("household_id").is_in(cases["household_id"].implode()))
        .sort("household_id", pl.col("relation") != "户主")
        .group_by("household_id")
        .agg(head_name=pl.col("name").first())
        .collect()
        if roster is not None
        else pl.DataFrame(schema={"household_id": pl.String, "head_name": pl.String})
    )
    out = (
        cases.join(heads, on="household_id", how="left")
        .join(
            waiting.rename({"outcome": "w_outcome", "visited_on": "w_visited"}),
            left_on="id",
            right_on="lead_id",
            how="left",
        )
        .join(returned, left_on="id", right_on="lead_id", how="left")
        .with_columns(
            state=pl.when(pl.col("w_outcome").is_not_null())
            .then(pl.lit("已上传待入库"))
            .when(pl.col("outcome").is_not_null())
            .then(pl.lit("已回传"))
            .when(pl.col("visit_by") < today)
            .then(pl.lit("已逾期"))
            .otherwise(pl.lit("待核查")),
            outcome=pl.coalesce("w_outcome", "outcome"),
            visited_on=pl.coalesce("w_visited", "visited_on"),
        )
        .sort("visit_by", "id")
    )
    return out.select(list(schema))


def upload_status(library: Library, landing: Path | None) -> list[dict]:
    """Per township with files in the latest month: uploads, last upload, rows waiting for the run."""
    months = library.months()
    if not months:
        return []
    townships = library.townships(months[0])
    entries = [e for e in audit.read(library.root) if e["action"] == "upload"]
    by_township: dict[str, list[dict]] = {}
    for e in entries:
        by_township.setdefault(e.get("township_code") or "", []).append(e)
    waiting: dict[str, int] = {}
    for path in uploads.unread_parts(library.home(), landing):
        t = path.stem.removeprefix("outcomes.part-")
        waiting[t] = waiting.get(t, 0) + pl.scan_csv(path).select(pl.len()).collect().item()
    names = library.names()
    rows = []
    for t in townships:
        mine = by_township.get(t, [])
        ok = [e for e in mine if e.get("result") == "ok"]
        rows.append(
            {
                "township": t,
                "name": names.get(t, ""),
                "uploads": len(ok),
                "refused": len(mine) - len(ok),
                "last": max((e["at"] for e in ok), default=None),
                "waiting": waiting.get(t, 0),
            }
        )
    return rows
