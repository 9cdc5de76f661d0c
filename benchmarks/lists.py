"""The township lists' cells: xlsxwriter's per-cell API against `jobs/export/returnable.py`'s rows written
in one pass (issue 13: the lists were the export's largest part at 2 M households).

Both write the same workbook with xlsxwriter (its formats and a header row; the lists add a title
row, drop-downs, a filter and print settings the same way); only the data cells differ:
`write_string`/`write_number`/`write_datetime` per cell, or `_Rows.data_rows` rendering them in one
pass. Figures printed: milliseconds
per list and microseconds per cell for each, the bytes, and whether every cell reads back the same
through calamine (the reader the portal's upload uses).

    python benchmarks/lists.py [--rows 60] [--lists 300]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import time

from python_calamine import CalamineWorkbook

from jobs.export import returnable

HEADERS = {f"c{i}": f"列{i}" for i in range(14)}


def rows(n: int) -> list[tuple]:
    """A lead list's kind of rows: ids, names, masked ID numbers, codes, a score, dates, long text."""
    out = []
    for i in range(n):
        out.append(
            (
                f"XS2026090{i:06d}",
                f"H{i:010d}",
                "张伟" if i % 3 else "王𬱖𡒄",
                f"430101{i % 97:012d}"[:6] + "********" + f"{i % 10000:04d}",
                "430101001",
                "低保" if i % 2 else "低保边缘",
                float(40 + i % 37) + 0.5,
                "红" if i % 5 == 0 else "橙",
                "大额医疗支出；新增残疾 & <其他>" * (1 + i % 3),
                dt.date(2026, 9, 1) + dt.timedelta(days=i % 20),
                i % 4,
                None if i % 7 else " 前后空格 ",
                "建议：入户核实家庭收入与支出情况，必要时给予临时救助",
                dt.date(2026, 10, 15),
            )
        )
    return out


def per_cell(buffer: io.BytesIO, data: list[tuple]) -> None:
    """The old way: every cell through xlsxwriter's API."""
    wb = returnable.xlsxwriter.Workbook(buffer, {"in_memory": True})
    ws = wb.add_worksheet("线索清单")
    top = wb.add_format({"valign": "top"})
    date = wb.add_format({"num_format": "yyyy-mm-dd", "valign": "top"})
    for c, name in enumerate(HEADERS.values()):
        ws.write_string(1, c, name, top)
    for r, row in enumerate(data, start=2):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, dt.date):
                ws.write_datetime(r, c, dt.datetime.combine(value, dt.time()), date)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                ws.write_number(r, c, value, top)
            else:
                ws.write_string(r, c, str(value), top)
    wb.close()


def one_pass(buffer: io.BytesIO, data: list[tuple]) -> None:
    """The lists' way: the same workbook, data rows rendered when it closes."""
    wb = returnable.xlsxwriter.Workbook(buffer, {"in_memory": True})
    ws = wb.add_worksheet("线索清单", returnable._Rows)
    top = wb.add_format({"valign": "top"})
    date = wb.add_format({"num_format": "yyyy-mm-dd", "valign": "top"})
    for c, name in enumerate(HEADERS.values()):
        ws.write_string(1, c, name, top)
    ws.data_rows(2, data, top, date)
    wb.close()


def cells(data: bytes) -> list[list]:
    return CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60, help="rows per list (about 50 on average)")
    parser.add_argument("--lists", type=int, default=300)
    args = parser.parse_args()
    data = rows(args.rows)
    n_cells = sum(v is not None for row in data for v in row)
    written = {}
    for name, write in (("xlsxwriter per cell", per_cell), ("rows in one pass", one_pass)):
        start = time.perf_counter()
        for _ in range(args.lists):
            buffer = io.BytesIO()
            write(buffer, data)
        seconds = (time.perf_counter() - start) / args.lists
        written[name] = buffer.getvalue()
        print(
            f"{name:22} {seconds * 1000:7.2f} ms per list of {args.rows} rows "
            f"({seconds / n_cells * 1e6:5.2f} µs per cell), {len(written[name]):,} bytes"
        )
    same = cells(written["xlsxwriter per cell"]) == cells(written["rows in one pass"])
    print(f"every cell reads back the same through calamine: {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
