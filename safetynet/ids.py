"""Resident ID numbers (公民身份号码, GB 11643-1999): check character, legacy conversion, problems.

The Polars expressions here are used on millions of rows, so every check is vectorised; the scalar
`check_character` exists for tests and for readability.
"""

from __future__ import annotations

import polars as pl

# GB 11643-1999, 6.2: weights W_i = 2^(i-1) mod 11 for positions 18..2, and the check map.
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_MAP = "10X98765432"


def check_character(body17: str) -> str:
    """The check character for the first 17 digits of an ID number."""
    total = sum(int(d) * w for d, w in zip(body17, WEIGHTS, strict=True))
    return CHECK_MAP[total % 11]


def check_character_expr(body17: pl.Expr) -> pl.Expr:
    """Vectorised `check_character` over a column of 17-digit strings (null if not digits).

    The body is read as one integer and its digits taken arithmetically: faster than slicing the
    string 17 times (docs/design/index.md).
    """
    n = body17.str.to_integer(strict=False)
    total = pl.sum_horizontal(((n // 10 ** (16 - i)) % 10) * w for i, w in enumerate(WEIGHTS))
    return pl.when(n.is_not_null()).then(
        (total % 11).replace_strict(dict(enumerate(CHECK_MAP)), return_dtype=pl.String)
    )


def is_legacy_expr(raw: pl.Expr) -> pl.Expr:
    return ((raw.str.len_bytes() == 15) & raw.str.contains(r"^\d{15}$")).fill_null(False)


def convert_legacy_expr(raw: pl.Expr) -> pl.Expr:
    """A 15-digit number (pre-1999) has a 2-digit year and no check character: insert "19" and
    compute the check character (GB 11643-1999, appendix)."""
    body17 = raw.str.slice(0, 6) + pl.lit("19") + raw.str.slice(6, 9)
    return body17 + check_character_expr(body17)


def valid_id_expr(normalised: pl.Expr) -> pl.Expr:
    """True for a well-formed ID number: 17 digits, digit or X, real birth date, right check character."""
    return (
        normalised.str.contains(r"^\d{17}[\dX]$")
        & normalised.str.slice(6, 8).str.to_date("%Y%m%d", strict=False).is_not_null()
        & (check_character_expr(normalised.str.slice(0, 17)) == normalised.str.slice(17, 1))
    ).fill_null(False)


def id_problem_expr(normalised: pl.Expr) -> pl.Expr:
    """A reason in plain words when an ID number is unusable, else null.

    Excel turns long digit strings into numbers: `1.10101E+17` (scientific notation) or an
    18-digit number whose last digits became zeros (15 significant digits). Both are rejected as
    such, so the department knows to export the column as text.
    """
    birth = normalised.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    return (
        pl.when(normalised.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(normalised.str.contains(r"^\d(\.\d+)?[Ee]\+?\d+$"))
        .then(pl.lit("ID number mangled by Excel into scientific notation"))
        .when(normalised.str.contains(r"^\d+\.0+$"))
        .then(pl.lit("ID number mangled by Excel into a decimal number"))
        .when(~normalised.str.contains(r"^\d{17}[\dX]$"))
        .then(pl.lit("ID number is not 18 characters of digits with a final digit or X"))
        .when(birth.is_null())
        .then(pl.lit("ID number has an impossible birth date"))
        .when(check_character_expr(normalised.str.slice(0, 17)) != normalised.str.slice(17, 1))
        .then(
            pl.when(normalised.str.contains(r"000$"))
            .then(pl.lit("ID number lost its last digits to Excel (trailing zeros, check character invalid)"))
            .otherwise(pl.lit("ID number check character is invalid (GB 11643)"))
        )
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def mask_ids(text: pl.Expr) -> pl.Expr:
    """Mask every resident ID number inside a text: 430101********002X."""
    return text.str.replace_all(r"(\d{6})\d{8}(\d{3}[\dXx])", "${1}********${2}")


def mask_id(id_number: str) -> str:
    """One ID number as documents and pages print it, whatever its length: an 18-character one as
    `mask_ids` masks it (430101********002X), a 15-digit (pre-1999) one with its birth date hidden
    (430101******123), anything else (a number mistyped) with all but its first 3 and last 2
    characters hidden, or all of it when shorter than 8."""
    n = len(id_number)
    if n == 18:
        return f"{id_number[:6]}********{id_number[-4:]}"
    if n == 15:
        return f"{id_number[:6]}******{id_number[-3:]}"
    return f"{id_number[:3]}{'*' * (n - 5)}{id_number[-2:]}" if n >= 8 else "*" * n
