"""A township's proposal for assistance (全过程网办): the verified case it stands on, the facts it
is prefilled from (the published month's means test of the household: category, per-capita income
against the local dibao standard, the members counted, each member's income), the amounts the rules
give (`safetynet.rules.load_decisions`), and the form checked on the server with a Chinese message
per problem. The steps are appended to the decision log by portal/decisions.py."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

from jobs.ingest.areas import prefecture_of
from portal.casework import township_cases
from safetynet.ids import mask_id
from safetynet.lake import Home
from safetynet.rules import DecisionKind, load_decisions, load_population

# the case outcomes that ask for assistance: the kind a proposal starts from (any visited case
# may be proposed for; the others start from 调整金额 or 退出 as the office chooses)
FROM_OUTCOME = ("纳入低保", "纳入特困", "纳入低保边缘", "临时救助")
GRADES = {1: "一级", 2: "二级", 3: "三级", 4: "四级", None: ""}  # 残疾等级 as written
MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
REASON_MAX = 500
LEAVING = "退出"  # the kind that takes a household out of assistance: only a recipient's
# how the rules prefill a kind's amount (rules/decisions/decisions.yaml) -> what the form asks for
MONTHLY = {"dibao": "monthly", "single": "monthly", "tekun": "monthly", "one_off": "one_off", "none": None}


@dataclass(frozen=True)
class Member:
    key: str  # how the form names it (`member_key`: no ID number in the page, no position)
    id_number: str
    masked: str
    name: str
    relation: str | None
    health_status: str | None
    labour_capacity: str | None
    disability: str | None  # as the disabled persons' federation registers it: 肢体二级残疾
    severe: bool  # 重度残疾: grade 1 or 2
    income: float | None
    counted: bool


@dataclass(frozen=True)
class Household:
    """A household as the means test of a published month counted it."""

    month: str
    household_id: str
    township_code: str
    category: str | None
    residence_type: str | None
    per_capita_income: float | None
    dibao_standard: float | None
    counted: int
    members: tuple[Member, ...]

    def member(self, key: str) -> Member | None:
        return next((m for m in self.members if m.key == key), None)


@dataclass(frozen=True)
class Kind:
    """A kind of decision as the form uses it (from the rules' kind spec)."""

    name: str
    category: str | None  # the category it puts them in; None: none (退出, 临时救助)
    keeps_category: bool  # 调整金额: the household's current category
    one_member: bool  # 单人保: exactly one member
    amount: str | None  # "monthly", "one_off" or None (no amount)
    self_approval: bool = False  # 先行救助: the township may approve it up to the rules' limit


def verified_case(
    home: Home, landing: Path | None, township: str, case_id: str, today: dt.date
) -> dict | None:
    """A case of the township with a conclusion (uploaded or read by a run), else None."""
    cases = township_cases(home, landing, township, today)
    found = cases.filter((pl.col("id") == case_id) & pl.col("outcome").is_not_null())
    return found.to_dicts()[0] if found.height else None


def household(home: Home, township: str, household_id: str) -> Household | None:
    """The household in the latest published month whose means test counted it, else None."""
    area = prefecture_of(township)
    for month in sorted(home.catalog, reverse=True):
        means = home.scan("_means_households", month, area=area)
        if means is None:
            continue
        row = means.filter(pl.col("household_id") == household_id).collect()
        if row.height:
            return _household(home, month, area, row.to_dicts()[0])
    return None


def _household(home: Home, month: str, area: str, row: dict) -> Household:
    hid = row["household_id"]
    members = home.scan("_means_members", month, area=area).filter(pl.col("household_id") == hid)
    roster = home.scan("roster", month, area=area)
    health = ("id_number", "health_status", "labour_capacity")
    listed = (
        roster.filter(pl.col("household_id") == hid).select(health)
        if roster is not None
        else pl.LazyFrame(schema=dict.fromkeys(health, pl.String))
    )
    found = (
        members.join(listed, on="id_number", how="left")
        .sort(pl.col("relation") != "户主", "name", "id_number")
        .collect()
    )
    grades = disability(home, month, area, found["id_number"])
    found = found.join(grades, on="id_number", how="left")
    severe = load_population(month=month).severe_disability_grades  # 重度残疾 (rules/parameters)
    return Household(
        month=month,
        household_id=hid,
        township_code=row["township_code"],
        category=row["category"],
        residence_type=row["residence_type"],
        per_capita_income=row["per_capita_income"],
        dibao_standard=row["dibao_standard"],
        counted=row["counted"] or 0,
        members=tuple(
            Member(
                key=member_key(m["id_number"]),
                id_number=m["id_number"],
                masked=mask_id(m["id_number"]),
                name=m["name"],
                relation=m["relation"],
                health_status=m["health_status"],
                labour_capacity=m["labour_capacity"],
                disability=f"{m['disability_type']}{GRADES[m['grade']]}残疾" if m["grade"] else None,
                severe=m["grade"] in severe,
                income=m["income"],
                counted=bool(m["counted"]),
            )
            for m in found.to_dicts()
        ),
    )


def member_key(id_number: str) -> str:
    """A member as the form names it: the first 12 hex of the SHA-256 of the ID number. It names
    the same person whatever month is published between showing the form and posting it (a
    position in the household would name another person once a member joins or leaves)."""
    return hashlib.sha256(id_number.encode("utf-8")).hexdigest()[:12]


def disability(home: Home, month: str, area: str, ids: pl.Series) -> pl.DataFrame:
    """The members' disability registrations in the month (type and grade), if any."""
    found = home.scan("disability", month, area=area)
    if found is None:
        return pl.DataFrame(schema={"id_number": pl.String, "disability_type": pl.String, "grade": pl.Int64})
    return (
        found.filter(pl.col("id_number").is_in(ids.implode()))
        .sort("grade")
        .group_by("id_number")
        .agg(pl.col("disability_type").first(), pl.col("grade").first().cast(pl.Int64))
        .collect()
    )


def this_month(today: dt.date) -> str:
    return f"{today:%Y-%m}"


def next_month(today: dt.date) -> str:
    return f"{today.year + today.month // 12}-{today.month % 12 + 1:02d}"


@dataclass(frozen=True)
class Entered:
    """The proposal form as typed (every field a text, as posted)."""

    kind: str = ""
    members: tuple[str, ...] = ()
    amount: str = ""
    effective_from: str = ""
    reason: str = ""
    self_approve: bool = False


def default_members(h: Household, kind: Kind, member: str = "") -> tuple[str, ...]:
    """The members a new proposal covers: the one asked for (?member=) or, for 单人保, the first
    severely disabled member (else the first disabled); otherwise every member the means test counts."""
    if kind.one_member:
        disabled = [m for m in h.members if m.severe] + [m for m in h.members if m.health_status == "残疾"]
        chosen = h.member(member) or next(iter(disabled), None)
        return (chosen.key,) if chosen else ()
    return tuple(m.key for m in h.members if m.counted)


def amounts(decisions, h: Household, kind: Kind, keys: tuple[str, ...]) -> tuple[float | None, float | None]:
    """The rules' monthly and one-off amounts for the members `keys` (the form's prefill)."""
    covered = [m for k in keys if (m := h.member(k)) is not None]
    member_income = covered[0].income if kind.one_member and covered else None
    if h.dibao_standard is None or (kind.one_member and not covered):
        return None, None
    income = h.per_capita_income or 0.0
    return decisions.amount(kind.name, income, h.dibao_standard, len(covered), member_income)


def category_of(kind: Kind, h: Household) -> str | None:
    return h.category if kind.keeps_category else kind.category


def _number(text: str) -> float | None | str:
    """A yuan amount typed (full-width digits, 元 and commas allowed): the number, None when empty,
    or the text when it is no number."""
    cleaned = unicodedata.normalize("NFKC", text).strip().replace(",", "").removesuffix("元").strip()
    if not cleaned:
        return None
    try:
        value = float(cleaned)
    except ValueError:
        return text
    return value if value == value and abs(value) != float("inf") else text


def _amount(entered: Entered, kind: Kind, errors: list[str]) -> tuple[float | None, float | None]:
    value = _number(entered.amount)
    if isinstance(value, str):
        errors.append(f"金额“{entered.amount[:20]}”不是数字，请填写元数，如 365 或 365.50。")
        return None, None
    if kind.amount is None:
        if value:
            errors.append(f"{kind.name}不发放救助金，金额请留空。")
        return None, None
    if value is None:
        errors.append("请填写" + ("每月" if kind.amount == "monthly" else "一次性") + "救助金额（元）。")
        return None, None
    if value < 0 or (value == 0 and kind.amount == "one_off"):
        errors.append(f"金额 {value:g} 元不正确：应大于 0。")
        return None, None
    value = round(value, 2)
    return (value, None) if kind.amount == "monthly" else (None, value)


def _members(entered: Entered, h: Household, kind: Kind, errors: list[str]) -> list[Member]:
    keys = list(dict.fromkeys(entered.members))
    strangers = [k for k in keys if h.member(k) is None]
    if strangers:
        errors.append(
            f"所选成员不在本户（{h.household_id}）{h.month} 的名册中（名册可能已按新发布的月份更新），"
            "请核对后重新选择。"
        )
    covered = [m for k in keys if (m := h.member(k)) is not None]
    if not keys:
        errors.append("请选择救助覆盖的成员。")
    elif kind.one_member and len(keys) != 1:
        errors.append(f"{kind.name}只能选择一名成员（现在选了 {len(keys)} 名）。")
    return covered


def _month(entered: Entered, today: dt.date, errors: list[str]) -> str | None:
    text = entered.effective_from.strip()
    found = MONTH.fullmatch(text)
    if not found or not 1 <= int(found.group(2)) <= 12:
        errors.append(f"生效月份“{text[:20]}”应写成 年-月，如 {next_month(today)}。")
        return None
    if text < this_month(today):
        errors.append(f"生效月份 {text} 已经过去，不能早于本月（{this_month(today)}）。")
        return None
    return text


def check(
    entered: Entered,
    h: Household,
    kinds: dict[str, Kind],
    today: dt.date,
    limit: float,
    role: str,
    recipients: tuple[str, ...],
) -> tuple[dict | None, list[str]]:
    """The proposal's fields for the decision log, or every problem in Chinese (the form shown
    again); `recipients`: the categories a household is assisted in (rules/parameters/population.yaml),
    which 调整金额 and 退出 ask for."""
    kind = kinds.get(entered.kind)
    if kind is None:
        return None, [f"请选择救助类型（{'、'.join(kinds)}之一）。"]
    errors: list[str] = []
    covered = _members(entered, h, kind, errors)
    monthly, one_off = _amount(entered, kind, errors)
    effective = _month(entered, today, errors)
    if (kind.keeps_category or kind.name == LEAVING) and h.category not in recipients:
        named = "、".join(recipients)
        errors.append(f"{kind.name}只适用于已在{named}中的家庭（本户现为{h.category or '无类别'}）。")
    reason = entered.reason.strip()
    if not reason:
        errors.append("请填写理由（核查情况和申请的依据）。")
    elif len(reason) > REASON_MAX:
        errors.append(f"理由请不要超过 {REASON_MAX} 字（现在 {len(reason)} 字）。")
    if entered.self_approve and (role != "township" or not kind.self_approval or (one_off or 0) > limit):
        errors.append(f"先行救助只限乡镇直接批准临时救助，金额不超过 {limit:g} 元；请取消勾选，报县级审批。")
    if errors:
        return None, errors
    return {
        "kind": kind.name,
        "category": category_of(kind, h),
        "id_numbers": [m.id_number for m in covered],
        "monthly_amount": monthly,
        "one_off_amount": one_off,
        "effective_from": effective,
        "reason": reason,
    }, []


@lru_cache(maxsize=12)
def rules_now(today: dt.date):
    """The decision rules in force this month (rules/decisions/decisions.yaml)."""
    return load_decisions(this_month(today))


@lru_cache(maxsize=12)
def recipient_categories(today: dt.date) -> tuple[str, ...]:
    """The categories a household is assisted in this month (rules/parameters/population.yaml)."""
    return load_population(month=this_month(today)).recipient_categories


def kinds_of(decisions) -> dict[str, Kind]:
    """The rules' kinds as the form uses them, in the rules' order."""
    return {name: _kind(name, spec) for name, spec in decisions.kinds.items()}


def _kind(name: str, spec: DecisionKind) -> Kind:
    return Kind(
        name=name,
        category=None if spec.category == "current" else spec.category,
        keeps_category=spec.category == "current",
        one_member=spec.members == "one",
        amount=MONTHLY.get(spec.amount),
        self_approval=spec.self_approval,
    )
