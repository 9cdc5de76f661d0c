"""The rules' own test cases (tests/rules/*.yaml, openfisca style): a household in, the indicator
band scores, the index, the fired rules, the colour and the action out. Every indicator and every
warning rule must be exercised by at least one case."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import polars as pl
import pytest
import yaml

from jobs.assess.households import FEATURES
from jobs.assess.leads import fired_column, make_leads, warn
from jobs.assess.score import points_column, score, top_factors
from safetynet.rules import load_rules

CASES_DIR = Path(__file__).parent / "rules"
RULES = load_rules()
CASES = [
    case | {"file": p.name}
    for p in sorted(CASES_DIR.glob("*.yaml"))
    for case in yaml.safe_load(p.read_text())
]
DEFAULTS = {
    "household_id": "H1",
    "division_code": "430101001001",
    "township_code": "430101001",
    "county_code": "430101",
    "category": "低保",
    "residence_type": "农村",
    "members": 1,
    "dibao_standard": 650.0,
}


# not known unless a case gives them (the need figure of 刚性支出困难: none, a visit may be needed)
UNKNOWN = {"income_after_rigid_per_capita", "income_after_rigid_ratio", "counted_income_ratio"}


def household(values: dict) -> pl.DataFrame:
    row = {}
    for column, dtype in FEATURES.items():
        value = values.get(column, DEFAULTS.get(column))
        if value is None and dtype not in (pl.String, pl.Date) and column not in UNKNOWN:
            value = 0
        if dtype == pl.Date and isinstance(value, str):
            value = dt.date.fromisoformat(value)
        row[column] = value
    return pl.DataFrame([row], schema=FEATURES)


def run_case(case: dict):
    month = str(case["month"])[:7]
    scored = score(household(case["input"]), RULES, month, case.get("missing_sources", []))
    warned = warn(scored, RULES, month)
    return scored, make_leads(warned, RULES, month, None)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_rule_case(case):
    scored, leads = run_case(case)
    expected = case["expected"]
    row = scored.row(0, named=True)
    for ind_id, band_score in expected.get("indicators", {}).items():
        indicator = next(i for i in RULES.indicators if i.id == ind_id)
        assert row[points_column(indicator)] == pytest.approx(band_score * indicator.weight), ind_id
    if "score" in expected:
        low, high = expected["score"]
        assert low <= row["hardship_score"] <= high, row["hardship_score"]
    for dim, value in expected.get("dimensions", {}).items():
        assert row[f"dim_{dim}"] == pytest.approx(value), dim
    for key in ("hardship_level", "incomplete_dimensions"):
        if key in expected:
            assert row[key] == expected[key]
    fired = sorted(leads["rule_ids"][0]) if leads.height else []
    assert fired == sorted(expected["leads"])
    if leads.height:
        lead = leads.row(0, named=True)
        assert lead["lead_id"] == f"XS{case['month'].replace('-', '')[:6]}-H1"
        # pushed unless the case says its rules found no need (visit: need); then held, saying why
        assert lead["pushed"] == expected.get("pushed", True), lead["held_reason"]
        for text in expected.get("held_contains", []):
            assert str(text) in (lead["held_reason"] or "")
        for key, column in (("level", "level"), ("urgency", "urgency"), ("action", "recommended_action")):
            if key in expected:
                assert lead[column] == expected[key], key
        for text in expected.get("reasons_contain", []):
            assert str(text) in lead["reasons"]


def test_every_indicator_and_rule_has_a_case():
    indicators = {i for c in CASES for i in c["expected"].get("indicators", {})}
    rules = {r for c in CASES for r in c["expected"]["leads"]}
    assert sorted({i.id for i in RULES.indicators} - indicators) == []
    assert sorted({w.id for w in RULES.warnings} - rules) == []


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([0, 0, 0, 0], ""),  # no hardship points: no factor
        ([1, 3, 2, 0], "b、c、a"),  # most first
        ([2, 2, 2, 2], "a、b、c"),  # ties in rule order, three at most
        ([0, 5, 0, 5], "b、d"),  # only indicators with points
        ([0, 0.5, 0, 0], "b"),
    ],
)
def test_top_factors_most_points_first_ties_in_rule_order(points, expected):
    indicators = [
        dataclasses.replace(next(i for i in RULES.indicators if i.direction == "hardship"), id=c, label=c)
        for c in "abcd"
    ]
    frame = pl.DataFrame({points_column(i): [float(v)] for i, v in zip(indicators, points, strict=True)})
    assert top_factors(frame, indicators).to_list() == [expected]


def test_band_edges_are_half_open():
    # 5,000 yuan is in the [5000, 20000) band of medical_out_of_pocket, 4,999.99 in [2000, 5000).
    scored = score(
        pl.concat([household({"oop_medical_12m": v}) for v in (4999.99, 5000, 20000)]), RULES, "2026-09", []
    )
    ind = next(i for i in RULES.indicators if i.id == "medical_out_of_pocket")
    assert (scored[points_column(ind)] / ind.weight).to_list() == pytest.approx([0.4, 0.8, 1.0])


def test_a_lead_is_not_pushed_again_unless_it_escalates():
    first = warn(score(household({"oop_medical_12m": 6000}), RULES, "2026-08", []), RULES, "2026-08")
    august = make_leads(first, RULES, "2026-08", None)
    previous = august.select("household_id", "lead_id", "rule_ids", level_rank=pl.lit(1))
    same = warn(score(household({"oop_medical_12m": 6000}), RULES, "2026-09", []), RULES, "2026-09")
    september = make_leads(same, RULES, "2026-09", previous)
    assert september["pushed"].to_list() == [False]
    assert september["suppressed_by"].to_list() == august["lead_id"].to_list()
    worse = warn(
        score(household({"oop_medical_12m": 6000, "event_disaster_damage": 3}), RULES, "2026-09", []),
        RULES,
        "2026-09",
    )
    escalated = make_leads(worse, RULES, "2026-09", previous)
    assert escalated["pushed"].to_list() == [True] and escalated["level"].to_list() == ["红"]
    assert fired_column(RULES.warnings[0]).startswith("fired_")
