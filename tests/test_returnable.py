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


# The returnable lists' date check (issue 33, item 4): a row's 核查日期 starts at its own case's first
# issue, so a last month's overdue case can carry the real date of a visit made on time.
ISSUED = dt.date(2026, 9, 5)  # this list's issue date
CASES = pl.DataFrame(
    {
        "case_id": ["L-NEW", "L-OLD"],
        "first_issued_on": [ISSUED, dt.date(2026, 8, 5)],
        "sheet": ["main", "overdue"],
        "visit_by": [dt.date(2026, 9, 20), dt.date(2026, 8, 20)],
    }
)
TODAY = dt.date(2026, 9, 28)


def _date_checks(path) -> dict[str, tuple[str, str, str, str]]:
    """Each sheet's 核查日期 validation: (first cell, operator, formula1, formula2), read from the XML
    (openpyxl is not installed)."""
    out = {}
    with zipfile.ZipFile(path) as zf:
        names = re.findall(r'<sheet name="([^"]+)"', zf.read("xl/workbook.xml").decode())
        for number, name in enumerate(names, start=1):
            xml = zf.read(f"xl/worksheets/sheet{number}.xml").decode()
            found = re.search(
                r'<dataValidation type="date"(?: operator="(\w+)")?[^>]* sqref="([A-Z]+\d+)[^"]*">'
                r"<formula1>([^<]*)</formula1>(?:<formula2>([^<]*)</formula2>)?",
                xml,
            )
            out[name] = (found[2], found[1] or "between", found[3], found[4])  # between: the default
    return out


def _excel_value(formula: str, cells: list, row: int, first_row: int, today: dt.date) -> dt.date:
    """The few Excel functions a date check uses, with relative rows as Excel shifts them."""

    def ref(m: re.Match) -> str:
        column = sum((ord(ch) - 64) * 26**i for i, ch in enumerate(reversed(m[1]))) - 1
        value = cells[int(m[2]) + row - first_row - 1][column]
        return f"DATE({value.year},{value.month},{value.day})"

    formula = re.sub(r"\$?([A-Z]+)\$?(\d+)", ref, formula.replace("TODAY()", "TODAY"))
    dates = [dt.date(*map(int, d)) for d in re.findall(r"DATE\((\d+),(\d+),(\d+)\)", formula)]
    return today if formula == "TODAY" else max(dates) if formula.startswith("MAX(") else dates[0]


def _workbook_accepts(path, sheet: str, row: int, visited: dt.date) -> bool:
    first_cell, operator, low, high = _date_checks(path)[sheet]
    first_row = int(re.sub(r"[A-Z]+", "", first_cell))
    cells = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()
    if operator == "greaterThanOrEqual":  # a constant: Excel's date serial
        return visited >= dt.date(1899, 12, 30) + dt.timedelta(days=int(float(low)))
    assert operator == "between"
    bounds = [_excel_value(f, cells, row, first_row, TODAY) for f in (low, high)]
    return bounds[0] <= visited <= bounds[1]


def _portal_accepts(monkeypatch, case_id: str, first_issued: dt.date, visited: dt.date) -> bool:
    from portal import uploads

    issued = pl.DataFrame(
        {"id": [case_id], "township_code": ["T1"], "kind": ["lead"], "issued_on": [first_issued]}
    )
    monkeypatch.setattr(uploads, "issued", lambda home, ids: issued)
    monkeypatch.setattr(uploads, "read_back", lambda home, ids: {})
    row = uploads.Row(3, "", case_id, visited, "维持现状", None, None)
    uploads.check([row], "T1", None, "2026-10", TODAY)
    return row.status == "接受"


@pytest.fixture
def two_sheets(tmp_path):
    path = tmp_path / "线索清单.xlsx"
    headers = {"case_id": "线索编号", "first_issued_on": "首次下发日期"}
    sheets = [
        ("线索清单", CASES.filter(pl.col("sheet") == "main"), "线索清单"),
        ("逾期未回传", CASES.filter(pl.col("sheet") == "overdue"), "线索清单（逾期未回传）"),
    ]
    write_list(path, sheets, headers, "线索清单", "2026-09", ISSUED, None)
    return path


@pytest.mark.parametrize(
    ("sheet", "case_id", "first_issued", "visited", "accepted"),
    [
        ("逾期未回传", "L-OLD", dt.date(2026, 8, 5), dt.date(2026, 8, 20), True),  # on time last month
        ("逾期未回传", "L-OLD", dt.date(2026, 8, 5), dt.date(2026, 8, 5), True),  # the day it was issued
        ("逾期未回传", "L-OLD", dt.date(2026, 8, 5), dt.date(2026, 8, 4), False),  # before its issue
        ("逾期未回传", "L-OLD", dt.date(2026, 8, 5), TODAY + dt.timedelta(days=1), False),  # tomorrow
        ("线索清单", "L-NEW", ISSUED, dt.date(2026, 9, 10), True),
        ("线索清单", "L-NEW", ISSUED, dt.date(2026, 9, 4), False),  # before this list was issued
        ("线索清单", "L-NEW", ISSUED, TODAY, True),
    ],
)
def test_a_rows_date_check_starts_at_its_cases_first_issue_in_the_workbook_and_the_portal(
    two_sheets, monkeypatch, sheet, case_id, first_issued, visited, accepted
):
    """The same rows, the same verdicts: the workbook's validation (read back from its XML and
    evaluated per row) and the portal's upload check."""
    assert _workbook_accepts(two_sheets, sheet, 3, visited) is accepted
    assert _portal_accepts(monkeypatch, case_id, first_issued, visited) is accepted


def test_the_date_check_reads_each_rows_own_first_issue(two_sheets):
    """One validation per sheet, over every data row, starting at the row's own 首次下发日期 cell
    (relative row) and ending today; its message is in Chinese."""
    checks = _date_checks(two_sheets)
    assert set(checks) == {"线索清单", "逾期未回传"}
    for first_cell, operator, low, high in checks.values():
        assert first_cell.endswith("3") and operator == "between"
        assert re.fullmatch(r"MAX\(\$B3,DATE\(\d{4},\d+,\d+\)\)", low), low
        assert high == "TODAY()"
    with zipfile.ZipFile(two_sheets) as zf:
        assert "不能早于本行的首次下发日期" in zf.read("xl/worksheets/sheet2.xml").decode()


# --- paper: wrapped text in columns that print one A4 page wide at 8 pt (issue 33) -----------------

FIT = [
    # (case, widths, text columns, widths after)
    ("narrow enough: kept", [10.0, 30.0], [False, True], [10.0, 30.0]),
    ("too wide: only the text narrows", [100.0, 64.0, 24.0], [False, True, True], [100.0, 56.4, 21.4]),
    ("no text to narrow: kept as it is", [200.0], [False], [200.0]),
]


@pytest.mark.parametrize("case,widths,text,expected", FIT, ids=[f[0] for f in FIT])
def test_text_columns_narrow_to_fit_the_page(case, widths, text, expected):
    from jobs.export.returnable import PADDING, fit

    out = fit(widths, text, page=180)
    assert out == expected
    assert sum(out) + PADDING * len(out) <= 180 or not any(text)


def test_a_lists_text_wraps_its_rows_are_as_tall_as_their_text_and_it_prints_a4_landscape(tmp_path):
    """Before: the text cells did not wrap (447 character widths fitted to the page, about a third
    of the size); the rows kept the default height a spreadsheet gives them."""
    from jobs.export.returnable import NARROW, PAGE_WIDTH

    long = "近12个月个人自付医疗费用13130.85元，达到5000元（医保结算）；" * 4
    rows = pl.DataFrame(
        {
            "case_id": ["XS202609-H0000000298", "XS202609-H0000000299"],
            "reasons": [long, "短"],
            "sheet": ["main"] * 2,
        }
    ).with_columns(visit_by=pl.lit(dt.date(2026, 10, 8)))
    path = tmp_path / "线索清单.xlsx"
    headers = {"case_id": "线索编号", "reasons": "预警原因"}
    write_list(path, [("线索清单", rows, "标题")], headers, "线索清单", "2026-09", dt.date(2026, 10, 1), None)
    with zipfile.ZipFile(path) as zf:
        xml = zf.read("xl/worksheets/sheet1.xml").decode()
        styles = zf.read("xl/styles.xml").decode()
    heights = [float(h) for h in re.findall(r'<row r="[34]" ht="([\d.]+)" customHeight="1"', xml)]
    assert len(heights) == 2 and heights[0] > 3 * heights[1], heights
    style = int(re.search(r'<c r="B3" s="(\d+)"', xml).group(1))
    xfs = re.findall(r"<xf [^>]*?(?:/>|>.*?</xf>)", styles.split("<cellXfs")[1])
    assert 'wrapText="1"' in xfs[style]
    columns = re.findall(r'<col min="(\d+)" max="(\d+)" width="([\d.]+)"', xml)
    assert sum((int(b) - int(a) + 1) * float(w) for a, b, w in columns) <= PAGE_WIDTH + 1
    assert min(float(w) for _, _, w in columns) >= NARROW
    assert '<pageSetup paperSize="9" fitToHeight="0" orientation="landscape"' in xml and "fitToPage" in xml
