"""A prefecture's township files as rows built apart from writing them (jobs/export/lists.py): the
pure parts, table-driven on tiny frames, no build on disk."""

from __future__ import annotations

import polars as pl
import pytest

from jobs.export import lists

ID = "430101195001011234"
MASKED = "430101********1234"
ROSTER = {"household_id": pl.String, "id_number": pl.String, "name": pl.String, "relation": pl.String}
# (case, roster rows (None: no roster file), heads: household -> (name, masked id))
HEADS = [
    ("no roster: no heads", None, {}),
    (
        "the head, whatever the order delivered",
        [("H1", "430101200501011234", "子", "子女"), ("H1", ID, "父", "户主")],
        {"H1": ("父", MASKED)},
    ),
    (
        "no head: the first by ID number",
        [("H2", "430101200501011234", "乙", "子女"), ("H2", ID, "甲", "配偶")],
        {"H2": ("甲", MASKED)},
    ),
]


@pytest.mark.parametrize("case,roster,expected", HEADS, ids=[h[0] for h in HEADS])
def test_each_household_has_one_head_masked(case, roster, expected):
    frame = None if roster is None else pl.DataFrame(roster, schema=ROSTER, orient="row")
    out = lists.heads(frame)
    assert {r[0]: r[1:] for r in out.iter_rows()} == expected


CASES = {
    "case_id": pl.String,
    "kind": pl.String,
    "household_id": pl.String,
    "township_code": pl.String,
    "state": pl.String,
    "on_roster": pl.Boolean,
    "condition_gone": pl.Boolean,
    "changed": pl.Boolean,
    "level": pl.String,
    "reasons": pl.String,
    "check_id": pl.String,
    "evidence": pl.String,
    "source_refs": pl.List(pl.String),
    "rule_ids": pl.List(pl.String),
}


def cases(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=CASES, orient="row")


LEAD = (
    "L1",
    "lead",
    "H1",
    "430101001",
    "new",
    True,
    False,
    True,
    "red",
    f"户主{ID}新发残疾",
    None,
    None,
    None,
    ["new_disability", "medical_hard", "gone_rule"],
)
GONE = ("L2", "lead", "H9", "430101001", "standing", False, False, False, "yellow", "", None, None, None, [])
FADED = ("L3", "lead", "H1", "430101002", "standing", True, True, False, "red", "", None, None, None, [])
DOUBT = (
    "D1",
    "doubtful",
    "H1",
    "430101002",
    "new",
    True,
    False,
    True,
    None,
    None,
    "C1",
    f"{ID}名下车辆",
    ["m:1"],
    None,
)
DRAW = (
    "R1",
    "recheck",
    "H3",
    "430102001",
    "escalated",
    True,
    False,
    False,
    None,
    None,
    None,
    None,
    None,
    None,
)
# (case, cases listed, state labels by case)
LABELS = [
    ("a new case", [LEAD], {"L1": "新增"}),
    ("a household gone from the roster", [GONE], {"L2": "持续（已不在册，仍需核查）"}),
    ("a condition gone", [FADED], {"L3": "持续（预警条件已消失，仍需核查）"}),
    ("an escalated draw", [DRAW], {"R1": "升级"}),
]


@pytest.mark.parametrize("case,rows,labels", LABELS, ids=[c[0] for c in LABELS])
def test_listed_cases_carry_their_heads_and_state(case, rows, labels):
    head = lists.heads(pl.DataFrame([("H1", ID, "父", "户主")], schema=ROSTER, orient="row"))
    out = lists.listed_cases(cases(*rows), head, None)
    assert dict(out.select("case_id", "state_label").iter_rows()) == labels
    assert (out["record_id"] == out["case_id"]).all() and (out["lead_id"] == out["case_id"]).all()
    assert out.filter(pl.col("household_id") == "H1")["head_name"].to_list() in ([], ["父"])


def test_the_lists_mask_ids_and_name_checks():
    listed = lists.listed_cases(cases(LEAD, DOUBT, DRAW), lists.heads(None), None)
    drawn = pl.DataFrame({"case_id": ["R1"], "period": ["2026H2"]})
    titles = {"new_disability": "新增残疾", "medical_hard": "大额医疗自付"}
    leads, doubtful, sample = lists.kinds(listed, {"C1": "车辆核对"}, drawn, titles)
    assert leads["reasons"].to_list() == [f"户主{MASKED}新发残疾"]
    assert doubtful.select("check", "evidence", "sources").row(0) == ("车辆核对", f"{MASKED}名下车辆", "m:1")
    assert sample.select("case_id", "batch").row(0) == ("R1", "2026年下半年")


def test_a_leads_colour_is_explained_beside_its_index_by_its_rules_titles():
    """困难指数 21.2（无明显困难）beside 橙色预警（紧急）: the list says where the warning came from."""
    listed = lists.listed_cases(cases(LEAD, FADED), lists.heads(None), None)
    titles = {"new_disability": "新增残疾", "medical_hard": "大额医疗自付"}
    leads, _, _ = lists.kinds(
        listed,
        {},
        pl.DataFrame({"case_id": [], "period": []}, schema=dict.fromkeys(["case_id", "period"], pl.String)),
        titles,
    )
    assert dict(leads.select("case_id", "warned_by").iter_rows()) == {
        "L1": "预警来自：新增残疾、大额医疗自付、已停用的规则；困难指数反映长期状况",
        "L3": None,
    }
    assert lists.LEAD_COLUMNS["warned_by"] == "预警来源" and "seed" not in lists.SAMPLE_COLUMNS


# (case, cases listed, households to draw a report for)
REPORTS = [
    ("a changed doubtful record", [DOUBT], {"H1"}),
    ("a lead: on demand", [LEAD], set()),
    ("an unchanged draw: on demand", [DRAW], set()),
]


@pytest.mark.parametrize("case,rows,expected", REPORTS, ids=[r[0] for r in REPORTS])
def test_reports_are_drawn_for_new_or_changed_records(case, rows, expected):
    assert lists.report_households(cases(*rows)) == expected


def test_leads_are_counted_by_township_and_colour():
    listed = cases(LEAD, GONE, FADED, DOUBT)
    assert lists.lead_counts(listed) == {"430101001": {"red": 1, "yellow": 1}, "430101002": {"red": 1}}


NOTICE = {
    "township_code": pl.String,
    "id_number": pl.String,
    **dict.fromkeys(lists.NOTICE_COLUMNS, pl.String),
}
# (case, townships of notices (None: no notices file), notice ids by township)
NOTICES = [
    ("none", None, {}),
    (
        "by township, in notice order",
        [("T2", "N2"), ("T1", "N3"), ("T1", "N1")],
        {"T1": ["N1", "N3"], "T2": ["N2"]},
    ),
]


@pytest.mark.parametrize("case,rows,expected", NOTICES, ids=[n[0] for n in NOTICES])
def test_notices_by_township_mask_the_child(case, rows, expected):
    frame = None
    if rows is not None:
        frame = pl.DataFrame(
            [{"township_code": t, "notice_id": n, "id_number": ID} for t, n in rows], schema=NOTICE
        ).drop("child_id")
    out = lists.notices_by_township(frame)
    assert {t: f["notice_id"].to_list() for t, f in out.items()} == expected
    assert all(f.columns == list(lists.NOTICE_COLUMNS) for f in out.values())
    assert all((f["child_id"] == MASKED).all() for f in out.values())


# (case, townships with reports, with listed cases, with notices, the prefecture's townships)
TOWNSHIPS = [
    ("none", [], [], [], []),
    (
        "reports, cases and notices, each once",
        ["430101001"],
        ["430101001", None],
        ["430102001"],
        ["430101001", "430102001"],
    ),
    ("another prefecture's township is not written here", [], ["430201001"], [], []),
]


@pytest.mark.parametrize("case,reports,listed,notices,expected", TOWNSHIPS, ids=[t[0] for t in TOWNSHIPS])
def test_the_prefecture_writes_its_townships_only(case, reports, listed, notices, expected):
    frame = pl.DataFrame({"township_code": listed}, schema={"township_code": pl.String})
    found = lists.area_townships("4301", dict.fromkeys(reports, []), frame, dict.fromkeys(notices))
    assert found == expected


def test_rows_are_grouped_by_township_in_order():
    rows = [{"township_code": "T2", "n": 1}, {"township_code": "T1", "n": 2}, {"township_code": "T2", "n": 3}]
    assert lists.by_township(rows) == {"T2": [rows[0], rows[2]], "T1": [rows[1]]}


def overview_data() -> dict:
    from jobs.export import overview

    kpis = {k: 1 for k in overview.KPI_LABELS} | {"kind": "all", "area_code": "430101001"}
    return {
        "month": "2026-09",
        "area": "430101001",
        "level": "township",
        "kpis": [kpis],
        "townships": [],
        "series": [],
        "yields": [
            {
                "rule_id": rule,
                "first_month": "2026-08",
                "leads": 3,
                "visited": 2,
                "helpful": 1,
                "yield": 0.5,
                "leads_alone": 1,
                "visited_alone": 1,
                "yield_alone": 1.0,
            }
            for rule in ("kindergarten_entry", "retired_rule")
        ],
        "escalated": [],
        "queue": [],
        "capacity_keys": overview.CAPACITY_KEYS,
        "cross_region": {"month": "2026-09", "sent": [], "received": [], "doubtful": None},
    }


def test_the_overview_names_rules_by_their_chinese_titles_in_its_chart_and_table():
    from jobs.export import overview
    from safetynet.rules import load_rules

    html = overview.render(overview_data(), {}, load_rules(), standalone=True)
    assert "儿童入读幼儿园" in html and "已停用的规则" in html
    assert "kindergarten_entry" not in html and "retired_rule" not in html


@pytest.mark.parametrize(
    "period,label",
    [
        ("2026H1", "2026年上半年"),
        ("2026H2", "2026年下半年"),
        ("2026Q3", "2026年第3季度"),
        ("2026P05", "2026年第5期"),
    ],
)
def test_a_draws_period_is_shown_as_its_batch_in_words(period, label):
    from safetynet.months import period_label

    assert period_label(period) == label
