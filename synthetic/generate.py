"""Synthetic monthly deliveries for every source of the contract, deterministic for a seed.

The population is generated county by county (about 20,000 households each), so memory stays flat
however many households are asked for, and each county's base population is a pure function of
(seed, county): every month sees the same people. Once-only events (a death, the onset of a
disability, a disaster, a new job loss) are drawn as an *event month* per person or household,
so month M delivers exactly the events whose month is M, and later rosters stop listing the dead.
Each source a county delivers in a month is made by its own function (`SOURCE_MAKERS`) from one
view of the county's people in that month (`CountyMonth`).

Proportions (documented in docs/data-team/synthetic.md): the monitored population is older, sicker and
poorer than the general one, so prevalences are set above national figures where reports say so.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from jobs.ingest.deliveries import DELIVERY_RE, read_source
from safetynet.contract import READY, SOURCES
from safetynet.ids import CHECK_MAP, WEIGHTS
from safetynet.lake import Home
from safetynet.months import month_bounds
from safetynet.rules import load_population
from synthetic import decisions

MONTH0 = dt.date(2024, 1, 1)  # month index 0 of the event calendar
HORIZON = 72  # months of the event calendar (2024-01 .. 2029-12)
HOUSEHOLDS_PER_COUNTY = 20_000
TOWNSHIPS_PER_COUNTY = 15
VILLAGES_PER_TOWNSHIP = 12

CATEGORIES = list(SOURCES["roster"].column("category").codes)
# Share of monitored households per category: dibao dominates every provincial roster
# (Henan: 3.06 M dibao vs 0.48 M te kun); near-dibao and rebound-risk groups follow.
CATEGORY_P = [0.45, 0.08, 0.15, 0.06, 0.10, 0.08, 0.03, 0.05]
# Household sizes: low-income households are small (many elderly living alone); mean about 2.5.
SIZE_P = {1: 0.28, 2: 0.27, 3: 0.20, 4: 0.14, 5: 0.07, 6: 0.04}

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
)
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌波辉鹏宇浩凤梅琴云飞")
# Characters outside GBK that GB18030-2022 encodes (CJK extensions A, B and E); real names use them.
RARE = ["䶮", "𬌗", "𠇔", "𬱖", "㛃", "𡒄"]
COUNTY_NAMES = list("清河安平永宁长乐新城东山南湖西岭北川")


@dataclass(frozen=True)
class Dirt:
    """Rates of the mistakes departments make (per row unless said otherwise)."""

    fullwidth_space: float = 0.004
    bad_check_char: float = 0.0005
    unknown_division: float = 0.0003
    duplicate_row: float = 0.001
    bad_date: float = 0.0005
    negative_amount: float = 0.0005
    excel_mangled: float = 0.0002
    legacy_id15: float = 0.0003


def _entity_id(prefix: str) -> pl.Expr:
    """A unified social credit code: prefix, the owner's county, then 10 characters from a hash, so
    that no part of the owner's ID number is in it."""
    digits = (pl.col("id_number").hash(11) % 10**10).cast(pl.String).str.zfill(10)
    return pl.format("{}{}{}", pl.lit(prefix), pl.col("id_number").str.slice(0, 6), digits)


def month_index(month: str) -> int:
    y, m = map(int, month.split("-"))
    return (y - MONTH0.year) * 12 + (m - MONTH0.month)


def _id_numbers(county: np.ndarray, birth: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Unique, valid 18-character ID numbers: county + birth date + sequence (odd = male) + check."""
    frame = pl.DataFrame({"county": county, "birth": birth, "male": male})
    frame = frame.with_columns(r=pl.int_range(pl.len()).over("county", "birth", "male"))
    seq = (2 * (frame["r"].to_numpy() % 500) + frame["male"].to_numpy()).astype(np.int64)
    births = pl.Series(birth).dt.strftime("%Y%m%d").to_numpy().astype("U8")
    body = np.char.add(np.char.add(county.astype("U6"), births), np.char.zfill(seq.astype("U3"), 3))
    digits = body.view("U1").reshape(len(body), 17).astype(np.int64)
    checks = np.array(list(CHECK_MAP))[(digits * np.array(WEIGHTS)).sum(axis=1) % 11]
    return np.char.add(body, checks)


def _pick(rng: np.random.Generator, options: list, p: list[float] | None, n: int) -> np.ndarray:
    return np.array(options)[rng.choice(len(options), size=n, p=p)]


def _event_month(rng: np.random.Generator, n: int, p_in_horizon: float | np.ndarray) -> np.ndarray:
    """Month index of a once-only event, or -1 when it never happens within the horizon."""
    when = rng.integers(0, HORIZON, size=n)
    return np.where(rng.random(n) < p_in_horizon, when, -1)


def county_code(c: int) -> str:
    """The county's code: counties are dealt out over ten prefectures in turn (4301, 4302, ...), so
    a small province already spans several and 2 M households make ten of ten counties each."""
    return f"43{1 + c % 10:02d}{1 + c // 10:02d}"


def geography(n_households: int, county_size: int = HOUSEHOLDS_PER_COUNTY) -> pl.DataFrame:
    """Counties, townships and villages (12-digit codes) for the requested population."""
    n_counties = max(1, -(-n_households // county_size))
    rows = []
    for c in range(n_counties):
        county = county_code(c)
        cname = (
            COUNTY_NAMES[c % len(COUNTY_NAMES)] + COUNTY_NAMES[(c * 7 + 3) % len(COUNTY_NAMES)] + f"{c + 1}县"
        )
        rows.append((county, cname, 6))
        for t in range(TOWNSHIPS_PER_COUNTY):
            town = f"{county}{t + 1:03d}"
            rows.append((town, f"{cname}第{t + 1}镇", 9))
            for v in range(VILLAGES_PER_TOWNSHIP):
                rows.append((f"{town}{v + 1:03d}", f"{cname}第{t + 1}镇第{v + 1}村", 12))
    return pl.DataFrame(rows, schema=["division_code", "name", "level"], orient="row")


# --- the base population: the same people for every month of a seed ------------------------------
# Every helper below takes its draws from the county's one generator, in the order they are called
# from `county_population`: that order (and the order of draws within each helper) is what makes a
# seed give the same people. Add a draw only at the end, or every county's people change.


def county_population(seed: int, county_idx: int, n: int, county: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Base households and persons of one county: the same for every month of a seed."""
    rng = np.random.default_rng([seed, county_idx, 0])
    size, category = _sizes_and_categories(rng, n)
    households = _households(rng, county_idx, county, size, category)
    members = _members(rng, size, category)
    hh_of, pos, age = members["hh"], members["pos"], members["age"]
    m = len(hh_of)
    ids = _id_numbers(np.full(m, county), members["birth"], members["male"].astype(np.int64))
    names = _names(rng, hh_of, n)
    health, disability_month = _health(rng, age)
    concepts = load_population()  # the working age of rules/parameters/population.yaml, as the checks read
    working_age = (age >= concepts.working_age_from) & (age <= concepts.working_age_to)
    labour = _labour_capacity(health, working_age)
    income = _declared_incomes(hh_of, pos, working_age, labour, households["income_factor"].to_numpy(), size)
    events = _work_and_life_events(rng, working_age, labour, category[hh_of], age >= 60)
    holdings = _holdings_and_schooling(rng, pos, age, working_age)
    persons = pl.DataFrame(
        {
            "hh": hh_of,
            "pos": pos,
            "id_number": ids,
            "name": names,
            "relation": members["relation"],
            "birth": members["birth"],
            "age": age,
            "male": members["male"],
            "health_status": health,
            "labour_capacity": labour,
            "declared_monthly_income": income,
            "disability_month": disability_month,
            **events,
            **holdings,
        }
    )
    persons = persons.with_columns(pl.lit(county).alias("county"))
    return households, persons


def _village_codes(n: int, county: str) -> tuple[np.ndarray, np.ndarray]:
    """Each household's village number within the county and its 12-digit division code."""
    villages = TOWNSHIPS_PER_COUNTY * VILLAGES_PER_TOWNSHIP
    v = (np.arange(n) * villages) // n  # contiguous blocks: a village holds neighbouring households
    division = np.array(
        [
            f"{county}{1 + i // VILLAGES_PER_TOWNSHIP:03d}{1 + i % VILLAGES_PER_TOWNSHIP:03d}"
            for i in range(villages)
        ]
    )[v]
    return v, division


def _sizes_and_categories(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    size = rng.choice(list(SIZE_P), size=n, p=list(SIZE_P.values()))
    category = _pick(rng, CATEGORIES, CATEGORY_P, n)
    size = np.where(category == "特困", 1, size)  # te kun support is for people without family support
    return size, category


def _households(
    rng: np.random.Generator, county_idx: int, county: str, size: np.ndarray, category: np.ndarray
) -> pl.DataFrame:
    """The households: where they live, when enrolled, their events, holdings and income level."""
    n = len(size)
    hh_no = np.arange(n) + county_idx * HOUSEHOLDS_PER_COUNTY
    v, division = _village_codes(n, county)
    return pl.DataFrame(
        {
            "household_id": np.char.add("H", np.char.zfill(hh_no.astype("U10"), 10)),
            "division_code": division,
            # The first third of each township's villages are urban communities.
            "residence_type": np.where((v % VILLAGES_PER_TOWNSHIP) < 4, "城市", "农村"),
            "category": category,
            "size": size,
            "enrolled_on": np.datetime64(MONTH0) - rng.integers(1, 3650, n).astype("timedelta64[D]"),
            "disaster_month": _event_month(rng, n, 0.12),
            "house_damage": _pick(rng, ["一般损坏", "严重损坏", "倒塌", "无"], [0.5, 0.25, 0.1, 0.15], n),
            "dilapidated": _pick(rng, ["A", "B", "C", "D", ""], [0.02, 0.04, 0.025, 0.01, 0.905], n),
            "excess_deposit": rng.random(n) < 0.01,
            "second_home": rng.random(n) < 0.01,
            "has_car": rng.random(n) < 0.01,
            "has_company": rng.random(n) < 0.003,
            "income_factor": _income_factors(rng, category),
        }
    )


def _income_factors(rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
    """Household income as a share of a reference income (900 yuan a person a month, just above
    the highest urban standard of rules/parameters/dibao_standard.yaml): recipients below it,
    near-dibao up to 1.5x, others above; 4% of non-recipients are planted below it although not
    covered (应保尽保 candidates)."""
    n = len(category)
    return np.select(
        [np.isin(category, ["低保", "特困"]), category == "低保边缘"],
        [rng.uniform(0.1, 0.65, n), rng.uniform(1.0, 1.45, n)],
        default=np.where(rng.random(n) < 0.04, rng.uniform(0.2, 0.6, n), rng.uniform(1.6, 3.0, n)),
    )


def _members(rng: np.random.Generator, size: np.ndarray, category: np.ndarray) -> dict[str, np.ndarray]:
    """Persons of each household: position 0 is the head; relations follow position and the head's
    age. Returns the household number (`hh`), position, relation, age, birth date and sex."""
    n = len(size)
    hh_of = np.repeat(np.arange(n), size)
    pos = np.concatenate([np.arange(s) for s in size]) if n else np.array([], dtype=int)
    m = len(hh_of)
    head_age = np.where(category == "特困", rng.integers(60, 90, n), rng.integers(28, 86, n))[hh_of]
    old_head = head_age >= 62
    relation = np.select(
        [pos == 0, pos == 1, old_head & (pos >= 2), pos >= 2],
        ["户主", "配偶", "孙子女", "子女"],
        default="其他",
    )
    age = np.select(
        [pos == 0, pos == 1, relation == "孙子女"],
        [
            head_age,
            np.clip(head_age + rng.integers(-5, 4, m), 18, 95),
            np.clip(head_age - 50 - rng.integers(0, 12, m), 0, 30),
        ],
        default=np.clip(head_age - 22 - rng.integers(0, 18, m), 0, 60),
    )
    birth = np.datetime64(MONTH0) - (age * 365.25 + rng.integers(0, 365, m)).astype("timedelta64[D]")
    male = rng.random(m) < 0.5
    return {"hh": hh_of, "pos": pos, "relation": relation, "age": age, "birth": birth, "male": male}


def _names(rng: np.random.Generator, hh_of: np.ndarray, n: int) -> np.ndarray:
    """One surname a household, one or two given characters a person, a few with a rare character."""
    m = len(hh_of)
    surname = _pick(rng, SURNAMES, None, n)[hh_of]
    given = np.char.add(
        _pick(rng, GIVEN, None, m).astype(str),
        np.where(rng.random(m) < 0.6, _pick(rng, GIVEN, None, m).astype(str), ""),
    )
    rare = rng.random(m) < 0.002
    given = np.where(rare, np.char.add(_pick(rng, RARE, None, m).astype(str), given), given)
    return np.char.add(surname.astype(str), given)


def _health(rng: np.random.Generator, age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Health status and the disability month (-999: disabled before the calendar starts)."""
    m = len(age)
    elderly = age >= 60
    health = np.where(
        rng.random(m) < np.where(elderly, 0.12, 0.03),
        "大病",
        np.where(rng.random(m) < np.where(elderly, 0.45, 0.12), "慢性病", "健康"),
    )
    # Disability: about 15% of persons in monitored households (6.3% nationally, 2006 survey).
    disabled_base = rng.random(m) < 0.13
    disability_month = np.where(disabled_base, -999, _event_month(rng, m, 0.03))
    health = np.where(disabled_base, "残疾", health)
    return health, disability_month


def _labour_capacity(health: np.ndarray, working_age: np.ndarray) -> np.ndarray:
    return np.where(
        ~working_age, "无", np.where(health == "健康", "有", np.where(health == "慢性病", "部分丧失", "无"))
    )


def _declared_incomes(
    hh_of: np.ndarray,
    pos: np.ndarray,
    working_age: np.ndarray,
    labour: np.ndarray,
    income_factor: np.ndarray,
    size: np.ndarray,
) -> np.ndarray:
    """The household's income (income_factor x 900 x size), declared by its earners (the head if none)."""
    n = len(size)
    earner = working_age & (labour != "无")
    earners = np.bincount(hh_of, weights=earner, minlength=n)[hh_of]
    total = (income_factor * 900 * size)[hh_of]
    income = np.where(
        earners > 0, np.where(earner, total / np.maximum(earners, 1), 0), np.where(pos == 0, total, 0)
    )
    return income.round(0)


def _work_and_life_events(
    rng: np.random.Generator,
    working_age: np.ndarray,
    labour: np.ndarray,
    category: np.ndarray,
    elderly: np.ndarray,
) -> dict[str, np.ndarray]:
    """Each person's disability details, once-only events and work (`category` is the person's
    household's)."""
    m = len(working_age)
    able = working_age & (labour == "有")
    return {
        "disability_type": _pick(
            rng,
            ["视力", "听力", "言语", "肢体", "智力", "精神", "多重"],
            [0.13, 0.2, 0.02, 0.35, 0.1, 0.12, 0.08],
            m,
        ),
        "disability_grade": rng.choice([1, 2, 3, 4], size=m, p=[0.15, 0.25, 0.3, 0.3]),
        # Mortality of an older, sicker population: about 1.5% a year.
        "death_month": _event_month(rng, m, np.where(elderly, 0.18, 0.018)),
        "missing_month": _event_month(rng, m, 0.0005),
        "unemployed_month": np.where(able, _event_month(rng, m, 0.15), -1),
        # Registered work: rarer in recipient households, whose income is below the standard.
        "employed": able & (rng.random(m) < np.where(np.isin(category, ["低保", "特困"]), 0.12, 0.45)),
        # Informal, low-paid work for most; a formal job with employee insurance for few (planted).
        "wage": rng.lognormal(7.0, 0.3, m).round(-1),
        "formal_job": able & (rng.random(m) < 0.01),
        "formal_wage": rng.lognormal(8.3, 0.25, m).round(-1),
        "injury_month": np.where(working_age, _event_month(rng, m, 0.01), -1),
    }


def _holdings_and_schooling(
    rng: np.random.Generator, pos: np.ndarray, age: np.ndarray, working_age: np.ndarray
) -> dict[str, np.ndarray]:
    """Each person's savings, the head's home, two-wheeler and tiny business, the housing fund,
    schooling and the month of a big medical bill (drawn last: the order of the calendar's draws)."""
    m = len(pos)
    elderly = age >= 60
    return {
        "deposit": np.where(rng.random(m) < 0.6, rng.lognormal(7.8, 0.8, m).round(2), 0.0),
        "owns_home": (pos == 0) & (rng.random(m) < 0.7),
        "two_wheeler": (pos == 0) & (rng.random(m) < 0.1),
        "tiny_business": (pos == 0) & (rng.random(m) < 0.03),
        "housing_fund": working_age & (rng.random(m) < 0.01),
        "school_dropout": (age >= 12) & (age <= 16) & (rng.random(m) < 0.01),
        "college": rng.random(m) < 0.4,
        "big_bill_month": _event_month(rng, m, np.where(elderly, 0.20, 0.06)),
    }


STAGE_ENTRY_AGE = {"学前": 3, "小学": 6, "初中": 12, "高中": 15, "本科": 18}


def _stage(age: pl.Expr, college: pl.Expr) -> pl.Expr:
    """School stage by age at the delivery month (entry in September; 学前 from 3)."""
    return (
        pl.when(age.is_between(3, 5))
        .then(pl.lit("学前"))
        .when(age.is_between(6, 11))
        .then(pl.lit("小学"))
        .when(age.is_between(12, 14))
        .then(pl.lit("初中"))
        .when(age.is_between(15, 17))
        .then(pl.lit("高中"))
        .when(age.is_between(18, 21) & college)
        .then(pl.lit("本科"))
        .otherwise(None)
    )


# --- a month's deliveries: one function a source ------------------------------------------------


@dataclass(frozen=True)
class CountyMonth:
    """One county's people as a month sees them, and the month's generator. The makers in
    `SOURCE_MAKERS` draw from `rng` in the order of that table, so a seed gives the same month."""

    month: str
    index: int  # month index in the event calendar
    start: dt.date
    days: int
    rng: np.random.Generator
    households: pl.DataFrame  # with `hh`, the household's number in the county
    persons: pl.DataFrame  # everyone, the dead too, with their household's columns
    alive: pl.DataFrame  # neither dead nor declared missing before the month
    heads: pl.DataFrame  # the alive heads of household
    stale: pl.DataFrame  # last month's dead, still listed by a late office
    twice: pl.DataFrame  # spouses also listed in the next household ...
    moved: pl.DataFrame  # ... as listed there

    def in_month(self, n: int) -> pl.Series:
        """`n` dates within the month."""
        days = self.rng.integers(0, self.days, n).astype("timedelta64[D]")
        return pl.Series(np.datetime64(self.start) + days, dtype=pl.Date)

    def age_now(self) -> pl.Expr:
        return ((pl.lit(self.start) - pl.col("birth")).dt.total_days() / 365.25).floor().cast(pl.Int32)

    def disabled_now(self) -> pl.Expr:
        return (pl.col("disability_month") == -999) | pl.col("disability_month").is_between(0, self.index)


def county_month(
    month: str, seed: int, county_idx: int, households: pl.DataFrame, persons: pl.DataFrame
) -> CountyMonth:
    """Who the month's deliveries list: the dead and the declared missing leave the roster the month
    after the event, with the planted mistakes of late and double listings."""
    mi = month_index(month)
    start, end = month_bounds(month)
    hh = households.with_row_index("hh", offset=0).with_columns(pl.col("hh").cast(pl.Int64))
    p = persons.join(hh, on="hh", how="left")
    alive = p.filter(
        ~pl.col("death_month").is_between(0, mi - 1) & ~pl.col("missing_month").is_between(0, mi - 1)
    )
    # Some civil-affairs offices update a month late: in 1 of 7 households last month's dead are
    # still on this month's roster (the means test must find them, and the truth file says where).
    stale = p.filter((pl.col("death_month") == mi - 1) & (pl.col("hh") % 7 == 0))
    # In 1 of 1,009 households the spouse is also listed in the next household (moved
    # there, never removed here): the same person in two households, for the means test to find.
    twice = alive.filter((pl.col("hh") % 1009 == 5) & (pl.col("pos") == 1) & (pl.col("hh") + 1 < hh.height))
    moved = (
        twice.drop([c for c in hh.columns if c != "hh"])
        .with_columns(hh=pl.col("hh") + 1, pos=pl.lit(99, dtype=twice.schema["pos"]), relation=pl.lit("其他"))
        .join(hh, on="hh")
        .select(p.columns)
    )
    return CountyMonth(
        month=month,
        index=mi,
        start=start,
        days=(end - start).days + 1,
        rng=np.random.default_rng([seed, county_idx, 1 + mi]),
        households=hh,
        persons=p,
        alive=alive,
        heads=alive.filter(pl.col("pos") == 0),
        stale=stale,
        twice=twice,
        moved=moved,
    )


def _household_no() -> pl.Expr:
    return pl.col("household_id").str.slice(1)  # unique across counties, unlike hh


def _roster(m: CountyMonth) -> pl.DataFrame:
    listed = pl.concat([m.alive, m.stale, m.moved])
    return listed.select(
        "household_id",
        "id_number",
        "name",
        "relation",
        "division_code",
        "residence_type",
        "category",
        pl.col("enrolled_on"),
        monthly_benefit=pl.when(pl.col("category").is_in(["低保", "特困"])).then(
            (pl.lit(650.0) - pl.col("declared_monthly_income") / 3).clip(150, 900).round(0)
        ),
        labour_capacity="labour_capacity",
        health_status=pl.when(m.disabled_now()).then(pl.lit("残疾")).otherwise(pl.col("health_status")),
        housing_area=pl.when(pl.col("pos") == 0).then(
            (pl.col("size") * 18 + pl.col("hh") % 37).cast(pl.Float64)
        ),
        declared_monthly_income="declared_monthly_income",
        hukou_division_code=pl.lit(None, pl.String),
    )


def _disability(m: CountyMonth) -> pl.DataFrame:
    return m.alive.filter(m.disabled_now()).select(
        "id_number",
        "disability_type",
        grade="disability_grade",
        registered_on=pl.when(pl.col("disability_month") == -999)
        .then(pl.lit(dt.date(2015, 6, 1)) + pl.duration(days=pl.col("hh") % 3000))
        .otherwise(pl.lit(m.start) - pl.duration(days=(m.index - pl.col("disability_month")) * 30 - 3)),
    )


def _students(m: CountyMonth) -> pl.DataFrame:
    return m.alive.with_columns(stage=_stage(m.age_now(), pl.col("college"))).filter(
        pl.col("stage").is_not_null()
    )


def _enrolment(m: CountyMonth) -> pl.DataFrame:
    return _students(m).select(
        "id_number",
        "stage",
        # The generator's stages follow birthdays (the age on the month's first day): a child enters a
        # stage on the first day of the month its stage is first delivered in.
        enrolled_on=pl.col("birth")
        .dt.offset_by(
            pl.format("{}y", pl.col("stage").replace_strict(STAGE_ENTRY_AGE, return_dtype=pl.Int32))
        )
        .dt.offset_by("-1d")
        .dt.month_end()
        .dt.offset_by("1d"),
        status=pl.when(pl.col("school_dropout")).then(pl.lit("辍学")).otherwise(pl.lit("在读")),
    )


def _education_aid(m: CountyMonth) -> pl.DataFrame:
    aided = pl.col("category").is_in(["低保", "特困", "低保边缘"]) & (m.start.month in (3, 9))
    return (
        _students(m)
        .filter(aided)
        .select(
            "id_number",
            aid_type=pl.lit("国家助学金"),
            amount=pl.lit(1250.0),
            paid_on=pl.lit(m.start + dt.timedelta(days=9)),
        )
    )


def _big_bills(m: CountyMonth) -> pl.DataFrame:
    """Those whose planted big bill (out-of-pocket >= 5,000 yuan, once a person) falls in the month."""
    return m.alive.filter(pl.col("big_bill_month") == m.index)


def _medical_claims(m: CountyMonth) -> pl.DataFrame:
    """Chronic and serious illness drive routine settlements; the big bills are inpatient ones."""
    p_claim = (
        m.alive.select(
            pl.when(pl.col("health_status") == "大病")
            .then(0.5)
            .when(pl.col("health_status") == "慢性病")
            .then(0.25)
            .otherwise(0.05)
        )
        .to_series()
        .to_numpy()
    )
    routine = m.alive.filter(pl.Series(m.rng.random(m.alive.height) < p_claim))
    routine_cost = m.rng.lognormal(5.5, 0.9, routine.height).round(2)
    big = _big_bills(m)
    big_cost = m.rng.lognormal(10.0, 0.5, big.height).round(2)
    claims = pl.concat(
        [
            routine.select("id_number").with_columns(
                total_cost=pl.Series(routine_cost), inpatient=pl.lit("否"), diagnosis_class=pl.lit("普通")
            ),
            big.select("id_number").with_columns(
                total_cost=pl.Series(big_cost, dtype=pl.Float64),
                inpatient=pl.lit("是"),
                diagnosis_class=pl.lit("重大疾病"),
            ),
        ]
    )
    claims = claims.with_columns(
        settled_on=m.in_month(claims.height),
        fund_paid=(
            pl.col("total_cost") * pl.when(pl.col("inpatient") == "是").then(0.6).otherwise(0.5)
        ).round(2),
    ).with_columns(out_of_pocket=(pl.col("total_cost") - pl.col("fund_paid")).round(2))
    return claims.select(
        "id_number", "settled_on", "total_cost", "fund_paid", "out_of_pocket", "inpatient", "diagnosis_class"
    )


def _medical_assistance(m: CountyMonth) -> pl.DataFrame:
    assisted = _big_bills(m).filter(pl.col("category").is_in(["低保", "特困"]))
    return assisted.select("id_number", paid_on=m.in_month(assisted.height), amount=pl.lit(2000.0))


def _employment(m: CountyMonth) -> pl.DataFrame:
    unemployed = m.alive.filter(pl.col("unemployed_month") == m.index)
    hired = m.alive.filter(pl.col("employed") & (pl.col("hh") % 12 == m.index % 12))
    return pl.concat(
        [
            unemployed.select(
                "id_number",
                status=pl.lit("失业"),
                registered_on=m.in_month(unemployed.height),
                monthly_wage=pl.lit(None, pl.Float64),
            ),
            hired.select(
                "id_number",
                status=pl.lit("就业"),
                registered_on=m.in_month(hired.height),
                monthly_wage="wage",
            ),
        ]
    )


def _work_injury(m: CountyMonth) -> pl.DataFrame:
    injured = m.alive.filter(pl.col("injury_month") == m.index)
    return injured.select(
        "id_number",
        injured_on=m.in_month(injured.height),
        disability_level=pl.lit(7, pl.Int32),
        compensation=pl.lit(42000.0),
    )


def _social_insurance(m: CountyMonth) -> pl.DataFrame:
    return m.alive.filter(m.age_now() >= 18).select(
        "id_number",
        month=pl.lit(m.month),
        scheme=pl.when(pl.col("formal_job")).then(pl.lit("城镇职工")).otherwise(pl.lit("城乡居民")),
        contribution_base=pl.when(pl.col("formal_job")).then(pl.col("formal_wage")).otherwise(pl.lit(400.0)),
    )


def _deaths(m: CountyMonth) -> pl.DataFrame:
    dead = m.persons.filter(pl.col("death_month") == m.index)
    return dead.select("id_number", died_on=m.in_month(dead.height))


def _missing_persons(m: CountyMonth) -> pl.DataFrame:
    missing = m.persons.filter(pl.col("missing_month") == m.index)
    return missing.select("id_number", declared_on=m.in_month(missing.height))


def _real_estate(m: CountyMonth) -> pl.DataFrame:
    homes = m.heads.filter(pl.col("owns_home") | pl.col("second_home"))
    second = m.heads.filter(pl.col("second_home"))
    return pl.concat(
        [
            homes.select(
                "id_number",
                property_id=pl.format("{}F01", _household_no()),
                area=(pl.col("size") * 18 + pl.col("hh") % 37).cast(pl.Float64),
                usage=pl.lit("住宅"),
                registered_on=pl.lit(dt.date(2012, 5, 1)) + pl.duration(days=pl.col("hh") % 3000),
            ),
            second.select(
                "id_number",
                property_id=pl.format("{}F02", _household_no()),
                area=pl.lit(96.0),
                usage=pl.when(pl.col("hh") % 3 == 0).then(pl.lit("商业")).otherwise(pl.lit("住宅")),
                registered_on=pl.lit(dt.date(2020, 3, 1)) + pl.duration(days=pl.col("hh") % 1500),
            ),
        ]
    )


def _vehicles(m: CountyMonth) -> pl.DataFrame:
    return pl.concat(
        [
            m.heads.filter(pl.col("two_wheeler")).select(
                "id_number",
                vehicle_id=pl.format("LZM{}", _household_no()),
                vehicle_type=pl.when(pl.col("residence_type") == "农村")
                .then(pl.lit("农用车"))
                .otherwise(pl.lit("摩托车")),
                operating=pl.lit("否"),
                registered_on=pl.lit(dt.date(2018, 4, 1)),
            ),
            m.heads.filter(pl.col("has_car")).select(
                "id_number",
                vehicle_id=pl.format("LSV{}", _household_no()),
                vehicle_type=pl.lit("小型汽车"),
                operating=pl.lit("否"),
                registered_on=pl.lit(dt.date(2021, 7, 1)),
            ),
        ]
    )


def _business(m: CountyMonth) -> pl.DataFrame:
    return pl.concat(
        [
            m.heads.filter(pl.col("tiny_business")).select(
                "id_number",
                entity_id=_entity_id("92"),
                entity_type=pl.lit("个体工商户"),
                role=pl.lit("经营者"),
                registered_capital=pl.lit(20000.0),
                status=pl.lit("存续"),
            ),
            m.heads.filter(pl.col("has_company")).select(
                "id_number",
                entity_id=_entity_id("91"),
                entity_type=pl.lit("有限责任公司"),
                role=pl.lit("法定代表人"),
                registered_capital=pl.lit(500000.0),
                status=pl.lit("存续"),
            ),
        ]
    )


def _deposits(m: CountyMonth) -> pl.DataFrame:
    excess = pl.col("excess_deposit") & (pl.col("pos") == 0)
    return m.alive.filter((pl.col("deposit") > 0) | excess).select(
        "id_number",
        institution=pl.when(pl.col("hh") % 3 == 0).then(pl.lit("农村信用社")).otherwise(pl.lit("邮储银行")),
        balance=pl.when(excess).then(pl.lit(180000.0)).otherwise(pl.col("deposit")),
    )


def _housing_fund(m: CountyMonth) -> pl.DataFrame:
    return m.alive.filter(pl.col("housing_fund")).select(
        "id_number", monthly_deposit=pl.lit(680.0), status=pl.lit("正常")
    )


def _disasters(m: CountyMonth) -> pl.DataFrame:
    hit = m.heads.filter(pl.col("disaster_month") == m.index)
    return hit.select(
        "id_number",
        occurred_on=m.in_month(hit.height),
        disaster_type=pl.lit("洪涝"),
        house_damage="house_damage",
        loss_amount=pl.lit(30000.0),
    )


def _dilapidated_housing(m: CountyMonth) -> pl.DataFrame:
    rated = m.heads.filter((pl.col("dilapidated") != "") & (pl.col("residence_type") == "农村"))
    return rated.select(
        "id_number",
        grade="dilapidated",
        assessed_on=pl.lit(dt.date(2023, 6, 1)) + pl.duration(days=pl.col("hh") % 700),
    )


def _legal_aid(m: CountyMonth) -> pl.DataFrame:
    legal = m.alive.filter((pl.col("hh") * 7 + m.index) % 2000 == 0)
    return legal.select("id_number", case_type=pl.lit("劳动争议"), opened_on=m.in_month(legal.height))


# The sources a county delivers each month, each made by its own function. The order is the order of
# the month's random draws (dates within the month, claims) and of the dirt drawn when they are
# written: keep it, or the same seed makes another month. `divisions` (from `geography`) and
# `outcomes` (from the home's cases) are made apart, once for the whole month.
SOURCE_MAKERS: dict[str, Callable[[CountyMonth], pl.DataFrame]] = {
    "roster": _roster,
    "disability": _disability,
    "enrolment": _enrolment,
    "education_aid": _education_aid,
    "medical_claims": _medical_claims,
    "medical_assistance": _medical_assistance,
    "employment": _employment,
    "work_injury": _work_injury,
    "social_insurance": _social_insurance,
    "deaths": _deaths,
    "missing_persons": _missing_persons,
    "real_estate": _real_estate,
    "vehicles": _vehicles,
    "business": _business,
    "deposits": _deposits,
    "housing_fund": _housing_fund,
    "disasters": _disasters,
    "dilapidated_housing": _dilapidated_housing,
    "legal_aid": _legal_aid,
}


def month_deliveries(
    month: str, seed: int, county_idx: int, households: pl.DataFrame, persons: pl.DataFrame
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """One county's rows for every source in `month`, and the truth rows planted in it."""
    m = county_month(month, seed, county_idx, households, persons)
    return {source: make(m) for source, make in SOURCE_MAKERS.items()}, _month_truth(m)


def _month_truth(m: CountyMonth) -> pl.DataFrame:
    """The planted households of the month; ineligibility only where the household receives
    something (recipients)."""
    truth = pl.concat(
        [
            _planted(m),
            m.stale.select(
                "household_id",
                kind=pl.lit("ineligible"),
                detail=pl.lit("deceased_still_listed"),
                month=pl.lit(m.month),
            ).unique(maintain_order=True),
            pl.concat([m.twice.select("household_id"), m.moved.select("household_id")]).select(
                "household_id",
                kind=pl.lit("ineligible"),
                detail=pl.lit("person_in_two_households"),
                month=pl.lit(m.month),
            ),
        ]
    )
    recipients = m.households.filter(pl.col("category").is_in(["低保", "特困"])).select("household_id")
    return pl.concat(
        [
            truth.filter(pl.col("kind") != "ineligible"),
            truth.filter(pl.col("kind") == "ineligible").join(recipients, on="household_id", how="semi"),
        ]
    )


def _planted(m: CountyMonth) -> pl.DataFrame:
    """Which households were planted with which hardship or ineligibility this month."""
    mi, persons, alive, heads = m.index, m.persons, m.alive, m.heads
    planted = [
        alive.filter(pl.col("big_bill_month") == mi).select(
            "household_id", kind=pl.lit("hardship"), detail=pl.lit("medical_bill")
        ),
        alive.filter(pl.col("disability_month") == mi).select(
            "household_id", kind=pl.lit("hardship"), detail=pl.lit("new_disability")
        ),
        alive.filter(pl.col("unemployed_month") == mi).select(
            "household_id", kind=pl.lit("hardship"), detail=pl.lit("unemployment")
        ),
        alive.filter(pl.col("injury_month") == mi).select(
            "household_id", kind=pl.lit("hardship"), detail=pl.lit("work_injury")
        ),
        # an earner: declared income, registered work or a formal job (with employee insurance)
        persons.filter(
            (pl.col("death_month") == mi)
            & ((pl.col("declared_monthly_income") > 0) | pl.col("employed") | pl.col("formal_job"))
        ).select("household_id", kind=pl.lit("hardship"), detail=pl.lit("death_of_earner")),
        heads.filter(
            (pl.col("disaster_month") == mi) & pl.col("house_damage").is_in(["严重损坏", "倒塌"])
        ).select("household_id", kind=pl.lit("hardship"), detail=pl.lit("disaster_house_damage")),
        heads.filter(pl.col("excess_deposit")).select(
            "household_id", kind=pl.lit("ineligible"), detail=pl.lit("excess_deposits")
        ),
        heads.filter(pl.col("second_home")).select(
            "household_id", kind=pl.lit("ineligible"), detail=pl.lit("second_property")
        ),
        heads.filter(pl.col("has_car")).select(
            "household_id", kind=pl.lit("ineligible"), detail=pl.lit("private_car")
        ),
        heads.filter(pl.col("has_company")).select(
            "household_id", kind=pl.lit("ineligible"), detail=pl.lit("company")
        ),
        alive.filter(pl.col("housing_fund")).select(
            "household_id", kind=pl.lit("ineligible"), detail=pl.lit("housing_fund")
        ),
        alive.filter(pl.col("formal_job")).select(
            "household_id", kind=pl.lit("ineligible"), detail=pl.lit("formal_job")
        ),
        heads.filter(~pl.col("category").is_in(["低保", "特困"]) & (pl.col("income_factor") < 1)).select(
            "household_id", kind=pl.lit("eligible"), detail=pl.lit("income_below_standard")
        ),
    ]
    return pl.concat(planted).unique(maintain_order=True).with_columns(month=pl.lit(m.month))


# --- writing: the formats and the dirt departments deliver --------------------------------------

# How each department delivers (a fixed, documented assignment so every form is exercised):
#   encoding, Chinese headers?, xlsx?, parts, shuffled columns?
STYLE = {
    "roster": ("gb18030", True, False, 1, False),
    "medical_claims": ("utf-8-sig", False, False, 2, True),
    "deposits": ("gbk-safe", True, False, 1, True),
    "vehicles": ("xlsx", True, True, 1, False),
    "business": ("utf-8", True, False, 1, True),
    "social_insurance": ("utf-8", False, False, 2, False),
    "divisions": ("gb18030", True, False, 1, False),
}
DATE_STYLES = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")
PLAIN = ("utf-8", False, False, 1, False)  # a source not in STYLE: UTF-8, English headers, one file


def file_names(source: str) -> list[str]:
    """The files the generator writes a source to: an xlsx, or a CSV in one or more parts."""
    _, _, is_xlsx, parts, _ = STYLE.get(source, PLAIN)
    if is_xlsx:
        return [f"{source}.xlsx"]
    return [f"{source}.csv"] if parts == 1 else [f"{source}.part-{i + 1}.csv" for i in range(parts)]


# Every name the generator writes in a month's folder: the only files it removes there. A township's
# `outcomes.part-<township code>.csv` (written by the portal) and anything else put there stay.
OWN_FILES = frozenset({READY, *(name for source in SOURCES for name in file_names(source))})


def _dirty(source: str, frame: pl.DataFrame, rng: np.random.Generator, dirt: Dirt) -> pl.DataFrame:
    """Render a county's rows as department text, with a few realistic mistakes."""
    n = frame.height
    if n == 0:
        return frame.select(pl.col(c).cast(pl.String) for c in frame.columns)
    spec = SOURCES[source]
    fmt = DATE_STYLES[sum(source.encode()) % 3]  # stable per source (str hash is salted per process)
    cols = []
    for col in spec.columns:
        c = pl.col(col.name)
        if col.type == "date":
            e = c.dt.strftime(fmt)
            if rng.random() < 0.5:
                bad = pl.Series(rng.random(n) < dirt.bad_date)
                e = pl.when(bad).then(pl.lit("2023-02-30")).otherwise(e)
        elif col.type == "amount":
            e = c.cast(pl.Float64).round(2).cast(pl.String)
            if source == "deposits":  # a bank extract: thousands separators
                cents = (c.cast(pl.Float64) * 100).round(0).cast(pl.Int64)
                grouped = pl.format(
                    "{},{}.{}",
                    cents // 100_000,
                    (cents % 100_000 // 100).cast(pl.String).str.zfill(3),
                    (cents % 100).cast(pl.String).str.zfill(2),
                )
                e = pl.when(cents >= 100_000).then(grouped).otherwise(e)
            if col.required:
                neg = pl.Series(rng.random(n) < dirt.negative_amount)
                e = pl.when(neg).then(pl.lit("-") + e).otherwise(e)
        elif col.type == "id":
            r = rng.random(n)
            broken = c.str.slice(0, 17) + pl.when(c.str.slice(17, 1) == "0").then(pl.lit("1")).otherwise(
                pl.lit("0")
            )
            e = (
                pl.when(pl.Series(r < dirt.bad_check_char))
                .then(broken)
                .when(pl.Series(r > 1 - dirt.legacy_id15) & (c.str.slice(6, 2) == "19"))
                .then(c.str.slice(0, 6) + c.str.slice(8, 9))
                .when(pl.Series((r > 0.5) & (r < 0.5 + dirt.excel_mangled)))
                .then(c.str.slice(0, 1) + "." + c.str.slice(1, 5) + "E+17")
                .when(c.str.ends_with("X") & pl.Series(r < 0.3))
                .then(c.str.slice(0, 17) + "x")
                .otherwise(c)
            )
        elif col.type == "division" and source != "divisions":
            unknown = pl.Series(rng.random(n) < dirt.unknown_division)
            e = pl.when(unknown).then(c.str.slice(0, 9) + "999").otherwise(c)
        else:
            e = c.cast(pl.String)
            if col.name == "name":
                pad = pl.Series(rng.random(n) < dirt.fullwidth_space)
                e = pl.when(pad).then(pl.lit("\u3000") + e + pl.lit(" ")).otherwise(e)
        cols.append(e.alias(col.name))
    out = frame.select(cols)
    if spec.kind == "event" or source in ("roster", "deposits"):
        dup = out.filter(pl.Series(rng.random(n) < dirt.duplicate_row))
        out = pl.concat([out, dup])
    return out


class Writer:
    """Streams one month's files: appends county chunks to each source's file(s)."""

    def __init__(self, month_dir: Path):
        self.dir = month_dir
        self.handles: dict[str, list] = {}
        self.xlsx: dict[str, list[pl.DataFrame]] = {}
        self.rows: dict[str, int] = {}

    def _header(self, source: str, columns: list[str]) -> list[str]:
        zh = STYLE.get(source, PLAIN)[1]
        spec = SOURCES[source]
        return [spec.column(c).zh if zh else c for c in columns]

    def write(self, source: str, frame: pl.DataFrame, chunk: int) -> None:
        encoding, _, is_xlsx, parts, shuffle = STYLE.get(source, PLAIN)
        columns = [c.name for c in SOURCES[source].columns]
        if shuffle:
            columns = columns[1:] + columns[:1]
        frame = frame.select(columns)
        self.rows[source] = self.rows.get(source, 0) + frame.height
        if is_xlsx:
            self.xlsx.setdefault(source, []).append(frame)
            return
        if source not in self.handles:
            self.handles[source] = []
            for name in file_names(source):
                fh = open(self.dir / name, "wb")  # noqa: SIM115 - closed in close()
                header = ",".join(self._header(source, columns)) + "\n"
                fh.write(_encode(header, encoding, bom=True))
                self.handles[source].append(fh)
        handles = self.handles[source]
        size = -(-frame.height // len(handles)) or 1
        for fh, part in zip(handles, frame.iter_slices(size), strict=False):
            buf = io.StringIO()
            part.write_csv(buf, include_header=False, quote_style="necessary")
            fh.write(_encode(buf.getvalue(), encoding, bom=False))

    def close(self) -> None:
        for handles in self.handles.values():
            for fh in handles:
                fh.close()
        for source, frames in self.xlsx.items():
            _write_xlsx(
                self.dir / f"{source}.xlsx", pl.concat(frames), self._header(source, frames[0].columns)
            )


def _encode(text: str, encoding: str, bom: bool) -> bytes:
    if encoding == "utf-8-sig":
        return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
    if encoding == "gbk-safe":  # a GBK file: every character here is within GBK
        return text.encode("gbk")
    return text.encode(encoding)


def _write_xlsx(path: Path, frame: pl.DataFrame, header: list[str]) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    wb.set_properties({"created": dt.datetime(2024, 1, 1)})  # same seed, same bytes
    ws = wb.add_worksheet("Sheet1")
    ws.write_row(0, 0, header)
    for r, row in enumerate(frame.iter_rows(), start=1):
        for c, value in enumerate(row):
            if value is None:
                continue
            # Excel habit: an ID number that someone typed as a number is stored as one.
            if frame.columns[c] == "id_number" and value.endswith("E+17"):
                ws.write_number(r, c, float(value))
            else:
                ws.write_string(r, c, value)
    wb.close()


def county_chunks(
    households: int, county_size: int = HOUSEHOLDS_PER_COUNTY
) -> Iterator[tuple[int, int, str]]:
    if not 0 < county_size <= HOUSEHOLDS_PER_COUNTY:
        raise ValueError(f"households per county: 1 to {HOUSEHOLDS_PER_COUNTY}, not {county_size}")
    n_counties = max(1, -(-households // county_size))
    for c in range(n_counties):
        yield c, min(county_size, households - c * county_size), county_code(c)


# What township staff conclude after a home visit (核查结论), by what the generator planted:
# a household really in hardship is mostly helped according to its category; one that is not
# is mostly found ineligible. Visits happen for 85% of pushed leads within the month after.
HELPED = {
    "低保": ["临时救助", "维持现状"],
    "特困": ["临时救助", "维持现状"],
    "低保边缘": ["纳入低保", "临时救助"],
}
HELPED_OTHER = ["纳入低保边缘", "临时救助", "转介"]
NOT_HELPED = ["不符合条件", "维持现状", "无法核实"]
REFERRED_TO = ["人社部门", "教育部门", "住建部门", "残联", "医保部门"]


def outcomes(
    month: str, seed: int, landing: Path, home: Path | None, answered: frozenset[str] = frozenset()
) -> pl.DataFrame:
    """The townships' outcomes for last month's open cases: leads, doubtful records and re-check
    draws (empty without a home to read them from), none for the ids a township has `answered`
    (its returned outcome is the one that counts, never replaced by an invented one)."""
    schema = {c.name: pl.String for c in SOURCES["outcomes"].columns}
    start, _ = month_bounds(month)
    prev = (start - dt.timedelta(days=1)).strftime("%Y-%m")
    lake = Home(home) if home else None
    cases_file = lake.partition("_cases", prev) / "data.parquet" if lake else None
    if cases_file is None or not cases_file.exists():
        return pl.DataFrame(schema=schema)
    categories = lake.read("_household_month", prev, ["household_id", "category"])
    leads = (
        pl.read_parquet(cases_file)
        .filter(pl.col("sheet").is_not_null())  # on the lists: neither closed nor queued
        .join(categories, on="household_id", how="left")
        .select("household_id", "category", lead_id="case_id")
    )
    truth_file = landing / "_truth" / f"{prev}.csv"
    planted = pl.read_csv(truth_file).filter(pl.col("kind") == "hardship") if truth_file.exists() else None
    real = leads["household_id"].is_in(planted["household_id"].implode()) if planted is not None else None
    rng = np.random.default_rng([seed, 99, month_index(month)])
    n = leads.height
    pick = rng.integers(0, 2, n)
    options = leads.select(
        pl.col("category").replace_strict(HELPED, default=HELPED_OTHER, return_dtype=pl.List(pl.String))
    ).to_series()
    helped = options.list.get(pl.Series(rng.integers(0, 3, n)) % options.list.len()).to_numpy()
    not_helped = np.array(NOT_HELPED)[np.minimum(pick + (rng.random(n) < 0.1), 2)]
    outcome = np.where(real.to_numpy() if real is not None else np.zeros(n, bool), helped, not_helped)
    frame = (
        pl.DataFrame(
            {
                "lead_id": leads["lead_id"],
                "visited_on": np.datetime64(start) + rng.integers(0, 25, n).astype("timedelta64[D]"),
                "outcome": outcome,
            }
        )
        .with_columns(
            referred_to=pl.when(pl.col("outcome") == "转介").then(
                pl.Series(np.array(REFERRED_TO)[rng.integers(0, 5, n)])
            ),
            note=pl.lit(None, pl.String),
            upload_sha256=pl.lit(None, pl.String),
        )
        .filter(pl.Series(rng.random(n) < 0.85))
    )
    return frame.filter(~pl.col("lead_id").is_in(sorted(answered))).select(list(schema))


def clear_own(month_dir: Path) -> list[Path]:
    """Remove the files the generator writes (`OWN_FILES`) from a month's folder; returns the
    files kept, which it did not write."""
    kept = []
    for path in sorted(month_dir.iterdir()):
        if path.is_file() and path.name in OWN_FILES:
            path.unlink()
        elif path.is_file():
            kept.append(path)
    return kept


def answered_ids(landing: Path, month: str) -> tuple[list[Path], frozenset[str]]:
    """The townships' `outcomes.part-<township>.csv` files (the portal's) of the month and the
    months after it, and the ids they answer. Raises DeliveryError naming a part that cannot be
    read: the generator would not know which outcomes it must not invent."""
    parts = [
        p
        for p in sorted(landing.glob("*/outcomes.part-*.csv"))
        if p.parent.name >= month and (m := DELIVERY_RE.match(p.name)) and m["part"]
    ]
    if not parts:
        return [], frozenset()
    return parts, frozenset(read_source("outcomes", parts).frame["lead_id"].drop_nulls())


def _say_kept(landing: Path, kept: list[Path], parts: list[Path], ids: frozenset[str], say) -> None:
    for path in kept:
        say(f"kept {path.relative_to(landing)} (not written by the generator)")
    if parts:
        named = ", ".join(str(p.relative_to(landing)) for p in parts)
        say(f"no outcome invented for the {len(ids)} ids the townships answered in {named}")


def return_outcomes(month: str, seed: int, landing: Path, home: Path) -> int:
    """Rewrite the `outcomes` delivery of a generated month with the townships' outcomes of the
    home's cases of the month before (the loop closing, for a month generated before its previous
    month was run). Returns the rows written."""
    month_dir = landing / month
    for name in file_names("outcomes"):
        (month_dir / name).unlink(missing_ok=True)
    _, answered = answered_ids(landing, month)
    writer = Writer(month_dir)
    writer.write("outcomes", outcomes(month, seed, landing, home, answered), 0)
    writer.close()
    return writer.rows["outcomes"]


def generate(
    month: str,
    households: int,
    seed: int,
    landing: Path,
    dirt: Dirt | None = None,
    progress=None,
    home: Path | None = None,
    ready: bool = True,
    county_size: int = HOUSEHOLDS_PER_COUNTY,
    say: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Write one month of deliveries under `landing/<month>/` and its truth file; return rows per file.
    With `ready`, the readiness marker `_READY` is written last (contract version 2).

    With `home`, the `outcomes` delivery reports home visits of last month's pushed leads there,
    except for the ids a township's `outcomes.part-<township>.csv` already answers. Files the
    generator did not write stay in the folder, each named to `say`."""
    dirt = dirt or Dirt()
    month_dir = landing / month
    month_dir.mkdir(parents=True, exist_ok=True)
    kept = clear_own(month_dir)
    parts, answered = answered_ids(landing, month)
    _say_kept(landing, kept, parts, answered, say or (lambda _: None))
    truth_dir = landing / "_truth"
    truth_dir.mkdir(exist_ok=True)
    writer = Writer(month_dir)
    geo = geography(households, county_size)
    earlier = [d for d in landing.iterdir() if d.is_dir() and d.name < month and any(d.glob("divisions.*"))]
    if not earlier:
        divs = geo.select("division_code", "name")
        writer.write("divisions", divs, 0)
    truths = []
    returned = outcomes(month, seed, landing, home, answered)
    changes = None
    if home:  # the townships' decisions on them, and what the rosters show of those approved (issue 36)
        decisions.propose(month, seed, returned, home)
        changes = decisions.shown(month, home)
    for c, n, county in county_chunks(households, county_size):
        hh, persons = county_population(seed, c, n, county)
        sources, truth = month_deliveries(month, seed, c, hh, persons)
        sources["roster"] = decisions.on_roster(sources["roster"], changes)
        rng = np.random.default_rng([seed, c, 10_000 + month_index(month)])
        for name, frame in sources.items():
            writer.write(name, _dirty(name, frame, rng, dirt), c)
        truths.append(truth)
        if progress:
            progress(n)
    writer.write("outcomes", returned, 0)
    writer.close()
    pl.concat(truths).write_csv(truth_dir / f"{month}.csv")
    if ready:  # last, as the data team does when the month's folder is complete
        (month_dir / READY).touch()
    return writer.rows
