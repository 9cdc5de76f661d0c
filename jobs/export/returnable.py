"""The returnable lists (可回传清单): the township files that staff fill in after a home visit and
upload back through the portal, and the reading of what they upload.

A list has a sheet of its current cases and, when there are any, a sheet 逾期未回传 of the cases past
their deadline with no outcome returned. Each sheet has a title row naming the township, month and
issue date; the header row; one row per case with its id (线索编号 or 记录编号), a visit deadline
(核查期限) and the empty outcome columns of the contract's `outcomes` delivery (核查日期, 核查结论 as
a drop-down of the contract's codes, 转介部门, 备注). It prints landscape on A4, one page wide, with
the title and header repeated on every page: text wraps in columns chosen so that it prints at 8 pt
or more (`column_widths`, `fit`), each row as tall as its most wrapped cell (`row_heights`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import polars as pl
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from safetynet.contract import SOURCES
from safetynet.formulas import formula_like
from safetynet.months import add_months, month_bounds, next_month
from safetynet.rules import load_population

OUTCOME_CODES: tuple[str, ...] = next(c for c in SOURCES["outcomes"].columns if c.name == "outcome").codes
# The outcome columns as the contract names them in Chinese; staff fill them in.
FILL_IN = {"visited_on": "核查日期", "outcome": "核查结论", "referred_to": "转介部门", "note": "备注"}
ID_HEADERS = ("线索编号", "记录编号")
DEADLINE = "核查期限"
FIRST_ISSUED = "first_issued_on"  # the column a row's visit date may not precede (jobs/export/lists.py)
# The widest each column of text is drawn, in character widths (a Chinese character counts two);
# longer text wraps. A sheet wider than PAGE_WIDTH has these columns narrowed in proportion (not
# below NARROW), so that a township's lists print one A4 landscape page wide with text of at least
# 8 pt (tests/test_print.py converts them with LibreOffice and reads the PDF).
WIDTHS = {
    "预警原因": 30,
    "疑点说明": 30,
    "建议措施": 14,
    "数据来源（月份/文件:行）": 16,
    "预警来源": 12,
    "异地核对": 8,  # 待异地核对（不动产、存款）wraps
    "主要致困因素": 10,
    "案件状态": 8,
    "村（社区）": 8,
    "核对项目": 8,
    "抽样批次": 8,
    "户主姓名": 6,
    "人员类别": 6,
    "困难等级": 6,
    "核查结论": 6,  # the drop-down's longest, 纳入低保边缘, wraps in two lines
    "转介部门": 4,
    "备注": 8,
}
ID_WIDTH = 12  # an id wraps after its hyphens: XS202609- / H0000000093
NARROW = 4  # the narrowest column: two Chinese characters of its header a line (预警 / 等级)
DATE_WIDTH = 10  # yyyy-mm-dd, with a margin
PRINT_MARGIN = 0.3  # inches, left and right
# The sheet's width, in character widths with Excel's padding of 5 pixels (0.71) per column, that
# prints one A4 landscape page wide (11.69 in less the margins) with 11-pt text scaled to at least
# 8 pt (72.7%). The printed sizes depend on the office suite, its version and its fonts, so they are
# not written here: tests/test_print.py prints each list with LibreOffice and reads the page count
# and the smallest text size from the PDF; change this number only with that test passing.
PAGE_WIDTH = 184
PADDING = 0.71
LINE = 14.5  # points a line of 11-pt text takes in a row, Chinese fonts' line gap included
WIDE_SHARE = 1.0  # a Chinese character's width beyond one character width (row_heights)
NOTE_TEXT = ("提示内容", "儿童姓名", "预计学段")  # the notices' columns that wrap (jobs/export/lists.py)

# The characters a spreadsheet draws two columns wide: Hangul Jamo, CJK and its punctuation, kana,
# Hangul, compatibility ideographs, vertical and full-width forms, and the ideographs of planes 2-3.
WIDE_CHARS = (
    "[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
    "\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\U00020000-\U0003fffd]"
)
_WIDE = re.compile(WIDE_CHARS)


def display_width(text: str) -> int:
    """Columns a text takes in a spreadsheet cell: a Chinese character counts two."""
    return len(text) + len(_WIDE.findall(text))


def display_widths(frame: pl.DataFrame) -> list[int]:
    """The widest cell of each column as `display_width` counts it (a date counts 10)."""

    def width(name: str, dtype: pl.DataType) -> pl.Expr:
        if dtype.is_temporal():
            return pl.lit(10)
        text = pl.col(name).cast(pl.String)
        return text.str.len_chars() + text.str.count_matches(WIDE_CHARS)

    widest = frame.select(width(n, d).max().alias(n) for n, d in frame.schema.items())
    return [int(v or 0) for v in widest.row(0)]


def write_list(
    path: Path,
    sheets: list[tuple[str, pl.DataFrame, str]],
    headers: dict[str, str],
    title: str,
    month: str,
    issued: dt.date,
    revision: str | None,
    notes: list[tuple[str, pl.DataFrame, dict[str, str], str]] = (),
    earliest: dt.date | None = None,
) -> None:
    """One returnable list: a sheet per (sheet title, rows, heading), each with the same columns.
    `headers` maps the frame's columns to Chinese headers; the deadline and the fill-in columns
    follow them. `notes` are sheets to read, not to return: (title, rows, headers, heading), with
    no outcome columns (an upload reads only sheets with an id and an outcome column). `earliest`
    is `earliest_visit(month)`, given by a caller that writes many lists (it reads `rules/`)."""
    earliest = earliest or earliest_visit(month)
    wb = xlsxwriter.Workbook(str(path), {"in_memory": True})  # no temporary file per part
    # dated by the month, not the clock, so that a rerun writes the same bytes
    wb.set_properties(
        {"title": title + ("（修订版）" if revision else ""), "created": dt.datetime.strptime(month, "%Y-%m")}
    )
    for sheet_title, frame, heading in sheets:
        _sheet(wb, wb.add_worksheet(sheet_title[:31], _Rows), frame, headers, heading, issued, earliest)
    for sheet_title, frame, note_headers, heading in notes:
        _note_sheet(wb, wb.add_worksheet(sheet_title[:31], _Rows), frame, note_headers, heading)
    if revision:  # a sheet of its own, so the lists keep their columns for the returned outcomes
        note = wb.add_worksheet("修订说明")
        note.set_column(0, 0, 100)
        note.write_string(0, 0, revision)
    wb.close()


class _Rows(Worksheet):
    """A worksheet whose data rows are written in one pass when the workbook closes.

    xlsxwriter still writes the workbook: formats, title and header rows, column widths, drop-downs,
    filter and print settings. Its per-cell API (a cell object, the shared string table, then the
    XML) made writing the province's 4,500 lists the export's largest part. Here each data cell is
    one f-string with an inline string, the form xlsxwriter's own `constant_memory` mode writes; the
    cells' values and formats are the same, and `python benchmarks/lists.py` times both side by side
    (figures: docs/design/benchmark-history.md, "The lists' data rows"). It overrides
    `_write_sheet_data`, so pyproject.toml keeps xlsxwriter below 4 and tests/test_returnable.py
    reads every kind of value back against the per-cell API.
    """

    def data_rows(
        self,
        first: int,
        rows: list[tuple],
        text: Format,
        date: Format,
        quoted: Format | None = None,
        heights: list[float] | None = None,
    ) -> None:
        """`rows` from row `first` (0-based) on, after every row written through xlsxwriter: None is
        an empty cell, a date a date, an int or float a number and anything else its text, every
        cell with `text`'s format but dates, and texts that start like a formula with `quoted`
        (`text` marked quotePrefix: see `quoted_twin`). `heights`: each row's, in points, for rows
        of wrapped text (a spreadsheet may keep the default height of a row it did not lay out)."""
        width = max((len(r) for r in rows), default=0)
        if width > len(_COLUMNS):
            raise ValueError(f"{self.name}: {width} columns, more than the {len(_COLUMNS)} a list may have")
        # rendered now, so that a bad value stops here and names its cell; the formats' indexes are
        # known only when the workbook closes (a NUL never survives the control-character escape)
        self._data = (first, _render(first, rows, "\0t", "\0d", "\0q", heights), text, date, quoted or text)
        if rows:
            self._check_dimensions(first + len(rows) - 1, width - 1)

    def _write_sheet_data(self) -> None:
        data = getattr(self, "_data", None)
        if data is None or self.dim_rowmin is None:
            return super()._write_sheet_data()
        first, xml, text, date, quoted = data
        if any(r >= first and cells for r, cells in self.table.items()) or any(
            r >= first for r in self.row_info
        ):
            raise ValueError(f"{self.name}: a row from {first + 1} on was also written cell by cell")
        self._xml_start_tag("sheetData")
        self._write_rows()  # the title and header rows, written through xlsxwriter
        for mark, style in (("\0t", text), ("\0d", date), ("\0q", quoted)):
            xml = xml.replace(mark, str(style._get_xf_index())) if mark in xml else xml
        self.fh.write(xml)
        self._xml_end_tag("sheetData")


_COLUMNS = [xl_col_to_name(c) for c in range(256)]  # A..IV; the lists have about 20 columns
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_")
_EPOCH = dt.date(1899, 12, 30).toordinal()  # Excel's day 0, counting its 1900-02-29
_MARCH_1900 = dt.date(1900, 3, 1).toordinal()
_TEXT_MAX = 32_767  # Excel's longest cell text in UTF-16 units; xlsxwriter cuts there too


def _render(
    first: int,
    rows: list[tuple],
    text: int | str,
    date: int | str,
    quoted: int | str,
    heights: list[float] | None = None,
) -> str:
    """The <row> elements of `rows` from 0-based row `first`, with xf format indexes `text`, `date`
    and `quoted` (a text that starts like a formula), and each row's height when `heights` gives it."""
    out = []
    for r, row in enumerate(rows, start=first + 1):
        height = f' ht="{heights[r - first - 1]:g}" customHeight="1"' if heights else ""
        cells = []
        for c, value in enumerate(row):
            if value is None:
                continue
            ref = f"{_COLUMNS[c]}{r}"
            if isinstance(value, dt.date):
                day = value.toordinal()
                serial = day - _EPOCH if day >= _MARCH_1900 else day - _EPOCH - 1
                cells.append(f'<c r="{ref}" s="{date}"><v>{serial}</v></c>')
            elif isinstance(value, int | float) and not isinstance(value, bool):
                if not math.isfinite(value):  # xlsxwriter refuses them too: a bug upstream, not a blank
                    raise ValueError(
                        f"row {r}, column {_COLUMNS[c]}: {value} is not a number a cell can hold"
                    )
                cells.append(f'<c r="{ref}" s="{text}"><v>{value:.16G}</v></c>')
            elif value == "":
                cells.append(f'<c r="{ref}" s="{text}"/>')
            else:
                value = str(value)
                style = quoted if formula_like(value) else text
                cells.append(f'<c r="{ref}" s="{style}" t="inlineStr"><is>{_inline(value)}</is></c>')
        if cells:
            out.append(f'<row r="{r}"{height}>{"".join(cells)}</row>')
    return "".join(out)


def _inline(value: str) -> str:
    """A cell's text as an inline string's <t> element, escaped as xlsxwriter escapes it."""
    if len(value) > _TEXT_MAX // 2 and len(value.encode("utf-16-le")) > 2 * _TEXT_MAX:
        value = value.encode("utf-16-le")[: 2 * _TEXT_MAX].decode("utf-16-le", "ignore")
    if _CONTROL.search(value):
        value = Worksheet._escape_control_characters(value)
    if "&" in value or "<" in value or ">" in value:
        value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if value[:1].isspace() or value[-1:].isspace():
        return f'<t xml:space="preserve">{value}</t>'
    return f"<t>{value}</t>"


def quoted_twin(wb: xlsxwriter.Workbook, properties: dict, values) -> Format | None:
    """The format `properties` marked quotePrefix, made only when one of `values` is a text that
    starts like a formula (a list without one keeps its bytes): Excel and WPS show such a cell as
    the text it is and keep it text when it is edited."""
    if not any(formula_like(v) for v in values):
        return None
    return wb.add_format({**properties, "quote_prefix": True})


TITLE = {"bold": True, "font_size": 14}


def _heading(wb: xlsxwriter.Workbook, ws, last_column: int, heading: str, bold: Format) -> None:
    """The title row across the list's columns, written as text whatever it starts with (a
    township's name comes from the divisions delivery; `merge_range` would make `=...` a formula)."""
    style = quoted_twin(wb, TITLE, [heading]) or bold
    if last_column > 0:
        ws.merge_range(0, 0, 0, last_column, "", style)
    ws.write_string(0, 0, heading, style)
    ws.set_row(0, 24)


def _note_sheet(
    wb: xlsxwriter.Workbook, ws, frame: pl.DataFrame, headers: dict[str, str], heading: str
) -> None:
    bold = wb.add_format(TITLE)
    head = wb.add_format({"bold": True, "bg_color": "#E2EFDA", "border": 1, "text_wrap": True})
    top = wb.add_format({"valign": "top", "text_wrap": True})
    date = wb.add_format({"num_format": "yyyy-mm-dd", "valign": "top"})
    names = list(headers.values())
    _heading(wb, ws, len(names) - 1, heading, bold)
    for c, name in enumerate(names):
        ws.write_string(1, c, name, head)
    cells = frame.select(*headers)
    rows = cells.rows()
    quoted = quoted_twin(wb, {"valign": "top", "text_wrap": True}, (v for row in rows for v in row))
    wanted = [
        min(max(w, display_width(n) // 2), 30) + 1 for w, n in zip(display_widths(cells), names, strict=True)
    ]
    widths = fit(wanted, [n in NOTE_TEXT for n in names])
    ws.data_rows(2, rows, top, date, quoted, row_heights(cells, widths))
    for c, width in enumerate(widths):
        ws.set_column(c, c, width, top)
    ws.freeze_panes(2, 0)
    page_setup(ws)


def _sheet(
    wb: xlsxwriter.Workbook,
    ws,
    frame: pl.DataFrame,
    headers: dict[str, str],
    heading: str,
    issued: dt.date,
    earliest: dt.date,
) -> None:
    bold = wb.add_format(TITLE)
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    fill = wb.add_format({"bold": True, "bg_color": "#FFF2CC", "border": 1, "text_wrap": True})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    date = wb.add_format({"num_format": "yyyy-mm-dd", "valign": "top"})
    names = [*headers.values(), DEADLINE, *FILL_IN.values()]
    _heading(wb, ws, len(names) - 1, heading, bold)
    for c, name in enumerate(names):
        ws.write_string(1, c, name, fill if name in FILL_IN.values() else head)
    # a list of texts is written joined, as the exports' content hash reads it
    cells = frame.select(*headers, "visit_by").with_columns(pl.col(pl.List(pl.String)).list.join("；"))
    rows = cells.rows()
    # every text cell wraps within its column (valign top), so that a long reason takes lines, not width
    quoted = quoted_twin(wb, {"text_wrap": True, "valign": "top"}, (v for row in rows for v in row))
    widths = column_widths(cells, names)
    ws.data_rows(2, rows, wrap, date, quoted, row_heights(cells, widths))
    for c, (name, width) in enumerate(zip(names, widths, strict=True)):
        ws.set_column(c, c, width, date if name == FILL_IN["visited_on"] else wrap)
    ws.set_row(1, LINE * max(lines(n, w) for n, w in zip(names, widths, strict=True)) + 4)
    last = max(len(rows), 1) + 1
    outcome_col = names.index(FILL_IN["outcome"])
    ws.data_validation(
        2,
        outcome_col,
        last,
        outcome_col,
        {
            "validate": "list",
            "source": list(OUTCOME_CODES),
            "input_title": "核查结论",
            "input_message": "请从下拉列表选择",
            "error_title": "核查结论",
            "error_message": "请从下拉列表选择约定的核查结论",
        },
    )
    visited_col = names.index(FILL_IN["visited_on"])
    ws.data_validation(2, visited_col, last, visited_col, visit_date_check(list(headers), issued, earliest))
    ws.freeze_panes(2, 0)
    ws.autofilter(1, 0, last, len(names) - 1)
    page_setup(ws)


def page_setup(ws) -> None:
    """A4 landscape, one page wide and as many tall as the rows need, the title and header rows on
    every page, page numbers in the footer."""
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0, 1)
    ws.set_margins(left=PRINT_MARGIN, right=PRINT_MARGIN, top=0.5, bottom=0.5)
    ws.set_footer("&C第 &P 页，共 &N 页")


def column_widths(cells: pl.DataFrame, names: list[str]) -> list[float]:
    """Each column's width: a text column (`WIDTHS`) its widest cell up to its cap, an id up to
    `ID_WIDTH` (it wraps after a hyphen), a date `DATE_WIDTH`, any other column (a word, a number,
    a code) its widest cell and a margin; none below `NARROW`, a header wrapping above its column.
    The fill-in columns after the frame's are empty: their `WIDTHS`, room to write. Then `fit` to
    the page."""
    found = display_widths(cells)
    wanted, text = [], []
    for c, name in enumerate(names):
        content = found[c] if c < len(found) else 0
        if name in FILL_IN.values() and name in WIDTHS:  # empty, for staff to write in
            wanted.append(WIDTHS[name])
        elif name in WIDTHS:
            wanted.append(min(max(content, NARROW), WIDTHS[name]))
        elif name in ID_HEADERS:
            wanted.append(max(min(content, ID_WIDTH), NARROW))
        elif name in (DEADLINE, FILL_IN["visited_on"]) or (c < len(found) and cells.dtypes[c] == pl.Date):
            wanted.append(DATE_WIDTH)
        else:
            wanted.append(max(content + 1, NARROW))
        text.append(name in WIDTHS)
    return fit(wanted, text)


def lines(text: str, width: float) -> int:
    """The lines a text wraps into in a column `width` wide (`row_heights`' measure)."""
    return max(1, math.ceil((len(text) + WIDE_SHARE * len(_WIDE.findall(text))) / max(width - 1, 1)))


def row_heights(cells: pl.DataFrame, widths: list[float]) -> list[float]:
    """Each row's height in points: its cell of the most wrapped lines, `LINE` points a line, and a
    line more past three (a number or a word is not broken, so a line may end short). A Chinese
    character counts 1 + `WIDE_SHARE` character widths of Calibri 11, a little more than LibreOffice
    draws (12 on a line 21.6 wide), so that Excel's and WPS's fonts fit too: a row a little tall
    rather than a line cut off (tests/test_print.py finds every cell's text in the printed PDF)."""
    if cells.height == 0:
        return []
    texts = [n for n, dtype in cells.schema.items() if dtype == pl.String]
    if not texts:
        return [LINE + 3.0] * cells.height
    most = pl.max_horizontal(
        (
            (pl.col(n).str.len_chars() + WIDE_SHARE * pl.col(n).str.count_matches(WIDE_CHARS))
            / max(widths[cells.columns.index(n)] - 1, 1)
        )
        .ceil()
        .fill_null(1)
        for n in texts
    )
    return [LINE * (n + (n > 3)) + 3.0 for n in cells.select(most.alias("lines"))["lines"].cast(int)]


def fit(widths: list[float], text: list[bool], page: float = PAGE_WIDTH) -> list[float]:
    """`widths` with the text columns narrowed in proportion to what they have above `NARROW`, so
    that the sheet (with Excel's padding) is at most `page` wide; the others are kept whole."""
    total = sum(widths) + PADDING * len(widths)
    spare = sum(w - NARROW for w, t in zip(widths, text, strict=True) if t)
    if total <= page or spare <= 0:
        return widths
    keep = max(0.0, 1 - (total - page) / spare)
    # rounded down to a tenth, so that the rounding never takes the sheet past the page
    return [
        math.floor((NARROW + (w - NARROW) * keep) * 10) / 10 if t else w
        for w, t in zip(widths, text, strict=True)
    ]


def earliest_visit(month: str) -> dt.date:
    """The earliest visit date an upload of `month`'s lists can carry: the portal reads it into the
    next month's outcomes at the soonest, whose window reaches `late_report_months` back
    (portal/uploads.py `check`). A later upload is held to a later window, which a workbook cannot know."""
    target = next_month(month)
    return month_bounds(add_months(target, -load_population(month=target).late_report_months))[0]


def visit_date_check(columns: list[str], issued: dt.date, since: dt.date) -> dict:
    """The 核查日期 column's Excel data validation, from the first data row (row 3) down: the rules of
    the portal's upload check that a workbook can hold. A date on or after the row's own case's first
    issue (its 首次下发日期 cell, relative, so each row reads its own; a last month's overdue case was
    issued before this list) and within the upload window, and not after today. A list without a
    first-issue column starts at its issue date. `since` is `earliest_visit`'s date."""
    if FIRST_ISSUED in columns:
        first = f"${_COLUMNS[columns.index(FIRST_ISSUED)]}3"
        start = f"=MAX({first},DATE({since.year},{since.month},{since.day}))"
        rule = "核查日期不能早于本行的首次下发日期，也不能晚于今天"
    else:
        start = dt.datetime.combine(max(issued, since), dt.time())
        rule = f"核查日期不能早于清单下发日 {issued.isoformat()}，也不能晚于今天"
    return {
        "validate": "date",
        "criteria": "between",
        "minimum": start,
        "maximum": "=TODAY()",
        "input_title": "核查日期",
        "input_message": "入户核查的日期，如 2026-10-08",
        "error_title": "核查日期",
        "error_message": rule,
    }
