"""The returnable lists on paper (issue 33): Debian's LibreOffice (`libreoffice-calc-nogui`, headless,
with its own profile) converts each list of a township to PDF, and the PDF says how it prints: every
page A4 landscape, the smallest text at least 8 pt after the page's scaling (font size × text matrix ×
CTM), and a bound on the pages. Slow tier: it needs the system package (`make libreoffice` installs
it, with Debian's Carlito for Calibri's metrics, as Excel and WPS lay the columns out)."""

from __future__ import annotations

import datetime as dt
import math
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

from jobs.export.lists import LEAD_COLUMNS, LISTS
from jobs.export.returnable import write_list

pytestmark = pytest.mark.slow
SOFFICE = shutil.which("soffice") or "/usr/bin/soffice"
A4_LANDSCAPE = (842, 595)  # points
SMALLEST = 8.0  # pt, after scaling


def to_pdf(books: list[Path], out: Path) -> list[Path]:
    """Each workbook as LibreOffice prints it, converted in one headless run with a profile of its own."""
    assert Path(SOFFICE).exists(), (
        "Debian's LibreOffice is missing (make libreoffice installs it with apt-get)"
    )
    profile = out / "profile"
    subprocess.run(
        [SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to", "pdf"]
        + ["--outdir", str(out), *map(str, books)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return [out / f"{book.stem}.pdf" for book in books]


def _times(m: list[float], n: list[float]) -> list[float]:
    """The product of two PDF matrices [a b c d e f]."""
    return [
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4],
        m[4] * n[1] + m[5] * n[3] + n[5],
    ]


def printed(pdf: Path) -> tuple[list[tuple[int, int]], float, str]:
    """The pages' sizes in points, the smallest text on them (each text run's font size scaled by
    its text matrix and the current transformation matrix: the vertical scale of their product) and
    the text, without white space."""
    from pypdf import PdfReader

    sizes: list[float] = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            m = _times(tm, cm)
            sizes.append(size * math.hypot(m[2], m[3]))

    reader = PdfReader(pdf)
    pages, text = [], []
    for page in reader.pages:
        box = page.mediabox
        pages.append((round(float(box.width)), round(float(box.height))))
        text.append(page.extract_text(visitor_text=visit))
    assert sizes, f"{pdf.name}: no text"
    return pages, min(sizes), "".join("".join(text).split())


def cut_off(book: Path, text: str) -> list[str]:
    """The texts of the workbook's data cells that the printed text lacks: a row too short for its
    wrapped cell loses its last lines (LibreOffice draws no glyph outside the row)."""
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(book))
    cells = (v for s in wb.sheet_names for row in wb.get_sheet_by_name(s).to_python()[2:] for v in row)
    return [v for v in cells if isinstance(v, str) and "".join(v.split()) not in text]


def rows_of(manifest: dict) -> dict[str, int]:
    return {f["file"]: f["rows"] for f in manifest["files"] if "rows" in f}


def test_each_list_of_a_township_prints_on_a4_landscape_at_8pt_at_least(looped, tmp_path):
    """The township with the most leads in the looped home: its lead list, doubtful records and
    sample (when drawn), each sheet one page wide. Before issue 33 the lead list printed at about
    a third of its size (3.4 pt in a 2,000-household demo township)."""
    import json

    folders = sorted((looped / "exports" / "2026-09").glob("*/*/manifest.json"))
    manifests = {p.parent: json.loads(p.read_text(encoding="utf-8")) for p in folders}
    township = max(manifests, key=lambda f: (rows_of(manifests[f]).get(LISTS[0][0], 0), f.name))
    rows = rows_of(manifests[township])
    books = [township / name for name, _ in LISTS if name in rows]
    assert len(books) >= 2, rows
    for book, pdf in zip(books, to_pdf(books, tmp_path), strict=True):
        pages, smallest, text = printed(pdf)
        assert set(pages) == {A4_LANDSCAPE}, (book.name, pages)
        assert smallest >= SMALLEST, f"{book.name}: text printed at {smallest:.2f} pt"
        assert not cut_off(book, text), (book.name, cut_off(book, text)[:3])
        # a row takes at most half a page; the title and header repeat; each sheet starts a page
        assert len(pages) <= math.ceil(rows[book.name] / 2) + 2, (book.name, rows[book.name], len(pages))


def lead_rows(n: int) -> pl.DataFrame:
    """A lead list's rows with the longest texts a township sees (the demo's longest reasons)."""
    reasons = (
        "扣除刚性支出后家庭人均月收入-10869.85元，低于当地低保标准840.0元（计入收入2261.0元/月、共同生活成员1人；"
        "刚性支出月均13130.85元，医疗费用依据近1个月医保结算、扣除医疗救助，教育费用按学段标准扣除教育资助）；"
        "近12个月个人自付医疗费用13130.85元，达到5000元（医保结算）"
    )
    row = {
        "sheet": "main",
        "rank": 1,
        "lead_id": "XS202609-H0000000298",
        "state_label": "持续（预警条件已消失，仍需核查）",
        "first_issued_on": dt.date(2026, 9, 1),
        "days_open": 30,
        "level": "橙",
        "urgency": "紧急",
        "household_id": "H0000000298",
        "head_name": "欧阳丽娟",
        "village": "城关镇东风社区居民委员会",
        "category": "脱贫不稳定户",
        "hardship_score": 21.2,
        "hardship_level": "无明显困难",
        "warned_by": "预警来自：扣除刚性支出后低于低保标准、大额医疗自付；困难指数反映长期状况",
        "top_factors": "人均收入与低保标准之比、无劳动能力人口占比、未成年人无劳动年龄成员照料",
        "reasons": reasons,
        "cross_region": "待异地核对（不动产、机动车、市场主体、存款、社保、公积金、死亡）",  # every item waits
        "recommended_action": "评估纳入低保（刚性支出困难：扣除医疗、教育支出后低于低保标准），落实医疗救助、教育资助",
        "visit_by": dt.date(2026, 10, 8),
    }
    frame = pl.DataFrame([row] * n)
    return frame.with_columns(rank=pl.int_range(1, n + 1), lead_id=pl.format("XS202609-H{}", pl.int_range(n)))


def test_a_long_lead_list_prints_one_page_wide_at_8pt_at_least(tmp_path):
    """Forty leads, each with the longest texts seen: wrapped, not shrunk, and no line cut off."""
    frame = lead_rows(40)
    path = tmp_path / "线索清单.xlsx"
    sheets = [("线索清单", frame, "某乡镇（430101001）2026年09月线索清单")]
    write_list(path, sheets, LEAD_COLUMNS, "线索清单", "2026-09", dt.date(2026, 10, 1), None)
    (pdf,) = to_pdf([path], tmp_path)
    pages, smallest, text = printed(pdf)
    assert set(pages) == {A4_LANDSCAPE} and smallest >= SMALLEST, (pages, smallest)
    assert not cut_off(path, text)
    assert len(pages) <= 40 / 2 + 1, len(pages)  # at most half a page a row of the longest texts
