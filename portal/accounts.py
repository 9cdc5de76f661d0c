"""Portal accounts: a small SQLite database under `<home>/portal/`, created on first use.

A township office has one township code (9 digits), a county office one county code (6 digits,
every township of it, read-only), the data team (`admin`) everything. Passwords are hashed with
Argon2 (pwdlib), at least `password_min_length` characters and not common or guessable (zxcvbn's
score, offline, at least `password_min_score`). Failed sign-ins are counted over `lockout_minutes`
(rules/portal/portal.yaml) three ways: per account and client address (after `lockout_failures` the
account is locked for that address only, so a stranger elsewhere cannot lock a township out with a
few guesses); per account from every address (`lockout_account_failures`: rotating addresses, e.g.
`X-Forwarded-For` behind a trusted proxy, cannot guess without limit); per address, the user names
tried from it (`lockout_address_accounts`: a guesser across accounts, while an office behind one
address typing its own few accounts wrong is not locked whole). A lock of the last two kinds is an
alert to the data team, at most once per lock window for an account (one that exists) and once per
window for any address (a sprayer rotating addresses raises one), the name typed escaped. Disabling
an account or resetting or changing its password ends its sessions (the session carries the
account's `epoch`).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from pwdlib import PasswordHash
from zxcvbn import zxcvbn

from safetynet import alerts
from safetynet.errors import SafetynetError
from safetynet.rules import PortalSettings, load_portal

ROLES = ("township", "county", "admin")
AREA = {"township": re.compile(r"[0-9]{9}"), "county": re.compile(r"[0-9]{6}"), "admin": re.compile(r"")}
USERNAME = re.compile(r"[A-Za-z0-9_.-]{2,40}")
SCHEMA = """
create table if not exists accounts (
    username text primary key,
    role text not null,
    area text not null,
    password_hash text not null,
    disabled integer not null default 0,
    epoch integer not null default 0,
    created_at text not null
);
create table if not exists failures (
    username text not null,
    address text not null,
    at text not null
);
create index if not exists failures_by_account on failures (username, address, at);
create index if not exists failures_by_address on failures (address, at);
create table if not exists lock_alerts (
    kind text not null,
    key text not null,
    at text not null
);
create table if not exists sessions (
    id text primary key,
    username text not null,
    started_at text not null
);
"""
HASHER = PasswordHash.recommended()
# verified against when the account does not exist, so that an unknown user costs the same time
_DUMMY = HASHER.hash("not a password of anyone")


class AccountError(SafetynetError):
    """An account command that cannot be done as asked."""


class WeakPassword(AccountError):
    """A password the policy refuses; `chinese` says why to the portal's users."""

    def __init__(self, message: str, chinese: str) -> None:
        super().__init__(message)
        self.chinese = chinese


@dataclass(frozen=True)
class Failures:
    """Failed sign-ins within the lockout window: this account at this address, this account at
    every address; and the user names tried from this address."""

    here: int
    account: int
    address: int

    def locked(self, settings: PortalSettings) -> bool:
        return (
            self.here >= settings.lockout_failures
            or self.account >= settings.lockout_account_failures
            or self.address >= settings.lockout_address_accounts
        )


@dataclass(frozen=True)
class Account:
    username: str
    role: str
    area: str
    disabled: bool
    epoch: int
    created_at: str

    def townships(self, all_townships: list[str]) -> list[str]:
        """The townships this account may see, of those that have files."""
        if self.role == "admin":
            return list(all_townships)
        return [t for t in all_townships if t.startswith(self.area)]

    def may_see(self, township: str) -> bool:
        return self.role == "admin" or township.startswith(self.area)

    @property
    def may_upload(self) -> bool:
        return self.role == "township"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Accounts:
    def __init__(self, home: Path, settings: PortalSettings):
        self.home = home
        folder = home / "portal"
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        self.path = folder / "accounts.sqlite"
        self.settings = settings
        self._local = threading.local()
        with self._connect() as con:
            con.execute("pragma journal_mode = wal")
            con.executescript(SCHEMA)
        self.path.chmod(0o600)

    def _connect(self) -> sqlite3.Connection:
        """One connection per thread, kept (autocommit; `sign_in` opens its own transaction)."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        return con

    def _row(self, con: sqlite3.Connection, username: str) -> Account | None:
        row = con.execute(
            "select username, role, area, disabled, epoch, created_at from accounts where username = ?",
            [username],
        ).fetchone()
        return Account(row[0], row[1], row[2], bool(row[3]), row[4], row[5]) if row else None

    def get(self, username: str) -> Account | None:
        with self._connect() as con:
            return self._row(con, username)

    def add(self, username: str, role: str, area: str, password: str) -> Account:
        if not USERNAME.fullmatch(username):
            raise AccountError(f"username {username!r}: 2-40 letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise AccountError(f"role {role!r}: one of {', '.join(ROLES)}")
        area = area or ""
        if not AREA[role].fullmatch(area):
            need = {"township": "a 9-digit township code", "county": "a 6-digit county code"}
            raise AccountError(
                f"--area {area!r}: a {role} account needs {need.get(role, 'no area')}"
                if role != "admin"
                else "--area: an admin account has no area"
            )
        check_password(password, username, self.settings)
        with self._connect() as con:
            if self._row(con, username):
                raise AccountError(f"account {username} exists (use `safetynet users reset`)")
            con.execute(
                "insert into accounts values (?, ?, ?, ?, 0, 0, ?)",
                [username, role, area, HASHER.hash(password), _now().isoformat(timespec="seconds")],
            )
            return self._row(con, username)

    def list(self) -> list[Account]:
        with self._connect() as con:
            names = [r[0] for r in con.execute("select username from accounts order by username")]
            return [self._row(con, n) for n in names]

    def disable(self, username: str) -> None:
        with self._connect() as con:
            if not self._row(con, username):
                raise AccountError(f"no account {username}")
            con.execute("update accounts set disabled = 1, epoch = epoch + 1 where username = ?", [username])
            con.execute("delete from sessions where username = ?", [username])

    def reset(self, username: str, password: str) -> None:
        """A new password; the account is enabled again, its sessions end and its locks are lifted."""
        check_password(password, username, self.settings)
        with self._connect() as con:
            if not self._row(con, username):
                raise AccountError(f"no account {username}")
            con.execute(
                "update accounts set password_hash = ?, disabled = 0, epoch = epoch + 1 where username = ?",
                [HASHER.hash(password), username],
            )
            con.execute("delete from failures where username = ?", [username])
            con.execute("delete from sessions where username = ?", [username])

    def change_password(self, username: str, old: str, new: str, address: str) -> Account | None:
        """A user's own change: the old password is checked as a sign-in is (a wrong one counts as a
        failure, a locked account cannot change), the new one by the policy (WeakPassword). Every
        session of the account ends; None when the old password is not accepted."""
        check_password(new, username, self.settings)
        if self.sign_in(username, old, address) is None:
            return None
        with self._connect() as con:
            con.execute(
                "update accounts set password_hash = ?, epoch = epoch + 1 where username = ?",
                [HASHER.hash(new), username],
            )
            con.execute("delete from sessions where username = ?", [username])
            return self._row(con, username)

    def sign_in(self, username: str, password: str, address: str) -> Account | None:
        """The account, or None: unknown, disabled, locked for this address or a wrong password all
        look the same to the caller (and cost one Argon2 verification each). The attempt is counted
        as a failure before the password is checked, and the count is read in the same write
        transaction, so concurrent guesses from one address cannot exceed the limit."""
        with self._connect() as con:
            con.execute("begin immediate")
            failures = self._failures(con, username, address)
            con.execute("insert into failures values (?, ?, ?)", [username, address, _now().isoformat()])
            row = con.execute(
                "select password_hash, disabled from accounts where username = ?", [username]
            ).fetchone()
            due = self._alerts_due(con, username, address, exists=row is not None)
            con.execute("commit")
            enabled = row is not None and not row[1]
            valid = HASHER.verify(password, row[0] if enabled else _DUMMY) and enabled
            if valid and not failures.locked(self.settings):
                con.execute("delete from failures where username = ? and address = ?", [username, address])
                return self._row(con, username)
        self._alert(due, username, address)
        return None

    def _failures(self, con: sqlite3.Connection, username: str, address: str) -> Failures:
        since = (_now() - dt.timedelta(minutes=self.settings.lockout_minutes)).isoformat()
        return Failures(
            *con.execute(
                "select count(*) filter (where username = ? and address = ?),"
                " count(*) filter (where username = ?), count(distinct username) filter (where address = ?)"
                " from failures where at > ? and (username = ? or address = ?)",
                [username, address, username, address, since, username, address],
            ).fetchone()
        )

    def _alerts_due(self, con: sqlite3.Connection, username: str, address: str, exists: bool) -> list[str]:
        """The locks this failure (counted) leaves that the data team has not been told of within the
        window, recorded as told (in the sign-in's write transaction: one failure tells each): an
        account's, only for an account that exists; an address's, once for any address."""
        s = self.settings
        after = self._failures(con, username, address)
        since = (_now() - dt.timedelta(minutes=s.lockout_minutes)).isoformat()
        locks = {"account": exists and after.account >= s.lockout_account_failures}
        locks["address"] = after.address >= s.lockout_address_accounts
        due = []
        for kind, key in (("account", username), ("address", "")):
            told = con.execute(
                "select 1 from lock_alerts where kind = ? and key = ? and at > ?", [kind, key, since]
            ).fetchone()
            if locks[kind] and not told:
                con.execute("insert into lock_alerts values (?, ?, ?)", [kind, key, _now().isoformat()])
                due.append(kind)
        return due

    def _alert(self, due: list[str], username: str, address: str) -> None:
        """The data team told of each lock due (safetynet/alerts.py); the name typed is escaped as the
        audit log writes it (a line break must not reach a mail header or the alert command)."""
        s, minutes, name = self.settings, f"{self.settings.lockout_minutes:g} minutes", escaped(username)
        if "account" in due:
            subject = (
                f"safetynet portal: account {name} locked for every address, "
                f"{s.lockout_account_failures} failed sign-ins within {minutes} (the last from {address})"
            )
            body = (
                "Someone may be guessing its password from rotating addresses; "
                "`safetynet users reset` lifts the lock."
            )
            alerts.notify(self.home, "portal_lockout", subject, body, account=name, address=address)
        if "address" in due:
            subject = (
                f"safetynet portal: address {address} locked for every account, "
                f"{s.lockout_address_accounts} user names tried within {minutes} (the last {name})"
            )
            body = (
                "Someone may be guessing passwords across accounts from this address. Other addresses "
                f"locked within {minutes} are not told again: v_portal_log lists every failed sign-in."
            )
            alerts.notify(self.home, "portal_lockout", subject, body, account=name, address=address)

    def open_session(self, username: str) -> str:
        sid = secrets.token_urlsafe(24)
        expired = (_now() - dt.timedelta(hours=self.settings.session_hours)).isoformat()
        with self._connect() as con:
            con.execute("delete from sessions where started_at < ?", [expired])
            con.execute("insert into sessions values (?, ?, ?)", [sid, username, _now().isoformat()])
        return sid

    def session_open(self, sid: str, username: str) -> bool:
        with self._connect() as con:
            row = con.execute(
                "select 1 from sessions where id = ? and username = ?", [sid, username]
            ).fetchone()
        return row is not None

    def close_session(self, sid: str) -> None:
        """Sign-out: the session ends on the server, so a copy of its cookie is worth nothing."""
        with self._connect() as con:
            con.execute("delete from sessions where id = ?", [sid])

    def locked(self, username: str, address: str) -> bool:
        with self._connect() as con:
            return self._failures(con, username, address).locked(self.settings)


def escaped(name: str, limit: int = 64) -> str:
    """A name someone typed, fit for the audit trail: at most `limit` characters, each one that
    does not print (a line break, a control character) written as its escape, so a typed name
    cannot forge or break a log line."""
    cut = name[:limit]
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in cut)
    return text + ("…" if len(name) > limit else "")


def check_password(password: str, username: str, settings: PortalSettings) -> None:
    """Raise WeakPassword for a password too short, or one zxcvbn guesses too easily (offline: common
    passwords, words, names, dates, keyboard patterns, the account's own name)."""
    least = settings.password_min_length
    if len(password) < least:
        raise WeakPassword(f"a password needs at least {least} characters", f"密码至少需要 {least} 个字符")
    words = [username, *settings.password_site_words]
    found = zxcvbn(password[:72], user_inputs=words)  # zxcvbn's own length limit
    if found["score"] < settings.password_min_score:
        hint = found["feedback"].get("warning") or "it is easy to guess"
        raise WeakPassword(
            f"a password that is common or easy to guess is refused ({hint}); "
            "use several uncommon words or a random one",
            "密码过于常见或容易被猜到，请换一个：可用几个不常见的词组合，或随机生成的密码",
        )


def strong_password() -> str:
    """A random password the policy accepts (the demo's accounts)."""
    settings = load_portal()
    while True:
        password = secrets.token_urlsafe(12)  # 16 characters, 96 random bits
        try:
            check_password(password, "", settings)
            return password
        except WeakPassword:
            continue
