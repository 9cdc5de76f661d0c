"""Great Expectations suites for the contract's sources, and the one custom expectation they use.

The suites in `expectations/<source>.json` are plain GE 1.x ExpectationSuite documents. They are
written from the contract by `safetynet expectations --write` and then read back at run time, so
the file on disk is what a month is validated against. Month-dependent bounds (the month's last
day, the codes of the latest divisions delivery) are suite parameters (`{"$PARAMETER": ...}`).
"""

from __future__ import annotations

import json
from pathlib import Path

from safetynet.contract import CROSS_REGION_ITEMS, SUITES, Source
from safetynet.ids import check_character
from safetynet.resources import folder

SUITE_DIR = folder("expectations")


def _exp(type_: str, reason: str, **kwargs: object) -> dict:
    return {"type": type_, "kwargs": kwargs, "meta": {"reason": reason}}


def _division(source: Source, c: str) -> list[dict]:
    pattern = r"^(?:\d{6}|\d{9}|\d{12})$" if source.name == "divisions" else r"^\d{12}$"
    exps = [
        _exp(
            "expect_column_values_to_match_regex", "division code has the wrong form", column=c, regex=pattern
        )
    ]
    if source.name != "divisions":
        exps.append(
            _exp(
                "expect_column_values_to_be_in_set",
                "division code is not in the latest divisions delivery",
                column=c,
                value_set={"$PARAMETER": "division_codes"},
            )
        )
    return exps


def _case_id(c: str) -> list[dict]:
    return [
        _exp(
            "expect_column_values_to_be_in_set",
            "id was never issued to a township (not a lead, doubtful-record or re-check id)",
            column=c,
            value_set={"$PARAMETER": "issued_ids"},
        ),
        _exp(
            "expect_column_values_to_not_be_in_set",
            "case already closed by an outcome returned in an earlier month; a correction must give "
            "its reason in note",
            column=c,
            value_set={"$PARAMETER": "closed_ids"},
        ),
    ]


def _by_type(source: Source, col) -> list[dict]:
    """The expectations a column's type (or code set) gives it, beyond being required."""
    c = col.name
    if col.type == "id":
        reason = "ID number structure or GB 11643 check character is invalid"
        return [_exp("expect_column_values_to_be_valid_resident_id_number", reason, column=c)]
    if col.type == "division":
        return _division(source, c)
    if col.type == "case_id":
        return _case_id(c)
    if col.type == "items":
        one = "(?:" + "|".join(CROSS_REGION_ITEMS) + ")"
        reason = f"items are not among {'、'.join(CROSS_REGION_ITEMS)} separated by ;"
        return [_exp("expect_column_values_to_match_regex", reason, column=c, regex=f"^{one}(?:;{one})*$")]
    if col.type in ("region", "province"):
        regex, reason = {
            "region": (r"^(?:\d{6}|\d{12})$", "division code has the wrong form (6 or 12 digits)"),
            "province": (r"^\d{2}$", "province code has the wrong form (2 digits)"),
        }[col.type]
        return [_exp("expect_column_values_to_match_regex", reason, column=c, regex=regex)]
    if col.codes:
        reason = "value is not in the contract's code set"
        return [_exp("expect_column_values_to_be_in_set", reason, column=c, value_set=list(col.codes))]
    if col.type == "amount" and not col.signed:
        return [_exp("expect_column_values_to_be_between", "amount is negative", column=c, min_value=0)]
    if col.type == "int" and col.bounds:
        lo, hi = col.bounds
        reason = f"value is outside {lo}-{hi}"
        return [_exp("expect_column_values_to_be_between", reason, column=c, min_value=lo, max_value=hi)]
    if col.type == "date":
        earliest = "event_window_start" if c == source.event_date else "earliest_date"
        bounds = {"min_value": {"$PARAMETER": earliest}}
        if not col.future:
            bounds["max_value"] = {"$PARAMETER": "month_end"}
        return [
            _exp(
                "expect_column_values_to_be_between", "date is implausible for the month", column=c, **bounds
            )
        ]
    if col.type == "month":
        regex = r"^\d{4}-(?:0[1-9]|1[0-2])$"
        return [
            _exp(
                "expect_column_values_to_match_regex", "month is not a calendar month", column=c, regex=regex
            )
        ]
    return []


def build_suite(source: Source) -> dict:
    """The expectation suite for one source, derived from the contract."""
    exps: list[dict] = []
    for col in source.columns:
        if col.required:
            exps.append(
                _exp("expect_column_values_to_not_be_null", "required value is missing", column=col.name)
            )
        exps += _by_type(source, col)
    if len(source.key) == 1:
        exps.append(_exp("expect_column_values_to_be_unique", "key is not unique", column=source.key[0]))
    elif source.key:
        exps.append(
            _exp("expect_compound_columns_to_be_unique", "key is not unique", column_list=list(source.key))
        )
    return {
        "name": source.name,
        "expectations": exps,
        "meta": {"source": source.name, "source_zh": source.zh, "contract": "CONTRACT.md version 2"},
    }


def suite_path(source: str) -> Path:
    return SUITE_DIR / f"{source}.json"


def render(source: Source) -> str:
    return json.dumps(build_suite(source), ensure_ascii=False, indent=2) + "\n"


def write_suites() -> list[Path]:
    SUITE_DIR.mkdir(exist_ok=True)
    written = []
    for source in SUITES.values():
        suite_path(source.name).write_text(render(source), encoding="utf-8")
        written.append(suite_path(source.name))
    return written


def stale_suites() -> list[str]:
    """Sources whose committed suite differs from what the contract gives."""
    return [
        s.name
        for s in SUITES.values()
        if not suite_path(s.name).exists() or suite_path(s.name).read_text(encoding="utf-8") != render(s)
    ]


def load_suite(source: str) -> dict:
    return json.loads(suite_path(source).read_text(encoding="utf-8"))


def register_custom_expectations() -> None:
    """Define the GE custom expectation (importing GE is slow, so this happens on first use)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.expectations.expectation import ColumnMapExpectation
    from great_expectations.expectations.metrics.map_metric_provider import (
        ColumnMapMetricProvider,
        column_condition_partial,
    )

    def valid(value: object) -> bool:
        s = str(value)
        if len(s) != 18 or not s[:17].isdigit() or not (s[17].isdigit() or s[17] == "X"):
            return False
        try:
            import datetime as dt

            dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
        except ValueError:
            return False
        return check_character(s[:17]) == s[17]

    class ColumnValuesValidResidentIdNumber(ColumnMapMetricProvider):
        condition_metric_name = "column_values.valid_resident_id_number"

        @column_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column, **kwargs):
            return column.map(valid).astype(bool)

    class ExpectColumnValuesToBeValidResidentIdNumber(ColumnMapExpectation):
        """Values are 18-character resident ID numbers with a valid GB 11643 check character."""

        map_metric = "column_values.valid_resident_id_number"
        success_keys = ("mostly",)

    globals()["ExpectColumnValuesToBeValidResidentIdNumber"] = ExpectColumnValuesToBeValidResidentIdNumber
    _REGISTERED = True


_REGISTERED = False
