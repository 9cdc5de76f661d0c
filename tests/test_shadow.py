"""Shadow runs (jobs/month/shadow.py, `safetynet shadow`): a published month scored with candidate rules,
nothing written to the home, differences per township with how the dropped cases ended.

One small home (the session's 600 households): August run, September generated with the outcomes
of August's cases and run, both in this process (tests/direct.py)."""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from pathlib import Path

import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from cli.main import app
from jobs.month import shadow
from safetynet.lake import Home
from safetynet.versions import RULES_DIR

AUG, SEP = "2026-08", "2026-09"


@pytest.fixture(scope="module")
def home(looped) -> Path:
    return looped


def tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under `root` (folders and links too) with its size, mtime and mode."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            st = os.lstat(Path(folder) / name)
            out[str(Path(folder, name).relative_to(root))] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


def published(home: Path, dataset: str, month: str) -> pl.DataFrame:
    return Home(home).read(dataset, month)


def candidate(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    return rules


def without_rule(rules: Path, rule: str) -> None:
    """Delete a warning rule and every reference to it in actions.yaml (an action left with no
    rule would match every lead: it goes too)."""
    (rules / "warnings" / f"{rule}.yaml").unlink()
    path = rules / "actions.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    kept = []
    for action in doc["actions"]:
        if rule in action["rules"]:
            action["rules"] = [r for r in action["rules"] if r != rule]
            if not action["rules"]:
                continue
        kept.append(action)
    doc["actions"] = kept
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def cli(*args: str):
    return CliRunner().invoke(app, ["shadow", *args])


# --- on the generated home ------------------------------------------------------------------------


@pytest.mark.parametrize("month", [AUG, SEP])
def test_the_published_rules_change_nothing(home, month):
    result = shadow.shadow(home, month, RULES_DIR)
    assert result.details.height == 0
    assert result.candidate == result.published
    assert result.published["leads"] > 0 and result.published["doubtful"] > 0
    assert result.candidate_version == result.published_version
    assert "no differences" in shadow.report(result)


def test_a_removed_rule_drops_its_leads_and_writes_nothing_to_the_home(home, tmp_path, monkeypatch):
    leads = published(home, "_leads", AUG).filter("pushed")
    alone = leads.filter(pl.col("rule_ids").list.len() == 1).explode("rule_ids")
    counts = alone["rule_ids"].value_counts().sort("count", "rule_ids", descending=[True, False])
    rule = counts["rule_ids"][0]  # the rule with the most leads of its own
    rules = candidate(tmp_path)
    without_rule(rules, rule)
    out = tmp_path / "differences.csv"
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    before = tree(home)

    done = cli("--rules", str(rules), "--month", AUG, "--home", str(home), "--out", str(out))

    assert done.exit_code == 0, done.output
    assert tree(home) == before
    assert list((tmp_path / "tmp").iterdir()) == []  # the temporary build is gone
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    dropped = {r["household_id"] for r in rows if r["kind"] == "lead" and r["change"] == "dropped"}
    assert dropped == set(alone.filter(pl.col("rule_ids") == rule)["household_id"])
    with_others = leads.filter(pl.col("rule_ids").list.contains(rule) & (pl.col("rule_ids").list.len() > 1))
    changed = {r["household_id"]: r for r in rows if r["change"] == "changed"}
    assert set(changed) == set(with_others["household_id"])
    assert all(rule not in r["candidate_rules"].split(",") for r in changed.values())
    assert not [r for r in rows if r["kind"] == "doubtful" or r["change"] == "added"]
    # how they ended: the outcome that closed each dropped lead's case in September
    closed = published(home, "_cases", SEP).filter(pl.col("state") == "closed")
    ended = dict(zip(closed["case_id"], closed["outcome"], strict=True))
    outcomes = {r["case_id"]: r["outcome"] or None for r in rows if r["change"] == "dropped"}
    assert outcomes == {case: ended.get(case) for case in outcomes}
    assert any(outcomes.values())
    visited = [o for o in outcomes.values() if o]
    total = next(line for line in done.stdout.splitlines() if line.startswith("all "))
    assert total.split()[2:6] == ["0", str(len(dropped)), str(len(changed)), str(len(visited))]


def test_a_lower_threshold_adds_leads(home, tmp_path):
    rules = candidate(tmp_path)
    path = rules / "warnings" / "score_high.yaml"
    text = path.read_text(encoding="utf-8")
    assert "default: 45" in text  # rules/warnings/score_high.yaml: the index's warning line
    # the line alone decides the visit here (score_high waits for need in the published rules)
    path.write_text(
        text.replace("default: 45", "default: 35").replace("visit: need", "visit: always"), encoding="utf-8"
    )
    before = tree(home)

    result = shadow.shadow(home, AUG, rules)

    assert tree(home) == before
    added = result.details.filter(pl.col("change") == "added")
    assert added.height > 0 and set(added["kind"]) == {"lead"}
    # score_high now pushes them; a rule held for need on the same household is listed beside it
    assert added["candidate_rules"].str.split(",").list.contains("score_high").all()
    assert result.details.filter(pl.col("change") == "dropped").height == 0
    assert result.candidate["leads"] == result.published["leads"] + added.height
    assert result.candidate_version != result.published_version
    hardship = published(home, "_household_month", AUG).select("household_id", "hardship_score")
    scores = added.join(hardship, on="household_id")["hardship_score"]
    assert scores.len() == added.height and scores.min() >= 35 and scores.max() < 45


def test_a_broken_rule_set_is_one_clear_error(home, tmp_path):
    rules = candidate(tmp_path)
    path = rules / "warnings" / "score_high.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("level:", "levle:"), encoding="utf-8")
    done = cli("--rules", str(rules), "--month", AUG, "--home", str(home))
    assert done.exit_code == 2
    assert done.stderr.count("\n") == 1
    assert "warnings/score_high.yaml" in done.stderr and "'levle'" in done.stderr


@pytest.mark.parametrize(
    "args, says",
    [
        (["--month", "2026-07"], "2026-07 is not published in"),
        (["--month", "2026-7"], "2026-7 is not published in"),
        (["--month", AUG, "--home", "/nonexistent/home"], "/nonexistent/home: no such home folder"),
        (["--month", AUG, "--rules", "/nonexistent/rules"], "/nonexistent/rules: no such rules folder"),
        (["--month", AUG, "--out", "differences.xlsx"], "name a .csv or .parquet file"),
        (["--month", AUG, "--out", "{home}/differences.csv"], "inside the home"),
    ],
)
def test_what_cannot_be_shadowed_is_refused_in_one_line(home, args, says):
    given = {"--home": str(home), "--rules": str(RULES_DIR)}
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    merged = {**given, **{k: v.format(home=home) for k, v in pairs.items()}}
    done = cli(*[x for kv in merged.items() for x in kv])
    assert done.exit_code == 2
    assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr


def test_the_temporary_build_is_deleted_on_error(home, tmp_path, monkeypatch):
    def fails(*args, **kwargs):
        raise RuntimeError("means test failed")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(shadow, "means_test", fails)
    before = tree(home)
    with pytest.raises(RuntimeError, match="means test failed"):
        shadow.shadow(home, AUG, RULES_DIR)
    assert list(tmp_path.iterdir()) == []
    assert tree(home) == before


def test_details_as_parquet(home, tmp_path):
    rules = candidate(tmp_path)
    without_rule(rules, "medical_hard")
    out = tmp_path / "differences.parquet"
    done = cli("--rules", str(rules), "--month", AUG, "--home", str(home), "--out", str(out))
    assert done.exit_code == 0, done.output
    assert pl.read_parquet(out).schema == pl.Schema(shadow.DETAIL_SCHEMA)


# --- the comparison, on tiny frames ----------------------------------------------------------------

T1, T2 = "430101001", "430101002"


def leads(*rows: tuple) -> pl.DataFrame:
    """(household, township, level, rules, pushed) rows of `_leads`."""
    return pl.DataFrame(
        [
            {
                "household_id": h,
                "township_code": t,
                "lead_id": f"XS-{h}",
                "level": lv,
                "rule_ids": r,
                "pushed": p,
            }
            for h, t, lv, r, p in rows
        ],
        schema={
            "household_id": pl.String,
            "township_code": pl.String,
            "lead_id": pl.String,
            "level": pl.String,
            "rule_ids": pl.List(pl.String),
            "pushed": pl.Boolean,
        },
    )


def doubtful(*rows: tuple) -> pl.DataFrame:
    """(household, township, check, direction, issued) rows of `_doubtful`."""
    return pl.DataFrame(
        [
            {
                "household_id": h,
                "township_code": t,
                "check_id": c,
                "record_id": f"YD-{h}-{c}",
                "direction": d,
                "issued": i,
            }
            for h, t, c, d, i in rows
        ],
        schema={
            "household_id": pl.String,
            "township_code": pl.String,
            "check_id": pl.String,
            "record_id": pl.String,
            "direction": pl.String,
            "issued": pl.Boolean,
        },
    )


NO_LEADS, NO_RECORDS, NO_ENDINGS = leads(), doubtful(), pl.DataFrame(schema=shadow.ENDING_SCHEMA)


@pytest.mark.parametrize(
    "before, after, expected",
    [
        (leads(("H1", T1, "橙", ["a"], True)), leads(("H1", T1, "橙", ["a"], True)), []),
        (NO_LEADS, leads(("H1", T1, "黄", ["a"], True)), [("lead", "added", "H1", None, "黄")]),
        (leads(("H1", T1, "黄", ["a"], True)), NO_LEADS, [("lead", "dropped", "H1", "黄", None)]),
        (
            leads(("H1", T1, "黄", ["a"], True)),
            leads(("H1", T1, "橙", ["a"], True)),
            [("lead", "changed", "H1", "黄", "橙")],
        ),
        (
            leads(("H1", T1, "黄", ["a", "b"], True)),
            leads(("H1", T1, "黄", ["a"], True)),
            [("lead", "changed", "H1", "黄", "黄")],
        ),
        (
            leads(("H1", T1, "黄", ["b", "a"], True)),
            leads(("H1", T1, "黄", ["a", "b"], True)),
            [],
        ),  # order is no change
        (
            leads(("H1", T1, "黄", ["a"], True)),
            leads(("H1", T1, "黄", ["a"], False)),
            [("lead", "dropped", "H1", "黄", None)],
        ),
        (leads(("H1", T1, "黄", ["a"], False)), NO_LEADS, []),  # a lead not pushed was never on a list
    ],
)
def test_leads_compared_by_household(before, after, expected):
    details = shadow.differences(AUG, (before, NO_RECORDS), (after, NO_RECORDS), NO_ENDINGS)
    got = details.select("kind", "change", "household_id", "published_level", "candidate_level").rows()
    assert got == expected


@pytest.mark.parametrize(
    "before, after, expected",
    [
        (doubtful(("H1", T1, "c1", "应退", True)), doubtful(("H1", T1, "c1", "应退", True)), []),
        (
            doubtful(("H1", T1, "c1", "应退", True)),
            doubtful(("H1", T1, "c1", "核实", True)),
            [("changed", "c1", "应退", "核实")],
        ),
        (
            doubtful(("H1", T1, "c1", "应退", True)),
            doubtful(("H1", T1, "c2", "应退", True)),
            [("added", "c2", None, "应退"), ("dropped", "c1", "应退", None)],
        ),
        (
            doubtful(("H1", T1, "c1", "应退", True)),
            doubtful(("H1", T1, "c1", "应退", False)),
            [("dropped", "c1", "应退", None)],
        ),
        (
            doubtful(("H1", T1, "c1", "应退", True), ("H1", T1, "c1", "应退", True)),
            doubtful(("H1", T1, "c1", "应退", True)),
            [],
        ),
    ],
)
def test_doubtful_records_compared_by_household_and_check(before, after, expected):
    details = shadow.differences(AUG, (NO_LEADS, before), (NO_LEADS, after), NO_ENDINGS)
    got = details.select("change", "check_id", "published_direction", "candidate_direction").rows()
    assert got == expected


def test_summary_per_township_with_how_the_dropped_ended():
    before = leads(
        ("H1", T1, "黄", ["a"], True), ("H2", T1, "黄", ["a"], True), ("H3", T2, "橙", ["b"], True)
    )
    after = leads(("H3", T2, "红", ["b"], True), ("H4", T2, "黄", ["a"], True))
    ended = pl.DataFrame(
        {
            "case_id": ["XS-H1", "XS-H3", "XS-H4"],
            "outcome": ["不符合条件", "已纳入低保", "维持现状"],
            "outcome_month": [SEP] * 3,
        }
    )
    details = shadow.differences(AUG, (before, NO_RECORDS), (after, NO_RECORDS), ended)
    assert details.filter(pl.col("household_id") == "H4")["outcome"].to_list() == [None]  # added: not ours
    assert details.filter(pl.col("household_id") == "H3")["outcome"].to_list() == ["已纳入低保"]
    expected = pl.DataFrame(
        {
            "township_code": [T1, T2, "all"],
            "kind": ["lead"] * 3,
            "added": [0, 1, 1],
            "dropped": [2, 0, 2],
            "changed": [0, 1, 1],
            "dropped_visited": [1, 0, 1],
            "dropped_outcomes": ["不符合条件×1", "", "不符合条件×1"],
        },
        schema_overrides={c: pl.UInt32 for c in ("added", "dropped", "changed", "dropped_visited")},
    )
    assert_frame_equal(shadow.summary(details), expected)
