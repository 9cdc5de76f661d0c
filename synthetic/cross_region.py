"""The synthetic world's cross-region checks (issue 35): registrations elsewhere, and the answers other
provinces give to the requests the home's last published month sent out.

About 1% of persons are registered in another province (a county of a real-looking code there, 6 or
12 digits) and 2% in another prefecture of the province (跨市): the same persons every month of a seed.
With a home, `answers` reads the outgoing ledger of its latest published month (`_xr_requests`) and
answers its requests: most in full and on time, some items `无数据`, one in ten a month after its
reply_by (delivered the month after), and for a few recipient households a home (不动产 是, with its
area) or a deposit above the asset limit found only there; the truth names those households.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import polars as pl

from safetynet.contract import CROSS_REGION_ITEMS, SOURCES
from safetynet.lake import Home
from safetynet.months import add_months, month_bounds

PROVINCE = "43"  # the generated province (synthetic.generate.county_code)
# counties elsewhere: Beijing Chaoyang, Shanghai Pudong, Nanjing Gulou, Hangzhou Xihu, Xiamen Siming,
# Wuhan Wuchang, Guangzhou Tianhe, Chengdu Wuhou, Chongqing Yuzhong, Xi'an Yanta
OTHER_COUNTIES = (
    "110105",
    "310115",
    "320106",
    "330106",
    "350203",
    "420106",
    "440106",
    "510107",
    "500103",
    "610113",
)
PER_10000_PROVINCE = 100  # 1% of persons registered in another province
PER_10000_CITY = 200  # 2% in another prefecture of the province
KNOWN_FROM = 30  # 2026-07: the month index from which late-known registrations reach the roster
PREFECTURES = 13  # 4301-4313: the province's prefectures a registration may name
LATE_IN_10 = 1  # answers a month after reply_by
NO_DATA = 0.06  # an item the other province's department has no data for
PLANTED = 0.2  # of the requests about recipient households: a home or a deposit found there
HOME_AREA = (70.0, 150.0)
DEPOSIT = (250_000.0, 400_000.0)  # above any household's asset limit
ANSWERED = {c.name: pl.String for c in SOURCES["cross_region_answers"].columns}
TRUTH = {"household_id": pl.String, "kind": pl.String, "detail": pl.String, "month": pl.String}


def _digits(expr: pl.Expr, width: int) -> pl.Expr:
    return expr.cast(pl.String).str.zfill(width)


def stable_hash(ids: pl.Expr, seed: int) -> pl.Expr:
    """A number drawn from each id and `seed`: the first 8 bytes of sha256("<id>|<seed>"), the same
    on every platform and Polars version (Expr.hash is not stable across them)."""

    def draw(batch: pl.Series) -> pl.Series:
        values = [
            int.from_bytes(hashlib.sha256(f"{v}|{seed}".encode()).digest()[:8], "big") >> 1 for v in batch
        ]
        return pl.Series(values, dtype=pl.Int64)

    return ids.map_batches(draw, return_dtype=pl.Int64)


def hukou(index: int) -> pl.Expr:
    """`hukou_division_code` of each person (`id_number`, `division_code`): another province's county
    for 1%, another prefecture of the province for 2%, else null; a 12-digit code for half of them.
    Drawn from the id number (itself drawn from the seed): the same person, the same registration;
    a third of them reach the roster in one of the months from 2026-07 to 2026-12 (month index
    `index`: synthetic.generate.month_index), so that months ask about members first seen then."""
    draw = stable_hash(pl.col("id_number"), 35) % 10_000
    pick = stable_hash(pl.col("id_number"), 36) % 1_000_000
    other = pl.lit(pl.Series(OTHER_COUNTIES)).get(pick % len(OTHER_COUNTIES))
    own = pl.col("division_code").str.slice(2, 2).cast(pl.Int64)
    prefecture = (own + pick % (PREFECTURES - 1)) % PREFECTURES + 1  # never the household's own
    city = pl.concat_str(pl.lit(PROVINCE), _digits(prefecture, 2), _digits(pick % 5 + 1, 2))
    code = (
        pl.when(draw < PER_10000_PROVINCE)
        .then(other)
        .when(draw < PER_10000_PROVINCE + PER_10000_CITY)
        .then(city)
    )
    village = pl.concat_str(_digits(pick // 10 % 9 + 1, 3), _digits(pick // 100 % 20 + 1, 3))
    known = pl.when(pick // 2000 % 3 == 0).then(pick // 6000 % 6 + KNOWN_FROM).otherwise(-1)
    full = pl.when((pick // 1000) % 2 == 0).then(pl.concat_str(code, village)).otherwise(code)
    return pl.when(known <= index).then(full)


def _late(request_id: str) -> bool:
    return int(hashlib.sha256(request_id.encode()).hexdigest()[:8], 16) % 10 < LATE_IN_10


def _asked(home: Path, month: str) -> tuple[pl.DataFrame, str] | None:
    """The ledger of the home's latest published month before `month`, and that month."""
    lake = Home(home)
    for m in reversed([m for m in lake.months() if m < month]):
        if (ledger := lake.read("_xr_requests", m)) is not None:
            roster = lake.read("roster", m, ["household_id", "category"])
            recipients = (
                roster.filter(pl.col("category").is_in(["低保", "特困"]))["household_id"].unique()
                if roster is not None
                else pl.Series([], dtype=pl.String)
            )
            return ledger.with_columns(recipient=pl.col("household_id").is_in(recipients.implode())), m
    return None


def due(ledger: pl.DataFrame, last: str) -> pl.DataFrame:
    """The requests answered this month: the last month's, but the late ones, and the late ones of
    the month before it; only the items still pending."""
    late = ledger["request_id"].map_elements(_late, return_dtype=pl.Boolean)
    return (
        ledger.with_columns(late=late)
        .filter(
            pl.col("pending_items").is_not_null()
            & (
                ((pl.col("requested_month") == last) & ~pl.col("late"))
                | ((pl.col("requested_month") == add_months(last, -1)) & pl.col("late"))
            )
        )
        .sort("request_id")
    )


def answers(month: str, seed: int, home: Path | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Other provinces' answers delivered in `month` (the `cross_region_answers` columns, as text) and
    the truth planted in them (household_id, kind, detail, month)."""
    asked = _asked(home, month) if home else None
    if asked is None:
        return pl.DataFrame(schema=ANSWERED), pl.DataFrame(schema=TRUTH)
    return answer(*asked, month, seed)


def answer(ledger: pl.DataFrame, last: str, month: str, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The answers to the `ledger`'s requests (with `recipient`: whether the household receives dibao
    or tekun) due in `month`, `last` being the ledger's month; and their planted truth."""
    requests = due(ledger, last)
    rng = np.random.default_rng([seed, 35, int(month.replace("-", ""))])
    _, month_end = month_bounds(month)
    rows, truth = [], []
    for r in requests.iter_rows(named=True):
        planted = r["recipient"] and rng.random() < PLANTED
        kind = ("不动产" if rng.random() < 0.5 else "存款") if planted else None
        if r["late"]:
            on = r["reply_by"] + dt.timedelta(days=int(rng.integers(25, 32)))
        else:
            on = r["requested_on"] + dt.timedelta(
                days=int(rng.integers(2, (r["reply_by"] - r["requested_on"]).days + 1))
            )
        on = min(on, month_end)
        for item in r["pending_items"].split(";"):
            found, value, detail = (
                ("无数据", None, "无该项数据") if rng.random() < NO_DATA else ("否", None, None)
            )
            if item == kind == "不动产":
                area = round(float(rng.uniform(*HOME_AREA)), 1)
                found, value, detail = "是", f"{area}", f"住宅，建筑面积{area}平方米，登记于{r['region']}省"
            elif item == kind == "存款":
                balance = round(float(rng.uniform(*DEPOSIT)), 2)
                found, value, detail = "是", f"{balance:.2f}", "个人存款余额"
            rows.append(
                (r["request_id"], r["id_number"], item, found, value, detail, on.isoformat(), r["region"])
            )
        if kind and kind in r["pending_items"].split(";"):
            detail = (
                "second_property_other_province" if kind == "不动产" else "excess_deposits_other_province"
            )
            truth.append((r["household_id"], "ineligible", detail, month))
    frame = pl.DataFrame(rows, schema=ANSWERED, orient="row")
    order = {item: i for i, item in enumerate(CROSS_REGION_ITEMS)}
    frame = frame.sort("request_id", pl.col("item").replace_strict(order, return_dtype=pl.Int32))
    return frame, pl.DataFrame(truth, schema=TRUTH, orient="row").unique(maintain_order=True)
