"""The portal's colours, read from its templates' CSS: text a clerk must read has a WCAG 2 contrast
of at least 4.5:1 (level AA for normal text) against what is behind it (issue 33, item 7b)."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

BUTTON_FACE = "#efefef"  # Chromium's default button background, when the CSS leaves it to the browser
NAMED = {"white": "#ffffff", "black": "#000000"}


def relative_luminance(colour: str) -> float:
    """WCAG 2's relative luminance of a #rgb or #rrggbb colour."""
    hex_digits = NAMED.get(colour.lower(), colour).lstrip("#")
    if len(hex_digits) == 3:
        hex_digits = "".join(ch * 2 for ch in hex_digits)
    channels = [int(hex_digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    """WCAG 2's contrast ratio, 1 (none) to 21 (black on white)."""
    light, dark = sorted((relative_luminance(foreground), relative_luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def declared(css: str, selector: str, prop: str) -> str | None:
    """The last value a stylesheet gives `prop` in a rule whose selector list names `selector`
    exactly (the cascade for rules of equal specificity); `background` counts for `background-color`.
    Comments and template tags are left out; rules inside @media are not read."""
    css = re.sub(r"/\*.*?\*/|\{%.*?%\}|\{\{.*?\}\}", "", css, flags=re.S)
    css = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^}]*\})*[^{}]*\}", "", css)
    found = None
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        if selector not in (s.strip() for s in selectors.split(",")):
            continue
        for name, value in re.findall(r"([\w-]+)\s*:\s*([^;]+)", body):
            if name == prop or (prop == "background-color" and name == "background"):
                found = value.strip().split()[0]
    return found


@pytest.mark.parametrize(
    ("foreground", "background", "ratio"),
    [("#000", "#fff", 21.0), ("#fff", "#fff", 1.0), ("#767676", "#ffffff", 4.54), ("#fff", "#efefef", 1.14)],
)
def test_contrast_is_wcags(foreground, background, ratio):
    assert contrast(foreground, background) == pytest.approx(ratio, abs=0.01)


@pytest.mark.parametrize(
    ("css", "colour", "background"),
    [
        (".top a, .top button { color: #fff; }", "#fff", None),
        (".top button { color: #fff } .top button { background: #1f4e79 url(x.png); }", "#fff", "#1f4e79"),
        (".topbutton { color: red; }", None, None),
        ("/* a, b */ .top button { color: #fff; } @media (x) { .top button { color: red; } }", "#fff", None),
    ],
)
def test_declared_reads_the_last_value_a_selector_is_given(css, colour, background):
    assert declared(css, ".top button", "color") == colour
    assert declared(css, ".top button", "background-color") == background


def test_the_sign_out_button_is_readable():
    """退出 in the top bar: its text against its own background (the browser's grey when the CSS
    gives none)."""
    base = files("portal").joinpath("templates/base.html").read_text(encoding="utf-8")
    css = base.split("<style>")[1].split("</style>")[0]
    text = declared(css, ".top button", "color")
    face = declared(css, ".top button", "background-color") or BUTTON_FACE
    assert contrast(text, face) >= 4.5, (text, face)
