"""The township side in tests: a landing awaiting outcomes, and workbooks as staff handle them
(read a downloaded list, fill some rows in)."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import zipfile
from pathlib import Path

import xlsxwriter
from python_calamine import CalamineWorkbook


def sheet(data: bytes) -> list[list]:
    return CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()


def sheet_size(data: bytes) -> tuple[int, int]:
    """(rows, columns) the reader lays the first sheet out as, without building it in Python."""
    laid_out = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
    return laid_out.height, laid_out.width


def filled(rows: list[list], fill: dict[int, tuple]) -> bytes:
    """The downloaded list with some rows filled in, as staff do in Excel (title row and all)."""
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"in_memory": True})
    ws = wb.add_worksheet()
    header = rows[1]
    cols = {name: i for i, name in enumerate(header)}
    for r, row in enumerate(rows):
        row = list(row)
        if r in fill:
            date, outcome = fill[r][:2]
            row[cols["核查日期"]] = date
            row[cols["核查结论"]] = outcome
            if len(fill[r]) > 2:
                row[cols[header[1]]] = fill[r][2]
        for c, v in enumerate(row):
            if isinstance(v, dt.date):
                ws.write_datetime(
                    r, c, dt.datetime.combine(v, dt.time()), wb.add_format({"num_format": "yyyy-mm-dd"})
                )
            elif v not in (None, ""):
                ws.write(r, c, v)
    wb.close()
    return out.getvalue()


def september_open(landing: Path, root: Path) -> Path:
    """A copy of the session's landing in which September still takes outcomes: no `_READY` and no
    outcomes of its own yet (the uploads will bring them), and none of the later months other
    tests of the session generated into it."""
    land = root / "landing"
    shutil.copytree(landing, land)
    for part in [*land.glob("2026-09/outcomes*"), land / "2026-09" / "_READY"]:
        part.unlink()
    for later in land.glob("20[0-9][0-9]-[0-9][0-9]"):
        if later.name > "2026-09":
            shutil.rmtree(later)
    return land


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def hostile(
    rows_xml: str,
    root: str = f'<worksheet xmlns="{_MAIN}">',
    *,
    sheets: int = 1,
    path: str = "xl/worksheets/sheet1.xml",
    prolog: bytes = b'<?xml version="1.0" encoding="UTF-8"?>',
    book: str = "xl/",
    extra: dict[str, str] | None = None,
    stored_as: str | None = None,
    more_sheets: tuple[str, str] = ("", ""),
) -> bytes:
    """A workbook written by hand, as an attacker would: `sheets` sheets whose XML is `rows_xml`
    inside <sheetData>, with no <dimension>, after a header row a list has (线索编号, 核查结论);
    the first at `path` (the others beside it, `..._2`), each preceded by `prolog`, the workbook's
    parts under `book` (as `_rels/.rels` names it), and any `extra` parts; the first sheet's
    part stored under `stored_as` when given (a name the relationships spell otherwise); and
    `more_sheets`: a <sheet> for the workbook and its <Relationship>, written as given."""
    header = (
        '<row r="1"><c r="A1" t="inlineStr"><is><t>线索编号</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>核查结论</t></is></c></row>'
    )
    close = "</" + root[1:].split(" ")[0].rstrip(">") + ">"
    sheet = prolog + f"{root}<sheetData>{header}{rows_xml}</sheetData>{close}".encode()
    stem, dot, ext = path.rpartition(".")
    paths = [path] + [f"{stem}_{n}{dot}{ext}" for n in range(2, sheets + 1)]
    listed = "".join(f'<sheet name="Sheet{n}" sheetId="{n}" r:id="rId{n}"/>' for n in range(1, sheets + 1))
    listed += more_sheets[0]
    targets = "".join(
        f'<Relationship Id="rId{n}" Type="{_DOC}/worksheet" Target="/{p}"/>'
        for n, p in enumerate(paths, start=1)
    )
    targets += more_sheets[1]
    parts = (
        {
            "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
            'openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="'
            'application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/></Types>',
            "_rels/.rels": f'<Relationships xmlns="{_RELS}"><Relationship Id="rId1" Type="{_DOC}/'
            f'officeDocument" Target="{book}workbook.xml"/></Relationships>',
            f"{book}workbook.xml": f'<workbook xmlns="{_MAIN}" xmlns:r="{_DOC}"><sheets>{listed}</sheets></workbook>',
            f"{book}_rels/workbook.xml.rels": f'<Relationships xmlns="{_RELS}">{targets}</Relationships>',
        }
        | dict.fromkeys([stored_as or path, *paths[1:]], sheet)
        | (extra or {})
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
    return out.getvalue()


# the probe's workbook: 5 KB, a cell at row 300000 whose reference a reader reads but a pattern
# looking for `<c r="` misses; laid out, 300000 rows of 60 columns
FAR_ROW = hostile('<row r="300000"><c t="inlineStr" r="BH300000"><is><t>x</t></is></c></row>')


# a sheet's part as an attacker stores it: read by the reader whatever its name, root or prolog
_FAR = '<row r="300000"><c t="inlineStr" r="A300000"><is><t>x</t></is></c></row>'
HOSTILE_PARTS = {
    "named .bin": lambda: hostile(_FAR, path="xl/worksheets/sheet1.bin"),
    "declared UTF-16": lambda: hostile(
        _FAR, path="xl/s1.xml", prolog=b'<?xml version="1.0" encoding="UTF-16"?>'
    ),
    "a NUL byte before the root": lambda: hostile(
        _FAR, path="xl/s1.xml", prolog=b'<?xml version="1.0" encoding="UTF-8"?>\x00'
    ),
    "an unknown encoding": lambda: hostile(
        _FAR, path="xl/s1.xml", prolog=b'<?xml version="1.0" encoding="x-bogus"?>'
    ),
    "a UTF-16 byte order mark": lambda: hostile(_FAR, path="xl/s1.xml", prolog=b"\xff\xfe"),
    "a root that is not a worksheet": lambda: hostile(_FAR, root="<foo>"),
    "a chartsheet": lambda: hostile(_FAR, root="<chartsheet>", path="xl/chartsheets/c.xml"),
    "a name in other capitals": lambda: hostile(
        _FAR, path="xl/worksheets/sheet1.bin", stored_as="XL/Worksheets/SHEET1.BIN"
    ),
    "a name with backslashes": lambda: hostile(
        _FAR, path="xl/worksheets/sheet1.bin", stored_as="xl\\worksheets\\sheet1.bin"
    ),
    "the workbook elsewhere, a decoy in xl/": lambda: hostile(
        _FAR, book="wb/", path="wb/s.bin", extra={"xl/workbook.xml": "<workbook/>"}
    ),
    "column XFD in a .bin": lambda: hostile('<row r="2"><c r="XFD2"><v>1</v></c></row>', path="xl/s1.bin"),
    "an OpenDocument spreadsheet inside": lambda: ods_inside(),
}


_ODS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
)


def ods_inside() -> bytes:
    """A small, harmless xlsx whose workbook also names a sheet of a type the reader does not know
    (so its xlsx reader gives up), holding an OpenDocument spreadsheet that the reader then tries
    next: one row repeated 300000 times, 60 cells wide."""
    sheet_of_no_type = f'<Relationship Id="rId9" Type="{_DOC}/bogus" Target="b.xml"/>'
    return hostile(
        "",
        extra={
            "mimetype": "application/vnd.oasis.opendocument.spreadsheet",
            "META-INF/manifest.xml": f'<manifest:manifest {_ODS}><manifest:file-entry manifest:full-path="/" '
            'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/></manifest:manifest>',
            "content.xml": f"<office:document-content {_ODS}><office:body><office:spreadsheet>"
            '<table:table table:name="S"><table:table-row table:number-rows-repeated="300000">'
            '<table:table-cell table:number-columns-repeated="60" office:value-type="float" office:value="1"/>'
            "</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>",
        },
        more_sheets=('<sheet name="B" sheetId="9" r:id="rId9"/>', sheet_of_no_type),
    )


def far_column_rows(rows: int) -> str:
    """`rows` rows, each with one cell, in column BH (60, the widest a list may be)."""
    return "".join(f'<row r="{n}"><c r="BH{n}"><v>1</v></c></row>' for n in range(2, rows + 2))
