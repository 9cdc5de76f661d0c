"""The synthetic world's assistance decisions (issue 36, item 6): townships propose for part of their
verified cases, counties approve most and return some, and later rosters carry most approvals.

With a home, for each month generated: a share of the outcomes that call for assistance (纳入低保,
纳入特困, 纳入低保边缘, 临时救助, 退出; some 纳入低保 as 单人保 for one member) become decision-log lines
in `<home>/lake/_decision_log/<month>.jsonl`, dated in the month after the visit, written through the
log's fields (jobs/decisions/log.py) as the portal writes them: proposed by the township; most
approved by the county, some returned then corrected and approved, a few still waiting; a 临时救助
within the township's limit approved by the township itself (先行救助). A decision takes effect in
the month it is approved, or, for every other one that changes a category, from the month before
(补发 from the month the case was found). The accounts are the generator's own (`demo-`), so a month
generated again writes no second copy, and lines the portal wrote stay as they are.

The rosters then show an approved decision (the household, or the 单人保 member, in the decided
category; 退出: out of 低保 and 特困) from its effective month for most decisions, one month late for
some, never for the rest (`SHOWN`). A decision taking effect from the month before its approval has
one roster left within `confirm_within_months` (2): never shown, it is 未落实 in the month it was
approved, so the demo's two months show 提交, 退回, 批准, 落实, 待落实 and 未落实. Which proposals are
returned or wait, which take effect from the month before, and which decisions come late or never,
goes by their place in the month, so that even a small world shows every state.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl

from jobs.decisions import decided
from jobs.decisions import log as decision_log
from safetynet.lake import Home, append_line
from safetynet.months import month_bounds, previous_month
from safetynet.rules import load_decisions, load_population

ACCOUNT = "demo-"  # the generator's accounts: demo-xz<township>, demo-xq<county>
KIND_OF = {
    "纳入低保": "纳入低保",
    "纳入特困": "纳入特困",
    "纳入低保边缘": "纳入低保边缘",
    "临时救助": "临时救助",
    "退出": "退出",
}
PROPOSED_SHARE = 0.8  # of the outcomes that call for assistance, proposed in the month
SINGLE_SHARE = 0.25  # of 纳入低保: 单人保 for one member
# by a proposal's place among the month's (so that even a small world shows each): every RETURNED-th
# proposal the county approves is returned once first, every WAITING-th is not yet decided
RETURNED, WAITING = 5, 12
# by a decision's place among the month's decisions that change a category and take effect in the
# same month: of three, two on time and one a month late; taking effect from the month before (补发):
# of two, one never and one on time (the first never, so that one such decision shows 未落实)
SHOWN = {"current": ("on time", "late", "on time"), "backdated": ("never", "on time")}
EXIT_CATEGORY = "其他低收入"
ON_ROSTER = (
    "纳入低保",
    "纳入特困",
    "纳入低保边缘",
    "单人保",
    "退出",
)  # 临时救助 and 调整金额 change no category  # what an exited household shows on the roster


def _members(home: Home, month: str) -> pl.DataFrame:
    roster = home.read("roster", month, ["household_id", "id_number", "relation"])
    if roster is None:
        return pl.DataFrame(
            schema={"household_id": pl.String, "ids": pl.List(pl.String), "single": pl.String}
        )
    return (
        roster.sort("household_id", "id_number")
        .group_by("household_id", maintain_order=True)
        .agg(ids=pl.col("id_number"), single=pl.col("id_number").last())
    )


def _cases(outcomes: pl.DataFrame, month: str, home: Home) -> pl.DataFrame:
    """The verified cases that call for assistance, with their household, township and members."""
    prev = previous_month(month)
    cases = home.read(
        "_cases",
        prev,
        ["case_id", "household_id", "township_code", "county_code", "urgency", "category", "first_issued_on"],
    )
    standard = home.read(
        "_household_month", prev, ["household_id", "dibao_standard", "declared_income_per_capita"]
    )
    if cases is None or standard is None or outcomes.is_empty():
        return pl.DataFrame()
    return (
        outcomes.filter(pl.col("outcome").is_in(list(KIND_OF)))
        .select(case_id="lead_id", visited_on=pl.col("visited_on").cast(pl.Date), outcome="outcome")
        .join(cases.unique("case_id"), on="case_id")
        .join(standard, on="household_id", how="left")
        .join(_members(home, prev), on="household_id")
        .sort("case_id")
    )


def _at(day: dt.date, hour: int, last: dt.date) -> str:
    return f"{min(day, last).isoformat()}T{hour:02d}:00:00+08:00"


def _prefill(
    row: dict, u: np.ndarray, month: str, k: int
) -> tuple[str, list[str], float | None, float | None, bool]:
    """(kind, members covered, monthly, one-off, helped first) of one case's proposal."""
    rules = load_decisions(month)
    kind = "单人保" if row["outcome"] == "纳入低保" and u[0] < SINGLE_SHARE else KIND_OF[row["outcome"]]
    ids = [row["single"]] if kind == "单人保" else row["ids"]
    standard, income = row["dibao_standard"] or 600.0, row["declared_income_per_capita"] or 0.0
    monthly, _ = rules.amount(kind, income, standard, len(ids), member_income=0.0)
    one_off = float(500 + int(u[1] * 2500) // 100 * 100) if kind == "临时救助" else None
    # 急难 on a household already assisted: the township helps first (先行救助) on the list's issue day,
    # within its limit, for two in three such cases (Qinghai's 48 hours, v_assistance_funnel)
    first_help = (
        kind == "临时救助"
        and row["urgency"] == "紧急"
        and row["category"] in load_population(month=month).recipient_categories
        and row["first_issued_on"] is not None
        and row["first_issued_on"].strftime("%Y-%m") == month
        and k % 3 != 2
    )
    if first_help:
        one_off = min(one_off, rules.self_approval_limit)
    return kind, ids, monthly, one_off, first_help


def _lines(
    row: dict, u: np.ndarray, month: str, last: dt.date, seq: int, k: int, backdated: bool
) -> list[str]:
    """The log lines of one case's proposal (`u`: its draws, `k`: its place among the month's;
    `backdated`: taking effect from the month before, when its kind changes a category)."""
    rules = load_decisions(month)
    kind, ids, monthly, one_off, first_help = _prefill(row, u, month, k)
    town, county = row["township_code"], row["county_code"]
    spec = rules.kinds[kind]
    fields = {
        "proposal_id": f"SB{month.replace('-', '')}-{row['household_id']}-{seq:02d}",
        "case_id": row["case_id"],
        "household_id": row["household_id"],
        "township_code": town,
        "county_code": county,
        "kind": kind,
        "category": None if spec.category == "current" else spec.category,
        "id_numbers": ids,
        "monthly_amount": monthly,
        "one_off_amount": one_off,
        "effective_from": previous_month(month) if backdated and kind in ON_ROSTER else month,
        "self_approved": False,
    }
    township = {"account": f"{ACCOUNT}xz{town}", "role": "township"}
    county_ = {"account": f"{ACCOUNT}xq{county}", "role": "county"}
    day = row["first_issued_on"] if first_help else row["visited_on"] + dt.timedelta(days=1 + int(u[2] * 3))
    out = [
        decision_log.line(
            event="proposed",
            at=_at(day, 9, last),
            version=1,
            reason=f"入户核查：{row['outcome']}",
            **fields,
            **township,
        )
    ]
    if k % WAITING == WAITING - 1:
        return out
    version = 1
    if rules.approver(kind, one_off) == "township":  # 先行救助: the township approves it itself
        approval = {**township, "self_approved": True}
    else:
        approval = county_
        if k % RETURNED == 1:
            out.append(
                decision_log.line(
                    event="returned",
                    at=_at(day, 15, last),
                    version=1,
                    reason="请补充收入证明",
                    **fields,
                    **county_,
                )
            )
            version, day = 2, day + dt.timedelta(days=1)
            out.append(
                decision_log.line(
                    event="proposed",
                    at=_at(day, 10, last),
                    version=2,
                    reason="已补充收入证明",
                    **fields,
                    **township,
                )
            )
    day = day if first_help else day + dt.timedelta(days=int(u[5] * 3))
    approved = {**fields, **approval, "decision_id": "JD" + fields["proposal_id"][2:]}
    out.append(
        decision_log.line(event="approved", at=_at(day, 17, last), version=version, reason="同意", **approved)
    )
    return out


def propose(month: str, seed: int, outcomes: pl.DataFrame, home: Path) -> int:
    """The month's decision-log lines for part of its verified cases; the lines written (none when the
    month's log already holds the generator's)."""
    h = Home(home)
    path = h.lake / decision_log.FOLDER / f"{month}.jsonl"
    if path.exists() and f'"account": "{ACCOUNT}' in path.read_text(encoding="utf-8"):
        return 0
    cases = _cases(outcomes, month, h)
    if cases.is_empty():
        return 0
    rng = np.random.default_rng([seed, 36, int(month.replace("-", ""))])
    draws = rng.random((cases.height, 7))
    _, last = month_bounds(month)
    lines, seq, k = [], {}, 0
    for row, u in zip(cases.iter_rows(named=True), draws, strict=True):  # one proposal per case: a few
        if u[6] >= PROPOSED_SHARE:
            continue
        seq[row["household_id"]] = seq.get(row["household_id"], 0) + 1
        lines += _lines(row, u, month, last, seq[row["household_id"]], k, backdated=k % 2 == 1)
        k += 1
    lines.sort(key=lambda text: json.loads(text)["at"])  # by time, as a log is appended
    for text in lines:
        append_line(path, text)
    return len(lines)


def _shown_from() -> pl.Expr:
    """The month a decision's roster first shows it (null: never), by its place among its month's
    decisions that change a category, taking effect in the month or before it (`SHOWN`)."""
    backdated = pl.col("effective_from") < pl.col("month")
    group = pl.when(backdated).then(pl.lit("backdated")).otherwise(pl.lit("current"))
    place = pl.int_range(pl.len()).over("month", group, order_by="decision_id")
    current, before = (
        pl.lit(list(SHOWN[k])).list.get(place % len(SHOWN[k])) for k in ("current", "backdated")
    )
    late = pl.when(backdated).then(before).otherwise(current)
    start = (pl.col("effective_from") + "-01").str.to_date("%Y-%m-%d")
    return (
        pl.when(late == "on time")
        .then(pl.col("effective_from"))
        .when(late == "late")
        .then(start.dt.offset_by("1mo").dt.strftime("%Y-%m"))
    )


def shown(month: str, home: Path) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """(household_id, decided_category), (id_number, member_category): what the rosters of `month`
    show of the decisions the home's log approved up to it, each from the month `_shown_from` gives
    it; None when there are none."""
    approved = decided.approved(decision_log.read(Home(home).lake, month))
    if approved.is_empty():
        return None
    kinds = load_decisions(month).kinds
    members = pl.col("kind").replace_strict({k: spec.members for k, spec in kinds.items()})
    change = (
        approved.filter(pl.col("kind").is_in(ON_ROSTER))
        .with_columns(shown_from=_shown_from(), members=members)
        .filter(pl.col("shown_from") <= month)
    )
    new = pl.when(pl.col("kind") == "退出").then(pl.lit(EXIT_CATEGORY)).otherwise(pl.col("category"))
    by_household = change.filter(pl.col("members") == "household").select(
        "household_id", decided_category=new
    )
    by_member = (
        change.filter(pl.col("members") == "one")
        .explode("id_numbers")
        .select(id_number="id_numbers", member_category=new)
    )
    return by_household.unique("household_id", keep="last"), by_member.unique("id_number", keep="last")


def on_roster(roster: pl.DataFrame, changes: tuple[pl.DataFrame, pl.DataFrame] | None) -> pl.DataFrame:
    """`roster` (one county's) with the categories `shown` gives its households and members."""
    if changes is None:
        return roster
    by_household, by_member = changes
    return (
        roster.join(by_household, on="household_id", how="left")
        .join(by_member, on="id_number", how="left")
        .with_columns(category=pl.coalesce("member_category", "decided_category", "category"))
        .drop("member_category", "decided_category")
    )
