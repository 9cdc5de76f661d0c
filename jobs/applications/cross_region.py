"""An application check's requests to other provinces (issue 35, item 1; CONTRACT.md "Cross-region
checks"): a member whose household registration lies in another province is asked about at once,
and the report says which items wait for that province's answer (待异地核对).

The request is one JSON line of `<home>/lake/_xr_applications/<YYYY-MM>.jsonl` (the month of the
check, China time), with the outgoing ledger's columns but its answer and status ones; the ledger
(jobs/cross_region/ledger.py) reads the month's lines into `_xr_requests` and the outgoing file of
that month. The same member checked again in the month makes the same request id, and no second line.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl

from jobs.cross_region.evidence import PROVINCES
from jobs.cross_region.ledger import APPLICANT, APPLICATIONS, REQUEST_SCHEMA, request_id, sent_dates
from safetynet.contract import CROSS_REGION_ITEMS
from safetynet.ids import mask_ids
from safetynet.lake import append_line, locked
from safetynet.rules import load_cross_region

CHINA = dt.timezone(dt.timedelta(hours=8))


def requests(
    members: pl.DataFrame,
    household_id: str,
    authorisation_ref: str,
    now: dt.datetime,
    items: tuple[str, ...],
    reply_days: int,
) -> list[dict]:
    """One request per member registered in another province than where the household lives (the
    first two digits of its division code: the monitoring province), in the members' order; dated
    as the month's run sends it (the month's end, reply `reply_days` after: ledger.sent_dates)."""
    day = now.astimezone(CHINA).date()
    month = f"{day:%Y-%m}"
    requested_on, reply_by = sent_dates(month, reply_days)
    asked = ";".join(i for i in CROSS_REGION_ITEMS if i in items)
    out = []
    for m in members.iter_rows(named=True):
        hukou, here = m.get("hukou_division_code"), m["division_code"]
        if not hukou or hukou[:2] == here[:2]:
            continue
        out.append(
            {
                "request_id": request_id(here[:2], hukou[:2], m["id_number"], APPLICANT, month),
                "region": hukou[:2],
                "id_number": m["id_number"],
                "name": m["name"],
                "household_id": household_id,
                "purpose": APPLICANT,
                "authorisation_ref": authorisation_ref,
                "items": asked,
                "requested_on": requested_on.isoformat(),
                "reply_by": reply_by.isoformat(),
                "requested_month": month,
            }
        )
    return out


def waiting(row: dict, asked: list[dict], provinces: dict[str, str]) -> dict:
    """The report's row with each request's items waiting (待异地核对) on its member, beside what the
    means test found of them (`cross_region`: answers standing from earlier requests)."""
    members = {m["name"]: dict(m) for m in row.get("cross_region") or []}
    for r in asked:
        m = members.setdefault(
            r["name"], {"name": r["name"], "registered_elsewhere": "跨省", "answers": [], "overdue": False}
        )
        m |= {
            "province": provinces.get(r["region"], r["region"]),
            "pending_items": r["items"].split(";"),
            "reply_by": r["reply_by"],
        }
    return row | {"cross_region": list(members.values())}


def write(home: Path, asked: list[dict]) -> int:
    """Appends the requests not yet in their month's file; the lines written."""
    written = 0
    for r in asked:
        path = home / "lake" / APPLICATIONS / f"{r['requested_month']}.jsonl"
        with locked(path.with_name(".lock")):
            known = set()
            if path.exists():
                known = {
                    json.loads(line)["request_id"] for line in path.read_text(encoding="utf-8").splitlines()
                }
            if r["request_id"] in known:
                continue
            append_line(
                path, json.dumps({c: r[c] for c in REQUEST_SCHEMA}, ensure_ascii=False, sort_keys=True) + "\n"
            )
            written += 1
    return written


def asked(app, checked, now: dt.datetime) -> list[dict]:
    """The application's requests (`app`: checks.Application), and its report's row (`checked.row`)
    saying which items wait for them; written by `write` once the check is recorded. A member with
    a request still waiting (待回复 in the month's ledger: the means test's `cross_region`) is not
    asked again: the report names that request's items and reply date instead."""
    rules = load_cross_region(app.month)
    waits = {
        m["name"]
        for m in checked.row.get("cross_region") or []
        if m.get("pending_items") and not m.get("overdue")
    }
    found = [
        r
        for r in requests(
            app.members, app.household_id, app.authorisation_ref, now, rules.applicant_items, rules.reply_days
        )
        if r["name"] not in waits
    ]
    row = checked.row | {"cross_region": masked(checked.row.get("cross_region"))}
    checked.row = waiting(row, found, PROVINCES) if found else row
    return found


def masked(members: list[dict] | None) -> list[dict] | None:
    """The answers' texts with ID numbers masked, as the report shows them."""
    if not members:
        return None
    return [
        m
        | {
            "answers": [
                a | {k: mask_id_text(a[k]) for k in ("text", "detail")} for a in m.get("answers") or []
            ]
        }
        for m in members
    ]


def mask_id_text(text: str | None) -> str | None:
    return None if text is None else pl.select(mask_ids(pl.lit(text))).item()
