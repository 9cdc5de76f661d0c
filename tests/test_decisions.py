"""Assistance decisions (issue 36): the rules file and its loader; the run's side (decisions.csv, the
roster's confirmation, v_decisions and the funnel) on tiny frames, in-process."""

from __future__ import annotations

import shutil

import pytest

from safetynet.errors import RulesError
from safetynet.rules import load_decisions
from safetynet.versions import RULES_DIR

DECISIONS = "decisions/decisions.yaml"

# --- the rules ----------------------------------------------------------------------------------------


def test_the_committed_decision_rules_load():
    d = load_decisions("2026-03")
    assert list(d.kinds) == ["纳入低保", "纳入特困", "纳入低保边缘", "临时救助", "单人保", "调整金额", "退出"]
    assert (d.confirm_within_months, d.urgent_help_hours, d.tekun_factor) == (2, 48, 1.3)
    assert d.kinds["单人保"].members == "one" and d.kinds["单人保"].category == "低保"
    assert d.kinds["临时救助"].confirmed_by == "approval" and d.kinds["退出"].category is None


@pytest.mark.parametrize(
    ("kind", "income", "standard", "members", "member_income", "expected"),
    [
        ("纳入低保", 300.0, 600, 3, None, (900.0, None)),  # (600 - 300) x 3
        ("纳入低保", 700.0, 600, 3, None, (0.0, None)),  # never below 0
        ("单人保", 450.0, 600, 4, 100.0, (500.0, None)),  # one person: 600 - the member's own 100
        ("纳入特困", 0.0, 600, 2, None, (1560.0, None)),  # 600 x 1.3 x 2
        ("纳入低保边缘", 650.0, 600, 3, None, (None, None)),
        ("临时救助", 300.0, 600, 3, None, (None, None)),  # one-off: entered by the office
        ("退出", 900.0, 600, 3, None, (None, None)),
    ],
)
def test_amounts_are_prefilled_per_kind(kind, income, standard, members, member_income, expected):
    assert load_decisions().amount(kind, income, standard, members, member_income) == expected


@pytest.mark.parametrize(
    ("kind", "one_off", "approver"),
    [
        ("临时救助", 800.0, "township"),
        ("临时救助", 1000.0, "township"),
        ("临时救助", 1500.0, "county"),
        ("纳入低保", None, "county"),
        ("单人保", None, "county"),
    ],
)
def test_only_small_temporary_assistance_is_approved_by_the_township(kind, one_off, approver):
    assert load_decisions().approver(kind, one_off) == approver


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    target = tmp_path_factory.mktemp("decision-rules") / "rules"
    shutil.copytree(RULES_DIR, target)
    return target


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("{value: 2, reference", "{value: 0, reference", "confirm_within_months.values", "at least 1"),
        ("confirm_within_months:", "confirm_within_month:", "confirm_within_month", "did you mean"),
        (
            "        退出: {category: null, members: household, amount: none, confirmed_by: roster}\n",
            "",
            "kinds",
            "each kind",
        ),
        (
            "单人保: {category: 低保, members: one, amount: single",
            "单人保: {category: 低保, members: one, amount: dibao",
            "kinds.values",
            "one member's amount",
        ),
        ("amount: tekun,", "amount: tekunn,", "kinds.values", "must be one of"),
        (
            "amount: none, confirmed_by: roster}\n        临时",
            "amount: none, confirmed_by: roster, self_approval: true}\n        临时",
            "self_approval",
            "one-off",
        ),
        ("{value: 1.3,", '{value: "1.3",', "tekun_factor", "must be"),
    ],
)
def test_a_broken_decisions_file_is_refused_naming_file_key_and_problem(root, old, new, key, problem):
    text = (RULES_DIR / DECISIONS).read_text(encoding="utf-8")
    assert old in text
    (root / DECISIONS).write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_decisions(root=root)
    message = str(caught.value)
    assert message.startswith(f"rules/{DECISIONS}: ") and key in message and problem in message, message
