"""Other provinces' requests about our persons (跨省核对, issue 35, item 5): the month's
`cross_region_requests` delivery, as check centres elsewhere send it through the national platform.

A few requests a month about persons on the month's roster, from provinces around ours, each for
some of the seven items, 申请核对 or 定期复核, due 15 days after the month's end; among them always
one without an authorisation reference (to be refused) and one about a person registered nowhere
in the province (answered 否 or 无数据, never 是). Deterministic for a seed and month.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import polars as pl

from safetynet.contract import CROSS_REGION_ITEMS
from safetynet.ids import check_character
from safetynet.months import month_bounds

ASKING = ("32", "33", "36", "42", "44", "45", "50", "51", "52", "53")  # provinces around Hunan (43)
PER_MONTH = 6  # requests from the roster each month, plus the one about a stranger
REPLY_DAYS = 15  # after the month's end: what the asking provinces give in the demo
COLUMNS = ("request_id", "region", "id_number", "name", "items", "purpose", "authorisation_ref", "reply_by")


def _request_id(region: str, ours: str, month: str, id_number: str) -> str:
    """Ids in the asking province's own form (as ours, jobs/cross_region): XR, theirs, ours, month."""
    digest = hashlib.sha256(f"{id_number}|{region}|{month}".encode()).hexdigest()[:10].upper()
    return f"XR{region}{ours}{month.replace('-', '')}-{digest}"


def stranger(month: str, seed: int) -> str:
    """A valid ID number of a person born in another province (Guangdong, 440304): held by no
    department of ours."""
    body = f"440304198{seed % 10}{month[5:7]}{(seed * 7 + int(month[5:7])) % 28 + 1:02d}{seed % 1000:03d}"
    return body + check_character(body)


def requests(month: str, seed: int, roster: pl.DataFrame, ours: str = "43") -> pl.DataFrame:
    """The month's requests about persons of `roster` (`id_number`, `name`; the clean rows of one
    county are enough), as text columns ready for the Writer."""
    y, m = map(int, month.split("-"))
    rng = np.random.default_rng([seed, 35, y, m])
    people = roster.select("id_number", "name").unique("id_number").sort("id_number")
    picked = people[rng.choice(people.height, size=min(PER_MONTH, people.height), replace=False).tolist()]
    picked = pl.concat([picked, pl.DataFrame({"id_number": [stranger(month, seed)], "name": ["陈晓"]})])
    n = picked.height
    regions = [ASKING[i] for i in rng.integers(0, len(ASKING), size=n)]
    chosen = [set(rng.choice(CROSS_REGION_ITEMS, rng.integers(2, 5), replace=False)) for _ in range(n)]
    items = [";".join(i for i in CROSS_REGION_ITEMS if i in asked) for asked in chosen]
    purposes = ["申请核对" if k % 2 else "定期复核" for k in range(n)]
    ids = picked["id_number"].to_list()
    refs = [f"SQ{regions[k]}{month.replace('-', '')}{k + 1:03d}" for k in range(n)]
    refs[0] = None  # sent without the signed authorisation: refused with its reason
    reply_by = (month_bounds(month)[1] + dt.timedelta(days=REPLY_DAYS)).isoformat()
    return pl.DataFrame(
        {
            "request_id": [_request_id(regions[k], ours, month, ids[k]) for k in range(n)],
            "region": regions,
            "id_number": ids,
            "name": picked["name"].to_list(),
            "items": items,
            "purpose": purposes,
            "authorisation_ref": refs,
            "reply_by": [reply_by] * n,
        },
        schema=dict.fromkeys(COLUMNS, pl.String),
    ).sort("request_id")
