"""Signing in and out, and changing one's own password. The only routes open without a session."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from portal.accounts import WeakPassword, escaped
from portal.pages import address, log, page
from portal.session import CSRF, SignedIn, SignIn, start_session, user

router = APIRouter()
SAME_ANSWER = "用户名或密码错误，或该账户在本机已被暂时锁定。请稍后再试或联系县民政局数据组。"


@router.get("/favicon.ico")
async def favicon() -> Response:
    return Response(status_code=204)  # browsers ask for it on every page; not worth a 404 line


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    return page(request, "login.html", None, message=None)


@router.post("/login", response_class=HTMLResponse, dependencies=[CSRF])
def login(
    request: Request, username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = ""
) -> Response:
    accounts = request.app.state.accounts
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


@router.get("/password", response_class=HTMLResponse)
def password_form(request: Request, account: SignedIn) -> Response:  # reads the accounts' database
    return page(request, "password.html", account, message=None, done=False)


@router.post("/password", response_class=HTMLResponse, dependencies=[CSRF])
def change_password(
    request: Request,
    account: SignedIn,
    old: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    again: Annotated[str, Form()] = "",
) -> Response:
    """One's own new password: the old one is checked as a sign-in is, the new one by the policy;
    every other session of the account ends, this one goes on."""
    if new != again:
        return page(
            request, "password.html", account, status=400, message="两次输入的新密码不一致", done=False
        )
    try:
        changed = request.app.state.accounts.change_password(account.username, old, new, address(request))
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


@router.post("/logout", dependencies=[CSRF])
async def logout(request: Request) -> Response:
    """Open without a session too: an ended one is logged as refused and the browser goes on to sign-in."""
    try:
        account = user(request)
        request.app.state.accounts.close_session(request.session["sid"])
        log(request, "sign_out", account, result="ok")
    except SignIn:
        pass
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
