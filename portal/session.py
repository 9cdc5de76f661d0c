"""Who is asking: the dependencies every route stands on. `signed_in` is the account of a valid
session (else to the sign-in page), `csrf_checked` the form's token against the session's (else
403), `my_township`, `my_folder` and `role_in` what the account may see (else 404, the same answer
as a page that does not exist).

The dependencies are `async`: they run on the event loop as the routes' own checks did (a session
and a cached manifest are read in a millisecond), not one thread hop each."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Form, Request
from starlette.exceptions import HTTPException as StarletteHTTPException

from portal.accounts import Account
from portal.files import TOWNSHIP, Folder
from portal.pages import NotFound, log

SESSION_COOKIE = "safetynet_session"


class SignIn(Exception):
    """No valid session: go to the sign-in page."""


async def csrf_checked(request: Request, csrf_token: Annotated[str | None, Form()] = None) -> None:
    """Every POST's first dependency: the form carries the session's token."""
    expected = request.session.get("csrf")
    if not expected or not csrf_token or not hmac.compare_digest(expected, csrf_token):
        raise StarletteHTTPException(status_code=403, detail="csrf")


def _ended(request: Request, account: Account | None) -> bool:
    s, state = request.session, request.app.state
    return (
        account is None
        or account.disabled
        or s.get("e") != account.epoch
        or time.time() - s.get("t", 0) > state.settings.session_hours * 3600
        or not state.accounts.session_open(s.get("sid", ""), account.username)
    )


def user(request: Request, quiet: bool = False) -> Account:
    """The signed-in account, or SignIn. A cookie that fails its signature or has expired, or a
    session that was ended (sign-out, disabled, reset, too old), is logged as refused."""
    s = request.session
    account = request.app.state.accounts.get(s.get("u", "")) if s.get("u") else None
    if _ended(request, account):
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


async def signed_in(request: Request) -> Account:
    """The dependency of every route but sign-in's: the account, or the sign-in page."""
    return user(request)


def account_or_none(request: Request) -> Account | None:
    try:
        return user(request, quiet=True)
    except SignIn:
        return None


def start_session(request: Request, account: Account) -> None:
    request.session.clear()
    request.session.update(
        {
            "u": account.username,
            "e": account.epoch,
            "t": int(time.time()),
            "sid": request.app.state.accounts.open_session(account.username),
            "csrf": secrets.token_urlsafe(24),
        }
    )


SignedIn = Annotated[Account, Depends(signed_in)]
CSRF = Depends(csrf_checked)


def mine(request: Request, account: Account, township: str) -> str:
    """The township, if the account may see it and it has files in some published month."""
    library = request.app.state.library
    if not TOWNSHIP.fullmatch(township) or not account.may_see(township):
        raise NotFound()
    if not any(library.folder(m, township) for m in library.months()):
        raise NotFound()
    return township


async def my_township(request: Request, account: SignedIn, township: str) -> str:
    return mine(request, account, township)


MyTownship = Annotated[str, Depends(my_township)]


def folder_of(request: Request, month: str, township: str) -> Folder | None:
    return request.app.state.library.folder(month, township)


async def my_folder(request: Request, month: str, township: MyTownship) -> Folder:
    """The account's township's folder of a month, else 404."""
    folder = folder_of(request, month, township)
    if folder is None:
        raise NotFound()
    return folder


MyFolder = Annotated[Folder, Depends(my_folder)]


async def uploader(account: SignedIn, township: MyTownship) -> str:
    """A township the account may return outcomes for (a township office's own)."""
    if not account.may_upload:
        raise NotFound()
    return township


def role_in(*roles: str) -> Callable[[Account], Awaitable[Account]]:
    """A dependency: the signed-in account if its role is one of `roles`, else 404."""

    async def allowed(account: SignedIn) -> Account:
        if account.role not in roles:
            raise NotFound()
        return account

    return allowed
