"""The loop closes (监测 → 预警 → 核查 → 救助): August's cases come back in September as outcomes
or stand on September's lists, never re-issued as new and never lost (a home where the loop has
turned once, the `looped` fixture)."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from jobs.month.run import closed_ids, closing_notes, uncorrected
from jobs.publish.sealed import connect
from portal import uploads
from safetynet.lake import Home
from safetynet.rules import load_portal

pytestmark = pytest.mark.slow

AUG, SEP = "2026-08", "2026-09"


def cases(home: Path, sql: str) -> pl.DataFrame:
    with connect(home) as con:
        return pl.from_arrow(con.sql(sql).to_arrow_table())


def lists(home: Path, name: str) -> dict[str, dict[str, list[list]]]:
    """township -> sheet -> rows of one list in September's exports."""
    out = {}
    for path in sorted((home / "exports" / SEP).glob(f"*/*/{name}")):
        book = CalamineWorkbook.from_path(str(path))
        out[path.parent.name] = {s: book.get_sheet_by_name(s).to_python() for s in book.sheet_names}
    return out


def test_every_case_of_august_is_closed_by_its_outcome_or_still_listed(looped):
    august = cases(looped, f"select case_id from v_cases where month = '{AUG}'")["case_id"]
    september = cases(looped, f"select * from v_cases where month = '{SEP}'")
    closed = september.filter(pl.col("state") == "closed")
    assert closed.height and set(closed["case_id"]) <= set(august)
    assert set(august) == set(closed["case_id"]) | set(
        september.filter(pl.col("first_month") == AUG)["case_id"]
    ), "nothing lost"
    # each closed case names the returned row it was closed by
    assert (
        closed.select(pl.col("outcome", "visited_on", "source_file", "source_row").is_null().any()).row(0)
        == (False,) * 4
    )
    outcomes = cases(looped, f"select lead_id, source_row from lake_outcomes where month = '{SEP}'")
    assert dict(closed.select("case_id", "source_row").iter_rows()) == {
        k: v for k, v in outcomes.iter_rows() if k in set(closed["case_id"])
    }
    standing = september.filter((pl.col("first_month") == AUG) & (pl.col("state") != "closed"))
    assert standing.height and (standing["state"] != "new").all(), "a standing case is not new again"


def test_unvisited_leads_of_august_are_on_the_overdue_sheet_with_their_first_issue(looped):
    overdue = cases(
        looped,
        f"select case_id, township_code, days_open from v_cases where month = '{SEP}' "
        "and kind = 'lead' and state in ('overdue', 'expired')",
    )
    assert overdue.height, "the generator leaves some leads unvisited"
    books = lists(looped, "线索清单.xlsx")
    for case_id, township, days in overdue.iter_rows():
        rows = books[township]["逾期未回传"]
        header = rows[1]
        (row,) = [r for r in rows[2:] if r[header.index("线索编号")] == case_id]
        assert row[header.index("案件状态")].startswith("逾期")
        assert row[header.index("首次下发日期")] == dt.date(2026, 9, 1)
        assert row[header.index("已下发天数")] == days == 30
        main = books[township]["线索清单"]
        assert case_id not in [r[1] for r in main[2:]], "listed once, on the overdue sheet"


def test_reports_are_drawn_only_for_new_or_changed_records(looped):
    drawn = cases(
        looped,
        f"select distinct household_id from v_cases where month = '{SEP}' and kind <> 'lead' "
        "and changed and state <> 'closed'",
    )["household_id"]
    reports = {  # listed in the township manifests, drawn when asked for
        entry["household_id"]
        for p in (looped / "exports" / SEP).glob("*/*/manifest.json")
        for entry in json.loads(p.read_text(encoding="utf-8"))["files"]
        if entry.get("kind") == "report"
    }
    listed = cases(
        looped,
        f"select distinct household_id from v_cases where month = '{SEP}' and kind <> 'lead' and sheet is not null",
    )["household_id"]
    assert reports == set(drawn)
    assert len(reports) < len(listed), "standing records are not drawn again"


def test_kpis_add_up_from_townships_to_the_province(looped):
    kpis = cases(looped, f"select * from v_kpis where month = '{SEP}' and kind = 'all'")
    for column in ("pushed", "listed", "visited", "overdue", "not_eligible", "temporary_assistance"):
        by_level = {
            level: kpis.filter(pl.col("area_level") == level)[column].sum()
            for level in ("township", "county", "province")
        }
        assert by_level["township"] == by_level["county"] == by_level["province"], column
    province = kpis.filter(pl.col("area_level") == "province").row(0, named=True)
    assert (
        province["visited"]
        == cases(looped, f"select count(*) as n from lake_outcomes where month = '{SEP}'")["n"][0]
    )


def test_an_outcome_for_a_closed_case_is_a_correction_that_needs_its_reason_at_the_portal_and_at_ingest(
    looped,
):
    closed = cases(
        looped,
        f"select case_id, township_code, outcome from v_cases where month = '{SEP}' and state = 'closed'",
    )
    case_id, township, was = closed.row(0)
    home = Home(looped)
    assert case_id in closed_ids(home, "2026-10")
    other = "维持现状" if was != "维持现状" else "无法核实"

    def row(note: str | None) -> uploads.Row:
        return uploads.Row(3, "", case_id, dt.date(2026, 10, 3), other, None, note)

    bare, reasoned = row(None), row("复核后更正")
    uploads.check([bare], township, home, "2026-10", dt.date(2026, 10, 20))
    assert bare.status == "拒绝" and "已结案" in bare.reason and SEP in bare.reason and "备注" in bare.reason
    uploads.check([reasoned], township, home, "2026-10", dt.date(2026, 10, 20))
    assert reasoned.status == "接受" and reasoned.correction
    # at ingest, a row naming a closed case is quarantined unless it gives a reason (a correction)
    delivered = pl.LazyFrame(
        {"source_file": ["outcomes.csv"] * 2, "source_row": [2, 3], "lead_id": [case_id] * 2},
        schema={"source_file": pl.String, "source_row": pl.Int64, "lead_id": pl.String},
    ).with_columns(note=pl.Series([None, "复核后更正"], dtype=pl.String))
    assert uncorrected(closing_notes(home, "2026-10"), delivered)["source_row"].to_list() == [2]


# issue 33 review: at ingest, each row naming a closed case on its own (the portal's rule): refused
# when its note is empty or the note of the outcome that closed the case, whatever its other rows say
UNCORRECTED = [
    # (note of the outcome that closed XS1, the rows' notes, rows quarantined)
    (None, ["更正原因", None], [3]),
    (None, [None, ""], [2, 3]),
    ("已核实", ["已核实", "复核后更正"], [2]),
    (None, ["更正原因", "另一原因"], []),
]


@pytest.mark.parametrize("closing, notes, refused", UNCORRECTED)
def test_ingest_quarantines_each_row_naming_a_closed_case_without_its_own_reason(closing, notes, refused):
    closed = pl.DataFrame(
        {"case_id": ["XS1"], "note": [closing]}, schema={"case_id": pl.String, "note": pl.String}
    )
    rows = pl.LazyFrame(
        {
            "source_file": ["outcomes.csv"] * (len(notes) + 1),
            "source_row": list(range(2, len(notes) + 3)),
            "lead_id": ["XS1"] * len(notes) + ["XS2"],
            "note": [*notes, None],
        },
        schema={"source_file": pl.String, "source_row": pl.Int64, "lead_id": pl.String, "note": pl.String},
    )
    got = uncorrected(closed, rows)
    assert got["source_row"].to_list() == refused
    assert all(
        r.startswith(f"outcomes.csv row {n}: case XS1 ") for r, n in zip(got["reason"], refused, strict=True)
    )


def workbook(sheets: dict[str, list[list]]) -> bytes:
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True})
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, dt.date):
                    ws.write_string(r, c, value.isoformat())
                elif value not in (None, ""):
                    ws.write(r, c, value)
    wb.close()
    return buffer.getvalue()


def test_outcomes_filled_on_the_overdue_sheet_are_read(looped):
    books = lists(looped, "线索清单.xlsx")
    township = next(t for t, sheets in books.items() if "逾期未回传" in sheets)
    sheets = books[township]
    overdue = [list(r) for r in sheets["逾期未回传"]]
    header = overdue[1]
    overdue[2][header.index("核查日期")] = dt.date(2026, 10, 2)
    overdue[2][header.index("核查结论")] = "临时救助"
    rows = uploads.read_upload("线索清单.xlsx", workbook({**sheets, "逾期未回传": overdue}), load_portal())
    filled = [r for r in rows if r.outcome]
    assert [(r.sheet, r.line, r.id, r.outcome) for r in filled] == [
        ("逾期未回传", 3, overdue[2][header.index("线索编号")], "临时救助")
    ]
    assert filled[0].place == "“逾期未回传”表第 3 行"


@pytest.mark.parametrize("kind", ["lead", "doubtful"])
def test_the_first_issue_and_the_deadline_of_a_standing_case_do_not_move(looped, kind):
    both = cases(
        looped,
        f"select case_id, month, first_issued_on, visit_by, state from v_cases where kind = '{kind}' "
        f"and case_id in (select case_id from v_cases where month = '{SEP}' and state in ('standing', 'overdue'))",
    )
    assert both.height
    stable = both.group_by("case_id").agg(pl.col("first_issued_on", "visit_by").n_unique())
    assert (stable["first_issued_on"] == 1).all() and (stable["visit_by"] == 1).all()
