"""Every character of a name prints (issue 13, item 6): rare CJK characters of GB 18030-2022 names
(Extensions B-G) are drawn with the fallback fonts, and a character no installed font has stops its
own document with an error naming the household and the code point, never an empty box."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from jobs.export.household_reports import REPORT_DIR, SUMMARY_FILE, ReportFailure, Reports
from safetynet import pdf
from safetynet.pdf import FallbackFontMissing, FontChain, find_font
from safetynet.rules import load_rules

RARE = "𬱖𠇔𬌗𡒄"  # U+2CC56 (Ext E), U+201D4 (Ext B), U+2C317 (Ext E), U+21484 (Ext B): not in wqy-zenhei
NO_FONT = "\U0010fffd"  # a private-use code point of plane 16 that no installed font has
NAMES = {"430101": "县", "430101001": "镇", "430101002": "乡"}


def household(hid: str, township: str, names: list[str]) -> dict:
    """A report row as jobs.export.household_reports.gather gives it, flagged for deposits."""
    members = [
        {
            "name": name,
            "id_number": "430101********002X",
            "relation": "户主" if k == 0 else "子女",
            "declared_income": 100.0,
            "employment_wage": None,
            "contribution_base": None,
            "housing_fund_wage": None,
            "died_on": None,
            "missing_declared_on": None,
            "counted": True,
            "income": 100.0,
        }
        for k, name in enumerate(names)
    ]
    return {
        "household_id": hid,
        "township_code": township,
        "county_code": township[:6],
        "division_code": township + "001",
        "category": "低保",
        "residence_type": "农村",
        "recipient": True,
        "listed": len(names),
        "counted": len(names),
        "income": 100.0 * len(names),
        "per_capita_income": 100.0,
        "dibao_standard": 650.0,
        "monthly_benefit": 500.0,
        "hardship_score": 61.5,
        "hardship_level": "中",
        "top_factors": "疾病",
        "lead_id": None,
        "lead_level": None,
        "deposits": 50000.0,
        "deposit_detail": "银行 50,000.00",
        "deposit_refs": ["2026-09/deposits.csv:2"],
        **{f"{kind}_detail": None for kind in ("property", "car", "entity")},
        **{f"{kind}_refs": [] for kind in ("property", "car", "entity")},
        "homes": 0,
        "non_residential": 0,
        "cars": 0,
        "entities": 0,
        "records": [
            {
                "check_id": "financial_assets",
                "direction": "应退",
                "evidence": "人均金融资产超过限额",
                "source_refs": ["2026-09/deposits.csv:2"],
            }
        ],
        "period": None,
        "seed": None,
        "draw_rank": None,
        "stratum_size": None,
        "members": members,
    }


@pytest.fixture(scope="module")
def fonts() -> FontChain:
    return FontChain(find_font())


@pytest.fixture(scope="module")
def reports() -> Reports:
    return Reports(load_rules(), "2026-09", "test", NAMES)


def drawn(data: bytes) -> dict[str, tuple[str, int, int]]:
    """Each character shown in a PDF -> (BaseFont, glyph id, contour points of the embedded glyph),
    read from the content streams, the ToUnicode maps and the embedded subsets."""
    out = {}
    for page in PdfReader(io.BytesIO(data)).pages:
        fonts = {}
        for name, ref in page["/Resources"]["/Font"].items():
            type0 = ref.get_object()
            cmap = type0["/ToUnicode"].get_object().get_data().decode("ascii")
            unicode_of = {
                int(gid, 16): bytes.fromhex(text).decode("utf-16-be")
                for gid, text in re.findall(r"<([0-9A-F]{4})> <([0-9A-F]+)>", cmap)
            }
            descriptor = type0["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
            subset = TTFont(io.BytesIO(descriptor["/FontFile2"].get_object().get_data()))
            fonts[name] = (str(type0["/BaseFont"]), unicode_of, subset)
        content = page.get_contents().get_data().decode("ascii")
        for name, hexes in re.findall(r"(/F\d+) [\d.]+ Tf(?: [\d.-]+ [\d.-]+ Td)? <([0-9A-F]*)> Tj", content):
            base, unicode_of, subset = fonts[name]
            glyf = subset["glyf"]
            for k in range(0, len(hexes), 4):
                gid = int(hexes[k : k + 4], 16)
                char = unicode_of.get(gid, "")  # gid 0 (.notdef) has no entry
                points = len(glyf[subset.getGlyphOrder()[gid]].getCoordinates(glyf)[0])
                out[char] = (base, gid, points)
    return out


@pytest.mark.parametrize(
    "names",
    [
        ["王𬱖", "李𠇔𬌗", "张𡒄明"],  # one rare character in an ordinary name
        [RARE, "𡒄"],  # names of rare characters only
    ],
)
def test_rare_characters_of_names_are_drawn_with_a_fallback_font(reports, names):
    data = reports.household(household("H01", "430101001", names))
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    for name in names:
        assert name in text  # searchable and copyable: the ToUnicode maps give the characters back
    shown = drawn(data)
    assert "" not in shown  # no character drawn as .notdef (an empty box)
    for char in "".join(names):
        base, gid, points = shown[char]
        if char in RARE:
            assert "HanaMin" in base, f"U+{ord(char):04X} drawn with {base}"
        assert gid != 0 and points > 0, f"U+{ord(char):04X} has no outline in {base}"
    assert shown["户"][0].endswith("WenQuanYiZenHei")  # the primary font draws the common characters


def test_the_fallback_glyph_is_the_fonts_glyph_for_the_character(fonts, reports):
    data = reports.household(household("H01", "430101001", [RARE]))
    shown = drawn(data)
    for char in RARE:
        font = fonts.font(fonts.index(char))
        source = TTFont(font.path, lazy=True)
        expected = source["glyf"][source.getBestCmap()[ord(char)]]
        points = len(expected.getCoordinates(source["glyf"])[0])
        assert shown[char] == (f"/SNSUBS+{font.name}", shown[char][1], points)


def test_a_document_with_rare_characters_renders_the_same_bytes_twice(reports):
    row = household("H01", "430101001", ["王𬱖", RARE])
    assert reports.household(row) == reports.household(row)


def test_a_character_in_no_font_stops_only_its_document(fonts, tmp_path, monkeypatch):
    monkeypatch.setenv("SAFETYNET_WORKERS", "1")
    assert all(ord(NO_FONT) not in fonts.font(i).cmap for i in range(len(fonts.paths)))
    first, second = tmp_path / "430101" / "430101001", tmp_path / "430101" / "430101002"
    jobs = [
        (
            str(first),
            "430101001",
            [
                household("H01", "430101001", ["王建国"]),
                household("H02", "430101001", ["刘" + NO_FONT, "刘小明"]),
                household("H03", "430101001", ["王𬱖"]),
            ],
            {},
        ),
        (str(second), "430101002", [household("H04", "430101002", ["李𡒄"])], {}),
    ]
    reports = Reports(load_rules(), "2026-09", "test", NAMES)
    done = [
        reports.township(Path(folder), code, households, leads) for folder, code, households, leads in jobs
    ]
    files, failures = sum(n for n, _ in done), [f for _, found in done for f in found]

    assert files == 5  # H01, H03, H04 and the two summaries
    (failure,) = failures
    assert isinstance(failure, ReportFailure)
    assert failure[:3] == ("H02", "430101001", f"{REPORT_DIR}/H02_刘{NO_FONT}.pdf")
    assert "H02" in failure.message and "U+10FFFD" in failure.message and NO_FONT in failure.message
    assert not (first / failure.file).exists()
    written = {p.name for folder in (first, second) for p in (folder / REPORT_DIR).iterdir()}
    assert written == {"H01_王建国.pdf", "H03_王𬱖.pdf", "H04_李𡒄.pdf"}
    summary = PdfReader(first / SUMMARY_FILE).pages[0].extract_text()
    assert "H02（字符 U+10FFFD）" in summary  # the township is told which report is missing
    assert (second / SUMMARY_FILE).exists()


def test_the_chain_is_wqy_zenhei_then_hanazono():
    chain = find_font()
    assert chain[0].name == "wqy-zenhei.ttc"
    assert [p.name for p in chain[1:3]] == ["HanaMinA.ttf", "HanaMinB.ttf"]  # make install installs them


def test_a_missing_fallback_font_warns_and_the_chain_goes_on(monkeypatch, tmp_path):
    monkeypatch.setattr(pdf, "FALLBACK_FONTS", (str(tmp_path / "HanaMinA.ttf"),))
    monkeypatch.setattr(pdf, "OPTIONAL_FONTS", (str(tmp_path / "BabelStoneHan.ttf"),))
    with pytest.warns(FallbackFontMissing, match=r"HanaMinA\.ttf.*fonts-hanazono"):
        chain = find_font()
    assert chain == (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),)
