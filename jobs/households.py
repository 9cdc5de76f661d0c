"""Assemble each month's households: members from the roster, every member's facts from all
sources, 12-month windows over earlier months of the lake, and events found as changes from the
previous month.

One row per household and month; every column the hardship index and the warning rules may name
is listed in `FEATURES`. Lazy Polars throughout: no Python loop over households or persons.
A source not delivered this month is listed in `missing_sources`, so the index can mark the
dimensions it feeds as incomplete instead of reading its absence as "no hardship".
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from jobs.lake import Home
from safetynet.months import month_bounds, month_range, previous_month
from safetynet.rules import RuleSet

WINDOW_MONTHS = 12  # rolling windows: out-of-pocket medical spending, assistance, accidents
UPPER_STAGES = ("高中", "中职", "高职", "本科", "研究生")
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
    "members": pl.UInt32,
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
    "unemployed": pl.UInt32,
    "months_unemployed": pl.Int32,
    "employed": pl.UInt32,
    "employee_insured": pl.UInt32,
    # income and property
    "declared_income_per_capita": pl.Float64,
    "dibao_standard": pl.Float64,
    "income_ratio": pl.Float64,
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
    "event_death": pl.UInt32,
    "event_death_working_age": pl.UInt32,
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
}
# Columns the later stages add and rules may also name.
STAGE_COLUMNS = {"hardship_score"}


def window(month: str) -> list[str]:
    start, _ = month_bounds(month)
    first = start.replace(year=start.year - 1) + dt.timedelta(days=31)
    return month_range(first.strftime("%Y-%m"), month)[-WINDOW_MONTHS:]


class Lake:
    """Lazy reads of accepted rows; a month that was not loaded simply has no rows."""

    def __init__(self, home: Home):
        self.home = home

    def scan(self, source: str, months: list[str]) -> pl.LazyFrame | None:
        paths = [self.home.partition(source, m) / "data.parquet" for m in months]
        paths = [p for p in paths if p.exists()]
        return pl.scan_parquet(paths) if paths else None

    def delivered(self, month: str) -> set[str]:
        folder = self.home.partition("_deliveries", month)
        if not folder.exists():
            return set()
        frame = pl.read_parquet(folder / "*.parquet", columns=["source", "status"])
        return set(frame.filter(pl.col("status") == "delivered")["source"])


def _empty(schema: dict) -> pl.LazyFrame:
    return pl.DataFrame(schema=schema).lazy()


def _per_person(lake: Lake, source: str, months: list[str], schema: dict) -> pl.LazyFrame:
    frame = lake.scan(source, months)
    return frame.select(list(schema)) if frame is not None else _empty(schema)


def _standard(rules: RuleSet, month_start: dt.date) -> pl.Expr:
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


def assemble(home: Home, month: str, rules: RuleSet) -> tuple[pl.DataFrame, list[str]]:
    """Household-month features, one row per household in `household_id` order, and the sources
    missing this month."""
    lake = Lake(home)
    start, end = month_bounds(month)
    prev = previous_month(month)
    months = window(month)
    window_start = month_bounds(months[0])[0]
    delivered, delivered_prev = lake.delivered(month), lake.delivered(prev)
    missing = sorted({s for ind in rules.indicators for s in ind.sources} - delivered)

    roster = lake.scan("roster", [month])
    if roster is None:
        raise FileNotFoundError(
            f"{home.root}: no roster in the lake for {month}: households cannot be assembled"
        )
    birth = pl.col("id_number").str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    persons = roster.with_columns(
        age=((pl.lit(end) - birth).dt.total_days() / 365.25).floor().cast(pl.Int32),
    )
    # Which household a person belongs to: this month's roster, and for people who have left it
    # since an event in the window (the dead, the declared missing), the last roster that listed them.
    person_household = (
        persons.select("id_number", "household_id")
        .sort("id_number", "household_id")
        .unique("id_number", keep="first", maintain_order=True)
    )
    leavers = (
        pl.concat(
            [
                _per_person(lake, "deaths", months, {"id_number": pl.String}),
                _per_person(lake, "missing_persons", months, {"id_number": pl.String}),
            ]
        )
        .unique()
        .join(person_household, on="id_number", how="anti")
    )
    earlier = [m for m in months if m != month]
    for m in reversed(earlier):  # newest first: a later roster wins
        listed = lake.scan("roster", [m])
        if listed is None:
            continue
        found = listed.select("id_number", "household_id").join(leavers, on="id_number", how="semi")
        person_household = pl.concat(
            [person_household, found.join(person_household, on="id_number", how="anti")]
        )

    def by_household(frame: pl.LazyFrame, **aggs: pl.Expr) -> pl.LazyFrame:
        return frame.join(person_household, on="id_number", how="inner").group_by("household_id").agg(**aggs)

    # --- disability: snapshot now and last month ---------------------------------------------------
    dis_now = _per_person(lake, "disability", [month], {"id_number": pl.String, "grade": pl.Int32})
    dis_now = dis_now.group_by("id_number").agg(pl.col("grade").min())
    dis_prev = _per_person(lake, "disability", [prev], {"id_number": pl.String, "grade": pl.Int32})
    dis_prev = dis_prev.group_by("id_number").agg(pl.col("grade").min().alias("grade_prev"))
    dis = dis_now.join(dis_prev, on="id_number", how="left").with_columns(
        # only a month with last month's register to compare with can show a change
        changed=pl.lit("disability" in delivered_prev)
        & (pl.col("grade_prev").is_null() | (pl.col("grade") < pl.col("grade_prev")))
    )
    dis_h = by_household(
        dis,
        disabled=pl.len(),
        severe_disabled=(pl.col("grade") <= 2).sum(),
        event_new_disability=pl.col("changed").sum(),
        event_severe_disability=(pl.col("changed") & (pl.col("grade") <= 2)).sum(),
        event_disability_grade=pl.col("grade").filter(pl.col("changed")).min(),
    )

    # --- enrolment ------------------------------------------------------------------------------
    enrol_schema = {"id_number": pl.String, "stage": pl.String, "status": pl.String, "enrolled_on": pl.Date}
    enrol = (
        _per_person(lake, "enrolment", [month], enrol_schema)
        .sort("enrolled_on", "stage", "status")
        .group_by("id_number")
        .last()
    )
    enrol_prev = (
        _per_person(lake, "enrolment", [prev], enrol_schema)
        .sort("enrolled_on", "stage", "status")
        .group_by("id_number")
        .last()
        .select("id_number", stage_prev="stage", status_prev="status")
    )
    compare = pl.lit("enrolment" in delivered_prev)
    enrol = enrol.join(enrol_prev, on="id_number", how="left")
    studying = pl.col("status") == "在读"
    enrol_h = by_household(
        enrol,
        preschool=((pl.col("stage") == "学前") & studying).sum(),
        compulsory_students=(pl.col("stage").is_in(["小学", "初中"]) & studying).sum(),
        high_school_students=(pl.col("stage").is_in(["高中", "中职"]) & studying).sum(),
        college_students=(pl.col("stage").is_in(["高职", "本科", "研究生"]) & studying).sum(),
        dropouts=(pl.col("status") == "辍学").sum(),
        event_kindergarten_entry=(
            compare & (pl.col("stage") == "学前") & pl.col("stage_prev").is_null()
        ).sum(),
        event_new_upper_stage=(
            compare
            & pl.col("stage").is_in(UPPER_STAGES)
            & (pl.col("stage") != pl.col("stage_prev").fill_null(""))
        ).sum(),
        event_dropout=((pl.col("status") == "辍学") & compare & (pl.col("status_prev") != "辍学")).sum(),
    )

    # --- employment over the window ----------------------------------------------------------------
    emp = _per_person(
        lake, "employment", months, {"id_number": pl.String, "status": pl.String, "registered_on": pl.Date}
    )
    emp = emp.filter(pl.col("registered_on").is_between(window_start, end)).unique()
    latest = (
        emp.sort("registered_on")
        .group_by("id_number")
        .agg(
            pl.col("status").last(),
            pl.col("registered_on").last(),
            newly=((pl.col("status") == "失业") & (pl.col("registered_on") >= start)).any(),
        )
    )
    months_out = ((pl.lit(end) - pl.col("registered_on")).dt.total_days() // 30).cast(pl.Int32)
    emp_h = by_household(
        latest,
        unemployed=(pl.col("status") == "失业").sum(),
        employed=(pl.col("status") == "就业").sum(),
        months_unemployed=months_out.filter(pl.col("status") == "失业").max(),
        event_newly_unemployed=pl.col("newly").sum(),
    )

    # --- medical: out-of-pocket and stays over the window -------------------------------------------
    claims = _per_person(
        lake,
        "medical_claims",
        months,
        {
            "id_number": pl.String,
            "settled_on": pl.Date,
            "out_of_pocket": pl.Decimal(16, 2),
            "inpatient": pl.String,
            "total_cost": pl.Decimal(16, 2),
        },
    )
    claims = claims.filter(pl.col("settled_on").is_between(window_start, end)).unique()
    oop = pl.col("out_of_pocket")  # summed in decimal: exact in any order, then as float
    med_h = by_household(
        claims,
        oop_medical_12m=oop.sum().cast(pl.Float64),
        oop_medical_month=oop.filter(pl.col("settled_on") >= start).sum().cast(pl.Float64),
        inpatient_12m=(pl.col("inpatient") == "是").sum(),
    )

    def window_amount(source: str, date_col: str, amount_col: str, name: str) -> pl.LazyFrame:
        rows = _per_person(
            lake, source, months, {"id_number": pl.String, date_col: pl.Date, amount_col: pl.Decimal(16, 2)}
        )
        rows = rows.filter(pl.col(date_col).is_between(window_start, end)).unique()
        return by_household(rows, **{name: pl.col(amount_col).sum().cast(pl.Float64)})

    assist_h = window_amount("medical_assistance", "paid_on", "amount", "medical_assistance_12m")
    edu_h = window_amount("education_aid", "paid_on", "amount", "education_aid_12m")

    def window_events(
        source: str, date_col: str, name: str, event: str, event_date: str | None, **extra: pl.Expr
    ) -> pl.LazyFrame:
        rows = _per_person(lake, source, months, {"id_number": pl.String, date_col: pl.Date})
        rows = rows.filter(pl.col(date_col).is_between(window_start, end)).unique()
        aggs = {name: pl.len(), event: (pl.col(date_col) >= start).sum(), **extra}
        if event_date:
            aggs[event_date] = pl.col(date_col).filter(pl.col(date_col) >= start).min()
        return by_household(rows, **aggs)

    injury_h = window_events(
        "work_injury", "injured_on", "work_injuries_12m", "event_work_injury", "event_work_injury_date"
    )
    # A death of a working-age member (16-59) takes away an earner: a hardship event. Other deaths
    # change who is counted in the household, which the means test checks.
    age_at_death = (pl.col("died_on") - birth).dt.total_days() / 365.25
    death_h = window_events(
        "deaths",
        "died_on",
        "deaths_12m",
        "event_death",
        "event_death_date",
        event_death_working_age=(
            (pl.col("died_on") >= start) & age_at_death.is_between(16, 60, closed="left")
        ).sum(),
    )
    missing_h = window_events("missing_persons", "declared_on", "missing_12m", "event_missing", None)
    legal_h = window_events("legal_aid", "opened_on", "legal_aid_12m", "_legal_now", None).drop("_legal_now")

    dis_rows = _per_person(
        lake,
        "disasters",
        months,
        {
            "id_number": pl.String,
            "occurred_on": pl.Date,
            "house_damage": pl.String,
            "loss_amount": pl.Decimal(16, 2),
        },
    )
    dis_rows = (
        dis_rows.filter(pl.col("occurred_on").is_between(window_start, end))
        .unique()
        .with_columns(
            damage=pl.col("house_damage").replace_strict(DAMAGE, default=0, return_dtype=pl.Int32),
            loss=pl.col("loss_amount").cast(pl.Float64).fill_null(0),
            now=pl.col("occurred_on") >= start,
        )
    )
    # One disaster reported for several members is one loss: keep one row per household and date.
    per_event = (
        dis_rows.join(person_household, on="id_number", how="inner")
        .group_by("household_id", "occurred_on")
        .agg(pl.col("damage").max(), pl.col("loss").max(), pl.col("now").first())
    )
    disaster_h = per_event.group_by("household_id").agg(
        disaster_damage_12m=pl.col("damage").max(),
        disaster_loss_12m=pl.col("loss").sum(),
        event_disaster_damage=pl.col("damage").filter(pl.col("now")).max(),
        event_disaster_date=pl.col("occurred_on").filter(pl.col("now")).min(),
        event_disaster_loss=pl.col("loss").filter(pl.col("now")).sum(),
    )

    grade_schema = {"id_number": pl.String, "grade": pl.String}
    dil_now = _per_person(lake, "dilapidated_housing", [month], grade_schema)
    dil_prev = _per_person(lake, "dilapidated_housing", [prev], grade_schema).select(
        "id_number", grade_prev="grade"
    )
    dil = dil_now.join(dil_prev, on="id_number", how="left").with_columns(
        g=pl.col("grade").replace_strict(GRADE, default=0, return_dtype=pl.Int32),
        gp=pl.col("grade_prev").replace_strict(GRADE, default=0, return_dtype=pl.Int32),
    )
    dil_h = by_household(
        dil,
        dilapidated_grade=pl.col("g").max(),
        event_newly_dilapidated=pl.when(
            pl.lit("dilapidated_housing" in delivered_prev) & (pl.col("g") > pl.col("gp"))
        )
        .then(pl.col("g"))
        .otherwise(0)
        .max(),
    )

    # --- assets: snapshots of the month ---------------------------------------------------------------
    estate = _per_person(
        lake, "real_estate", [month], {"id_number": pl.String, "property_id": pl.String, "usage": pl.String}
    )
    estate_h = by_household(
        estate,
        properties=pl.col("property_id").n_unique(),
        commercial_properties=pl.col("property_id")
        .filter(pl.col("usage").is_in(["商业", "工业"]))
        .n_unique(),
    )
    cars_h = by_household(
        _per_person(
            lake,
            "vehicles",
            [month],
            {"id_number": pl.String, "vehicle_type": pl.String, "operating": pl.String},
        ),
        cars=((pl.col("vehicle_type") == "小型汽车") & (pl.col("operating") == "否")).sum(),
    )
    business_h = by_household(
        _per_person(
            lake,
            "business",
            [month],
            {"id_number": pl.String, "entity_type": pl.String, "status": pl.String, "entity_id": pl.String},
        ),
        companies=pl.col("entity_id")
        .filter((pl.col("status") == "存续") & (pl.col("entity_type") != "个体工商户"))
        .n_unique(),
    )
    deposits_h = by_household(
        _per_person(lake, "deposits", [month], {"id_number": pl.String, "balance": pl.Decimal(16, 2)}),
        deposits=pl.col("balance").sum().cast(pl.Float64),  # exact in decimal, in any order
    )
    fund_h = by_household(
        _per_person(lake, "housing_fund", [month], {"id_number": pl.String, "status": pl.String}),
        housing_fund_active=(pl.col("status") == "正常").sum(),
    )
    insured_h = by_household(
        _per_person(
            lake, "social_insurance", [month], {"id_number": pl.String, "scheme": pl.String}
        ).unique(),
        employee_insured=(pl.col("scheme") == "城镇职工").sum(),
    )

    # --- households from the roster ------------------------------------------------------------------
    head_first = pl.col("relation") != "户主"
    households = (
        persons.sort("household_id", head_first, "id_number")
        .group_by("household_id")
        .agg(
            pl.col("division_code").first(),
            pl.col("category").first(),
            pl.col("residence_type").first(),
            members=pl.len(),
            minors=(pl.col("age") < 18).sum(),
            elderly=(pl.col("age") >= 60).sum(),
            working_age=pl.col("age").is_between(16, 59).sum(),
            dependants=((pl.col("age") < 16) | (pl.col("age") >= 60)).sum(),
            serious_ill=(pl.col("health_status") == "大病").sum(),
            chronic_ill=(pl.col("health_status") == "慢性病").sum(),
            no_labour=(pl.col("labour_capacity") == "无").sum(),
            partial_labour=(pl.col("labour_capacity") == "部分丧失").sum(),
            income=pl.col("declared_monthly_income").cast(pl.Float64).fill_null(0).sum(),
            benefit=pl.col("monthly_benefit").cast(pl.Float64).fill_null(0).sum(),
            housing_area=pl.col("housing_area").cast(pl.Float64).max(),
        )
    )
    for part in (
        dis_h,
        enrol_h,
        emp_h,
        med_h,
        assist_h,
        edu_h,
        injury_h,
        death_h,
        missing_h,
        legal_h,
        disaster_h,
        dil_h,
        estate_h,
        cars_h,
        business_h,
        deposits_h,
        fund_h,
        insured_h,
    ):
        households = households.join(part, on="household_id", how="left")
    members = pl.col("members").cast(pl.Float64)
    out = households.with_columns(
        township_code=pl.col("division_code").str.slice(0, 9),
        county_code=pl.col("division_code").str.slice(0, 6),
        dependency_ratio=pl.col("dependants") / pl.max_horizontal(pl.col("working_age"), 1),
        elderly_only=(pl.col("elderly") == pl.col("members")).cast(pl.Int8),
        elderly_alone=((pl.col("members") == 1) & (pl.col("elderly") == 1)).cast(pl.Int8),
        children_without_carer=((pl.col("minors") > 0) & (pl.col("working_age") == 0)).cast(pl.Int8),
        no_labour_share=pl.col("no_labour") / members,
        declared_income_per_capita=pl.col("income") / members,
        dibao_standard=_standard(rules, start),
        deposits_per_capita=pl.col("deposits").fill_null(0) / members,
        housing_area_per_capita=pl.col("housing_area") / members,
        benefit_per_capita=pl.col("benefit") / members,
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
    # in household order, so that what is computed from it is written without sorting a copy
    frame = out.select([pl.col(c).cast(t) for c, t in FEATURES.items()]).sort("household_id").collect()
    return frame.with_columns(month=pl.lit(month)).select("month", *FEATURES), missing
