"""The shape of the files in `rules/`: pydantic models, strict, unknown keys refused.

`safetynet.rules` reads a file, validates it against its model here and builds the rule objects the
jobs use. A `ValidationError` becomes one line naming the file, the key path and the problem
(`problem_of`). Types are strict (a string is never read as a number, nor a number as a string);
the one leniency is YAML's: a whole number is accepted where a float is expected (`weight: 3`).

A parameter is dated as in openfisca's country template: `{values: {YYYY-MM-DD: {value: ...,
reference: ...}}}`. Validating a file with `context={"day": date}` gives each parameter the value in
force on that day; with no day, the value of its latest date.
"""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from safetynet.contract import CROSS_REGION_ITEMS, SOURCES

T = TypeVar("T")

LEVELS = ("红", "橙", "黄", "蓝", "绿")  # most to least severe (Guangdong's five colours)
URGENCIES = ("紧急", "一般")
OPS = (">=", ">", "<=", "<", "==", "!=")
# warning kinds: a hard trigger, an event of the month, the index, the household's need figure
# (刚性支出困难: its reason comes first on the lead)
KINDS = ("hard", "event", "score", "need")
VISITS = ("always", "need")
DIRECTIONS = ("应退", "核实", "应保")
LISTS = ("leads", "doubtful", "recheck")


def problem(message: str, key: str | None = None) -> PydanticCustomError:
    """A check's failure; `key` names the part of the value it is about (appended to the path)."""
    return PydanticCustomError("rules", message, {"at": key} if key is not None else None)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=False)


# --- scalar types -----------------------------------------------------------------------------------


def to_date(value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d").date()
    except (TypeError, ValueError):
        raise problem(f"'{value}' is not a date in YYYY-MM-DD form") from None


def _number(value: Any) -> int | float:
    """A number kept as written (an int stays an int: the frames built from it keep their types)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise problem(f"must be a number, not {value!r}")


def _prefix(value: Any) -> str:
    if value == "default" or isinstance(value, str) and value.isdigit() and 2 <= len(value) <= 12:
        return value
    raise problem(f"'{value}' is not 'default' or a division-code prefix")


Date = Annotated[dt.date, BeforeValidator(to_date)]
Number = Annotated[int | float, PlainValidator(_number)]
Prefix = Annotated[str, BeforeValidator(_prefix)]


class Effective(Strict):
    """When a rule is in force: from a day, to a day (excluded) if it ends."""

    start: Date = Field(alias="from")
    end: Date | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Effective:
        if self.end is not None and self.end <= self.start:
            raise problem("must be after 'from'", "to")
        return self


# --- dated parameters -------------------------------------------------------------------------------


class Entry(Strict, Generic[T]):
    value: T
    reference: str


class Param(Strict, Generic[T]):
    """One parameter: its values by the date each takes effect, each with its reference."""

    description: str | None = None
    values: dict[Date, Entry[T]]

    @model_validator(mode="before")
    @classmethod
    def _dated(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "values" not in data:
            raise problem(
                "is not dated: give values: {YYYY-MM-DD: {value: ..., reference: ...}} "
                "(the undated form of rules before issue 31 is no longer read)"
            )
        if isinstance(data["values"], dict) and not data["values"]:
            raise problem("needs at least one dated value", "values")
        return data


def _in_force(param: Param, info: ValidationInfo) -> Any:
    """The value in force on the context's day; with none given, the latest."""
    dates = sorted(param.values)
    day = (info.context or {}).get("day")
    if day is None:
        return param.values[dates[-1]].value
    current = [d for d in dates if d <= day]
    if not current and (info.context or {}).get("each_date"):  # checking another date's values
        return param.values[dates[0]].value
    if not current:
        raise problem(f"has no value in force on {day} (the first takes effect on {dates[0]})")
    return param.values[current[-1]].value


class Dated:
    """`Dated[int]` reads a `Param[int]` and gives the int in force (see the module docstring)."""

    def __class_getitem__(cls, inner: Any) -> Any:
        return Annotated[Param[inner], AfterValidator(_in_force)]


# --- values by date and place ---------------------------------------------------------------------


def _needs_default(places: Any) -> Any:
    """Checked before the places themselves: a mistyped 'default' is named as the default missing."""
    if not isinstance(places, dict) or "default" not in places:
        raise problem("must map 'default' and division-code prefixes to values")
    return places


Places = Annotated[dict[Prefix, T], BeforeValidator(_needs_default)]


def _standard(value: Any) -> dict[str, float]:
    """{城市, 农村} given directly, or computed as Qinghai does: a ratio of the previous year's
    per-capita consumption spending ({consumption: yuan a year, ratio: {城市, 农村}}), per month."""

    def number(x: Any) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool)

    if isinstance(value, dict) and set(value) == {"城市", "农村"} and all(map(number, value.values())):
        return {k: float(x) for k, x in value.items()}
    if isinstance(value, dict) and set(value) == {"consumption", "ratio"} and number(value["consumption"]):
        ratio = value["ratio"]
        if isinstance(ratio, dict) and set(ratio) == {"城市", "农村"}:
            if all(number(r) and 0 < r < 1 for r in ratio.values()):
                return {k: round(float(value["consumption"]) * float(r) / 12) for k, r in ratio.items()}
    raise problem("must give numbers for 城市 and 农村, or consumption and a ratio (0-1) for 城市 and 农村")


Standard = Annotated[dict[str, int | float], PlainValidator(_standard)]

# the enrolment stages of the contract, in its order
STAGES: tuple[str, ...] = next(c for c in SOURCES["enrolment"].columns if c.name == "stage").codes


def _stage_costs(value: Any) -> dict[str, float]:
    if not isinstance(value, dict) or set(value) != set(STAGES):
        found = sorted(value) if isinstance(value, dict) else value
        raise problem(f"must give yuan for every stage {'、'.join(STAGES)} and no other, not {found}")
    for stage in STAGES:
        cost = value[stage]
        if not isinstance(cost, int | float) or isinstance(cost, bool) or cost < 0:
            raise problem(f"must be yuan at or above 0, not {cost!r}", stage)
    return {stage: float(value[stage]) for stage in STAGES}


StageCosts = Annotated[dict[str, float], PlainValidator(_stage_costs)]


def _whole(value: float) -> float:
    if value != int(value) or value < 0:
        raise problem(f"must be a whole number of households, not {value!r}")
    return value


Households = Annotated[Number, AfterValidator(_whole)]


class PlaceFile(Strict, Generic[T]):
    """A parameter by date and place: `values: {date: {value: {default | prefix: v}, reference}}`."""

    description: str
    unit: str
    reference: str
    values: dict[Date, Entry[T]] = Field(min_length=1)


# --- the index and the warnings -------------------------------------------------------------------


class Band(Strict):
    min: float | None = None
    max: float | None = None
    score: float

    @field_validator("score")
    @classmethod
    def _share(cls, score: float) -> float:
        if not 0 <= score <= 1:
            raise problem(f"must be between 0 and 1, not {score}")
        return score

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.min is not None and self.max is not None and self.max <= self.min:
            raise problem(f"must be above min ({self.min})", "max")
        return self


class IndicatorFile(Strict):
    description: str
    label: str
    dimension: str
    column: str
    direction: Literal["hardship", "reverse"]  # "hardship" raises the score, "reverse" (means) lowers it
    weight: float
    unit: str
    bands: list[Band]
    sources: list[str]
    effective: Effective
    reference: str

    @field_validator("weight")
    @classmethod
    def _positive(cls, weight: float) -> float:
        if weight <= 0:
            raise problem("must be positive (use direction: reverse for means)")
        return weight

    @field_validator("bands")
    @classmethod
    def _apart(cls, bands: list[Band]) -> list[Band]:
        if not bands:
            raise problem("needs at least one band")
        ordered = sorted(bands, key=lambda band: -float("inf") if band.min is None else band.min)
        for lower, upper in zip(ordered, ordered[1:], strict=False):
            low_end = float("inf") if lower.max is None else lower.max
            high_start = -float("inf") if upper.min is None else upper.min
            if high_start < low_end:
                raise problem(f"bands overlap: [{lower.min}, {lower.max}) and [{upper.min}, {upper.max})")
        return ordered


ThresholdByDate = Annotated[dict[Date, Places[Number]], Field(min_length=1)]


def _threshold_kind(value: Any) -> str:
    return "~by_date" if isinstance(value, dict) else "~number"


# A threshold: a number, or numbers by date and division-code prefix
Threshold = Annotated[
    Annotated[Number, AfterValidator(float), Tag("~number")] | Annotated[ThresholdByDate, Tag("~by_date")],
    Discriminator(_threshold_kind),
]


class ConditionModel(Strict):
    column: str
    op: Literal[OPS]  # type: ignore[valid-type]
    value: Threshold


class WarningFile(Strict):
    description: str
    title: str | None = None  # the rule's short name for township staff, when the description is long
    kind: Literal[KINDS]  # type: ignore[valid-type]
    level: Literal[LEVELS]  # type: ignore[valid-type]
    urgency: Literal[URGENCIES]  # type: ignore[valid-type]
    when: list[ConditionModel] = Field(min_length=1)
    reason: str
    sources: list[str]
    effective: Effective
    reference: str
    visit: Literal[VISITS] = "always"  # type: ignore[valid-type]
    visit_when: list[ConditionModel] = []
    income_effect: str | None = None

    @model_validator(mode="after")
    def _visit(self) -> WarningFile:
        if self.visit == "always" and (self.visit_when or self.income_effect):
            raise problem(
                "applies only with visit: need", "visit_when" if self.visit_when else "income_effect"
            )
        return self


class DimensionModel(Strict):
    id: str
    label: str
    weight: float


class DimensionsFile(Strict):
    description: str
    unit: str
    reference: str
    dimensions: list[DimensionModel]

    @field_validator("dimensions")
    @classmethod
    def _unique(cls, dimensions: list[DimensionModel]) -> list[DimensionModel]:
        if len({d.id for d in dimensions}) != len(dimensions):
            raise problem("an id appears twice")
        return dimensions


class LevelModel(Strict):
    label: str
    min: float
    max: float


class LevelsFile(Strict):
    description: str
    unit: str
    reference: str
    levels: list[LevelModel]


class ActionModel(Strict):
    rules: list[str]
    categories: list[str]
    action: str
    when: list[ConditionModel] = []


class ActionsFile(Strict):
    description: str
    reference: str
    actions: list[ActionModel]


# --- problems, one line each ----------------------------------------------------------------------

_KINDS = {
    "float_type": "int or float",
    "int_type": "int",
    "string_type": "str",
    "bool_type": "bool",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}

_BOUNDS = {
    "greater_than": ("gt", "above"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "below"),
    "less_than_equal": ("le", "at most"),
}


def _path(loc: tuple) -> str:
    """('bands', 0, 'score') -> 'bands[0].score'; the tags of a discriminated value are left out."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "[key]" and not str(part).startswith("~"):
            out += f".{part}" if out else str(part)
    return out


def _message(error: dict, errors: list[dict]) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        parent = error["loc"][:-1]
        missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing" and e["loc"][:-1] == parent]
        typo = difflib.get_close_matches(str(error["loc"][-1]), missing, n=1)
        return f"is not a known key (did you mean '{typo[0]}'?)" if typo else "is not a known key (typo?)"
    if kind == "missing":
        return "is missing"
    if kind in _KINDS:
        return f"must be {_KINDS[kind]}, not {type(value).__name__} {value!r}"
    if kind == "literal_error":
        return f"must be one of {error['ctx']['expected']}, not {value!r}"
    if kind in _BOUNDS:
        bound, words = _BOUNDS[kind]
        return f"must be {words} {error['ctx'][bound]}, not {value!r}"
    if kind == "too_short":
        return "needs at least one entry"
    return error["msg"]


def problem_of(exc: ValidationError) -> tuple[str, str]:
    """(key path, problem) of the error to show: an unknown key first (a typo explains the key that
    is then missing), else the first found."""
    errors = exc.errors()
    error = min(errors, key=lambda e: e["type"] != "extra_forbidden")
    loc = tuple(error["loc"])
    at = (error.get("ctx") or {}).get("at")
    return _path(loc + ((at,) if at is not None else ())), _message(error, errors)


# --- the means test -------------------------------------------------------------------------------


def _labels(value: Any) -> dict[str, str]:
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return value
    raise problem("must map column names to Chinese labels")


Labels = Annotated[dict[str, str], PlainValidator(_labels)]


class LimitsFile(Strict):
    description: str
    reference: str
    near_dibao_factor: Dated[float]
    financial_assets_months: Dated[float]
    max_homes: Dated[int]
    home_usages: Dated[list[str]]
    non_residential_usages: Dated[list[str]]
    car_types: Dated[list[str]]
    car_exempt_types: Dated[list[str]]
    business_exempt_types: Dated[list[str]]
    housing_fund_wage_share: Dated[float]
    counted_income: Dated[Labels]
    not_counted_income: Dated[Labels]
    applied_for_within: Dated[dict[str, list[str]]]

    @model_validator(mode="after")
    def _ranges(self) -> LimitsFile:
        if not 1 <= self.near_dibao_factor <= 3:
            raise problem(f"must be between 1 and 3, not {self.near_dibao_factor}", "near_dibao_factor")
        if not 0 < self.housing_fund_wage_share < 1:
            raise problem("must be a share between 0 and 1", "housing_fund_wage_share")
        return self


class RecheckFile(Strict):
    description: str
    reference: str
    period_months: Dated[int]
    rate: Dated[float]
    exclude_checked_within_months: Dated[int]
    seed_prefix: str
    verify: list[str]

    @model_validator(mode="after")
    def _ranges(self) -> RecheckFile:
        if self.period_months not in (1, 2, 3, 4, 6):
            raise problem(
                "must divide the year: 1, 2, 3, 4 or 6 (at least every six months)", "period_months"
            )
        if not 0 < self.rate <= 1:
            raise problem(f"must be a share between 0 and 1, not {self.rate}", "rate")
        return self


class CheckModel(Strict):
    id: str
    # the check's number in its records' ids: two digits, so that an id a clerk reads has no English
    code: str = Field(pattern=r"^[0-9]{2}$")
    label: str
    direction: Literal[DIRECTIONS]  # type: ignore[valid-type]
    applies_to: str
    verify: list[str]

    @field_validator("applies_to")
    @classmethod
    def _whom(cls, applies_to: str) -> str:
        if applies_to not in ("recipients", "others"):
            raise problem(f"must be recipients or others, not {applies_to!r}")
        return applies_to


class ChecksFile(Strict):
    description: str
    reference: str
    effective: Effective
    checks: list[CheckModel]

    @field_validator("checks")
    @classmethod
    def _unique(cls, checks: list[CheckModel]) -> list[CheckModel]:
        if len({c.id for c in checks}) != len(checks):
            raise problem("an id appears twice")
        if len({c.code for c in checks}) != len(checks):
            raise problem("a code appears twice")
        return checks


# --- cross-region checks ---------------------------------------------------------------------------


def _items(items: list[str]) -> list[str]:
    """Check items of the contract, each once, kept in the contract's order."""
    unknown = [i for i in items if i not in CROSS_REGION_ITEMS]
    if unknown:
        raise problem(f"not a cross-region item of the contract: {', '.join(unknown)}")
    if not items or len(set(items)) != len(items):
        raise problem("must name at least one item, each once")
    return [i for i in CROSS_REGION_ITEMS if i in items]


def _template(value: str) -> str:
    try:
        filled = value.format(household_id="H")
    except (KeyError, IndexError, ValueError):
        raise problem(f"'{value}' may use only {{household_id}}") from None
    if "{household_id}" not in value or not filled.strip():
        raise problem(f"'{value}' must contain {{household_id}}")
    return value


Items = Annotated[list[str], AfterValidator(_items)]


class CrossRegionFile(Strict):
    description: str
    reference: str
    reply_days: Dated[Annotated[int, Field(ge=1, le=90)]]
    recheck_months: Dated[Annotated[int, Field(ge=1, le=12)]]
    member_items: Dated[Items]
    applicant_items: Dated[Items]
    standing_authorisation: Dated[Annotated[str, AfterValidator(_template)]]
    evidence_months: Dated[Annotated[int, Field(ge=1, le=24)]]


# --- outcomes ---------------------------------------------------------------------------------------


class DeadlineModel(Strict):
    list: Literal[LISTS]  # type: ignore[valid-type]
    days: int = Field(ge=1)
    urgency: str | None = None
    levels: list[str] = []
    categories: list[str] = []
    directions: list[str] = []
    note: str | None = None


def _every_row_has_a_deadline(rules: list[DeadlineModel]) -> list[DeadlineModel]:
    for name in LISTS:
        last = [r for r in rules if r.list == name]
        if not last or any((last[-1].urgency, last[-1].levels, last[-1].categories, last[-1].directions)):
            raise problem(f"the last rule for list {name} must match every row (no conditions)")
    return rules


class DeadlinesFile(Strict):
    description: str
    reference: str
    issue_day: Dated[Annotated[int, Field(ge=1, le=28)]]
    deadlines: Dated[Annotated[list[DeadlineModel], AfterValidator(_every_row_has_a_deadline)]]


class CasesFile(Strict):
    description: str
    reference: str
    expire_after_months: Dated[Annotated[int, Field(ge=1)]]
    closed_cover_months: Dated[Annotated[int, Field(ge=1)]]
    county_urgency: Dated[list[str]]
    yield_outcomes: Dated[list[str]]
    withdraw_outcomes: Dated[list[str]]
    reopen_outcomes: Dated[list[str]]
    kpi_months: Dated[Annotated[int, Field(ge=1)]]


class CapacityFile(PlaceFile[Places[Households]]):
    yield_min_visited: Dated[Annotated[int, Field(ge=1)]]
    order: Dated[list[str]]

    @field_validator("order")
    @classmethod
    def _every_colour_once(cls, order: list[str]) -> list[str]:
        wanted = (*LEVELS, *DIRECTIONS, NEAR_DIBAO)
        if sorted(order) != sorted(wanted):
            raise problem(f"must list each colour and direction once: {'、'.join(wanted)}")
        return order


# In the capacity order: an 应保 record of a household not below the standard after rigid expenditure
# (a near-dibao candidate, jobs/cases/capacity.py), apart from those in need
NEAR_DIBAO = "低保边缘"


# --- the population concepts ------------------------------------------------------------------------


class WorkingAge(Strict):
    start: int = Field(alias="from")
    end: int = Field(alias="to")


class SchoolYearStart(Strict):
    month: int
    day: int

    @model_validator(mode="after")
    def _a_day(self) -> SchoolYearStart:
        try:
            dt.date(2024, self.month, self.day)
        except ValueError as e:
            raise problem(f"is not a day of the year ({e})") from None
        return self


class StageModel(Strict):
    stage: str
    age: int
    label: str


class AnticipatedNeeds(Strict):
    school_year_starts: Dated[SchoolYearStart]
    notice_months: Dated[list[Annotated[int, Field(ge=1, le=12)]]]
    noticed_within_months: Dated[Annotated[int, Field(ge=1)]]
    stages: Dated[list[StageModel]]


class PopulationFile(Strict):
    description: str
    reference: str
    adult_age: Dated[int]
    elderly_age: Dated[int]
    working_age: Dated[WorkingAge]
    severe_disability_grades: Dated[list[Annotated[int, Field(ge=1, le=4)]]]
    recipient_categories: Dated[list[str]]
    single_person_categories: Dated[list[str]]
    lookback_months: Dated[Annotated[int, Field(ge=1)]]
    late_report_months: Dated[Annotated[int, Field(ge=1)]]
    refused_applicant_months: Dated[Annotated[int, Field(ge=1)]]
    unemployed_month_days: Dated[Annotated[int, Field(ge=28, le=31)]]
    school_stages: Dated[list[list[str]]]
    upper_stages_from: Dated[str]
    anticipated_needs: AnticipatedNeeds

    @model_validator(mode="after")
    def _consistent(self) -> PopulationFile:
        if not 0 < self.working_age.start <= self.working_age.end < self.elderly_age:
            raise problem("must be from <= to, both above 0 and below elderly_age", "working_age")
        stages = [s for level in self.school_stages for s in level]
        if sorted(stages) != sorted(STAGES):
            raise problem(f"must list each stage {'、'.join(STAGES)} once, not {stages}", "school_stages")
        if self.upper_stages_from not in stages:
            raise problem(f"'{self.upper_stages_from}' is not a stage of school_stages", "upper_stages_from")
        return self


# --- assistance decisions ---------------------------------------------------------------------------

# The kinds of decision a township proposes (CONTRACT.md "Assistance decisions"), in the portal's order
DECISION_KINDS = ("纳入低保", "纳入特困", "纳入低保边缘", "临时救助", "单人保", "调整金额", "退出")
# How a kind's amount is prefilled (rules/decisions/decisions.yaml explains each)
AMOUNT_RULES = ("dibao", "single", "tekun", "none", "one_off")
# A decision's category: a roster category, "current" (the household's own), or none
DECISION_CATEGORIES = ("低保", "特困", "低保边缘", "current")


class KindModel(Strict):
    category: Literal[DECISION_CATEGORIES] | None  # type: ignore[valid-type]
    members: Literal["household", "one"]
    amount: Literal[AMOUNT_RULES]  # type: ignore[valid-type]
    confirmed_by: Literal["roster", "approval"]
    assistance: bool  # counts as help in the funnel's 48-hour share and the yield (退出: false)
    self_approval: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> KindModel:
        if self.self_approval and self.amount != "one_off":
            raise problem("applies only to a one-off amount (先行救助)", "self_approval")
        if self.confirmed_by == "approval" and (self.category is not None or self.amount != "one_off"):
            raise problem("approval confirms only a one-off payment with no category", "confirmed_by")
        if self.members == "one" and self.amount not in ("single", "none"):
            raise problem("one member's amount must be single or none", "amount")
        return self


def _every_kind_once(kinds: dict[str, KindModel]) -> dict[str, KindModel]:
    if sorted(kinds) != sorted(DECISION_KINDS):
        found = "、".join(kinds)
        raise problem(f"must give each kind {'、'.join(DECISION_KINDS)} once and no other, not {found}")
    return {kind: kinds[kind] for kind in DECISION_KINDS}


class DecisionsFile(Strict):
    description: str
    reference: str
    kinds: Dated[Annotated[dict[str, KindModel], AfterValidator(_every_kind_once)]]
    tekun_factor: Dated[Annotated[float, Field(ge=1)]]
    self_approval_limit: Dated[Annotated[float, Field(ge=0)]]
    confirm_within_months: Dated[Annotated[int, Field(ge=1)]]
    urgent_help_hours: Dated[Annotated[int, Field(ge=1)]]


# --- settings that never change a result ------------------------------------------------------------


class GateChange(Strict):
    snapshot: float = Field(gt=0)
    event: float = Field(gt=0)


class GateFile(Strict):
    description: str
    reference: str
    rows_change: GateChange
    rows_min: int
    identical_delivery: bool
    roster_change: float = Field(gt=0)
    usual_months: int = Field(ge=1)
    count_ratio: float
    count_min: int

    @field_validator("count_ratio")
    @classmethod
    def _factor(cls, ratio: float) -> float:
        if ratio <= 1:
            raise problem(f"must be above 1 (a factor), not {ratio}")
        return ratio


StandardFile = PlaceFile[dict[Prefix, Standard]]
MinimumBaseFile = PlaceFile[Places[Number]]
SchoolCostsFile = PlaceFile[Places[StageCosts]]
