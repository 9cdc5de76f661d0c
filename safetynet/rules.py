"""Policy as data: load `rules/` through one strict schema (`safetynet.rule_schema`).

Every file is checked as it loads: unknown keys, duplicate keys, wrong types, overlapping bands,
dates not in YYYY-MM-DD form, undated parameters and columns no stage provides are errors naming the
file and the key. A run never starts with a half-loaded rule set: `load_rules` either returns all of
it or raises. Each dated parameter takes the value in force on the month's first day (`month`), or,
with no month, the value of its latest date.
"""

from __future__ import annotations

import datetime as dt
import re
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError, create_model

from safetynet import rule_schema as schema
from safetynet.contract import SOURCES
from safetynet.errors import RulesError
from safetynet.rule_schema import DIRECTIONS, KINDS, LEVELS, LISTS, NEAR_DIBAO, OPS, STAGES, URGENCIES, VISITS
from safetynet.versions import RULES_DIR, rule_version

__all__ = ["DIRECTIONS", "KINDS", "LEVELS", "LISTS", "NEAR_DIBAO", "OPS", "STAGES", "URGENCIES", "VISITS"]


# libyaml's parser where PyYAML was built with it (the parse is most of `load_rules`' time)
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """SafeLoader that refuses a mapping with the same key twice (PyYAML keeps the last)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, dt.date):  # an unquoted date key: the schema reads it as the text it was
            key = key.isoformat()
        if key in seen:
            raise RulesError(f"duplicate key '{key}' (line {key_node.start_mark.line + 1})")
        seen[key] = loader.construct_object(value_node, deep=deep)
    return seen


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


@dataclass(frozen=True)
class Band:
    min: float | None
    max: float | None
    score: float


@dataclass(frozen=True)
class Indicator:
    id: str
    label: str
    dimension: str
    column: str
    direction: str  # "hardship" raises the score, "reverse" (means) lowers it
    weight: float
    unit: str
    bands: tuple[Band, ...]
    sources: tuple[str, ...]
    effective_from: dt.date
    effective_to: dt.date | None
    reference: str
    file: str


@dataclass(frozen=True)
class Dimension:
    id: str
    label: str
    weight: float


@dataclass(frozen=True)
class Level:
    label: str
    min: float
    max: float


@dataclass(frozen=True)
class PlaceDated:
    """A value by effective date, then by division-code prefix ("default" for everywhere else)."""

    by_date: tuple[tuple[dt.date, tuple[tuple[str, Any], ...]], ...]

    def at(self, month_start: dt.date) -> dict[str, Any] | None:
        """Prefix -> value in force on `month_start` (None when no value is in force yet)."""
        current = [places for start, places in self.by_date if start <= month_start]
        return dict(current[-1]) if current else None


@dataclass(frozen=True)
class Condition:
    column: str
    op: str
    value: float | PlaceDated


@dataclass(frozen=True)
class WarningRule:
    id: str
    description: str
    kind: str  # hard | event | score | need
    level: str
    urgency: str
    when: tuple[Condition, ...]
    reason: str
    sources: tuple[str, ...]
    effective_from: dt.date
    effective_to: dt.date | None
    reference: str
    file: str
    # Whether a fired rule asks for a home visit (issue 30, item 4): `always`, or only on `need`:
    # where the household's income after rigid expenditure, less the event's `income_effect` (a
    # column: yuan a month the event takes from counted income) per counted member, is at or below
    # the dibao standard, or where `visit_when` holds (what policy calls urgent). Otherwise the lead
    # is kept as a reason on the portrait and in the ranking, not pushed (jobs/assess/leads.py).
    visit: str = "always"
    visit_when: tuple[Condition, ...] = ()
    income_effect: str | None = None
    title_: str | None = None  # `title` in the file

    @property
    def title(self) -> str:
        """What township staff read the rule as: its `title`, or its description when short."""
        return self.title_ or self.description


@dataclass(frozen=True)
class Action:
    """A recommended response (rules/actions.yaml): for a lead carrying one of `rules` (the first
    entry that matches each rule), or, with no rules but conditions, for any lead whose household
    meets them; an entry with neither applies when no other does."""

    rules: tuple[str, ...]
    categories: tuple[str, ...]
    action: str
    when: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class MeansLimits:
    """The means test's limits (rules/means_test/limits.yaml)."""

    effective_from: dt.date
    near_dibao_factor: float
    financial_assets_months: float
    max_homes: int
    home_usages: tuple[str, ...]
    non_residential_usages: tuple[str, ...]
    car_types: tuple[str, ...]
    car_exempt_types: tuple[str, ...]
    business_exempt_types: tuple[str, ...]
    housing_fund_wage_share: float
    # column -> Chinese label, for reports
    counted_income: dict[str, str]
    not_counted_income: dict[str, str]
    # assistance applied for -> the candidacies of the means test's answer it is within
    applied_for_within: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class RecheckRule:
    """The random re-check of recipients (rules/means_test/recheck.yaml)."""

    period_months: int
    rate: float
    exclude_checked_within_months: int
    seed_prefix: str
    verify: tuple[str, ...] = ()


@dataclass(frozen=True)
class CrossRegion:
    """Cross-region checks (rules/cross_region/cross_region.yaml): what is asked of another province,
    when, and how long its answer stays evidence."""

    reply_days: int
    recheck_months: int
    member_items: tuple[str, ...]
    applicant_items: tuple[str, ...]
    standing_authorisation: str  # a template with {household_id}
    evidence_months: int

    def authorisation(self, household_id: str) -> str:
        """The authorisation_ref a monitored member's request carries (signed at enrolment)."""
        return self.standing_authorisation.format(household_id=household_id)


@dataclass(frozen=True)
class MeansCheck:
    """One means-test cross-check (rules/means_test/checks.yaml); its SQL is
    warehouse/means_test/checks/<id>.sql."""

    id: str
    label: str
    direction: str
    applies_to: str
    verify: tuple[str, ...]
    code: str = ""  # its number in its records' ids (YD<YYYYMM>-<household>-<code>)


@dataclass(frozen=True)
class ReleaseGate:
    """When a month's township release waits for the data team (rules/release/gate.yaml)."""

    rows_change: dict[str, float]  # source kind (snapshot, event) -> largest change in rows, share
    rows_min: int
    identical_delivery: bool
    roster_change: float
    usual_months: int
    count_ratio: float
    count_min: int


@dataclass(frozen=True)
class Schedule:
    """When the monthly run starts, how long it waits and how long it may take
    (rules/release/schedule.yaml; not part of the rule version: it never changes a result)."""

    ready_poke_minutes: float
    ready_timeout_hours: float
    approval_timeout_hours: float
    deadline_days: float
    execution_timeout_minutes: dict[str, float]


@dataclass(frozen=True)
class Deadline:
    """Days to visit a row of a returnable list (rules/outcomes/deadlines.yaml); the first that
    matches applies. An empty tuple matches anything."""

    list: str
    days: int
    urgency: str | None = None
    levels: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Deadlines:
    issue_day: int  # the lists are issued on this day of the month after the data month
    rules: tuple[Deadline, ...]

    def issued_on(self, month: str) -> dt.date:
        year, mon = map(int, month.split("-"))
        year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
        return dt.date(year, mon, self.issue_day)


@dataclass(frozen=True)
class CaseRules:
    """How cases live (rules/outcomes/cases.yaml): when an open case counts as expired unvisited,
    how long a closed case covers the same finding, which overdue leads go to the county."""

    expire_after_months: int
    closed_cover_months: int
    county_urgency: tuple[str, ...]
    yield_outcomes: tuple[str, ...]  # outcomes that count as a lead (or an 应保 record) worth its visit
    withdraw_outcomes: tuple[str, ...]  # ... as an 应退 or 核实 record worth its visit
    reopen_outcomes: tuple[str, ...]  # a correction to one of these reopens a closed case
    kpi_months: int  # the window of the per-rule yield


@dataclass(frozen=True)
class Capacity:
    """Home visits a township can make in a month (rules/outcomes/capacity.yaml): households, by
    date and division-code prefix (longest wins); how many visited leads a rule's yield needs
    before it ranks; the order of colours and directions among items of equal expected yield."""

    visits: PlaceDated
    yield_min_visited: int
    order: tuple[str, ...]

    def at(self, month_start: dt.date) -> dict[str, int]:
        """Prefix ("default" for everywhere else) -> households a month, in force on `month_start`."""
        places = self.visits.at(month_start)
        if places is None:
            raise RulesError(f"rules/outcomes/capacity.yaml: no capacity in force on {month_start}")
        return {prefix: int(v) for prefix, v in places.items()}


@dataclass(frozen=True)
class PortalSettings:
    """Sign-in, session and upload limits of the township portal (rules/portal/portal.yaml)."""

    lockout_failures: int
    lockout_minutes: float
    lockout_account_failures: int
    lockout_address_accounts: int  # user names tried from one address, not its failures
    password_min_length: int
    password_min_score: int
    password_site_words: tuple[str, ...]  # what a guesser of this portal tries first
    hsts_days: int
    session_hours: float
    upload_max_bytes: int
    xlsx_max_uncompressed_bytes: int
    upload_max_rows: int
    upload_max_columns: int
    upload_max_cells: int
    upload_parse_seconds: float
    upload_parse_workers: int  # uploads read at once, a read given up still counting until it ends
    application_max_members: int
    authorisation_max_bytes: int  # the signed 授权书 uploaded with an application
    authorisation_min_bytes: int  # a scanned or photographed page is no smaller
    application_daily_multiple: float  # an office's checks in a day above this x its usual day ...
    application_daily_minimum: int  # ... and above this are held for the county's release
    application_baseline_days: int  # the days before today its usual day is the mean of
    worklist_due_days: int  # a case due within this many days is counted apart on the home page


@dataclass(frozen=True)
class Stage:
    stage: str  # the enrolment stage (学段) the child enters
    age: int  # age on the school year's first day
    label: str


@dataclass(frozen=True)
class Population:
    """Policy concepts read by both the Polars and the SQL paths (rules/parameters/population.yaml).
    Ages are whole years on the month's last day (`safetynet.concepts`)."""

    adult_age: int
    elderly_age: int
    working_age_from: int
    working_age_to: int
    severe_disability_grades: tuple[int, ...]
    recipient_categories: tuple[str, ...]
    single_person_categories: tuple[str, ...]
    lookback_months: int
    late_report_months: int
    refused_applicant_months: int  # how long an applicant turned away stays watched for events
    school_year_starts: tuple[int, int]  # month, day
    notice_months: tuple[int, ...]
    stages: tuple[Stage, ...]
    noticed_within_months: int  # earlier months whose notices keep a child from a second one
    unemployed_month_days: int  # days since the registration that count one month unemployed
    school_stages: tuple[tuple[str, ...], ...]  # the stages in order, those of one level together
    upper_stages_from: str  # entering this stage or a later one is entering an upper stage

    @property
    def stage_rank(self) -> dict[str, int]:
        """Stage -> its level (0 for the first); stages of one level share it."""
        return {stage: rank for rank, level in enumerate(self.school_stages) for stage in level}

    @property
    def upper_stages(self) -> tuple[str, ...]:
        rank = self.stage_rank
        return tuple(s for s in rank if rank[s] >= rank[self.upper_stages_from])

    def sql_variables(self) -> dict[str, Any]:
        """The concepts as DuckDB variables (`getvariable('working_age_from')`)."""
        return {
            "adult_age": self.adult_age,
            "elderly_age": self.elderly_age,
            "working_age_from": self.working_age_from,
            "working_age_to": self.working_age_to,
            "severe_disability_grades": list(self.severe_disability_grades),
            "recipient_categories": list(self.recipient_categories),
            "single_person_categories": list(self.single_person_categories),
        }


@dataclass(frozen=True)
class RuleSet:
    version: str
    dimensions: tuple[Dimension, ...]
    levels: tuple[Level, ...]
    indicators: tuple[Indicator, ...]
    warnings: tuple[WarningRule, ...]
    actions: tuple[Action, ...]
    dibao_standard: PlaceDated
    means_limits: MeansLimits | None = None
    recheck: RecheckRule | None = None
    files: tuple[str, ...] = field(default=())
    means_checks: tuple[MeansCheck, ...] = field(default=())
    release_gate: ReleaseGate | None = None
    deadlines: Deadlines | None = None
    cases: CaseRules | None = None
    population: Population | None = None
    # the employee-insurance minimum contribution base (缴费基数下限) by date and division prefix
    minimum_base: PlaceDated | None = None
    capacity: Capacity | None = None  # home visits a township can make in a month
    # schooling costs of 刚性支出困难: yuan a year per student by stage, by date and division prefix
    rigid_expenditure: PlaceDated | None = None

    def effective_indicators(self, month_start: dt.date) -> list[Indicator]:
        return [i for i in self.indicators if _in_force(i, month_start)]

    def effective_warnings(self, month_start: dt.date) -> list[WarningRule]:
        return [w for w in self.warnings if _in_force(w, month_start)]


def _in_force(rule: Indicator | WarningRule, month_start: dt.date) -> bool:
    return rule.effective_from <= month_start and (
        rule.effective_to is None or month_start < rule.effective_to
    )


# --- reading a file through its model ------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _name(path: Path, root: Path) -> str:
    """How errors name a file: relative to the folder that holds `rules/`."""
    return str(path.relative_to(root.parent))


def _fail(file: str, key: str, problem: str) -> RulesError:
    return RulesError(f"{file}: key '{key}': {problem}")


def _read(path: Path, root: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 - strict SafeLoader
    except RulesError as exc:
        raise RulesError(f"{_name(path, root)}: {exc}") from None
    except yaml.YAMLError as exc:
        raise RulesError(f"{_name(path, root)}: not valid YAML ({' '.join(str(exc).split())})") from None


def _dates(raw: Any) -> set[dt.date]:
    """Every date a parameter of the document takes a value on (`values: {date: ...}`)."""
    found: set[dt.date] = set()
    if isinstance(raw, dict):
        values = raw.get("values")
        if isinstance(values, dict):
            found |= {d for d in values if isinstance(d, dt.date)}
            found |= {dt.date.fromisoformat(d) for d in values if isinstance(d, str) and DATE.fullmatch(d)}
        for v in raw.values():
            found |= _dates(v)
    elif isinstance(raw, list):
        for v in raw:
            found |= _dates(v)
    return found


def _load(model: type[M], path: Path, root: Path, day: dt.date | None = None, raw: Any = None) -> M:
    """The file (or its `raw` content, read already) checked against its model; dated parameters
    take their value in force on `day`. A file with values on several dates is checked on each of
    them too: a value wrong for a month other than this run's is refused now, naming its date."""
    file = _name(path, root)
    raw = _read(path, root) if raw is None else raw
    try:
        loaded = model.model_validate(raw, context={"day": day})
    except ValidationError as exc:
        key, problem = schema.problem_of(exc)
        raise (_fail(file, key, problem) if key else RulesError(f"{file}: the document {problem}")) from None
    dates = _dates(raw)
    for other in sorted(dates - {day}) if len(dates) > 1 else ():
        try:
            model.model_validate(raw, context={"day": other, "each_date": True})
        except ValidationError as exc:
            key, problem = schema.problem_of(exc)
            raise _fail(file, key, f"{problem} (the values in force from {other})") from None
    return loaded


def _place_dated(by_date: dict[dt.date, Any]) -> PlaceDated:
    """{date: {prefix: value}} as a PlaceDated, "default" first among the places of a date."""
    return PlaceDated(
        tuple(
            (start, tuple(sorted(places.items(), key=lambda kv: (kv[0] != "default", kv[0]))))
            for start, places in sorted(by_date.items())
        )
    )


def _conditions(models: list[schema.ConditionModel]) -> tuple[Condition, ...]:
    return tuple(
        Condition(c.column, c.op, _place_dated(c.value) if isinstance(c.value, dict) else c.value)
        for c in models
    )


# --- the index, the warnings and the actions -------------------------------------------------------


def _indicator(path: Path, root: Path, dimensions: set[str]) -> Indicator:
    m = _load(schema.IndicatorFile, path, root)
    file = _name(path, root)
    if m.dimension not in dimensions:
        raise _fail(file, "dimension", f"'{m.dimension}' is not a dimension of rules/index/dimensions.yaml")
    return Indicator(
        id=path.stem,
        label=m.label,
        dimension=m.dimension,
        column=m.column,
        direction=m.direction,
        weight=m.weight,
        unit=m.unit,
        bands=tuple(Band(b.min, b.max, b.score) for b in m.bands),
        sources=tuple(m.sources),
        effective_from=m.effective.start,
        effective_to=m.effective.end,
        reference=m.reference,
        file=file,
    )


def _warning(path: Path, root: Path) -> WarningRule:
    m = _load(schema.WarningFile, path, root)
    return WarningRule(
        id=path.stem,
        description=m.description,
        title_=m.title,
        kind=m.kind,
        level=m.level,
        urgency=m.urgency,
        when=_conditions(m.when),
        reason=m.reason,
        sources=tuple(m.sources),
        effective_from=m.effective.start,
        effective_to=m.effective.end,
        reference=m.reference,
        file=_name(path, root),
        visit=m.visit,
        visit_when=_conditions(m.visit_when),
        income_effect=m.income_effect,
    )


def _actions(root: Path, warnings: tuple[WarningRule, ...]) -> tuple[Action, ...]:
    path = root / "actions.yaml"
    m, ids = _load(schema.ActionsFile, path, root), {w.id for w in warnings}
    for i, a in enumerate(m.actions):
        unknown = [r for r in a.rules if r not in ids]
        if unknown:
            raise _fail(
                _name(path, root), f"actions[{i}].rules", f"names no warning rule: {', '.join(unknown)}"
            )
    return tuple(
        Action(tuple(a.rules), tuple(a.categories), a.action, _conditions(a.when)) for a in m.actions
    )


def _index(root: Path) -> tuple[tuple[Dimension, ...], tuple[Level, ...], tuple[Indicator, ...]]:
    dims = _load(schema.DimensionsFile, root / "index" / "dimensions.yaml", root).dimensions
    levels = _load(schema.LevelsFile, root / "index" / "levels.yaml", root).levels
    ids = {d.id for d in dims}
    indicators = tuple(
        _indicator(p, root, ids) for p in sorted((root / "index" / "indicators").glob("*.yaml"))
    )
    return (
        tuple(Dimension(d.id, d.label, d.weight) for d in dims),
        tuple(Level(lv.label, lv.min, lv.max) for lv in levels),
        indicators,
    )


def _check_columns(
    columns: set[str],
    indicators: tuple[Indicator, ...],
    warnings: tuple[WarningRule, ...],
    actions: tuple[Action, ...],
    actions_file: str,
) -> None:
    """Every column a rule names is one a stage provides."""

    def missing(column: str) -> str:
        return f"no stage provides a column '{column}'"

    for ind in indicators:
        if ind.column not in columns:
            raise _fail(ind.file, "column", missing(ind.column))
    for w in warnings:
        for key, conds in (("when", w.when), ("visit_when", w.visit_when)):
            for i, cond in enumerate(conds):
                if cond.column not in columns:
                    raise _fail(w.file, f"{key}[{i}].column", missing(cond.column))
        if w.income_effect is not None and w.income_effect not in columns:
            raise _fail(w.file, "income_effect", missing(w.income_effect))
    for k, action in enumerate(actions):
        for i, cond in enumerate(action.when):
            if cond.column not in columns:
                raise _fail(actions_file, f"actions[{k}].when[{i}].column", missing(cond.column))


# --- parameters, the means test and the outcomes ------------------------------------------------------


def _by_place(model: type[schema.PlaceFile], path: Path, root: Path) -> PlaceDated:
    return _place_dated({start: entry.value for start, entry in _load(model, path, root).values.items()})


def _since(raw: dict, day: dt.date | None) -> dt.date:
    """The latest date among a checked file's parameters in force on `day` (the values' common start)."""
    dates = [
        schema.to_date(d)
        for value in raw.values()
        if isinstance(value, dict) and isinstance(value.get("values"), dict)
        for d in value["values"]
    ]
    return max(d for d in dates if day is None or d <= day)


def _means_limits(root: Path, day: dt.date | None) -> MeansLimits:
    path = root / "means_test" / "limits.yaml"
    raw = _read(path, root)
    m = _load(schema.LimitsFile, path, root, day, raw)
    return MeansLimits(
        effective_from=_since(raw, day),
        near_dibao_factor=m.near_dibao_factor,
        financial_assets_months=m.financial_assets_months,
        max_homes=m.max_homes,
        home_usages=tuple(m.home_usages),
        non_residential_usages=tuple(m.non_residential_usages),
        car_types=tuple(m.car_types),
        car_exempt_types=tuple(m.car_exempt_types),
        business_exempt_types=tuple(m.business_exempt_types),
        housing_fund_wage_share=m.housing_fund_wage_share,
        counted_income=dict(m.counted_income),
        not_counted_income=dict(m.not_counted_income),
        applied_for_within={k: tuple(v) for k, v in m.applied_for_within.items()},
    )


def _recheck(root: Path, day: dt.date | None) -> RecheckRule:
    m = _load(schema.RecheckFile, root / "means_test" / "recheck.yaml", root, day)
    return RecheckRule(
        m.period_months, m.rate, m.exclude_checked_within_months, m.seed_prefix, tuple(m.verify)
    )


def _means_checks(root: Path) -> tuple[MeansCheck, ...]:
    m = _load(schema.ChecksFile, root / "means_test" / "checks.yaml", root)
    return tuple(
        MeansCheck(c.id, c.label, c.direction, c.applies_to, tuple(c.verify), c.code) for c in m.checks
    )


def _release_gate(root: Path) -> ReleaseGate:
    m = _load(schema.GateFile, root / "release" / "gate.yaml", root)
    return ReleaseGate(
        rows_change={"snapshot": m.rows_change.snapshot, "event": m.rows_change.event},
        rows_min=m.rows_min,
        identical_delivery=m.identical_delivery,
        roster_change=m.roster_change,
        usual_months=m.usual_months,
        count_ratio=m.count_ratio,
        count_min=m.count_min,
    )


def _deadlines(root: Path, day: dt.date | None) -> Deadlines:
    m = _load(schema.DeadlinesFile, root / "outcomes" / "deadlines.yaml", root, day)
    rules = tuple(
        Deadline(d.list, d.days, d.urgency, tuple(d.levels), tuple(d.categories), tuple(d.directions))
        for d in m.deadlines
    )
    return Deadlines(m.issue_day, rules)


def _cases(root: Path, day: dt.date | None) -> CaseRules:
    path = root / "outcomes" / "cases.yaml"
    m = _load(schema.CasesFile, path, root, day)
    codes = next(c for c in SOURCES["outcomes"].columns if c.name == "outcome").codes
    for key in ("yield_outcomes", "withdraw_outcomes", "reopen_outcomes"):
        unknown = [o for o in getattr(m, key) if o not in codes]
        if unknown:
            raise _fail(_name(path, root), key, f"not an outcome code of the contract: {', '.join(unknown)}")
    return CaseRules(
        expire_after_months=m.expire_after_months,
        closed_cover_months=m.closed_cover_months,
        county_urgency=tuple(m.county_urgency),
        yield_outcomes=tuple(m.yield_outcomes),
        withdraw_outcomes=tuple(m.withdraw_outcomes),
        reopen_outcomes=tuple(m.reopen_outcomes),
        kpi_months=m.kpi_months,
    )


def _capacity(root: Path, day: dt.date | None) -> Capacity:
    m = _load(schema.CapacityFile, root / "outcomes" / "capacity.yaml", root, day)
    visits = _place_dated({start: entry.value for start, entry in m.values.items()})
    return Capacity(visits, m.yield_min_visited, tuple(m.order))


def _population(root: Path, day: dt.date | None) -> Population:
    path = root / "parameters" / "population.yaml"
    m = _load(schema.PopulationFile, path, root, day)
    needs, file = m.anticipated_needs, _name(path, root)
    codes = {c.name: c.codes for c in SOURCES["enrolment"].columns + SOURCES["roster"].columns}
    for stage in needs.stages:
        if stage.stage not in codes["stage"]:
            raise _fail(file, "anticipated_needs.stages", f"'{stage.stage}' is not a stage of the contract")
    for key in ("recipient_categories", "single_person_categories"):
        unknown = [c for c in getattr(m, key) if c not in codes["category"]]
        if unknown:
            raise _fail(file, key, f"not a category of the contract: {', '.join(unknown)}")
    return Population(
        adult_age=m.adult_age,
        elderly_age=m.elderly_age,
        working_age_from=m.working_age.start,
        working_age_to=m.working_age.end,
        severe_disability_grades=tuple(m.severe_disability_grades),
        recipient_categories=tuple(m.recipient_categories),
        single_person_categories=tuple(m.single_person_categories),
        lookback_months=m.lookback_months,
        late_report_months=m.late_report_months,
        refused_applicant_months=m.refused_applicant_months,
        school_year_starts=(needs.school_year_starts.month, needs.school_year_starts.day),
        notice_months=tuple(needs.notice_months),
        stages=tuple(Stage(s.stage, s.age, s.label) for s in needs.stages),
        noticed_within_months=needs.noticed_within_months,
        unemployed_month_days=m.unemployed_month_days,
        school_stages=tuple(tuple(level) for level in m.school_stages),
        upper_stages_from=m.upper_stages_from,
    )


def _first_day(month: str | None) -> dt.date | None:
    return None if month is None else dt.date(int(month[:4]), int(month[5:7]), 1)


def load_population(root: Path = RULES_DIR, month: str | None = None) -> Population:
    """Only the population concepts: what a task that needs no other rule reads."""
    return _population(root, _first_day(month))


def load_case_rules(root: Path = RULES_DIR, month: str | None = None) -> CaseRules:
    """Only how cases live (rules/outcomes/cases.yaml): what the portal's upload page names."""
    return _cases(root, _first_day(month))


def load_cross_region(month: str | None = None, root: Path = RULES_DIR) -> CrossRegion:
    """Cross-region checks in force in `month` (with none, the latest values)."""
    m = _load(schema.CrossRegionFile, root / "cross_region" / "cross_region.yaml", root, _first_day(month))
    return CrossRegion(
        reply_days=m.reply_days,
        recheck_months=m.recheck_months,
        member_items=tuple(m.member_items),
        applicant_items=tuple(m.applicant_items),
        standing_authorisation=m.standing_authorisation,
        evidence_months=m.evidence_months,
    )


# --- settings that never change a result ------------------------------------------------------------


def _settings_model(name: str, settings: type, **extra: Any) -> type[schema.Strict]:
    """The file model of a flat settings dataclass: its fields (lists for tuples), and `extra`."""
    hints = typing.get_type_hints(settings)
    as_read = {
        f.name: (list[str] if hints[f.name] == tuple[str, ...] else hints[f.name], ...)
        for f in fields(settings)
    }
    return create_model(
        name, __base__=schema.Strict, description=(str, ...), reference=(str, ...), **as_read, **extra
    )


def load_portal(root: Path = RULES_DIR) -> PortalSettings:
    path = root / "portal" / "portal.yaml"
    m = _load(_PORTAL_FILE, path, root)
    values = {f.name: getattr(m, f.name) for f in fields(PortalSettings)}
    for key, value in values.items():
        if isinstance(value, list):
            if not all(isinstance(v, str) and v for v in value):
                raise _fail(_name(path, root), key, "must be a list of words")
        elif value <= 0:
            raise _fail(_name(path, root), key, "must be above 0")
    return PortalSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


SCHEDULED_TASKS = (
    "wait",
    "start",
    "ingest",
    "record",
    "prefectures",
    "assess_area",
    "assess",
    "export_areas",
    "export",
    "gate",
    "publish",
)


def load_schedule(root: Path = RULES_DIR) -> Schedule:
    path = root / "release" / "schedule.yaml"
    m = _load(_SCHEDULE_FILE, path, root)
    for key in ("ready_poke_minutes", "ready_timeout_hours", "approval_timeout_hours", "deadline_days"):
        if getattr(m, key) <= 0:
            raise _fail(_name(path, root), key, "must be above 0")
    timeouts = m.execution_timeout_minutes
    return Schedule(
        ready_poke_minutes=m.ready_poke_minutes,
        ready_timeout_hours=m.ready_timeout_hours,
        approval_timeout_hours=m.approval_timeout_hours,
        deadline_days=m.deadline_days,
        execution_timeout_minutes={task: getattr(timeouts, task) for task in SCHEDULED_TASKS},
    )


_PORTAL_FILE = _settings_model("PortalFile", PortalSettings)
_TIMEOUTS = create_model(
    "Timeouts", __base__=schema.Strict, **{task: (float, ...) for task in SCHEDULED_TASKS}
)
_SCHEDULE_FILE = create_model(
    "ScheduleFile",
    __base__=schema.Strict,
    description=(str, ...),
    reference=(str, ...),
    ready_poke_minutes=(float, ...),
    ready_timeout_hours=(float, ...),
    approval_timeout_hours=(float, ...),
    deadline_days=(float, ...),
    execution_timeout_minutes=(_TIMEOUTS, ...),
)


# --- assistance decisions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionKind:
    """One kind of decision (rules/decisions/decisions.yaml `kinds`)."""

    name: str
    category: str | None  # 低保 | 特困 | 低保边缘 | "current" (the household's own) | None
    members: str  # "household" | "one" (单人保: one member)
    amount: str  # how the amount is prefilled: dibao | single | tekun | none | one_off
    confirmed_by: str  # "roster" (a later roster shows it) | "approval" (a one-off payment)
    assistance: bool  # help arriving (the 48-hour share, assisted yield); 退出: false
    self_approval: bool  # a township may approve it itself up to `self_approval_limit` (先行救助)


@dataclass(frozen=True)
class Decisions:
    """Assistance decisions (rules/decisions/decisions.yaml): the kinds, how their amounts are
    prefilled, who approves, and how long the roster has to show a decision."""

    kinds: dict[str, DecisionKind]
    tekun_factor: float  # 特困 basic living: this x the dibao standard
    self_approval_limit: float  # yuan: a township approves 先行救助 up to this itself
    confirm_within_months: int  # months from effective_from before a decision is 未落实
    urgent_help_hours: int  # an urgent case on a recipient counts as helped within this

    def amount(
        self,
        kind: str,
        per_capita_income: float | None,
        standard: float,
        members: int,
        member_income: float | None = None,
    ) -> tuple[float | None, float | None]:
        """(monthly, one-off) prefill in yuan; None where the kind has none or the office enters it."""
        rule = self.kinds[kind].amount
        if rule == "dibao":
            return round(max(0.0, float(standard) - (per_capita_income or 0.0)) * members, 2), None
        if rule == "single":
            if member_income is None:
                raise ValueError("单人保 needs the member's own income (member_income)")
            return round(max(0.0, float(standard) - member_income), 2), None
        if rule == "tekun":
            return round(float(standard) * self.tekun_factor * members, 2), None
        return None, None  # none: no monthly amount; one_off: entered by the office

    @property
    def assistance_kinds(self) -> tuple[str, ...]:
        """The kinds that are assistance (`assistance: true`): what counts as help in the views."""
        return tuple(k.name for k in self.kinds.values() if k.assistance)

    def approver(self, kind: str, one_off_amount: float | None = None) -> str:
        """ "township" when the township may approve it itself (先行救助 within the limit), else "county"."""
        spec = self.kinds[kind]
        if spec.self_approval and one_off_amount is not None and one_off_amount <= self.self_approval_limit:
            return "township"
        return "county"


def load_decisions(month: str | None = None, root: Path = RULES_DIR) -> Decisions:
    """The decision rules in force in `month` (with none, the latest values)."""
    path = root / "decisions" / "decisions.yaml"
    m = _load(schema.DecisionsFile, path, root, _first_day(month))
    kinds = {name: DecisionKind(name, **spec.model_dump()) for name, spec in m.kinds.items()}
    return Decisions(
        kinds=kinds,
        tekun_factor=float(m.tekun_factor),
        self_approval_limit=float(m.self_approval_limit),
        confirm_within_months=m.confirm_within_months,
        urgent_help_hours=m.urgent_help_hours,
    )


# --- the whole rule set ---------------------------------------------------------------------------


def load_rules(root: Path = RULES_DIR, columns: set[str] | None = None, month: str | None = None) -> RuleSet:
    """The whole rule set, checked; `columns` are the household columns the stages provide; each
    dated parameter takes its value in force in `month` (with none, its latest)."""
    day = _first_day(month)
    dimensions, levels, indicators = _index(root)
    warnings = tuple(_warning(p, root) for p in sorted((root / "warnings").glob("*.yaml")))
    actions = _actions(root, warnings)
    parameters = root / "parameters"
    # No "default" in the dibao standard: a county without its own standard has none, and its
    # households go unchecked.
    standard = _by_place(schema.StandardFile, parameters / "dibao_standard.yaml", root)
    minimum_base = _by_place(schema.MinimumBaseFile, parameters / "social_insurance_minimum_base.yaml", root)
    school_costs = _by_place(schema.SchoolCostsFile, parameters / "rigid_expenditure.yaml", root)
    if columns is not None:
        _check_columns(columns, indicators, warnings, actions, _name(root / "actions.yaml", root))
    return RuleSet(
        rule_version(root),
        dimensions,
        levels,
        indicators,
        warnings,
        actions,
        standard,
        means_limits=_means_limits(root, day),
        recheck=_recheck(root, day),
        files=tuple(_name(p, root) for p in sorted(root.rglob("*.yaml"))),
        means_checks=_means_checks(root),
        release_gate=_release_gate(root),
        deadlines=_deadlines(root, day),
        cases=_cases(root, day),
        population=_population(root, day),
        minimum_base=minimum_base,
        capacity=_capacity(root, day),
        rigid_expenditure=school_costs,
    )
