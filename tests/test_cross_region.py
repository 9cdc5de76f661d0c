"""Cross-region checks (issue 35): the rules file, requests out, answers in."""

from __future__ import annotations

from pathlib import Path

import pytest

from safetynet.errors import RulesError
from safetynet.rules import load_cross_region
from safetynet.versions import RULES_DIR

# --- the rules file ---------------------------------------------------------------------------------


def test_rules_file_loads_with_every_item_in_the_contracts_order():
    from safetynet.contract import CROSS_REGION_ITEMS

    rules = load_cross_region("2026-05")
    assert rules.recheck_months == 6 and rules.evidence_months == 6 and rules.reply_days > 0
    assert rules.member_items == CROSS_REGION_ITEMS == rules.applicant_items
    assert rules.authorisation("H0001") == "SQ-H0001"


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("value: 6, reference: 民政部", "value: 0, reference: 民政部", "recheck_months"),
        (
            "[不动产, 机动车, 市场主体, 存款, 社保, 公积金, 死亡]\n      reference: 民政部",
            "[不动产, 房产]\n      reference: 民政部",
            "房产",
        ),
        ('"SQ-{household_id}"', '"SQ-{id}"', "household_id"),
    ],
)
def test_rules_file_refuses_bad_values_naming_the_key(tmp_path: Path, old: str, new: str, says: str):
    folder = tmp_path / "cross_region"
    folder.mkdir()
    text = (RULES_DIR / "cross_region" / "cross_region.yaml").read_text(encoding="utf-8")
    assert old in text
    (folder / "cross_region.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(RulesError, match=says):
        load_cross_region("2026-05", root=tmp_path)
