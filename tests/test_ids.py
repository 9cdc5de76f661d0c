import polars as pl
import pytest
from polars.testing import assert_series_equal

from safetynet.ids import (
    check_character,
    check_character_expr,
    convert_legacy_expr,
    id_problem_expr,
    is_legacy_expr,
    valid_id_expr,
)


@pytest.mark.parametrize(
    ("body", "check"),
    [("11010519491231002", "X"), ("44030419900101001", "1"), ("11010119900307123", "3")],
)
def test_check_character_examples(body, check):
    # 11010519491231002X is the example of GB 11643-1999 itself; the others were worked by hand
    # (weighted sums 176 and 174, mod 11 = 0 and 9).
    assert check_character(body) == check


def test_vectorised_check_character_matches_scalar():
    bodies = [f"{n:017d}" for n in range(10**16, 10**16 + 10**15, 10**15 // 997)]
    got = pl.Series(bodies).to_frame("b").select(check_character_expr(pl.col("b")).alias("c"))["c"]
    assert got.to_list() == [check_character(b) for b in bodies]


def test_legacy_15_digit_numbers_are_detected_and_converted():
    frame = pl.DataFrame({"raw": ["110105491231002", "440304199001010013", "11010549123100", None]})
    out = frame.select(legacy=is_legacy_expr(pl.col("raw")), converted=convert_legacy_expr(pl.col("raw")))
    assert out["legacy"].to_list() == [True, False, False, False]
    # The 15-digit number gains "19" and its check character (1949-12-31, sequence 002 -> X).
    assert out["converted"][0] == "11010519491231002X"


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("11010519491231002X", True),
        ("110105194912310021", False),
        ("11010519491331002X", False),
        ("1.10105E+17", False),
        (None, False),
    ],
)
def test_valid_id_expr(value, valid):
    frame = pl.DataFrame({"id": [value]}, schema={"id": pl.String})
    assert frame.select(valid_id_expr(pl.col("id")))["id"][0] is valid


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("11010519491231002X", None),
        ("1.10105E+17", "scientific notation"),
        ("110105194912310000", "trailing zeros"),
        ("110105194912310021", "check character is invalid"),
        ("11010519491331002X", "impossible birth date"),
        ("1101051949123", "not 18 characters"),
        ("110105194912310020.0", "decimal number"),
    ],
)
def test_id_problems_name_the_excel_damage(value, reason):
    got = pl.DataFrame({"id": [value]}).select(id_problem_expr(pl.col("id")).alias("id"))["id"][0]
    if reason is None:
        assert got is None
    else:
        assert reason in got


def test_problem_is_null_for_missing_id():
    assert_series_equal(
        pl.DataFrame({"id": [None]}, schema={"id": pl.String}).select(
            id_problem_expr(pl.col("id")).alias("id")
        )["id"],
        pl.Series("id", [None], dtype=pl.String),
    )
