"""End to end: generated months through the real DAG (`safetynet run`), checked in the warehouse."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import time

import polars as pl
import pytest
from conftest import CLI, safetynet

from jobs.publish.sealed import connect
from safetynet.contract import SOURCES

pytestmark = pytest.mark.slow


def q(home, sql):
    """What an auditor reads: the sealed read-only connection."""
    with connect(home) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="session")
def loaded(landing, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    # Both months in order in one command; `run` itself is exercised by the rerun and bad-file tests.
    backfill = safetynet(
        "backfill", "--from", "2026-08", "--to", "2026-09", "--landing", str(landing), "--home", str(home)
    )
    return home, backfill


def test_months_load_and_say_where_results_are(loaded):
    home, backfill = loaded
    assert backfill.returncode == 0, backfill.stderr[-3000:]
    for month in ("2026-08", "2026-09"):
        assert f"{month}: success" in backfill.stdout
        assert f"reports/{month}/validation.html" in backfill.stdout
    assert "safetynet.duckdb" in backfill.stdout
    rows = q(home, "select month, status, rule_version, suite_version from v_runs order by month")
    assert [(r[0], r[1]) for r in rows] == [("2026-08", "success"), ("2026-09", "success")]
    assert all(len(r[2]) == 12 and len(r[3]) == 12 for r in rows)


def _data_rows(path, encoding) -> int:
    """Count a delivered file's data rows independently of the ingest code."""
    if path.suffix == ".xlsx":
        from python_calamine import CalamineWorkbook

        return len(CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()) - 1
    text = path.read_bytes().decode({"utf-8-sig": "utf-8-sig"}.get(encoding, encoding))
    return sum(1 for _ in csv.reader(io.StringIO(text))) - 1


def test_every_delivered_row_is_accepted_or_quarantined(loaded, landing):
    home, _ = loaded
    deliveries = q(
        home, "select month, source, status, rows_delivered, accepted, quarantined, files from v_deliveries"
    )
    assert len(deliveries) == 2 * len(SOURCES)
    for month, source, status, delivered, accepted, quarantined, files in deliveries:
        if status != "delivered":
            continue
        assert delivered == accepted + quarantined, (month, source)
        assert delivered == sum(_data_rows(landing / month / f["file"], f["encoding"]) for f in files)
        (in_lake,) = q(home, f"select count(*) from lake_{source} where month = '{month}'")[0]
        assert in_lake == accepted, (month, source)
        (rows_quarantined,) = q(
            home,
            f"select count(distinct (source_file, source_row)) from v_quarantine "
            f"where month = '{month}' and source = '{source}'",
        )[0]
        assert rows_quarantined == quarantined, (month, source)


def test_quarantine_names_file_row_column_reason_and_value(loaded):
    home, _ = loaded
    rows = q(
        home, 'select source, source_file, source_row, "column", reason, raw_value, run_id from v_quarantine'
    )
    assert rows, "the generator writes dirt at low rates; some rows must be quarantined"
    for source, file, row, column, reason, _raw, run_id in rows:
        assert file.startswith(source) and row >= 2 and column and reason and run_id
    reasons = " ".join(r[4] for r in rows)
    assert "check character" in reasons and "duplicate" in reasons


def test_divisions_delivered_once_stay_in_force(loaded):
    home, _ = loaded
    status = dict(q(home, "select month, status from v_deliveries where source = 'divisions'"))
    assert status == {"2026-08": "delivered", "2026-09": "not_delivered"}
    (error,) = q(home, "select error from v_deliveries where month = '2026-09' and source = 'roster'")[0]
    assert error is None  # the roster's codes were checked against the August delivery


def test_the_dead_leave_the_roster_the_next_month(loaded):
    home, _ = loaded
    (still_listed,) = q(
        home,
        """
        select count(*) from lake_deaths as d
        inner join lake_roster as r on r.id_number = d.id_number and r.month = '2026-09'
        where d.month = '2026-08'""",
    )[0]
    assert still_listed == 0  # that deaths do occur is checked on a larger month in test_generate


def test_report_opens_offline(loaded):
    home, _ = loaded
    page = (home / "reports" / "2026-08" / "validation.html").read_text(encoding="utf-8")
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "监测对象名册" in page and "expect_column_values_to_be_valid_resident_id_number" in page


def test_every_monitored_household_is_scored_with_the_rule_version(loaded):
    home, _ = loaded
    rows = q(
        home,
        """
        select h.month, count(*), count(distinct h.household_id),
               min(h.hardship_score), max(h.hardship_score),
               count(*) filter (where h.hardship_level is null),
               any_value(h.rule_version), any_value(r.rule_version)
        from v_household_month as h
        inner join v_runs as r on r.month = h.month and r.is_current
        where h.month < '2026-10'
        group by h.month order by h.month""",
    )
    assert [r[0] for r in rows] == ["2026-08", "2026-09"]
    for month, n, distinct, low, high, no_level, version, run_version in rows:
        (on_roster,) = q(
            home, f"select count(distinct household_id) from lake_roster where month = '{month}'"
        )[0]
        assert n == distinct == on_roster
        assert 0 <= low <= high <= 100 and no_level == 0
        assert version == run_version and len(version) == 12
    written = sorted((home / "lake").glob("month=*/build=*/_household_month/*.parquet"))
    assert len(written) == 2  # one prefecture's file each month
    for path in written:  # in household order as assembled: the write sorts no copy
        assert pl.read_parquet(path, columns=["household_id"])["household_id"].is_sorted()
    columns = {r[0] for r in q(home, "describe v_household_month")}
    assert {
        "month",
        "household_id",
        "division_code",
        "township_code",
        "county_code",
        "category",
        "members",
        "hardship_score",
        "hardship_level",
        "per_capita_income",
        "dibao_standard",
        "rule_version",
    } <= columns


def test_leads_are_explained_ranked_and_traceable(loaded):
    home, _ = loaded
    columns = {r[0] for r in q(home, "describe v_leads")}
    assert {
        "month",
        "lead_id",
        "household_id",
        "township_code",
        "level",
        "urgency",
        "rule_ids",
        "reasons",
        "recommended_action",
        "rule_version",
        "run_id",
    } <= columns
    leads = q(
        home,
        "select lead_id, month, household_id, level, urgency, reasons, recommended_action, rank,"
        " rule_ids from v_leads where pushed",
    )
    assert leads, "two generated months always have some warning events"
    for lead_id, month, household, level, urgency, reasons, action, rank, rule_ids in leads:
        # the id of the case the lead stands on: new this month, or first issued in an earlier one
        assert (
            lead_id.startswith("XS")
            and lead_id.endswith(f"-{household}")
            and lead_id[2:8] <= month.replace("-", "")
        )
        assert level in "红橙黄蓝绿" and urgency in ("紧急", "一般") and reasons and action and rank >= 1
        assert rule_ids
    # Ranks are 1..n over each sheet a township is given, with no gaps; a lead not pushed has none.
    assert (
        q(
            home,
            """select count(*) from (select month, township_code, sheet, max(rank) as m, count(*) as n,
                      count(distinct rank) as d from v_cases where kind = 'lead' and sheet is not null
                      group by all) where m != n or d != n""",
        )[0][0]
        == 0
    )
    assert (
        q(
            home,
            """select count(*) from v_leads as l inner join v_cases as c
               on c.month = l.month and c.case_id = l.lead_id where l.pushed and c.rank is distinct from l.rank""",
        )[0][0]
        == 0
    )
    assert q(home, "select count(*) from v_leads where not pushed and rank is not null")[0][0] == 0
    # Every medical hard trigger is backed by the household's 12-month out-of-pocket total.
    assert (
        q(
            home,
            """
        select count(*) from v_leads as l
        inner join lake_household_month as h on h.month = l.month and h.household_id = l.household_id
        where l.rule_ids like '%medical_hard%' and h.oop_medical_12m < 5000""",
        )[0][0]
        == 0
    )


def test_outcomes_of_pushed_leads_come_back_and_close_them(loaded, landing):
    home, _ = loaded
    safetynet(
        "generate",
        "--month",
        "2026-10",
        "--households",
        "600",
        "--seed",
        "11",
        "--landing",
        str(landing),
        "--home",
        str(home),
        check=True,
    )
    safetynet("run", "--month", "2026-10", "--landing", str(landing), "--home", str(home), check=True)
    (pushed,) = q(home, "select count(*) from v_leads where month = '2026-09' and pushed")[0]
    closed = q(home, "select lead_id, outcome from v_leads where month = '2026-09' and status = '已回传'")
    assert pushed > 0 and 0 < len(closed) <= pushed
    # the townships return outcomes for September's open cases; each closes its case in October
    open_in_september = {
        r[0] for r in q(home, "select case_id from v_cases where month = '2026-09' and state <> 'closed'")
    }
    visits = q(home, "select lead_id, lead_month, days_to_visit from v_outcomes where month = '2026-10'")
    closed_in_october = q(home, "select case_id from v_cases where month = '2026-10' and state = 'closed'")
    assert visits and {v[0] for v in visits} == {c[0] for c in closed_in_october} <= open_in_september
    assert {c[0] for c in closed} <= {v[0] for v in visits}
    assert all(lead_month <= "2026-09" and 0 <= days < 92 for _, lead_month, days in visits)


def test_query_formats(loaded):
    home, _ = loaded
    out = safetynet(
        "query",
        "--home",
        str(home),
        "--format",
        "json",
        "select month, status from v_runs where month < '2026-10' order by month",
        check=True,
    )
    assert [r["month"] for r in json.loads(out.stdout)] == ["2026-08", "2026-09"]
    out = safetynet(
        "query",
        "--home",
        str(home),
        "--format",
        "csv",
        "select count(*) as n from v_runs where month < '2026-10'",
        check=True,
    )
    assert out.stdout.splitlines() == ["n", "2"]
    bad = safetynet("query", "--home", str(home), "select * from no_such_view")
    assert bad.returncode == 2 and "no_such_view" in bad.stderr


def test_rerun_replaces_the_month_while_auditors_keep_querying(loaded, landing):
    home, _ = loaded
    before = q(
        home, "select source, accepted, quarantined from v_deliveries where month = '2026-08' order by source"
    )
    leads_before = q(home, "select lead_id, level, reasons from v_leads where month = '2026-08' order by 1")
    commits_before = sorted(p.name for p in (home / "commits").iterdir())
    log = home.parent / "rerun.log"
    proc = subprocess.Popen(
        CLI + ["run", "--month", "2026-08", "--landing", str(landing), "--home", str(home)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    answered = 0
    while proc.poll() is None:  # read-only queries during the load are never refused
        assert q(home, "select count(*) from v_runs")[0][0] >= 2
        answered += 1
        time.sleep(0.2)
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert answered > 10
    after = q(
        home, "select source, accepted, quarantined from v_deliveries where month = '2026-08' order by source"
    )
    assert after == before
    assert (
        q(home, "select lead_id, level, reasons from v_leads where month = '2026-08' order by 1")
        == leads_before
    )
    runs = q(home, "select is_current, build from v_runs where month = '2026-08' order by started_at")
    assert len(runs) == 2 and all(r[0] for r in runs)
    assert runs[0][1] == runs[1][1]  # same inputs: the same build
    assert sorted(p.name for p in (home / "commits").iterdir()) == commits_before  # and no new commit
    (lake_rows,) = q(home, "select count(*) from lake_roster where month = '2026-08'")[0]
    assert lake_rows == dict((s, a) for s, a, _ in after)["roster"]
    assert not any((home / "staging").iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-08", "--landing", "{missing}"], "landing folder does not exist"),
        (["--month", "2031-01", "--landing", "{landing}"], "month folder does not exist"),
        (["--month", "2026-13", "--landing", "{landing}"], "not in YYYY-MM form"),
        (["--month", "2026-07", "--landing", "{landing}"], "no deliveries"),
    ],
)
def test_unusable_landing_fails_with_one_line_and_writes_nothing(landing, tmp_path, args, message):
    (landing / "2026-07").mkdir(exist_ok=True)
    (landing / "2026-07" / "readme.txt").write_text("nothing delivered")
    home = tmp_path / "home"
    args = [a.format(missing=tmp_path / "nope", landing=landing) for a in args]
    done = safetynet("run", *args, "--home", str(home))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not home.exists()


def test_unusable_files_are_reported_and_the_rest_of_the_month_loads(landing, tmp_path):
    bad = tmp_path / "landing"
    shutil.copytree(landing / "2026-08", bad / "2026-08")
    (bad / "2026-08" / "deaths.csv").write_bytes(b"")
    (bad / "2026-08" / "legal_aid.csv").write_bytes(b"\x00\x01\x02\x03" * 100)
    (bad / "2026-08" / "housing_fund.csv").write_text("Numéro,Montant\n1,2\n", encoding="utf-8")
    home = tmp_path / "home"
    done = safetynet("run", "--month", "2026-08", "--landing", str(bad), "--home", str(home))
    assert done.returncode == 3, done.stderr[-3000:]
    for name, problem in [
        ("deaths.csv", "empty"),
        ("legal_aid.csv", "binary"),
        ("housing_fund.csv", "no recognised header"),
    ]:
        assert any(name in line and problem in line for line in done.stderr.splitlines()), (name, done.stderr)
    status = dict(q(home, "select source, status from v_deliveries"))
    assert {s for s, v in status.items() if v == "unusable"} == {"deaths", "legal_aid", "housing_fund"}
    assert status["roster"] == "delivered"
    assert q(home, "select status from v_runs")[0][0] == "incomplete"
    (build,) = q(home, "select build from v_runs")[0]
    assert not (home / "lake" / "month=2026-08" / f"build={build}" / "deaths").exists()
    # Dimensions fed by the unusable sources are incomplete, not scored as "no hardship".
    (incomplete,) = q(home, "select distinct incomplete_dimensions from v_household_month")[0]
    assert {"灾害与意外", "生活状况", "收入与财产"} <= set(incomplete.split("、"))
    assert q(home, "select count(*) from lake_roster")[0][0] > 0


def test_township_files_hold_only_their_households_with_masked_ids(loaded, tmp_path):
    import hashlib
    import json
    import re

    from pypdf import PdfReader
    from python_calamine import CalamineWorkbook

    home, _ = loaded
    root = home / "exports" / "2026-09"
    townships = sorted(p for p in root.glob("[0-9]*/*") if p.is_dir())
    # the reports and portraits, drawn when asked for: here by the data team's command
    drawn = tmp_path / "documents"
    safetynet("documents", "--month", "2026-09", "--home", str(home), "--out", str(drawn), check=True)
    assert townships and all(p.name.startswith(p.parent.name) for p in townships)
    listed = "select township_code, count(*) from v_cases where month = '2026-09' and sheet is not null"
    pushed = dict(q(home, f"{listed} and kind = 'lead' group by 1"))
    doubtful = dict(q(home, f"{listed} and kind = 'doubtful' group by 1"))
    full_id = re.compile(r"\d{17}[\dX]")
    for folder in townships:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["township_code"] == folder.name
        reports = q(  # a report for each household with a new or changed record or a new draw
            home,
            f"select count(distinct household_id) from v_cases where month = '2026-09' and kind <> 'lead' and changed and sheet is not null and township_code = '{folder.name}'",
        )[0][0]
        assert manifest["reports"] == reports
        for entry in manifest["files"]:
            on_demand = drawn / folder.parent.name / folder.name
            path = (on_demand if entry.get("on_demand") else folder) / entry["file"]
            data = path.read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry.get("sha256", hashlib.sha256(data).hexdigest())
            if entry["file"].endswith(".pdf"):
                text = "\n".join(p.extract_text() for p in PdfReader(path).pages)
                assert not full_id.search(text), entry["file"]
                households = set(re.findall(r"H\d{10}", text))
                if entry["file"] != "核查报告汇总.pdf":
                    assert entry["file"].split("/")[-1].split("_")[0] in households
                for household in households:  # never another township's household
                    assert (
                        q(
                            home,
                            f"select township_code from v_household_month where month = '2026-09' and household_id = '{household}'",
                        )[0][0]
                        == folder.name
                    )
                continue
            book = CalamineWorkbook.from_path(str(path))
            sheets = [book.get_sheet_by_name(n).to_python() for n in book.sheet_names if n != "修订说明"]
            # on each sheet (the cases, then those overdue): a title row, the header row, the rows
            assert sum(len(rows) - 2 for rows in sheets) == entry["rows"]
            rows = [r for sheet in sheets for r in sheet[:2]] + [r for sheet in sheets for r in sheet[2:]]
            assert folder.name in rows[0][0] and rows[1][-4:] == ["核查日期", "核查结论", "转介部门", "备注"]
            text = " ".join(str(c) for r in rows for c in r)
            assert not full_id.search(text), entry["file"]  # every ID number is masked
            if entry["file"] == "线索清单.xlsx":
                assert entry["rows"] == pushed.get(folder.name, 0)
                households = {r[rows[1].index("户编号")] for r in rows[2:]}
                (others,) = q(
                    home,
                    f"select count(*) from v_household_month where month = '2026-09' and township_code != '{folder.name}' and household_id in ({','.join(repr(h) for h in households) or 'null'})",
                )[0]
                assert others == 0  # never another township's household
            if entry["file"] == "核对疑点清单.xlsx":
                assert entry["rows"] == doubtful.get(folder.name, 0)


def test_a_failed_airflow_run_is_recorded_failed_and_publishes_nothing(loaded, landing, tmp_path):
    import os

    home = tmp_path / "home"
    shutil.copytree(loaded[0], home, symlinks=True)
    before = q(home, "select * exclude (run_id) from v_leads")
    env = {**os.environ, "SAFETYNET_FAULT": "assess:leads", "SAFETYNET_TASK_RETRIES": "0"}
    done = subprocess.run(
        CLI + ["run", "--month", "2026-09", "--landing", str(landing), "--home", str(home)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "nothing new was published" in done.stderr
    (failed,) = q(home, "select status, failed_task, is_current, error from v_runs where status = 'failed'")
    assert failed[:3] == ("failed", "assess_area", False) and "injected fault" in failed[3]
    assert q(home, "select * exclude (run_id) from v_leads") == before


def test_airflow_retries_a_failed_publish_and_the_retry_succeeds(loaded, landing, tmp_path):
    import os

    home = tmp_path / "home"
    shutil.copytree(loaded[0], home, symlinks=True)
    changed = tmp_path / "landing"
    shutil.copytree(landing / "2026-09", changed / "2026-09")
    (changed / "2026-09" / "legal_aid.csv").unlink()  # other inputs: a new build to publish
    env = {
        **os.environ,
        "SAFETYNET_FAULT": "commit:swap",
        "SAFETYNET_FAULT_ONCE": str(tmp_path / "fired"),
        "SAFETYNET_TASK_RETRIES": "1",
        "SAFETYNET_RETRY_DELAY": "0",
    }
    done = subprocess.run(
        CLI + ["run", "--month", "2026-09", "--landing", str(changed), "--home", str(home)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "fired").exists()  # the first attempt of publish did fail
    (run,) = q(home, "select status, is_current, replaced from v_runs where month = '2026-09' and is_current")
    assert run[0] == "incomplete" and run[2]  # legal_aid not delivered: incomplete, and published
    assert q(home, "select sources_not_delivered from v_runs where is_current and month = '2026-09'") == [
        (["legal_aid"],)
    ]
