"""The decision log (CONTRACT.md "Assistance decisions", version 3): every step of a proposal for
assistance, one JSON line each, appended to `<home>/lake/_decision_log/<YYYY-MM>.jsonl` (by the
step's month, China time) and flushed to disk before the answer goes out, as portal/audit.py writes
`_portal_log`. A township proposes (`proposed`, version 1), the county returns it with a reason
(`returned`) or approves it (`approved`, with its `decision_id`); a returned proposal corrected by
the township is a new `proposed` line with the same `proposal_id` and the next version. Lines are
only ever appended. The run reads these files itself (jobs/ never imports portal/); `proposals`
gives the pages each proposal's latest state.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from jobs.decisions import log as decision_log
from jobs.decisions.confirm import CONFIRMED, UNCONFIRMED
from jobs.decisions.confirm import PENDING as NOT_YET
from jobs.decisions.confirm import SCHEMA as STATE_SCHEMA
from jobs.decisions.log import checked_line
from safetynet.ids import mask_id
from safetynet.lake import Home, append_line

# a line's fields, the events and China's time are the run's (jobs/decisions/log.py): one interface
CHINA, EVENTS = decision_log.CHINA, decision_log.EVENTS
FIELDS = tuple(decision_log.FIELDS)
# a proposal's state as the pages name it: the event of its latest line
PENDING, RETURNED, APPROVED = "待审批", "已退回", "已批准"
STATES = {"proposed": PENDING, "returned": RETURNED, "approved": APPROVED}
UNREADABLE = "审批记录暂时无法读取，已通知数据管理员。"  # what an office sees of a broken log line
PROPOSAL_ID = re.compile(r"SB[0-9]{6}-[0-9A-Za-z]+-[0-9]{2}")


class StepRefused(Exception):
    """A step the proposal's state does not allow now (approved twice, returned once approved)."""


def folder(home: Path) -> Path:
    return home / "lake" / "_decision_log"


def line(event: str, at: dt.datetime, **fields: object) -> dict:
    """One step with every field of the contract (null when not applicable)."""
    if event not in EVENTS:
        raise ValueError(f"decision log: unknown event {event!r}")
    entry = {k: None for k in FIELDS} | {"self_approved": False}
    entry |= {k: v for k, v in fields.items() if k in FIELDS}
    return entry | {"event": event, "at": at.astimezone(CHINA).isoformat(timespec="seconds")}


def append(home: Path, entry: dict) -> dict:
    """A step appended to the file of its month (China time), flushed before the caller answers."""
    month = entry["at"][:7]
    append_line(folder(home) / f"{month}.jsonl", json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
    return entry


@contextlib.contextmanager
def locked(home: Path) -> Iterator[None]:
    """One step at a time across the portal's processes: the state a step is checked against (a
    proposal's latest line, a household's next sequence) is the state it is appended to."""
    folder(home).mkdir(parents=True, exist_ok=True)
    with open(folder(home) / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read(home: Path) -> list[dict]:
    """Every step, in the order they were appended (files by month), each line checked as the run
    checks it (jobs/decisions/log.py): a line that cannot be read is DecisionLogError naming the
    file and the line (the pages answer it with app.py's `unreadable_log`)."""
    out = []
    for path in sorted(folder(home).glob("*.jsonl")):
        where = f"lake/{folder(home).name}/{path.name}, line"
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if text.strip():
                entry = checked_line(text, f"{where} {number}")
                out.append({k: entry[k] for k in FIELDS})
    return out


def next_proposal_id(steps: list[dict], household_id: str, at: dt.datetime) -> str:
    """SB + the month of the first proposal + the household + its 2-digit sequence that month."""
    prefix = f"SB{at.astimezone(CHINA):%Y%m}-{household_id}-"
    taken = {s["proposal_id"] for s in steps if s["proposal_id"].startswith(prefix)}
    return f"{prefix}{len(taken) + 1:02d}"


def decision_id(proposal_id: str) -> str:
    return "JD" + proposal_id[2:]


def state_of(steps: list[dict]) -> dict:
    """A proposal's latest state from its steps (in order): the latest proposal's fields, its
    state, who proposed and when it was first and last proposed, the latest return's reason,
    the approval, and every step (its history)."""
    proposed = [s for s in steps if s["event"] == "proposed"]
    latest, last = proposed[-1], steps[-1]
    returns = [s for s in steps if s["event"] == "returned"]
    approved = next((s for s in steps if s["event"] == "approved"), None)
    return latest | {
        "state": STATES[last["event"]],
        "event": last["event"],
        "first_at": proposed[0]["at"],
        "proposed_at": latest["at"],
        "proposed_by": latest["account"],
        "proposed_role": latest["role"],
        "returned_reason": returns[-1]["reason"] if returns else None,
        "returned_by": returns[-1]["account"] if returns else None,
        "approved_at": approved["at"] if approved else None,
        "approved_by": approved["account"] if approved else None,
        "decision_id": approved["decision_id"] if approved else None,
        "self_approved": bool(approved and approved["self_approved"]),
        "steps": steps,
    }


def proposals(home: Path, township: str | None = None, county: str | None = None) -> list[dict]:
    """Each proposal's latest state (`state_of`), of one township or county if given, in the
    order they were first proposed."""
    by_id: dict[str, list[dict]] = {}
    for s in read(home):
        if township and s["township_code"] != township:
            continue
        if county and s["county_code"] != county:
            continue
        by_id.setdefault(s["proposal_id"], []).append(s)
    return [state_of(steps) for steps in by_id.values() if any(s["event"] == "proposed" for s in steps)]


def proposal(home: Path, proposal_id: str) -> dict | None:
    """One proposal's latest state, or None."""
    if not PROPOSAL_ID.fullmatch(proposal_id):
        return None
    steps = [s for s in read(home) if s["proposal_id"] == proposal_id]
    return state_of(steps) if any(s["event"] == "proposed" for s in steps) else None


def worklist(found: list[dict]) -> list[dict]:
    """A county's worklist: pending first, each part oldest first (by when it was last proposed)."""
    order = {PENDING: 0, RETURNED: 1, APPROVED: 2}
    return sorted(found, key=lambda p: (order[p["state"]], p["proposed_at"], p["proposal_id"]))


class OwnProposal(StepRefused):
    """An account deciding a proposal it made (any version of it)."""


class AlreadyOpen(StepRefused):
    """A proposal of the same kind for the same case is still open (pending or returned): a second
    click on 提交, or the same proposal made twice. `proposal_id` names the open one."""

    def __init__(self, proposal_id: str) -> None:
        super().__init__(f"{proposal_id} is still open")
        self.proposal_id = proposal_id


def open_proposal(steps: list[dict], case_id: str, kind: str) -> str | None:
    """The id of a proposal of `kind` for the case still open (its latest step not an approval)."""
    latest: dict[str, dict] = {}
    for s in steps:
        if s["case_id"] == case_id:
            latest[s["proposal_id"]] = s
    return next((p for p, s in latest.items() if s["kind"] == kind and s["event"] != "approved"), None)


class AlreadyApproved(StepRefused):
    """A proposal of the same kind for the same case was approved: a case is decided once for a
    kind (a change is 调整金额 or 退出), except the kinds that recur (`RECURRING`). `proposal_id`
    names the approved one."""

    def __init__(self, proposal_id: str) -> None:
        super().__init__(f"{proposal_id} is approved")
        self.proposal_id = proposal_id


# the kinds a case may be granted again after an approval: temporary help for each new hardship,
# an amount adjusted whenever the household's income changes
RECURRING = ("临时救助", "调整金额")


def approved_proposal(steps: list[dict], case_id: str, kind: str) -> str | None:
    """The id of an approved proposal of `kind` for the case, unless the kind recurs."""
    if kind in RECURRING:
        return None
    found = (s for s in steps if s["case_id"] == case_id and s["kind"] == kind and s["event"] == "approved")
    return next((s["proposal_id"] for s in found), None)


# what a proposal carries on every line of it, so that each line says what was decided
CARRIED = (
    "proposal_id",
    "version",
    "case_id",
    "household_id",
    "township_code",
    "county_code",
    "kind",
    "category",
    "id_numbers",
    "monthly_amount",
    "one_off_amount",
    "effective_from",
)


def propose(
    home: Path,
    fields: dict,
    account: str,
    role: str,
    now: dt.datetime,
    resubmit: str | None = None,
    self_approve: bool = False,
) -> dict:
    """A proposal appended (version 1), or a returned one corrected (`resubmit`: its id, the
    next version); with `self_approve`, approved at once by the proposing township (先行救助,
    the caller has checked the limit). Its state after the step. AlreadyOpen when a proposal of
    the kind for the case is pending or returned (one case, one open proposal of a kind);
    AlreadyApproved when one was approved (`approved_proposal`)."""
    with locked(home):
        steps = read(home)
        if resubmit is None:
            if (found := open_proposal(steps, fields["case_id"], fields["kind"])) is not None:
                raise AlreadyOpen(found)
            if (found := approved_proposal(steps, fields["case_id"], fields["kind"])) is not None:
                raise AlreadyApproved(found)
            pid, version = next_proposal_id(steps, fields["household_id"], now), 1
        else:
            mine = [s for s in steps if s["proposal_id"] == resubmit]
            if not mine or mine[-1]["event"] != "returned":
                raise StepRefused(f"{resubmit}: only a returned proposal is corrected")
            pid, version = resubmit, max(s["version"] for s in mine) + 1
        entry = line("proposed", now, **fields, proposal_id=pid, version=version, account=account, role=role)
        added = [append(home, entry)]
        if self_approve:
            approval = {k: entry[k] for k in CARRIED} | {"reason": entry["reason"]}
            added.append(
                append(
                    home,
                    line(
                        "approved",
                        now,
                        **approval,
                        account=account,
                        role=role,
                        decision_id=decision_id(pid),
                        self_approved=True,
                    ),
                )
            )
        before = [s for s in steps if s["proposal_id"] == pid]
        return state_of(before + added)


def decide(
    home: Path, proposal_id: str, event: str, account: str, role: str, reason: str | None, now: dt.datetime
) -> dict:
    """A pending proposal returned (with its reason) or approved by another account than any that
    proposed it. Its state after the step; StepRefused when it is no longer pending."""
    if event not in ("returned", "approved"):
        raise ValueError(f"decision log: {event!r} is not a decision")
    with locked(home):
        steps = [s for s in read(home) if s["proposal_id"] == proposal_id]
        if not steps or steps[-1]["event"] != "proposed":
            raise StepRefused(f"{proposal_id}: not pending")
        if account in {s["account"] for s in steps if s["event"] == "proposed"}:
            raise OwnProposal(f"{proposal_id}: proposed by {account}, who may not decide it")
        latest = steps[-1]
        carried = {k: latest[k] for k in CARRIED}
        entry = line(
            event,
            now,
            **carried,
            reason=reason if event == "returned" else latest["reason"],
            account=account,
            role=role,
            decision_id=decision_id(proposal_id) if event == "approved" else None,
        )
        return state_of([*steps, append(home, entry)])


# --- what the roster made of the approved decisions (jobs/decisions/confirm.py) ------------------

# the order the county reads them in: stalled first, then those still awaited, then arrived
ROSTER_ORDER = {UNCONFIRMED: 0, NOT_YET: 1, CONFIRMED: 2}


def roster_states(home: Home) -> pl.DataFrame:
    """Every approved decision's state as of the latest published month (`_decision_states`,
    待落实 / 已落实 / 未落实 with since), empty before any month has them."""
    for month in sorted(home.catalog, reverse=True):
        found = home.read("_decision_states", month)
        if found is not None:
            return found
    return pl.DataFrame(schema=STATE_SCHEMA)


def arrivals(home: Home, township: str | None = None, county: str | None = None) -> list[dict]:
    """The decisions of a township or county (all, for neither) in their roster state: 未落实 first,
    then 待落实, then 已落实 most recent first; id numbers masked, each with its proposal's amounts
    from the log (`proposal_id`, `monthly_amount`, `one_off_amount`)."""
    found = roster_states(home)
    if township:
        found = found.filter(pl.col("township_code") == township)
    if county:
        found = found.filter(pl.col("county_code") == county)
    rows = found.to_dicts()
    # within a state, the latest first: by the month it entered it, then by approval
    latest = lambda r: (r["since"] or "", r["approved_on"] or dt.date.min, r["decision_id"])  # noqa: E731
    rows.sort(key=latest, reverse=True)
    rows.sort(key=lambda r: ROSTER_ORDER.get(r["state"], 3))
    decided = {p["decision_id"]: p for p in proposals(home.root, township, county) if p["decision_id"]}
    amounts = ("proposal_id", "monthly_amount", "one_off_amount")
    return [
        r
        | dict.fromkeys(amounts)
        | {k: decided[r["decision_id"]][k] for k in amounts if r["decision_id"] in decided}
        | {"masked": [mask_id(i) for i in r["id_numbers"] or []]}
        for r in rows
    ]
