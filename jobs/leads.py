"""Warning rules (`rules/warnings/`) and the leads (线索) they make, one per household and month.

A lead combines the household's fired rules: the most severe colour, 紧急 if any fired rule is
urgent, the rule ids, the reasons in Chinese with their evidence (amounts, dates, departments), a
rank within the township and a recommended action that depends on the household's category
(`rules/actions.yaml`). A lead is pushed unless a case of the same household closed recently
(`closed_cover_months`, rules/outcomes/cases.yaml) was at least as severe and had all of this one's
rules: a persisting 12-month medical total is not pushed again after a visit, but a new reason or a
worse colour is. A pushed lead on a household with an open case stands on that case (jobs/cases.py).
"""

from __future__ import annotations

import re

import polars as pl

from safetynet.months import month_bounds
from safetynet.rules import LEVELS, Condition, Deadlines, PlaceDated, RuleSet, WarningRule

PLACEHOLDER = re.compile(r"\{([a-z_0-9]+)\}")

LEAD_SCHEMA = {
    "month": pl.String,
    "lead_id": pl.String,
    "household_id": pl.String,
    "division_code": pl.String,
    "township_code": pl.String,
    "county_code": pl.String,
    "category": pl.String,
    "level": pl.String,
    "urgency": pl.String,
    "rule_ids": pl.List(pl.String),
    "reasons": pl.String,
    "recommended_action": pl.String,
    "hardship_score": pl.Float64,
    "hardship_level": pl.String,
    "rank": pl.UInt32,
    "pushed": pl.Boolean,
    "issued_on": pl.Date,
    "visit_by": pl.Date,
    "suppressed_by": pl.String,
    "rule_version": pl.String,
}


def _threshold(value: float | PlaceDated, month: str) -> pl.Expr:
    """A constant, or the value in force for the month at each household's place (longest prefix)."""
    if not isinstance(value, PlaceDated):
        return pl.lit(value)
    places = value.at(month_bounds(month)[0])
    if places is None:
        return pl.lit(None, dtype=pl.Float64)
    expr = pl.lit(float(places["default"]))
    for prefix in sorted((p for p in places if p != "default"), key=len):
        expr = (
            pl.when(pl.col("division_code").str.starts_with(prefix))
            .then(float(places[prefix]))
            .otherwise(expr)
        )
    return expr


def condition_expr(cond: Condition, month: str) -> pl.Expr:
    c, v = pl.col(cond.column), _threshold(cond.value, month)
    op = {">=": c >= v, ">": c > v, "<=": c <= v, "<": c < v, "==": c == v, "!=": c != v}[cond.op]
    return op.fill_null(False)


def reason_expr(template: str) -> pl.Expr:
    """The reason text with each {column} replaced by the household's value (amounts to 2 decimals)."""
    columns = PLACEHOLDER.findall(template)
    values = []
    for col in columns:
        e = pl.col(col)
        values.append(
            pl.when(e.cast(pl.Float64, strict=False).is_not_null() & (e.cast(pl.String).str.contains(r"\.")))
            .then(e.cast(pl.Float64, strict=False).round(2).cast(pl.String))
            .otherwise(e.cast(pl.String))
            .fill_null("—")
        )
    return pl.format(PLACEHOLDER.sub("{}", template), *values) if columns else pl.lit(template)


def fired_column(rule: WarningRule) -> str:
    return fired_column_id(rule.id)


def fired_column_id(rule_id: str) -> str:
    return f"fired_{rule_id}"


def warn(scored: pl.DataFrame, rules: RuleSet, month: str) -> pl.DataFrame:
    """One boolean column per warning rule in force: did it fire for the household?"""
    start, _ = month_bounds(month)
    # an applicant watched after its check (not on the roster) gets a lead from an event only
    roster = pl.col("application_id").is_null() if "application_id" in scored.columns else pl.lit(True)
    fired = [
        pl.all_horizontal(
            [condition_expr(c, month) for c in w.when] + ([] if w.kind == "event" else [roster])
        ).alias(fired_column(w))
        for w in rules.effective_warnings(start)
    ]
    return scored.with_columns(fired)


def _action_expr(rules: RuleSet, warnings: list[WarningRule], month: str) -> pl.Expr:
    """Every response that applies, in the order of rules/actions.yaml, joined with ；: for each
    fired rule the first entry naming it whose categories and conditions match; the entries with
    conditions and no rules whose conditions the household meets; else the default entry."""
    ids = {w.id for w in warnings}
    taken: dict[str, pl.Expr] = {}  # per rule: an earlier entry already answers it
    applies, default = [], None
    for action in rules.actions:
        cond = pl.lit(True)
        if action.categories:
            cond = cond & pl.col("category").is_in(list(action.categories))
        for c in action.when:
            cond = cond & condition_expr(c, month)
        if not action.rules and not action.when:
            default = action.action
            continue
        if not action.rules:
            applies.append((action.action, cond))
            continue
        present = [r for r in action.rules if r in ids]
        if not present:
            continue
        mine = []
        for r in present:
            first = pl.col(fired_column_id(r)) & cond & ~taken.get(r, pl.lit(False))
            mine.append(first)
            taken[r] = taken.get(r, pl.lit(False)) | (pl.col(fired_column_id(r)) & cond)
        applies.append((action.action, pl.any_horizontal(mine)))
    texts = [pl.when(cond).then(pl.lit(text)) for text, cond in applies]
    joined = pl.concat_str(texts, separator="；", ignore_nulls=True) if texts else pl.lit(None, pl.String)
    return pl.when(joined.is_null() | (joined == "")).then(pl.lit(default)).otherwise(joined)


def _applicant_reason(warned: pl.DataFrame) -> pl.Expr:
    """A watched applicant's lead says where it comes from (the household is not on the roster)."""
    if "application_id" not in warned.columns:
        return pl.lit(None, pl.String)
    return pl.format("曾申请救助（申请核对 {}），未在监测名册中", pl.col("application_id"))


def make_leads(
    warned: pl.DataFrame, rules: RuleSet, month: str, previous: pl.DataFrame | None
) -> pl.DataFrame:
    """Leads of the month; `previous` holds the recently closed lead cases that cover a lead
    (household_id, lead_id, level_rank, rule_ids)."""
    warnings = rules.effective_warnings(month_bounds(month)[0])
    if not warnings:
        return pl.DataFrame(schema=LEAD_SCHEMA)
    rank_of = {lv: i for i, lv in enumerate(LEVELS)}
    fired = [pl.col(fired_column(w)) for w in warnings]
    level_rank = pl.min_horizontal(pl.when(pl.col(fired_column(w))).then(rank_of[w.level]) for w in warnings)
    leads = (
        warned.filter(pl.any_horizontal(fired))
        .with_columns(
            level_rank=level_rank,
            urgency=pl.when(
                pl.any_horizontal(pl.col(fired_column(w)) for w in warnings if w.urgency == "紧急")
            )
            .then(pl.lit("紧急"))
            .otherwise(pl.lit("一般"))
            if any(w.urgency == "紧急" for w in warnings)
            else pl.lit("一般"),
            rule_ids=pl.concat_list(
                pl.when(pl.col(fired_column(w))).then(pl.lit(w.id)) for w in warnings
            ).list.drop_nulls(),
            reasons=pl.concat_str(
                [pl.when(pl.col(fired_column(w))).then(reason_expr(w.reason)) for w in warnings]
                + [_applicant_reason(warned)],
                separator="；",
                ignore_nulls=True,
            ),
            recommended_action=_action_expr(rules, warnings, month),
            lead_id=pl.format("XS{}-{}", pl.lit(month.replace("-", "")), pl.col("household_id")),
        )
        .with_columns(
            level=pl.col("level_rank").replace_strict(dict(enumerate(LEVELS)), return_dtype=pl.String)
        )
    )
    if previous is not None and previous.height:
        pairs = leads.select("household_id", "lead_id", "level_rank", "rule_ids").join(
            previous.select(
                "household_id", prev_lead="lead_id", prev_rank="level_rank", prev_rules="rule_ids"
            ),
            on="household_id",
        )
        covered = (
            pairs.filter(
                (pl.col("prev_rank") <= pl.col("level_rank"))
                & (pl.col("rule_ids").list.set_difference("prev_rules").list.len() == 0)
            )
            .group_by("lead_id")
            .agg(suppressed_by=pl.col("prev_lead").max())
        )
        leads = leads.join(covered, on="lead_id", how="left")
    else:
        leads = leads.with_columns(suppressed_by=pl.lit(None, dtype=pl.String))
    leads = leads.with_columns(
        pushed=pl.col("suppressed_by").is_null(), rule_version=pl.lit(rules.version), month=pl.lit(month)
    )
    # The rank on the township's list is the case's (jobs/cases.py), set once cases are known.
    leads = leads.with_columns(rank=pl.lit(None, pl.UInt32), **visit_by(rules.deadlines, "leads", month))
    return leads.select([pl.col(c).cast(t) for c, t in LEAD_SCHEMA.items()])


def visit_by(deadlines: Deadlines, name: str, month: str) -> dict[str, pl.Expr]:
    """`issued_on` and `visit_by` of a returnable list's rows (rules/outcomes/deadlines.yaml): the
    first deadline rule whose level, urgency, category and direction match gives the days."""
    issued = deadlines.issued_on(month)
    days = pl.lit(None, dtype=pl.Int64)
    for rule in reversed([r for r in deadlines.rules if r.list == name]):
        cond = pl.lit(True)
        for column, allowed in (
            ("level", rule.levels),
            ("category", rule.categories),
            ("direction", rule.directions),
            ("urgency", (rule.urgency,) if rule.urgency else ()),
        ):
            if allowed:
                cond = cond & pl.col(column).is_in(list(allowed)).fill_null(False)
        days = pl.when(cond).then(pl.lit(rule.days)).otherwise(days)
    return {"issued_on": pl.lit(issued), "visit_by": pl.lit(issued) + pl.duration(days=days)}
