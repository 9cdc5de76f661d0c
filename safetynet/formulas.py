"""Text from outside never runs as a formula where a person opens it in Excel or WPS.

A name, a note or a file name starting with `=`, `+`, `-`, `@`, a tab or a carriage return is a
formula to a spreadsheet (`=HYPERLINK(...)` opens a link, `=cmd|...` ran programs): OWASP's advice
on CSV injection is to write such a value so that it cannot run, and only where the output is meant
for a spreadsheet. A CSV for Excel and WPS (`safetynet query --format csv --bom`) gets an apostrophe
before it, as Excel's own prefix for "text, not a formula"; an xlsx keeps the text exact in a text
cell marked `quotePrefix` (the same prefix, stored as the cell's style). The auditors' plain CSV,
JSON and the warehouse keep every value exact.
"""

from __future__ import annotations

import polars as pl

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_PATTERN = r"^[=+\-@\t\r]"


def formula_like(value: object) -> bool:
    """A text a spreadsheet would read as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def for_spreadsheet(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every text cell that starts like a formula prefixed with an apostrophe; numbers,
    dates and other texts as they are."""
    texts = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(_FORMULA_PATTERN))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in texts
    )
