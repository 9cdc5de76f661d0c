"""What the townships have done with their cases: a township's cases in one state each (the
worklist, the home page's 本月待办 and the household portrait all read `township_cases`), and every
township's uploads and rows waiting for the next run (the data team's status)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

from jobs.export.lists import KINDS, OVERDUE_SHEET
from jobs.ingest.areas import prefecture_of
from portal import audit, uploads
from portal.files import Library
from safetynet.lake import Home

# A case's state as township staff read it, on every page (one function decides it: `case_states`)
TO_VISIT, OVERDUE, RETURNED, CLOSED = "待核查", "已逾期", "已回传待读取", "已结案"
OPEN = (TO_VISIT, OVERDUE)
# A list's first data row in the workbook: the title row, then the header row
# (jobs/export/returnable.py `_sheet`; tests/test_portal.py reads the id back at that row)
FIRST_DATA_ROW = 3
CASES = {
    "id": pl.String,
    "kind": pl.String,
    "household_id": pl.String,
    "first_month": pl.String,
    "month": pl.String,
    "first_issued_on": pl.Date,
    "visit_by": pl.Date,
    "head_name": pl.String,
    "state": pl.String,
    "outcome": pl.String,
    "visited_on": pl.String,
    "sheet": pl.String,  # main or overdue, on its latest list
    "list_file": pl.String,  # the list's file name in the township's folder of `month`
    "list_row": pl.Int64,  # the case's row in that workbook (第 N 行)
    "days_open": pl.Int64,  # from the first issue to today (to the visit, once closed)
    "days_left": pl.Int64,  # to the deadline, negative once past it
    "timing": pl.String,  # the days as staff read them
}
OUTCOMES = {"lead_id": pl.String, "outcome": pl.String, "visited_on": pl.String}
READ = OUTCOMES | {"read_month": pl.String}
PLACES = {"id": pl.String, "month": pl.String, "sheet": pl.String, "rank": pl.UInt32}
# the worklist's filters (?list=&sheet=&state=), each a Chinese label; the home page links to them
LISTS = KINDS
SHEETS = {"main": "本月清单", "overdue": OVERDUE_SHEET}
STATE_FILTERS = {"open": "未回传", "due": "即将到期", "overdue": OVERDUE, "returned": RETURNED}


def township_cases(
    home: Home, landing: Path | None, township: str, today: dt.date, household: str | None = None
) -> pl.DataFrame:
    """Every case issued to a township, its latest issue and where it stands on that list, and
    its state: 已回传待读取 (uploaded, read by the next run), 已结案 (an outcome read by a run),
    已逾期 (past its deadline) or 待核查. With `household`, only that household's cases. What the
    commit says is read once per commit and township (`settled`); the uploads waiting for the
    next run and the day are read on every call."""
    found = settled(home, township)
    if found is None:
        return pl.DataFrame(schema=CASES)
    cases = found.cases
    if household is not None:  # one household's cases (its portrait)
        cases = cases.filter(pl.col("household_id") == household)
    waiting = uploads.pending(home, landing, township).select("lead_id", "outcome", "visited_on")
    return case_states(cases, found.heads, waiting, found.returned, today)


def household_cases(
    home: Home, landing: Path | None, township: str, household: str, today: dt.date
) -> pl.DataFrame:
    """A household's cases in a township, as the worklist shows them (the portrait's states)."""
    return township_cases(home, landing, township, today, household)


@dataclass(frozen=True)
class Settled:
    """What a commit says of a township's cases: each as last issued with its place on that list
    (`cases`), its household's head (`heads`) and its latest outcome read by a run (`returned`)."""

    cases: pl.DataFrame
    heads: pl.DataFrame
    returned: pl.DataFrame


def settled(home: Home, township: str) -> Settled | None:
    """A township's `Settled` cases as of the home's commit (None: no month issued any), read once
    per commit and township: a commit never changes, and the pages a clerk opens all day (home
    page, worklist, portrait) need them on every request (issue 33, item 8)."""
    return _settled(uploads.commit_key(home), township, home)


@lru_cache(maxsize=256)  # one entry per township served since the commit: a few thousand rows each
def _settled(key: tuple, township: str, home: Home) -> Settled | None:
    months = sorted(home.catalog)
    issued = [p for m in months for p in home.files("_issued", m, prefecture_of(township))]
    if not issued:
        return None
    cases = latest_issues(pl.scan_parquet(issued), township)
    latest = cases["month"].unique().sort()
    places = list_places([p for m in latest for p in home.files("_cases", m)], township)
    returned = province_outcomes(key, home).filter(pl.col("lead_id").is_in(cases["id"].implode()))
    heads = head_names(home.scan("roster", months[-1], area=prefecture_of(township)), cases)
    return Settled(cases.join(places, on=["id", "month"], how="left"), heads, returned)


@lru_cache(maxsize=2)
def province_outcomes(key: tuple, home: Home) -> pl.DataFrame:
    """`returned_outcomes` of every month of a commit, read once per commit for all townships."""
    return returned_outcomes({m: home.files("outcomes", m) for m in sorted(home.catalog)})


def list_places(paths: list[Path], township: str) -> pl.DataFrame:
    """Each listed case's sheet and rank on its township's list, by month (`_cases`)."""
    if not paths:
        return pl.DataFrame(schema=PLACES)
    return (
        pl.scan_parquet(paths)
        .filter((pl.col("township_code") == township) & pl.col("sheet").is_not_null())
        .select(pl.col("case_id").alias("id"), "month", "sheet", "rank")
        .collect()
        .cast(PLACES)
    )


def search_key(text: pl.Expr) -> pl.Expr:
    """A text as a search compares it: NFKC (full-width digits, letters and the ideographic space
    become their ASCII forms), without whitespace, upper case (an id's letters typed either way)."""
    return text.fill_null("").str.normalize("NFKC").str.replace_all(r"\s+", "").str.to_uppercase()


def search_cases(cases: pl.DataFrame, q: str) -> pl.DataFrame:
    """The cases whose household id or head's name contains `q`, both sides as `search_key` makes
    them: "袁 丽", "袁　丽" and full-width digits find 袁丽 and the id. An empty key finds nothing."""
    key = pl.select(search_key(pl.lit(q, dtype=pl.String))).item()
    if not key:
        return cases.clear()
    return cases.filter(
        search_key(pl.col("household_id")).str.contains(key, literal=True)
        | search_key(pl.col("head_name")).str.contains(key, literal=True)
    )


def latest_issues(issued: pl.LazyFrame, township: str) -> pl.DataFrame:
    """A township's cases, each as last issued, with the month it was first issued."""
    return (
        issued.filter(pl.col("township_code") == township)
        .sort("month")
        .group_by("id")
        .agg(
            pl.col("kind", "household_id").last(),
            first_month=pl.col("month").first(),
            month=pl.col("month").last(),
            first_issued_on=pl.col("issued_on").first(),
            visit_by=pl.col("visit_by").last(),
        )
        .collect()
    )


def returned_outcomes(done: dict[str, list[Path]]) -> pl.DataFrame:
    """Each case's latest outcome read by a run, with the month whose run read it (`done`: each
    month's `outcomes` files)."""
    frames = [
        pl.scan_parquet(paths).select(
            "lead_id", "outcome", pl.col("visited_on").cast(pl.String), read_month=pl.lit(month)
        )
        for month, paths in done.items()
        if paths
    ]
    if not frames:
        return pl.DataFrame(schema=READ)
    return pl.concat(frames).sort("read_month", "visited_on").group_by("lead_id").last().collect().cast(READ)


def head_names(roster: pl.LazyFrame | None, cases: pl.DataFrame) -> pl.DataFrame:
    """The head's name of each case's household on the latest roster."""
    if roster is None:
        return pl.DataFrame(schema={"household_id": pl.String, "head_name": pl.String})
    return (
        roster.filter(pl.col("household_id").is_in(cases["household_id"].implode()))
        .sort("household_id", pl.col("relation") != "户主")
        .group_by("household_id")
        .agg(head_name=pl.col("name").first())
        .collect()
    )


def case_states(
    cases: pl.DataFrame, heads: pl.DataFrame, waiting: pl.DataFrame, returned: pl.DataFrame, today: dt.date
) -> pl.DataFrame:
    """Each case's state: an upload waiting for the run comes before an outcome read by a run,
    which comes before the deadline. An outcome read in the month the case was last issued, or
    before, does not close it: a correction that reopened the case (jobs/cases/lifecycle.py) is
    shown beside the open case, whose new deadline counts."""
    read = pl.col("outcome").is_not_null() & (pl.col("read_month") > pl.col("month"))
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
            .then(pl.lit(RETURNED))
            .when(read)
            .then(pl.lit(CLOSED))
            .when(pl.col("visit_by") < today)
            .then(pl.lit(OVERDUE))
            .otherwise(pl.lit(TO_VISIT)),
            outcome=pl.coalesce("w_outcome", "outcome"),
            visited_on=pl.coalesce("w_visited", "visited_on"),
            list_file=pl.col("kind").replace_strict(KINDS, default=pl.col("kind")) + ".xlsx",
            list_row=pl.col("rank").cast(pl.Int64) + (FIRST_DATA_ROW - 1),
        )
        .with_columns(case_days(today))
        .with_columns(timing=timing())
        .sort("visit_by", "id")
    )
    return out.select(list(CASES))


def case_days(today: dt.date) -> list[pl.Expr]:
    """Days since the first issue (to the visit, once closed) and days to the deadline."""
    visited = pl.col("visited_on").str.to_date(strict=False)
    until = pl.when(pl.col("state") == CLOSED).then(visited).otherwise(pl.lit(today))
    return [
        (until - pl.col("first_issued_on")).dt.total_days().alias("days_open"),
        (pl.col("visit_by") - pl.lit(today)).dt.total_days().alias("days_left"),
    ]


def timing() -> pl.Expr:
    """The days as both pages print them: since the first issue, and to or past the deadline."""
    since = pl.format("已下发 {} 天", pl.col("days_open"))
    return (
        pl.when(pl.col("state") == CLOSED)
        .then(pl.format("用时 {} 天", pl.col("days_open")))
        .when(pl.col("state") == OVERDUE)
        .then(pl.format("{}，逾期 {} 天", since, -pl.col("days_left")))
        .when((pl.col("state") == TO_VISIT) & (pl.col("days_left") == 0))
        .then(pl.format("{}，今天到期", since))
        .when(pl.col("state") == TO_VISIT)
        .then(pl.format("{}，还剩 {} 天", since, pl.col("days_left")))
        .otherwise(since)
    )


def chosen(
    cases: pl.DataFrame, kind: str = "", sheet: str = "", state: str = "", due_days: int = 0
) -> pl.DataFrame:
    """The worklist's rows for its filters (?list=&sheet=&state=; an unknown value filters
    nothing): the cases of one list and sheet in one state, the open ones (待核查 and 已逾期)
    when no state is asked. The home page counts these rows, so its counts are the worklist's."""
    wanted = {
        "open": pl.col("state").is_in(OPEN),
        "due": (pl.col("state") == TO_VISIT) & pl.col("days_left").is_between(0, due_days),
        "overdue": pl.col("state") == OVERDUE,
        "returned": pl.col("state") == RETURNED,
    }
    keep = wanted.get(state, wanted["open"])
    if kind in LISTS:
        keep &= pl.col("kind") == kind
    if sheet in SHEETS:
        keep &= pl.col("sheet") == sheet
    return cases.filter(keep)


def todo(cases: pl.DataFrame, due_days: int) -> dict:
    """本月待办: per list and sheet that has open or returned cases, each state filter's count
    (the rows `chosen` gives the worklist) and its nearest deadline; and the nearest of all."""
    present = (
        cases.filter(pl.col("state").is_in([*OPEN, RETURNED]))
        .select("kind", "sheet")
        .unique()
        .sort(pl.col("kind").replace_strict({k: i for i, k in enumerate(LISTS)}, default=len(LISTS)), "sheet")
    )
    rows = []
    for kind, sheet in present.iter_rows():
        counts = {f: chosen(cases, kind, sheet or "", f, due_days).height for f in STATE_FILTERS}
        rows.append(
            {
                "list": kind,
                "sheet": sheet,
                "title": LISTS.get(kind, kind) + ("（逾期未回传）" if sheet == "overdue" else ""),
                "file": LISTS.get(kind, kind) + ".xlsx",
                "counts": counts,
                "nearest": nearest(chosen(cases, kind, sheet or "", "open")),
            }
        )
    return {"lists": rows, "nearest": nearest(cases), "due_days": due_days}


def nearest(cases: pl.DataFrame) -> dict | None:
    """The nearest deadline of the cases still to visit (not past it): date and days left."""
    ahead = cases.filter(pl.col("state") == TO_VISIT).sort("visit_by", "id").head(1)
    if ahead.height == 0:
        return None
    return {"date": ahead["visit_by"][0], "days_left": ahead["days_left"][0]}


def upload_status(library: Library, landing: Path | None) -> list[dict]:
    """Per township with files in the latest month: uploads, last upload, rows waiting for the run."""
    months = library.months()
    if not months:
        return []
    townships = library.townships(months[0])
    entries = audit.actions(library.root, frozenset({"upload"}))
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
