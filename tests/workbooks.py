"""The township side in tests: a landing awaiting outcomes, and workbooks as staff handle them
(read a downloaded list, fill some rows in)."""

from __future__ import annotations

import datetime as dt
import io
import shutil
from pathlib import Path

import xlsxwriter
from python_calamine import CalamineWorkbook


def sheet(data: bytes) -> list[list]:
    return CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()


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
