"""Corrections (更正) through three months of the real run (issue 33, item 3): after September's run
closed cases, a township re-uploads one unchanged (无变化) and corrects two with their reasons; the
October run reads them, v_outcomes keeps each beside the original, the case that now asks for action
is reopened on the township's list, the other stays closed with its new conclusion, and the county
sees both."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from python_calamine import CalamineWorkbook

from jobs.publish.sealed import connect
from portal import uploads
from portal.corrections import corrections
from safetynet.lake import Home
from safetynet.rules import load_portal, load_rules

pytestmark = pytest.mark.slow  # three months through the DAG's tasks


def q(home, sql: str, *params: str) -> pl.DataFrame:
    """`sql` with `?` standing for each of `params` (ids: letters, digits and dashes)."""
    for p in params:
        assert p.replace("-", "").isalnum()
        sql = sql.replace("?", f"'{p}'", 1)
    with connect(home) as con:
        return pl.from_arrow(con.sql(sql).to_arrow_table())


def upload(home, landing, township: str, rows: list[tuple], today: dt.date) -> uploads.Checked:
    text = "线索编号,核查日期,核查结论,转介部门,备注\n" + "".join(
        ",".join(v or "" for v in r) + "\n" for r in rows
    )
    return uploads.receive(home, landing, township, "回传.csv", text.encode(), load_portal(), today)


def test_a_correction_is_read_by_the_next_run_kept_beside_the_original_and_shown_to_the_county(tmp_path):
    from direct import run

    from synthetic.generate import generate

    landing, home = tmp_path / "landing", tmp_path / "home"
    generate("2026-08", 300, 1, landing)
    run("2026-08", str(landing), str(home), "corr-2026-08")
    generate("2026-09", 300, 1, landing, home=home)  # with outcomes of August's cases
    run("2026-09", str(landing), str(home), "corr-2026-09")

    closed = q(
        home,
        "select c.case_id, c.township_code, o.outcome, o.visited_on, o.referred_to, o.note, c.kind "
        "from v_cases c join v_outcomes o on o.lead_id = c.case_id and o.month = c.month "
        "where c.month = '2026-09' and c.state = 'closed' "
        "and o.outcome in ('维持现状', '不符合条件') order by c.township_code, c.kind <> 'lead', c.case_id",
    )
    # a township with a closed lead (reopened on its lead list) and two more closed cases of any list
    enough = closed.group_by("township_code").agg(n=pl.len(), leads=(pl.col("kind") == "lead").sum())
    township = enough.filter((pl.col("n") >= 3) & (pl.col("leads") >= 1))["township_code"].sort()[0]
    mine = closed.filter(pl.col("township_code") == township).drop("kind").rows()
    (reopen, _, was, day, *_), (stays, _, was2, day2, *_), (same, _, *content) = mine[:3]
    unchanged = (same, content[1].isoformat(), content[0], *content[2:])  # in the CSV's column order
    today = dt.date(2026, 10, 10)
    checked = upload(
        home,
        landing,
        township,
        [
            unchanged,
            (reopen, day.isoformat(), "纳入低保", None, "复核发现收入低于低保标准"),
            (stays, day2.isoformat(), "无法核实", None, "户主外出务工，原结论填写有误"),
        ],
        today,
    )
    assert [r.status for r in checked.rows] == ["无变化", "接受", "接受"], [
        (r.reason, r) for r in checked.rows
    ]
    assert [r.correction for r in checked.rows] == [False, True, True]

    generate("2026-10", 300, 1, landing, home=home)  # keeps the township's part, invents no outcome for it
    run("2026-10", str(landing), str(home), "corr-2026-10")

    cases = q(home, "select case_id, state, sheet, outcome from v_cases where month = '2026-10'")
    state = {r[0]: r[1:] for r in cases.rows()}
    assert state[reopen] == ("reopened", "main", None), "a correction asking for action reopens the case"
    assert state[stays] == ("closed", None, "无法核实"), "otherwise it stays closed with the new conclusion"
    assert same not in state, "an unchanged row is not written again, so nothing is read"

    kept = q(
        home,
        "select lead_id, month, outcome, is_correction, superseded, corrects_outcome from v_outcomes "
        "where lead_id in (?, ?, ?) order by lead_id, month",
        reopen,
        stays,
        same,
    )
    assert set(kept.rows()) == {
        (reopen, "2026-09", was, False, True, None),
        (reopen, "2026-10", "纳入低保", True, False, was),
        (stays, "2026-09", was2, False, True, None),
        (stays, "2026-10", "无法核实", True, False, was2),
        (same, "2026-09", content[0], False, False, None),
    }

    listed = CalamineWorkbook.from_path(
        str(next((home / "exports" / "2026-10").glob(f"*/{township}/线索清单.xlsx")))
    )
    rows = listed.get_sheet_by_index(0).to_python()
    (row,) = [r for r in rows if reopen in r]
    assert "更正后重新打开" in row, "the township's list shows the reopened case as such"

    shown = corrections(Home(home), landing, "2026-10", township[:6])
    got = {r["lead_id"]: (r["was"], r["now"], r["read_in"]) for r in shown.to_dicts()}
    assert got == {reopen: (was, "纳入低保", "2026-10"), stays: (was2, "无法核实", "2026-10")}
    issued_on = load_rules().deadlines.issued_on("2026-10")
    visit_by = q(home, "select visit_by from v_cases where month = '2026-10' and case_id = ?", reopen).item()
    assert visit_by > issued_on, "a fresh deadline from October's list"
