"""A rule set that does not load stops everything: each error names the file and the key."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from conftest import CLI

from jobs.assess.households import FEATURES, STAGE_COLUMNS
from safetynet.errors import RulesError
from safetynet.rules import load_rules
from safetynet.versions import RULES_DIR

OOP = "index/indicators/medical_out_of_pocket.yaml"


@pytest.fixture()
def rules_copy(tmp_path):
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target)
    return target


def edit(root, relative, old, new):
    path = root / relative
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_committed_rules_load_and_name_only_provided_columns():
    rules = load_rules(columns=set(FEATURES) | STAGE_COLUMNS)
    assert len(rules.indicators) >= 37 and len(rules.dimensions) == 8
    assert {w.level for w in rules.warnings} == {"红", "橙", "黄", "蓝", "绿"}
    assert all(i.reference and i.label for i in rules.indicators)
    assert sum(d.weight for d in rules.dimensions) == 100


@pytest.mark.parametrize(
    ("relative", "old", "new", "message"),
    [
        (OOP, "weight: 6", "wieght: 6", "key 'wieght': is not a known key"),
        (OOP, "weight: 6", "weight: heavy", "key 'weight': must be int or float"),
        (OOP, "weight: 6", "weight: 6\nweight: 7", "duplicate key 'weight'"),
        (OOP, "- min: 5000\n  max: 20000", "- min: 4000\n  max: 20000", "key 'bands': bands overlap"),
        (OOP, "column: oop_medical_12m", "column: oop_medical_24m", "key 'column': no stage provides"),
        (OOP, "from: '2024-01-01'", "from: 2024/01/01", "key 'effective.from': '2024/01/01' is not a date"),
        (OOP, "score: 0.4", "score: 4", "must be between 0 and 1"),
        (OOP, "dimension: health", "dimension: wealth", "key 'dimension': 'wealth' is not a dimension"),
        ("warnings/medical_hard.yaml", "level: 橙", "level: 紫", "key 'level': must be one of"),
        ("warnings/medical_hard.yaml", "op: '>='", "op: '=>'", "key 'when[0].op'"),
        ("warnings/medical_hard.yaml", "value: 5000", "value: five thousand", "key 'when[0].value'"),
        ("warnings/score_high.yaml", "'2024-01-01':", "'2024-13-01':", "is not a date in YYYY-MM-DD form"),
        (
            "actions.yaml",
            "- rules:\n  - medical_hard",
            "- rules:\n  - medical_hardd",
            "names no warning rule",
        ),
        ("parameters/dibao_standard.yaml", "default: {城市: 750", "default: {城镇: 750", "must give numbers"),
        (
            "parameters/social_insurance_minimum_base.yaml",
            "unit:",
            "units:",
            "key 'units': is not a known key",
        ),
        (
            "parameters/social_insurance_minimum_base.yaml",
            '"4301": 4100',
            '"4301":',
            "must be a number, not None",
        ),
        (
            "parameters/social_insurance_minimum_base.yaml",
            "default: 3800",
            "defualt: 3800",
            "key 'values.2026-01-01.value': must map 'default'",
        ),
        (
            "means_test/checks.yaml",
            "direction: 应退",
            "direction: 退出",
            "key 'checks[0].direction': must be one of",
        ),
        (
            "means_test/checks.yaml",
            "applies_to: others",
            "applies_to: everyone",
            "must be recipients or others",
        ),
        (
            "means_test/checks.yaml",
            "  - id: business\n",
            "  - id: business\n    lable: x\n",
            "'checks[7].lable'",
        ),
        (
            "means_test/checks.yaml",
            "  - id: business\n",
            "  - id: private_car\n",
            "key 'checks': an id appears twice",
        ),
        (
            "means_test/limits.yaml",
            "education_aid: 教育资助",
            "education_aid: [教育资助]",
            "must map column names",
        ),
        ("means_test/recheck.yaml", "verify:", "verfy:", "key 'verfy': is not a known key"),
        (
            "outcomes/capacity.yaml",
            "default: 40",
            "default: 40.5",
            "key 'values.2024-01-01.value.default': must be a whole",
        ),
        (
            "outcomes/capacity.yaml",
            "default: 40",
            "default: 四十",
            "key 'values.2024-01-01.value.default': must be a number",
        ),
        (
            "outcomes/capacity.yaml",
            "yield_min_visited:",
            "yield_min_visits:",
            "key 'yield_min_visits': is not a known",
        ),
        (
            "outcomes/capacity.yaml",
            "蓝, 绿]",
            "蓝]",
            "key 'order': must list each colour and direction once",
        ),
    ],
)
def test_a_broken_rule_file_is_refused_naming_file_and_key(rules_copy, relative, old, new, message):
    edit(rules_copy, relative, old, new)
    with pytest.raises(RulesError) as err:
        load_rules(rules_copy, columns=set(FEATURES) | STAGE_COLUMNS)
    assert relative.split("/")[-1] in str(err.value)
    assert message in str(err.value)


def test_the_run_refuses_to_start_with_a_broken_rule_set(rules_copy, landing, tmp_path):
    edit(rules_copy, OOP, "weight: 6", "weight: heavy")
    home = tmp_path / "home"
    done = subprocess.run(
        CLI + ["run", "--month", "2026-08", "--landing", str(landing), "--home", str(home)],
        capture_output=True,
        text=True,
        env={**os.environ, "SAFETYNET_RULES": str(rules_copy)},
    )
    assert done.returncode == 2
    assert "medical_out_of_pocket.yaml: key 'weight'" in done.stderr
    assert not home.exists()


def test_thresholds_by_place_and_date(rules_copy):
    import polars as pl

    from jobs.assess.leads import condition_expr

    edit(
        rules_copy,
        "warnings/score_high.yaml",
        "      default: 45",
        "      default: 45\n      '4302': 40\n    '2027-01-01':\n      default: 50",
    )
    rules = load_rules(rules_copy, columns=set(FEATURES) | STAGE_COLUMNS)
    cond = next(w for w in rules.warnings if w.id == "score_high").when[0]
    frame = pl.DataFrame(
        {
            "division_code": ["430101001001", "430201001001", "430201001001"],
            "hardship_score": [42.0, 42.0, 47.0],
        }
    )
    fires = lambda month: frame.select(condition_expr(cond, month))["hardship_score"].to_list()  # noqa: E731
    assert fires("2026-09") == [False, True, True]  # 45 by default, 40 under prefix 4302
    assert fires("2027-03") == [False, False, False]  # from 2027 the line is 50 everywhere


def test_every_check_sql_has_its_rule_entry_and_back(rules_copy):
    from jobs.means_test.checks import match_checks

    match_checks(load_rules(rules_copy))
    edit(
        rules_copy,
        "means_test/checks.yaml",
        "  - id: eligible_not_covered",
        "  - id: eligible_not_covered_v2",
    )
    with pytest.raises(RulesError, match="no entry for eligible_not_covered "):
        match_checks(load_rules(rules_copy))
