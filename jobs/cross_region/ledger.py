"""Requests out (跨省核对请求): the outgoing ledger `_xr_requests` and the month's request files.

Each month the `record` step makes the ledger as of the month's end from the latest published
month's ledger: the requests made this month (monitored members registered in another province
when they first appear and again `recheck_months` after their last request, never while one is
pending; applicants from the application checks' lines, `<home>/lake/_xr_applications/<month>.jsonl`),
and the answers accepted this month (`jobs/cross_region/received.py`). The month's new requests go
out as `exports/_cross_region/outgoing/<province>.csv`, one file per province asked
(CONTRACT.md, "Cross-region checks"). A rerun on the same inputs gives the same ids and bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import polars as pl

from safetynet.contract import CROSS_REGION_ITEMS
from safetynet.lake import Home
from safetynet.months import add_months, month_bounds
from safetynet.rules import CrossRegion, load_cross_region

REQUESTS = "_xr_requests"  # the outgoing ledger, one row per request (a month's whole file)
APPLICATIONS = "_xr_applications"  # <home>/lake/_xr_applications/<YYYY-MM>.jsonl (jobs/applications)
APPLICATIONS_FILE = "xr_applications.jsonl"  # in a month's build: the lines as the run started
OUTGOING = Path("exports") / "_cross_region" / "outgoing"  # in the build: <exports>/<month>/...
MEMBER = "定期复核"  # a monitored member's request: when first seen, then at each re-check
APPLICANT = "申请核对"  # an applicant's request, made by the application check
WAITING, ANSWERED, OVERDUE = "待回复", "已回复", "逾期"
REASKED = "已重发"  # closed: every item still unanswered was asked again in a later request
BOM = "\ufeff"  # UTF-8 with BOM, as the project's other CSV exports (Excel opens it as UTF-8)

REQUEST_SCHEMA = {
    "request_id": pl.String,
    "region": pl.String,
    "id_number": pl.String,
    "name": pl.String,
    "household_id": pl.String,
    "purpose": pl.String,
    "authorisation_ref": pl.String,
    "items": pl.String,
    "requested_on": pl.Date,
    "reply_by": pl.Date,
    "requested_month": pl.String,
}
LEDGER_SCHEMA = {
    **REQUEST_SCHEMA,
    "answered_items": pl.String,
    "answered_on": pl.Date,
    "pending_items": pl.String,
    "status": pl.String,
}
# the outgoing file's columns (CONTRACT.md, "Cross-region checks": Asking)
OUTGOING_COLUMNS = (
    "request_id",
    "id_number",
    "name",
    "items",
    "purpose",
    "authorisation_ref",
    "requested_on",
    "reply_by",
)


def request_id(province: str, region: str, id_number: str, purpose: str, month: str) -> str:
    """An outgoing request's id: XR + our province + the province asked + YYYYMM + a hash of who,
    why and when; the same inputs give the same id."""
    yyyymm = month.replace("-", "")
    digest = hashlib.sha256(f"{id_number}|{purpose}|{yyyymm}".encode()).hexdigest()[:10].upper()
    return f"XR{province}{region}{yyyymm}-{digest}"


def monitoring_province(division_codes: list[str] | None) -> str | None:
    """The 2-digit prefix shared by the divisions in force; None without divisions or when they
    span several provinces (then no member is known to be registered elsewhere)."""
    prefixes = {code[:2] for code in division_codes or [] if code}
    return prefixes.pop() if len(prefixes) == 1 else None


def joined(items: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """Items `;`-joined in the contract's order (None for none)."""
    return ";".join(i for i in CROSS_REGION_ITEMS if i in items) or None


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema=LEDGER_SCHEMA)


def previous(h: Home, month: str) -> pl.DataFrame:
    """The ledger of the latest published month before `month` (empty when there is none)."""
    for m in reversed([m for m in h.months() if m < month]):
        if (rows := h.read(REQUESTS, m)) is not None:
            return rows.select(list(LEDGER_SCHEMA))
    return empty()


def _new(rows: pl.DataFrame, rules: CrossRegion, month: str, items: tuple[str, ...]) -> pl.DataFrame:
    """Requests of the month for `rows` (request_id, region, id_number, name, household_id, purpose,
    authorisation_ref), dated the month's end, replies due `reply_days` after."""
    requested_on, reply_by = sent_dates(month, rules.reply_days)
    return rows.with_columns(
        items=pl.lit(joined(items)),
        requested_on=pl.lit(requested_on),
        reply_by=pl.lit(reply_by),
        requested_month=pl.lit(month),
    ).select(list(REQUEST_SCHEMA))


def members_due(
    roster: pl.DataFrame, province: str, earlier: pl.DataFrame, month: str, rules: CrossRegion
) -> pl.DataFrame:
    """Requests for monitored members registered in another province (`roster`: household_id,
    id_number, name, hukou_division_code): those never asked about, and those whose last request was
    made `recheck_months` ago or more and is no longer waiting (待回复). `earlier`: the ledger so far,
    with this month's applicants' requests (one request per person a month)."""
    last = (
        earlier.sort("requested_month", "request_id")
        .group_by("id_number", maintain_order=True)
        .last()
        .select("id_number", last_month="requested_month", last_status="status")
    )
    due_before = add_months(month, -rules.recheck_months)
    others = (
        roster.filter(
            pl.col("hukou_division_code").is_not_null()
            & (pl.col("hukou_division_code").str.slice(0, 2) != province)
        )
        .sort("id_number", "household_id")
        .unique("id_number", keep="first", maintain_order=True)
        .join(last, on="id_number", how="left")
        .filter(
            pl.col("last_month").is_null()
            | ((pl.col("last_month") <= due_before) & (pl.col("last_status") != WAITING))
        )
    )
    rows = others.select(
        request_id=pl.struct("hukou_division_code", "id_number").map_elements(
            lambda r: request_id(province, r["hukou_division_code"][:2], r["id_number"], MEMBER, month),
            return_dtype=pl.String,
        ),
        region=pl.col("hukou_division_code").str.slice(0, 2),
        id_number="id_number",
        name="name",
        household_id="household_id",
        purpose=pl.lit(MEMBER),
        authorisation_ref=pl.col("household_id").map_elements(rules.authorisation, return_dtype=pl.String),
    )
    return _new(rows, rules, month, rules.member_items)


def sent_dates(month: str, reply_days: int) -> tuple[dt.date, dt.date]:
    """requested_on and reply_by of a request made in `month`: the month's end, when the month's run
    writes the outgoing file, and `reply_days` after (members' and applicants' requests alike)."""
    _, end = month_bounds(month)
    return end, end + dt.timedelta(days=reply_days)


def stage_applications(home: Path, month: str, build: Path) -> str | None:
    """Copy the month's application lines into the build (`APPLICATIONS_FILE`) when the run starts,
    what its ledger reads whatever is checked meanwhile; returns their digest for the build's content
    id (None: no lines)."""
    path = home / "lake" / APPLICATIONS / f"{month}.jsonl"
    if not path.exists():
        return None
    data = path.read_bytes()
    (build / APPLICATIONS_FILE).write_bytes(data)
    return hashlib.sha256(data).hexdigest()[:16]


def applicants(home: Path, month: str, path: Path | None = None) -> pl.DataFrame:
    """The application checks' requests of `month` (`<home>/lake/_xr_applications/<month>.jsonl`,
    written by jobs/applications; `path`: the build's copy, `stage_applications`): each id once, as
    first written, dated as members' requests
    (`sent_dates`: a line's own dates, the check's day, are not the file's); none without the file."""
    path = path or home / "lake" / APPLICATIONS / f"{month}.jsonl"
    if not path.exists():
        return pl.DataFrame(schema=REQUEST_SCHEMA)
    rows, seen = [], set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            values = {k: row.get(k) for k in REQUEST_SCHEMA}
            for k in ("requested_on", "reply_by"):
                values[k] = dt.date.fromisoformat(values[k])
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path} line {n}: not an application's request ({exc})") from None
        if values["request_id"] and values["request_id"] not in seen:
            seen.add(values["request_id"])
            rows.append({**values, "requested_month": month, "purpose": values["purpose"] or APPLICANT})
    requested_on, reply_by = sent_dates(month, load_cross_region(month).reply_days)
    return pl.DataFrame(rows, schema=REQUEST_SCHEMA, orient="row").with_columns(
        requested_on=pl.lit(requested_on), reply_by=pl.lit(reply_by)
    )


def not_pending(applied: pl.DataFrame, earlier: pl.DataFrame) -> pl.DataFrame:
    """The applicants' requests (`applicants`) of persons with no request waiting (待回复, not asked
    again) in `earlier`, the latest published ledger: a request sent at its month's end still waits
    when the application is checked in the next month (one request at a time, as for members)."""
    waiting = earlier.filter(pl.col("status") == WAITING)["id_number"]
    return applied.filter(~pl.col("id_number").is_in(waiting.implode()))


def status(ledger: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """pending_items and status as of `as_of`: 已回复 when every item asked is answered, 已重发 when
    every item still unanswered was asked again in a later month's request of the person (the later
    request waits for them), 逾期 when one is still unanswered after reply_by, else 待回复."""
    pending = pl.struct("items", "answered_items").map_elements(
        lambda r: joined(set(r["items"].split(";")) - set((r["answered_items"] or "").split(";"))),
        return_dtype=pl.String,
    )
    rows = ledger.with_columns(pending_items=pending)
    reasked = _reasked(rows)
    return rows.with_columns(
        status=pl.when(pl.col("pending_items").is_null())
        .then(pl.lit(ANSWERED))
        .when(pl.col("request_id").is_in(reasked))
        .then(pl.lit(REASKED))
        .when(pl.col("reply_by") < pl.lit(as_of))
        .then(pl.lit(OVERDUE))
        .otherwise(pl.lit(WAITING))
    )


def _reasked(rows: pl.DataFrame) -> list[str]:
    """The ids of requests whose pending items were all asked again in a later month's request of
    the same person."""
    later = rows.select("id_number", later_month="requested_month", later_items="items")
    pairs = (
        rows.filter(pl.col("pending_items").is_not_null())
        .select("request_id", "id_number", "requested_month", "pending_items")
        .join(later, on="id_number")
        .filter(pl.col("later_month") > pl.col("requested_month"))
    )
    if pairs.height == 0:
        return []
    asked = pairs.group_by("request_id", "pending_items").agg(
        again=pl.col("later_items").str.split(";").list.explode().unique()
    )
    covered = asked.filter(
        pl.col("pending_items").str.split(";").list.set_difference("again").list.len() == 0
    )
    return covered["request_id"].to_list()


def write_outgoing(ledger: pl.DataFrame, month: str, build: Path) -> list[Path]:
    """The month's new requests, one file per province asked, rows by request_id."""
    folder = build / OUTGOING
    new = ledger.filter(pl.col("requested_month") == month)
    paths = []
    for region in sorted(new["region"].unique().to_list()):
        rows = new.filter(pl.col("region") == region).sort("request_id").select(OUTGOING_COLUMNS)
        path = folder / f"{region}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes((BOM + rows.write_csv(date_format="%Y-%m-%d")).encode("utf-8"))
        paths.append(path)
    return paths
