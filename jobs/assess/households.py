"""Assemble each month's households: members from the roster, every member's facts from all
sources, look-back windows over earlier months of the lake, and the month's events.

One row per household and month; every column the hardship index and the warning rules may name
is listed in `FEATURES`. One function per source turns its rows into per-household features
(`disability`, `enrolment`, ...); `assemble` reads the month's window of the lake once
(jobs/assess/month_window.py `read_window`) and `features`, a pure function over its frames, joins
the parts. Lazy Polars throughout: no Python loop over households or persons. Policy concepts
(ages, working age, severe disability, windows, asset kinds) come from `rules/` through
`safetynet.concepts`, as the SQL of the means test reads them.

Events. An event source's row is an event in the month of its own date. A snapshot row is a new
event when its own date (registered, assessed, enrolled) falls after the last month a run saw the
source (`month_window.unseen_from`: the month, or the months since its last delivery, or since the
lake's first month when none within the window), or when it was not in the last earlier snapshot delivered
within the window (a late registration, or a worse grade). With no earlier snapshot to compare
with (a first month, skipped deliveries), an older row is "not known to be new": the household
lists the source in `events_unknown`, as missing is not zero.
A death is an event in the month it is delivered, whatever its date: it is acted on when known.
A source not delivered this month is listed in `missing_sources`, so the index can mark the
dimensions it feeds as incomplete instead of reading its absence as "no hardship".
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import polars as pl

from jobs.assess.month_window import Window, read_window, window
from safetynet import concepts as c
from safetynet.contract import HISTORY
from safetynet.lake import Home
from safetynet.months import month_bounds
from safetynet.rules import STAGES, MeansLimits, Population, RuleSet

DAMAGE = {"无": 0, "一般损坏": 1, "严重损坏": 2, "倒塌": 3}
DAMAGE_LABEL = {1: "一般损坏", 2: "严重损坏", 3: "倒塌"}
GRADE = {"A": 1, "B": 2, "C": 3, "D": 4}

FEATURES = {
    # identity
    "household_id": pl.String,
    "division_code": pl.String,
    "township_code": pl.String,
    "county_code": pl.String,
    "category": pl.String,
    "residence_type": pl.String,
    # an applicant household watched after its application check (jobs/applications/), not on the roster
    "application_id": pl.String,
    "members": pl.UInt32,
    "members_incomplete": pl.Int8,  # a member's roster row was quarantined: members unknown
    # family population
    "minors": pl.UInt32,
    "elderly": pl.UInt32,
    "working_age": pl.UInt32,
    "dependency_ratio": pl.Float64,
    "elderly_only": pl.Int8,
    "elderly_alone": pl.Int8,
    "children_without_carer": pl.Int8,
    # health
    "serious_ill": pl.UInt32,
    "chronic_ill": pl.UInt32,
    "disabled": pl.UInt32,
    "severe_disabled": pl.UInt32,
    "oop_medical_month": pl.Float64,
    "oop_medical_12m": pl.Float64,
    "inpatient_12m": pl.UInt32,
    # education
    "preschool": pl.UInt32,
    "compulsory_students": pl.UInt32,
    "high_school_students": pl.UInt32,
    "college_students": pl.UInt32,
    "dropouts": pl.UInt32,
    # employment
    "no_labour_share": pl.Float64,
    "partial_labour": pl.UInt32,
    "single_person_candidates": pl.UInt32,
    "unemployed": pl.UInt32,
    "months_unemployed": pl.Int32,
    "employed": pl.UInt32,
    "employee_insured": pl.UInt32,
    # income and property
    "declared_income_per_capita": pl.Float64,
    "dibao_standard": pl.Float64,
    "income_ratio": pl.Float64,
    # 刚性支出困难 (issue 30): counted income as the means test counts it, rigid expenditure a month
    # (medical out of pocket net of medical assistance, schooling net of education aid) and what is left
    "covered": pl.Int8,  # on dibao or te kun (population.yaml recipient_categories)
    "counted_members": pl.UInt32,  # living members, as means_households.counted
    "counted_income": pl.Float64,  # yuan a month, as means_households.income
    "schooling_cost_year": pl.Float64,  # the students' stages' yearly costs (rigid_expenditure.yaml)
    "rigid_months": pl.Int32,  # months of the window whose medical claims the lake holds
    "education_aid_months": pl.Int32,  # months of the window whose education aid the lake holds
    "rigid_expenditure_month": pl.Float64,  # yuan a month, the monthly average over the months held
    "income_after_rigid_per_capita": pl.Float64,  # (counted income - rigid expenditure) / counted members
    "income_after_rigid_ratio": pl.Float64,  # income_after_rigid_per_capita / dibao_standard
    "counted_income_ratio": pl.Float64,  # counted income / counted members / dibao_standard, before rigid
    "deposits_per_capita": pl.Float64,
    "properties": pl.UInt32,
    "commercial_properties": pl.UInt32,
    "cars": pl.UInt32,
    "companies": pl.UInt32,
    "housing_fund_active": pl.UInt32,
    # living
    "housing_area_per_capita": pl.Float64,
    "dilapidated_grade": pl.Int32,
    "legal_aid_12m": pl.UInt32,
    # disasters and accidents
    "disaster_damage_12m": pl.Int32,
    "disaster_loss_12m": pl.Float64,
    "work_injuries_12m": pl.UInt32,
    "deaths_12m": pl.UInt32,
    "missing_12m": pl.UInt32,
    # assistance received
    "benefit_per_capita": pl.Float64,
    "medical_assistance_12m": pl.Float64,
    "education_aid_12m": pl.Float64,
    # events of the month (changes from the previous month)
    "event_new_disability": pl.UInt32,
    "event_severe_disability": pl.UInt32,
    "event_disability_grade": pl.Int32,
    "event_newly_unemployed": pl.UInt32,
    "event_unemployed_income": pl.Float64,  # counted income of the newly unemployed: what the loss takes
    "event_death": pl.UInt32,
    "event_death_earner": pl.UInt32,
    "event_death_elderly_alone": pl.UInt32,
    "event_death_date": pl.Date,
    "event_missing": pl.UInt32,
    "event_work_injury": pl.UInt32,
    "event_work_injury_date": pl.Date,
    "event_disaster_damage": pl.Int32,
    "event_disaster_damage_label": pl.String,
    "event_disaster_date": pl.Date,
    "event_disaster_loss": pl.Float64,
    "event_newly_dilapidated": pl.Int32,
    "event_dilapidated_label": pl.String,
    "event_kindergarten_entry": pl.UInt32,
    "event_new_upper_stage": pl.UInt32,
    "event_dropout": pl.UInt32,
    "events_unknown": pl.String,  # sources whose new events could not be told this month
}
SNAPSHOT_EVENTS = ("disability", "enrolment", "dilapidated_housing")
# Columns the later stages add and rules may also name.
STAGE_COLUMNS = {"hardship_score"}


class Period(NamedTuple):
    """The month being assembled and the concepts its features are counted with."""

    month: str
    start: dt.date
    end: dt.date
    window_start: dt.date  # first day of the look-back window
    p: Population
    limits: MeansLimits
    minimum_base: dict[str, float]  # division prefix ("default") -> yuan, in force in the month
    school_costs: dict[str, dict[str, float]]  # division prefix ("default") -> stage -> yuan a year

    @classmethod
    def of(cls, month: str, rules: RuleSet) -> Period:
        start, end = month_bounds(month)
        first = window(month, rules.population.lookback_months)[0]
        minimum = rules.minimum_base.at(start) if rules.minimum_base is not None else None
        costs = rules.rigid_expenditure.at(start) if rules.rigid_expenditure is not None else None
        return cls(
            month,
            start,
            end,
            month_bounds(first)[0],
            rules.population,
            rules.means_limits,
            minimum or {},
            costs or {},
        )

    def in_month(self, column: str) -> pl.Expr:
        return pl.col(column).is_between(self.start, self.end).fill_null(False)

    def unseen(self, column: str, since: dt.date | None) -> pl.Expr:
        """Dated from `since` (the first day no run saw the source; None: the month) to the month's end."""
        return pl.col(column).is_between(since or self.start, self.end).fill_null(False)

    def in_window(self, column: str) -> pl.Expr:
        return pl.col(column).is_between(self.window_start, self.end).fill_null(False)


def by_household(frame: pl.LazyFrame, members: pl.LazyFrame, **aggs: pl.Expr) -> pl.LazyFrame:
    """Per-person rows summed up per household of `members` (id_number, household_id)."""
    people = members.select("id_number", "household_id")
    return frame.join(people, on="id_number", how="inner").group_by("household_id").agg(**aggs)


def _not_known_new(period: Period, known: pl.Expr, date: str, since: dt.date | None) -> pl.Expr:
    """A row with no earlier snapshot to compare with, dated inside the window but before the
    months no run saw (`since`): it may have appeared this month or earlier. Older rows are known
    to be old."""
    return ~known & ~period.unseen(date, since) & period.in_window(date)


# --- the roster ----------------------------------------------------------------------------------


def persons(roster: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    """The month's roster with each person's age on the month's last day."""
    return roster.with_columns(age=c.age_on(c.birth_date(), period.end))


def roster_households(
    people: pl.LazyFrame, grades: pl.LazyFrame, gone: pl.LazyFrame, period: Period
) -> pl.LazyFrame:
    """Households of the roster: members by age, health and labour capacity, declared income and
    benefit, and who still lives (`gone`: ids of the dead and the declared missing)."""
    p, age = period.p, pl.col("age")
    alive = ~pl.col("gone")
    candidate = c.is_single_person_candidate(
        p, age, pl.col("labour_capacity"), pl.col("health_status"), pl.col("grade")
    ) & pl.col("category").is_in(list(p.single_person_categories))
    head_first = pl.col("relation") != "户主"
    return (
        people.join(grades, on="id_number", how="left")
        .join(gone.select("id_number", gone=pl.lit(True)), on="id_number", how="left")
        .with_columns(pl.col("gone").fill_null(False))
        .sort("household_id", head_first, "id_number")
        .group_by("household_id")
        .agg(
            pl.col("division_code").first(),
            pl.col("category").first(),
            pl.col("residence_type").first(),
            pl.col("application_id").first(),
            members=pl.len(),
            minors=c.is_minor(p, age).sum(),
            elderly=c.is_elderly(p, age).sum(),
            working_age=c.is_working_age(p, age).sum(),
            dependants=c.is_dependant(p, age).sum(),
            serious_ill=(pl.col("health_status") == "大病").sum(),
            chronic_ill=(pl.col("health_status") == "慢性病").sum(),
            no_labour=(pl.col("labour_capacity") == "无").sum(),
            partial_labour=(pl.col("labour_capacity") == "部分丧失").sum(),
            single_person_candidates=(candidate & alive).sum(),
            income=pl.col("declared_monthly_income").cast(pl.Float64).fill_null(0).sum(),
            benefit=pl.col("monthly_benefit").cast(pl.Float64).fill_null(0).sum(),
            housing_area=pl.col("housing_area").cast(pl.Float64).max(),
            living=alive.sum(),
            living_elderly=(alive & c.is_elderly(p, age)).sum(),
        )
    )


# --- snapshots with events -----------------------------------------------------------------------


def disability(
    now: pl.LazyFrame,
    before: pl.LazyFrame | None,
    members: pl.LazyFrame,
    period: Period,
    since: dt.date | None = None,
) -> pl.LazyFrame:
    """Registered disabilities, and the month's new or worse registrations (`since`: the first day
    no run saw the register, `month_window.unseen_from`; None: the month)."""
    rows = now.group_by("id_number").agg(pl.col("grade").min(), pl.col("registered_on").max())
    if before is None:
        rows = rows.with_columns(grade_prev=pl.lit(None, pl.Int32), known=pl.lit(False))
    else:
        prev = before.group_by("id_number").agg(grade_prev=pl.col("grade").min())
        rows = rows.join(prev, on="id_number", how="left").with_columns(known=pl.lit(True))
    worse = pl.col("grade_prev").is_null() | (pl.col("grade") < pl.col("grade_prev"))
    new = period.unseen("registered_on", since) | (pl.col("known") & worse)
    severe = c.is_severe_disability(period.p, pl.col("grade"))
    return by_household(
        rows.with_columns(new=new, unknown=_not_known_new(period, pl.col("known"), "registered_on", since)),
        members,
        disabled=pl.len(),
        severe_disabled=severe.sum(),
        event_new_disability=pl.col("new").sum(),
        event_severe_disability=(pl.col("new") & severe).sum(),
        event_disability_grade=pl.col("grade").filter(pl.col("new")).min(),
        unknown_disability=pl.col("unknown").any(),
    )


def enrolment(
    now: pl.LazyFrame,
    before: pl.LazyFrame | None,
    members: pl.LazyFrame,
    period: Period,
    since: dt.date | None = None,
) -> pl.LazyFrame:
    """Students by stage, and the month's entries to kindergarten and to the upper stages, and
    dropouts. An entry is dated (enrolled_on, new from `since` as in `disability`); a dropout is
    only seen against an earlier register."""

    def latest(rows: pl.LazyFrame) -> pl.LazyFrame:
        return rows.sort("enrolled_on", "stage", "status").group_by("id_number").last()

    rows = latest(now)
    if before is None:
        rows = rows.with_columns(
            stage_prev=pl.lit(None, pl.String), status_prev=pl.lit(None, pl.String), known=pl.lit(False)
        )
    else:
        prev = latest(before).select("id_number", stage_prev="stage", status_prev="status")
        rows = rows.join(prev, on="id_number", how="left").with_columns(known=pl.lit(True))
    stage, status, known = pl.col("stage"), pl.col("status"), pl.col("known")
    dated = period.unseen("enrolled_on", since)
    studying = status == "在读"
    dropout = status == "辍学"
    upper = list(period.p.upper_stages)  # rules/parameters/population.yaml: school_stages
    return by_household(
        rows,
        members,
        preschool=((stage == "学前") & studying).sum(),
        compulsory_students=(stage.is_in(["小学", "初中"]) & studying).sum(),
        high_school_students=(stage.is_in(["高中", "中职"]) & studying).sum(),
        college_students=(stage.is_in(["高职", "本科", "研究生"]) & studying).sum(),
        dropouts=dropout.sum(),
        **{studying_column(s): ((stage == s) & studying).sum() for s in STAGES},
        event_kindergarten_entry=((stage == "学前") & (dated | known & pl.col("stage_prev").is_null())).sum(),
        event_new_upper_stage=(
            stage.is_in(upper) & (dated | known & (stage != pl.col("stage_prev").fill_null("")))
        ).sum(),
        event_dropout=(dropout & known & (pl.col("status_prev").fill_null("") != "辍学")).sum(),
        unknown_enrolment=(
            _not_known_new(period, known, "enrolled_on", since) & (stage.is_in(["学前", *upper]))
            | ~known & dropout
        ).any(),
    )


def dilapidated(
    now: pl.LazyFrame,
    before: pl.LazyFrame | None,
    members: pl.LazyFrame,
    period: Period,
    since: dt.date | None = None,
) -> pl.LazyFrame:
    """The worst dwelling grade, and a grade newly assessed (from `since`, as in `disability`) or
    worse than the earlier register's."""
    grade = pl.col("grade").replace_strict(GRADE, default=0, return_dtype=pl.Int32)
    rows = (
        now.with_columns(g=grade)
        .sort("g", "assessed_on")
        .group_by("id_number")
        .agg(pl.col("g").last(), pl.col("assessed_on").last())
    )
    if before is None:
        rows = rows.with_columns(gp=pl.lit(0, pl.Int32), known=pl.lit(False))
    else:
        prev = before.with_columns(g=grade).group_by("id_number").agg(gp=pl.col("g").max())
        rows = rows.join(prev, on="id_number", how="left").with_columns(
            pl.col("gp").fill_null(0), known=pl.lit(True)
        )
    new = period.unseen("assessed_on", since) | (pl.col("known") & (pl.col("g") > pl.col("gp")))
    return by_household(
        rows,
        members,
        dilapidated_grade=pl.col("g").max(),
        event_newly_dilapidated=pl.when(new).then(pl.col("g")).otherwise(0).max(),
        unknown_dilapidated_housing=(
            _not_known_new(period, pl.col("known"), "assessed_on", since) & (pl.col("g") >= GRADE["C"])
        ).any(),
    )


def studying_column(stage: str) -> str:
    """A household's students in a stage (kept until its schooling costs are known, not a feature)."""
    return f"_studying_{stage}"


def by_place(places: dict, value) -> pl.Expr:
    """`value(v)` of the longest division prefix each row's `division_code` starts with, else of
    "default" (None without one)."""
    expr = value(places["default"]) if "default" in places else pl.lit(None, pl.Float64)
    for prefix in sorted((p for p in places if p != "default"), key=len):
        expr = (
            pl.when(pl.col("division_code").str.starts_with(prefix))
            .then(value(places[prefix]))
            .otherwise(expr)
        )
    return expr


def schooling_cost_year(period: Period) -> pl.Expr:
    """Yuan a year for the household's students, each at its stage's cost of the household's place."""
    if not period.school_costs:
        return pl.lit(None, pl.Float64)
    return pl.sum_horizontal(
        pl.col(studying_column(s)).fill_null(0)
        * by_place(period.school_costs, lambda costs, s=s: pl.lit(costs[s]))
        for s in STAGES
    )


# --- counted income and rigid expenditure (刚性支出困难) ---------------------------------------------


def counted_income(
    people: pl.LazyFrame,
    jobs: pl.LazyFrame,
    insurance: pl.LazyFrame,
    fund: pl.LazyFrame,
    gone: pl.LazyFrame,
    period: Period,
) -> pl.LazyFrame:
    """Each household's counted members and counted income (yuan a month), as the means test counts
    them (warehouse/means_test/models/01_means_members.sql; tests/test_rigid.py holds both paths to
    one answer on the synthetic world): per living member the highest of the declared income, the
    wage of the latest 就业 registration of the window, a 城镇职工 base of the month above the member's
    minimum base, and the housing-fund wage (deposit / housing_fund_wage_share). And what a job loss
    takes: the counted income of the members registered unemployed this month."""
    money = pl.Float64
    wages = (
        jobs.filter(
            (pl.col("status") == "就业")
            & pl.col("monthly_wage").is_not_null()
            & period.in_window("registered_on")
        )
        .sort("registered_on", "monthly_wage")
        .group_by("id_number")
        .agg(wage=pl.col("monthly_wage").last().cast(money))
    )
    newly = (
        jobs.filter((pl.col("status") == "失业") & period.in_month("registered_on"))
        .select("id_number", newly=pl.lit(True))
        .unique()
    )
    bases = (
        insurance.filter(pl.col("scheme") == "城镇职工")
        .group_by("id_number")
        .agg(base=pl.col("contribution_base").max().cast(money))
    )
    deposits = (
        fund.filter(pl.col("status") == "正常")
        .group_by("id_number")
        .agg(fund_wage=pl.col("monthly_deposit").sum().cast(money) / period.limits.housing_fund_wage_share)
    )
    minimum = (
        by_place(period.minimum_base, lambda v: pl.lit(float(v))) if period.minimum_base else pl.lit(0.0)
    )
    base = pl.when(pl.col("base") > minimum.fill_null(0.0)).then(pl.col("base"))
    income = pl.max_horizontal(
        pl.col("declared_monthly_income").cast(money).fill_null(0),
        pl.col("wage").fill_null(0),
        base.fill_null(0),
        pl.col("fund_wage").fill_null(0),
    )
    living = pl.col("gone").is_null()
    return (
        people.select("household_id", "id_number", "division_code", "declared_monthly_income")
        .join(wages, on="id_number", how="left")
        .join(bases, on="id_number", how="left")
        .join(deposits, on="id_number", how="left")
        .join(newly, on="id_number", how="left")
        .join(gone.select("id_number", gone=pl.lit(True)).unique(), on="id_number", how="left")
        .with_columns(income=income)
        .group_by("household_id")
        .agg(
            counted_members=living.sum(),
            counted_income=pl.col("income").filter(living).sum(),
            event_unemployed_income=pl.col("income").filter(living & pl.col("newly").fill_null(False)).sum(),
        )
    )


def rigid_figure() -> dict[str, pl.Expr]:
    """The household's rigid expenditure a month and its per-capita income after it. Medical costs
    are the out-of-pocket spending of the window net of medical assistance, averaged over the months
    of claims the lake holds (`rigid_months`: no division of a partial year by 12; none held: 0);
    schooling costs are the stages' yearly costs / 12 net of the education aid a month (averaged over
    its months held); neither is below 0. No counted member: no figure. `counted_income_ratio` is
    the same income before rigid expenditure against the standard: at or above it, the rigid
    expenditure is what takes the household below (刚性支出困难); below it, the income alone does
    (a dibao candidate, the means test's 应保 record)."""
    medical = pl.when(pl.col("rigid_months") > 0).then(
        (pl.col("oop_medical_12m") - pl.col("medical_assistance_12m")).clip(lower_bound=0)
        / pl.col("rigid_months")
    )
    aid = pl.when(pl.col("education_aid_months") > 0).then(
        pl.col("education_aid_12m") / pl.col("education_aid_months")
    )
    schooling = (pl.col("schooling_cost_year").fill_null(0) / 12 - aid.fill_null(0)).clip(lower_bound=0)
    rigid = medical.fill_null(0) + schooling
    members = pl.col("counted_members").cast(pl.Float64)
    figure = pl.when(members > 0).then((pl.col("counted_income") - rigid) / members)
    return {
        "rigid_expenditure_month": rigid,
        "income_after_rigid_per_capita": figure,
        "income_after_rigid_ratio": figure / pl.col("dibao_standard"),
        "counted_income_ratio": pl.when(members > 0).then(pl.col("counted_income") / members)
        / pl.col("dibao_standard"),
    }


# --- events and windows ------------------------------------------------------------------------


def employment(rows: pl.LazyFrame, members: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    """Each member's latest registration in the window; newly unemployed this month."""
    latest = (
        rows.filter(period.in_window("registered_on"))
        .select("id_number", "status", "registered_on")
        .unique()
        .sort("registered_on")
        .group_by("id_number")
        .agg(
            pl.col("status").last(),
            pl.col("registered_on").last(),
            newly=((pl.col("status") == "失业") & (pl.col("registered_on") >= period.start)).any(),
        )
    )
    days = period.p.unemployed_month_days  # rules/parameters/population.yaml
    months_out = ((pl.lit(period.end) - pl.col("registered_on")).dt.total_days() // days).cast(pl.Int32)
    return by_household(
        latest,
        members,
        unemployed=(pl.col("status") == "失业").sum(),
        employed=(pl.col("status") == "就业").sum(),
        months_unemployed=months_out.filter(pl.col("status") == "失业").max(),
        event_newly_unemployed=pl.col("newly").sum(),
    )


def medical(claims: pl.LazyFrame, members: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    """Out-of-pocket spending (month and window) and inpatient stays in the window."""
    oop = pl.col("out_of_pocket")  # summed in decimal: exact in any order, then as float
    return by_household(
        claims.filter(period.in_window("settled_on")).drop("month").unique(),
        members,
        oop_medical_12m=oop.sum().cast(pl.Float64),
        oop_medical_month=oop.filter(pl.col("settled_on") >= period.start).sum().cast(pl.Float64),
        inpatient_12m=(pl.col("inpatient") == "是").sum(),
    )


def window_amount(
    rows: pl.LazyFrame, date: str, amount: str, name: str, members: pl.LazyFrame, period: Period
) -> pl.LazyFrame:
    """The sum of an amount paid in the window."""
    rows = rows.filter(period.in_window(date)).drop("month").unique()
    return by_household(rows, members, **{name: pl.col(amount).sum().cast(pl.Float64)})


def window_events(
    rows: pl.LazyFrame,
    date: str,
    name: str,
    event: str,
    event_date: str | None,
    members: pl.LazyFrame,
    period: Period,
) -> pl.LazyFrame:
    """Events in the window (`name`) and in the month (`event`, its first date `event_date`)."""
    rows = rows.filter(period.in_window(date)).select("id_number", date).unique()
    aggs = {name: pl.len(), event: (pl.col(date) >= period.start).sum()}
    if event_date:
        aggs[event_date] = pl.col(date).filter(pl.col(date) >= period.start).min()
    return by_household(rows, members, **aggs)


def as_delivered_then(rows: pl.LazyFrame, date: str) -> pl.LazyFrame:
    """Rows of a history delivery (`<source>.history.csv`, contract version 3) as if delivered in
    the month of their own date: the earlier months' events, not news of the month they came in."""
    history = pl.col("source_file").str.contains(HISTORY, literal=True)
    dated = pl.col(date).dt.strftime("%Y-%m")
    then = pl.when(history & (dated < pl.col("month"))).then(dated).otherwise(pl.col("month"))
    return rows.with_columns(month=then).drop("source_file")


def deaths(rows: pl.LazyFrame, earners: pl.LazyFrame, members: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    """Deaths in the window, and those first delivered this month whatever their date (a death is
    acted on when it is known): of an earner (`earners`: ids with counted income or a 就业
    registration), or of a head or spouse (whether it leaves an elderly person alone is known once
    the household's living members are)."""
    first = rows.group_by("id_number").agg(pl.col("died_on").min(), delivered=pl.col("month").min())
    now = pl.col("delivered") == period.month
    people = members.select("id_number", "household_id", "relation")
    return (
        first.join(earners.select("id_number", earner=pl.lit(True)), on="id_number", how="left")
        .join(people, on="id_number", how="inner")
        .group_by("household_id")
        .agg(
            deaths_12m=period.in_window("died_on").sum(),
            event_death=now.sum(),
            event_death_date=pl.col("died_on").filter(now).min(),
            event_death_earner=(now & pl.col("earner").fill_null(False)).sum(),
            partner_died=(now & pl.col("relation").is_in(["户主", "配偶"])).sum(),
        )
    )


def disasters(rows: pl.LazyFrame, members: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    """Damage and losses in the window and the month. One disaster reported for several members
    is one loss: one row per household and date."""
    rows = (
        rows.filter(period.in_window("occurred_on"))
        .drop("month")
        .unique()
        .with_columns(
            damage=pl.col("house_damage").replace_strict(DAMAGE, default=0, return_dtype=pl.Int32),
            loss=pl.col("loss_amount").cast(pl.Float64).fill_null(0),
            now=pl.col("occurred_on") >= period.start,
        )
    )
    per_event = (
        rows.join(members.select("id_number", "household_id"), on="id_number", how="inner")
        .group_by("household_id", "occurred_on")
        .agg(pl.col("damage").max(), pl.col("loss").max(), pl.col("now").first())
    )
    return per_event.group_by("household_id").agg(
        disaster_damage_12m=pl.col("damage").max(),
        disaster_loss_12m=pl.col("loss").sum(),
        event_disaster_damage=pl.col("damage").filter(pl.col("now")).max(),
        event_disaster_date=pl.col("occurred_on").filter(pl.col("now")).min(),
        event_disaster_loss=pl.col("loss").filter(pl.col("now")).sum(),
    )


# --- assets: the month's snapshots, counted as the means test counts them -------------------------


def properties(rows: pl.LazyFrame, members: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    limits = period.limits
    return by_household(
        rows,
        members,
        properties=pl.col("property_id").filter(pl.col("usage").is_in(list(limits.home_usages))).n_unique(),
        commercial_properties=pl.col("property_id")
        .filter(pl.col("usage").is_in(list(limits.non_residential_usages)))
        .n_unique(),
    )


def cars(rows: pl.LazyFrame, members: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    limits = period.limits
    counted = (
        pl.col("vehicle_type").is_in(list(limits.car_types))
        & ~pl.col("vehicle_type").is_in(list(limits.car_exempt_types))
        & (pl.col("operating") == "否")
    )
    return by_household(rows, members, cars=counted.sum())


def business(rows: pl.LazyFrame, members: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    active = (pl.col("status") == "存续") & ~pl.col("entity_type").is_in(
        list(period.limits.business_exempt_types)
    )
    return by_household(rows, members, companies=pl.col("entity_id").filter(active).n_unique())


def deposits(rows: pl.LazyFrame, members: pl.LazyFrame) -> pl.LazyFrame:
    """A negative balance counts as 0, as in the means test; summed exactly in decimal."""
    balance = pl.when(pl.col("balance") > 0).then(pl.col("balance")).otherwise(0)
    return by_household(rows, members, deposits=balance.sum().cast(pl.Float64))


def dibao_standard_expr(rules: RuleSet, month_start: dt.date) -> pl.Expr:
    """The dibao standard for each household's place and residence type (longest prefix wins)."""
    places = rules.dibao_standard.at(month_start)
    if places is None:
        return pl.lit(None, dtype=pl.Float64)
    expr = pl.lit(None, dtype=pl.Float64)
    for prefix in sorted((p for p in places if p != "default"), key=len):
        value = places[prefix]
        expr = (
            pl.when(pl.col("division_code").str.starts_with(prefix))
            .then(
                pl.when(pl.col("residence_type") == "城市")
                .then(float(value["城市"]))
                .otherwise(float(value["农村"]))
            )
            .otherwise(expr)
        )
    default = places.get("default")
    if default is None:  # no standard for places without their own: their households go unchecked
        return expr
    fallback = (
        pl.when(pl.col("residence_type") == "城市")
        .then(float(default["城市"]))
        .otherwise(float(default["农村"]))
    )
    return pl.coalesce(expr, fallback)


def assemble(
    home: Home, month: str, rules: RuleSet, area: str | None = None
) -> tuple[pl.DataFrame, list[str]]:
    """Household-month features, one row per household in `household_id` order (of one prefecture,
    with `area`), and the sources missing this month: the month's window read once
    (jobs/assess/month_window.py), then `features` over its frames."""
    found = read_window(home, month, rules, area)
    return features(found, rules), found.missing


def features(w: Window, rules: RuleSet) -> pl.DataFrame:
    """The households of a month's window, in FEATURES' columns: no read of its own (the window's
    lazy scans are collected here, together)."""
    period = Period.of(w.month, rules)
    people = persons(w.roster, period)
    death_rows = as_delivered_then(w.rows["deaths"], "died_on")
    gone = gone_by(death_rows, w.rows["missing_persons"], period)
    members = household_members(people, gone, w.earlier_rosters, w.province_roster)
    # Every source joins these: computed once, not once per source (2 s each at 2 M households).
    members, gone = (frame.lazy() for frame in pl.collect_all([members, gone]))
    grades = w.snapshots["disability"].now.group_by("id_number").agg(pl.col("grade").min())
    households = roster_households(people, grades, gone, period)
    found = earners(members, w.rows, death_rows, period)
    parts = [
        *event_parts(w, members, death_rows, found, period),
        *asset_parts(w, members, people, gone, period),
    ]
    # Each source's part on its own, then the joins in memory: Polars runs the parts side by side
    # (measured at 2 M households: 15 s against 21 s as one query of 20 joins).
    first, *rest = pl.collect_all([households.sort("household_id"), *parts])
    for part in rest:  # in household order, kept: what is computed from it is written unsorted
        first = first.join(part, on="household_id", how="left", maintain_order="left")
    return _finish(first.lazy().with_columns(**months_held(w.held)), rules, period)


def gone_by(deaths: pl.LazyFrame, missing: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    """Who was gone by the month's end: the dead and the declared missing of the window (ids)."""
    return pl.concat(
        [
            deaths.filter(pl.col("died_on") <= period.end).select("id_number"),
            missing.filter(pl.col("declared_on") <= period.end).select("id_number"),
        ]
    ).unique()


def household_members(
    people: pl.LazyFrame,
    gone: pl.LazyFrame,
    earlier_rosters: list[pl.LazyFrame],
    province: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """Which household a person belongs to: this month's roster, and for people who have left it
    since (`gone`: the dead, the declared missing), the last earlier roster that listed them
    (`earlier_rosters`, newest first). A person on two households has their facts counted in the
    first, as one province; with `province` (a prefecture's month: every prefecture's roster), a
    person first on another prefecture's household counts there."""
    facts = ["id_number", "household_id", "relation", "declared_monthly_income"]
    listed = people.select(facts)
    if province is not None:  # a person also on another prefecture's household: their households there
        elsewhere = (
            province.select("id_number", "household_id")
            .join(listed.select("id_number"), on="id_number", how="semi")
            .join(listed.select("household_id").unique(), on="household_id", how="anti")
        )
        listed = pl.concat([listed, elsewhere], how="diagonal")
    members = listed.sort("id_number", "household_id").unique("id_number", keep="first", maintain_order=True)
    leavers = gone.join(members, on="id_number", how="anti")
    for roster in earlier_rosters:  # newest first: a later roster wins
        found = roster.select(facts).join(leavers, on="id_number", how="semi")
        members = pl.concat([members, found.join(members, on="id_number", how="anti")])
    if province is not None:  # ... and those first on another prefecture's household count there
        members = members.join(people.select("household_id").unique(), on="household_id", how="semi")
    return members


def earners(
    members: pl.LazyFrame, rows: dict[str, pl.LazyFrame], death_rows: pl.LazyFrame, period: Period
) -> pl.LazyFrame:
    """The dead of the window who earned (ids, repeated): counted income (declared, employee insurance
    or housing fund of the month or the one before) or a 就业 registration in the window, as the
    means test counts income."""
    return pl.concat(
        [
            members.filter(pl.col("declared_monthly_income") > 0).select("id_number"),
            rows["employment"]
            .filter((pl.col("status") == "就业") & period.in_window("registered_on"))
            .select("id_number"),
            rows["insured_recently"].filter(pl.col("scheme") == "城镇职工").select("id_number"),
            rows["fund_recently"].filter(pl.col("status") == "正常").select("id_number"),
        ]
    ).join(death_rows.filter(pl.col("month") == period.month), on="id_number", how="semi")


def event_parts(
    w: Window, members: pl.LazyFrame, death_rows: pl.LazyFrame, dead_earners: pl.LazyFrame, period: Period
) -> list[pl.LazyFrame]:
    """The registers' and the window's event sources' features, one frame per source."""
    r, snap = w.rows, w.snapshots
    dis, enrol, dil = snap["disability"], snap["enrolment"], snap["dilapidated_housing"]
    return [
        disability(dis.now, dis.before, members, period, dis.since),
        enrolment(enrol.now, enrol.before, members, period, enrol.since),
        dilapidated(dil.now, dil.before, members, period, dil.since),
        employment(r["employment"], members, period),
        medical(r["medical_claims"], members, period),
        window_amount(
            r["medical_assistance"], "paid_on", "amount", "medical_assistance_12m", members, period
        ),
        window_amount(r["education_aid"], "paid_on", "amount", "education_aid_12m", members, period),
        window_events(
            r["work_injury"],
            "injured_on",
            "work_injuries_12m",
            "event_work_injury",
            "event_work_injury_date",
            members,
            period,
        ),
        deaths(death_rows, dead_earners.unique(), members, period),
        window_events(
            r["missing_persons"], "declared_on", "missing_12m", "event_missing", None, members, period
        ),
        window_events(r["legal_aid"], "opened_on", "legal_aid_12m", "_legal_now", None, members, period).drop(
            "_legal_now"
        ),
        disasters(r["disasters"], members, period),
    ]


def asset_parts(
    w: Window, members: pl.LazyFrame, people: pl.LazyFrame, gone: pl.LazyFrame, period: Period
) -> list[pl.LazyFrame]:
    """The month's asset snapshots, insurance and housing fund, quarantined roster rows and counted
    income, one frame per part."""
    r = w.rows
    return [
        properties(r["real_estate"], members, period),
        cars(r["vehicles"], members, period),
        business(r["business"], members, period),
        deposits(r["deposits"], members),
        by_household(r["fund"], members, housing_fund_active=(pl.col("status") == "正常").sum()),
        by_household(  # members paying employee insurance (a few of 4 M rows: filtered first)
            r["insurance"].filter(pl.col("scheme") == "城镇职工").select("id_number").unique(),
            members,
            employee_insured=pl.len(),
        ),
        w.quarantined.with_columns(members_incomplete=pl.lit(1, pl.Int8)),
        counted_income(people, r["employment"], r["insurance"], r["fund"], gone, period),
    ]


def months_held(held: dict[str, int]) -> dict[str, pl.Expr]:
    """The months the 12-month medical and education-aid sums rest on (jobs/ingest/coverage.py,
    `Window.held`): what the rigid expenditure a month is averaged over."""
    return {
        "rigid_months": pl.lit(held["medical_claims"], pl.Int32),
        "education_aid_months": pl.lit(held["education_aid"], pl.Int32),
    }


def _finish(households: pl.LazyFrame, rules: RuleSet, period: Period) -> pl.DataFrame:
    """Ratios, labels and the absent facts of households with no rows in a source, in FEATURES' types."""
    members = pl.col("members").cast(pl.Float64)
    unknown = [f"unknown_{s}" for s in SNAPSHOT_EVENTS]
    out = households.with_columns(
        township_code=pl.col("division_code").str.slice(0, 9),
        county_code=pl.col("division_code").str.slice(0, 6),
        dependency_ratio=pl.col("dependants") / pl.max_horizontal(pl.col("working_age"), 1),
        elderly_only=(pl.col("elderly") == pl.col("members")).cast(pl.Int8),
        elderly_alone=((pl.col("members") == 1) & (pl.col("elderly") == 1)).cast(pl.Int8),
        children_without_carer=((pl.col("minors") > 0) & (pl.col("working_age") == 0)).cast(pl.Int8),
        no_labour_share=pl.col("no_labour") / members,
        declared_income_per_capita=pl.col("income") / members,
        dibao_standard=dibao_standard_expr(rules, period.start),
        deposits_per_capita=pl.col("deposits").fill_null(0) / members,
        housing_area_per_capita=pl.col("housing_area") / members,
        benefit_per_capita=pl.col("benefit") / members,
        covered=c.is_recipient(period.p, pl.col("category")).cast(pl.Int8),
        schooling_cost_year=schooling_cost_year(period),
        # a head or spouse who died this month leaves one living member, elderly
        event_death_elderly_alone=(
            (pl.col("partner_died").fill_null(0) > 0)
            & (pl.col("living") == 1)
            & (pl.col("living_elderly") == 1)
        ).cast(pl.UInt32),
        events_unknown=pl.concat_str(
            [pl.when(pl.col(u).fill_null(False)).then(pl.lit(u.removeprefix("unknown_"))) for u in unknown],
            separator=",",
            ignore_nulls=True,
        ).replace("", None),
    ).with_columns(
        income_ratio=pl.col("declared_income_per_capita") / pl.col("dibao_standard"),
        event_disaster_damage_label=pl.col("event_disaster_damage").replace_strict(
            DAMAGE_LABEL, default=None, return_dtype=pl.String
        ),
        event_dilapidated_label=pl.col("event_newly_dilapidated").replace_strict(
            {3: "C", 4: "D"}, default=None, return_dtype=pl.String
        ),
    )
    counts = [
        c
        for c, t in FEATURES.items()
        if t in (pl.UInt32, pl.Int8)
        and not c.startswith("event_")
        or c.startswith("event_")
        and t == pl.UInt32
    ]
    out = out.with_columns(
        [pl.col(c).fill_null(0) for c in counts]
        + [
            pl.col(c).fill_null(0.0)
            for c in (
                "oop_medical_12m",
                "oop_medical_month",
                "medical_assistance_12m",
                "education_aid_12m",
                "disaster_loss_12m",
                "counted_income",
                "event_unemployed_income",
            )
        ]
        + [
            pl.col(c).fill_null(0)
            for c in (
                "disaster_damage_12m",
                "dilapidated_grade",
                "months_unemployed",
                "event_disaster_damage",
                "event_newly_dilapidated",
            )
        ]
    )
    out = out.with_columns(**rigid_figure())
    frame = out.select([pl.col(c).cast(t) for c, t in FEATURES.items()]).collect()
    if not frame["household_id"].is_sorted():  # in household order, as the writes downstream expect
        frame = frame.sort("household_id")
    return frame.with_columns(month=pl.lit(period.month)).select("month", *FEATURES)
