"""What the townships have done with their cases: a township's open and overdue cases (the
worklist), and every township's uploads and rows waiting for the next run (the data team's status)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from jobs.ingest.areas import prefecture_of
from portal import audit, uploads
from portal.files import Library
from safetynet.lake import Home

CASES = {
    "id": pl.String,
    "kind": pl.String,
    "household_id": pl.String,
    "first_month": pl.String,
    "month": pl.String,
    "visit_by": pl.Date,
    "head_name": pl.String,
    "state": pl.String,
    "outcome": pl.String,
    "visited_on": pl.String,
}
OUTCOMES = {"lead_id": pl.String, "outcome": pl.String, "visited_on": pl.String}


def open_cases(home: Home, landing: Path | None, township: str, today: dt.date) -> pl.DataFrame:
    """Every case issued to a township, its latest issue, and its state: 已回传 (an outcome read by a
    run), 已上传待入库 (uploaded, read by the next run), 已逾期 (past its deadline) or 待核查."""
    months = sorted(home.catalog)
    issued = [p for m in months for p in home.files("_issued", m, prefecture_of(township))]
    if not issued:
        return pl.DataFrame(schema=CASES)
    cases = latest_issues(pl.scan_parquet(issued), township)
    returned = returned_outcomes([p for m in months for p in home.files("outcomes", m)])
    waiting = uploads.pending(home, landing, township).select("lead_id", "outcome", "visited_on")
    heads = head_names(home.scan("roster", months[-1], area=prefecture_of(township)), cases)
    return case_states(cases, heads, waiting, returned, today)


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
            visit_by=pl.col("visit_by").last(),
        )
        .collect()
    )


def returned_outcomes(done: list[Path]) -> pl.DataFrame:
    """Each case's latest outcome read by a run: of the latest month that read one (a correction
    read later wins, whatever its visit date), its latest visit."""
    if not done:
        return pl.DataFrame(schema=OUTCOMES)
    return (
        pl.scan_parquet(done, include_file_paths="path")
        .select("lead_id", "outcome", pl.col("visited_on").cast(pl.String), "path")
        .sort(pl.col("path").str.extract(r"month=(\d{4}-\d{2})"), "visited_on", maintain_order=True)
        .drop("path")
        .group_by("lead_id")
        .last()
        .collect()
    )


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
    which comes before the deadline."""
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
            .then(pl.lit("已上传待入库"))
            .when(pl.col("outcome").is_not_null())
            .then(pl.lit("已回传"))
            .when(pl.col("visit_by") < today)
            .then(pl.lit("已逾期"))
            .otherwise(pl.lit("待核查")),
            outcome=pl.coalesce("w_outcome", "outcome"),
            visited_on=pl.coalesce("w_visited", "visited_on"),
        )
        .sort("visit_by", "id")
    )
    return out.select(list(CASES))


def upload_status(library: Library, landing: Path | None) -> list[dict]:
    """Per township with files in the latest month: uploads, last upload, rows waiting for the run."""
    months = library.months()
    if not months:
        return []
    townships = library.townships(months[0])
    entries = [e for e in audit.read(library.root) if e["action"] == "upload"]
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
