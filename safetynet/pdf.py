"""A small PDF writer for Chinese documents with an embedded TrueType font subset.

Township PCs may have no Chinese font, so every PDF embeds the glyphs it uses (a CIDFontType2
subset with a ToUnicode map, so text can be searched and copied). General libraries re-read the
whole font for every document (docs/design/pdf-writer.md); this writer
reads the font once per process and cuts a subset per document from bytes in memory, which is
what a province's tens of thousands of reports a month need.

Names in GB 18030-2022 include rare characters of CJK Extensions B-G (𬱖 U+2CC56, 𡒄 U+21484)
that wqy-zenhei lacks, so text is drawn with a chain of fonts: each character with the first font
whose character map has it (Debian's fonts-hanazono after wqy-zenhei, then fonts-babelstone-han if
installed), each font used embedded as its own subset. A character no font has stops the document
(`MissingGlyph`) rather than print an empty box.

Only TrueType outlines (glyf) are supported: wqy-zenhei (Debian fonts-wqy-zenhei), wqy-microhei,
Droid Sans Fallback, HanaMinA/B and BabelStone Han qualify; CFF fonts such as Noto Sans CJK do not.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

import deflate
import numpy as np

from safetynet.errors import SafetynetError, SetupError
from safetynet.settings import settings

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
# For the characters the primary font lacks, in order. Debian's fonts-hanazono (make install
# installs it) covers CJK Extensions B-F; a run without it warns.
FALLBACK_FONTS = (
    "/usr/share/fonts/truetype/hanazono/HanaMinA.ttf",
    "/usr/share/fonts/truetype/hanazono/HanaMinB.ttf",
)
# Used when installed (Debian's fonts-babelstone-han 15.0.5 also covers Extensions G and H).
OPTIONAL_FONTS = ("/usr/share/fonts/truetype/babelstone/BabelStoneHan.ttf",)
A4 = (595.28, 841.89)
# Outlines barely compress: level 1 gives a font a little larger than level 6 in half the time, and
# libdeflate (the `deflate` package) writes FlateDecode streams at its level 1 faster than zlib's
# level 1 and smaller (figures: docs/design/pdf-writer.md, "Compression"). A given libdeflate version always
# writes the same output (its maintainer: "no version of libdeflate has ever been non-deterministic";
# its CPU-specific code computes checksums), and the lock file pins the version, so a rerun on
# another machine writes the same bytes (tests/test_pdf.py pins a digest). ISA-L, faster
# still, picks its compressor by the CPU and promises no such thing (intel/isa-l#140).
DEFLATE_LEVEL = 1

# composite glyph flags (OpenType spec, 'glyf' table)
_ARG_WORDS, _HAVE_SCALE, _MORE, _XY_SCALE, _TWO_BY_TWO = 0x0001, 0x0008, 0x0020, 0x0040, 0x0080


class FontMissing(SetupError):
    pass


class FallbackFontMissing(UserWarning):
    """A fallback font is not installed: the reports are drawn, but a rare character may stop one."""


class MissingGlyph(SafetynetError):
    """Characters that no font of the chain has: the document stops rather than print empty boxes.

    The message is for township staff (it may reach their manifest) and names the code points."""

    def __init__(self, document: str, chars: Sequence[str], fonts: Sequence[str]):
        self.document = document
        self.chars = list(chars)
        self.code_points = [f"U+{ord(c):04X}" for c in self.chars]
        named = "、".join(f"“{c}”（{code}）" for c, code in zip(self.chars, self.code_points, strict=True))
        super().__init__(
            f"《{document}》未生成：字符{named}在已安装的字体（{'、'.join(fonts)}）中都没有字形，"
            "为免打印成空框，本文件停止生成。请系统管理员安装含该字的 TrueType 字体"
            "（如 Debian 的 fonts-hanazono、fonts-babelstone-han）后重新生成。"
        )


def find_font() -> tuple[Path, ...]:
    """The font chain: the primary Chinese font ($SAFETYNET_CJK_FONT, else the first Debian font
    installed), then the fallback fonts installed. Only a missing primary stops a run."""
    configured = settings().cjk_font
    candidates = [configured] if configured else list(FONT_CANDIDATES)
    primary = next((Path(c) for c in candidates if Path(c).is_file()), None)
    if primary is None:
        raise FontMissing(
            f"no Chinese TrueType font at {', '.join(candidates)}: install Debian's fonts-wqy-zenhei "
            "(make install does) or set SAFETYNET_CJK_FONT to a .ttf/.ttc with glyf outlines"
        )
    missing = [f for f in FALLBACK_FONTS if not Path(f).is_file()]
    if missing:
        warnings.warn(
            f"no fallback font at {', '.join(missing)}: install Debian's fonts-hanazono (make install "
            "does), or a report whose names have a rare character (CJK Extension B-F) is not drawn",
            FallbackFontMissing,
            stacklevel=2,
        )
    return (primary, *(Path(f) for f in FALLBACK_FONTS + OPTIONAL_FONTS if Path(f).is_file()))


class Font:
    """A TrueType font held in memory: glyph bytes, advances and the character map."""

    def __init__(self, path: Path, number: int = 0):
        from fontTools.ttLib import TTFont  # only for parsing the tables once

        font = TTFont(str(path), fontNumber=number, lazy=True)
        if "glyf" not in font.reader.keys():
            raise FontMissing(f"{path}: no TrueType outlines (glyf table); use a font such as wqy-zenhei")
        self.path = path
        self.name = font["name"].getDebugName(6) or path.stem
        self.units = font["head"].unitsPerEm
        self.cmap: dict[int, int] = {code: font.getGlyphID(name) for code, name in font.getBestCmap().items()}
        hmtx = font["hmtx"]
        self.advance = [hmtx[name][0] for name in font.getGlyphOrder()]
        self.ascent, self.descent = font["hhea"].ascent, font["hhea"].descent
        head = font["head"]
        self.bbox = (head.xMin, head.yMin, head.xMax, head.yMax)
        self._head = font.reader["head"]
        self._hhea = font.reader["hhea"]
        self._maxp = font.reader["maxp"]
        # hinting programs, which a PDF's embedded TrueType font keeps (ISO 32000-1, 9.9)
        tags = font.reader.keys()
        self._hinting = {tag: font.reader[tag] for tag in ("cvt ", "fpgm", "prep") if tag in tags}
        glyf, loca = font.reader["glyf"], list(font["loca"])
        self._glyphs = [glyf[loca[i] : loca[i + 1]] for i in range(len(loca) - 1)]
        self._components: dict[int, list[tuple[int, int]]] = {}

    def glyph(self, char: str) -> int:
        return self.cmap.get(ord(char), 0)

    def components(self, gid: int) -> list[tuple[int, int]]:
        """(byte offset of the glyph index, component gid) of a composite glyph."""
        found = self._components.get(gid)
        if found is None:
            found = self._components[gid] = self._parse_components(gid)
        return found

    def _parse_components(self, gid: int) -> list[tuple[int, int]]:
        data = self._glyphs[gid]
        if len(data) < 10 or struct.unpack_from(">h", data)[0] >= 0:
            return []
        out, pos = [], 10
        while True:
            flags, component = struct.unpack_from(">HH", data, pos)
            out.append((pos + 2, component))
            pos += 4 + (4 if flags & _ARG_WORDS else 2)
            if flags & _HAVE_SCALE:
                pos += 2
            elif flags & _XY_SCALE:
                pos += 4
            elif flags & _TWO_BY_TWO:
                pos += 8
            if not flags & _MORE:
                return out

    def subset(self, gids: list[int]) -> tuple[bytes, list[int]]:
        """A TrueType font of the given glyphs, renumbered 1..n (0 is .notdef) and the glyphs
        components pulled in after them; returns the font and the old gid of every new gid."""
        order = [0]
        new_of: dict[int, int] = {0: 0}
        for gid in gids:
            if gid not in new_of:
                new_of[gid] = len(order)
                order.append(gid)
        i = 0
        while i < len(order):  # components of composites, transitively
            for _, component in self.components(order[i]):
                if component not in new_of:
                    new_of[component] = len(order)
                    order.append(component)
            i += 1
        glyphs, offsets, hmtx = [], [0], []
        for gid in order:
            data = self._glyphs[gid]
            parts = self.components(gid)
            if parts:
                data = bytearray(data)
                for pos, component in parts:
                    struct.pack_into(">H", data, pos, new_of[component])
                data = bytes(data)
            data += b"\0" * (-len(data) % 4)
            glyphs.append(data)
            offsets.append(offsets[-1] + len(data))
            hmtx.append(struct.pack(">Hh", self.advance[gid], 0))
        n = len(order)
        head = bytearray(self._head)
        struct.pack_into(">I", head, 8, 0)  # checkSumAdjustment, set below
        struct.pack_into(">h", head, 50, 1)  # indexToLocFormat: long offsets
        hhea = bytearray(self._hhea)
        struct.pack_into(">H", hhea, 34, n)  # numberOfHMetrics
        maxp = bytearray(self._maxp)
        struct.pack_into(">H", maxp, 4, n)  # numGlyphs
        tables = {
            **{tag.encode("ascii"): data for tag, data in self._hinting.items()},
            b"glyf": b"".join(glyphs),
            b"head": bytes(head),
            b"hhea": bytes(hhea),
            b"hmtx": b"".join(hmtx),
            b"loca": struct.pack(f">{n + 1}I", *offsets),
            b"maxp": bytes(maxp),
        }
        font = _sfnt(tables)
        adjustment = (0xB1B0AFBA - _checksum(font)) & 0xFFFFFFFF
        head_at = 12 + 16 * len(tables)  # tables in tag order, each 4-byte aligned
        head_at += sum(len(data) + (-len(data) % 4) for tag, data in tables.items() if tag < b"head")
        font = font[: head_at + 8] + struct.pack(">I", adjustment) + font[head_at + 12 :]
        return font, order


class FontChain:
    """Fonts tried in order for each character. The fallbacks are read from disk only when a
    character the primary lacks is first met, so a worker drawing common names never loads them."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = list(paths)
        self._fonts: list[Font | None] = [Font(self.paths[0]), *[None] * (len(self.paths) - 1)]
        self._index_of = _FontIndex(self)
        self._advance_of = _Advances(self)

    @property
    def primary(self) -> Font:
        return self.font(0)

    def font(self, index: int) -> Font:
        font = self._fonts[index]
        if font is None:
            font = self._fonts[index] = Font(self.paths[index])
        return font

    def index(self, char: str) -> int | None:
        """Position of the first font with a glyph for the character; None when no font has one."""
        return self._index_of[char]

    def names(self) -> list[str]:
        return [self.font(i).name for i in range(len(self.paths))]

    def width(self, text: str, size: float) -> float:
        """Advance width of a text in points."""
        return sum(map(self._advance_of.__getitem__, text)) * size


class _FontIndex(dict):
    """Position in the chain of the font drawing each character, filled as characters are met."""

    def __init__(self, chain: FontChain):
        super().__init__()
        self.chain = chain

    def __missing__(self, char: str) -> int | None:
        code = ord(char)
        found = next((i for i in range(len(self.chain.paths)) if code in self.chain.font(i).cmap), None)
        self[char] = found
        return found


class _Advances(dict):
    """Advance width per character in ems, filled as characters are met."""

    def __init__(self, chain: FontChain):
        super().__init__()
        self.chain = chain

    def __missing__(self, char: str) -> float:
        font = self.chain.font(self.chain.index(char) or 0)  # no font: measured as the primary's box
        self[char] = font.advance[font.glyph(char)] / font.units
        return self[char]


def _checksum(data: bytes) -> int:
    data += b"\0" * (-len(data) % 4)
    return int(np.frombuffer(data, ">u4").sum(dtype=np.uint64)) & 0xFFFFFFFF


def _sfnt(tables: dict[bytes, bytes]) -> bytes:
    """An sfnt file of the tables, in tag order, each 4-byte aligned."""
    n = len(tables)
    entry = 1 << (n.bit_length() - 1)
    header = struct.pack(">IHHHH", 0x00010000, n, entry * 16, entry.bit_length() - 1, n * 16 - entry * 16)
    offset = 12 + 16 * n
    directory, body = [], []
    for tag in sorted(tables):
        data = tables[tag]
        directory.append(struct.pack(">4sIII", tag, _checksum(data), offset, len(data)))
        padded = data + b"\0" * (-len(data) % 4)
        body.append(padded)
        offset += len(padded)
    return header + b"".join(directory) + b"".join(body)


@dataclass
class Page:
    ops: list[tuple] = field(default_factory=list)


class Document:
    """Pages of text, lines and boxes; `render()` gives the PDF bytes.

    Coordinates are in points from the top-left corner of an A4 page. Text is kept as Unicode
    until rendering, when the document's characters are known and a subset is cut from each font
    of the chain that draws some of them (resource /F1 the primary, /F2 the next font, ...).
    """

    def __init__(self, fonts: FontChain, title: str = "", author: str = ""):
        self.fonts = fonts
        self.title = title
        self.author = author
        self.pages: list[Page] = []

    def add_page(self) -> Page:
        self.pages.append(Page())
        return self.pages[-1]

    def text(self, page: Page, x: float, y: float, text: str, size: float, bold: bool = False) -> None:
        """Text with its baseline at y."""
        page.ops.append(("text", x, y, text, size, bold))

    def line(self, page: Page, x1: float, y1: float, x2: float, y2: float, width: float = 0.5) -> None:
        page.ops.append(("line", x1, y1, x2, y2, width))

    def box(self, page: Page, x: float, y: float, w: float, h: float, fill: float | None = None) -> None:
        """A rectangle, top-left at (x, y); filled with a grey level (0 black - 1 white) or stroked."""
        page.ops.append(("box", x, y, w, h, fill))

    def polygon(
        self,
        page: Page,
        points: Sequence[tuple[float, float]],
        width: float = 0.5,
        fill: float | None = None,
        stroke: float = 0.0,
        dash: float | None = None,
    ) -> None:
        """A closed polygon (a radar chart's web or area): filled with a grey level under its outline,
        the outline a grey level (0 black) of `width` points, dashed in `dash`-point steps if given."""
        page.ops.append(("polygon", tuple(points), width, fill, stroke, dash))

    def render(self) -> bytes:
        """The PDF; raises MissingGlyph, naming the document's title, when a character has no font."""
        chain = self.fonts
        chars = sorted({c for page in self.pages for op in page.ops if op[0] == "text" for c in op[3]})
        which = {c: chain.index(c) for c in chars}
        missing = [c for c, index in which.items() if index is None]
        if missing:
            raise MissingGlyph(self.title or "PDF", missing, chain.names())
        code, subsets = _subsets(chain, chars, which)
        fallback = {c for c, index in which.items() if index}  # characters not in the primary font
        streams = [
            deflate.zlib_compress(_page_content(page, code, which, fallback).encode("ascii"), DEFLATE_LEVEL)
            for page in self.pages
        ]
        objects: list[bytes] = []
        fonts = [_font_objects(objects, *subset) for subset in subsets]
        pages_id = len(objects) + 2 * len(streams) + 1
        kids = []
        for data in streams:
            content = _add(objects, _stream(data))
            kids.append(
                _add(
                    objects,
                    f"<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 {A4[0]} {A4[1]}] "
                    f"/Resources << /Font << {' '.join(fonts)} >> >> /Contents {content} 0 R >>".encode(),
                )
            )
        kids_refs = " ".join(f"{k} 0 R" for k in kids)
        _add(objects, f"<< /Type /Pages /Kids [{kids_refs}] /Count {len(kids)} >>".encode())
        catalog = _add(objects, f"<< /Type /Catalog /Pages {pages_id} 0 R /Lang (zh-CN) >>".encode())
        info = _add(
            objects,
            f"<< /Title {_text_string(self.title)} /Author {_text_string(self.author)} "
            "/Producer (safetynet) >>".encode(),
        )
        return _file(objects, catalog, info)


def _subsets(chain, chars: list[str], which: dict[str, int]) -> tuple[dict[str, str], list[tuple]]:
    """Each character's glyph code, and the font subsets: (chain index, font, subset, old gid of each
    new gid, character of each new gid)."""
    code: dict[str, str] = {}
    subsets = []
    for index in sorted({0, *which.values()}):  # the primary always, e.g. for an empty text
        font = chain.font(index)
        mine = [c for c in chars if which[c] == index]
        gids = [font.glyph(c) for c in mine]
        subset, order = font.subset(gids)
        new_gid = {old: new for new, old in enumerate(order)}
        code.update({c: f"{new_gid[g]:04X}" for c, g in zip(mine, gids, strict=True)})
        unicode_of = {new_gid[g]: c for c, g in zip(mine, gids, strict=True) if g}
        subsets.append((index, font, subset, order, unicode_of))
    return code, subsets


def _text_op(
    op: tuple, code: dict[str, str], which: dict[str, int], fallback: set[str], height: float
) -> str:
    _, x, y, text, size, bold = op
    if fallback.isdisjoint(text):  # all in the primary font, the common case: one run
        runs = [(1, "".join(map(code.__getitem__, text)))]
    else:  # runs of characters drawn by the same font, each selected before it is shown
        runs = [
            (index + 1, "".join(map(code.__getitem__, run)))
            for index, run in groupby(text, which.__getitem__)
        ] or [(1, "")]
    number, hexes = runs[0]
    mode = f"2 Tr {size * 0.03:.2f} w " if bold else "0 Tr "
    shown = f"/F{number} {size:g} Tf {x:.2f} {height - y:.2f} Td <{hexes}> Tj"
    for number, hexes in runs[1:]:
        shown += f" /F{number} {size:g} Tf <{hexes}> Tj"
    return f"BT {mode}{shown} ET"


def _page_content(page, code: dict[str, str], which: dict[str, int], fallback: set[str]) -> str:
    """A page's content stream, before compression."""
    height = A4[1]
    out = []
    for op in page.ops:
        if op[0] == "text":
            out.append(_text_op(op, code, which, fallback, height))
        elif op[0] == "line":
            _, x1, y1, x2, y2, width = op
            out.append(f"{width:g} w {x1:.2f} {height - y1:.2f} m {x2:.2f} {height - y2:.2f} l S")
        elif op[0] == "polygon":
            out.append(_polygon(op, height))
        else:
            _, x, y, w, h, fill = op
            rect = f"{x:.2f} {height - y - h:.2f} {w:.2f} {h:.2f} re"
            out.append(f"{fill:g} g {rect} f 0 g" if fill is not None else f"0.5 w {rect} S")
    return "\n".join(out)


def _add(objects: list[bytes], body: bytes) -> int:
    """Append a PDF object; returns its number."""
    objects.append(body)
    return len(objects)


def _stream(data: bytes, extra: str = "") -> bytes:
    return f"<< /Length {len(data)} /Filter /FlateDecode{extra} >>\nstream\n".encode() + data + b"\nendstream"


def _font_objects(objects: list[bytes], index: int, font, subset: bytes, order, unicode_of: dict) -> str:
    """A subset font's objects (file, descriptor, CID font, ToUnicode, Type0); returns its resource entry."""
    scale = 1000 / font.units
    widths = " ".join(str(round(font.advance[g] * scale)) for g in order[1:])
    ps_name = "SNSUBS+" + "".join(ch for ch in font.name if ch.isalnum())[:40]
    file_id = _add(objects, _stream(deflate.zlib_compress(subset, DEFLATE_LEVEL), f" /Length1 {len(subset)}"))
    x0, y0, x1, y1 = (round(v * scale) for v in font.bbox)
    descriptor = _add(
        objects,
        f"<< /Type /FontDescriptor /FontName /{ps_name} /Flags 4 /FontBBox [{x0} {y0} {x1} {y1}] "
        f"/ItalicAngle 0 /Ascent {round(font.ascent * scale)} /Descent {round(font.descent * scale)} "
        f"/CapHeight {round(font.ascent * scale)} /StemV 80 /FontFile2 {file_id} 0 R >>".encode(),
    )
    cid = _add(
        objects,
        f"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{ps_name} "
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
        f"/FontDescriptor {descriptor} 0 R /W [1 [{widths}]] /CIDToGIDMap /Identity >>".encode(),
    )
    to_unicode = _add(objects, _stream(deflate.zlib_compress(_tounicode(unicode_of), DEFLATE_LEVEL)))
    type0 = _add(
        objects,
        f"<< /Type /Font /Subtype /Type0 /BaseFont /{ps_name} /Encoding /Identity-H "
        f"/DescendantFonts [{cid} 0 R] /ToUnicode {to_unicode} 0 R >>".encode(),
    )
    return f"/F{index + 1} {type0} 0 R"


def _file(objects: list[bytes], catalog: int, info: int) -> bytes:
    """The objects as a PDF file: header, bodies, cross-reference table and trailer."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R /Info {info} 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


def _polygon(op: tuple, height: float) -> str:
    """A polygon op as content-stream operators; the graphics state (grey, dash) is saved and
    restored around it, so the text and lines drawn after it are as before."""
    _, points, width, fill, stroke, dash = op
    path = " ".join(f"{x:.2f} {height - y:.2f} {'m' if i == 0 else 'l'}" for i, (x, y) in enumerate(points))
    parts = ["q", f"{width:g} w {stroke:g} G"]
    if dash is not None:
        parts.append(f"[{dash:g} {dash:g}] 0 d")
    if fill is not None:
        parts.append(f"{fill:g} g {path} h B")  # fill, then stroke the outline over it
    else:
        parts.append(f"{path} h S")
    parts.append("Q")
    return " ".join(parts)


def _text_string(text: str) -> str:
    """A PDF text string in UTF-16BE with BOM, as hex."""
    return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"


def _tounicode(unicode_of: dict[int, str]) -> bytes:
    """The CMap from glyph ids to Unicode; a character outside the BMP (𬱖 U+2CC56) is written in
    UTF-16BE as its surrogate pair (<D873DC56>), as ISO 32000-1 9.10.3 prescribes."""
    lines = [
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def /CMapType 2 def",
        "1 begincodespacerange <0000> <FFFF> endcodespacerange",
    ]
    items = sorted(unicode_of.items())
    for start in range(0, len(items), 100):  # at most 100 entries per block
        chunk = items[start : start + 100]
        lines.append(f"{len(chunk)} beginbfchar")
        lines.extend(f"<{gid:04X}> <{char.encode('utf-16-be').hex().upper()}>" for gid, char in chunk)
        lines.append("endbfchar")
    lines.append("endcmap CMapName currentdict /CMap defineresource pop end end")
    return "\n".join(lines).encode("ascii")


def wrap(font: FontChain, text: str, size: float, width: float) -> list[str]:
    """Lines of a text that fit a width: Chinese breaks anywhere, a Latin word or number only
    at its ends (unless it is longer than the line); explicit newlines are kept."""
    if "\n" not in text and font.width(text, size) <= width:
        return [text]
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, line_width = "", 0.0
        for token in _tokens(paragraph):
            w = font.width(token, size)
            if line and line_width + w > width and token not in NO_LINE_START:
                lines.append(line.rstrip())
                token = token.lstrip()
                line, line_width, w = "", 0.0, font.width(token, size)
            if w <= width or token in NO_LINE_START:
                line += token
                line_width += w
                continue
            for char in token:  # longer than a line: broken by characters
                cw = font.width(char, size)
                if line and line_width + cw > width:
                    lines.append(line)
                    line, line_width = "", 0.0
                line += char
                line_width += cw
        lines.append(line.rstrip())
    return lines


# closing punctuation never starts a line (it may overhang the margin a little instead)
NO_LINE_START = set("，。、；：？！）》」』】”’,.;:?!)%")


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    word = ""
    for char in text:
        if char.isascii() and (char.isalnum() or char in ".,-_/:%()"):
            word += char
            continue
        if word:
            tokens.append(word)
            word = ""
        tokens.append(char)
    if word:
        tokens.append(word)
    return tokens


class Flow:
    """Top-to-bottom layout on A4 pages with margins, page breaks and a footer on every page."""

    def __init__(self, doc: Document, margin: float = 48, footer: str = ""):
        self.doc = doc
        self.margin = margin
        self.width = A4[0] - 2 * margin
        self.bottom = A4[1] - margin
        self.footer = footer
        self.page = self._new_page()
        self.y = margin

    def _new_page(self) -> Page:
        page = self.doc.add_page()
        self.y = self.margin
        return page

    def need(self, height: float) -> None:
        if self.y + height > self.bottom:
            self.page = self._new_page()

    def space(self, height: float) -> None:
        self.y += height

    def heading(self, text: str, size: float = 12) -> None:
        self.need(size * 3)
        self.y += size * 0.6
        self.doc.text(self.page, self.margin, self.y + size, text, size, bold=True)
        self.y += size * 1.6

    def title(self, text: str, size: float = 18) -> None:
        x = self.margin + (self.width - self.doc.fonts.width(text, size)) / 2
        self.doc.text(self.page, x, self.y + size, text, size, bold=True)
        self.y += size * 1.8

    def paragraph(self, text: str, size: float = 9.5, indent: float = 0, bold: bool = False) -> None:
        leading = size * 1.5
        for line in wrap(self.doc.fonts, text, size, self.width - indent):
            self.need(leading)
            self.doc.text(self.page, self.margin + indent, self.y + size, line, size, bold)
            self.y += leading

    def table(
        self,
        headers: list[str],
        rows: list[list[str]],
        widths: list[float],
        size: float = 8.5,
        left: float = 0,
        width: float | None = None,
    ) -> None:
        """A bordered table; widths are shares of the text width (or of `width` points, starting
        `left` points from the margin: a table beside a chart); the header repeats on a new page."""
        total = sum(widths)
        span = self.width if width is None else width
        cols = [span * w / total for w in widths]
        pad, leading = 3.0, size * 1.4

        def cells(values: list[str]) -> tuple[list[list[str]], float]:
            wrapped = [wrap(self.doc.fonts, v, size, w - 2 * pad) for v, w in zip(values, cols, strict=True)]
            return wrapped, max(len(c) for c in wrapped) * leading + 2 * pad

        def draw(wrapped: list[list[str]], height: float, shade: float | None) -> None:
            x = self.margin + left
            if shade is not None:
                self.doc.box(self.page, x, self.y, span, height, fill=shade)
            for lines, w in zip(wrapped, cols, strict=True):
                self.doc.box(self.page, x, self.y, w, height)
                for k, line in enumerate(lines):
                    baseline = self.y + pad + k * leading + size
                    self.doc.text(self.page, x + pad, baseline, line, size, bold=shade is not None)
                x += w
            self.y += height

        head, head_height = cells(headers)
        self.need(head_height + leading + 2 * pad)
        draw(head, head_height, 0.88)
        for row in rows:
            wrapped, height = cells(row)
            if self.y + height > self.bottom:
                self.page = self._new_page()
                draw(head, head_height, 0.88)
            draw(wrapped, height, None)
        self.y += 4

    def finish(self) -> None:
        """Page numbers and the footer on every page."""
        pages = self.doc.pages
        for number, page in enumerate(pages, start=1):
            text = f"{self.footer}    第 {number} 页 / 共 {len(pages)} 页".strip()
            self.doc.text(page, self.margin, A4[1] - self.margin / 2, text, 7.5)
