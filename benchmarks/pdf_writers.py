"""ReportLab against safetynet/pdf.py on the same economic-status reports (issue 13, item 7).

The same `Reports.household` code lays out each report; its Flow/Document calls (title, paragraph,
heading, table, space) are recorded and replayed onto ReportLab's platypus (Paragraph with CJK
wrapping, Table with a repeated header, a footer with "page n of N"), so both writers draw exactly
the same content. Figures printed: milliseconds per report in one process, bytes per report,
whether two renderings give identical bytes (ReportLab with `invariant=1`), the time to load the
font, and what happens to a name with rare characters (𬱖, 𡒄: CJK Extensions B and E, not in
wqy-zenhei): ReportLab draws whatever glyph its one font maps, so the script checks the embedded
subset, then tries a per-character fallback in markup (`<font name=...>` around each run) and times it.

ReportLab is not a project dependency; run the script with it beside the project, e.g.

    uv run --with reportlab python benchmarks/pdf_writers.py --home demo/home --month 2026-08
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path
from xml.sax.saxutils import escape

from jobs.export import household_reports as hr
from safetynet.lake import Home
from safetynet.pdf import FontChain, find_font
from safetynet.rules import load_rules

RARE_NAME = "王𬱖𡒄"  # U+2CC56 (Extension E), U+21484 (Extension B): HanaMin has them, wqy-zenhei not


class Recorder:
    """Stands in for safetynet.pdf's Document and Flow: records what a report lays out."""

    def __init__(self, fonts=None, title: str = "", author: str = "", margin: float = 48, footer: str = ""):
        self.calls: list[tuple] = []
        self.title_text, self.author, self.footer = title, author, footer

    # Flow(doc, footer=...) is called with the document first: the same object plays both parts
    def __call__(self, doc: Recorder, margin: float = 48, footer: str = "") -> Recorder:
        doc.footer = footer
        return doc

    def title(self, text: str, size: float = 18) -> None:
        self.calls.append(("title", text, size))

    def heading(self, text: str, size: float = 12) -> None:
        self.calls.append(("heading", text, size))

    def paragraph(self, text: str, size: float = 9.5, indent: float = 0, bold: bool = False) -> None:
        self.calls.append(("paragraph", text, size, indent, bold))

    def space(self, height: float) -> None:
        self.calls.append(("space", height))

    def table(self, headers, rows, widths, size: float = 8.5) -> None:
        self.calls.append(("table", headers, rows, widths, size))

    def finish(self) -> None:
        pass

    def render(self) -> Recorder:
        return self


class ReportLabWriter:
    """Replays a recorded report onto ReportLab."""

    def __init__(self, chain: FontChain, fallback: bool):
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        self.chain = chain
        self.fallback = fallback
        self.names = []
        for i, path in enumerate(chain.paths):
            name = f"F{i + 1}"
            kwargs = {"subfontIndex": 0} if path.suffix == ".ttc" else {}
            pdfmetrics.registerFont(TTFont(name, str(path), **kwargs))
            self.names.append(name)

    def markup(self, text: str) -> str:
        """Text for a Paragraph; with `fallback`, each run of characters the first font lacks is set
        in the first font of the chain that has it (ReportLab has no fallback of its own)."""
        if not self.fallback:
            return escape(text)
        out, run, current = [], "", 0

        def flush() -> None:
            font = self.names[current]
            out.append(escape(run) if current == 0 else f'<font name="{font}">{escape(run)}</font>')

        for char in text:
            index = self.chain.index(char) or 0
            if index != current and run:
                flush()
                run = ""
            current = index
            run += char
        if run:
            flush()
        return "".join(out)

    # One writer's whole document in one piece, so the writers' code compares line by line.
    def render(self, doc: Recorder) -> bytes:
        from reportlab.lib import colors
        from reportlab.lib.enums import TA_CENTER
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.styles import ParagraphStyle
        from reportlab.pdfgen import canvas
        from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

        margin = 48
        width = A4[0] - 2 * margin

        def style(size: float, **kw) -> ParagraphStyle:
            return ParagraphStyle(
                "s", **{"fontName": "F1", "fontSize": size, "leading": size * 1.4, "wordWrap": "CJK", **kw}
            )

        story = []
        for call in doc.calls:
            kind = call[0]
            if kind == "title":
                story.append(
                    Paragraph(self.markup(call[1]), style(call[2], alignment=TA_CENTER, spaceAfter=8))
                )
            elif kind == "heading":
                story.append(Paragraph(self.markup(call[1]), style(call[2], spaceBefore=call[2] * 0.6)))
            elif kind == "paragraph":
                _, text, size, indent, _bold = call
                story.append(Paragraph(self.markup(text), style(size, leftIndent=indent, leading=size * 1.5)))
            elif kind == "space":
                story.append(Spacer(1, call[1]))
            else:
                _, headers, rows, widths, size = call
                cell = style(size)
                total = sum(widths)
                data = [[Paragraph(self.markup(v), cell) for v in r] for r in [headers, *rows]]
                table = Table(data, colWidths=[width * w / total for w in widths], repeatRows=1)
                table.setStyle(
                    TableStyle(
                        [
                            ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                            ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.88, 0.88, 0.88)),
                            ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ]
                    )
                )
                story.append(table)
        footer, names = doc.footer, self.names

        class Numbered(canvas.Canvas):
            """The footer with "page n of N": pages are kept until the count is known."""

            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.pages = []

            def showPage(self):  # noqa: N802 (ReportLab's name)
                self.pages.append(dict(self.__dict__))
                self._startPage()

            def save(self):
                for number, state in enumerate(self.pages, start=1):
                    self.__dict__.update(state)
                    self.setFont(names[0], 7.5)
                    self.drawString(
                        margin, margin / 2, f"{footer}    第 {number} 页 / 共 {len(self.pages)} 页"
                    )
                    super().showPage()
                super().save()

        out = io.BytesIO()
        template = SimpleDocTemplate(
            out,
            pagesize=A4,
            leftMargin=margin,
            rightMargin=margin,
            topMargin=margin,
            bottomMargin=margin,
            title=doc.title_text,
            author=doc.author,
            invariant=1,
        )
        template.build(story, canvasmaker=Numbered)
        return out.getvalue()


def recorded(reports: hr.Reports, row: dict) -> Recorder:
    """The report's layout calls, made by the real `Reports.household`."""
    document, flow = hr.Document, hr.Flow
    hr.Document, hr.Flow = Recorder, Recorder(None)
    try:
        return reports.household(row)
    finally:
        hr.Document, hr.Flow = document, flow


def embedded_fonts(pdf: bytes) -> list[str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    found = set()
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            found.add(str(font.get_object()["/BaseFont"]))
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default="demo/home")
    parser.add_argument("--month", default="2026-08")
    parser.add_argument("--reports", type=int, default=300)
    args = parser.parse_args()

    h = Home(Path(args.home).resolve())
    rows = [r for rs in hr.gather(h, args.month).values() for r in rs][: args.reports]
    if not rows:
        raise SystemExit(f"{args.home}: no economic-status report households in {args.month}")
    rules = load_rules()
    names = hr.division_names(h, args.month)
    started = time.perf_counter()
    ours = hr.Reports(rules, args.month, "bench", names)
    ours_font = time.perf_counter() - started
    started = time.perf_counter()
    theirs = ReportLabWriter(FontChain(find_font()), fallback=False)
    theirs_font = time.perf_counter() - started
    chain = ours.fonts
    layouts = [recorded(ours, r) for r in rows]

    def timed(draw) -> tuple[list[float], list[bytes]]:
        draw(rows[0], layouts[0])  # warm up
        seconds, out = [], []
        for row, layout in zip(rows, layouts, strict=True):
            t = time.perf_counter()
            out.append(draw(row, layout))
            seconds.append(time.perf_counter() - t)
        return seconds, out

    our_seconds, our_pdfs = timed(lambda row, layout: ours.household(row))
    rl_seconds, rl_pdfs = timed(lambda row, layout: theirs.render(layout))
    fallback = ReportLabWriter(chain, fallback=True)
    fb_seconds, _ = timed(lambda row, layout: fallback.render(layout))

    def figures(label: str, seconds: list[float], pdfs: list[bytes], again) -> str:
        same = all(again(i) == pdfs[i] for i in range(0, len(pdfs), max(1, len(pdfs) // 20)))
        return (
            f"{label:<34} {statistics.mean(seconds) * 1000:7.1f} ms/report (median "
            f"{statistics.median(seconds) * 1000:.1f}) · "
            f"{statistics.mean(map(len, pdfs)) / 1024:6.1f} KB/report · "
            f"identical bytes twice: {'yes' if same else 'NO'}"
        )

    print(f"{len(rows)} economic-status reports of {args.month} from {args.home}, one process")
    print(f"font load: pdf.py {ours_font:.2f} s, ReportLab {theirs_font:.2f} s (once per process)")
    print(figures("safetynet/pdf.py", our_seconds, our_pdfs, lambda i: ours.household(rows[i])))
    print(figures("ReportLab (invariant=1)", rl_seconds, rl_pdfs, lambda i: theirs.render(layouts[i])))
    print(f"{'ReportLab + fallback markup':<34} {statistics.mean(fb_seconds) * 1000:7.1f} ms/report")

    # a head of household with rare characters
    row = {**rows[0], "members": [{**rows[0]["members"][0], "name": RARE_NAME}, *rows[0]["members"][1:]]}
    layout = recorded(ours, row)
    print(f"rare name {RARE_NAME}:")
    print(f"  pdf.py                fonts embedded {embedded_fonts(ours.household(row))}")
    plain = theirs.render(layout)
    from reportlab.pdfbase import pdfmetrics

    f1 = pdfmetrics.getFont("F1").face
    missing = [f"U+{ord(c):04X}" for c in RARE_NAME if ord(c) not in f1.charToGlyph]
    print(
        f"  ReportLab             fonts embedded {embedded_fonts(plain)}; not in its font: {missing} "
        "(drawn as .notdef, an empty box, with no error)"
    )
    print(f"  ReportLab + markup    fonts embedded {embedded_fonts(fallback.render(layout))}")


if __name__ == "__main__":
    main()
