"""The returnable lists' cells: column widths as a spreadsheet draws them, lists of texts joined."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile

import polars as pl
import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from jobs.export.returnable import _Rows, display_width, display_widths, write_list


def test_widths_count_chinese_and_rare_characters_two_columns():
    assert display_width("王建国") == 6
    assert display_width("王𬱖") == 4  # CJK Extension B-G: wide as well
    assert display_width("ID-12") == 5
    assert display_width("１２；") == 6  # full-width forms and punctuation


def test_widths_per_column_match_the_cells():
    frame = pl.DataFrame(
        {
            "name": ["王𬱖", "Ann", None],
            "score": [45.5, None, 3.0],
            "count": [7, 120, None],
            "on": [dt.date(2026, 9, 1), None, None],
            "empty": pl.Series([None, None, None], dtype=pl.String),
        }
    )
    assert display_widths(frame) == [4, 4, 3, 10, 0]


def test_a_list_of_texts_is_written_joined(tmp_path):
    rows = pl.DataFrame(
        {"refs": [["2026-09/roster.csv:2", "2026-09/deaths.csv:5"]], "sheet": ["main"], "visit_by": [None]},
        schema_overrides={"visit_by": pl.Date},
    )
    path = tmp_path / "清单.xlsx"
    write_list(
        path, [("清单", rows, "标题")], {"refs": "数据来源"}, "清单", "2026-09", dt.date(2026, 9, 5), None
    )
    cells = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert cells[2][0] == "2026-09/roster.csv:2；2026-09/deaths.csv:5"


def _cells(data: bytes) -> list[list]:
    return CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()


def test_rows_written_in_one_pass_read_back_as_xlsxwriter_writes_them():
    """The lists' data rows skip xlsxwriter's per-cell API (jobs/export/returnable.py `_Rows`); every kind
    of value must read back exactly as the per-cell API writes it."""
    rows = [
        ("a & b <c> d", " 前后空格 ", "王𬱖𡒄", "", "tab\there", "bell\x07", "_x0041_", None, "=1+1"),
        (dt.date(2026, 9, 30), dt.date(1900, 2, 28), dt.date(1900, 3, 1), 7, -2.5, 1 / 3, True, 10**15, None),
    ]

    def workbook(one_pass: bool) -> bytes:
        buffer = io.BytesIO()
        wb = xlsxwriter.Workbook(buffer, {"in_memory": True})
        ws = wb.add_worksheet("s", _Rows if one_pass else None)
        top, date = wb.add_format({"valign": "top"}), wb.add_format({"num_format": "yyyy-mm-dd"})
        ws.write_string(0, 0, "标题", top)
        if one_pass:
            ws.data_rows(1, rows, top, date)
        for r, row in enumerate(rows if not one_pass else [], start=1):
            for c, value in enumerate(row):
                if isinstance(value, dt.date):
                    ws.write_datetime(r, c, dt.datetime.combine(value, dt.time()), date)
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    ws.write_number(r, c, value, top)
                elif value is not None:
                    ws.write_string(r, c, str(value), top)
        wb.close()
        return buffer.getvalue()

    expected = _cells(workbook(one_pass=False))
    assert _cells(workbook(one_pass=True)) == expected
    assert expected[1][:3] == ["a & b <c> d", " 前后空格 ", "王𬱖𡒄"]
    assert expected[2][0] == dt.date(2026, 9, 30)


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ([(1.0, float("nan"))], "row 2, column B: nan is not a number a cell can hold"),
        ([(float("inf"),)], "row 2, column A: inf is not a number a cell can hold"),
        ([tuple(range(257))], "257 columns"),
    ],
)
def test_a_value_no_cell_can_hold_stops_the_list(rows, problem):
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True})
    ws = wb.add_worksheet("s", _Rows)
    with pytest.raises(ValueError, match=re.escape(problem)):
        ws.data_rows(1, rows, wb.add_format(), wb.add_format())


def test_the_longest_text_is_cut_at_excels_limit_in_utf16_units():
    """Excel counts a cell's 32,767 characters in UTF-16 units: 𡒄 (Extension B) counts two."""
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True})
    wb.add_worksheet("s", _Rows).data_rows(
        0, [("𡒄" * 20_000, "a" * 40_000)], wb.add_format(), wb.add_format()
    )
    wb.close()
    rare, plain = _cells(buffer.getvalue())[0]
    assert rare == "𡒄" * 16_383
    assert plain == "a" * 32_767


FORMULAS = ['=HYPERLINK("http://evil.example/","点击查看")', "+86 1", "-1+1", "@SUM(A1)", "\tx", "\r=1"]


def _xfs(styles: str) -> list[str]:
    """The cell formats of a workbook's styles, in index order."""
    return re.findall(r"<xf [^>]*>", styles.split("<cellXfs", 1)[1].split("</cellXfs>", 1)[0])


def test_text_from_outside_is_written_as_text_that_cannot_run(tmp_path):
    """A name or a township's name that starts like a formula stays the exact text, in a text cell
    that Excel and WPS keep as text even when it is edited (quotePrefix); other cells as before."""
    heading = '=HYPERLINK("http://evil.example/","某某镇")线索清单'
    rows = pl.DataFrame(
        {"name": [*FORMULAS, "王建国"], "sheet": ["main"] * 7, "visit_by": [None] * 7},
        schema_overrides={"visit_by": pl.Date},
    )
    path = tmp_path / "清单.xlsx"
    notes = [("说明", rows, {"name": "姓名"}, heading)]
    write_list(
        path, [("清单", rows, heading)], {"name": "姓名"}, "清单", "2026-09", dt.date(2026, 9, 5), None, notes
    )
    book = CalamineWorkbook.from_path(str(path))
    with zipfile.ZipFile(path) as zf:
        xfs = _xfs(zf.read("xl/styles.xml").decode())
        for number, sheet_name in ((1, "清单"), (2, "说明")):
            xml = zf.read(f"xl/worksheets/sheet{number}.xml").decode()
            assert "<f>" not in xml, sheet_name
            style = dict(re.findall(r'<c r="([A-Z]+[0-9]+)" s="([0-9]+)"', xml))
            quoted = {ref: 'quotePrefix="1"' in xfs[int(s)] for ref, s in style.items() if ref[0] == "A"}
            assert quoted == {"A1": True, "A2": False, **{f"A{r}": r < 9 for r in range(3, 10)}}, sheet_name
            cells = book.get_sheet_by_name(sheet_name).to_python()
            assert cells[0][0] == heading and [r[0] for r in cells[2:]] == [*FORMULAS, "王建国"]


def test_a_list_without_such_text_has_no_quoted_format(tmp_path):
    rows = pl.DataFrame(
        {"name": ["王建国"], "sheet": ["main"], "visit_by": [None]}, schema_overrides={"visit_by": pl.Date}
    )
    path = tmp_path / "清单.xlsx"
    write_list(path, [("清单", rows, "标题")], {"name": "姓名"}, "清单", "2026-09", dt.date(2026, 9, 5), None)
    with zipfile.ZipFile(path) as zf:
        assert "quotePrefix" not in zf.read("xl/styles.xml").decode()
