"""A name with a character that no installed font has stops only its own document: the month is
published, and `safetynet documents` names the document it could not draw and why."""

from __future__ import annotations

import json
import shutil

import polars as pl
from conftest import safetynet

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

    # the run draws no household document: they are drawn when asked for, and one with such a
    # character is named, with its household and the code point, by `safetynet documents`
    out = tmp_path / "documents"
    done = safetynet("documents", "--month", "2026-08", "--home", str(home), "--out", str(out))
    assert done.returncode == 1, done.stderr
    failed = [line for line in done.stderr.splitlines() if line.startswith("not drawn: ")]
    assert failed, "some listed household has a member named 刘\\U0010FFFD"
    for line in failed:
        township, file = line.removeprefix("not drawn: ").split(": ", 1)[0].split("/", 1)
        household = file.split("/")[-1].split("_")[0]
        assert household.endswith("1") and "U+10FFFD" in line and household in line
        assert not (out / township[:6] / township / file).exists()
    written = list(out.glob(f"*/*/{REPORT_DIR}/*.pdf"))
    assert written and not any(NO_FONT in p.name for p in written)
    manifests = [json.loads(p.read_text()) for p in (home / "exports" / "2026-08").glob("*/*/manifest.json")]
    assert all(m["failed_files"] == [] for m in manifests)  # nothing the run drew failed
