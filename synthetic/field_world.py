"""A field-like world: a hidden full state per household and month, the deliveries departments
would make of it, and the policy truth the monthly run is measured against (issue 30, item 6).

It is kept apart from the synthetic demo (synthetic/generate.py): nothing here is planted for a rule
of ours to find. Each household has members with ages, health, labour capacity and incomes by
kind, medical and schooling costs, assets and shocks, simulated month by month over the run's
months and the twelve before them; the deliveries are what departments see of that state, with
the field's data quality (stale declared income, wages only partly registered, flexible workers
insured at the minimum base, deposits of some banks only, late or missing departments, GBK, bad
rows). Shared with the demo generator: ID numbers, names, divisions and the department writer.

The truth (written outside the landing, `<truth_dir>/truth.parquet`, one row per household and run
month) follows the policy of issue 30, with S the local dibao standard of the month
(rules/parameters/dibao_standard.yaml, by place and residence type) and n the members alive:

    income_pc  = (sum over the 12 months up to the month of the members' income: wages, flexible
                  and farm income, pensions, remittances; not benefits, medical assistance or
                  education aid) / 12 / n
    rigid_pc   = (sum over the same 12 months of medical out-of-pocket net of medical assistance,
                  and schooling costs (学前 fees; 高中/中职/高职/本科 tuition and boarding) net of
                  education aid) / 12 / n
    low_income        = not covered (低保, 特困) and income_pc < S
    rigid_expenditure = not covered and income_pc >= S and income_pc - rigid_pc < S  (刚性支出困难)
    catastrophic_medical = the members' out-of-pocket of the month's settlements >= 5,000 yuan
    house_collapse    = a disaster of the month collapsed the home (倒塌)
    earner_death      = the member with the largest income over the 12 months before died this month
    need              = any of the five above
    income_above      = covered and income_pc > S                                     (应退)
    assets_over       = covered and the real holdings exceed rules/means_test/limits.yaml: deposits
                        per person over `financial_assets_months` x S, more than `max_homes` homes
                        or any non-residential property, a car of `car_types` not operating, or a
                        live business entity not of `business_exempt_types`
    ineligible        = income_above or assets_over

`shown_<kind>` says whether the deliveries of the months the run has carry enough to see it: the
month's settlements, death or disaster row delivered (in that month or late in the next); for the
slow kinds, the income the deliveries show (declared income, registered wages, employee-insurance
bases above the minimum base, housing-fund deposits / 0.24) less the rigid expenditure they show
(settlements and payments delivered within the 12-month window, history files included; schooling
costs of students whose enrolment is delivered) below S; for the assets, holdings visible in the
asset snapshots (deposits only from the banks that report).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from jobs.assess.households import dibao_standard_expr
from safetynet.contract import SOURCES
from safetynet.months import month_bounds
from safetynet.rules import MeansLimits, RuleSet, load_rules
from synthetic.generate import (
    GIVEN,
    READY,
    SIZE_P,
    SURNAMES,
    Writer,
    _encode,
    _id_numbers,
    _pick,
    file_names,
    geography,
)

# The world's own terms, from the policy text of issue 30 and CONTRACT.md, deliberately not read from
# rules/: the truth must not move when the detector's rules do (the standards and limits it reads are
# the place's facts, not the detector's choices).
HISTORY_MONTHS = 12  # contract v3: a history delivery holds up to the previous 12 months
RECIPIENTS = ("低保", "特困")
# Monitored households by category: dibao first, then the near-dibao and rebound-risk groups.
CATEGORY_P = {
    "低保": 0.38,
    "特困": 0.07,
    "低保边缘": 0.17,
    "刚性支出困难": 0.05,
    "脱贫不稳定户": 0.13,
    "边缘易致贫户": 0.12,
    "突发严重困难户": 0.03,
    "其他低收入": 0.05,
}
# The policy truth of issue 30: sudden severe hardship from medical care (Henan's trigger).
CATASTROPHIC_OUT_OF_POCKET = 5000.0
SLOW = ("low_income", "rigid_expenditure")
SUDDEN = ("catastrophic_medical", "house_collapse", "earner_death")
NEED_KINDS = SLOW + SUDDEN
INELIGIBLE_KINDS = ("income_above", "assets_over")
EVENT_SOURCES = ("medical_claims", "medical_assistance", "education_aid", "employment", "deaths", "disasters")
HISTORY_SOURCES = ("medical_claims", "medical_assistance", "education_aid", "employment")
# Schooling costs (yuan a year): 学前 fees, tuition and boarding beyond compulsory school; education
# aid (国家助学金) a year for students of covered, near-dibao and rebound-risk households.
SCHOOL_COST = {
    "学前": (1200, 3600),
    "高中": (1600, 1000),
    "中职": (0, 800),
    "高职": (6000, 1500),
    "本科": (5500, 1500),
}
AID = {"学前": 1000, "高中": 2000, "中职": 2000, "高职": 3300, "本科": 3300}
AIDED = ("低保", "特困", "低保边缘", "脱贫不稳定户")
BANKS = ["邮储银行", "农村信用社", "农业银行", "村镇银行"]
SILENT_BANK = "村镇银行"  # a bank that does not answer the deposits query: its balances are unseen
BAD_ROW_RATE = 0.002  # rows with a broken ID check character or an impossible date
GAP_RATE = 0.06  # a department's file missing for a month; half of the gaps delivered late


@dataclass
class World:
    """The hidden state: households (h), persons (p) and month-by-month arrays (p or h, t)."""

    months: list[str]  # calendar months, the run's last len(run) of them
    run: list[str]
    hh: pl.DataFrame
    persons: pl.DataFrame
    income: np.ndarray  # (p, t) income counted by the means test, by all kinds
    declared: np.ndarray  # (p,) the roster's declared monthly income (stale, understated)
    alive: np.ndarray  # (p, t) alive at the start of month t
    claims: pl.DataFrame  # settlements: p, t, total_cost, fund_paid, out_of_pocket, inpatient, class
    assistance: pl.DataFrame  # medical assistance payments: p, t, amount
    school: np.ndarray  # (p, t) schooling cost of the month
    stage: np.ndarray  # (p, t) school stage or ""
    aid: pl.DataFrame  # education aid payments: p, t, amount, aid_type
    employment: pl.DataFrame  # registrations: p, t, status, monthly_wage
    disasters: pl.DataFrame  # h, t, house_damage, loss_amount
    working: np.ndarray  # (p, t) in paid work (earnings and not out of work)
    standard: np.ndarray  # (h, t) the dibao standard


def month_list(first_run: str, n_run: int) -> list[str]:
    """The 12 months before the run and the run's months, as YYYY-MM."""
    y, m = map(int, first_run.split("-"))
    base = y * 12 + m - 1 - HISTORY_MONTHS
    return [f"{(base + i) // 12:04d}-{(base + i) % 12 + 1:02d}" for i in range(HISTORY_MONTHS + n_run)]


# --- the hidden state --------------------------------------------------------------------------


def _households(rng: np.random.Generator, n: int) -> pl.DataFrame:
    geo = geography(n).filter(pl.col("level") == 12)
    villages = geo["division_code"].to_numpy()
    v = (np.arange(n) * len(villages)) // n
    category = _pick(rng, list(CATEGORY_P), list(CATEGORY_P.values()), n)
    size = np.where(category == "特困", 1, rng.choice(list(SIZE_P), size=n, p=list(SIZE_P.values())))
    # Income per person against the standard: covered households below it (7% drifted above:
    # 应退), near-dibao up to 1.5x (6% fallen below), the others above it (4% below: 应保).
    r = rng.random(n)
    ratio = np.select(
        [np.isin(category, RECIPIENTS), category == "低保边缘", category == "刚性支出困难"],
        [
            np.where(r < 0.07, rng.uniform(1.05, 1.8, n), rng.uniform(0.25, 0.95, n)),
            np.where(r < 0.06, rng.uniform(0.6, 0.98, n), rng.uniform(1.05, 1.5, n)),
            rng.uniform(1.0, 1.6, n),
        ],
        default=np.where(r < 0.04, rng.uniform(0.5, 0.98, n), rng.uniform(1.1, 2.6, n)),
    )
    return pl.DataFrame(
        {
            "household_id": [f"F{i:09d}" for i in range(n)],
            "division_code": villages[v],
            "residence_type": np.where(v % 12 < 4, "城市", "农村"),
            "category": category,
            "size": size,
            "ratio": ratio,
            "enrolled_on": np.datetime64("2025-06-30") - rng.integers(30, 3000, n).astype("timedelta64[D]"),
            # assets: covered households over the limits in 4% (some holdings unseen), others as they are
            "big_deposit": rng.random(n) < np.where(np.isin(category, RECIPIENTS), 0.02, 0.03),
            "second_home": rng.random(n) < np.where(np.isin(category, RECIPIENTS), 0.01, 0.02),
            "shop": rng.random(n) < 0.004,
            "car": rng.random(n) < np.where(np.isin(category, RECIPIENTS), 0.01, 0.05),
            "company": rng.random(n) < np.where(np.isin(category, RECIPIENTS), 0.004, 0.01),
            "owns_home": rng.random(n) < 0.72,
            "two_wheeler": rng.random(n) < 0.15,
            "stall": rng.random(n) < 0.04,
            "dilapidated": _pick(rng, ["A", "B", "C", "D", ""], [0.02, 0.03, 0.025, 0.01, 0.915], n),
        }
    )


def _ages(rng: np.random.Generator, hh: pl.DataFrame, hh_of: np.ndarray, pos: np.ndarray) -> tuple:
    """Relations by position and the head's age (te kun heads 60-91), and ages that follow them."""
    n, m = hh.height, len(hh_of)
    tekun = (hh["category"].to_numpy() == "特困")[hh_of]
    head_age = np.where(tekun, rng.integers(60, 92, n)[hh_of], rng.integers(26, 88, n)[hh_of])
    old = head_age >= 62
    relation = np.select(
        [pos == 0, pos == 1, old & (pos >= 2), pos >= 2], ["户主", "配偶", "孙子女", "子女"], "其他"
    )
    age = np.select(
        [pos == 0, pos == 1, relation == "孙子女"],
        [
            head_age,
            np.clip(head_age + rng.integers(-5, 4, m), 18, 95),
            np.clip(head_age - 52 + rng.integers(-6, 8, m), 0, 30),
        ],
        default=np.clip(head_age - 24 - rng.integers(0, 16, m), 0, 60),
    )
    return relation, age


def _health(u: np.ndarray, age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Serious illness, disability, chronic illness: far more common among the elderly."""
    elderly = age >= 60
    health = np.select(
        [
            u < np.where(elderly, 0.08, 0.02),
            u < np.where(elderly, 0.20, 0.04),
            u < np.where(elderly, 0.55, 0.14),
        ],
        ["大病", "残疾", "慢性病"],
        "健康",
    )
    working = (age >= 16) & (age < 60)
    labour = np.where(
        working & (health == "健康"), "有", np.where(working & (health == "慢性病"), "部分丧失", "无")
    )
    return health, labour


def _members(rng: np.random.Generator, hh: pl.DataFrame) -> pl.DataFrame:
    n, size = hh.height, hh["size"].to_numpy()
    hh_of = np.repeat(np.arange(n), size)
    pos = np.concatenate([np.arange(s) for s in size])
    m = len(hh_of)
    relation, age = _ages(rng, hh, hh_of, pos)
    birth = np.datetime64("2026-01-01") - (age * 365.25 + rng.integers(0, 365, m)).astype("timedelta64[D]")
    male = rng.random(m) < 0.5
    county = hh["division_code"].str.slice(0, 6).to_numpy()[hh_of]
    elderly = age >= 60
    u = rng.random(m)
    health, labour = _health(u, age)
    surname = _pick(rng, SURNAMES, None, n)[hh_of]
    given = np.char.add(
        _pick(rng, GIVEN, None, m), np.where(rng.random(m) < 0.6, _pick(rng, GIVEN, None, m), "")
    )
    return pl.DataFrame(
        {
            "h": hh_of,
            "pos": pos,
            "id_number": _id_numbers(county, birth, male.astype(np.int64)),
            "name": np.char.add(surname, given),
            "relation": relation,
            "age": age,
            "birth": birth,
            "health": health,
            "labour": labour,
            "disability_type": _pick(rng, ["视力", "听力", "言语", "肢体", "智力", "精神", "多重"], None, m),
            "disability_grade": rng.choice([1, 2, 3, 4], size=m, p=[0.15, 0.25, 0.3, 0.3]),
            "disability_registered": rng.random(m) < 0.8,  # not every disabled person is registered
            "formal": (labour == "有")
            & (rng.random(m) < np.where(hh["residence_type"].to_numpy()[hh_of] == "城市", 0.25, 0.08)),
            "employee_pension": elderly & (rng.random(m) < 0.03),
            "bank": _pick(rng, BANKS, [0.35, 0.3, 0.15, 0.2], m),
            "deposit": np.where(rng.random(m) < 0.55, rng.lognormal(7.9, 1.0, m).round(2), 0.0),
            "college": rng.random(m) < 0.45,
            "self_paid": rng.random(m) < 0.25,  # flexible workers paying employee insurance themselves
            "resident_insured": rng.random(m) < 0.6,
            "fund": rng.random(m) < 0.4,  # formal workers with a housing-fund account
        }
    )


def _standard(hh: pl.DataFrame, months: list[str], rules: RuleSet) -> np.ndarray:
    """(h, t): the dibao standard in force for each household's place and residence type."""
    cols = [hh.select(dibao_standard_expr(rules, month_bounds(m)[0]).alias(m))[m].to_numpy() for m in months]
    return np.stack(cols, axis=1).astype(float)


def _prefix_value(places: dict, codes: np.ndarray) -> np.ndarray:
    """A place-dated value for each division code (longest prefix wins, else "default")."""
    out = np.full(len(codes), float(places.get("default", np.nan)))
    for prefix in sorted((p for p in places if p != "default"), key=len):
        out = np.where(np.char.startswith(codes.astype(str), prefix), float(places[prefix]), out)
    return out


def _minimum_base(rules: RuleSet, codes: np.ndarray, month: str) -> np.ndarray:
    places = rules.minimum_base.at(month_bounds(month)[0]) if rules.minimum_base else None
    return _prefix_value(places, codes) if places else np.full(len(codes), np.nan)


def _lifecycle(rng: np.random.Generator, persons: pl.DataFrame, t_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Month of death and month of the onset of a disability (t_len when none in the calendar)."""
    age, health = persons["age"].to_numpy(), persons["health"].to_numpy()
    m = len(age)
    # Mortality of an older, sicker population (a month): 0.02% under 60, 0.15% at 60-74, 0.5% over.
    hazard = np.select([age < 60, age < 75], [0.0002, 0.0015], 0.005) * np.where(health == "大病", 4, 1)
    death = _first_month(rng, hazard, m, t_len)
    onset = np.where(health == "残疾", -1, _first_month(rng, np.full(m, 0.0004), m, t_len))
    return death, onset


def _first_month(rng: np.random.Generator, hazard: np.ndarray, m: int, t_len: int) -> np.ndarray:
    hits = rng.random((m, t_len)) < hazard[:, None]
    return np.where(hits.any(axis=1), hits.argmax(axis=1), t_len)


def _incomes(
    rng: np.random.Generator, hh: pl.DataFrame, persons: pl.DataFrame, standard: np.ndarray, t_len: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(p, t) income by month, the base wage (p,), whether it is wage work (p,), and the months out
    of work (p, t). A household's income is its ratio x S x size, split into pensions, farm income
    (rural), wages of its earners, and remittances where nobody earns."""
    h, age = persons["h"].to_numpy(), persons["age"].to_numpy()
    m, n = len(h), hh.height
    elderly = age >= 60
    pension = np.where(
        persons["employee_pension"].to_numpy(),
        rng.uniform(2200, 3200, m),
        np.where(elderly, rng.uniform(150, 260, m), 0),
    )
    target = hh["ratio"].to_numpy() * standard[:, HISTORY_MONTHS] * hh["size"].to_numpy()
    rest = np.maximum(target - np.bincount(h, weights=pension, minlength=n), 0)
    rural = hh["residence_type"].to_numpy() == "农村"
    farm = np.where(rural, rest * rng.uniform(0.2, 0.5, n), 0)
    labour = persons["labour"].to_numpy()
    weight = np.select([labour == "有", labour == "部分丧失"], [1.0, 0.5], 0.0)
    weights = np.bincount(h, weights=weight, minlength=n)
    earned = (rest - farm)[h] * np.where(weights[h] > 0, weight / np.maximum(weights[h], 1e-9), 0)
    head = persons["pos"].to_numpy() == 0
    other = np.where(head & (weights[h] == 0), (rest - farm)[h], 0) + np.where(head, farm[h], 0)
    formal = persons["formal"].to_numpy()
    # Flexible and farm income vary month to month; a formal wage does not.
    noise = np.where(formal[:, None], 1.0, rng.lognormal(0, 0.2, (m, t_len)))
    out = _spells(rng, earned > 0, t_len)
    wage = earned[:, None] * noise * ~out * np.where(np.cumsum(out, axis=1) > 0, 0.85, 1.0)
    varied = other[:, None] * rng.lognormal(0, 0.15, (m, t_len))
    return pension[:, None] + varied + wage, earned, formal, out


def _spells(rng: np.random.Generator, earner: np.ndarray, t_len: int) -> np.ndarray:
    """(p, t) months out of work: a job is lost with 0.6% a month, for 3 to 12 months."""
    m = len(earner)
    start = np.where(earner, _first_month(rng, np.full(m, 0.006), m, t_len), t_len)
    length = rng.integers(3, 13, m)
    t = np.arange(t_len)[None, :]
    return (t >= start[:, None]) & (t < (start + length)[:, None])


def _registrations(
    rng: np.random.Generator, earned: np.ndarray, formal: np.ndarray, out: np.ndarray
) -> pl.DataFrame:
    """就业/失业 registrations: half of job losses registered, 30% of returns to work, and a job
    start registered for half of formal and 8% of flexible workers (most within earlier years)."""
    m, t_len = out.shape
    starts = out & ~np.concatenate([np.zeros((m, 1), bool), out[:, :-1]], axis=1)
    ends = ~out & np.concatenate([np.zeros((m, 1), bool), out[:, :-1]], axis=1)
    lost = starts & (rng.random((m, t_len)) < 0.5)
    back = ends & (rng.random((m, t_len)) < 0.3)
    when = rng.integers(0, t_len + 36, m)
    hired = (earned > 0) & (rng.random(m) < np.where(formal, 0.5, 0.08)) & (when < t_len)
    p_lost, t_lost = np.nonzero(lost)
    p_back, t_back = np.nonzero(back)
    p_hired = np.nonzero(hired)[0]
    return pl.DataFrame(
        {
            "p": np.concatenate([p_lost, p_back, p_hired]),
            "t": np.concatenate([t_lost, t_back, when[p_hired]]),
            "status": ["失业"] * len(p_lost) + ["就业"] * (len(p_back) + len(p_hired)),
            "monthly_wage": np.concatenate(
                [np.full(len(p_lost), np.nan), (earned[p_back] * 0.85).round(-1), earned[p_hired].round(-1)]
            ),
        },
        schema_overrides={"p": pl.Int64, "t": pl.Int64},
    ).with_columns(pl.col("monthly_wage").fill_nan(None))


# Settlements a person-month: (probability, log-mean, log-sd, fund share, inpatient, class) by health.
CLAIMS = {
    "健康": (0.05, 5.0, 0.8, 0.5, "否", "普通"),
    "慢性病": (0.7, 5.9, 0.5, 0.55, "否", "慢性病"),
    "残疾": (0.3, 5.6, 0.6, 0.55, "否", "慢性病"),
    "大病": (0.8, 6.6, 0.5, 0.6, "否", "重大疾病"),
}
# Medical assistance: the share of a covered or near-dibao member's out-of-pocket it pays.
ASSISTANCE = {"特困": 0.9, "低保": 0.7, "低保边缘": 0.6, "脱贫不稳定户": 0.5, "刚性支出困难": 0.5}


def _claims(
    rng: np.random.Generator, persons: pl.DataFrame, health: np.ndarray, alive: np.ndarray
) -> pl.DataFrame:
    """Settlements: routine ones by health, a stay in hospital for the seriously ill (20% a month),
    and catastrophic episodes (0.12% a month, 0.6% for the elderly, 1.5% for the seriously ill)."""
    m, t_len = alive.shape
    frames = []
    for status, (prob, mu, sd, fund, inpatient, cls) in CLAIMS.items():
        hit = (health == status) & alive & (rng.random((m, t_len)) < prob)
        frames.append(_settled(rng, hit, mu, sd, fund, inpatient, cls))
    serious = health == "大病"
    frames.append(
        _settled(rng, serious & alive & (rng.random((m, t_len)) < 0.2), 9.0, 0.6, 0.65, "是", "重大疾病")
    )
    old = (persons["age"].to_numpy() >= 60)[:, None]
    hazard = np.where(serious, 0.015, np.where(old, 0.006, 0.0012))
    frames.append(_settled(rng, alive & (rng.random((m, t_len)) < hazard), 10.2, 0.5, None, "是", "重大疾病"))
    return pl.concat(frames).sort("p", "t", "total_cost")


def _settled(
    rng, hit: np.ndarray, mu: float, sd: float, fund: float | None, inpatient: str, cls: str
) -> pl.DataFrame:
    p, t = np.nonzero(hit)
    total = rng.lognormal(mu, sd, len(p)).round(2)
    share = np.full(len(p), fund) if fund is not None else rng.uniform(0.55, 0.75, len(p))
    paid = (total * share).round(2)
    return pl.DataFrame(
        {"p": p, "t": t, "total_cost": total, "fund_paid": paid, "out_of_pocket": (total - paid).round(2)},
        schema_overrides={"p": pl.Int64, "t": pl.Int64},
    ).with_columns(inpatient=pl.lit(inpatient), diagnosis_class=pl.lit(cls))


def _assistance(claims: pl.DataFrame, category: np.ndarray) -> pl.DataFrame:
    """Medical assistance on stays in hospital and the covered members' chronic care, per person-month."""
    share = pl.Series(category).replace_strict(ASSISTANCE, default=0.0, return_dtype=pl.Float64).to_numpy()
    p = claims["p"].to_numpy()
    return (
        claims.with_columns(share=pl.Series(share[p]), covered=pl.Series(np.isin(category, RECIPIENTS)[p]))
        .filter((pl.col("share") > 0) & ((pl.col("inpatient") == "是") | pl.col("covered")))
        .group_by("p", "t")
        .agg(amount=(pl.col("out_of_pocket") * pl.col("share")).sum().round(0))
        .filter(pl.col("amount") > 0)
        .sort("p", "t")
    )


def _school_year_age(birth: np.ndarray, months: list[str]) -> np.ndarray:
    """(p, t) age on 1 September of the school year each month belongs to (a year starts in September)."""
    years = np.array([int(m[:4]) - (int(m[5:]) < 9) for m in months])
    born = birth.astype("datetime64[D]").astype(object)
    by, after = np.array([b.year for b in born]), np.array([(b.month, b.day) > (9, 1) for b in born])
    return years[None, :] - by[:, None] - after[:, None]


def _schooling(
    rng: np.random.Generator, persons: pl.DataFrame, category: np.ndarray, months: list[str]
) -> tuple[np.ndarray, np.ndarray, pl.DataFrame]:
    """(p, t) stage and monthly schooling cost, and education aid paid in March and September."""
    age = _school_year_age(persons["birth"].to_numpy(), months)
    m = age.shape[0]
    u = rng.random(m)[:, None]
    college = persons["college"].to_numpy()[:, None]
    stage = np.select(
        [
            (age >= 3) & (age <= 5) & (u < 0.85),
            (age >= 6) & (age <= 11),
            (age >= 12) & (age <= 14),
            (age >= 15) & (age <= 17) & (u < 0.6),
            (age >= 15) & (age <= 17) & (u < 0.9),
            (age >= 18) & (age <= 21) & college & (u < 0.5),
            (age >= 18) & (age <= 20) & college,
        ],
        ["学前", "小学", "初中", "高中", "中职", "本科", "高职"],
        "",
    )
    yearly = {s: sum(SCHOOL_COST.get(s, (0, 0))) for s in ("", "小学", "初中", *SCHOOL_COST)}
    cost = (
        pl.Series(stage.ravel())
        .replace_strict(yearly, return_dtype=pl.Float64)
        .to_numpy()
        .reshape(stage.shape)
        / 12
    )
    aided = np.isin(category, AIDED)[:, None] & np.isin(stage, list(AID))
    paying = np.array([m[5:] in ("03", "09") for m in months])[None, :] & aided
    p, t = np.nonzero(paying)
    yearly_aid = pl.Series(stage[p, t]).replace_strict(AID, return_dtype=pl.Float64).to_numpy()
    aid = pl.DataFrame(
        {
            "p": p,
            "t": t,
            "amount": yearly_aid / 2,
            "aid_type": np.where(stage[p, t] == "学前", "学前教育资助", "国家助学金"),
        },
        schema_overrides={"p": pl.Int64, "t": pl.Int64},
    )
    return stage, cost, aid


def _disasters(rng: np.random.Generator, hh: pl.DataFrame, t_len: int) -> pl.DataFrame:
    """A household-month: a collapse 0.12% (rural) or 0.02% (urban); other damage 0.2%."""
    n = hh.height
    rural = (hh["residence_type"].to_numpy() == "农村")[:, None]
    u = rng.random((n, t_len))
    collapse = u < np.where(rural, 0.0012, 0.0002)
    damage = ~collapse & (u < 0.0032)
    h, t = np.nonzero(collapse | damage)
    severe = rng.random(len(h)) < 0.3
    return pl.DataFrame(
        {
            "h": h,
            "t": t,
            "house_damage": np.where(collapse[h, t], "倒塌", np.where(severe, "严重损坏", "一般损坏")),
            "loss_amount": np.where(
                collapse[h, t], rng.lognormal(10.5, 0.4, len(h)), rng.lognormal(8.5, 0.6, len(h))
            ).round(0),
            "disaster_type": _pick(rng, ["洪涝", "风雹", "地质灾害", "火灾"], [0.5, 0.2, 0.15, 0.15], len(h)),
        },
        schema_overrides={"h": pl.Int64, "t": pl.Int64},
    )


def build_world(households: int, seed: int, run: list[str], rules: RuleSet) -> World:
    """The hidden state of every household and member over the run's months and the 12 before."""
    rng = np.random.default_rng([seed, 30, 6])
    months = month_list(run[0], len(run))
    t_len = len(months)
    hh = _households(rng, households)
    persons = _members(rng, hh)
    standard = _standard(hh, months, rules)
    death, onset = _lifecycle(rng, persons, t_len)
    t = np.arange(t_len)[None, :]
    alive = t <= death[:, None]  # listed, paid and counted in the month of death, gone after
    disabled = (persons["health"].to_numpy() == "残疾")[:, None] | (t >= onset[:, None])
    health = np.where(disabled, "残疾", persons["health"].to_numpy()[:, None])
    income, earned, formal, out = _incomes(rng, hh, persons, standard, t_len)
    income = (
        income * alive * np.where((onset[:, None] >= 0) & (t > onset[:, None]), 0.3, 1.0)
    )  # a disability cuts the earnings
    category = hh["category"].to_numpy()[persons["h"].to_numpy()]
    claims = _claims(rng, persons, health, alive)
    stage, cost, aid = _schooling(rng, persons, category, months)
    # Declared income: a review up to two years ago; 45% of households understate it by 15-50%.
    under = np.where(
        rng.random(households) < 0.45, rng.uniform(0.5, 0.85, households), rng.uniform(0.9, 1.0, households)
    )
    declared = (income[:, 0] / np.maximum(alive[:, 0], 1) * under[persons["h"].to_numpy()]).round(0)
    big = hh["big_deposit"].to_numpy() * standard[:, HISTORY_MONTHS] * hh["size"].to_numpy() * 24
    head_big = np.where(persons["pos"].to_numpy() == 0, big[persons["h"].to_numpy()], 0)
    persons = persons.with_columns(
        deposit=pl.col("deposit") + pl.Series(head_big * rng.uniform(1.2, 3.0, len(head_big))).round(2),
        death_t=pl.Series(death),
        onset_t=pl.Series(onset),
        earned=pl.Series(earned),
        formal=pl.Series(formal),
    )
    return World(
        months=months,
        run=run,
        hh=hh,
        persons=persons,
        income=income,
        declared=declared,
        alive=alive,
        claims=claims.filter(pl.Series(alive[claims["p"].to_numpy(), claims["t"].to_numpy()])),
        assistance=_assistance(claims, category),
        school=cost * alive,
        stage=np.where(alive, stage, ""),
        aid=aid.filter(pl.Series(alive[aid["p"].to_numpy(), aid["t"].to_numpy()])),
        employment=_registrations(rng, earned, formal, out).filter(pl.col("t") >= 0),
        disasters=_disasters(rng, hh, t_len),
        standard=standard,
        working=(earned[:, None] > 0) & ~out & alive,
    )


# --- the truth ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """When each month's rows of a source reach the landing: arrival[source][t] is the index of the
    run month whose folder holds them (t itself, t+1 when late), or -1 when never delivered."""

    arrival: dict[str, np.ndarray]

    def seen(self, source: str, t_rows: np.ndarray, by: int) -> np.ndarray:
        arrive = self.arrival[source][t_rows]
        return (arrive >= 0) & (arrive <= by)


SNAPSHOT_GAPS = (
    "disability",
    "enrolment",
    "social_insurance",
    "deposits",
    "housing_fund",
    "real_estate",
    "vehicles",
    "business",
)


def schedule(seed: int, t_len: int, history: bool) -> Schedule:
    """Gaps: after the first run month each department misses a month with GAP_RATE, and half of
    its missed events come late in the next month's file; the history files carry the 12 months
    before the run for HISTORY_SOURCES when `history`."""
    rng = np.random.default_rng([seed, 30, 7])
    arrival = {}
    for source in (*EVENT_SOURCES, *SNAPSHOT_GAPS):
        arrive = np.full(t_len, -1)
        early = HISTORY_MONTHS if history and source in HISTORY_SOURCES else -1
        arrive[:HISTORY_MONTHS] = early
        for t in range(HISTORY_MONTHS, t_len):
            gap = t > HISTORY_MONTHS and rng.random() < GAP_RATE
            late = source in EVENT_SOURCES and rng.random() < 0.5 and t + 1 < t_len
            arrive[t] = t if not gap else (t + 1 if late else -1)
        arrival[source] = arrive
    return Schedule(arrival)


def by_household(matrix: np.ndarray, h: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, matrix.shape[1]))
    np.add.at(out, h, matrix)
    return out


def person_months(
    frame: pl.DataFrame, column: str, shape: tuple[int, int], keep: np.ndarray | None = None
) -> np.ndarray:
    """A (p, t) matrix of a per-row amount summed by person and month (rows where `keep`)."""
    out = np.zeros(shape)
    p, t, v = frame["p"].to_numpy(), frame["t"].to_numpy(), frame[column].fill_null(0).to_numpy()
    if keep is not None:
        p, t, v = p[keep], t[keep], v[keep]
    np.add.at(out, (p, t), v)
    return out


def window12(matrix: np.ndarray, t: int) -> np.ndarray:
    """Sum over the 12 months up to and including t."""
    return matrix[:, max(0, t - 11) : t + 1].sum(axis=1)


def household_assets(world: World) -> pl.DataFrame:
    """Real holdings per household: deposits (all banks and those that report), homes, shops, cars,
    companies."""
    p = world.persons
    seen = pl.when(pl.col("bank") != SILENT_BANK).then(pl.col("deposit")).otherwise(0.0)
    dep = p.group_by("h").agg(deposits=pl.col("deposit").sum(), seen_deposits=seen.sum())
    hh = world.hh.with_row_index("h").with_columns(pl.col("h").cast(pl.Int64))
    return hh.join(dep.with_columns(pl.col("h").cast(pl.Int64)), on="h", how="left").select(
        "h",
        "deposits",
        "seen_deposits",
        homes=pl.col("owns_home").cast(pl.Int64) + pl.col("second_home").cast(pl.Int64),
        shops=pl.col("shop").cast(pl.Int64),
        cars=pl.col("car").cast(pl.Int64),
        companies=pl.col("company").cast(pl.Int64),
    )


def _over_limits(
    assets: pl.DataFrame,
    deposits: str,
    per_person_limit: np.ndarray,
    size: np.ndarray,
    limits: MeansLimits,
    seen: dict[str, bool] | None = None,
) -> np.ndarray:
    """Holdings over the limits; with `seen`, only those in a snapshot the run has (by source)."""
    seen = seen or {}
    # the world's holdings: homes (住宅), shops (商业), private cars (小型汽车, not operating), companies
    # (有限责任公司); each counts as the limits file says of its kind
    parts = {
        "deposits": assets[deposits].to_numpy() / np.maximum(size, 1) > per_person_limit,
        "real_estate": (assets["homes"].to_numpy() > limits.max_homes)
        | ((assets["shops"].to_numpy() > 0) & ("商业" in limits.non_residential_usages)),
        "vehicles": (assets["cars"].to_numpy() > 0) & ("小型汽车" in limits.car_types),
        "business": (assets["companies"].to_numpy() > 0)
        & ("有限责任公司" not in limits.business_exempt_types),
    }
    over = np.zeros(len(size), bool)
    for source, part in parts.items():
        over |= part & seen.get(source, True)
    return over


def insurance(world: World, rules: RuleSet, t: int) -> pl.DataFrame:
    """Social insurance and housing fund of month t, per paying adult: formal workers at their wage
    (between the minimum base and 5x it), flexible workers paying themselves at the minimum base,
    other working-age adults in the residents' scheme; housing fund 24% of a formal wage."""
    p = world.persons
    codes = world.hh["division_code"].to_numpy()[p["h"].to_numpy()]
    floor = _minimum_base(rules, codes, world.months[t])
    earned, formal, age = p["earned"].to_numpy(), p["formal"].to_numpy(), p["age"].to_numpy()
    working, alive = world.working[:, t], world.alive[:, t]
    employee = working & (formal | (p["self_paid"].to_numpy() & (age < 60)))
    resident = alive & ~employee & (age >= 18) & (age < 60) & p["resident_insured"].to_numpy()
    base = np.where(formal, np.clip(earned, floor, 5 * floor), floor).round(0)
    share = rules.means_limits.housing_fund_wage_share if rules.means_limits else 0.24
    return pl.DataFrame(
        {
            "p": np.arange(len(earned)),
            "scheme": np.where(employee, "城镇职工", np.where(resident, "城乡居民", "")),
            "contribution_base": np.where(employee, base, np.where(resident, 300.0, np.nan)),
            "floor": floor,
            "fund_deposit": np.where(
                employee & formal & p["fund"].to_numpy(), (earned * share).round(0), np.nan
            ),
        }
    )


def visible_income(world: World, rules: RuleSet, sched: Schedule, t: int) -> np.ndarray:
    """(p,) the monthly income the deliveries of run month t show for each member (the highest of
    declared income, a wage registered in the 12 months, an employee-insurance base above the
    minimum base, a housing-fund deposit / share)."""
    p_len = world.alive.shape[0]
    reg = world.employment.filter(
        (pl.col("status") == "就业")
        & (pl.col("t") > t - 12)
        & (pl.col("t") <= t)
        & pl.col("monthly_wage").is_not_null()
    )
    reg = reg.filter(pl.Series(sched.seen("employment", reg["t"].to_numpy(), t)))
    wage = np.zeros(p_len)
    np.maximum.at(wage, reg["p"].to_numpy(), reg["monthly_wage"].to_numpy())
    ins = insurance(world, rules, t)
    share = rules.means_limits.housing_fund_wage_share if rules.means_limits else 0.24
    base = ins["contribution_base"].fill_nan(0).to_numpy()
    counted = np.where((ins["scheme"].to_numpy() == "城镇职工") & (base > ins["floor"].to_numpy()), base, 0)
    fund = ins["fund_deposit"].fill_nan(0).to_numpy() / share
    snapshot_ok = sched.arrival["social_insurance"][t] == t, sched.arrival["housing_fund"][t] == t
    shown = np.maximum(world.declared, wage)
    shown = np.maximum(shown, counted if snapshot_ok[0] else 0)
    shown = np.maximum(shown, fund if snapshot_ok[1] else 0)
    return shown * world.alive[:, t]


@dataclass(frozen=True)
class Flows:
    """(p, t) amounts: out-of-pocket, medical assistance, schooling cost, education aid; and the
    same as the deliveries show them by run month `by` (filled per month by `seen_flows`)."""

    oop: np.ndarray
    assist: np.ndarray
    aid: np.ndarray


def flows(world: World, sched: Schedule | None = None, by: int | None = None) -> Flows:
    shape = world.alive.shape

    def keep(frame: pl.DataFrame, source: str) -> np.ndarray | None:
        return None if sched is None else sched.seen(source, frame["t"].to_numpy(), by)

    return Flows(
        oop=person_months(world.claims, "out_of_pocket", shape, keep(world.claims, "medical_claims")),
        assist=person_months(world.assistance, "amount", shape, keep(world.assistance, "medical_assistance")),
        aid=person_months(world.aid, "amount", shape, keep(world.aid, "education_aid")),
    )


def _main_earner_deaths(world: World, t: int) -> np.ndarray:
    """(h,) whether the member with the largest income over the 12 months before t died in t."""
    h = world.persons["h"].to_numpy()
    n = world.hh.height
    earned = world.income[:, max(0, t - 12) : t].sum(axis=1)
    top = np.zeros(n)
    np.maximum.at(top, h, earned)
    main = (earned > 0) & (earned >= top[h])
    died = main & (world.persons["death_t"].to_numpy() == t)
    return np.bincount(h, weights=died, minlength=n) > 0


def _sudden(world: World, sched: Schedule, t: int, true: Flows, seen_next: Flows) -> dict[str, np.ndarray]:
    h, n = world.persons["h"].to_numpy(), world.hh.height
    dis = world.disasters.filter((pl.col("t") == t) & (pl.col("house_damage") == "倒塌"))
    collapse = np.zeros(n, bool)
    collapse[dis["h"].to_numpy()] = True
    collapse_seen = np.zeros(n, bool)
    collapse_seen[dis["h"].to_numpy()[sched.seen("disasters", dis["t"].to_numpy(), t + 1)]] = True
    deaths = _main_earner_deaths(world, t)
    return {
        "catastrophic_medical": by_household(true.oop[:, [t]], h, n)[:, 0] >= CATASTROPHIC_OUT_OF_POCKET,
        "shown_catastrophic_medical": by_household(seen_next.oop[:, [t]], h, n)[:, 0]
        >= CATASTROPHIC_OUT_OF_POCKET,
        "house_collapse": collapse,
        "shown_house_collapse": collapse_seen,
        "earner_death": deaths,
        "shown_earner_death": deaths & bool(sched.seen("deaths", np.array([t]), t + 1)[0]),
    }


def _per_capita(world: World, t: int, matrix: np.ndarray, size: np.ndarray) -> np.ndarray:
    h, n = world.persons["h"].to_numpy(), world.hh.height
    return by_household(window12(matrix, t)[:, None], h, n)[:, 0] / 12 / np.maximum(size, 1)


def _slow(
    world: World, rules: RuleSet, sched: Schedule, t: int, true: Flows, seen: Flows
) -> dict[str, np.ndarray]:
    h, n = world.persons["h"].to_numpy(), world.hh.height
    size = by_household(world.alive[:, [t]].astype(float), h, n)[:, 0]
    standard = world.standard[:, t]
    covered = np.isin(world.hh["category"].to_numpy(), RECIPIENTS)
    income_pc = _per_capita(world, t, world.income, size)
    rigid_pc = np.maximum(_per_capita(world, t, true.oop - true.assist + world.school - true.aid, size), 0)
    enrolled = (
        world.stage[:, [t]] != "" if sched.arrival["enrolment"][t] == t else np.zeros((len(h), 1), bool)
    )
    seen_rigid = np.maximum(
        _per_capita(world, t, seen.oop - seen.assist + world.school * enrolled - seen.aid, size), 0
    )
    shown_pc = by_household(visible_income(world, rules, sched, t)[:, None], h, n)[:, 0] / np.maximum(size, 1)
    return {
        "members": size.astype(np.int64),
        "standard": standard,
        "income_pc": income_pc.round(2),
        "rigid_pc": rigid_pc.round(2),
        "shown_income_pc": shown_pc.round(2),
        "shown_rigid_pc": seen_rigid.round(2),
        "low_income": ~covered & (income_pc < standard),
        "shown_low_income": shown_pc < standard,
        "rigid_expenditure": ~covered & (income_pc >= standard) & (income_pc - rigid_pc < standard),
        "shown_rigid_expenditure": shown_pc - seen_rigid < standard,
        "income_above": covered & (income_pc > standard),
        "shown_income_above": shown_pc > standard,
    }


def _assets(world: World, rules: RuleSet, sched: Schedule, t: int, size: np.ndarray) -> dict[str, np.ndarray]:
    limits = rules.means_limits
    covered = np.isin(world.hh["category"].to_numpy(), RECIPIENTS)
    assets = household_assets(world)
    limit = limits.financial_assets_months * world.standard[:, t]
    over = _over_limits(assets, "deposits", limit, size, limits)
    # a snapshot the run has: delivered in this run month or an earlier one
    seen = {s: bool((sched.arrival[s][HISTORY_MONTHS : t + 1] >= 0).any()) for s in SNAPSHOT_GAPS}
    return {
        "assets_over": covered & over,
        "shown_assets_over": _over_limits(assets, "seen_deposits", limit, size, limits, seen),
    }


def truth(world: World, rules: RuleSet, sched: Schedule) -> pl.DataFrame:
    """One row per household and run month: need and ineligibility by kind, and what is shown."""
    true = flows(world)
    frames = []
    for t in range(HISTORY_MONTHS, len(world.months)):
        slow = _slow(world, rules, sched, t, true, flows(world, sched, t))
        row = {**slow, **_sudden(world, sched, t, true, flows(world, sched, t + 1))}
        row.update(_assets(world, rules, sched, t, slow["members"]))
        frame = pl.DataFrame(row).with_columns(
            need=pl.any_horizontal(NEED_KINDS),
            ineligible=pl.any_horizontal(INELIGIBLE_KINDS),
            need_kind=pl.coalesce(pl.when(pl.col(k)).then(pl.lit(k)) for k in (*SUDDEN, *SLOW)),
        )
        ids = world.hh.select(
            "household_id", "division_code", "category", township_code=pl.col("division_code").str.slice(0, 9)
        )
        frames.append(pl.concat([ids, frame], how="horizontal").with_columns(month=pl.lit(world.months[t])))
    return pl.concat(frames).filter(pl.col("members") > 0).select("month", pl.all().exclude("month"))


# --- the deliveries ----------------------------------------------------------------------------

STAGE_ENTRY = {"学前": 3, "小学": 6, "初中": 12, "高中": 15, "中职": 15, "本科": 18, "高职": 18}


class Month:
    """What the departments deliver of one month t of the world (typed frames, before rendering)."""

    def __init__(self, world: World, rules: RuleSet, t: int, seed: int):
        self.world, self.rules, self.t = world, rules, t
        self.month = world.months[t]
        self.start, self.end = month_bounds(self.month)
        self.rng = np.random.default_rng([seed, 30, 8, t])
        p = world.persons
        h = p["h"].to_numpy()
        self.people = p.with_columns(
            t_alive=pl.Series(world.alive[:, t]),
            household_id=world.hh["household_id"].gather(p["h"]),
            declared=pl.Series(world.declared),
            standard=pl.Series(world.standard[h, t]),
        )
        self.heads = self.people.filter(pl.col("pos") == 0).join(
            world.hh.with_row_index("h").with_columns(pl.col("h").cast(pl.Int64)).drop("household_id"), on="h"
        )

    def days(self, n: int) -> pl.Series:
        span = (self.end - self.start).days + 1
        return pl.Series(
            np.datetime64(self.start) + self.rng.integers(0, span, n).astype("timedelta64[D]"), dtype=pl.Date
        )

    def ids(self, frame: pl.DataFrame, key: str = "p") -> pl.DataFrame:
        return frame.join(
            self.people.with_row_index(key).select(pl.col(key).cast(pl.Int64), "id_number"), on=key
        )

    def roster(self) -> pl.DataFrame:
        t = self.t
        hh = self.world.hh.with_row_index("h").with_columns(pl.col("h").cast(pl.Int64))
        listed = self.people.with_row_index("p").filter("t_alive").join(hh.drop("household_id"), on="h")
        onset = pl.col("onset_t") <= t
        per_head = pl.col("declared").sum().over("h") / pl.len().over("h")
        return listed.select(
            "household_id",
            "id_number",
            "name",
            "relation",
            "division_code",
            "residence_type",
            "category",
            "enrolled_on",
            monthly_benefit=pl.when(pl.col("category").is_in(RECIPIENTS)).then(
                (pl.col("standard") - per_head).clip(lower_bound=100).round(0)
            ),
            labour_capacity=pl.when(onset & (pl.col("labour") != "无"))
            .then(pl.lit("无"))
            .otherwise("labour"),
            health_status=pl.when(onset).then(pl.lit("残疾")).otherwise("health"),
            housing_area=pl.when(pl.col("pos") == 0).then(
                (pl.col("size") * 18 + pl.col("h") % 31 + 10).cast(pl.Float64)
            ),
            declared_monthly_income="declared",
            hukou_division_code=pl.lit(None, pl.String),
        )

    def disability(self) -> pl.DataFrame:
        """Registered disabled members: those disabled from the start, and an onset registered two
        months after it."""
        t = self.t
        base = pl.col("health") == "残疾"
        shown = pl.col("t_alive") & pl.col("disability_registered") & (base | (pl.col("onset_t") <= t - 2))
        return self.people.filter(shown).select(
            "id_number",
            "disability_type",
            grade="disability_grade",
            registered_on=pl.when(base)
            .then(pl.lit(dt.date(2012, 3, 1)) + pl.duration(days=pl.col("h") * 7 % 4000))
            .otherwise(pl.lit(self.start) - pl.duration(days=(t - pl.col("onset_t")) * 30 - 20)),
        )

    def enrolment(self) -> pl.DataFrame:
        w, t = self.world, self.t
        stage = w.stage[:, t]
        age = _school_year_age(w.persons["birth"].to_numpy(), [self.month])[:, 0]
        year = int(self.month[:4]) - (int(self.month[5:]) < 9)
        entry = np.array([STAGE_ENTRY.get(s, 0) for s in stage])
        frame = self.people.with_columns(
            stage=pl.Series(stage), entered=pl.Series(year - (age - entry)).cast(pl.Int32)
        ).filter(pl.col("stage") != "")
        return frame.select(
            "id_number", "stage", enrolled_on=pl.date(pl.col("entered"), 9, 1), status=pl.lit("在读")
        )

    def events(self, source: str, frame: pl.DataFrame, sched: Schedule, history: bool) -> pl.DataFrame:
        """The rows of `frame` (with t) this month's folder holds: of the run's months in the regular
        file, of the 12 before in the history file."""
        arrive = sched.arrival[source][frame["t"].to_numpy()]
        earlier = frame["t"].to_numpy() < HISTORY_MONTHS
        return frame.filter(pl.Series((arrive == self.t) & (earlier == history)))

    def dated(self, frame: pl.DataFrame, column: str) -> pl.DataFrame:
        """A day within each row's own month t."""
        starts = np.array([np.datetime64(month_bounds(m)[0]) for m in self.world.months])
        days = starts[frame["t"].to_numpy()] + self.rng.integers(0, 28, frame.height).astype("timedelta64[D]")
        return frame.with_columns(pl.Series(column, days, dtype=pl.Date))

    def snapshots(self) -> dict[str, pl.DataFrame]:
        return {
            "roster": self.roster(),
            "disability": self.disability(),
            "enrolment": self.enrolment(),
            **self.insured(),
            **self.holdings(),
            **self.registered(),
        }

    def insured(self) -> dict[str, pl.DataFrame]:
        ins = insurance(self.world, self.rules, self.t).with_columns(pl.col("p").cast(pl.Int64))
        ins = self.ids(ins)
        return {
            "social_insurance": ins.filter(pl.col("scheme") != "").select(
                "id_number", "scheme", "contribution_base", month=pl.lit(self.month)
            ),
            "housing_fund": ins.filter(pl.col("fund_deposit").is_not_nan()).select(
                "id_number", monthly_deposit="fund_deposit", status=pl.lit("正常")
            ),
        }

    def holdings(self) -> dict[str, pl.DataFrame]:
        """Deposits (of the banks that report), homes and shops, and the dwelling's rating."""
        heads, no = self.heads, pl.col("household_id").str.slice(1)
        growth = 1 + 0.002 * self.t  # interest and savings: balances move a little each month
        return {
            "deposits": self.people.filter((pl.col("deposit") > 0) & (pl.col("bank") != SILENT_BANK)).select(
                "id_number", institution="bank", balance=(pl.col("deposit") * growth).round(2)
            ),
            "real_estate": pl.concat(
                [
                    heads.filter(flag).select(
                        "id_number",
                        property_id=pl.format("{}{}", no, pl.lit(suffix)),
                        area=(pl.col("size") * 18 + pl.col("h") % 31 + 10 + extra).cast(pl.Float64),
                        usage=pl.lit(usage),
                        registered_on=pl.lit(dt.date(2010, 1, 1)) + pl.duration(days=pl.col("h") * 13 % 5000),
                    )
                    for flag, suffix, usage, extra in (
                        ("owns_home", "F01", "住宅", 0),
                        ("second_home", "F02", "住宅", 20),
                        ("shop", "S01", "商业", -5),
                    )
                ]
            ),
            "dilapidated_housing": heads.filter(
                (pl.col("dilapidated") != "") & (pl.col("residence_type") == "农村")
            ).select(
                "id_number",
                grade="dilapidated",
                assessed_on=pl.lit(dt.date(2023, 4, 1)) + pl.duration(days=pl.col("h") % 600),
            ),
        }

    def registered(self) -> dict[str, pl.DataFrame]:
        """Vehicles and business entities of the heads of household."""
        heads, no = self.heads, pl.col("household_id").str.slice(1)
        return {
            "vehicles": pl.concat(
                [
                    heads.filter("two_wheeler").select(
                        "id_number",
                        vehicle_id=pl.format("LMC{}", no),
                        vehicle_type=pl.when(pl.col("residence_type") == "农村")
                        .then(pl.lit("农用车"))
                        .otherwise(pl.lit("摩托车")),
                        operating=pl.lit("否"),
                        registered_on=pl.lit(dt.date(2017, 5, 1)) + pl.duration(days=pl.col("h") % 2000),
                    ),
                    heads.filter("car").select(
                        "id_number",
                        vehicle_id=pl.format("LVS{}", no),
                        vehicle_type=pl.lit("小型汽车"),
                        operating=pl.lit("否"),
                        registered_on=pl.lit(dt.date(2020, 8, 1)) + pl.duration(days=pl.col("h") % 1500),
                    ),
                ]
            ),
            "business": pl.concat(
                [
                    heads.filter(flag).select(
                        "id_number",
                        entity_id=pl.format(
                            "{}{}{}", pl.lit(prefix), pl.col("id_number").str.slice(0, 6), no.str.zfill(10)
                        ),
                        entity_type=pl.lit(kind),
                        role=pl.lit(role),
                        registered_capital=pl.lit(capital),
                        status=pl.lit("存续"),
                    )
                    for flag, prefix, kind, role, capital in (
                        ("stall", "92", "个体工商户", "经营者", 10000.0),
                        ("company", "91", "有限责任公司", "法定代表人", 300000.0),
                    )
                ]
            ),
        }


def world_events(world: World) -> dict[str, pl.DataFrame]:
    """Every event of the calendar, with its month t (dates are drawn when a month is delivered)."""
    heads = (
        world.persons.with_row_index("p").filter(pl.col("pos") == 0).select(pl.col("p").cast(pl.Int64), "h")
    )
    deaths = world.persons.with_row_index("p").filter(pl.col("death_t") < len(world.months))
    return {
        "medical_claims": world.claims,
        "medical_assistance": world.assistance,
        "education_aid": world.aid,
        "employment": world.employment.filter(
            pl.Series(world.alive[world.employment["p"].to_numpy(), world.employment["t"].to_numpy()])
        ),
        "deaths": deaths.select(pl.col("p").cast(pl.Int64), t=pl.col("death_t").cast(pl.Int64)),
        "disasters": world.disasters.join(heads, on="h"),
    }


EVENT_COLUMNS = {
    "medical_claims": (
        "settled_on",
        ["total_cost", "fund_paid", "out_of_pocket", "inpatient", "diagnosis_class"],
    ),
    "medical_assistance": ("paid_on", ["amount"]),
    "education_aid": ("paid_on", ["aid_type", "amount"]),
    "employment": ("registered_on", ["status", "monthly_wage"]),
    "deaths": ("died_on", []),
    "disasters": ("occurred_on", ["disaster_type", "house_damage", "loss_amount"]),
}


def month_frames(
    month: Month, events: dict[str, pl.DataFrame], sched: Schedule, history: bool
) -> tuple[dict, dict]:
    """(the regular deliveries, the history deliveries) of one run month, typed."""
    out, past = {}, {}
    for source, (date_col, cols) in EVENT_COLUMNS.items():
        for target, earlier in ((out, False), (past, True)):
            rows = month.events(source, events[source], sched, earlier)
            if earlier and (not history or source not in HISTORY_SOURCES or rows.is_empty()):
                continue
            if not earlier and sched.arrival[source][month.t] != month.t and rows.is_empty():
                continue  # the department missed this month
            target[source] = month.ids(month.dated(rows, date_col)).select("id_number", date_col, *cols)
    for source, frame in month.snapshots().items():
        if source not in sched.arrival or sched.arrival[source][month.t] == month.t:
            out[source] = frame
    for source in ("work_injury", "missing_persons", "legal_aid"):  # delivered, nothing happened
        out[source] = pl.DataFrame(schema={c.name: pl.String for c in SOURCES[source].columns})
    return out, past


# --- writing -----------------------------------------------------------------------------------

DATE_STYLES = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")


def _text(source: str, frame: pl.DataFrame) -> pl.DataFrame:
    """A typed frame as the department's text: its date style, amounts in yuan, a bank's
    thousands separators, a few names padded with full-width spaces."""
    fmt = DATE_STYLES[sum(source.encode()) % 3]
    cols = []
    for col in SOURCES[source].columns:
        c = pl.col(col.name) if col.name in frame.columns else pl.lit(None, pl.String)
        if col.type == "date" and frame.schema.get(col.name) == pl.Date:
            e = c.dt.strftime(fmt)
        elif col.type == "amount" and frame.schema.get(col.name, pl.String).is_numeric():
            e = c.cast(pl.Float64).round(2).cast(pl.String)
            if source == "deposits":
                whole = c.cast(pl.Float64).floor().cast(pl.Int64)
                cents = (
                    ((c.cast(pl.Float64) - whole) * 100).round(0).cast(pl.Int64).cast(pl.String).str.zfill(2)
                )
                grouped = pl.format(
                    "{},{}.{}", whole // 1000, (whole % 1000).cast(pl.String).str.zfill(3), cents
                )
                e = pl.when(whole >= 1000).then(grouped).otherwise(e)
        else:
            e = c.cast(pl.String)
        if col.name == "name":
            e = (
                pl.when(pl.int_range(pl.len()) % 251 == 7)
                .then(pl.lit("\u3000") + e + pl.lit(" "))
                .otherwise(e)
            )
        cols.append(e.alias(col.name))
    return frame.select(cols)


def _spoil(
    source: str, month: str, text: pl.DataFrame, rng: np.random.Generator, rate: float = BAD_ROW_RATE
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A few bad rows (BAD_ROW_RATE): a broken ID check character, or an impossible date in a
    required date column; returns the text and the rows spoiled (what must be quarantined)."""
    n = text.height
    dates = [c.name for c in SOURCES[source].columns if c.type == "date" and c.required]
    bad = rng.random(n) < rate
    as_date = bad & (rng.random(n) < 0.5) & bool(dates)
    as_id = bad & ~as_date
    ids = pl.col("id_number")
    broken = ids.str.slice(0, 17) + pl.when(ids.str.slice(17, 1) == "0").then(pl.lit("1")).otherwise(
        pl.lit("0")
    )
    spoiled = text.with_columns(pl.when(pl.Series(as_id)).then(broken).otherwise(ids).alias("id_number"))
    if dates:
        year = month[:4]
        spoiled = spoiled.with_columns(
            pl.when(pl.Series(as_date))
            .then(pl.lit(f"{year}-02-30"))
            .otherwise(pl.col(dates[0]))
            .alias(dates[0])
        )
    record = (
        spoiled.with_row_index("row")
        .filter(pl.Series(bad))
        .select(
            "row",
            "id_number",
            month=pl.lit(month),
            source=pl.lit(source),
            column=pl.when(pl.Series(as_date[bad]))
            .then(pl.lit(dates[0] if dates else ""))
            .otherwise(pl.lit("id_number")),
        )
    )
    return spoiled, record.select("month", "source", "row", "column", "id_number")


def _history_file(month_dir: Path, source: str, frame: pl.DataFrame) -> int:
    """`<source>.history.csv` (contract v3): medical settlements as the insurer's GBK extract with
    Chinese headers, the others in UTF-8 with English ones."""
    text = _text(source, frame)
    zh = source == "medical_claims"
    header = [SOURCES[source].column(c).zh if zh else c for c in text.columns]
    buf = io.StringIO()
    text.write_csv(buf, include_header=False, quote_style="necessary")
    body = ",".join(header) + "\n" + buf.getvalue()
    (month_dir / f"{source}.history.csv").write_bytes(_encode(body, "gbk-safe" if zh else "utf-8", bom=False))
    return text.height


def _clear(month_dir: Path) -> None:
    """Remove what an earlier generation of the world wrote (its own names only)."""
    own = {READY, *(f"{s}.history.csv" for s in SOURCES)} | {n for s in SOURCES for n in file_names(s)}
    for path in month_dir.iterdir():
        if path.is_file() and path.name in own:
            path.unlink()


def _outside(landing: Path, truth_dir: Path) -> None:
    land, truth_at = landing.resolve(), truth_dir.resolve()
    if truth_at == land or land in truth_at.parents:
        raise ValueError(f"{truth_dir}: the truth must be written outside the landing {landing}")


def run_months(first: str, n: int) -> list[str]:
    return month_list(first, n)[HISTORY_MONTHS:]


def write_month(
    month_dir: Path,
    frames: dict,
    past: dict,
    rng: np.random.Generator,
    divisions: pl.DataFrame | None,
    bad_rows: float = BAD_ROW_RATE,
) -> tuple[dict[str, int], list[pl.DataFrame]]:
    """One month's folder: the deliveries (with their bad rows) and the history files."""
    month = month_dir.name
    writer, spoiled = Writer(month_dir), []
    if divisions is not None:
        writer.write("divisions", divisions, 0)
    for source in sorted(frames):
        text, bad = _spoil(source, month, _text(source, frames[source]), rng, bad_rows)
        writer.write(source, text, 0)
        spoiled.append(bad)
    writer.close()
    rows = dict(writer.rows)
    for source in sorted(past):
        rows[f"{source}.history"] = _history_file(month_dir, source, past[source])
    return rows, spoiled


def generate_field(
    landing: Path,
    truth_dir: Path,
    months: list[str],
    households: int = 3000,
    seed: int = 1,
    history: bool = True,
    ready: bool = True,
    bad_rows: float = BAD_ROW_RATE,
) -> dict[str, dict[str, int]]:
    """Write the field-like world's deliveries for `months` (consecutive) under `landing/<month>/`,
    and its truth outside the landing: `truth.parquet` (one row per household and month),
    `bad_rows.csv` (the rows spoiled, which the run must quarantine) and `schedule.csv` (when each
    department's rows of each month were delivered). Returns rows per file and month."""
    _outside(landing, truth_dir)
    rules = load_rules(month=months[-1])  # the world's standards and limits, as in force at its end
    world = build_world(households, seed, list(months), rules)
    sched = schedule(seed, len(world.months), history)
    events = world_events(world)
    written, spoiled = {}, []
    for t in range(HISTORY_MONTHS, len(world.months)):
        month = world.months[t]
        month_dir = landing / month
        month_dir.mkdir(parents=True, exist_ok=True)
        _clear(month_dir)
        frames, past = month_frames(Month(world, rules, t, seed), events, sched, history)
        divisions = geography(households).select("division_code", "name") if t == HISTORY_MONTHS else None
        rows, bad = write_month(
            month_dir, frames, past, np.random.default_rng([seed, 30, 9, t]), divisions, bad_rows
        )
        written[month], spoiled = rows, spoiled + bad
        if ready:
            (month_dir / READY).touch()
    truth_dir.mkdir(parents=True, exist_ok=True)
    truth(world, rules, sched).write_parquet(truth_dir / "truth.parquet")
    pl.concat(spoiled).write_csv(truth_dir / "bad_rows.csv")
    _schedule_frame(world, sched).write_csv(truth_dir / "schedule.csv")
    return written


def _schedule_frame(world: World, sched: Schedule) -> pl.DataFrame:
    rows = [
        (source, world.months[t], world.months[a] if a >= 0 else None)
        for source, arrive in sched.arrival.items()
        for t, a in enumerate(arrive)
    ]
    return pl.DataFrame(rows, schema=["source", "month", "delivered_in"], orient="row")
