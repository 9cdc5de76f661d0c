"""The roster confirms a decision (落实): each month, every approved decision not yet confirmed is
looked for on the month's roster, as rules/decisions/decisions.yaml says its kind shows there.

    待落实   approved, not yet shown, still within `confirm_within_months` of its effective month
             (or of its approval's month, when later)
    已落实   shown: every covered member on the roster (the one member, for 单人保) in the decided
             category, a covered member gone off the roster not counted but at least one still there;
             退出: no covered member in a recipient category (低保, 特困), or all off the roster;
             临时救助, a one-off payment: confirmed by its approval. Kept once reached, with its
             month and source
    未落实   not shown on the rosters of its first `confirm_within_months` months from the later of
             `effective_from` and the approval's month (2: that month and the next); a later roster
             may still confirm it

    <build>/_decision_states/data.parquet   one row per decision approved up to the month
"""

from __future__ import annotations

import polars as pl

from safetynet.rules import Decisions

PENDING, CONFIRMED, UNCONFIRMED = "待落实", "已落实", "未落实"
SCHEMA = {
    "month": pl.String,
    "decision_id": pl.String,
    "case_id": pl.String,
    "household_id": pl.String,
    "township_code": pl.String,
    "county_code": pl.String,
    "kind": pl.String,
    "category": pl.String,
    "id_numbers": pl.List(pl.String),
    "effective_from": pl.String,
    "approved_on": pl.Date,
    "due_month": pl.String,  # the last month whose roster may show it before it is 未落实
    "state": pl.String,
    "since": pl.String,  # the month it entered its state
    "confirmed_month": pl.String,
    "source_file": pl.String,  # the roster row that shows it (for 临时救助: the approval's log line)
    "source_row": pl.Int64,
}
ROSTER_COLUMNS = ["household_id", "id_number", "category", "source_file", "source_row"]


def _targets(decisions: pl.DataFrame, rules: Decisions) -> pl.DataFrame:
    """Each decision with how its kind is confirmed: `members`, `confirmed_by`, and the category
    the roster must show (the decision's own; for "current", any recipient category)."""
    spec = pl.DataFrame(
        [(k.name, k.members, k.confirmed_by, k.category) for k in rules.kinds.values()],
        schema={
            "kind": pl.String,
            "members": pl.String,
            "confirmed_by": pl.String,
            "rule_category": pl.String,
        },
        orient="row",
    )
    return decisions.join(spec, on="kind", how="left")


def _shown(pending: pl.DataFrame, roster: pl.DataFrame, recipients: tuple[str, ...]) -> pl.DataFrame:
    """decision_id, source_file, source_row of each pending decision the roster shows."""
    rows = roster.select(ROSTER_COLUMNS).rename({"category": "shows"}).sort("source_file", "source_row")
    recipient = pl.col("shows").is_in(list(recipients))
    in_category = (
        pl.when(pl.col("want").is_not_null()).then(pl.col("shows") == pl.col("want")).otherwise(recipient)
    )
    by_rule = pl.when(pl.col("rule_category") != "current").then(pl.col("rule_category"))
    wanted = pending.with_columns(want=pl.coalesce("category", by_rule)).explode("id_numbers")
    # each covered member's rows (the household: every member, 单人保: the one); a member gone off
    # the roster (moved away, died) has none and does not hold the decision back
    members = wanted.join(rows.drop("household_id"), left_on="id_numbers", right_on="id_number")
    # in: at least one covered member on the roster, and every covered row there in the category
    joining = members.filter(pl.col("kind_role") == "in")
    found = joining.filter(in_category.all().over("decision_id"))
    # 退出: no covered member in a recipient category (all off the roster: no row at all)
    leaving = wanted.filter(pl.col("kind_role") == "out").unique("decision_id")
    still = members.filter((pl.col("kind_role") == "out") & recipient)
    first = members.sort("source_file", "source_row").unique("decision_id", keep="first")
    gone = (
        leaving.join(still, on="decision_id", how="anti")
        .select("decision_id")
        .join(first.select("decision_id", "source_file", "source_row"), on="decision_id", how="left")
    )
    columns = ["decision_id", "source_file", "source_row"]
    shown = pl.concat([f.select(columns) for f in [found, gone]])
    return shown.sort("decision_id", "source_file", "source_row", nulls_last=True).unique(
        "decision_id", keep="first"
    )


def states(
    month: str,
    decisions: pl.DataFrame,
    before: pl.DataFrame | None,
    roster: pl.DataFrame,
    rules: Decisions,
    recipients: tuple[str, ...],
) -> pl.DataFrame:
    """Every decision approved up to `month` (`decisions`: jobs.decisions.decided.approved) in its
    state as of `month`; `before`: last month's states (a confirmation is kept), `roster`: the month's."""
    known = decisions.filter(pl.col("month") <= month)
    kept = (
        before.filter(pl.col("state") == CONFIRMED).select(
            "decision_id", "since", "confirmed_month", "source_file", "source_row"
        )
        if before is not None
        else pl.DataFrame(
            schema={
                c: SCHEMA[c] for c in ("decision_id", "since", "confirmed_month", "source_file", "source_row")
            }
        )
    )
    was = before.select("decision_id", was="state", was_since="since") if before is not None else None
    targets = _targets(known, rules).with_columns(
        kind_role=pl.when(pl.col("rule_category").is_null()).then(pl.lit("out")).otherwise(pl.lit("in")),
        # counted from the later of the effective month and the approval's: a proposal for March
        # approved in May is looked for on May's and June's rosters before it is 未落实
        due_month=(pl.max_horizontal("effective_from", "month") + "-01")
        .str.to_date("%Y-%m-%d")
        .dt.offset_by(f"{rules.confirm_within_months - 1}mo")
        .dt.strftime("%Y-%m"),
    )
    by_approval = targets.filter(pl.col("confirmed_by") == "approval").select(
        "decision_id", confirmed_month=pl.col("month"), source_file="log_file", source_row="log_line"
    )
    looking = targets.filter((pl.col("confirmed_by") == "roster") & (pl.col("effective_from") <= month)).join(
        kept, on="decision_id", how="anti"
    )
    shown = _shown(looking, roster, recipients).with_columns(confirmed_month=pl.lit(month))
    confirmed = pl.concat(
        [
            kept.drop("since"),
            by_approval,
            shown.select("decision_id", "confirmed_month", "source_file", "source_row"),
        ],
        how="diagonal_relaxed",
    ).unique("decision_id", keep="first")
    out = targets.join(confirmed, on="decision_id", how="left").with_columns(
        state=pl.when(pl.col("confirmed_month").is_not_null())
        .then(pl.lit(CONFIRMED))
        .when(pl.col("due_month") <= month)
        .then(pl.lit(UNCONFIRMED))
        .otherwise(pl.lit(PENDING)),
        month=pl.lit(month),
    )
    if was is not None:
        out = out.join(was, on="decision_id", how="left")
    else:
        out = out.with_columns(was=pl.lit(None, pl.String), was_since=pl.lit(None, pl.String))
    out = out.with_columns(
        since=pl.when(pl.col("state") == pl.col("was")).then(pl.col("was_since")).otherwise(pl.lit(month))
    )
    return out.select([pl.col(c).cast(t) for c, t in SCHEMA.items()]).sort("decision_id")
