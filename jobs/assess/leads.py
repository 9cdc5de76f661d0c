"""Warning rules (`rules/warnings/`) and the leads (线索) they make, one per household and month.

A lead combines the household's fired rules: the most severe colour, 紧急 if any fired rule is
urgent, the rule ids, the reasons in Chinese with their evidence (amounts, dates, departments), a
rank within the township and a recommended action that depends on the household's category
(`rules/actions.yaml`). A lead is pushed unless a case of the same household closed recently
(`closed_cover_months`, rules/outcomes/cases.yaml) was at least as severe and had all of this one's
rules: a persisting 12-month medical total is not pushed again after a visit, but a new reason or a
worse colour is. A pushed lead on a household with an open case stands on that case (jobs/cases/lifecycle.py).
A rule with `visit: need` asks for a visit only where the household is not on dibao or te kun and its
income after rigid expenditure (jobs/assess/households.py `rigid_figure`), less the event's income effect,
is at or below the dibao standard, or where its `visit_when` holds (policy-urgent); a lead none of
whose rules asks for a visit is kept, not pushed, with `held_reason` saying why.
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
    "held_reason": pl.String,  # why a lead asks for no visit (its rules speak of no need): not pushed
    "rule_version": pl.String,
}
# A lead whose rules all wait for need (`visit: need`) and find none: the portrait and the ranking
# carry it, no visit is asked (issue 30, item 4).
HELD = (
    "扣除刚性支出后家庭人均月收入{}元（计入本月事件影响后{}元），高于当地低保标准{}元，且不属紧急情形："
    "列为家庭画像和排序的参考，不单独入户核查"
)
HELD_COVERED = (
    "已纳入低保或特困，扣除刚性支出后家庭人均月收入{}元（计入本月事件影响后{}元）低于当地低保标准{}元的部分"
    "由救助金补足，且不属紧急情形：列为家庭画像和排序的参考，不单独入户核查"
)


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


def after_event(rule: WarningRule) -> pl.Expr:
    """The household's income after rigid expenditure, per counted member, once the event's income
    effect (`income_effect`, yuan a month) is taken from it."""
    figure = pl.col("income_after_rigid_per_capita")
    if rule.income_effect is None:
        return figure
    members = pl.max_horizontal(pl.col("counted_members").cast(pl.Float64), 1.0)
    return figure - pl.col(rule.income_effect).cast(pl.Float64).fill_null(0) / members


def asks_visit(rule: WarningRule, month: str) -> pl.Expr:
    """Does the fired rule ask for a visit: always, or where the event moves a household not on
    dibao or te kun to or below the dibao standard (its figure after the event; unknown: it may),
    or where policy calls it urgent. A covered household's shortfall is met by its benefit."""
    if rule.visit == "always":
        return pl.lit(True)
    uncovered = pl.col("covered").fill_null(0) == 0
    need = uncovered & (after_event(rule) <= pl.col("dibao_standard")).fill_null(True)
    urgent = [condition_expr(c, month) for c in rule.visit_when]
    return pl.any_horizontal(need, *urgent)


def _held_reason(warnings: list[WarningRule]) -> pl.Expr:
    need = [w for w in warnings if w.visit == "need"]
    if not need:
        return pl.lit(None, pl.String)
    lowest = pl.min_horizontal(pl.when(pl.col(fired_column(w))).then(after_event(w)) for w in need)
    values = (pl.col("income_after_rigid_per_capita").round(2), lowest.round(2), pl.col("dibao_standard"))
    return (
        pl.when(pl.col("covered").fill_null(0) == 1)
        .then(pl.format(HELD_COVERED, *values))
        .otherwise(pl.format(HELD, *values))
    )


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
    # a rule on the household's need figure comes first: its reason leads the lead's reasons
    warnings = sorted(rules.effective_warnings(month_bounds(month)[0]), key=lambda w: w.kind != "need")
    if not warnings:
        return pl.DataFrame(schema=LEAD_SCHEMA)
    rank_of = {lv: i for i, lv in enumerate(LEVELS)}
    fired = [pl.col(fired_column(w)) for w in warnings]
    level_rank = pl.min_horizontal(pl.when(pl.col(fired_column(w))).then(rank_of[w.level]) for w in warnings)
    leads = (
        warned.filter(pl.any_horizontal(fired))
        .with_columns(
            level_rank=level_rank,
            # urgent only where an urgent rule asks for a visit: one waiting for need is a reason
            urgency=pl.when(
                pl.any_horizontal(
                    pl.col(fired_column(w)) & asks_visit(w, month) for w in warnings if w.urgency == "紧急"
                )
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
            visit=pl.any_horizontal(pl.col(fired_column(w)) & asks_visit(w, month) for w in warnings),
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
        pushed=pl.col("suppressed_by").is_null() & pl.col("visit"),
        held_reason=pl.when(~pl.col("visit")).then(_held_reason(warnings)),
        rule_version=pl.lit(rules.version),
        month=pl.lit(month),
    )
    # The rank on the township's list is the case's (jobs/cases/lifecycle.py), set once cases are known.
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
