"""A name with a character that no installed font has stops only its own document: the month is
published, and the township's manifest lists the document that was not written and why."""

from __future__ import annotations

import json
import shutil

import polars as pl

from jobs.export.household_reports import REPORT_DIR
from tests.direct import run

NO_FONT = "\U0010fffd"  # a private-use code point of plane 16 that no installed font has


def test_a_name_no_font_has_is_listed_in_the_manifest_and_the_month_goes_on(landing, tmp_path):
    land = tmp_path / "landing"
    shutil.copytree(landing / "2026-08", land / "2026-08")
    roster_path = land / "2026-08" / "roster.csv"
    raw = roster_path.read_bytes()
    text = raw.decode("utf-8-sig") if raw.startswith(b"\xef\xbb\xbf") else raw.decode("gb18030")
    roster_path.write_text(text, encoding="utf-8")  # the contract allows UTF-8 as well as GBK
    roster = pl.read_csv(roster_path, infer_schema=False)
    name = roster.columns[2]  # 姓名
    odd = roster[roster.columns[0]].str.ends_with("1")  # about a tenth of the households
    roster.with_columns(
        pl.when(odd).then(pl.lit("刘" + NO_FONT)).otherwise(pl.col(name)).alias(name)
    ).write_csv(roster_path)
    home = tmp_path / "home"
    assert run("2026-08", str(land), str(home), "names-08")["status"] in ("success", "incomplete")

    manifests = [json.loads(p.read_text()) for p in (home / "exports" / "2026-08").glob("*/*/manifest.json")]
    failed = [f for m in manifests for f in m["failed_files"]]
    assert failed, "some drawn household has a member named 刘\\U0010FFFD"
    for f in failed:
        assert f["household_id"] and f["household_id"].endswith("1")
        assert "U+10FFFD" in f["message"] and f["household_id"] in f["message"]
        assert not (
            home / "exports" / "2026-08" / f["township_code"][:6] / f["township_code"] / f["file"]
        ).exists()
    written = [p for p in (home / "exports" / "2026-08").glob(f"*/*/{REPORT_DIR}/*.pdf")]
    assert written and not any(NO_FONT in p.name for p in written)
