"""A workbook uploaded to the portal, screened before a reader builds its grid.

python-calamine (calamine 0.37) finds the workbook through `_rels/.rels`, its sheets through the
workbook's relationships (`<dir>/_rels/workbook.xml.rels`), looks part names up ignoring case, reads
a sheet part whatever its name or root element, and lays a sheet out as a full grid from A1 to its
farthest cell. So the screen takes the sheet parts from the same relationships, measures every one
as its XML streams (rows, cells and the farthest place each takes, counted over the whole workbook),
and refuses a sheet part it cannot parse (an encoding other than UTF-8, a stray byte, a DOCTYPE):
what the screen cannot read, it never lets a reader read.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from xml.parsers import expat

from safetynet.errors import SafetynetError
from safetynet.rules import PortalSettings


class XlsxRefused(SafetynetError):
    """A workbook uploaded to the portal refused before it is read; the message is in Chinese."""


NOT_A_WORKBOOK = "文件不是有效的 Excel 工作簿（xlsx）"
# the root element of a part a reader lays out as a grid, and the last part of the Type of a
# relationship that names one (calamine reads a worksheet, chartsheet or dialogsheet)
SHEET_ROOTS = SHEET_TYPES = ("worksheet", "chartsheet", "dialogsheet", "macrosheet")
CELL_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")  # expat follows these whatever encoding it is told
# parts by which the reader would take the file for another format: when its xlsx reader gives up
# (a sheet of a type it does not know, say), it tries xlsb, then OpenDocument (calamine's
# open_workbook_auto_from_rs; an xls it tries first, so a file must begin as a zip does)
OTHER_FORMATS = ("xl/workbook.bin", "xl/_rels/workbook.bin.rels", "mimetype", "content.xml")
ZIP_START = b"PK\x03\x04"


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def _local(name: str) -> str:
    """An element's or attribute's name without its namespace (`x:c` and `c` are one element)."""
    return name.rpartition("}")[2]


def _normal(name: str) -> str:
    """A part's name as the reader looks it up: `\\` as `/`, case ignored."""
    return name.replace("\\", "/").lower()


class _Book:
    """What the workbook's sheets hold together: the grids a reader would build (rows x farthest
    column of each sheet, summed) and the cells their XML really holds, against `upload_max_cells`."""

    def __init__(self, settings: PortalSettings) -> None:
        self.settings, self.grid, self.cells = settings, 0, 0

    def check(self, sheet_grid: int) -> None:
        if self.grid + sheet_grid > self.settings.upload_max_cells:
            raise XlsxRefused(
                f"工作簿的表格范围过大（各表自 A1 起合计 {self.grid + sheet_grid} 个单元格），已拒绝；"
                f"最多 {self.settings.upload_max_cells} 个"
            )


class _SheetExtent:
    """A worksheet's extent as its XML streams: every <row> and <c> element counted, whatever its
    attributes say, and the farthest place each takes, laid out as the reader lays it out: a cell at
    its `r`, else after the previous cell in the row the last <row> began. Refuses as soon as a
    limit is passed, so a sheet of a million empty cells costs no more than the first cells past it."""

    def __init__(self, settings: PortalSettings, book: _Book) -> None:
        # the title and header rows sit above the data rows a list may have
        self.max_rows, self.max_columns = settings.upload_max_rows + 10, settings.upload_max_columns
        self.book, self.max_cells = book, settings.upload_max_cells
        self.rows = self.row = self.column = self.far_row = self.far_column = 0

    def element(self, name: str, attrs: dict[str, str]) -> None:
        if name == "c":
            self.book.cells += 1
            if (ref := _reference(attrs)) is not None:
                row, column = _cell_place(ref)
                self.column = column - 1
                self._reach(row, column)
            else:
                self._reach(self.row + 1, self.column + 1)
            self.column += 1
        elif name == "row":
            self.rows += 1
            ref = _reference(attrs)
            self.row = _row_number(ref) - 1 if ref is not None else self.row
            self._reach(self.row + 1, 1)
        elif name == "dimension" and attrs.get("ref"):  # what it claims counts too
            return self._reach(*_cell_place(attrs["ref"].rpartition(":")[2]))
        else:
            return
        if self.rows > self.max_rows or self.book.cells > self.max_cells:
            raise XlsxRefused(
                f"工作簿的行数或单元格数过多（读到第 {self.rows} 行、第 {self.book.cells} 个单元格时超出），"
                f"已拒绝；最多 {self.max_rows - 10} 行、{self.max_cells} 个单元格"
            )

    def end(self, name: str) -> None:
        if name == "row":  # the reader's next row without a number is the one after
            self.row, self.column = self.row + 1, 0

    def close(self) -> None:
        self.book.grid += self.far_row * self.far_column

    def _reach(self, row: int, column: int) -> None:
        if row <= self.far_row and column <= self.far_column:
            return
        self.far_row, self.far_column = max(self.far_row, row), max(self.far_column, column)
        if self.far_row > self.max_rows or self.far_column > self.max_columns:
            raise XlsxRefused(
                f"工作簿的表格范围过大（{self.far_row} 行 × {self.far_column} 列），已拒绝；"
                f"最多 {self.max_rows - 10} 行、{self.max_columns} 列"
            )
        self.book.check(self.far_row * self.far_column)


def _reference(attrs: dict[str, str]) -> str | None:
    """The `r` attribute (the reader reads no other), or when only a prefixed one (`x:r`) is
    there, that one: a place a reader might take is counted."""
    if "r" in attrs or not attrs:
        return attrs.get("r")
    return next((v for k, v in attrs.items() if _local(k) == "r"), None)


def _row_number(ref: str) -> int:
    if not ref.strip().isdigit() or int(ref) < 1:
        raise XlsxRefused(NOT_A_WORKBOOK)
    return int(ref)


def _cell_place(ref: str) -> tuple[int, int]:
    """(row, column) of a reference such as `T300000`."""
    found = CELL_REF.fullmatch(ref.strip())
    if found is None:
        raise XlsxRefused(NOT_A_WORKBOOK)
    return int(found.group(2)), _column_number(found.group(1))


class _Unreadable(ValueError):
    """A part the screen cannot read as the reader would: not UTF-8."""


def _parser(start: Callable, end: Callable | None = None) -> expat.XMLParserType:
    """A parser of UTF-8 XML only (told so, and refusing a declaration of any other), with no
    DOCTYPE or entity (never in a workbook)."""
    parser = expat.ParserCreate(encoding="UTF-8", namespace_separator="}")
    parser.StartElementHandler, parser.XmlDeclHandler = start, _utf8_only
    if end is not None:
        parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = _refuse
    return parser


def _utf8_only(version: str, encoding: str | None, standalone: int) -> None:
    if encoding is not None and encoding.lower() not in ("utf-8", "utf8"):
        raise _Unreadable(encoding)


def _refuse(*_) -> None:
    raise XlsxRefused(NOT_A_WORKBOOK)


def _looks_like_xml(first: bytes) -> bool:
    return first.startswith(UTF16_BOMS) or first.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


class _Part:
    """One member fed to expat as it inflates. A sheet part (one the workbook's relationships name)
    is measured whatever it is; any other that starts like XML is measured if its root is a sheet's.
    A sheet part that does not parse is refused; any other is left to the reader (its bytes count)."""

    def __init__(self, settings: PortalSettings, book: _Book, sheet: bool) -> None:
        self.settings, self.book, self.first = settings, book, True
        self.sheet = _SheetExtent(settings, book) if sheet else None
        self.parser = _parser(self._start, self._end)

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        if self.sheet is None:
            self.sheet = _SheetExtent(self.settings, self.book) if _local(tag) in SHEET_ROOTS else False
        if self.sheet:
            self.sheet.element(_local(tag), attrs)

    def _end(self, tag: str) -> None:
        if self.sheet:
            self.sheet.end(_local(tag))

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if self.parser is None:
            return
        try:
            if self.first and chunk:
                self.first = False
                if chunk.startswith(UTF16_BOMS):
                    raise _Unreadable("UTF-16")
                if not self.sheet and not _looks_like_xml(chunk):
                    self.parser = None
                    return
            self.parser.Parse(chunk, final)
        except XlsxRefused:
            raise
        except Exception:  # ExpatError, LookupError, _Unreadable, whatever a handler raised
            if self.sheet:
                raise XlsxRefused(NOT_A_WORKBOOK) from None
            self.parser = None
            return
        if final and self.sheet:
            self.sheet.close()


def _too_big(settings: PortalSettings) -> XlsxRefused:
    return XlsxRefused(
        f"工作簿解压后超过 {settings.xlsx_max_uncompressed_bytes // 1_000_000} MB，已拒绝"
        "（可能是压缩炸弹或含大量无关内容）"
    )


def _stream(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int, sink: Callable, settings: PortalSettings
) -> int:
    """Feed one member's inflated bytes to `sink` a chunk at a time, counting them against
    `budget` (returned, less what they used)."""
    try:
        with zf.open(info) as member:
            while chunk := member.read(1 << 20):
                budget -= len(chunk)
                if budget < 0:
                    raise _too_big(settings)
                sink(chunk)
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, RuntimeError):
        raise XlsxRefused(NOT_A_WORKBOOK) from None
    return budget


def _relationships(zf: zipfile.ZipFile, path: str, settings: PortalSettings) -> list[tuple[str, str]]:
    """(Type, Target) of every relationship in the part named `path` (case ignored), every copy of
    it; refused when there is none or it does not parse (the reader could not find the sheets)."""
    found: list[tuple[str, str]] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        if _local(tag) == "Relationship":
            found.append((attrs.get("Type", ""), attrs.get("Target", "")))

    copies = [i for i in zf.infolist() if _normal(i.filename) == _normal(path)]
    if not copies:
        raise XlsxRefused(NOT_A_WORKBOOK)
    for info in copies:
        parser = _parser(start)
        try:
            _stream(zf, info, settings.xlsx_max_uncompressed_bytes, _refuse_utf16(parser.Parse), settings)
            parser.Parse(b"", True)
        except (expat.ExpatError, LookupError, _Unreadable):
            raise XlsxRefused(NOT_A_WORKBOOK) from None
    return found


def _refuse_utf16(parse: Callable) -> Callable:
    """`parse`, refusing UTF-16 (expat would follow its byte order mark)."""

    def sink(chunk: bytes) -> None:
        if chunk.startswith(UTF16_BOMS):
            raise _Unreadable("UTF-16")
        parse(chunk)

    return sink


def sheet_parts(zf: zipfile.ZipFile, settings: PortalSettings) -> set[str]:
    """The names (as `_normal`) of every part the reader may read as a sheet: for each workbook
    `_rels/.rels` names, each relationship of a sheet's type in its `_rels/workbook.xml.rels`, its
    Target read from the workbook's folder (or from the root when it begins with `/`)."""
    parts = set()
    for kind, target in _relationships(zf, "_rels/.rels", settings):
        if not kind.endswith("/officeDocument"):
            continue
        folder = target[: target.rfind("/") + 1]
        folder = folder.removeprefix("/")
        for sheet_kind, sheet in _relationships(zf, f"{folder}_rels/workbook.xml.rels", settings):
            if sheet_kind.rpartition("/")[2] in SHEET_TYPES:
                parts.add(_normal(sheet[1:] if sheet.startswith("/") else folder + sheet))
    if not parts:
        raise XlsxRefused(NOT_A_WORKBOOK)
    return parts


def inspect_xlsx(data: bytes, settings: PortalSettings) -> None:
    """Refuse a workbook before a reader builds its grid: by the bytes it really inflates to (not
    the sizes it declares), by the rows and cells its sheets really hold, and by the grid they
    reach, however they say it (a 2 KB file can place a cell at row 300000 or at XFD1048576, which
    a reader would fill out as millions of cells), over all its sheets together; and a file the
    reader might read as another format."""
    if not data.startswith(ZIP_START):
        raise XlsxRefused(NOT_A_WORKBOOK)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise XlsxRefused(NOT_A_WORKBOOK) from None
    with zf:
        if any(_normal(info.filename) in OTHER_FORMATS for info in zf.infolist()):
            raise XlsxRefused(NOT_A_WORKBOOK)
        sheets, book = sheet_parts(zf, settings), _Book(settings)
        budget = settings.xlsx_max_uncompressed_bytes
        for info in zf.infolist():
            part = _Part(settings, book, _normal(info.filename) in sheets)
            budget = _stream(zf, info, budget, part.feed, settings)
            part.feed(b"", final=True)
