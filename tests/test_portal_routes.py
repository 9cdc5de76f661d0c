"""The portal's routes stand on their dependencies: every route but sign-in's on the signed-in
account, every POST first on the CSRF check (a forged form is refused before anything else is read);
and the dependencies themselves, on tiny in-process inputs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from portal.accounts import Account
from portal.app import create_app
from portal.guard import post_limit
from portal.session import (
    CSRF,
    MyFolder,
    MyTownship,
    SignedIn,
    csrf_checked,
    mine,
    role_in,
    signed_in,
    uploader,
)
from safetynet.rules import load_portal

# open without a session: the sign-in page, its form, sign-out (an ended session may sign out)
PUBLIC = {("GET", "/favicon.ico"), ("GET", "/login"), ("POST", "/login"), ("POST", "/logout")}


def calls(dependant) -> set:
    """Every function a route's dependency tree calls."""
    return {d.call for d in dependant.dependencies} | {c for d in dependant.dependencies for c in calls(d)}


def unguarded(routes, public=PUBLIC) -> list[str]:
    """The routes that forget a dependency: the account (all but `public`), the CSRF check as the
    first dependency of a POST."""
    problems = []
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        for method in route.methods:
            if (method, route.path) not in public and signed_in not in calls(route.dependant):
                problems.append(f"{method} {route.path}: no signed-in account")
            first = route.dependant.dependencies[:1]
            if method == "POST" and not (first and first[0].call is csrf_checked):
                problems.append(f"{method} {route.path}: the CSRF check is not its first dependency")
    return problems


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> FastAPI:
    return create_app(tmp_path_factory.mktemp("home"))


def test_every_route_of_the_portal_stands_on_the_account_and_every_post_on_the_csrf_check(app):
    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    assert len(routes) == 34  # tell this test when a route is added or removed
    assert unguarded(routes) == []
    assert {(m, r.path) for r in routes for m in r.methods} >= PUBLIC  # no public route went missing


def _forgot_account() -> APIRouter:
    router = APIRouter()

    @router.get("/files/{month}/{township}")
    def files(month: str, township: str) -> None: ...

    return router


def _forgot_csrf() -> APIRouter:
    router = APIRouter()

    @router.post("/upload/{township}")
    def upload(account: SignedIn, township: MyTownship) -> None: ...

    return router


def _csrf_after_the_account() -> APIRouter:
    router = APIRouter()

    @router.post("/draw/{month}/{township}")
    def draw(account: SignedIn, folder: MyFolder, checked: Annotated[None, CSRF]) -> None: ...

    return router


def _both() -> APIRouter:
    router = APIRouter()

    @router.post("/applications/{application_id}/release", dependencies=[CSRF])
    def release(account: Annotated[Account, Depends(role_in("county"))], application_id: str) -> None: ...

    return router


@pytest.mark.parametrize(
    ("router", "expected"),
    [
        (_forgot_account, ["GET /files/{month}/{township}: no signed-in account"]),
        (_forgot_csrf, ["POST /upload/{township}: the CSRF check is not its first dependency"]),
        (
            _csrf_after_the_account,
            ["POST /draw/{month}/{township}: the CSRF check is not its first dependency"],
        ),
        (_both, []),
    ],
)
def test_a_route_that_forgets_a_dependency_is_found(router, expected):
    app = FastAPI()
    app.include_router(router())
    assert unguarded(app.routes) == expected


def _form(session: dict) -> SimpleNamespace:
    return SimpleNamespace(session=session)


@pytest.mark.parametrize(
    ("session", "token", "refused"),
    [
        ({"csrf": "abc"}, "abc", False),
        ({"csrf": "abc"}, "abd", True),
        ({"csrf": "abc"}, None, True),
        ({"csrf": "abc"}, "", True),
        ({}, "abc", True),  # no page was ever shown to this browser
        ({"csrf": ""}, "", True),
    ],
)
def test_the_csrf_check_refuses_a_missing_or_wrong_token_with_403(session, token, refused):
    if refused:
        with pytest.raises(StarletteHTTPException) as caught:
            asyncio.run(csrf_checked(_form(session), token))
        assert caught.value.status_code == 403
    else:
        assert asyncio.run(csrf_checked(_form(session), token)) is None


def _account(role: str, area: str) -> Account:
    return Account(role, role, area, False, 0, "2026-01-01")


@pytest.mark.parametrize(
    ("roles", "role", "allowed"),
    [
        (("admin",), "admin", True),
        (("admin",), "county", False),
        (("township", "admin"), "township", True),
        (("township", "admin"), "county", False),
        (("county",), "county", True),
        (("county",), "township", False),
    ],
)
def test_a_role_dependency_answers_404_to_another_role(roles, role, allowed):
    account = _account(role, "" if role == "admin" else "130102")
    if allowed:
        assert asyncio.run(role_in(*roles)(account)) is account
    else:
        with pytest.raises(StarletteHTTPException) as caught:
            asyncio.run(role_in(*roles)(account))
        assert caught.value.status_code == 404


@pytest.mark.parametrize(("role", "allowed"), [("township", True), ("county", False), ("admin", False)])
def test_only_a_township_office_uploads(role, allowed):
    account = _account(role, "130102001")
    if allowed:
        assert asyncio.run(uploader(account, "130102001")) == "130102001"
    else:
        with pytest.raises(StarletteHTTPException):
            asyncio.run(uploader(account, "130102001"))


class _Library:
    """Published folders: month -> townships."""

    def __init__(self, published: dict[str, list[str]]) -> None:
        self.published = published

    def months(self) -> list[str]:
        return sorted(self.published, reverse=True)

    def folder(self, month: str, township: str):
        return Path(month, township) if township in self.published.get(month, []) else None


@pytest.mark.parametrize(
    ("role", "area", "township", "allowed"),
    [
        ("township", "130102001", "130102001", True),
        ("township", "130102001", "130102002", False),  # another township's
        ("county", "130102", "130102002", True),
        ("county", "130102", "130103001", False),  # another county's
        ("admin", "", "130103001", True),
        ("admin", "", "130103009", False),  # no files in any month
        ("admin", "", "13010300", False),  # malformed
        ("admin", "", "../../etc", False),
    ],
)
def test_a_township_is_the_account_s_and_has_files_or_it_is_not_found(role, area, township, allowed):
    library = _Library({"2026-08": ["130102001", "130102002"], "2026-09": ["130103001"]})
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(library=library)))
    account = _account(role, area)
    if allowed:
        assert mine(request, account, township) == township
    else:
        with pytest.raises(StarletteHTTPException) as caught:
            mine(request, account, township)
        assert caught.value.status_code == 404


@pytest.mark.parametrize(
    ("path", "extra"), [("/upload/130102001", 0), ("/applications", "authorisation"), ("/login", 0)]
)
def test_a_post_s_largest_body_is_the_upload_limit_and_an_application_s_its_authorisation_too(path, extra):
    settings = load_portal()
    signed = settings.authorisation_max_bytes if extra else 0
    assert post_limit(settings)(path) == settings.upload_max_bytes + signed + 65536
