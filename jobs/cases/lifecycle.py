"""Cases (案件): what a township is asked to visit, from the month it is first issued until an
outcome comes back (监测 → 预警 → 核查 → 救助).

A case is a pushed lead, a doubtful record or a re-check draw. Each month it is in one state:

    new        issued for the first time this month
    standing   issued before, no outcome yet (the household is not handed the same work as new)
    escalated  a standing lead that got a worse colour or a new reason: a fresh deadline
    overdue    no outcome by its deadline: on the township's sheet 逾期未回传
    expired    open longer than `expire_after_months` (rules/outcomes/cases.yaml) since it was
               opened (`opened_on`: first issued or reopened): still listed,
               counted as expired unvisited, never dropped
    closed     an outcome came back this month (only an outcome closes a case), or a correction to a
               closed case's outcome came back and its new conclusion asks for no action
    reopened   a correction to a closed case's outcome came back and its new conclusion asks for
               action (`reopen_outcomes`, rules/outcomes/cases.yaml): back on the main sheet with the
               deadline rules/outcomes/deadlines.yaml gives its kind, colour and urgency, from this
               month's list; from the next month it stands like any open case, its age counted from
               the reopening (`opened_on`). A case whose household already has an open case of its
               kind (of its check, for a doubtful record) is not reopened: it closes again with the
               corrected outcome and the open case is marked changed (one visit, one case)
    queued     a new lead or doubtful record its township has no capacity for this month
               (jobs/cases/capacity.py): not on the lists, not issued; next month it competes with that
               month's new items, keeping its id and `first_month`; issued, it is `new` then

A lead whose event is past, a doubtful record whose condition disappeared (`condition_gone`) and a
household that left the roster (`on_roster` false) all stay open until someone has visited; so
does a queued item whose condition disappeared while it waited. Within
`closed_cover_months` of a closed case, the same finding (a lead with no worse colour and no new
rule, a doubtful record with the same evidence) is not issued again.

    <home>/lake/_cases/month=YYYY-MM/data.parquet   one row per case open in or closed in the month
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from jobs.assess.leads import visit_by as deadline_of
from jobs.cases import capacity
from safetynet.lake import Home
from safetynet.months import add_months, month_range, previous_month
from safetynet.rules import LEVELS, RuleSet

STATES = {
    "new": "新增",
    "standing": "持续",
    "escalated": "升级",
    "overdue": "逾期",
    "expired": "超期未核查",
    "closed": "已结案",
    "queued": "排队待下发",
    "reopened": "更正后重新打开",
}
OPEN_STATES = ("new", "standing", "escalated", "overdue", "expired", "queued", "reopened")
# what a correction (更正) compares: a row for a closed case that changes none of these changes
# nothing (a new note alone is no correction). The one definition: the upload check
# (portal/uploads.py), the county's table (portal/corrections.py) and v_outcomes read the mark
# `corrects_outcome` the lifecycle writes with it.
CORRECTED = ("outcome", "visited_on", "referred_to")
CASE_SCHEMA = {
    "month": pl.String,
    "case_id": pl.String,
    "kind": pl.String,  # lead, doubtful, recheck (as in `_issued`)
    "household_id": pl.String,
    "township_code": pl.String,
    "county_code": pl.String,
    "state": pl.String,
    "first_month": pl.String,
    "first_issued_on": pl.Date,
    "opened_on": pl.Date,  # the list that last opened it (first issue or reopening): its age counts from it
    "issued_on": pl.Date,  # the day this month's list is issued
    "visit_by": pl.Date,
    "days_open": pl.Int32,  # from the first issue to this month's list (or to the visit, once closed)
    "overdue": pl.Boolean,
    "escalated_to_county": pl.Boolean,
    "condition_gone": pl.Boolean,
    "on_roster": pl.Boolean,
    "changed": pl.Boolean,  # new, or its evidence differs from last month's: a report is drawn
    "level": pl.String,
    "urgency": pl.String,
    "rule_ids": pl.List(pl.String),  # every rule the lead carried while open
    "reasons": pl.String,
    "recommended_action": pl.String,
    "check_id": pl.String,
    "direction": pl.String,
    "evidence": pl.String,
    "source_refs": pl.List(pl.String),
    "sheet": pl.String,  # main, or overdue (the sheet 逾期未回传); null once closed
    "rank": pl.UInt32,  # row number on the township's list of its kind and sheet
    "outcome": pl.String,
    "visited_on": pl.Date,
    "referred_to": pl.String,
    "upload_sha256": pl.String,
    "source_file": pl.String,
    "source_row": pl.Int64,
    # a correction (更正) read this month: the outcome it corrects (`CORRECTED` changed); null otherwise
    "corrects_outcome": pl.String,
    "category": pl.String,  # a lead's category (低保, 特困 …): its deadline may depend on it
    # the township's visiting capacity (jobs/cases/capacity.py): households a month, in force for it
    "capacity": pl.Int32,
    "beyond_capacity": pl.Boolean,  # issued this month past the capacity (urgent)
    "queue_rank": pl.UInt32,  # a queued case's place in its township's queue (1: next)
    "queue_reason": pl.String,  # why it waits, as township and county staff read it
}
OUTCOME_COLUMNS = ("outcome", "visited_on", "referred_to", "upload_sha256", "source_file", "source_row")
RANK = {lv: i for i, lv in enumerate(LEVELS)}


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema=CASE_SCHEMA)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every case column, in order and typed; missing ones null."""
    return frame.select(
        [(pl.col(c) if c in frame.columns else pl.lit(None)).cast(t).alias(c) for c, t in CASE_SCHEMA.items()]
    )


@dataclass(frozen=True)
class History:
    """What the cases of earlier months say about `month`, before this month's findings."""

    open: pl.DataFrame  # cases still open after this month's outcomes
    closing: pl.DataFrame  # cases this month's outcomes close, with the outcome
    closed: pl.DataFrame  # cases closed within closed_cover_months, this month's included


def outcomes_by_case(outcomes: pl.DataFrame | None) -> pl.DataFrame:
    """One outcome per case id (the contract keys `outcomes` by id; the latest visit wins)."""
    schema = {"case_id": pl.String, **{c: CASE_SCHEMA[c] for c in OUTCOME_COLUMNS}}
    if outcomes is None or outcomes.height == 0:
        return pl.DataFrame(schema=schema)
    return (
        outcomes.rename({"lead_id": "case_id"})
        .sort("case_id", "visited_on", "source_file", "source_row")
        .unique("case_id", keep="last", maintain_order=True)
        .select([pl.col(c).cast(t) for c, t in schema.items()])
    )


def history(h: Home, month: str, rules: RuleSet) -> History:
    """The cases of the month before `month`, its outcomes, and the cases closed recently."""
    cover = rules.cases.closed_cover_months
    window = month_range(add_months(month, -cover), previous_month(month))
    paths = [p for m in window if (p := h.partition("_cases", m) / "data.parquet").exists()]
    earlier = pl.scan_parquet(paths).filter(pl.col("state") == "closed").collect() if paths else None
    before = h.read("_cases", previous_month(month))
    if before is None:
        before = from_issued(h, previous_month(month))
    outcomes = h.read("outcomes", month)
    named = [] if outcomes is None else outcomes["lead_id"].unique().to_list()
    closed = closed_cases(h, month, named)
    return split(month, before, outcomes, earlier, closed, rules.cases.reopen_outcomes)


def _closed_rows(h: Home, month: str) -> tuple[pl.LazyFrame | None, set[str]]:
    """Every closed row of the months before `month`, and the ids open in the month before it (a
    case closed once and reopened by a correction is open, whatever its closed row says)."""
    paths = [p for m in h.months() if m < month and (p := h.partition("_cases", m) / "data.parquet").exists()]
    if not paths:
        return None, set()
    before = h.read("_cases", previous_month(month), columns=["case_id", "state"])
    still_open = (
        set() if before is None else set(before.filter(pl.col("state").is_in(OPEN_STATES))["case_id"])
    )
    return pl.scan_parquet(paths).filter(pl.col("state") == "closed"), still_open


def closed_ids(h: Home, month: str) -> list[str] | None:
    """Ids of the cases closed by an outcome in the published months before `month` and not
    reopened since (`_cases`). None when no month has cases."""
    rows, still_open = _closed_rows(h, month)
    if rows is None:
        return None
    ids = rows.select(pl.col("case_id").unique()).collect()["case_id"]
    return sorted(set(ids) - still_open)


def closed_cases(h: Home, month: str, ids: list[str]) -> pl.DataFrame | None:
    """The latest closed row of each of `ids` that is closed before `month` (not reopened since):
    what a correction returned in `month` corrects."""
    rows, still_open = _closed_rows(h, month)
    if rows is None or not ids:
        return None
    wanted = sorted(set(ids) - still_open)
    return (
        rows.filter(pl.col("case_id").is_in(wanted))
        .collect()
        .pipe(conform)
        .sort("case_id", "month")
        .unique("case_id", keep="last", maintain_order=True)
    )


def from_issued(h: Home, month: str) -> pl.DataFrame | None:
    """The open cases of a month published before cases were kept: every id it issued (`_issued`),
    with its lead's or record's details, first issued in the earliest month that issued it. So a
    home's first month with cases carries the standing work on instead of issuing it again."""
    issued = h.read("_issued", month)
    if issued is None:
        return None
    paths = [p for m in h.months() if m <= month for p in h.files("_issued", m)]
    first = (
        pl.scan_parquet(paths)
        .group_by("id")
        .agg(first_month=pl.col("month").min(), first_issued_on=pl.col("issued_on").min())
        .collect()
    )
    leads = h.read("_leads", month)
    doubtful = h.read("_doubtful", month)
    frames = [issued.rename({"id": "case_id"}).join(first, left_on="case_id", right_on="id", how="left")]
    if leads is not None:
        frames.append(
            leads.filter("pushed").select(
                "level",
                "urgency",
                "rule_ids",
                "reasons",
                "recommended_action",
                case_id="lead_id",
            )
        )
    if doubtful is not None:
        frames.append(
            records(doubtful).select("check_id", "direction", "evidence", "source_refs", case_id="record_id")
        )
    cases = frames[0]
    for frame in frames[1:]:
        cases = cases.join(frame, on="case_id", how="left")
    return conform(
        cases.with_columns(
            state=pl.lit("standing"),
            county_code=pl.col("township_code").str.slice(0, 6),
        )
    )


def split(
    month: str,
    before: pl.DataFrame | None,
    outcomes: pl.DataFrame | None,
    earlier_closed: pl.DataFrame | None = None,
    closed_before: pl.DataFrame | None = None,
    reopen: tuple[str, ...] = (),
) -> History:
    """The open cases of the month before, split by this month's outcomes (`outcomes` source rows)
    into those that stay open and those closing now; `earlier_closed`: cases closed recently.
    `closed_before`: the latest closed row of cases closed in earlier months (`closed_cases`); an
    outcome for one of them that changes its conclusion, date or referral is a correction (更正):
    the case follows it, reopened when the new conclusion is one of `reopen` and differs from the
    old, else closed again this month with the corrected outcome."""
    before = empty() if before is None else conform(before)
    open_before = before.filter(pl.col("state").is_in(OPEN_STATES)).with_columns(
        state=pl.when(pl.col("state") == "reopened").then(pl.lit("standing")).otherwise("state"),
        changed=pl.lit(False),
        corrects_outcome=pl.lit(None, pl.String),
    )
    returned = outcomes_by_case(outcomes)
    closing = (
        open_before.drop(OUTCOME_COLUMNS)
        .join(returned, on="case_id", how="inner")
        .with_columns(month=pl.lit(month), state=pl.lit("closed"), overdue=pl.lit(False))
    )
    staying = open_before.join(returned, on="case_id", how="anti").with_columns(_visit_key())
    corrected = corrections(closed_before, returned.join(open_before, on="case_id", how="anti"))
    reopens = pl.col("outcome").is_in(list(reopen)) & (pl.col("outcome") != pl.col("previous_outcome"))
    # one open case per household and kind (and check): a correction does not open a second one
    wanted = corrected.filter(reopens).with_columns(_visit_key())
    blocked = wanted.join(staying.select("visit_key"), on="visit_key", how="semi")
    reopened = (
        wanted.join(blocked.select("case_id"), on="case_id", how="anti")
        .sort("case_id")
        .unique("visit_key", keep="first", maintain_order=True)
    )
    staying = staying.with_columns(changed=pl.col("visit_key").is_in(blocked["visit_key"].implode()))
    reopened = reopened.with_columns(
        [pl.lit(None).alias(c) for c in OUTCOME_COLUMNS],
        month=pl.lit(month),
        state=pl.lit("reopened"),
        overdue=pl.lit(False),
        sheet=pl.lit(None),
        rank=pl.lit(None),
    )
    closes_again = corrected.join(reopened.select("case_id"), on="case_id", how="anti")
    closing = pl.concat([conform(closing), conform(closes_again.with_columns(month=pl.lit(month)))])
    earlier = empty() if earlier_closed is None else conform(earlier_closed)
    earlier = earlier.join(reopened.select("case_id"), on="case_id", how="anti")
    return History(
        open=pl.concat([conform(staying), conform(reopened)]),
        closing=closing,
        closed=pl.concat([earlier, closing]),
    )


def _visit_key() -> pl.Expr:
    """What one open case stands for: a household's visit of a kind (and check, for a record)."""
    return pl.concat_str("kind", "household_id", pl.col("check_id").fill_null(""), separator="\t").alias(
        "visit_key"
    )


def corrections(closed_before: pl.DataFrame | None, returned: pl.DataFrame) -> pl.DataFrame:
    """The closed cases whose `returned` outcome (`outcomes_by_case`) changes what closed them
    (`CORRECTED`): their closed row with the new outcome, closed in this month, the
    `previous_outcome` and the mark `corrects_outcome`."""
    if closed_before is None or returned.height == 0:
        return conform(empty()).with_columns(previous_outcome=pl.lit(None, pl.String))
    joined = conform(closed_before).join(returned, on="case_id", how="inner", suffix="_new")
    changed = pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_new")) for c in CORRECTED)
    return (
        joined.filter(changed)
        .select(
            *[pl.col(f"{c}_new").alias(c) if c in OUTCOME_COLUMNS else pl.col(c) for c in CASE_SCHEMA],
            previous_outcome="outcome",
        )
        .with_columns(
            state=pl.lit("closed"), overdue=pl.lit(False), corrects_outcome=pl.col("previous_outcome")
        )
    )


def covering_leads(closed: pl.DataFrame) -> pl.DataFrame:
    """Closed lead cases as `make_leads` reads earlier pushes: a lead they cover is not pushed."""
    return closed.filter(pl.col("kind") == "lead").select(
        "household_id",
        lead_id="case_id",
        rule_ids="rule_ids",
        level_rank=pl.col("level").replace_strict(RANK, return_dtype=pl.Int64),
    )


def attach_leads(leads: pl.DataFrame, open_cases: pl.DataFrame) -> pl.DataFrame:
    """A pushed lead on a household with an open lead case carries that case's id (one case per
    household: the earliest id, should there ever be two)."""
    cases = (
        open_cases.filter(pl.col("kind") == "lead")
        .select("household_id", case_id="case_id")
        .sort("case_id")
        .unique("household_id", keep="first", maintain_order=True)
    )
    return (
        leads.join(cases, on="household_id", how="left")
        .with_columns(lead_id=pl.when("pushed").then(pl.coalesce("case_id", "lead_id")).otherwise("lead_id"))
        .drop("case_id")
    )


def lead_cases(leads: pl.DataFrame, open_cases: pl.DataFrame) -> pl.DataFrame:
    """This month's lead cases: the pushed leads (new, or the case they stand on) and the open
    lead cases no rule fired for this month (standing, their condition gone)."""
    pushed = leads.filter(pl.col("pushed")).select(
        "lead_id",
        "household_id",
        "township_code",
        "county_code",
        "category",
        "level",
        "urgency",
        "rule_ids",
        "reasons",
        "recommended_action",
        "visit_by",
    )
    before = open_cases.filter(pl.col("kind") == "lead")
    both = before.join(
        pushed, left_on="case_id", right_on="lead_id", how="full", suffix="_now", coalesce=True
    )
    fired = pl.col("household_id_now").is_not_null()
    known = pl.col("state").is_not_null()
    waiting = pl.col("state") == "queued"
    worse = pl.col("level_now").replace_strict(RANK, default=99) < pl.col("level").replace_strict(
        RANK, default=99
    )
    new_rule = pl.col("rule_ids_now").list.set_difference(pl.col("rule_ids")).list.len() > 0
    escalated = known & fired & (worse | new_rule) & ~waiting
    reopened = pl.col("state") == "reopened"
    return both.with_columns(
        state=pl.when(~known)
        .then(pl.lit("new"))
        .when(waiting)
        .then(pl.lit("queued"))
        .when(reopened)
        .then(pl.lit("reopened"))
        .when(escalated)
        .then(pl.lit("escalated"))
        .otherwise(pl.lit("standing")),
        household_id=pl.coalesce("household_id", "household_id_now"),
        township_code=pl.coalesce("township_code", "township_code_now"),
        county_code=pl.coalesce("county_code", "county_code_now"),
        level=pl.when(~known | worse).then("level_now").otherwise("level"),
        urgency=pl.when(pl.col("urgency_now") == "紧急")
        .then(pl.lit("紧急"))
        .otherwise(pl.coalesce("urgency", "urgency_now")),
        rule_ids=pl.when(~known)
        .then("rule_ids_now")
        .when(fired)
        .then(pl.concat_list("rule_ids", "rule_ids_now").list.unique().list.sort())
        .otherwise("rule_ids"),
        reasons=pl.coalesce("reasons_now", "reasons"),
        recommended_action=pl.coalesce("recommended_action_now", "recommended_action"),
        category=pl.coalesce("category_now", "category"),
        # a reopened case's deadline is `advance`'s, from the deadline rules
        visit_by=pl.when(reopened.fill_null(False))
        .then("visit_by")
        .when(~known | escalated | (waiting & fired))
        .then("visit_by_now")
        .otherwise("visit_by"),
        condition_gone=~fired,
        changed=~known | escalated | waiting | reopened.fill_null(False) | pl.col("changed").fill_null(False),
        kind=pl.lit("lead"),
    )


def records(doubtful: pl.DataFrame) -> pl.DataFrame:
    """One row per record id: a household's doubtful records of one check, their evidence joined."""
    return (
        doubtful.sort("record_id", "evidence")
        .group_by("record_id", maintain_order=True)
        .agg(
            pl.col("household_id", "township_code", "check_id", "direction", "visit_by").first(),
            pl.col("evidence").str.join("；"),
            pl.col("source_refs").list.explode(keep_nulls=False, empty_as_null=False).unique().sort(),
        )
    )


def doubtful_cases(doubtful: pl.DataFrame, open_cases: pl.DataFrame) -> pl.DataFrame:
    """This month's doubtful-record cases: the issued records (one case per household and check)
    and the open ones whose condition disappeared."""
    now = records(doubtful.filter(pl.col("issued")))
    before = open_cases.filter(pl.col("kind") == "doubtful")
    both = before.join(now, left_on="case_id", right_on="record_id", how="full", suffix="_now", coalesce=True)
    known = pl.col("state").is_not_null()
    fired = pl.col("household_id_now").is_not_null()
    waiting = pl.col("state") == "queued"
    reopened = (pl.col("state") == "reopened").fill_null(False)
    return both.with_columns(
        state=pl.when(waiting)
        .then(pl.lit("queued"))
        .when(reopened)
        .then(pl.lit("reopened"))
        .when(known)
        .then(pl.lit("standing"))
        .otherwise(pl.lit("new")),
        household_id=pl.coalesce("household_id", "household_id_now"),
        township_code=pl.coalesce("township_code", "township_code_now"),
        county_code=pl.coalesce("township_code", "township_code_now").str.slice(0, 6),
        check_id=pl.coalesce("check_id", "check_id_now"),
        direction=pl.coalesce("direction_now", "direction"),
        evidence=pl.coalesce("evidence_now", "evidence"),
        source_refs=pl.coalesce("source_refs_now", "source_refs"),
        visit_by=pl.when(known & ~(waiting & fired)).then("visit_by").otherwise("visit_by_now"),
        condition_gone=~fired,
        changed=~known
        | waiting
        | reopened
        | pl.col("changed").fill_null(False)
        | (fired & (pl.col("evidence_now") != pl.col("evidence"))),
        kind=pl.lit("doubtful"),
    )


def recheck_cases(sample: pl.DataFrame | None, open_cases: pl.DataFrame) -> pl.DataFrame:
    """The open re-check draws, and this month's new draw when the period's sample is drawn."""
    reopened = pl.col("state") == "reopened"
    before = open_cases.filter(pl.col("kind") == "recheck").with_columns(
        state=pl.when(reopened).then(pl.lit("reopened")).otherwise(pl.lit("standing")),
        changed=reopened | pl.col("changed").fill_null(False),
        condition_gone=pl.lit(False),
    )
    if sample is None or sample.height == 0:
        return before
    drawn = sample.select(
        case_id="record_id",
        household_id="household_id",
        township_code="township_code",
        county_code=pl.col("township_code").str.slice(0, 6),
        visit_by="visit_by",
        state=pl.lit("new"),
        changed=pl.lit(True),
        condition_gone=pl.lit(False),
        kind=pl.lit("recheck"),
    )
    return pl.concat([conform(before), conform(drawn.join(before, on="case_id", how="anti"))])


def advance(
    month: str,
    rules: RuleSet,
    past: History,
    leads: pl.DataFrame,
    doubtful: pl.DataFrame,
    sample: pl.DataFrame | None,
    households: pl.DataFrame,
) -> pl.DataFrame:
    """The month's cases from the open ones before it, its findings and its outcomes.
    `leads` and `doubtful` carry the ids `attach_leads` and `record_ids` gave them; `households`
    the household ids on this month's roster."""
    issued_on = rules.deadlines.issued_on(month)
    expire = rules.cases.expire_after_months
    parts = [
        lead_cases(leads, past.open),
        doubtful_cases(doubtful, past.open),
        recheck_cases(sample, past.open),
    ]
    current = pl.concat([conform(p) for p in parts])
    reopened = pl.col("state") == "reopened"
    # a queued item whose condition is gone keeps the days it had to visit, from this month's list
    # a reopened case: the days the deadline rules give its kind, colour and urgency, as a new case
    current = current.with_columns(
        visit_by=pl.when((pl.col("state") == "queued") & pl.col("condition_gone"))
        .then(pl.col("visit_by") + (pl.lit(issued_on) - pl.col("issued_on")))
        .when(reopened)
        .then(reopened_deadline(rules, month))
        .otherwise("visit_by")
    )
    # months since the case was last opened: its first issue (not since first found: a queued item
    # ages from its issue) or its reopening
    age = _date_index(pl.col("issued_on")) - _date_index(pl.col("opened_on"))
    current = current.with_columns(
        month=pl.lit(month),
        first_month=pl.coalesce("first_month", pl.lit(month)),
        first_issued_on=pl.coalesce("first_issued_on", pl.lit(issued_on)),
        opened_on=pl.when(reopened)
        .then(pl.lit(issued_on))
        .otherwise(pl.coalesce("opened_on", "first_issued_on", pl.lit(issued_on))),
        issued_on=pl.lit(issued_on),
        overdue=~pl.col("state").is_in(["new", "queued", "reopened"])
        & (pl.col("visit_by") < pl.lit(issued_on)),
        on_roster=pl.col("household_id").is_in(households["household_id"].implode()),
    ).with_columns(
        state=pl.when(pl.col("state").is_in(["new", "escalated", "queued", "reopened"]))
        .then("state")
        .when(age >= expire)
        .then(pl.lit("expired"))
        .when("overdue")
        .then(pl.lit("overdue"))
        .otherwise("state"),
        days_open=(pl.col("issued_on") - pl.col("first_issued_on")).dt.total_days(),
    )
    closed = past.closing.with_columns(
        days_open=(pl.col("visited_on") - pl.col("first_issued_on")).dt.total_days(),
        on_roster=pl.col("household_id").is_in(households["household_id"].implode()),
        changed=pl.lit(False),
        escalated_to_county=pl.lit(False),
    )
    out = pl.concat([conform(current), conform(closed)]).with_columns(
        escalated_to_county=(pl.col("kind") == "lead")
        & pl.col("state").is_in(["overdue", "expired"])
        & pl.col("urgency").is_in(list(rules.cases.county_urgency)).fill_null(False)
    )
    return conform(out).sort("township_code", "kind", "case_id")


def track(
    h: Home, month: str, rules: RuleSet, past: History, leads: pl.DataFrame, hardship: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The month's cases, ranked, and its leads with the rank and deadline of their cases, from the
    build's doubtful records and re-check draw. `hardship`: household_id, hardship_score of every
    household on the month's roster."""
    month_cases = advance(
        month,
        rules,
        past,
        leads,
        h.read("_doubtful", month),
        h.read("_recheck", month),
        hardship.select("household_id"),
    )
    month_cases = capacity.allot(month_cases, rules, month, hardship, capacity.learned_yield(h, month))
    month_cases = rank(month_cases, hardship)
    return month_cases, rank_leads(leads, month_cases)


def reopened_deadline(rules: RuleSet, month: str) -> pl.Expr:
    """A case's deadline as if it were issued new on `month`'s list (rules/outcomes/deadlines.yaml
    for its kind, colour, urgency, category and direction)."""
    deadline = pl.lit(None, pl.Date)
    for kind, name in (("lead", "leads"), ("doubtful", "doubtful"), ("recheck", "recheck")):
        days = deadline_of(rules.deadlines, name, month)["visit_by"]
        deadline = pl.when(pl.col("kind") == kind).then(days).otherwise(deadline)
    return deadline


def _date_index(day: pl.Expr) -> pl.Expr:
    return day.dt.year().cast(pl.Int32) * 12 + day.dt.month().cast(pl.Int32)


SHEETS = {"main": ("new", "standing", "escalated", "reopened"), "overdue": ("overdue", "expired")}


def rank(month_cases: pl.DataFrame, hardship: pl.DataFrame) -> pl.DataFrame:
    """Each open case's row number on its township's list of its kind: the main sheet (new,
    standing, escalated, reopened) by colour, urgency, the depth of need (jobs/cases/capacity.py `NEED`), the
    hardship index and household; the sheet 逾期未回传 (overdue, expired) by deadline first.
    `hardship`: household_id, hardship_score (and the depth of need where known) of the month."""
    if capacity.NEED not in hardship.columns:
        hardship = hardship.with_columns(pl.lit(None, pl.Float64).alias(capacity.NEED))
    sheet = pl.when(pl.col("state").is_in(SHEETS["main"])).then(pl.lit("main"))
    sheet = sheet.when(pl.col("state").is_in(SHEETS["overdue"])).then(pl.lit("overdue"))
    order = pl.struct(
        pl.when(pl.col("sheet") == "overdue").then(pl.col("visit_by")),
        pl.col("level").replace_strict(RANK, default=len(RANK), return_dtype=pl.Int64),
        pl.col("urgency") != "紧急",
        pl.col(capacity.NEED).fill_null(float("inf")),
        -pl.col("hardship_score").fill_null(0),
        pl.col("direction"),
        pl.col("check_id"),
        pl.col("household_id"),
        pl.col("case_id"),
    )
    return (
        month_cases.join(
            hardship.select("household_id", "hardship_score", capacity.NEED), on="household_id", how="left"
        )
        .with_columns(sheet=sheet)
        .with_columns(
            rank=pl.when(pl.col("sheet").is_not_null())
            .then(order.rank("ordinal").over("township_code", "kind", "sheet"))
            .cast(pl.UInt32)
        )
        .drop("hardship_score", capacity.NEED)
    )


def rank_leads(leads: pl.DataFrame, month_cases: pl.DataFrame) -> pl.DataFrame:
    """The month's leads with the rank and deadline of the case each pushed lead stands on."""
    mine = month_cases.filter(pl.col("kind") == "lead").select(
        lead_id="case_id",
        case_rank="rank",
        case_visit_by="visit_by",
        queued=pl.col("state") == "queued",
        queue_rank="queue_rank",
    )
    waiting = pl.col("queued").fill_null(False)
    return (
        leads.drop("queued", "queue_rank", strict=False)
        .join(mine, on="lead_id", how="left")
        .with_columns(
            rank=pl.when("pushed").then("case_rank"),
            visit_by=pl.when(pl.col("pushed") & waiting)
            .then(None)
            .when("pushed")
            .then("case_visit_by")
            .otherwise("visit_by"),
            issued_on=pl.when(pl.col("pushed") & waiting).then(None).otherwise("issued_on"),
            queued=pl.col("pushed") & waiting,
            queue_rank=pl.when(pl.col("pushed")).then("queue_rank"),
        )
        .drop("case_rank", "case_visit_by")
    )
