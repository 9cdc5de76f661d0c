"""A household's cases as its portrait (家庭画像) tells them: each case's history, one event per step
(下发, 逾期, 已回传, 已读取, 更正, 已结案), dated and explained in Chinese, from the cases each run keeps
(`_cases`, auditors' `v_cases`), the portal's uploads not yet read by a run and the upload log; then
its proposals for assistance (申请, 退回, 批准: the decision log, portal/decisions.py) and what the
latest published roster made of an approved one (`_decision_states`): 救助到位 only from a
confirmation (临时救助: its approval), 未落实 when the rosters of its months did not show it; an
approved decision still awaited (待落实) adds nothing.

Each kind of event is one function of `Facts` listed in `SOURCES`, with its label in `LABELS`: a
new kind is one more function there. A correction (更正, a row `v_outcomes` marks `is_correction`) is
read from the cases it leaves: closed again with the new conclusion, or reopened. The states and
day counts beside the history are the worklist's (`portal.casework`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import polars as pl

from jobs.cases.lifecycle import STATES
from jobs.decisions.confirm import CONFIRMED, UNCONFIRMED
from jobs.decisions.confirm import SCHEMA as STATE_SCHEMA
from jobs.decisions.log import DecisionLogError
from jobs.export.lists import KINDS, OVERDUE_SHEET
from portal import audit, decisions, uploads
from portal.casework import FIRST_DATA_ROW
from safetynet.lake import Home
from safetynet.rules import load_rules

# the kinds of events, in the order a case goes through them on one day
LABELS = {
    "issued": "下发",
    "overdue": "逾期",
    "returned": "已回传",
    "read": "已读取",
    "corrected": "更正",
    "closed": "已结案",
    "proposed": "申请",
    "sent_back": "退回",
    "approved": "批准",
    "arrived": "救助到位",
    "lapsed": "未落实",
}
EVENTS = {"case_id": pl.String, "on": pl.Date, "code": pl.String, "label": pl.String, "detail": pl.String}
# the outcome a run read as a correction that reopened its case (the reopened `_cases` row keeps none)
CORRECTIONS = {
    "case_id": pl.String,
    "run_month": pl.String,
    "outcome": pl.String,
    "visited_on": pl.String,
    "note": pl.String,
    "upload_sha256": pl.String,
}
# the household's steps in the decision log (portal/decisions.py), one row a step
STEPS = {
    "case_id": pl.String,
    "on": pl.Date,
    "event": pl.String,
    "kind": pl.String,
    "monthly_amount": pl.Float64,
    "one_off_amount": pl.Float64,
    "reason": pl.String,
    "decision_id": pl.String,
}
UPLOADS = frozenset({"upload"})
KEPT = ("case_id", "kind", "state", "issued_on", "visit_by", "sheet", "rank", "outcome", "visited_on")


@dataclass(frozen=True)
class Facts:
    """What a household's history is made of: its cases' rows of every month (`kept`, with the
    month each run read an outcome in), its uploads not yet read (`waiting`), the portal's uploads
    by SHA-256 (`uploaded`: day and file name), today, and the corrections that reopened a case
    (`corrections`: the outcome row each run read)."""

    kept: pl.DataFrame
    waiting: pl.DataFrame
    uploaded: pl.DataFrame
    today: dt.date
    corrections: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CORRECTIONS))
    steps: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=STEPS))
    states: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=STATE_SCHEMA))


def gather(home: Home, landing: Path | None, township: str, household: str, today: dt.date) -> Facts:
    """A household's facts in a township (read from the lake, the landing and the upload log)."""
    kept = township_kept(home, township)
    kept = kept.filter(pl.col("household_id") == household).drop("household_id")
    ids = kept["case_id"].unique() if kept.height else pl.Series([], dtype=pl.String)
    waiting = uploads.pending(home, landing, township).filter(pl.col("lead_id").is_in(ids.implode()))
    steps = decision_steps(home, township, household)
    states = decisions.roster_states(home).filter(
        (pl.col("township_code") == township) & (pl.col("household_id") == household)
    )
    return Facts(kept, waiting, upload_log(home.root, township), today, reopening(home, kept), steps, states)


def decision_steps(home: Home, township: str, household: str) -> pl.DataFrame:
    """The household's proposals, returns and approvals from the decision log (`STEPS`)."""
    try:
        steps = decisions.read(home.root)
    except DecisionLogError:  # the pages that list proposals say so (app.py); the portrait still opens
        steps = []
    rows = [
        {k: s[k] for k in STEPS if k != "on"} | {"on": dt.date.fromisoformat(s["at"][:10])}
        for s in steps
        if s["township_code"] == township and s["household_id"] == household
    ]
    return pl.DataFrame(rows, schema=STEPS) if rows else pl.DataFrame(schema=STEPS)


def township_kept(home: Home, township: str) -> pl.DataFrame:
    """The township's rows of `_cases` of every month (`KEPT`, the household and the month of the
    run), read once per commit and township (a commit never changes; issue 33, item 8)."""
    return _township_kept(uploads.commit_key(home), township, home)


@lru_cache(maxsize=256)  # one entry per township served since the commit: a few thousand rows each
def _township_kept(key: tuple, township: str, home: Home) -> pl.DataFrame:
    frames = [
        scan.filter(pl.col("township_code") == township).select(
            *KEPT, "household_id", "upload_sha256", run_month=pl.lit(month)
        )
        for month in sorted(home.catalog)
        if (scan := home.scan("_cases", month)) is not None
    ]
    return pl.concat(pl.collect_all(frames)) if frames else pl.DataFrame(schema={"household_id": pl.String})


def reopening(home: Home, kept: pl.DataFrame) -> pl.DataFrame:
    """The outcome rows that reopened the household's cases, from the `outcomes` each run read."""
    frames = []
    reopened = kept.filter(pl.col("state") == "reopened") if kept.height else kept
    for month, rows in reopened.group_by("run_month") if reopened.height else ():
        read = home.read("outcomes", month[0])
        if read is not None:
            frames.append(
                read.filter(pl.col("lead_id").is_in(rows["case_id"].implode())).select(
                    case_id="lead_id",
                    run_month=pl.lit(month[0]),
                    outcome="outcome",
                    visited_on=pl.col("visited_on").cast(pl.String),
                    note="note",
                    upload_sha256="upload_sha256",
                )
            )
    return pl.concat(frames).cast(CORRECTIONS) if frames else pl.DataFrame(schema=CORRECTIONS)


def upload_log(root: Path, township: str) -> pl.DataFrame:
    """The township's uploads the portal kept: SHA-256, the day (China time) and the file's name."""
    rows = [
        (e["sha256"], dt.date.fromisoformat(e["at"][:10]), e.get("file") or "")
        for e in audit.actions(root, UPLOADS)
        if e.get("township_code") == township and e.get("sha256")
    ]
    schema = {"upload_sha256": pl.String, "uploaded_on": pl.Date, "upload_file": pl.String}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.sort("uploaded_on").unique("upload_sha256", keep="first")


def issued(f: Facts) -> pl.DataFrame:
    """下发: every month a case stood on a list, with the file, sheet, row and deadline."""
    listed = f.kept.filter(pl.col("sheet").is_not_null())
    sheet = pl.when(pl.col("sheet") == "overdue").then(pl.lit(f"「{OVERDUE_SHEET}」")).otherwise(pl.lit(""))
    return listed.select(
        "case_id",
        on="issued_on",
        code=pl.lit("issued"),
        detail=pl.format(
            "{}年{}月《{}.xlsx》{}第 {} 行（{}），核查期限 {}",
            pl.col("run_month").str.slice(0, 4),
            pl.col("run_month").str.slice(5, 2),
            pl.col("kind").replace_strict(KINDS, default=pl.col("kind")),
            sheet,
            pl.col("rank").cast(pl.Int64) + (FIRST_DATA_ROW - 1),
            pl.col("state").replace_strict(STATES, default=pl.col("state")),
            pl.col("visit_by"),
        ),
    )


def returned_on(f: Facts) -> pl.DataFrame:
    """The day each case's outcome first came back: uploaded on the portal, else read by a run."""
    uploads_ = pl.concat(
        [
            f.waiting.select(case_id="lead_id", upload_sha256="upload_sha256"),
            f.kept.filter(pl.col("state") == "closed").select("case_id", "upload_sha256"),
        ]
    ).join(f.uploaded, on="upload_sha256", how="inner")
    read = read_rows(f).select("case_id", uploaded_on="read_on")
    return (
        pl.concat([uploads_.select("case_id", "uploaded_on"), read])
        .group_by("case_id")
        .agg(back_on=pl.col("uploaded_on").min())
    )


def overdue(f: Facts) -> pl.DataFrame:
    """逾期: each deadline that passed before the outcome came back (or before today), the day after."""
    deadlines = f.kept.filter(pl.col("sheet").is_not_null()).select("case_id", "visit_by").unique()
    return (
        deadlines.join(returned_on(f), on="case_id", how="left")
        .filter(
            (pl.col("visit_by") < f.today)
            & (pl.col("back_on").is_null() | (pl.col("back_on") > pl.col("visit_by")))
        )
        .select(
            "case_id",
            on=pl.col("visit_by") + pl.duration(days=1),
            code=pl.lit("overdue"),
            detail=pl.format("核查期限 {} 已过，尚未回传核查结论", pl.col("visit_by")),
        )
    )


def returned(f: Facts) -> pl.DataFrame:
    """已回传: an outcome uploaded on the portal, read by a run since or still waiting for one."""
    waiting = f.waiting.select(
        case_id="lead_id", outcome="outcome", visited_on="visited_on", upload_sha256="upload_sha256"
    ).with_columns(note=pl.lit("，待下次数据运行读取"))
    done = (
        f.kept.filter(pl.col("state") == "closed")
        .select("case_id", "outcome", pl.col("visited_on").cast(pl.String), "upload_sha256")
        .with_columns(note=pl.lit(""))
    )
    reopening_ = f.corrections.select(
        "case_id", "outcome", "visited_on", "upload_sha256", note=pl.lit("（更正）")
    )
    return (
        pl.concat([done, reopening_, waiting])
        .join(f.uploaded, on="upload_sha256", how="inner")
        .select(
            "case_id",
            on="uploaded_on",
            code=pl.lit("returned"),
            detail=pl.format(
                "上传《{}》：核查结论 {}，核查日期 {}{}", "upload_file", "outcome", "visited_on", "note"
            ),
        )
    )


@lru_cache(maxsize=64)
def issue_day(month: str) -> dt.date:
    """The day `month`'s run issues its lists (rules/outcomes/deadlines.yaml), once per month and
    process: loading the rules parses every rule file, 0.25 s, three times a portrait before."""
    return load_rules(month=month).deadlines.issued_on(month)


def read_rows(f: Facts) -> pl.DataFrame:
    """The rows of the month whose run read a case's outcome (state closed), with that run's day:
    the day it issued its lists."""
    closed = f.kept.filter(pl.col("state") == "closed")
    days = {m: issue_day(m) for m in closed["run_month"].unique()}
    read_on = pl.col("run_month").replace_strict(days, return_dtype=pl.Date) if days else pl.lit(None)
    return closed.with_columns(read_on=read_on.cast(pl.Date))


def read(f: Facts) -> pl.DataFrame:
    """已读取 and 已结案: a run read the outcome, and only an outcome closes a case."""
    rows = read_rows(f)
    return pl.concat(
        [
            rows.select(
                "case_id",
                on="read_on",
                code=pl.lit("read"),
                detail=pl.format(
                    "{}年{}月数据运行读取了回传的核查结论",
                    pl.col("run_month").str.slice(0, 4),
                    pl.col("run_month").str.slice(5, 2),
                ),
            ),
            rows.select(
                "case_id",
                on="read_on",
                code=pl.lit("closed"),
                detail=pl.format("核查结论 {}，核查日期 {}", "outcome", "visited_on"),
            ),
        ]
    )


def corrected(f: Facts) -> pl.DataFrame:
    """更正: a run read a correction of a closed case's outcome (issue 33, item 3; v_outcomes marks
    it `is_correction`): the case closed again with the new conclusion, or reopened (`reopened`)
    when the new conclusion asks for action."""
    closed = (
        read_rows(f)
        .sort("case_id", "run_month")
        .with_columns(again=pl.col("run_month").rank("ordinal").over("case_id") > 1)
    )
    before = closed.select("case_id", closed_month="run_month", old="outcome")
    reopened = (
        f.kept.filter(pl.col("state") == "reopened")
        .join(
            f.corrections.select("case_id", "run_month", "note", new="outcome"),
            on=["case_id", "run_month"],
            how="left",
        )
        .join(before, on="case_id", how="left")
        # the conclusion it corrects: the latest one read before the month that reopened it
        .with_columns(earlier=(pl.col("closed_month") < pl.col("run_month")).fill_null(False))
        .with_columns(old=pl.when("earlier").then("old"))
        .sort("case_id", "run_month", "earlier", "closed_month", nulls_last=False)
        .unique(["case_id", "run_month"], keep="last", maintain_order=True)
    )
    days = {m: issue_day(m) for m in reopened["run_month"].unique()}
    on = pl.col("run_month").replace_strict(days, return_dtype=pl.Date) if days else pl.lit(None)
    return pl.concat(
        [
            closed.filter("again").select(
                "case_id",
                on="read_on",
                code=pl.lit("corrected"),
                detail=pl.format("结论更正为 {}（核查日期 {}），按更正后的结论结案", "outcome", "visited_on"),
            ),
            reopened.select(
                "case_id",
                on=on.cast(pl.Date),
                code=pl.lit("corrected"),
                detail=pl.format(
                    "结论由 {} 更正为 {}（更正原因：{}），需要办理，案件重新打开并列入清单",
                    pl.col("old").fill_null("—"),
                    pl.col("new").fill_null("—"),
                    pl.col("note").fill_null("—"),
                ),
            ),
        ]
    )


def _yuan(column: str) -> pl.Expr:
    """An amount with two decimals, as the forms show it (650.00)."""
    cents = (pl.col(column) * 100).round(0).cast(pl.Int64)
    return pl.format("{}.{}", cents // 100, (cents % 100).cast(pl.String).str.zfill(2))


def _amount() -> pl.Expr:
    monthly = pl.format("每月 {} 元", _yuan("monthly_amount"))
    one_off = pl.format("一次性 {} 元", _yuan("one_off_amount"))
    return (
        pl.when(pl.col("monthly_amount").is_not_null())
        .then(monthly)
        .when(pl.col("one_off_amount").is_not_null())
        .then(one_off)
        .otherwise(pl.lit("不涉及金额"))
    )


def proposed(f: Facts) -> pl.DataFrame:
    """申请: the township proposed assistance (or a returned proposal corrected), kind and amount."""
    return f.steps.filter(pl.col("event") == "proposed").select(
        "case_id", "on", code=pl.lit("proposed"), detail=pl.format("申请{}，{}", "kind", _amount())
    )


def sent_back(f: Facts) -> pl.DataFrame:
    """退回: the county returned the proposal, with its reason."""
    return f.steps.filter(pl.col("event") == "returned").select(
        "case_id",
        "on",
        code=pl.lit("sent_back"),
        detail=pl.format("{}申请被退回，退回原因：{}", "kind", pl.col("reason").fill_null("—")),
    )


def approved(f: Facts) -> pl.DataFrame:
    """批准: the proposal approved, with the decision's id."""
    return f.steps.filter(pl.col("event") == "approved").select(
        "case_id",
        "on",
        code=pl.lit("approved"),
        detail=pl.format("{}已批准，决定编号 {}，{}", "kind", "decision_id", _amount()),
    )


def _run_day(months: pl.Series) -> pl.Expr:
    """The day the run of each month in `months` read its roster (the day it issued its lists)."""
    days = {m: issue_day(m) for m in months.drop_nulls().unique()}
    return pl.col("month").replace_strict(days, return_dtype=pl.Date) if days else pl.lit(None, pl.Date)


def arrived(f: Facts) -> pl.DataFrame:
    """救助到位: only a confirmation reaches it: a later roster showing the household (the member,
    for 单人保) in the decided category, or, for a one-off payment, its approval (rules/decisions)."""
    rows = f.states.filter(pl.col("state") == CONFIRMED).with_columns(month="confirmed_month")
    by_approval = pl.col("source_file").str.ends_with(".jsonl").fill_null(False)
    return rows.select(
        "case_id",
        on=pl.when(by_approval).then("approved_on").otherwise(_run_day(rows["month"])),
        code=pl.lit("arrived"),
        detail=pl.when(by_approval)
        .then(pl.format("决定 {}（{}）批准即落实", "decision_id", "kind"))
        .otherwise(
            pl.format(
                "决定 {}（{}）经{}年{}月名册确认落实",
                "decision_id",
                "kind",
                pl.col("month").str.slice(0, 4),
                pl.col("month").str.slice(5, 2),
            )
        ),
    )


def lapsed(f: Facts) -> pl.DataFrame:
    """未落实: the rosters of the months it was due in did not show the decision."""
    rows = f.states.filter(pl.col("state") == UNCONFIRMED).with_columns(month="since")
    return rows.select(
        "case_id",
        on=_run_day(rows["month"]),
        code=pl.lit("lapsed"),
        detail=pl.format(
            "决定 {}（{}，{} 起生效）自{}年{}月起未落实：名册上仍未显示，请核实发放",
            "decision_id",
            "kind",
            "effective_from",
            pl.col("month").str.slice(0, 4),
            pl.col("month").str.slice(5, 2),
        ),
    )


# Every kind of event, one function each (and its label in LABELS).
SOURCES = (issued, overdue, returned, read, corrected, proposed, sent_back, approved, arrived, lapsed)


def events(f: Facts) -> pl.DataFrame:
    """Every case's events, by case, day and the order a case goes through them."""
    if f.kept.height == 0:
        return pl.DataFrame(schema=EVENTS)
    order = {code: i for i, code in enumerate(LABELS)}
    frames = [source(f).with_columns(pl.col("on").cast(pl.Date)) for source in SOURCES]
    return (
        pl.concat(frames)
        .with_columns(label=pl.col("code").replace_strict(LABELS))
        .sort("case_id", "on", pl.col("code").replace_strict(order, return_dtype=pl.Int32))
        .select(list(EVENTS))
        .cast(EVENTS)
    )


def history(home: Home, landing: Path | None, township: str, household: str, today: dt.date) -> list[dict]:
    """A household's events in a township, one dict per event (case_id, on, code, label, detail)."""
    return events(gather(home, landing, township, household, today)).to_dicts()
