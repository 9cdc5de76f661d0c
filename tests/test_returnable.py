"""The returnable lists' cells: column widths as a spreadsheet draws them, lists of texts joined."""

from __future__ import annotations

import datetime as dt
import zipfile

import polars as pl

from jobs.returnable import display_width, display_widths, write_list


def test_widths_count_chinese_and_rare_characters_two_columns():
    assert display_width("王建国") == 6
    assert display_width("王𬱖") == 4  # CJK Extension B-G: wide as well
    assert display_width("ID-12") == 5
    assert display_width("１２；") == 6  # full-width forms and punctuation


def test_widths_per_column_match_the_cells():
    frame = pl.DataFrame(
        {
            "name": ["王𬱖", "Ann", None],
            "score": [45.5, None, 3.0],
            "count": [7, 120, None],
            "on": [dt.date(2026, 9, 1), None, None],
            "empty": pl.Series([None, None, None], dtype=pl.String),
        }
    )
    assert display_widths(frame) == [4, 4, 3, 10, 0]


def test_a_list_of_texts_is_written_joined(tmp_path):
    rows = pl.DataFrame(
        {"refs": [["2026-09/roster.csv:2", "2026-09/deaths.csv:5"]], "sheet": ["main"], "visit_by": [None]},
        schema_overrides={"visit_by": pl.Date},
    )
    path = tmp_path / "清单.xlsx"
    write_list(
        path, [("清单", rows, "标题")], {"refs": "数据来源"}, "清单", "2026-09", dt.date(2026, 9, 5), None
    )
    strings = zipfile.ZipFile(path).read("xl/sharedStrings.xml").decode()
    assert "2026-09/roster.csv:2；2026-09/deaths.csv:5" in strings
