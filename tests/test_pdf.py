"""The PDF writer (safetynet/pdf.py), read back with an independent parser (pypdf) and fontTools."""

from __future__ import annotations

import hashlib
import io
import zlib

import pytest
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from safetynet import pdf
from safetynet.pdf import A4, Document, Flow, FontChain, FontMissing, find_font, wrap


@pytest.fixture(scope="module")
def font() -> FontChain:
    return FontChain(find_font())


def read(data: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(data))


def text_of(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in read(data).pages)


def test_chinese_text_round_trips_with_rare_characters(font):
    doc = Document(font, title="家庭经济状况核查报告")
    flow = Flow(doc)
    flow.title("家庭经济状况核查报告")
    flow.paragraph("户主 王䶮，身份证号 430101********002X，人均月收入 1,166.67 元")
    flow.finish()
    data = doc.render()
    reader = read(data)
    assert reader.metadata.title == "家庭经济状况核查报告"
    text = text_of(data)
    assert "王䶮" in text and "430101********002X" in text and "1,166.67" in text
    assert "第 1 页 / 共 1 页" in text


def test_the_font_is_embedded_as_a_valid_subset(font):
    doc = Document(font)
    text = "核查報告䶮ABC123，。"  # traditional and extension-A characters, Latin, punctuation
    doc.text(doc.add_page(), 50, 80, text, 12)
    reader = read(doc.render())
    type0 = reader.pages[0]["/Resources"]["/Font"]["/F1"].get_object()
    assert type0["/Subtype"] == "/Type0" and type0["/Encoding"] == "/Identity-H"
    cid = type0["/DescendantFonts"][0].get_object()
    descriptor = cid["/FontDescriptor"].get_object()
    embedded = descriptor["/FontFile2"].get_object().get_data()
    subset = TTFont(io.BytesIO(embedded))
    glyf = subset["glyf"]
    # .notdef, one glyph per distinct character, plus components of composite glyphs
    assert len(set(text)) + 1 <= subset["maxp"].numGlyphs < len(set(text)) + 20
    for name in subset.getGlyphOrder():
        glyf[name].getCoordinates(glyf)  # every component a composite names is in the subset
    assert len(embedded) < 200_000  # a subset, not the 17 MB collection


def test_a_composite_glyph_brings_its_components(font):
    font = font.primary
    composite = next(
        chr(code) for code, gid in sorted(font.cmap.items()) if code > 0x4E00 and font.components(gid)
    )
    data, order = font.subset([font.glyph(composite)])
    parts = [component for _, component in font.components(font.glyph(composite))]
    assert set(parts) <= set(order)
    subset = TTFont(io.BytesIO(data))
    glyf = subset["glyf"]
    glyph = glyf[subset.getGlyphOrder()[1]]
    assert glyph.isComposite()
    coords, _, _ = glyph.getCoordinates(glyf)
    assert len(coords) > 0


@pytest.mark.parametrize(
    "text,width",
    [
        ("人均月收入高于当地低保标准，金融资产合计183,754.48元，超过限额。" * 3, 120),
        ("2026-09/deposits.csv:12；2026-09/real_estate.csv:7；住宅85平方米", 90),
        ("第一行\n第二行很长很长很长很长很长很长很长很长很长很长很长很长", 60),
    ],
)
def test_wrapped_lines_fit_and_keep_numbers_and_punctuation(font, text, width):
    lines = wrap(font, text, 9, width)
    assert "".join(lines).replace(" ", "") == text.replace("\n", "").replace(" ", "")
    for line in lines:
        assert font.width(line, 9) <= width + font.width("，", 9)  # punctuation may overhang
        assert not line.startswith(("，", "。", "；", "）"))
    assert not any(line.endswith("183,") or line.startswith("754") for line in lines)


def test_a_long_table_breaks_across_pages_and_repeats_its_header(font):
    doc = Document(font)
    flow = Flow(doc)
    flow.table(["核对项目", "说明"], [[f"项目{i}", "说明文字" * 10] for i in range(80)], [1, 3])
    flow.finish()
    reader = read(doc.render())
    assert len(reader.pages) > 1
    for page in reader.pages:
        assert "核对项目" in page.extract_text()
        assert float(page.mediabox.width) == pytest.approx(A4[0])


def test_rendering_is_deterministic(font):
    def render() -> bytes:
        doc = Document(font, title="t")
        Flow(doc).paragraph("同一份报告两次生成结果相同")
        return doc.render()

    assert render() == render()


def test_a_missing_font_names_the_path_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("SAFETYNET_CJK_FONT", str(tmp_path / "none.ttc"))
    with pytest.raises(FontMissing, match=r"none\.ttc.*fonts-wqy-zenhei"):
        find_font()


# A content stream's kind of text and some binary, deflated: the digest of libdeflate's output at
# the level safetynet/pdf.py uses. Reruns of a month must write the same PDF bytes on any machine
# (a retry may run on another worker); a compressor whose output depends on the CPU, or a changed
# version in the lock file, fails here before it changes a published month's files.
DEFLATE_SAMPLE_SHA256 = "940d9a9633deca2f6b12dd1c01a131709658d183e934edaaa9a8d11995520292"


def deflate_sample() -> bytes:
    text = "\n".join(
        f"BT 0 Tr /F1 {7 + i % 3:g} Tf {30 + i * 7 % 500:.2f} {800 - i * 13 % 760:.2f} Td <{i * 40503 % 65536:04X}> Tj ET"
        for i in range(3000)
    ).encode("ascii")
    return text + bytes((i * 7919) % 251 for i in range(30000))


def test_deflate_writes_the_same_bytes_on_every_machine():
    data = pdf.deflate.zlib_compress(deflate_sample(), pdf.DEFLATE_LEVEL)
    assert zlib.decompress(data) == deflate_sample()
    assert hashlib.sha256(data).hexdigest() == DEFLATE_SAMPLE_SHA256
