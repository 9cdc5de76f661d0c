"""Policy as data: load `rules/` through one strict schema.

Every file is checked as it loads: unknown keys, duplicate keys, wrong types, overlapping bands,
dates not in YYYY-MM-DD form and columns no stage provides are errors naming the file and the key.
A run never starts with a half-loaded rule set: `load_rules` either returns all of it or raises.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from safetynet.contract import SOURCES
from safetynet.errors import RulesError
from safetynet.versions import RULES_DIR, rule_version

LEVELS = ("红", "橙", "黄", "蓝", "绿")  # most to least severe (Guangdong's five colours)
URGENCIES = ("紧急", "一般")
OPS = (">=", ">", "<=", "<", "==", "!=")
# warning kinds: a hard trigger, an event of the month, the index, the household's need figure
# (刚性支出困难: its reason comes first on the lead)
KINDS = ("hard", "event", "score", "need")
VISITS = ("always", "need")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice (PyYAML keeps the last)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
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


@dataclass(frozen=True)
class RecheckRule:
    """The random re-check of recipients (rules/means_test/recheck.yaml)."""

    period_months: int
    rate: float
    exclude_checked_within_months: int
    seed_prefix: str
    verify: tuple[str, ...] = ()


@dataclass(frozen=True)
class MeansCheck:
    """One means-test cross-check (rules/means_test/checks.yaml); its SQL is
    warehouse/means_test/checks/<id>.sql."""

    id: str
    label: str
    direction: str
    applies_to: str
    verify: tuple[str, ...]


DIRECTIONS = ("应退", "核实", "应保")
# In the capacity order: an 应保 record of a household not below the standard after rigid expenditure
# (a near-dibao candidate, jobs/cases/capacity.py), apart from those in need
NEAR_DIBAO = "低保边缘"


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


LISTS = ("leads", "doubtful", "recheck")


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


# --- the checks -----------------------------------------------------------------------------------


class _Doc:
    """One YAML mapping being checked; every error names the file and the key."""

    def __init__(self, data: Any, file: str, where: str = ""):
        if not isinstance(data, dict):
            raise RulesError(f"{file}: {where or 'document'} must be a mapping")
        self.data, self.file, self.where = data, file, where
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, problem: str) -> RulesError:
        return RulesError(f"{self.file}: key '{self._key(key)}': {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], required: bool = True, default: Any = None) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                typo = difflib.get_close_matches(key, [str(k) for k in self.data if k not in self.used], n=1)
                if typo:
                    raise self.fail(typo[0], f"is not a known key (did you mean '{key}'?)")
                raise self.fail(key, "is missing")
            return default
        value = self.data[key]
        # YAML reads 3 as int; a weight of 3 is a number all the same (but a bool is not).
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(key, f"must be {names}, not {type(value).__name__} {value!r}")
        return value

    def number(self, key: str, required: bool = True) -> float | None:
        value = self.get(key, (int, float), required)
        return None if value is None else float(value)

    def date(self, key: str, required: bool = True) -> dt.date | None:
        value = self.get(key, (str, dt.date), required)
        return None if value is None else _date(value, lambda p: self.fail(key, p))

    def child(self, key: str, required: bool = True) -> _Doc | None:
        value = self.get(key, dict, required)
        return None if value is None else _Doc(value, self.file, self._key(key))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used, key=str)
        if unknown:
            raise self.fail(str(unknown[0]), "is not a known key (typo?)")


def _date(value: Any, fail) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise fail(f"'{value}' is not a date in YYYY-MM-DD form") from None


def _name(path: Path, root: Path) -> str:
    """How errors name a file: relative to the folder that holds `rules/`."""
    return str(path.relative_to(root.parent))


def _read(path: Path, root: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 - strict SafeLoader
    except RulesError as exc:
        raise RulesError(f"{_name(path, root)}: {exc}") from None
    except yaml.YAMLError as exc:
        raise RulesError(f"{_name(path, root)}: not valid YAML ({exc})") from None


def _effective(doc: _Doc) -> tuple[dt.date, dt.date | None]:
    eff = doc.child("effective")
    start, end = eff.date("from"), eff.date("to", required=False)
    eff.done()
    if end is not None and end <= start:
        raise eff.fail("to", "must be after 'from'")
    return start, end


def _bands(doc: _Doc) -> tuple[Band, ...]:
    raw = doc.get("bands", list)
    if not raw:
        raise doc.fail("bands", "needs at least one band")
    bands = []
    for i, item in enumerate(raw):
        b = _Doc(item, doc.file, f"bands[{i}]")
        band = Band(b.number("min", required=False), b.number("max", required=False), b.number("score"))
        b.done()
        if not 0 <= band.score <= 1:
            raise b.fail("score", f"must be between 0 and 1, not {band.score}")
        if band.min is not None and band.max is not None and band.max <= band.min:
            raise b.fail("max", f"must be above min ({band.min})")
        bands.append(band)
    ordered = sorted(bands, key=lambda band: -float("inf") if band.min is None else band.min)
    for lower, upper in zip(ordered, ordered[1:], strict=False):
        low_end = float("inf") if lower.max is None else lower.max
        high_start = -float("inf") if upper.min is None else upper.min
        if high_start < low_end:
            raise doc.fail(
                "bands", f"bands overlap: [{lower.min}, {lower.max}) and [{upper.min}, {upper.max})"
            )
    return tuple(ordered)


def _strings(doc: _Doc, key: str, required: bool = True) -> tuple[str, ...]:
    values = doc.get(key, list, required, default=[])
    if not all(isinstance(v, str) for v in values):
        raise doc.fail(key, "must be a list of strings")
    return tuple(values)


def _labels(doc: _Doc, key: str) -> dict[str, str]:
    values = doc.get(key, dict)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
        raise doc.fail(key, "must map column names to Chinese labels")
    return dict(values)


def _standard_value(doc: _Doc, key: str, v: Any) -> dict[str, float]:
    """{城市, 农村} given directly, or computed as Qinghai does: a ratio of the previous year's
    per-capita consumption spending ({consumption: yuan a year, ratio: {城市, 农村}}), per month."""
    if isinstance(v, dict) and set(v) == {"城市", "农村"} and all(_is_number(x) for x in v.values()):
        return {k: float(x) for k, x in v.items()}
    if isinstance(v, dict) and set(v) == {"consumption", "ratio"} and _is_number(v["consumption"]):
        ratio = v["ratio"]
        if (
            isinstance(ratio, dict)
            and set(ratio) == {"城市", "农村"}
            and all(_is_number(r) and 0 < r < 1 for r in ratio.values())
        ):
            return {k: round(float(v["consumption"]) * float(r) / 12) for k, r in ratio.items()}
    raise doc.fail(
        key, "must give numbers for 城市 and 农村, or consumption and a ratio (0-1) for 城市 and 农村"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _place_dated(
    doc: _Doc, key: str, value: Any, kind: type | str, default_required: bool = True
) -> PlaceDated:
    """{date: {"default" | prefix: value}}; a prefix is 2 to 12 digits of a division code."""
    by_date = []
    for raw_date, places in value.items():
        start = _date(raw_date, lambda p, k=raw_date: doc.fail(f"{key}.{k}", p))
        if not isinstance(places, dict) or (default_required and "default" not in places):
            raise doc.fail(f"{key}.{raw_date}", "must map 'default' and division-code prefixes to values")
        values = {}
        for prefix, v in places.items():
            if prefix != "default" and not (
                isinstance(prefix, str) and prefix.isdigit() and 2 <= len(prefix) <= 12
            ):
                raise doc.fail(f"{key}.{raw_date}.{prefix}", "is not 'default' or a division-code prefix")
            if kind is float and not _is_number(v):
                raise doc.fail(f"{key}.{raw_date}.{prefix}", f"must be a number, not {v!r}")
            where = f"{key}.{raw_date}.{prefix}"
            if kind == "stages":
                v = _stage_costs(doc, where, v)
            values[prefix] = _standard_value(doc, where, v) if kind is dict else v
        by_date.append((start, tuple(sorted(values.items(), key=lambda kv: (kv[0] != "default", kv[0])))))
    return PlaceDated(tuple(sorted(by_date)))


def _minimum_base(doc: _Doc) -> PlaceDated:
    """Yuan a month by date and division prefix; "default" required: every place has a minimum."""
    for key in ("description", "unit", "reference"):
        doc.get(key, str)
    minimum = _place_dated(doc, "values", doc.get("values", dict), float)
    doc.done()
    return minimum


STAGES = ("学前", "小学", "初中", "高中", "中职", "高职", "本科", "研究生")  # the enrolment contract's


def _school_costs(doc: _Doc) -> PlaceDated:
    """Yuan a year per student, for every stage of the contract, by date and division prefix
    (rules/parameters/rigid_expenditure.yaml); "default" required."""
    for key in ("description", "unit", "reference"):
        doc.get(key, str)
    costs = _place_dated(doc, "values", doc.get("values", dict), "stages")
    doc.done()
    return costs


def _stage_costs(doc: _Doc, key: str, value: Any) -> dict[str, float]:
    if not isinstance(value, dict) or set(value) != set(STAGES):
        found = sorted(value) if isinstance(value, dict) else value
        raise doc.fail(key, f"must give yuan for every stage {'、'.join(STAGES)} and no other, not {found}")
    for stage, cost in value.items():
        if not _is_number(cost) or cost < 0:
            raise doc.fail(f"{key}.{stage}", f"must be yuan at or above 0, not {cost!r}")
    return {stage: float(value[stage]) for stage in STAGES}


def _indicator(path: Path, root: Path, dimensions: set[str]) -> Indicator:
    file = _name(path, root)
    doc = _Doc(_read(path, root), file)
    doc.get("description", str)
    direction = doc.get("direction", str)
    if direction not in ("hardship", "reverse"):
        raise doc.fail("direction", f"must be 'hardship' or 'reverse', not '{direction}'")
    dimension = doc.get("dimension", str)
    if dimension not in dimensions:
        raise doc.fail("dimension", f"'{dimension}' is not a dimension of rules/index/dimensions.yaml")
    weight = doc.number("weight")
    if weight <= 0:
        raise doc.fail("weight", "must be positive (use direction: reverse for means)")
    start, end = _effective(doc)
    ind = Indicator(
        id=path.stem,
        label=doc.get("label", str),
        dimension=dimension,
        column=doc.get("column", str),
        direction=direction,
        weight=weight,
        unit=doc.get("unit", str),
        bands=_bands(doc),
        sources=_strings(doc, "sources"),
        effective_from=start,
        effective_to=end,
        reference=doc.get("reference", str),
        file=file,
    )
    doc.done()
    return ind


def _conditions(doc: _Doc, file: str, required: bool = True, key: str = "when") -> tuple[Condition, ...]:
    conditions = []
    for i, item in enumerate(doc.get(key, list, required, default=[])):
        c = _Doc(item, file, f"{doc._key(key)}[{i}]")
        op = c.get("op", str)
        if op not in OPS:
            raise c.fail("op", f"must be one of {' '.join(OPS)}, not '{op}'")
        raw = c.get("value", (int, float, dict))
        value = _place_dated(c, "value", raw, float) if isinstance(raw, dict) else float(raw)
        conditions.append(Condition(c.get("column", str), op, value))
        c.done()
    return tuple(conditions)


def _warning(path: Path, root: Path) -> WarningRule:
    file = _name(path, root)
    doc = _Doc(_read(path, root), file)
    doc.get("description", str)
    kind, level, urgency = doc.get("kind", str), doc.get("level", str), doc.get("urgency", str)
    if kind not in KINDS:
        raise doc.fail("kind", f"must be one of {', '.join(KINDS)}, not '{kind}'")
    if level not in LEVELS:
        raise doc.fail("level", f"must be one of {'、'.join(LEVELS)}, not '{level}'")
    if urgency not in URGENCIES:
        raise doc.fail("urgency", f"must be 紧急 or 一般, not '{urgency}'")
    conditions = _conditions(doc, file)
    if not conditions:
        raise doc.fail("when", "needs at least one condition")
    start, end = _effective(doc)
    rule = WarningRule(
        id=path.stem,
        description=doc.get("description", str),
        kind=kind,
        level=level,
        urgency=urgency,
        when=tuple(conditions),
        reason=doc.get("reason", str),
        sources=_strings(doc, "sources"),
        effective_from=start,
        effective_to=end,
        reference=doc.get("reference", str),
        file=file,
        **_visit(doc, file),
    )
    doc.done()
    return rule


def _visit(doc: _Doc, file: str) -> dict[str, Any]:
    visit = doc.get("visit", str, required=False, default="always")
    if visit not in VISITS:
        raise doc.fail("visit", f"must be {' or '.join(VISITS)}, not '{visit}'")
    urgent = _conditions(doc, file, required=False, key="visit_when")
    effect = doc.get("income_effect", str, required=False)
    if visit == "always" and (urgent or effect):
        raise doc.fail("visit_when" if urgent else "income_effect", "applies only with visit: need")
    return {"visit": visit, "visit_when": urgent, "income_effect": effect}


def _recheck(doc: _Doc) -> RecheckRule:
    for key in ("description", "reference"):
        doc.get(key, str)
    _effective(doc)
    rule = RecheckRule(
        period_months=doc.get("period_months", int),
        rate=doc.number("rate"),
        exclude_checked_within_months=doc.get("exclude_checked_within_months", int),
        seed_prefix=doc.get("seed_prefix", str),
        verify=_strings(doc, "verify"),
    )
    doc.done()
    if rule.period_months not in (1, 2, 3, 4, 6):
        raise doc.fail("period_months", "must divide the year: 1, 2, 3, 4 or 6 (at least every six months)")
    if not 0 < rule.rate <= 1:
        raise doc.fail("rate", f"must be a share between 0 and 1, not {rule.rate}")
    return rule


def _means_limits(doc: _Doc) -> MeansLimits:
    for key in ("description", "reference"):
        doc.get(key, str)
    start, _ = _effective(doc)
    limits = MeansLimits(
        effective_from=start,
        near_dibao_factor=doc.number("near_dibao_factor"),
        financial_assets_months=doc.number("financial_assets_months"),
        max_homes=int(doc.number("max_homes")),
        home_usages=_strings(doc, "home_usages"),
        non_residential_usages=_strings(doc, "non_residential_usages"),
        car_types=_strings(doc, "car_types"),
        car_exempt_types=_strings(doc, "car_exempt_types"),
        business_exempt_types=_strings(doc, "business_exempt_types"),
        housing_fund_wage_share=doc.number("housing_fund_wage_share"),
        counted_income=_labels(doc, "counted_income"),
        not_counted_income=_labels(doc, "not_counted_income"),
    )
    doc.done()
    if not 1 <= limits.near_dibao_factor <= 3:
        raise doc.fail("near_dibao_factor", f"must be between 1 and 3, not {limits.near_dibao_factor}")
    if not 0 < limits.housing_fund_wage_share < 1:
        raise doc.fail("housing_fund_wage_share", "must be a share between 0 and 1")
    return limits


def _means_checks(doc: _Doc) -> tuple[MeansCheck, ...]:
    for key in ("description", "reference"):
        doc.get(key, str)
    _effective(doc)
    checks = []
    for i, item in enumerate(doc.get("checks", list)):
        c = _Doc(item, doc.file, f"checks[{i}]")
        check = MeansCheck(
            c.get("id", str),
            c.get("label", str),
            c.get("direction", str),
            c.get("applies_to", str),
            _strings(c, "verify"),
        )
        c.done()
        if check.direction not in DIRECTIONS:
            raise c.fail("direction", f"must be one of {', '.join(DIRECTIONS)}, not {check.direction!r}")
        if check.applies_to not in ("recipients", "others"):
            raise c.fail("applies_to", f"must be recipients or others, not {check.applies_to!r}")
        checks.append(check)
    doc.done()
    if len({c.id for c in checks}) != len(checks):
        raise doc.fail("checks", "an id appears twice")
    return tuple(checks)


def _release_gate(doc: _Doc) -> ReleaseGate:
    for key in ("description", "reference"):
        doc.get(key, str)
    change = doc.child("rows_change")
    gate = ReleaseGate(
        rows_change={kind: change.number(kind) for kind in ("snapshot", "event")},
        rows_min=doc.get("rows_min", int),
        identical_delivery=doc.get("identical_delivery", bool),
        roster_change=doc.number("roster_change"),
        usual_months=doc.get("usual_months", int),
        count_ratio=doc.number("count_ratio"),
        count_min=doc.get("count_min", int),
    )
    change.done()
    doc.done()
    for kind, share in gate.rows_change.items():
        if share <= 0:
            raise change.fail(kind, f"must be a share above 0, not {share}")
    if gate.roster_change <= 0:
        raise doc.fail("roster_change", f"must be a share above 0, not {gate.roster_change}")
    if gate.count_ratio <= 1:
        raise doc.fail("count_ratio", f"must be above 1 (a factor), not {gate.count_ratio}")
    if gate.usual_months < 1:
        raise doc.fail("usual_months", "must be at least 1")
    return gate


def _deadlines(doc: _Doc) -> Deadlines:
    for key in ("description", "reference"):
        doc.get(key, str)
    issue_day = doc.get("issue_day", int)
    if not 1 <= issue_day <= 28:
        raise doc.fail("issue_day", f"must be a day from 1 to 28, not {issue_day}")
    rules = []
    for i, item in enumerate(doc.get("deadlines", list)):
        d = _Doc(item, doc.file, f"deadlines[{i}]")
        rule = Deadline(
            list=d.get("list", str),
            days=d.get("days", int),
            urgency=d.get("urgency", str, required=False),
            levels=_strings(d, "levels", required=False),
            categories=_strings(d, "categories", required=False),
            directions=_strings(d, "directions", required=False),
        )
        d.get("note", str, required=False)
        d.done()
        if rule.list not in LISTS:
            raise d.fail("list", f"must be one of {', '.join(LISTS)}, not {rule.list}")
        if rule.days < 1:
            raise d.fail("days", "must be at least 1")
        rules.append(rule)
    doc.done()
    for name in LISTS:  # every row of every list gets a deadline
        last = [r for r in rules if r.list == name]
        if not last or any((last[-1].urgency, last[-1].levels, last[-1].categories, last[-1].directions)):
            raise doc.fail("deadlines", f"the last rule for list {name} must match every row (no conditions)")
    return Deadlines(issue_day, tuple(rules))


def _cases(doc: _Doc) -> CaseRules:
    for key in ("description", "reference"):
        doc.get(key, str)
    rules = CaseRules(
        expire_after_months=doc.get("expire_after_months", int),
        closed_cover_months=doc.get("closed_cover_months", int),
        county_urgency=_strings(doc, "county_urgency"),
        yield_outcomes=_strings(doc, "yield_outcomes"),
        withdraw_outcomes=_strings(doc, "withdraw_outcomes"),
        kpi_months=doc.get("kpi_months", int),
    )
    doc.done()
    codes = next(c for c in SOURCES["outcomes"].columns if c.name == "outcome").codes
    for key in ("yield_outcomes", "withdraw_outcomes"):
        unknown = [o for o in getattr(rules, key) if o not in codes]
        if unknown:
            raise doc.fail(key, f"not an outcome code of the contract: {', '.join(unknown)}")
    for key in ("expire_after_months", "closed_cover_months", "kpi_months"):
        if getattr(rules, key) < 1:
            raise doc.fail(key, "must be at least 1")
    return rules


def _capacity(doc: _Doc) -> Capacity:
    for key in ("description", "unit", "reference"):
        doc.get(key, str)
    visits = _place_dated(doc, "values", doc.get("values", dict), float)
    for start, places in visits.by_date:
        for prefix, v in places:
            if v != int(v) or v < 0:
                raise doc.fail(f"values.{start}.{prefix}", f"must be a whole number of households, not {v!r}")
    capacity = Capacity(visits, doc.get("yield_min_visited", int), _strings(doc, "order"))
    doc.done()
    if capacity.yield_min_visited < 1:
        raise doc.fail("yield_min_visited", "must be at least 1")
    wanted = set(LEVELS) | set(DIRECTIONS) | {NEAR_DIBAO}
    if sorted(capacity.order) != sorted(wanted):
        every = "、".join((*LEVELS, *DIRECTIONS, NEAR_DIBAO))
        raise doc.fail("order", f"must list each colour and direction once: {every}")
    return capacity


def _population(doc: _Doc) -> Population:
    for key in ("description", "reference"):
        doc.get(key, str)
    working = doc.child("working_age")
    bounds = (working.get("from", int), working.get("to", int))
    working.done()
    needs = doc.child("anticipated_needs")
    starts = needs.child("school_year_starts")
    school_year = (starts.get("month", int), starts.get("day", int))
    starts.done()
    stages = []
    for i, item in enumerate(needs.get("stages", list)):
        s = _Doc(item, doc.file, f"anticipated_needs.stages[{i}]")
        stages.append(Stage(s.get("stage", str), s.get("age", int), s.get("label", str)))
        s.done()
    notice_months = tuple(needs.get("notice_months", list))
    needs.done()
    population = Population(
        adult_age=doc.get("adult_age", int),
        elderly_age=doc.get("elderly_age", int),
        working_age_from=bounds[0],
        working_age_to=bounds[1],
        severe_disability_grades=tuple(doc.get("severe_disability_grades", list)),
        recipient_categories=_strings(doc, "recipient_categories"),
        single_person_categories=_strings(doc, "single_person_categories"),
        lookback_months=doc.get("lookback_months", int),
        late_report_months=doc.get("late_report_months", int),
        refused_applicant_months=doc.get("refused_applicant_months", int),
        school_year_starts=school_year,
        notice_months=notice_months,
        stages=tuple(stages),
    )
    doc.done()
    if not 0 < population.working_age_from <= population.working_age_to < population.elderly_age:
        raise doc.fail("working_age", "must be from <= to, both above 0 and below elderly_age")
    if not all(isinstance(g, int) and 1 <= g <= 4 for g in population.severe_disability_grades):
        raise doc.fail("severe_disability_grades", "must be grades 1 to 4")
    if not all(isinstance(m, int) and 1 <= m <= 12 for m in population.notice_months):
        raise doc.fail("anticipated_needs.notice_months", "must be months 1 to 12")
    try:
        dt.date(2024, *school_year)
    except ValueError as e:
        raise doc.fail("anticipated_needs.school_year_starts", f"is not a day of the year ({e})") from None
    codes = {c.name: c.codes for c in SOURCES["enrolment"].columns + SOURCES["roster"].columns}
    for stage in population.stages:
        if stage.stage not in codes["stage"]:
            raise doc.fail("anticipated_needs.stages", f"'{stage.stage}' is not a stage of the contract")
    for key in ("recipient_categories", "single_person_categories"):
        unknown = [c for c in getattr(population, key) if c not in codes["category"]]
        if unknown:
            raise doc.fail(key, f"not a category of the contract: {', '.join(unknown)}")
    for key in ("lookback_months", "late_report_months", "refused_applicant_months"):
        if getattr(population, key) < 1:
            raise doc.fail(key, "must be at least 1")
    return population


def load_population(root: Path = RULES_DIR) -> Population:
    """Only the population concepts: what a task that needs no other rule reads."""
    path = root / "parameters" / "population.yaml"
    return _population(_Doc(_read(path, root), _name(path, root)))


def load_portal(root: Path = RULES_DIR) -> PortalSettings:
    path = root / "portal" / "portal.yaml"
    doc = _Doc(_read(path, root), _name(path, root))
    for key in ("description", "reference"):
        doc.get(key, str)
    settings = PortalSettings(
        lockout_failures=doc.get("lockout_failures", int),
        lockout_minutes=doc.number("lockout_minutes"),
        lockout_account_failures=doc.get("lockout_account_failures", int),
        lockout_address_accounts=doc.get("lockout_address_accounts", int),
        password_min_length=doc.get("password_min_length", int),
        password_min_score=doc.get("password_min_score", int),
        password_site_words=tuple(doc.get("password_site_words", list)),
        hsts_days=doc.get("hsts_days", int),
        session_hours=doc.number("session_hours"),
        upload_max_bytes=doc.get("upload_max_bytes", int),
        xlsx_max_uncompressed_bytes=doc.get("xlsx_max_uncompressed_bytes", int),
        upload_max_rows=doc.get("upload_max_rows", int),
        upload_max_columns=doc.get("upload_max_columns", int),
        upload_max_cells=doc.get("upload_max_cells", int),
        upload_parse_seconds=doc.number("upload_parse_seconds"),
        upload_parse_workers=doc.get("upload_parse_workers", int),
        application_max_members=doc.get("application_max_members", int),
        authorisation_max_bytes=doc.get("authorisation_max_bytes", int),
        authorisation_min_bytes=doc.get("authorisation_min_bytes", int),
        application_daily_multiple=doc.number("application_daily_multiple"),
        application_daily_minimum=doc.get("application_daily_minimum", int),
        application_baseline_days=doc.get("application_baseline_days", int),
    )
    doc.done()
    for key, value in vars(settings).items():
        if isinstance(value, tuple):
            if not all(isinstance(v, str) and v for v in value):
                raise doc.fail(key, "must be a list of words")
        elif value <= 0:
            raise doc.fail(key, "must be above 0")
    return settings


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
    doc = _Doc(_read(path, root), _name(path, root))
    for key in ("description", "reference"):
        doc.get(key, str)
    timeouts = doc.child("execution_timeout_minutes")
    schedule = Schedule(
        ready_poke_minutes=doc.number("ready_poke_minutes"),
        ready_timeout_hours=doc.number("ready_timeout_hours"),
        approval_timeout_hours=doc.number("approval_timeout_hours"),
        deadline_days=doc.number("deadline_days"),
        execution_timeout_minutes={task: timeouts.number(task) for task in SCHEDULED_TASKS},
    )
    timeouts.done()
    doc.done()
    for key in ("ready_poke_minutes", "ready_timeout_hours", "approval_timeout_hours", "deadline_days"):
        if getattr(schedule, key) <= 0:
            raise doc.fail(key, "must be above 0")
    return schedule


def load_rules(root: Path = RULES_DIR, columns: set[str] | None = None) -> RuleSet:
    """The whole rule set, checked; `columns` are the household columns the stages provide."""

    def doc(*parts: str) -> _Doc:
        path = root.joinpath(*parts)
        return _Doc(_read(path, root), _name(path, root))

    dims_doc = doc("index", "dimensions.yaml")
    for key in ("description", "unit", "reference"):
        dims_doc.get(key, str)
    dimensions = []
    for i, item in enumerate(dims_doc.get("dimensions", list)):
        d = _Doc(item, dims_doc.file, f"dimensions[{i}]")
        dimensions.append(Dimension(d.get("id", str), d.get("label", str), d.number("weight")))
        d.done()
    dims_doc.done()
    if len({d.id for d in dimensions}) != len(dimensions):
        raise dims_doc.fail("dimensions", "an id appears twice")

    levels_doc = doc("index", "levels.yaml")
    for key in ("description", "unit", "reference"):
        levels_doc.get(key, str)
    levels = []
    for i, item in enumerate(levels_doc.get("levels", list)):
        lv = _Doc(item, levels_doc.file, f"levels[{i}]")
        levels.append(Level(lv.get("label", str), lv.number("min"), lv.number("max")))
        lv.done()
    levels_doc.done()

    indicators = tuple(
        _indicator(p, root, {d.id for d in dimensions})
        for p in sorted((root / "index" / "indicators").glob("*.yaml"))
    )
    warnings = tuple(_warning(p, root) for p in sorted((root / "warnings").glob("*.yaml")))

    actions_doc = doc("actions.yaml")
    actions_doc.get("description", str)
    actions_doc.get("reference", str)
    actions = []
    warning_ids = {w.id for w in warnings}
    for i, item in enumerate(actions_doc.get("actions", list)):
        a = _Doc(item, actions_doc.file, f"actions[{i}]")
        rules = _strings(a, "rules")
        unknown = [r for r in rules if r not in warning_ids]
        if unknown:
            raise a.fail("rules", f"names no warning rule: {', '.join(unknown)}")
        actions.append(
            Action(rules, _strings(a, "categories"), a.get("action", str), _conditions(a, a.file, False))
        )
        a.done()
    actions_doc.done()

    std_doc = doc("parameters", "dibao_standard.yaml")
    for key in ("description", "unit", "reference"):
        std_doc.get(key, str)
    # No "default": a county without its own standard has none, and its households go unchecked.
    standard = _place_dated(std_doc, "values", std_doc.get("values", dict), dict, default_required=False)
    std_doc.done()
    minimum_base = _minimum_base(doc("parameters", "social_insurance_minimum_base.yaml"))
    school_costs = _school_costs(doc("parameters", "rigid_expenditure.yaml"))

    if columns is not None:
        for ind in indicators:
            if ind.column not in columns:
                raise RulesError(f"{ind.file}: key 'column': no stage provides a column '{ind.column}'")
        for w in warnings:
            for key, conds in (("when", w.when), ("visit_when", w.visit_when)):
                for i, cond in enumerate(conds):
                    if cond.column not in columns:
                        raise RulesError(
                            f"{w.file}: key '{key}[{i}].column': no stage provides a column '{cond.column}'"
                        )
            if w.income_effect is not None and w.income_effect not in columns:
                raise RulesError(
                    f"{w.file}: key 'income_effect': no stage provides a column '{w.income_effect}'"
                )
        for k, action in enumerate(actions):
            for i, cond in enumerate(action.when):
                if cond.column not in columns:
                    raise RulesError(
                        f"{actions_doc.file}: key 'actions[{k}].when[{i}].column': "
                        f"no stage provides a column '{cond.column}'"
                    )
    limits = _means_limits(doc("means_test", "limits.yaml"))
    recheck = _recheck(doc("means_test", "recheck.yaml"))
    means_checks = _means_checks(doc("means_test", "checks.yaml"))
    gate = _release_gate(doc("release", "gate.yaml"))
    deadlines = _deadlines(doc("outcomes", "deadlines.yaml"))
    cases = _cases(doc("outcomes", "cases.yaml"))
    capacity = _capacity(doc("outcomes", "capacity.yaml"))
    population = _population(doc("parameters", "population.yaml"))
    files = tuple(_name(p, root) for p in sorted(root.rglob("*.yaml")))
    return RuleSet(
        rule_version(root),
        tuple(dimensions),
        tuple(levels),
        indicators,
        warnings,
        tuple(actions),
        standard,
        limits,
        recheck,
        files,
        means_checks,
        gate,
        deadlines,
        cases,
        population,
        minimum_base,
        capacity,
        school_costs,
    )
