"""The rule files' schema (safetynet/rule_schema.py): a tiny file loads, a broken one is refused in
one line naming the file, the key and the problem; a dated parameter gives the value in force."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from safetynet.errors import RulesError
from safetynet.rules import load_population, load_rules
from safetynet.versions import RULES_DIR

CASES = "outcomes/cases.yaml"
GOOD = """\
description: 案件的存续规则
reference: 测试
expire_after_months:
  values:
    "2024-01-01": {value: 3, reference: 旧规定}
    "2027-01-01": {value: 4, reference: 新规定}
closed_cover_months:
  values:
    "2024-01-01": {value: 12, reference: 规定}
county_urgency:
  values:
    "2024-01-01": {value: [紧急], reference: 规定}
yield_outcomes:
  values:
    "2024-01-01": {value: [纳入低保, 转介], reference: 规定}
withdraw_outcomes:
  values:
    "2024-01-01": {value: [退出], reference: 规定}
reopen_outcomes:
  values:
    "2024-01-01": {value: [纳入低保, 退出], reference: 规定}
kpi_months:
  values:
    "2024-01-01": {value: 12, reference: 规定}
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    target = tmp_path_factory.mktemp("schema") / "rules"
    shutil.copytree(RULES_DIR, target)
    return target


def write(root, text):
    (root / CASES).write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("month", "expire"),
    [("2026-09", 3), ("2027-01", 4), ("2027-03", 4), (None, 4)],  # no month: the latest value
)
def test_a_good_file_loads_with_the_value_in_force_in_the_month(root, month, expire):
    write(root, GOOD)
    cases = load_rules(root, month=month).cases
    assert cases.expire_after_months == expire
    assert cases.closed_cover_months == 12 and cases.yield_outcomes == ("纳入低保", "转介")


@pytest.mark.parametrize(
    ("old", "new", "month", "key", "problem"),
    [
        # an unknown key: a typo of a known one is named with it
        ("kpi_months:", "kpi_month:", None, "kpi_month", "is not a known key (did you mean 'kpi_months'?)"),
        ("kpi_months:", "kpi_months_x: 1\nkpi_months:", None, "kpi_months_x", "is not a known key"),
        # a wrong type, in a dated value and at the top
        (
            "{value: 3, reference: 旧规定}",
            "{value: three, reference: 旧规定}",
            None,
            "expire_after_months.values.2024-01-01.value",
            "must be int, not str 'three'",
        ),
        ("reference: 测试", "reference: [测试]", None, "reference", "must be str, not list"),
        (
            "{value: [退出], ",
            "{value: 退出, ",
            None,
            "withdraw_outcomes.values.2024-01-01.value",
            "must be a list",
        ),
        # a missing key, at the top and in a dated value
        (
            'kpi_months:\n  values:\n    "2024-01-01": {value: 12, reference: 规定}\n',
            "",
            None,
            "kpi_months",
            "is missing",
        ),
        (
            "{value: 12, reference: 规定}\ncounty",
            "{value: 12}\ncounty",
            None,
            "closed_cover_months.values.2024-01-01.reference",
            "is missing",
        ),
        # a value with no date: the undated form of old rule folders
        (
            'kpi_months:\n  values:\n    "2024-01-01": {value: 12, reference: 规定}\n',
            "kpi_months: 12\n",
            None,
            "kpi_months",
            "is not dated: give values: {YYYY-MM-DD: {value: ..., reference: ...}}",
        ),
        (
            '"2027-01-01": {value: 4',
            '"2027-13-01": {value: 4',
            None,
            "expire_after_months.values.2027-13-01",
            "is not a date",
        ),
        (
            '"2027-01-01": {value: 4',
            "2027-01-01: {value: 4",
            "2027-02",
            None,
            None,
        ),  # unquoted dates read alike
        # no value in force yet in the month asked for
        (
            '"2024-01-01": {value: 3',
            '"2026-01-01": {value: 3',
            "2025-06",
            "expire_after_months",
            "has no value in force on 2025-06-01 (the first takes effect on 2026-01-01)",
        ),
        (
            "{value: 12, reference: 规定}\ncounty",
            "{value: 0, reference: 规定}\ncounty",
            None,
            "closed_cover_months.values.2024-01-01.value",
            "must be at least 1, not 0",
        ),
    ],
)
def test_a_broken_file_names_file_key_and_problem_in_one_line(root, old, new, month, key, problem):
    assert old in GOOD
    write(root, GOOD.replace(old, new, 1))
    if key is None:
        assert load_rules(root, month=month).cases.expire_after_months == 4
        return
    with pytest.raises(RulesError) as err:
        load_rules(root, month=month)
    message = str(err.value)
    assert message.startswith(f"rules/{CASES}: key '{key}': "), message
    assert problem in message and "\n" not in message


def test_a_document_that_is_not_a_mapping_is_refused_naming_the_file(root):
    write(root, "- 3\n")
    with pytest.raises(RulesError, match=rf"^rules/{CASES}: the document must be a mapping"):
        load_rules(root)


def test_the_committed_parameters_are_dated_with_references():
    """Every value of the dated files comes from the committed rules as it did before they were
    dated: the literals moved into rules/ keep the values the code held (issue 31)."""
    p = load_population()
    assert p.stage_rank == {
        "学前": 0,
        "小学": 1,
        "初中": 2,
        "高中": 3,
        "中职": 3,
        "高职": 4,
        "本科": 4,
        "研究生": 5,
    }
    assert p.upper_stages == ("高中", "中职", "高职", "本科", "研究生")
    assert p.noticed_within_months == 11 and p.unemployed_month_days == 30
    assert (p.working_age_from, p.working_age_to) == (16, 59)
    within = load_rules().means_limits.applied_for_within
    assert {k: set(v) for k, v in within.items()} == {
        "低保": {"低保", "单人保"},
        "特困": {"低保", "单人保"},
        "低保边缘": {"低保", "低保边缘"},
    }


BASE = "parameters/social_insurance_minimum_base.yaml"
BY_PLACE = """\
description: 缴费基数下限
unit: yuan per month
reference: 测试
values:
  "2024-01-01":
    reference: 2024年通知
    value: {default: 3600, "4301": 3900}
  "2026-01-01":
    reference: 2026年通知
    value: {default: 3800}
"""


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("", "", None, None),
        ("    reference: 2026年通知\n", "", "values.2026-01-01.reference", "is missing"),
        ("{default: 3800}", "{defualt: 3800}", "values.2026-01-01.value", "must map 'default'"),
        (
            '"4301": 3900',
            '"43x1": 3900',
            "values.2024-01-01.value.43x1",
            "is not 'default' or a division-code",
        ),
        ('"4301": 3900', '"4301": 三千', "values.2024-01-01.value.4301", "must be a number, not '三千'"),
        ("    value: {default: 3800}\n", "", "values.2026-01-01.value", "is missing"),
        ("values:\n", "value:\n", "value", "is not a known key (did you mean 'values'?)"),
    ],
)
def test_a_value_by_place_and_date_names_file_key_and_problem(root, old, new, key, problem):
    write(root, GOOD)
    path = root / BASE
    kept = path.read_text(encoding="utf-8")
    try:
        path.write_text(BY_PLACE.replace(old, new, 1), encoding="utf-8")
        if key is None:
            base = load_rules(root).minimum_base
            assert base.at(dt.date(2025, 6, 1)) == {"default": 3600, "4301": 3900}
            assert base.at(dt.date(2026, 9, 1)) == {"default": 3800}
            return
        with pytest.raises(RulesError) as err:
            load_rules(root)
        assert str(err.value).startswith(f"rules/{BASE}: key '{key}': "), str(err.value)
        assert problem in str(err.value)
    finally:
        path.write_text(kept, encoding="utf-8")


def test_a_value_wrong_on_another_date_is_refused_naming_that_date(root):
    """Every dated value is checked against the file's own checks (a share between 0 and 1), not
    only the one in force in the month asked for: a backfill must not be the first to find it."""
    path = root / "means_test" / "recheck.yaml"
    before = path.read_text(encoding="utf-8")
    marker = '    "2024-01-01": {value: 0.05,'
    assert marker in before
    path.write_text(
        before.replace(marker, '    "2023-01-01": {value: 5, reference: 笔误}\n' + marker, 1),
        encoding="utf-8",
    )
    try:
        with pytest.raises(RulesError, match=r"recheck.yaml: key 'rate': must be a share .* from 2023-01-01"):
            load_rules(root, month="2026-09")
    finally:
        path.write_text(before, encoding="utf-8")
