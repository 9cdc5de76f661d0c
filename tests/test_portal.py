"""The township portal, in process (FastAPI's test client over a home built by the real jobs).

Every access path is tried by a stranger, another township and a county; every bad upload of the
issue gets its Chinese message; accepted rows land in next month's `outcomes` part, the next run
reads them and auditors trace each to its upload. The browser test is tests/test_portal_browser.py.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import hashlib
import html
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import anyio
import httpx
import polars as pl
import pytest
import uvicorn
import xlsxwriter
from fastapi.testclient import TestClient
from python_calamine import CalamineWorkbook
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from jobs.applications import checks as applications
from jobs.export.returnable import NARROW, PAGE_WIDTH
from jobs.publish.sealed import connect
from portal import audit, uploads
from portal.accounts import AccountError, Accounts
from portal.app import create_app
from safetynet.ids import check_character
from safetynet.lake import Home
from safetynet.rules import load_case_rules, load_portal, load_rules
from safetynet.versions import RULES_DIR
from tests.direct import run
from tests.workbooks import (
    FAR_ROW,
    HOSTILE_PARTS,
    far_column_rows,
    filled,
    hostile,
    september_open,
    sheet,
    sheet_size,
)

PASSWORD = "correct horse 1"
TODAY = dt.date(2026, 9, 20)


@pytest.fixture(scope="module")
def site(landing, tmp_path_factory):
    """August published; a landing of our own (uploads write into it); accounts for two townships of
    one county, the county, another county's township and the data team."""
    root = tmp_path_factory.mktemp("portal")
    land = september_open(landing, root)
    home = root / "home"
    run("2026-08", str(land), str(home), "portal-08")
    folders = sorted(p.parent for p in (home / "exports" / "2026-08").glob("*/*/manifest.json"))
    by_rows = sorted(
        folders,
        key=lambda f: (
            -next(
                (
                    x.get("rows", 0)
                    for x in json.loads((f / "manifest.json").read_text())["files"]
                    if x["file"] == "线索清单.xlsx"
                ),
                0,
            )
        ),
    )
    mine = by_rows[0].name
    county = mine[:6]
    neighbour = next(f.name for f in folders if f.name[:6] == county and f.name != mine)
    elsewhere = next((f.name for f in folders if f.name[:6] != county), None)
    accounts = Accounts(home, load_portal())
    accounts.add("town", "township", mine, PASSWORD)
    accounts.add("neighbour", "township", neighbour, PASSWORD)
    accounts.add("county", "county", county, PASSWORD)
    accounts.add("admin", "admin", "", PASSWORD)
    return {
        "home": home,
        "landing": land,
        "mine": mine,
        "neighbour": neighbour,
        "county": county,
        "elsewhere": elsewhere,
    }


def client(site, address: str = "10.0.0.1", **kw) -> TestClient:
    app = create_app(site["home"], site["landing"], today=lambda: TODAY, **kw)
    return TestClient(app, client=(address, 40000), follow_redirects=False)


def token(c: TestClient, path: str = "/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', c.get(path).text).group(1)


def sign_in(c: TestClient, username: str, password: str = PASSWORD):
    return c.post("/login", data={"username": username, "password": password, "csrf_token": token(c)})


def signed_in(site, username: str, address: str = "10.0.0.1") -> TestClient:
    c = client(site, address)
    assert sign_in(c, username).status_code == 303
    return c


def manifest(site, township: str, month: str = "2026-08") -> dict:
    path = site["home"] / "exports" / month / township[:6] / township / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8"))


# --- sign-in -------------------------------------------------------------------------------------


def test_every_page_asks_a_stranger_to_sign_in(site):
    c = client(site)
    t = site["mine"]
    for path in (
        "/",
        f"/files/2026-08/{t}",
        f"/download/2026-08/{t}/线索清单.xlsx",
        f"/zip/2026-08/{t}",
        f"/worklist/{t}",
        f"/upload/{t}",
        "/status",
        "/applications",
        "/applications/template.xlsx",
    ):
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    form = c.get("/login")
    assert form.status_code == 200 and 'name="username"' in form.text and 'name="password"' in form.text
    assert "<script" not in form.text and "http://" not in form.text.replace("http://testserver", "")


def test_session_cookie_is_signed_httponly_samesite_and_expires(site):
    c = client(site)
    r = sign_in(c, "town")
    cookie = r.headers["set-cookie"]
    assert (
        "httponly" in cookie.lower() and "samesite=strict" in cookie.lower() and "max-age=" in cookie.lower()
    )
    assert c.get("/").status_code == 200
    forged = client(site)
    value = cookie.split(";")[0].split("=", 1)[1]
    forged.cookies.set("safetynet_session", value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert forged.get("/").headers["location"] == "/login"
    assert audit.read(site["home"])[-1]["action"] == "session_refused"
    # an expired session: signed longer ago than the session lifetime (the server checks the time
    # it signed in, whatever the browser does with the cookie's Max-Age)
    short = client(site, settings=load_portal().__class__(**{**vars(load_portal()), "session_hours": 1e-6}))
    short.cookies.set("safetynet_session", value)
    assert short.get("/").headers["location"] == "/login"


def test_a_page_not_found_before_signing_in_keeps_the_sign_in_form_valid(site):
    """Browsers fetch /favicon.ico and the like between showing a form and posting it."""
    c = client(site)
    form_token = token(c)
    assert c.get("/nowhere").status_code == 404 and c.get("/favicon.ico").status_code == 204
    r = c.post("/login", data={"username": "town", "password": PASSWORD, "csrf_token": form_token})
    assert r.status_code == 303


def test_a_form_without_its_csrf_token_is_refused_and_logged(site):
    c = client(site, "10.9.9.9")
    r = c.post("/login", data={"username": "town", "password": PASSWORD})
    assert r.status_code == 403 and "校验码" in r.text
    c = signed_in(site, "town")
    r = c.post(f"/upload/{site['mine']}", files={"file": ("a.csv", b"x")})
    assert r.status_code == 403
    r = c.post("/logout", data={"csrf_token": "forged"})
    assert r.status_code == 403
    assert any(
        e["action"] == "refused" and e["client_address"] == "10.9.9.9" for e in audit.read(site["home"])
    )


def test_unknown_user_wrong_password_and_locked_account_get_the_same_answer(site):
    accounts = Accounts(site["home"], load_portal())
    accounts.add("locky", "township", site["mine"], PASSWORD)
    c = client(site, "10.1.1.1")
    answers = [sign_in(c, "nobody-here", "whatever-pass"), sign_in(c, "locky", "wrong-password")]
    for _ in range(4):
        answers.append(sign_in(c, "locky", "wrong-password"))
    sixth = sign_in(c, "locky", PASSWORD)  # the right password, after 5 failures from this address
    answers.append(sixth)
    assert {(a.status_code, re.search(r'id="message">([^<]+)', a.text).group(1)) for a in answers} == {
        (401, answers[0].text and re.search(r'id="message">([^<]+)', answers[0].text).group(1))
    }
    assert accounts.locked("locky", "10.1.1.1")
    # another address is not locked out by what a stranger did elsewhere
    assert sign_in(client(site, "10.1.1.2"), "locky").status_code == 303
    # a reset lifts the lock
    accounts.reset("locky", PASSWORD + "x")
    assert sign_in(client(site, "10.1.1.1"), "locky", PASSWORD + "x").status_code == 303
    failed = [
        e
        for e in audit.read(site["home"])
        if e["action"] == "sign_in_failed" and e["client_address"] == "10.1.1.1"
    ]
    assert len(failed) >= 7


def test_the_lock_starts_at_the_fifth_failure_and_ends_after_its_minutes(site):
    settings = load_portal()
    accounts = Accounts(site["home"], settings)
    accounts.add("fourtimes", "township", site["mine"], PASSWORD)
    c = client(site, "10.2.2.2")
    for _ in range(settings.lockout_failures - 1):
        assert sign_in(c, "fourtimes", "wrong-password").status_code == 401
    assert sign_in(c, "fourtimes").status_code == 303  # four failures: not locked, and the count resets
    for _ in range(settings.lockout_failures):
        sign_in(c, "fourtimes", "wrong-password")
    assert sign_in(c, "fourtimes").status_code == 401
    brief = Accounts(site["home"], settings.__class__(**{**vars(settings), "lockout_minutes": 0.002}))
    import time

    time.sleep(0.2)
    assert brief.sign_in("fourtimes", PASSWORD, "10.2.2.2") is not None


def test_the_sign_in_page_states_the_lock_that_rules_set(site):
    """The page read "5 次 … 15 分钟" from its template whatever rules/portal/portal.yaml said."""
    settings = load_portal().__class__(
        **{**vars(load_portal()), "lockout_failures": 7, "lockout_minutes": 30}
    )
    page = client(site, settings=settings).get("/login").text
    assert "连续输错 7 次，本机将暂停该账户登录 30 分钟" in page


def test_concurrent_guesses_cannot_pass_the_limit(site):
    from concurrent.futures import ThreadPoolExecutor

    settings = load_portal()
    accounts = Accounts(site["home"], settings)
    accounts.add("burst", "township", site["mine"], PASSWORD)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: accounts.sign_in("burst", "wrong-password", "10.3.3.3"), range(16)))
    assert accounts.sign_in("burst", PASSWORD, "10.3.3.3") is None


def test_signing_out_ends_the_session_on_the_server(site):
    c = signed_in(site, "town")
    copied = c.cookies.get("safetynet_session")
    assert c.post("/logout", data={"csrf_token": token(c, "/")}).headers["location"] == "/login"
    thief = client(site)
    thief.cookies.set("safetynet_session", copied)
    assert thief.get("/").headers["location"] == "/login"


def test_every_answer_forbids_scripts_framing_and_sniffing(site):
    c = signed_in(site, "town")
    for path in ("/login", "/", f"/files/2026-08/{site['mine']}", "/nowhere"):
        h = c.get(path).headers
        assert (
            "script-src 'none'" in h["content-security-policy"]
            and "frame-ancestors 'none'" in h["content-security-policy"]
        )
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "same-origin"


def test_disabling_an_account_ends_its_session(site):
    accounts = Accounts(site["home"], load_portal())
    accounts.add("leaver", "county", site["county"], PASSWORD)
    c = signed_in(site, "leaver")
    assert c.get("/").status_code == 200
    accounts.disable("leaver")
    assert c.get("/").headers["location"] == "/login"
    assert sign_in(client(site), "leaver").status_code == 401


def test_rotating_addresses_cannot_guess_one_account_without_limit_and_the_data_team_is_told(site):
    """Behind `--forwarded-allow-ips` the address is whatever X-Forwarded-For says: guesses from a
    new address each time still lock the account, for every address, and raise one alert."""
    from safetynet import alerts

    settings = load_portal()
    accounts = Accounts(site["home"], settings)
    accounts.add("rotated", "township", site["mine"], PASSWORD)
    app = create_app(site["home"], site["landing"], today=lambda: TODAY)
    proxied = ProxyHeadersMiddleware(app, trusted_hosts="10.9.0.1")
    c = TestClient(proxied, client=("10.9.0.1", 40000), follow_redirects=False)
    for i in range(settings.lockout_account_failures):
        form = {"username": "rotated", "password": f"guess number {i}", "csrf_token": token(c)}
        assert c.post("/login", data=form, headers={"X-Forwarded-For": f"203.0.{i}.9"}).status_code == 401
    right = {"username": "rotated", "password": PASSWORD, "csrf_token": token(c)}
    assert c.post("/login", data=right, headers={"X-Forwarded-For": "203.1.0.9"}).status_code == 401
    assert accounts.sign_in("rotated", PASSWORD, "10.77.0.1") is None  # locked wherever one comes from
    told = [
        a for a in alerts.read(site["home"]) if a["kind"] == "portal_lockout" and a["account"] == "rotated"
    ]
    assert len(told) == 1 and "rotated" in told[0]["subject"]
    failed = [
        e for e in audit.read(site["home"]) if e["account"] == "rotated" and e["action"] == "sign_in_failed"
    ]
    assert {e["client_address"] for e in failed} >= {"203.0.0.9", "203.1.0.9"} and failed[-1][
        "result"
    ] == "locked"
    accounts.reset("rotated", PASSWORD + "x")  # the data team lifts it
    assert accounts.sign_in("rotated", PASSWORD + "x", "10.77.0.1") is not None


def test_one_address_cannot_guess_across_accounts_without_limit(site):
    from safetynet import alerts

    settings = load_portal()
    accounts = Accounts(site["home"], settings)
    accounts.add("sprayed", "township", site["mine"], PASSWORD)
    for i in range(settings.lockout_address_accounts):
        assert accounts.sign_in(f"someone-{i}", "Spring2026!", "10.88.0.1") is None
    assert accounts.sign_in("sprayed", PASSWORD, "10.88.0.1") is None
    assert accounts.sign_in("sprayed", PASSWORD, "10.88.0.2") is not None  # other addresses go on
    assert any(
        a["kind"] == "portal_lockout" and a["address"] == "10.88.0.1" for a in alerts.read(site["home"])
    )


def test_an_office_behind_one_address_typing_its_own_accounts_wrong_is_not_locked(tmp_path):
    """The address lock counted every failure: one office behind a NAT (or every office, behind a
    proxy whose X-Forwarded-For is not trusted) with 20 typos among its staff in 15 minutes was
    locked out whole. It counts the user names tried from the address: a guesser across accounts."""
    settings = load_portal()
    accounts = Accounts(tmp_path, settings)
    staff = [f"clerk{i}" for i in range(6)]
    for name in staff:
        accounts.add(name, "township", "430101001", PASSWORD)
    for _ in range(settings.lockout_failures - 1):  # 24 failures, each account below its own lock
        for name in staff:
            assert accounts.sign_in(name, "wrong-password", "10.66.0.1") is None
    assert accounts.sign_in(staff[0], PASSWORD, "10.66.0.1") is not None
    for i in range(settings.lockout_address_accounts):  # 20 names tried from one address: a guesser
        assert accounts.sign_in(f"guess-{i}", "wrong-password", "10.66.0.2") is None
    assert accounts.sign_in(staff[1], PASSWORD, "10.66.0.2") is None
    assert accounts.sign_in(staff[1], PASSWORD, "10.66.0.3") is not None


def test_a_lock_alert_escapes_the_name_typed_and_comes_once_per_window(tmp_path):
    """The name typed went raw into the alert's subject and `account` (a line break reaches
    SAFETYNET_ALERT_COMMAND, a mail header); a made-up name locked "for every address" raised an
    alert, and a sprayer raised one every 20 requests, each run in the sign-in thread."""
    from safetynet import alerts

    settings = load_portal()
    accounts = Accounts(tmp_path, settings)
    accounts.add("real", "township", "430101001", PASSWORD)
    for i in range(settings.lockout_account_failures + 5):  # rotating addresses
        accounts.sign_in("made-up", "wrong-password", f"10.44.{i}.1")
        accounts.sign_in("real", "wrong-password", f"10.44.{i}.1")
    for address in ("10.45.0.1", "10.45.0.2"):  # spraying made-up names, a line break in each
        for i in range(settings.lockout_address_accounts + 5):
            accounts.sign_in(f"x{i}\nBcc: all@county.example", "wrong-password", address)
    told = [a for a in alerts.read(tmp_path) if a["kind"] == "portal_lockout"]
    assert sorted(a["account"] for a in told) == ["real", "x19\\nBcc: all@county.example"], told
    assert all("\n" not in a["subject"] + a["account"] for a in told)
    assert "address 10.45.0.1 locked" in next(a["subject"] for a in told if a["account"] != "real")


@pytest.mark.parametrize(
    "password, why",
    [
        ("short pass1", "at least 12 characters"),
        ("password1234", "common or easy to guess"),
        ("qwertyuiop123", "common or easy to guess"),
        ("weakling-2026", "common or easy to guess"),  # the account's own name and a year
    ],
)
def test_a_short_common_or_guessable_password_is_refused_everywhere(site, tmp_path, password, why):
    from typer.testing import CliRunner

    from cli.main import app

    accounts = Accounts(site["home"], load_portal())
    with pytest.raises(AccountError, match=why):
        accounts.add("weakling", "township", site["mine"], password)
    (tmp_path / "h").mkdir()
    add = ["users", "add", "--home", str(tmp_path / "h"), "--username", "weakling", "--role", "admin"]
    refused = CliRunner().invoke(app, [*add, "--password", password])
    assert refused.exit_code == 2 and why in refused.output
    assert CliRunner().invoke(app, [*add, "--password", PASSWORD]).exit_code == 0
    reset = ["users", "reset", "--home", str(tmp_path / "h"), "--username", "weakling", "--password"]
    refused = CliRunner().invoke(app, [*reset, password])
    assert refused.exit_code == 2 and why in refused.output


def test_the_demo_accounts_passwords_pass_the_policy(site, capsys):
    from cli.main import _demo_accounts

    _demo_accounts(site["home"])
    printed = re.findall(r"^  (\S+)\s+(\S+)\s+(?:admin|county|township)", capsys.readouterr().out, re.M)
    assert len(printed) == 4
    accounts = Accounts(site["home"], load_portal())
    for username, password in printed:
        assert accounts.sign_in(username, password, "10.99.0.1") is not None, username


def test_each_user_changes_their_own_password(site):
    accounts = Accounts(site["home"], load_portal())
    accounts.add("changer", "township", site["mine"], PASSWORD)
    other = signed_in(site, "changer", "10.4.4.5")
    c = signed_in(site, "changer", "10.4.4.4")
    page = c.get("/password")
    assert page.status_code == 200 and 'name="old"' in page.text and 'name="new"' in page.text
    new = "river lantern 47 quiet"

    def change(old: str, new: str, again: str | None = None, csrf: str | None = "token"):
        form = {"old": old, "new": new, "again": again or new}
        if csrf:
            form["csrf_token"] = token(c, "/password")
        return c.post("/password", data=form)

    assert change(PASSWORD, new, csrf=None).status_code == 403
    wrong = change("not my password at all", new)
    assert wrong.status_code == 400 and "原密码错误" in wrong.text
    weak = change(PASSWORD, "password1234")
    assert weak.status_code == 400 and "容易被猜到" in weak.text
    assert change(PASSWORD, new, "river lantern 47 quite").status_code == 400
    done = change(PASSWORD, new)
    assert done.status_code == 200 and 'id="done"' in done.text
    assert c.get("/").status_code == 200  # this session goes on
    assert other.get("/").headers["location"] == "/login"  # every other ends
    assert sign_in(client(site, "10.4.4.6"), "changer").status_code == 401
    assert sign_in(client(site, "10.4.4.6"), "changer", new).status_code == 303
    changed = [e for e in audit.read(site["home"]) if e["action"] == "password_changed"]
    assert changed[-1]["account"] == "changer" and changed[-1]["client_address"] == "10.4.4.4"


def test_https_only_tells_browsers_to_come_back_by_https_only(site):
    days = load_portal().hsts_days
    secure = client(site, https_only=True).get("/login")
    assert secure.headers["strict-transport-security"] == f"max-age={days * 86400}"
    assert "strict-transport-security" not in client(site).get("/login").headers  # plain HTTP: no


def test_a_failed_sign_in_logs_the_name_tried_escaped_and_a_refused_form_the_account(site):
    c = client(site, "10.5.5.5")
    tried = "ghost\n2026-01-01 sign_in ok admin\x1b[31m" + "x" * 100
    assert sign_in(c, tried, "whatever-pass").status_code == 401
    entry = [e for e in audit.read(site["home"]) if e["client_address"] == "10.5.5.5"][-1]
    assert entry["action"] == "sign_in_failed" and entry["detail"] == "unknown account"
    assert entry["account"].startswith("ghost\\n2026-01-01 sign_in ok admin\\x1b[31m")
    assert "\n" not in entry["account"] and len(entry["account"]) <= 80
    town = signed_in(site, "town", "10.5.5.6")
    assert town.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    refused = [e for e in audit.read(site["home"]) if e["client_address"] == "10.5.5.6"][-1]
    assert refused["action"] == "refused" and refused["account"] == "town" and refused["role"] == "township"


# --- downloads ------------------------------------------------------------------------------------


def test_a_township_sees_and_takes_only_its_own_files(site):
    c = signed_in(site, "town")
    t, other = site["mine"], site["neighbour"]
    index = c.get("/").text
    assert t in index and other not in index
    page = c.get(f"/files/2026-08/{t}").text
    m = manifest(site, t)
    for f in m["files"]:  # a report or portrait drawn when asked for shows its input digest
        assert f.get("sha256", f.get("content_sha256")) in page
    r = c.get(f"/download/2026-08/{t}/线索清单.xlsx")
    assert r.status_code == 200
    entry = next(f for f in m["files"] if f["file"] == "线索清单.xlsx")
    assert hashlib.sha256(r.content).hexdigest() == entry["sha256"]
    report = next(f for f in m["files"] if "/" in f["file"])
    drawn = c.get(f"/download/2026-08/{t}/{report['file']}")
    assert drawn.status_code == 200
    z = c.get(f"/zip/2026-08/{t}")
    assert z.status_code == 200
    with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
        inside = {n.split("/", 1)[1]: hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist()}
    written = {f["file"]: f["sha256"] for f in m["files"] if "sha256" in f}
    assert written.items() <= inside.items() and {f["file"] for f in m["files"]} <= inside.keys()
    assert inside[report["file"]] == hashlib.sha256(drawn.content).hexdigest()
    assert z.content == c.get(f"/zip/2026-08/{t}").content  # the same build gives the same zip
    log = [e for e in audit.read(site["home"]) if e["action"] == "download" and e["account"] == "town"]
    assert {"sha256", "bytes", "client_address"} <= {k for e in log for k, v in e.items() if v}
    assert any(e["sha256"] == entry["sha256"] and e["bytes"] == entry["bytes"] for e in log)


@pytest.mark.parametrize(
    "path",
    [
        "/files/2026-08/{other}",
        "/download/2026-08/{other}/线索清单.xlsx",
        "/zip/2026-08/{other}",
        "/worklist/{other}",
        "/upload/{other}",
        "/download/2026-08/{mine}/..%2F..%2F..%2Fmanifest.json",
        "/download/2026-08/{mine}/%2e%2e/%2e%2e/build.json",
        "/download/2026-08/{mine}/..%2F{other}%2F线索清单.xlsx",
        "/download/2026-08/{mine}%0A/线索清单.xlsx",
        "/download/2026-08/４３０１０１００１/线索清单.xlsx",
        "/download/2026-08/{mine}//etc/passwd",
        "/download/2026-08/{mine}/manifest.json.bak",
        "/download/2026-08/{mine}/不存在的文件.xlsx",
        "/download/2026-08/43010100x/线索清单.xlsx",
        "/download/2026-8/{mine}/线索清单.xlsx",
        "/download/2026-12/{mine}/线索清单.xlsx",
        "/files/2026-08/{mine}%2F..",
        "/status",
    ],
)
def test_another_townships_file_a_traversal_or_a_guess_is_not_found(site, path):
    c = signed_in(site, "town")
    r = c.get(path.format(mine=site["mine"], other=site["neighbour"]))
    assert r.status_code == 404, r.text[:200]
    assert "未找到" in r.text
    entry = audit.read(site["home"])[-1]
    assert (entry["action"], entry["account"], entry["result"]) == ("not_found", "town", "refused")
    missing = c.get(f"/download/2026-08/{site['mine']}/does-not-exist.xlsx")
    assert (r.status_code, r.text) == (missing.status_code, missing.text)


def test_another_countys_office_sees_none_of_these_townships(site):
    accounts = Accounts(site["home"], load_portal())
    other = f"{(int(site['county']) + 1) % 1_000_000:06d}"
    accounts.add("county-other", "county", other, PASSWORD)
    c = signed_in(site, "county-other")
    assert site["mine"] not in c.get("/").text
    for path in (
        f"/files/2026-08/{site['mine']}",
        f"/worklist/{site['mine']}",
        f"/zip/2026-08/{site['mine']}",
    ):
        assert c.get(path).status_code == 404


def test_a_county_sees_its_townships_read_only(site):
    c = signed_in(site, "county")
    index = c.get("/").text
    assert site["mine"] in index and site["neighbour"] in index
    if site["elsewhere"]:
        assert site["elsewhere"] not in index
        assert c.get(f"/files/2026-08/{site['elsewhere']}").status_code == 404
    assert c.get(f"/files/2026-08/{site['neighbour']}").status_code == 200
    assert c.get(f"/upload/{site['mine']}").status_code == 404
    assert c.get("/status").status_code == 404


def test_a_county_reads_its_overview_with_charts_and_no_script(site):
    c = signed_in(site, "county")
    assert f"/overview/2026-08/{site['county']}" in c.get("/").text
    r = c.get(f"/overview/2026-08/{site['county']}")
    assert r.status_code == 200
    assert "工作成效概览" in r.text and "<svg" in r.text and "<script" not in r.text
    assert "报县级督办" in r.text and site["mine"] in r.text and site["neighbour"] in r.text
    assert "script-src 'none'" in r.headers["content-security-policy"]
    entry = audit.read(site["home"])[-1]
    assert (entry["action"], entry["account"], entry["township_code"]) == (
        "overview",
        "county",
        site["county"],
    )
    assert c.get(f"/overview/2026-08/{site['mine']}").status_code == 200, "and each of its townships'"


@pytest.mark.parametrize(
    "who, path",
    [
        ("town", "/overview/2026-08/{county}"),
        ("town", "/overview/2026-08/{other}"),
        ("neighbour", "/overview/2026-08/{mine}"),
        ("town", "/overview/2026-07/{mine}"),
        ("town", "/overview/2026-08/{mine}0"),
        ("town", "/overview/2026-08/４３０１０１"),
        ("county-stranger", "/overview/2026-08/{county}"),
    ],
)
def test_an_overview_is_not_found_for_anyone_else(site, who, path):
    accounts = Accounts(site["home"], load_portal())
    if who == "county-stranger" and accounts.get(who) is None:
        accounts.add(who, "county", f"{(int(site['county']) + 1) % 1_000_000:06d}", PASSWORD)
    c = signed_in(site, who)
    r = c.get(path.format(county=site["county"], mine=site["mine"], other=site["neighbour"]))
    assert r.status_code == 404 and "工作成效概览" not in r.text


def test_an_overview_needs_a_sign_in(site):
    c = TestClient(create_app(site["home"], site["landing"], today=lambda: TODAY))
    r = c.get(f"/overview/2026-08/{site['county']}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_a_township_reads_its_own_overview(site):
    c = signed_in(site, "town")
    assert f"/overview/2026-08/{site['mine']}" in c.get("/").text
    r = c.get(f"/overview/2026-08/{site['mine']}")
    assert r.status_code == 200 and site["mine"] in r.text and site["neighbour"] not in r.text


@pytest.fixture(scope="module")
def queued_site(landing, tmp_path_factory):
    """August run for real with a visiting capacity of 2 households a month (a copy of rules/ given
    to the run as SAFETYNET_RULES, in a child as tests/direct.py runs the DAG's tasks): townships
    with more new items than that have a queue. Accounts for two townships of one county with a
    queue, their county and another county's office."""
    root = tmp_path_factory.mktemp("queued")
    land, home, rules = root / "landing", root / "home", root / "rules"
    shutil.copytree(landing / "2026-08", land / "2026-08")
    shutil.copytree(RULES_DIR, rules)
    path = rules / "outcomes" / "capacity.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("default: 40", "default: 2"), encoding="utf-8")
    child = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).parent / "direct.py"),
            "2026-08",
            str(land),
            str(home),
            "queued-08",
        ],
        env={**os.environ, "SAFETYNET_RULES": str(rules)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    with connect(home) as con:
        queued = con.sql(
            "select township_code, case_id, kind from v_cases where month = '2026-08' and state = 'queued'"
        ).pl()
    by_county = (
        queued.filter(pl.col("kind") == "lead")
        .group_by(pl.col("township_code").str.slice(0, 6).alias("county"))
        .agg(pl.col("township_code").unique().sort())
    )
    county, (mine, neighbour, *_) = next((c, t) for c, t in by_county.iter_rows() if len(t) > 1)
    accounts = Accounts(home, load_portal())
    accounts.add("town", "township", mine, PASSWORD)
    accounts.add("county", "county", county, PASSWORD)
    accounts.add("stranger", "county", f"{(int(county) + 1) % 1_000_000:06d}", PASSWORD)
    ids = {t: set(queued.filter(pl.col("township_code") == t)["case_id"]) for t in (mine, neighbour)}
    return {
        "home": home,
        "landing": land,
        "mine": mine,
        "neighbour": neighbour,
        "county": county,
        "queued": ids,
    }


def test_a_county_sees_its_townships_queues_a_township_its_own_and_a_stranger_nothing(queued_site):
    site, mine, neighbour = queued_site, queued_site["mine"], queued_site["neighbour"]
    queued = site["queued"]
    county = signed_in(site, "county").get(f"/overview/2026-08/{site['county']}")
    assert county.status_code == 200 and "排队待下发" in county.text
    assert all(case in county.text for case in queued[mine] | queued[neighbour])
    town = signed_in(site, "town")
    own = town.get(f"/overview/2026-08/{mine}")
    assert own.status_code == 200 and all(case in own.text for case in queued[mine])
    assert not any(case in own.text for case in queued[neighbour]), "only its own queue"
    for path in (f"/overview/2026-08/{neighbour}", f"/overview/2026-08/{site['county']}"):
        r = town.get(path)
        assert r.status_code == 404 and not any(case in r.text for case in queued[neighbour])
    r = signed_in(site, "stranger").get(f"/overview/2026-08/{site['county']}")
    assert r.status_code == 404 and not any(case in r.text for case in queued[mine])
    # and a queued item is on no list of the township's, nor among the ids it may return
    cells = set()
    for name in ("线索清单.xlsx", "核对疑点清单.xlsx"):
        book = CalamineWorkbook.from_filelike(
            io.BytesIO(town.get(f"/download/2026-08/{mine}/{name}").content)
        )
        cells |= {
            str(v)
            for sheet in book.sheet_names
            for row in book.get_sheet_by_name(sheet).to_python()
            for v in row
        }
    assert any(c.startswith("XS") for c in queued[mine]) and not queued[mine] & cells
    with connect(site["home"]) as con:
        issued = set(con.sql(f"select id from v_issued where township_code = '{mine}'").pl()["id"])
        leads = con.sql(
            f"select lead_id, status, visit_by from v_leads where township_code = '{mine}' and queued"
        ).pl()
        records = con.sql(
            f"select record_id from v_doubtful_records where township_code = '{mine}' and queued"
        )
        waiting = set(leads["lead_id"]) | set(records.pl()["record_id"])
    assert issued and not issued & queued[mine]
    assert waiting == queued[mine], "auditors see the queue in v_leads and v_doubtful_records"
    assert set(leads["status"]) == {"排队待下发"} and leads["visit_by"].is_null().all()
    # the run's manifest counts the queued leads apart from those pushed
    built = Home(site["home"]).build_dir("2026-08")
    counted = json.loads((built / "manifest.json").read_text(encoding="utf-8"))["rows"]
    with connect(site["home"]) as con:
        ((all_queued,),) = con.sql("select count(*) from v_leads where queued").fetchall()
    assert counted["leads_queued"] == all_queued > 0 and counted["leads_pushed"] >= all_queued


def test_the_data_team_sees_every_townships_upload_status(site):
    c = signed_in(site, "admin")
    assert c.get("/").headers["location"] == "/status"
    page = c.get("/status").text
    assert site["mine"] in page and site["neighbour"] in page
    assert "跨省核对" in page and "向外省发出的核对请求" in page  # the cross-region figures (issue 35)


# --- returnable lists and uploads ---------------------------------------------------------------


def test_lists_are_returnable(site):
    c = signed_in(site, "town")
    t = site["mine"]
    rows = sheet(c.get(f"/download/2026-08/{t}/线索清单.xlsx").content)
    title, header, body = rows[0], rows[1], rows[2:]
    assert t in title[0] and "2026年08月" in title[0] and "下发日期：2026-09-01" in title[0]
    assert header[-5:] == ["核查期限", "核查日期", "核查结论", "转介部门", "备注"]
    assert [r[0] for r in body] == list(range(1, len(body) + 1))  # ranks 1..n, no gaps
    assert all(isinstance(r[header.index("核查期限")], dt.date) for r in body)
    doubtful = sheet(c.get(f"/download/2026-08/{t}/核对疑点清单.xlsx").content)
    assert doubtful[1][:2] == ["序号", "记录编号"] and all(r[1].startswith("YD202608-") for r in doubtful[2:])
    assert all(r[doubtful[1].index("户主身份证号")].count("*") == 8 for r in doubtful[2:])
    # print setup, the drop-down and the column widths are in the workbook itself
    path = site["home"] / "exports" / "2026-08" / t[:6] / t / "线索清单.xlsx"
    with zipfile.ZipFile(path) as zf:
        xml = zf.read("xl/worksheets/sheet1.xml").decode()
        names = zf.read("xl/workbook.xml").decode()
    assert 'orientation="landscape"' in xml and 'fitToHeight="0"' in xml and "_xlnm.Print_Titles" in names
    assert 'type="list"' in xml and "纳入低保,纳入特困" in xml.replace('"', "").replace("&quot;", "")
    # text wraps in columns chosen to print one A4 page wide at 8 pt or more (tests/test_print.py)
    columns = re.findall(r'<col min="(\d+)" max="(\d+)" width="([\d.]+)"', xml)
    assert sum((int(b) - int(a) + 1) * float(w) for a, b, w in columns) <= PAGE_WIDTH + 1
    assert min(float(w) for _, _, w in columns) >= NARROW


def test_an_upload_of_the_filled_list_becomes_next_months_outcomes(site):
    c = signed_in(site, "town")
    t = site["mine"]
    rows = sheet(c.get(f"/download/2026-08/{t}/线索清单.xlsx").content)
    n = len(rows) - 2
    assert n >= 2
    data = filled(rows, {2: (dt.date(2026, 9, 5), "纳入低保"), 3: (dt.date(2026, 9, 6), "不符合条件")})
    r = c.post(
        f"/upload/{t}", files={"file": ("线索清单.xlsx", data)}, data={"csrf_token": token(c, f"/upload/{t}")}
    )
    assert r.status_code == 200, r.text[:500]
    assert re.search(r'id="accepted">2<', r.text) and re.search(r'id="refused">0<', r.text)
    assert re.search(rf'id="skipped">{n - 2}<', r.text) and "2026-09" in r.text
    part = site["landing"] / "2026-09" / f"outcomes.part-{t}.csv"
    got = pl.read_csv(part, infer_schema=False)
    assert got.height == 2 and set(got["outcome"]) == {"纳入低保", "不符合条件"}
    assert set(got["upload_sha256"]) == {hashlib.sha256(data).hexdigest()}
    assert (
        site["home"] / "portal" / "uploads" / f"{hashlib.sha256(data).hexdigest()}.xlsx"
    ).read_bytes() == data
    # a second upload: the doubtful-record list merges beside it; a corrected lead replaces its row
    doubtful = sheet(c.get(f"/download/2026-08/{t}/核对疑点清单.xlsx").content)
    data2 = filled(doubtful, {2: (dt.date(2026, 9, 7), "维持现状")})
    r = c.post(
        f"/upload/{t}",
        files={"file": ("核对疑点清单.xlsx", data2)},
        data={"csrf_token": token(c, f"/upload/{t}")},
    )
    assert re.search(r'id="accepted">1<', r.text)
    data3 = filled(rows, {2: (dt.date(2026, 9, 8), "临时救助")})
    c.post(
        f"/upload/{t}", files={"file": ("更正.xlsx", data3)}, data={"csrf_token": token(c, f"/upload/{t}")}
    )
    got = pl.read_csv(part, infer_schema=False).sort("lead_id")
    assert got.height == 3
    first_lead = rows[2][1]
    assert got.filter(pl.col("lead_id") == first_lead)["outcome"].to_list() == ["临时救助"]
    assert doubtful[2][1] in got["lead_id"].to_list()
    work = c.get(f"/worklist/{t}?q={rows[2][rows[1].index('户编号')]}").text
    assert first_lead in work and "已回传待读取" in work


def _full_width(text: str) -> str:
    """ASCII letters and digits as a Chinese input method types them in full-width mode."""
    return "".join(chr(ord(ch) + 0xFEE0) if ch.isascii() and ch.isalnum() else ch for ch in text)


def test_the_worklist_search_ignores_spaces_and_full_width_characters(site):
    """ "袁 丽", "袁　丽" and an id typed with full-width digits find the household (issue 33, item 7a)."""
    c, t = signed_in(site, "town"), site["mine"]
    rows = re.findall(
        r'<tr[^>]*>\s*<td>([^<]+)</td><td>[^<]*</td>\s*<td><a class="portrait" href="[^"]+">([^<]+)</a></td>'
        r"<td>([^<]{2,})</td>",
        c.get(f"/worklist/{t}").text,
    )
    case_id, household_id, head = rows[0]
    for q in (f"{head[0]} {head[1:]}", f"{head[0]}\u3000{head[1:]}", f" {head} ", _full_width(household_id)):
        page = c.get(f"/worklist/{t}", params={"q": q}).text
        assert f"<td>{case_id}</td>" in page and "没有符合条件的案件" not in page, q
    assert "没有符合条件的案件" in c.get(f"/worklist/{t}", params={"q": f"{head}不存在"}).text


def _count_links(page: str) -> list[tuple[str, int]]:
    """The home page's counts: (the worklist address each links to, the number shown)."""
    found = re.findall(r'<a class="count" href="(/worklist/[^"]+)">(\d+)</a>', page)
    return [(html.unescape(href), int(n)) for href, n in found]


def _worklist_rows(page: str) -> list[dict]:
    """The worklist's rows: id, portrait address, list place, state and days."""
    pattern = (
        r'<tr[^>]*>\s*<td>([^<]+)</td><td>[^<]*</td>\s*<td><a class="portrait" href="([^"]+)">[^<]*</a></td>'
        r'<td>[^<]*</td>\s*<td class="place">([^<]*)</td>\s*<td>[^<]*</td><td>[^<]*</td>'
        r'<td class="state">([^<]*)</td><td class="timing">([^<]*)</td>'
    )
    keys = ("id", "portrait", "place", "state", "timing")
    return [dict(zip(keys, m, strict=True)) for m in re.findall(pattern, page)]


def test_the_home_page_says_what_is_due_in_one_table_with_counts_the_worklist_shows(site):
    """Issue 33, item 1: the home page showed one table per month, each with its own 上传 link, and
    no counts or deadlines. Now: 本月待办 per list, one upload entry, one table of files, and every
    count is the number of worklist rows its link opens."""
    c, t = signed_in(site, "town"), site["mine"]
    home = c.get("/").text
    assert "本月待办" in home and ("最近的核查期限" in home or "没有未到期的待核查案件" in home)
    assert home.count(f'href="/upload/{t}"') == 1
    assert home.count("<table") == 2 and 'id="todo"' in home and 'id="townships"' in home
    links = _count_links(home)
    assert {href.split("state=")[1] for href, _ in links} == {"open", "due", "overdue", "returned"}
    assert sum(n for _, n in links) > 0 and len(links) % 4 == 0
    for href, n in links:
        assert len(_worklist_rows(c.get(href).text)) == n, href


BAD_ROWS = [
    ("XS202608-NOSUCH", "2026-09-05", "纳入低保", "不存在"),
    ("{other_id}", "2026-09-05", "纳入低保", "属于其他乡镇"),
    ("{id1}", "2026-09-05", "发钱", "不在约定的选项中"),
    ("{id2}", "2026-08-15", "纳入低保", "早于清单下发日"),
    ("{id3}", "2026-09-25", "纳入低保", "晚于今天"),
    ("{id4}", "2026-09-05", "纳入低保", "出现两次"),
    ("{id4}", "2026-09-06", "退出", "出现两次"),
    ("{id5}", "九月五日", "纳入低保", "无法识别"),
]


@pytest.mark.parametrize(
    "typed",
    [
        "XS202608-H0000000114",
        "XS202608-H0000000114 ",  # a space after the id, as a cell copied from a chat keeps it
        "ＸＳ２０２６０８－Ｈ０００００００１１４",  # an input method left in full-width mode
        "XS２０２６０８-H０００００００１１４\u3000",
    ],
)
def test_an_id_typed_with_full_width_characters_or_spaces_is_read_as_the_id(typed):
    table = [
        ["线索编号", "核查日期", "核查结论", "备注"],
        [typed, "2026-09-05", "维持现状", "Ａ１，全角备注"],
    ]
    (row,) = uploads._table_rows("线索清单", table, load_portal())
    assert row.id == "XS202608-H0000000114"
    assert row.note == "Ａ１，全角备注", "only the id is folded: the note stays as written"


def test_a_bad_upload_says_row_by_row_why(site):
    c = signed_in(site, "town")
    t, other = site["mine"], site["neighbour"]
    ids = [r[1] for r in sheet(c.get(f"/download/2026-08/{t}/线索清单.xlsx").content)[2:]]
    ids += [r[1] for r in sheet(c.get(f"/download/2026-08/{t}/核对疑点清单.xlsx").content)[2:]]
    other_id = (
        json.loads((site["home"] / "lake" / "_runs" / "portal-08.json").read_text())
        and Home(site["home"]).read("_issued", "2026-08").filter(pl.col("township_code") == other)["id"][0]
    )
    values = {"other_id": other_id, **{f"id{i}": ids[i] for i in range(1, 6)}}
    lines = ["线索编号,核查日期,核查结论,转介部门,备注"]
    lines += [f"{i.format(**values)},{d},{o},," for i, d, o, _ in BAD_ROWS]
    before = (
        (site["landing"] / "2026-09" / f"outcomes.part-{t}.csv").read_bytes()
        if (site["landing"] / "2026-09" / f"outcomes.part-{t}.csv").exists()
        else b""
    )
    data = ("\n".join(lines) + "\n").encode("gbk")
    r = c.post(
        f"/upload/{t}", files={"file": ("结果.csv", data)}, data={"csrf_token": token(c, f"/upload/{t}")}
    )
    assert r.status_code == 200
    table = re.findall(
        r"<tr class=\"refused\">\s*<td>第 (\d+) 行</td>.*?<td>拒绝</td><td>([^<]+)</td>", r.text, re.S
    )
    reasons = {int(line): reason for line, reason in table}
    for n, (_, _, _, expected) in enumerate(BAD_ROWS, start=2):
        assert expected in reasons.get(n, ""), (n, expected, reasons)
    assert re.search(r'id="accepted">0<', r.text)
    after = (
        (site["landing"] / "2026-09" / f"outcomes.part-{t}.csv").read_bytes()
        if (site["landing"] / "2026-09" / f"outcomes.part-{t}.csv").exists()
        else b""
    )
    assert after == before  # nothing written


def huge_grid() -> bytes:
    """A 6 KB workbook whose one filled cell is XFD1048576: a reader would build 17 billion cells."""
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"in_memory": True})
    ws = wb.add_worksheet()
    ws.write_string(0, 0, "线索编号")
    ws.write_string(0, 1, "核查结论")
    ws.write_string(1_048_575, 16_383, "x")
    wb.close()
    return out.getvalue()


def zip_bomb() -> bytes:
    return hostile("", extra={"xl/media/image1.png": "0" * 60_000_000})


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("结果.xlsx", b"", "空的"),
        ("结果.csv", b"", "空的"),
        ("结果.xlsx", b"this is not a workbook at all", "不是有效的 Excel 工作簿"),
        ("结果.xlsx", "ZIP_BOMB", "解压后超过"),
        ("结果.exe", b"MZ\x90\x00", "只接受 xlsx 或 csv"),
        ("结果.csv", "姓名,金额\n张三,1\n".encode(), "找不到表头"),
        ("结果.csv", b"\xff\xfe\x00\x00garbage\x00", "无法读取 CSV"),
        ("结果.xlsx", "HUGE_GRID", "表格范围过大"),
        ("结果.xlsx", "PREFIXED", "不是有效的 Excel 工作簿"),  # the reader tries xls on what is before
    ],
)
def test_an_unusable_upload_is_refused_whole_with_a_chinese_message(site, name, data, message):
    c = signed_in(site, "town")
    t = site["mine"]
    data = (
        {
            "ZIP_BOMB": zip_bomb(),
            "HUGE_GRID": huge_grid(),
            "PREFIXED": b"\xd0\xcf\x11\xe0" + b"\0" * 508 + hostile(""),
        }.get(data, data)
        if isinstance(data, str)
        else data
    )
    r = c.post(f"/upload/{t}", files={"file": (name, data)}, data={"csrf_token": token(c, f"/upload/{t}")})
    assert r.status_code == 400 and message in re.search(r'id="error">([^<]+)', r.text).group(1)
    entry = [e for e in audit.read(site["home"]) if e["action"] == "upload"][-1]
    assert entry["result"] == "refused" and message in entry["detail"] and entry["file"] == name


# a sheet's rows as an attacker writes them: each reaches past the limits, however it says so
FAR = {
    "cell reference after another attribute": '<row r="300000"><c t="inlineStr" r="T300000"><is><t>x</t></is></c></row>',
    "row number only": '<row r="300000"><c t="inlineStr"><is><t>x</t></is></c></row>',
    "single quotes": "<row r='300000'><c r='T300000' t='inlineStr'><is><t>x</t></is></c></row>",
    "columns without references": "<row>" + "<c><v>1</v></c>" * 70 + "</row>",
    "rows without numbers": "<row><c><v>1</v></c></row>" * 20_100,
    "the same row number again and again": '<row r="2"><c r="A2"><v>1</v></c></row>' * 20_100,
    "more cells than a list has": ("<row>" + "<c><v>1</v></c>" * 21 + "</row>") * 19_990,
}


@pytest.mark.parametrize("rows_xml", FAR.values(), ids=FAR.keys())
def test_a_workbook_is_measured_by_the_rows_and_cells_its_xml_holds(rows_xml, monkeypatch):
    """Refused by the inspection of its XML, before calamine builds a single row of the grid."""
    data = hostile(rows_xml)
    assert len(data) < 60_000

    class NeverOpened:
        @staticmethod
        def from_filelike(_):
            raise AssertionError("the workbook was read before it was measured")

    monkeypatch.setattr("python_calamine.CalamineWorkbook", NeverOpened)
    with pytest.raises(uploads.UploadRefused, match="表格范围过大|行数或单元格数过多"):
        uploads.read_upload("结果.xlsx", data, load_portal())


@pytest.mark.parametrize("make", HOSTILE_PARTS.values(), ids=HOSTILE_PARTS.keys())
def test_every_sheet_part_is_measured_however_it_is_stored(make):
    data, settings = make(), load_portal()
    assert len(data) < 3_000
    laid_out = sheet_size(data)  # what the reader makes of it: a real bypass, not a broken file
    assert laid_out[0] > settings.upload_max_rows or laid_out[1] > settings.upload_max_columns
    with pytest.raises(uploads.UploadRefused, match="表格范围过大|不是有效的 Excel 工作簿"):
        uploads.read_upload("结果.xlsx", data, load_portal())


def test_a_hostile_sheet_part_is_refused_on_the_portal_with_a_chinese_message(site):
    c = signed_in(site, "town")
    t = site["mine"]
    for name, make in HOSTILE_PARTS.items():
        r = c.post(
            f"/upload/{t}",
            files={"file": ("结果.xlsx", make())},
            data={"csrf_token": token(c, f"/upload/{t}")},
        )
        assert r.status_code == 400, name
        assert re.search("表格范围过大|不是有效的", re.search(r'id="error">([^<]+)', r.text).group(1)), name


@pytest.mark.parametrize(
    "sheets, rows",
    [(1, 7_000), (3, 3_000), (20, 1_000)],  # 7000, 3000 and 1000 real cells; grids 420000, 540000, 1.2 M
)
def test_the_grids_a_reader_builds_are_capped_over_the_whole_workbook(sheets, rows):
    settings = load_portal()
    data = hostile(far_column_rows(rows), sheets=sheets)
    assert rows * sheets < settings.upload_max_cells < (rows + 1) * 60 * sheets
    with pytest.raises(uploads.UploadRefused, match="表格范围过大"):
        uploads.read_upload("结果.xlsx", data, settings)


def test_a_workbook_within_the_grid_cap_is_read():
    data = hostile(far_column_rows(3_000), sheets=2)  # 2 x 3001 x 60 = 360120 cells
    assert uploads.read_upload("结果.xlsx", data, load_portal()) != []


@contextlib.contextmanager
def serving(app):
    """The app served by uvicorn on a free port, in a thread, as `safetynet serve` serves it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()


@pytest.mark.parametrize("limits", ["portal.yaml", "loose"])
def test_sign_in_answers_while_a_hostile_upload_is_read(site, limits):
    """The probe's workbook, uploaded to a real server: another user's sign-in page comes at once.
    With limits loose enough to let it through the inspection, its reading itself runs off the
    event loop and is given up at the time limit."""
    settings = load_portal()
    data, message = FAR_ROW, "表格范围过大"
    if limits == "loose":
        settings = dataclasses.replace(
            settings, upload_max_rows=10**7, upload_max_cells=10**8, upload_parse_seconds=4
        )
        # 1.2 M real rows: about 8 s of reading, most of it Python that lets other threads run; given
        # up at 4 s, long after the sign-in page has come even on a busy machine
        data, message = hostile("<row><c><v>1</v></c></row>" * 1_200_000), "读取超过 4 秒"
    t, answer = site["mine"], {}
    app = create_app(site["home"], site["landing"], settings=settings, today=lambda: TODAY)
    with serving(app) as url, httpx.Client(base_url=url, timeout=120) as c:
        form = c.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        c.post("/login", data={"username": "town", "password": PASSWORD, "csrf_token": csrf})
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get(f"/upload/{t}").text).group(1)

        def upload() -> None:
            r = c.post(f"/upload/{t}", files={"file": ("结果.xlsx", data)}, data={"csrf_token": csrf})
            answer.update(response=r, at=time.monotonic())

        uploading = threading.Thread(target=upload)
        uploading.start()
        time.sleep(0.3)
        started = time.monotonic()
        login = httpx.get(f"{url}/login", timeout=120)
        answered = time.monotonic()
        took = answered - started
        uploading.join(120)
    assert login.status_code == 200, f"/login took {took:.1f} s"
    r = answer["response"]
    assert r.status_code == 400 and message in re.search(r'id="error">([^<]+)', r.text).group(1)
    if limits == "loose":  # the sign-in page came while the workbook was still being read
        assert answer["at"] > answered


def test_uploads_read_at_once_are_limited_until_their_threads_end():
    """A read given up at the time limit goes on in its thread (a thread cannot be killed): its
    slot stays taken until it ends, and an upload past the limit is refused at once."""
    settings = dataclasses.replace(
        load_portal(), upload_max_rows=10**6, upload_max_cells=10**8, upload_parse_seconds=0.3
    )
    assert settings.upload_parse_workers == load_portal().upload_parse_workers >= 1
    settings = dataclasses.replace(settings, upload_parse_workers=1)
    slow = hostile("<row><c><v>1</v></c></row>" * 300_000)  # about 2 s of reading
    for _ in range(600):  # reads other tests gave up may still be ending
        if uploads.READERS.busy == 0:
            break
        time.sleep(0.1)

    async def two() -> tuple[str, str, float]:
        answers = []
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(uploads.UploadRefused) as refused:
                await uploads.read_in_worker("结果.xlsx", slow, settings)
            answers.append((str(refused.value), time.monotonic() - started))
        return answers[0][0], answers[1][0], answers[1][1]

    first, second, took = anyio.run(two)
    assert "读取超过" in first
    assert "稍后再试" in second, f"the second upload was read ({took:.1f} s) though no reader was free"


def test_an_upload_of_unknown_length_is_refused_before_it_is_read(site):
    c = signed_in(site, "town")

    def chunks():
        yield b"0" * 1000

    r = c.post(
        f"/upload/{site['mine']}",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert r.status_code == 411
    assert "411" in audit.read(site["home"])[-1]["detail"]


def test_an_oversized_upload_is_refused_before_it_is_read(site):
    c = signed_in(site, "town")
    t = site["mine"]
    big = b"0" * (load_portal().upload_max_bytes + 200_000)
    r = c.post(
        f"/upload/{t}", files={"file": ("big.csv", big)}, data={"csrf_token": token(c, f"/upload/{t}")}
    )
    assert r.status_code == 413 and "超过" in r.text


def test_once_a_month_is_marked_complete_uploads_go_to_the_next(site):
    """`_READY` means a run may read the folder from now on: a row written there later could be
    missed, so later uploads go to the month after; what is already there still counts as waiting."""
    c = signed_in(site, "town")
    t, ready = site["mine"], site["landing"] / "2026-09" / "_READY"
    ready.touch()
    try:
        page = c.get(f"/upload/{t}").text
        assert "<b>2026-10</b>" in page
        assert "已回传待读取" in c.get(f"/worklist/{t}?q=H").text
    finally:
        ready.unlink()
    assert "<b>2026-09</b>" in c.get(f"/upload/{t}").text


def test_the_next_run_reads_the_uploads_and_auditors_trace_them(site):
    """After the uploads above: September runs; its outcomes are the uploaded rows, traced to their
    upload; a mistyped id in a delivered part is quarantined with its reason; v_portal_log has it all."""
    land, home, t = site["landing"], site["home"], site["mine"]
    part = land / "2026-09" / f"outcomes.part-{t}.csv"
    uploaded = pl.read_csv(part, infer_schema=False)
    typo = land / "2026-09" / "outcomes.part-999999999.csv"
    typo.write_text("线索编号,核查日期,核查结论\nXS202608-TYPO,2026-09-03,纳入低保\n", encoding="utf-8")
    run("2026-09", str(land), str(home), "portal-09")
    with connect(home) as con:
        got = con.sql(
            "select lead_id, kind, upload_sha256, on_time from v_outcomes where month = '2026-09' and upload_sha256 is not null"
        ).pl()
        quarantined = con.sql(
            "select source_file, reason from v_quarantine where month = '2026-09' and source = 'outcomes'"
        ).pl()
        log = con.sql(
            "select action, account, township_code, sha256, bytes, client_address from v_portal_log"
        ).pl()
        doubtful = con.sql("select count(*) from v_doubtful_records where record_id is null").fetchall()[0][0]
    assert sorted(got["lead_id"]) == sorted(uploaded["lead_id"])
    assert set(got["kind"]) == {"lead", "doubtful"} and set(got["upload_sha256"]) == set(
        uploaded["upload_sha256"]
    )
    assert any("never issued" in r for r in quarantined["reason"]) and doubtful == 0
    assert {"sign_in", "sign_in_failed", "download", "upload", "refused"} <= set(log["action"])
    assert log.filter(pl.col("action") == "download")["sha256"].null_count() == 0
    # standing doubtful records keep their id from August to September
    aug, sep = (Home(home).read("_doubtful", m) for m in ("2026-08", "2026-09"))
    both = aug.join(sep, on=["household_id", "check_id"], suffix="_sep")
    assert both.height and (both["record_id"] == both["record_id_sep"]).all()
    # after the run, uploads go to the month after
    c = signed_in(site, "town")
    assert "2026-10" in c.get(f"/upload/{t}").text


def upload_csv(c: TestClient, township: str, rows: list[tuple]) -> str:
    """Upload (id, date, outcome, referral, note) rows as a CSV; the page answered."""
    text = "线索编号,核查日期,核查结论,转介部门,备注\n" + "".join(
        ",".join(v or "" for v in r) + "\n" for r in rows
    )
    r = c.post(
        f"/upload/{township}",
        files={"file": ("回传.csv", text.encode())},
        data={"csrf_token": token(c, f"/upload/{township}")},
    )
    assert r.status_code == 200, r.text[:500]
    return r.text


def counted(page: str) -> dict[str, int]:
    found = re.findall(r'id="(accepted|refused|skipped|unchanged|corrections)">(\d+)<', page)
    return {k: int(v) for k, v in found}


def test_after_the_run_an_unchanged_upload_is_unchanged_and_a_correction_needs_its_reason(site):
    """Issue 33, item 3: re-uploading what September read is 无变化 (neither accepted nor refused,
    nothing written); a different conclusion for a closed case is a correction (更正) that needs its
    reason in 备注; before a run reads it, the later upload wins, and the same again is 无变化."""
    c, t, land = signed_in(site, "town"), site["mine"], site["landing"]
    read = pl.read_csv(land / "2026-09" / f"outcomes.part-{t}.csv", infer_schema=False)
    rows = [
        tuple(r) for r in read.select("lead_id", "visited_on", "outcome", "referred_to", "note").iter_rows()
    ]
    page = upload_csv(c, t, rows)
    assert counted(page) == {"accepted": 0, "refused": 0, "skipped": 0, "unchanged": len(rows)}
    assert "2026-09 月已入库的结论相同" in page and 'class="refused"' not in page
    part = land / "2026-10" / f"outcomes.part-{t}.csv"
    assert not part.exists(), "nothing written again"

    case_id, day, was, *_ = next(r for r in rows if r[2] != "纳入低保")
    page = upload_csv(c, t, [(case_id, day, "纳入低保", None, None)])
    assert counted(page)["refused"] == 1 and not part.exists()
    assert (
        f"编号 {case_id} 已结案" in page and f"原结论“{was}”" in page and "须在“备注”中写明更正原因" in page
    )

    reason = "复核发现家庭收入低于低保标准"
    page = upload_csv(c, t, [(case_id, day, "纳入低保", None, reason)])
    assert counted(page) == {"accepted": 1, "refused": 0, "skipped": 0, "unchanged": 0, "corrections": 1}
    assert "接受（更正）" in page and f"原因：{reason}" in page
    written = pl.read_csv(part, infer_schema=False)
    assert written.select("lead_id", "outcome", "note").rows() == [(case_id, "纳入低保", reason)]
    # the same correction again, before a run reads it: 无变化; a different one: the later wins
    page = upload_csv(c, t, [(case_id, day, "纳入低保", None, reason)])
    assert counted(page)["unchanged"] == 1 and "尚待月度运行读取" in page
    upload_csv(c, t, [(case_id, day, "纳入特困", None, reason)])
    assert pl.read_csv(part, infer_schema=False)["outcome"].to_list() == ["纳入特困"]
    upload_csv(c, t, [(case_id, day, "纳入低保", None, reason)])
    assert pl.read_csv(part, infer_schema=False)["outcome"].to_list() == ["纳入低保"]


# issue 33 review: an upload's row for a case a run read, against the pending row (uploaded, not yet
# read) and the read outcome of a closed case: the later upload wins, a note alone is no correction
READ_ID = "XS202608-H1"
READ_ROW = ("维持现状", "2026-09-05", None, None)
PENDING = ("纳入低保", "2026-09-05", None, "复核发现收入低于标准")
AGAINST_RETURNED = [
    # (what the row says, pending content, status, correction, words in the reason)
    (READ_ROW, PENDING, "接受", False, "撤回此前上传的更正"),
    (PENDING, PENDING, "无变化", False, "尚待月度运行读取"),
    (("纳入特困", "2026-09-05", None, "复核"), PENDING, "接受", True, "更正"),
    (("维持现状", "2026-09-05", None, "补充说明"), None, "无变化", False, "只改“备注”不算更正"),
    (READ_ROW, None, "无变化", False, "2026-09 月已入库的结论相同"),
    (("维持现状", "2026-09-06", None, None), None, "拒绝", False, "须在“备注”中写明更正原因"),
    (("纳入低保", "2026-09-05", None, "复核"), None, "接受", True, "更正：原结论“维持现状”"),
]


@pytest.mark.parametrize("says, pending, status, correction, words", AGAINST_RETURNED)
def test_an_upload_row_against_a_correction_pending_and_the_outcome_read(
    says, pending, status, correction, words
):
    outcome, day, referred, note = says
    row = uploads.Row(3, "", READ_ID, dt.date.fromisoformat(day), outcome, referred, note)
    read = {READ_ID: uploads.Returned("2026-09", READ_ROW, True)}
    uploads.against_returned([row], read, {READ_ID: pending} if pending else {})
    assert (row.status, row.correction) == (status, correction)
    assert words in row.reason


def test_the_upload_page_names_the_reopening_conclusions_from_the_rules(site):
    page = signed_in(site, "town").get(f"/upload/{site['mine']}").text
    assert "（" + "、".join(load_case_rules().reopen_outcomes) + "）时案件重新打开" in page
    assert "只改“备注”不算更正" in page


def test_the_county_sees_its_townships_corrections_and_a_township_only_its_own(site):
    """After the correction above: the county's overview lists it (township, id, old → new, reason,
    date, 待下月读取); the township's own overview too; the neighbour township's does not."""
    t, county, neighbour = site["mine"], site["county"], site["neighbour"]
    part = pl.read_csv(site["landing"] / "2026-10" / f"outcomes.part-{t}.csv", infer_schema=False)
    case_id, reason = part.select("lead_id", "note").row(0)
    page = signed_in(site, "county").get(f"/overview/2026-09/{county}").text
    listed = page[page.index('id="corrections"') :]
    assert case_id in listed and "→ 纳入低保" in listed and reason in listed and "待下月读取" in listed
    assert case_id in signed_in(site, "town").get(f"/overview/2026-09/{t}").text
    theirs = signed_in(site, "neighbour").get(f"/overview/2026-09/{neighbour}")
    assert theirs.status_code == 200 and 'id="corrections"' in theirs.text and case_id not in theirs.text
    assert signed_in(site, "neighbour").get(f"/overview/2026-09/{t}").status_code == 404


EVENTS_OF = {  # the history a case in each state has at least
    "待核查": {"下发"},
    "已逾期": {"下发", "逾期"},
    "已回传待读取": {"下发", "已回传"},
    "已结案": {"下发", "已回传", "已读取", "已结案"},
}


def test_the_worklist_and_the_portrait_show_each_case_s_state_and_days_alike(site, tmp_path):
    """Issue 33, item 2: the portrait said 已下发 0 天 新增 where the worklist said 已逾期 or 已上传.
    After September's run (the uploads read), with one more upload waiting: a household in each
    state, its worklist row names the list and row it came from, links to its portrait, and the
    portrait shows the same state and days, with the case's history."""
    home, land = tmp_path / "home", tmp_path / "landing"
    shutil.copytree(site["home"], home, symlinks=True)
    shutil.copytree(site["landing"], land, symlinks=True)
    app = create_app(home, land, today=lambda: dt.date(2026, 10, 10))
    c = TestClient(app, client=("10.0.0.1", 40000), follow_redirects=False)
    assert sign_in(c, "town").status_code == 303
    t = site["mine"]
    listed = sheet(c.get(f"/download/2026-09/{t}/核对疑点清单.xlsx").content)
    data = filled(listed, {2: (dt.date(2026, 10, 5), "维持现状")})
    r = c.post(
        f"/upload/{t}", files={"file": ("疑点.xlsx", data)}, data={"csrf_token": token(c, f"/upload/{t}")}
    )
    assert re.search(r'id="accepted">1<', r.text), r.text[:300]
    found = _worklist_rows(c.get(f"/worklist/{t}", params={"q": "H"}).text)
    assert {row["state"] for row in found} == set(EVENTS_OF)
    for row in found:
        month, name, overdue, line = re.fullmatch(
            r"(\d{4}-\d{2}) (\S+\.xlsx)(「逾期未回传」)? 第 (\d+) 行", row["place"]
        ).groups()
        book = CalamineWorkbook.from_filelike(io.BytesIO(c.get(f"/download/{month}/{t}/{name}").content))
        rows = (book.get_sheet_by_name("逾期未回传") if overdue else book.get_sheet_by_index(0)).to_python()
        assert rows[int(line) - 1][1] == row["id"], row  # the file and row it came from
        portrait = c.get(row["portrait"])
        assert portrait.status_code == 200, row
        mine = re.search(
            rf'<tr><td>{row["id"]}</td><td>[^<]*</td>\s*<td class="state">([^<]*)</td>'
            rf'<td class="timing">([^<]*)</td>',
            portrait.text,
        )
        assert mine is not None and mine.groups() == (row["state"], row["timing"]), row
        assert "v_household_month" not in portrait.text and "v_cases" not in portrait.text  # item 5
        events = re.findall(
            rf'<tr class="event-\w+"><td>[^<]*</td><td>{row["id"]}</td><td>([^<]*)</td>', portrait.text
        )
        assert EVENTS_OF[row["state"]] <= set(events), (row, events)


def test_a_portrait_of_another_township_s_household_is_not_found_and_a_stranger_signs_in(site):
    neighbour, t = signed_in(site, "neighbour"), site["mine"]
    theirs = [r["portrait"] for r in _worklist_rows(neighbour.get(f"/worklist/{site['neighbour']}?q=H").text)]
    mine = [r["portrait"] for r in _worklist_rows(signed_in(site, "town").get(f"/worklist/{t}?q=H").text)]
    assert theirs and mine
    town = signed_in(site, "town")
    household = theirs[0].rsplit("/", 1)[1]
    for path in (theirs[0], mine[0].rsplit("/", 1)[0] + "/" + household):
        assert town.get(path).status_code == 404, path
    assert neighbour.get(mine[0]).status_code == 404
    r = client(site).get(mine[0])
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_files_holding_id_numbers_are_not_readable_by_other_accounts(site):
    home, land = site["home"], site["landing"]
    paths = [home, *home.rglob("*"), *land.glob("2026-*/outcomes.part-*.csv")]
    assert any(p.name == "线索清单.xlsx" for p in paths) and any(p.suffix == ".sqlite" for p in paths)
    for path in paths:
        if not path.is_symlink():
            assert path.stat().st_mode & 0o007 == 0, path
    assert (home / "portal").stat().st_mode & 0o077 == 0


def test_no_page_a_township_sees_shows_a_whole_id_number(site):
    c = signed_in(site, "town")
    t = site["mine"]
    full_id = re.compile(r"\d{17}[\dX]")
    for path in ("/", f"/files/2026-08/{t}", f"/worklist/{t}", f"/worklist/{t}?q=H", f"/upload/{t}"):
        page = c.get(path)
        assert page.status_code == 200 and not full_id.search(page.text), path


def test_users_command(site, tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    (tmp_path / "h").mkdir()
    h = str(tmp_path / "h")
    cli = CliRunner()
    assert (
        cli.invoke(
            app,
            [
                "users",
                "add",
                "--home",
                h,
                "--username",
                "t1",
                "--role",
                "township",
                "--area",
                "430101001",
                "--password",
                PASSWORD,
            ],
        ).exit_code
        == 0
    )
    bad = cli.invoke(
        app,
        [
            "users",
            "add",
            "--home",
            h,
            "--username",
            "t2",
            "--role",
            "township",
            "--area",
            "4301",
            "--password",
            PASSWORD,
        ],
    )
    assert bad.exit_code == 2 and "9-digit" in bad.output
    prompted = cli.invoke(
        app,
        ["users", "add", "--home", h, "--username", "c1", "--role", "county", "--area", "430101"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert cli.invoke(app, ["users", "disable", "--home", h, "--username", "t1"]).exit_code == 0
    listed = cli.invoke(app, ["users", "list", "--home", h]).output
    assert "t1\ttownship\t430101001\tdisabled" in listed and "c1\tcounty\t430101\tactive" in listed
    assert (
        cli.invoke(
            app, ["users", "reset", "--home", h, "--username", "t1", "--password", PASSWORD + "2"]
        ).exit_code
        == 0
    )
    assert "t1\ttownship\t430101001\tactive" in cli.invoke(app, ["users", "list", "--home", h]).output
    assert Path(h, "portal", "accounts.sqlite").stat().st_mode & 0o077 == 0


def test_a_formula_from_outside_cannot_run_in_excel_but_the_auditors_csv_keeps_it(site):
    """The probe: a file name `=HYPERLINK(...)` reaches v_portal_log.file; `query --format csv
    --bom` (Excel, WPS) writes it so that it cannot run, the plain CSV exactly as it came."""
    from typer.testing import CliRunner

    from cli.main import app

    c = signed_in(site, "town")
    t = site["mine"]
    name = "=HYPERLINK(http://evil.example/x,点击查看)"
    c.post(f"/upload/{t}", files={"file": (name, b"x")}, data={"csrf_token": token(c, f"/upload/{t}")})
    logged = [e["file"] for e in audit.read(site["home"]) if "HYPERLINK" in (e["file"] or "")]
    assert logged and logged[-1].startswith("=HYPERLINK")
    sql = "select file, bytes from v_portal_log where file like '%HYPERLINK%' order by \"at\""
    query = ["query", "--home", str(site["home"]), "--format", "csv", sql]
    plain = CliRunner().invoke(app, query)
    excel = CliRunner().invoke(app, [*query, "--bom"])
    assert plain.exit_code == 0 and excel.exit_code == 0, plain.output + excel.output
    exact = list(csv.reader(io.StringIO(plain.stdout_bytes.decode("utf-8"))))
    assert exact[0] == ["file", "bytes"] and [r[0] for r in exact[1:]] == logged
    assert excel.stdout_bytes.startswith(b"\xef\xbb\xbf")
    shown = list(csv.reader(io.StringIO(excel.stdout_bytes.decode("utf-8-sig"))))
    assert [r[0] for r in shown[1:]] == ["'" + f for f in logged] and [r[1] for r in shown] == [
        r[1] for r in exact
    ]


# --- application checks (逢救必核) -----------------------------------------------------------------


def application(site, township: str, serial: int, authorisation: str = "SQ-2026-0001") -> bytes:
    """A new applicant household of two, living in a village of `township`."""
    from safetynet.ids import check_character

    roster = Home(site["home"]).read("roster", "2026-08")
    village = roster.filter(pl.col("division_code").str.starts_with(township))["division_code"].sort()[0]
    ids = [f"430101{birth}{serial + i:03d}" for i, birth in enumerate(("19800101", "20100101"))]
    ids = [body + check_character(body) for body in ids]
    header = "身份证号,姓名,与户主关系,行政区划代码,城乡类别,申报月收入,授权书编号,申请类别\n"
    rows = [
        f"{ids[0]},申甲,户主,{village},农村,300,{authorisation},低保\n",
        f"{ids[1]},申乙,子女,{village},农村,0,{authorisation},低保\n",
    ]
    return (header + "".join(rows)).encode("gbk")


SIGNED = (
    "授权书.pdf",
    b"%PDF-1.7\n" + b"% the applicant's signed authorisation, scanned\n" * 500 + b"%%EOF\n",
    "application/pdf",
)


def apply(c: TestClient, data: bytes, name: str = "申请.csv", signed: tuple | None = SIGNED):
    files = {"file": (name, data, "text/csv")} | ({"authorisation": signed} if signed else {})
    return c.post("/applications", data={"csrf_token": token(c, "/applications")}, files=files)


def test_a_township_checks_an_application_and_only_it_and_its_county_see_the_answer(site):
    town = signed_in(site, "town")
    r = apply(town, application(site, site["mine"], 801))
    assert r.status_code == 303, r.text
    page = town.get(r.headers["location"])
    assert page.status_code == 200 and "核对结论" in page.text and "********" in page.text
    # the report as a page: members' income, each department's assets, every check's result
    assert 'id="assets"' in page.text and "不动产登记机构" in page.text
    assert all(c.label in page.text for c in load_rules().means_checks)
    application_id = r.headers["location"].rsplit("/", 1)[-1]
    pdf = town.get(f"/applications/{application_id}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert application_id in town.get("/applications").text
    entry = applications.find(site["home"], application_id)
    assert entry["account"] == "town" and entry["township_code"] == site["mine"]
    assert entry["report_sha256"] == hashlib.sha256(pdf.content).hexdigest()
    # the county reads it; the neighbouring township, another county and a stranger do not
    county = signed_in(site, "county")
    assert county.get(f"/applications/{application_id}").status_code == 200
    assert apply(county, application(site, site["mine"], 811)).status_code == 404  # read only
    neighbour = signed_in(site, "neighbour")
    for path in (f"/applications/{application_id}", f"/applications/{application_id}/report.pdf"):
        assert neighbour.get(path).status_code == 404
        assert client(site).get(path).headers["location"] == "/login"
    assert application_id not in neighbour.get("/applications").text
    actions = [(e["account"], e["action"], e["result"]) for e in audit.read(site["home"])]
    assert ("town", "application", "ok") in actions and ("town", "download", "ok") in actions


def test_an_application_for_another_township_or_without_a_token_is_refused_and_only_logged(site):
    town = signed_in(site, "town")
    before = len(applications.records(site["home"]))
    r = apply(town, application(site, site["neighbour"], 821))
    assert r.status_code == 400 and "不属于本账户的辖区" in r.text
    # the refusal names the office whose area it is
    neighbour_name = (
        Home(site["home"])
        .read("divisions", "2026-08")
        .filter(pl.col("division_code") == site["neighbour"])["name"][0]
    )
    assert f"{neighbour_name}（{site['neighbour']}）" in r.text
    r = apply(town, application(site, site["mine"], 825), signed=None)
    assert r.status_code == 400 and "未上传申请人签署的授权书" in r.text
    r = apply(town, application(site, site["mine"], 831, authorisation=""))
    assert r.status_code == 400 and "授权书编号：必填项为空" in r.text and "第2行" in r.text
    no_token = town.post("/applications", files={"file": ("a.csv", application(site, site["mine"], 841))})
    assert no_token.status_code == 403
    assert len(applications.records(site["home"])) == before
    refused = [e for e in read_log(site) if e["status"] == "refused"]
    assert [e["account"] for e in refused[-2:]] == ["town", "town"]


def read_log(site) -> list[dict]:
    folder = applications.log_folder(site["home"])
    return [json.loads(line) for p in sorted(folder.glob("*.jsonl")) for line in p.read_text().splitlines()]


def test_an_application_entered_in_the_form_is_checked_and_a_bad_row_named(site):
    town = signed_in(site, "town")
    rows = [line.split(",") for line in application(site, site["mine"], 851).decode("gbk").splitlines()[1:]]
    page = town.get("/applications")
    assert 'id="entry"' in page.text and page.text.count('name="id_number"') == applications.FORM_ROWS
    form = {
        "csrf_token": token(town, "/applications"),
        "authorisation_ref": "SQ-2026-0851",
        "applied_for": "低保",
        "name": [r[1] for r in rows] + [""],
        "id_number": [r[0] for r in rows] + [""],
        "relation": ["户主", "子女", "子女"],
        "division_code": [r[3] for r in rows] + [site["mine"]],  # an empty row keeps its prefilled code
        "residence_type": ["农村"] * 3,
        "labour_capacity": ["有", "", ""],
        "health_status": ["", "", ""],
        "declared_monthly_income": ["300", "", ""],
    }
    r = town.post("/applications", data=form, files={"authorisation": SIGNED})
    assert r.status_code == 303, r.text
    entry = applications.find(site["home"], r.headers["location"].rsplit("/", 1)[-1])
    assert (entry["members"], entry["file"], entry["authorisation_ref"]) == (
        2,
        applications.FORM_FILE,
        "SQ-2026-0851",
    )
    bad = form | {"csrf_token": token(town, "/applications")}
    bad["id_number"] = [rows[0][0], rows[1][0][:-1] + ("1" if rows[1][0][-1] != "1" else "2"), ""]
    r = town.post("/applications", data=bad, files={"authorisation": SIGNED})
    assert r.status_code == 400 and "第2名成员 身份证号：身份证号校验码错误" in r.text
    # the form comes back as it was filled in: nothing to type again
    assert f'value="{rows[0][1]}"' in r.text and 'value="SQ-2026-0851"' in r.text


def test_a_township_probing_another_township_s_resident_is_held_and_only_its_county_releases_it(site):
    """The issue's probe: a neighbour's resident, typed with one's own village and a made-up 授权书编号.
    The check is held; the township's pages show nothing of his assets or his household; a stranger,
    the neighbour and the township itself cannot release it; the county does, then the answer shows."""
    roster = Home(site["home"]).read("roster", "2026-08")
    victim = (
        roster.filter(pl.col("division_code").str.starts_with(site["neighbour"]))
        .sort("id_number")
        .row(0, named=True)
    )
    village = roster.filter(pl.col("division_code").str.starts_with(site["mine"]))["division_code"].sort()[0]
    probe = (
        "身份证号,姓名,与户主关系,行政区划代码,城乡类别,申报月收入,授权书编号,申请类别\n"
        f"{victim['id_number']},{victim['name']},户主,{village},农村,0,随便写的,低保\n"
    ).encode()
    town = signed_in(site, "town")
    r = apply(town, probe)
    assert r.status_code == 303, r.text
    application_id = r.headers["location"].rsplit("/", 1)[-1]
    page = town.get(f"/applications/{application_id}")
    assert page.status_code == 200 and "待县（区）民政局审核放行" in page.text
    for secret in (
        'id="assets"',
        'id="members"',
        "不动产",
        "存款",
        victim["household_id"],
        site["neighbour"],
    ):
        assert secret not in page.text, secret
    assert town.get(f"/applications/{application_id}/report.pdf").status_code == 404
    listing = town.get("/applications").text
    assert application_id in listing and victim["household_id"] not in listing
    assert "本日第几次核对" not in listing  # a count of 1 on a held check told it why it was held
    for path in (f"/applications/{application_id}", f"/applications/{application_id}/report.pdf"):
        assert signed_in(site, "neighbour").get(path).status_code == 404  # another township's
        assert client(site).get(path).headers["location"] == "/login"
    release = f"/applications/{application_id}/release"
    stranger = client(site)
    assert stranger.post(release, data={"csrf_token": token(stranger)}).headers["location"] == "/login"
    for name in ("town", "neighbour"):
        c = signed_in(site, name)
        assert c.post(release, data={"csrf_token": token(c, "/applications")}).status_code == 404
    county = signed_in(site, "county")
    held = county.get("/applications")
    assert application_id in held.text and f'action="{release}"' in held.text
    assert "本日第几次核对" in held.text  # counts and reasons are the county's
    assert site["neighbour"] in county.get(f"/applications/{application_id}").text  # the county reads why
    assert county.post(release, data={}).status_code == 403  # no CSRF token
    assert applications.find(site["home"], application_id)["status"] == "held"
    r = county.post(release, data={"csrf_token": token(county, "/applications")})
    assert r.status_code == 303 and r.headers["location"] == f"/applications/{application_id}"
    again = county.post(release, data={"csrf_token": token(county, "/applications")})  # a double-click
    assert again.status_code == 303 and again.headers["location"] == f"/applications/{application_id}"
    shown = town.get(f"/applications/{application_id}")
    assert shown.status_code == 200 and 'id="assets"' in shown.text and "核对结论" in shown.text
    assert town.get(f"/applications/{application_id}/report.pdf").content.startswith(b"%PDF")
    entry = applications.find(site["home"], application_id)
    assert (entry["status"], entry["account"], entry["released_by"]) == ("checked", "town", "county")
    actions = [(e["account"], e["action"], e["result"]) for e in audit.read(site["home"])]
    assert ("town", "application", "held") in actions and ("county", "release", "ok") in actions


def test_a_refusal_at_release_is_shown_masked_to_the_office_that_asked(site):
    """Between the hold and the release the neighbour checked the same person in its own
    application: the release is refused, and that refusal was the application's last line, so
    the township that asked (and the county) got 404 for it from then on."""
    roster = Home(site["home"]).read("roster", "2026-08")
    victim = (
        roster.filter(pl.col("division_code").str.starts_with(site["neighbour"]))
        .sort("id_number")
        .row(1, named=True)
    )
    header = "身份证号,姓名,与户主关系,行政区划代码,城乡类别,申报月收入,授权书编号,申请类别\n"

    def alone(township: str, head: str = "") -> bytes:
        """The victim as the head, or as a child of a new head (another household)."""
        village = roster.filter(pl.col("division_code").str.starts_with(township))["division_code"].sort()[0]
        relation = "子女" if head else "户主"
        rows = f"{victim['id_number']},{victim['name']},{relation},{village},农村,0,SQ-1,低保\n"
        if head:
            rows = f"{head},新户主,户主,{village},农村,0,SQ-1,低保\n" + rows
        return (header + rows).encode()

    town = signed_in(site, "town")
    r = apply(town, alone(site["mine"]))
    application_id = r.headers["location"].rsplit("/", 1)[-1]
    assert applications.find(site["home"], application_id)["status"] == "held"
    head = "43010119700101961"
    neighbour = signed_in(site, "neighbour")  # its own resident, in another household
    assert apply(neighbour, alone(site["neighbour"], head + check_character(head))).status_code == 303
    county = signed_in(site, "county")
    release = f"/applications/{application_id}/release"
    refused = county.post(release, data={"csrf_token": token(county, "/applications")})
    assert refused.status_code == 400 and "另一户的申请" in refused.text
    for c in (town, county):
        page = c.get(f"/applications/{application_id}")
        assert page.status_code == 200 and "另一户的申请" in page.text, page.text
        assert victim["id_number"] not in page.text and victim["id_number"][:6] + "********" in page.text
    assert signed_in(site, "neighbour").get(f"/applications/{application_id}").status_code == 404
    again = county.post(release, data={"csrf_token": token(county, "/applications")})
    assert again.status_code == 303 and again.headers["location"] == f"/applications/{application_id}"


def test_the_library_drops_pruned_months_and_what_names_its_commit_sees_a_prune(tmp_path):
    """After `safetynet prune` removed August's build (the catalog still names it), the portal lists
    no August (its folders would be "not found") and the keys of what it caches per commit change
    (`Library.commit`, `uploads.commit_key`), though the commit is the same."""
    from test_prune import MONTHLY, _home

    from jobs.publish.prune import apply
    from portal import uploads
    from portal.files import Library
    from safetynet.lake import Home

    root = _home(tmp_path, MONTHLY)
    library = Library(root)
    assert library.months() == ["2026-10", "2026-09", "2026-08", "2026-07"]
    commit, key = library.commit(), uploads.commit_key(Home(root))
    assert commit == "commits/4"
    apply(root, 1, shorter_than_window=True)
    assert library.months() == ["2026-10", "2026-09", "2026-07"]
    assert library.townships("2026-08") == [] and library.folder("2026-08", "130102001") is None
    assert library.commit().startswith("commits/4+pruned") and uploads.commit_key(Home(root)) != key


# issue 34 review: the upload index of a commit is built by one thread, behind that commit's latch only
@dataclasses.dataclass(frozen=True)
class _Commit:
    """What `uploads.commit_key` reads of a home."""

    root: Path
    commit: int
    catalog: dict = dataclasses.field(default_factory=dict, hash=False)


def test_an_upload_index_is_built_once_and_blocks_no_other_commit(monkeypatch):
    """Forty home pages and uploads right after a commit start one build of its index (before: a
    thread per home page, each queued on one global lock); an upload against another commit is
    answered while the first is still being built (before: it queued behind that build)."""
    monkeypatch.setattr(uploads, "_INDEXES", {})
    slow, fast = _Commit(Path("/a"), 2), _Commit(Path("/b"), 3)
    builds: list[int] = []
    building, release = threading.Event(), threading.Event()

    def build(home):
        builds.append(home.commit)
        if home is slow:
            building.set()
            release.wait(10)
        return uploads.Index(
            pl.DataFrame(schema=uploads.ISSUED), pl.Series([], dtype=pl.String), pl.DataFrame()
        )

    monkeypatch.setattr(uploads, "_make_index", build)
    started = []

    class Counted(threading.Thread):
        def start(self):
            started.append(self)
            super().start()

    monkeypatch.setattr(threading, "Thread", Counted)
    got: list[uploads.Index] = []
    callers = [
        Counted(target=lambda: got.append(uploads.commit_index(slow)))
        if i % 2
        else Counted(target=uploads.prepare, args=(slow,))
        for i in range(40)
    ]
    for caller in callers:
        caller.start()
    assert building.wait(5)
    other = Counted(target=lambda: got.append(uploads.commit_index(fast)))
    other.start()
    other.join(2)
    assert not other.is_alive(), "a lookup of another commit waited for this commit's build"
    release.set()
    for caller in callers:
        caller.join(10)
    assert sorted(builds) == [slow.commit, fast.commit]
    assert len(got) == 21 and len({id(index) for index in got}) == 2  # each commit's one index
    # the callers, the other lookup, and at most one builder thread: none when a lookup came first
    # and built the index itself, which the scheduler decides
    assert 41 <= len(started) <= 41 + 1
    before = len(started)
    for _ in range(5):
        uploads.prepare(slow)  # made: no thread
    assert len(started) == before and builds.count(slow.commit) == 1
