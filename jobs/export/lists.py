"""Township files (CONTRACT.md, Outputs): `<home>/exports/<YYYY-MM>/<county>/<township>/`.

Each township gets its pushed leads (线索清单.xlsx), its means-test doubtful records
(核对疑点清单.xlsx), the random re-check sample when one is drawn (随机抽查名单.xlsx), the summary
of its economic-status reports (核查报告汇总.pdf) and a manifest with each file's SHA-256. The
manifest also lists each household report and printed portrait with its input digest: those are
drawn when asked for, from the published build (jobs/export/documents.py), not by the run.
Only its own households are in its files, and every resident ID
number in them is masked (the first 6 and last 4 characters are kept).

`export_area` writes one prefecture's townships and county overviews (the DAG maps it over
`export_areas`), from that prefecture's files of the build (jobs/ingest/areas.py); each of its counties'
folders is put in place by one rename, so prefectures never write into each other's. `export` runs
every prefecture in one process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import NamedTuple

import polars as pl

from jobs.cases.lifecycle import STATES
from jobs.cross_region.evidence import pending_by_household
from jobs.export import drawing, overview, portraits
from jobs.export.household_reports import (
    REPORT_DIR,
    SUMMARY_FILE,
    ReportFailure,
    Reports,
    division_names,
    gather,
    rule_titles,
    warned_by_expr,
)
from jobs.export.returnable import earliest_visit, write_list
from jobs.ingest.areas import prefecture
from jobs.publish import warehouse
from safetynet.builds import open_build
from safetynet.faults import fault
from safetynet.ids import mask_ids
from safetynet.lake import Home, replace_dir, write_parquet
from safetynet.months import period_label
from safetynet.pdf import FontChain, find_font
from safetynet.progress import say, timed
from safetynet.rules import RuleSet, load_rules
from safetynet.workers import allotted, pool, threads

# The returnable lists: these columns, then the visit deadline and the outcome columns to fill in.
# Every list says where each case stands: new, standing (issued before, no outcome yet), escalated,
# overdue or expired (jobs/cases/lifecycle.py), when it was first issued and for how many days.
CASE_COLUMNS = {"state_label": "案件状态", "first_issued_on": "首次下发日期", "days_open": "已下发天数"}
OVERDUE_SHEET = "逾期未回传"  # the sheet of cases past their deadline with no outcome returned
LEAD_COLUMNS = {
    "rank": "排名",
    "lead_id": "线索编号",
    **CASE_COLUMNS,
    "level": "预警等级",
    "urgency": "紧急程度",
    "household_id": "户编号",
    "head_name": "户主姓名",
    # a lead is a household's: its head's masked ID number is on the portrait, not on the list, and
    # its village is named rather than coded, so that the list prints legibly on A4 (issue 33)
    "village": "村（社区）",
    "category": "人员类别",
    "hardship_score": "困难指数",
    "hardship_level": "困难等级",
    "warned_by": "预警来源",  # why the colour and the index may disagree (household_reports.warned_by)
    "top_factors": "主要致困因素",
    "reasons": "预警原因",
    # items a member's household registration province still owes an answer on (issue 35)
    "cross_region": "异地核对",
    "recommended_action": "建议措施",
}
DOUBTFUL_COLUMNS = {
    "rank": "序号",
    "record_id": "记录编号",
    **CASE_COLUMNS,
    "household_id": "户编号",
    "head_name": "户主姓名",
    "head_id": "户主身份证号",
    "category": "人员类别",
    "check": "核对项目",
    "direction": "处理方向",
    "evidence": "疑点说明",
    "cross_region": "异地核对",  # 待异地核对（<items>）；异地无数据（<items>）: not known, never "nothing"
    "sources": "数据来源（月份/文件:行）",
}
SAMPLE_COLUMNS = {
    "rank": "序号",
    "record_id": "记录编号",
    **CASE_COLUMNS,
    "household_id": "户编号",
    "head_name": "户主姓名",
    "head_id": "户主身份证号",
    "category": "人员类别",
    "batch": "抽样批次",  # the draw's period in words; its seed is for auditors (v_recheck_sample)
    "stratum_size": "本类别户数",
    "draw_rank": "抽取顺序",
}

NOTICE_SHEET = (
    "预计需求提示"  # a sheet of the lead list: anticipated needs, not leads (jobs/assess/notices.py)
)
NOTICE_COLUMNS = {
    "notice_id": "提示编号",
    "household_id": "户编号",
    "name": "儿童姓名",
    "child_id": "儿童身份证号",
    "stage": "预计学段",
    "starts_on": "开学日期",
    "age_on_start": "届时年龄",
    "note": "提示内容",
}
SAMPLE_FILE = "随机抽查名单.xlsx"  # written only in a month with a re-check draw
# Where an auditor traces each kind of township file in the warehouse: written into the manifest,
# never onto the files, which township staff read in plain Chinese (issue 33).
TRACE = {
    "线索清单.xlsx": ["v_cases", "v_leads", "v_household_month"],
    "核对疑点清单.xlsx": ["v_cases", "v_doubtful_records"],
    SAMPLE_FILE: ["v_cases", "v_recheck_sample"],
    REPORT_DIR: [
        "v_doubtful_records",
        "v_recheck_sample",
        "means_members",
        "means_households",
        "means_assets",
        "means_cross_region",
    ],
    SUMMARY_FILE: ["v_doubtful_records", "v_recheck_sample", "v_leads"],
    portraits.PORTRAIT_DIR: ["v_cases", "v_household_month"],
}
# A manifest entry's marker: a document listed with its input digest, drawn when asked for
# (jobs/export/documents.py), so it has no bytes or SHA-256 until then.
ON_DEMAND = "on_demand"
LISTS = (
    ("线索清单.xlsx", LEAD_COLUMNS),
    ("核对疑点清单.xlsx", DOUBTFUL_COLUMNS),
    (SAMPLE_FILE, SAMPLE_COLUMNS),
)


def heads(roster: pl.DataFrame | None) -> pl.DataFrame:
    """Each household's head (or first member): name and masked ID number."""
    columns = ["household_id", "id_number", "name", "relation"]
    if roster is None:  # a prefecture whose households have all left the roster: cases still listed
        roster = pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
    return (
        roster.sort("household_id", pl.col("relation") != "户主", "id_number")
        .group_by("household_id", maintain_order=True)
        .first()
        .select("household_id", head_name="name", head_id=mask_ids(pl.col("id_number")))
    )


def _content(frame: pl.DataFrame, headers: dict[str, str]) -> str:
    """SHA-256 of a list's rows as written: what a township would see change."""
    flat = frame.select("sheet", *headers, "visit_by").with_columns(
        pl.col(pl.List(pl.String)).list.join("；")
    )
    return hashlib.sha256(flat.write_csv().encode("utf-8")).hexdigest()


def _published_contents(home: Home, month: str, replaces: str | None, township: str) -> dict[str, str]:
    """The content hashes of a township's lists in the build this one replaces."""
    if not replaces:
        return {}
    path = (
        home.lake
        / f"month={month}"
        / f"build={replaces}"
        / "exports"
        / township[:6]
        / township
        / "manifest.json"
    )
    if not path.exists():
        return {}
    files = json.loads(path.read_text(encoding="utf-8"))["files"]
    names = {name for name, _ in LISTS}
    return {f["file"]: f["content_sha256"] for f in files if f["file"] in names and "content_sha256" in f}


def export_areas(month: str, home: str, run_id: str) -> list[str]:
    """The prefectures with township files this month: households on the roster, cases listed
    (those of households gone from the roster included) or notices."""

    h = open_build(home, run_id)
    found = {p.stem for d in ("roster", "_notices") for p in h.files(d, month) if p.stem.isdigit()}
    cases = h.scan("_cases", month)
    if cases is not None:
        listed = cases.filter(pl.col("sheet").is_not_null()).select(prefecture(pl.col("township_code")))
        found |= set(listed.unique().collect()["township_code"].drop_nulls())
    return sorted(found)


def export(month: str, home: str, run_id: str, slots: int | None = None) -> dict:
    """Every prefecture's township files in one process (`export_area` of each, in turn)."""
    done = [export_area(month, home, run_id, area, slots) for area in export_areas(month, home, run_id)]
    counts = ("townships", "files", "reports", "lists", "reports_failed", "portraits", "portraits_failed")
    return {
        "month": month,
        "prefectures": len(done),
        **{k: sum(d[k] for d in done) for k in (*counts, "report_seconds")},
        "busy_seconds": {
            k: sum(d["busy_seconds"][k] for d in done) for k in ("lists", "reports", "portraits")
        },
    }


def export_area(month: str, home: str, run_id: str, area: str, slots: int | None = None) -> dict:
    """A prefecture's township files, into the run's build; released to townships when `publish`
    commits. `slots`: the task's pool slots, the processes it may draw documents with
    (safetynet.workers). Each township's rows are read and built first (`area_jobs`), then its
    files drawn and put in place (`draw_area`)."""

    h = open_build(home, run_id)
    build = h.building.path.name.removeprefix("build=")
    replaces = json.loads((h.building.path / "build.json").read_text(encoding="utf-8"))["replaces"]
    rules = load_rules(month=month)  # the parameters in force in the month
    target = h.building.path / "exports"
    # a folder of this try's own: a try of a lost worker may still be writing when its retry starts
    staging = h.building.path / f".exports.{area}.{uuid.uuid4().hex}.tmp"
    staging.mkdir()
    listed = read_listed(h, month, area)
    write_parquet(issued(month, listed), h.partition("_issued", month) / f"{area}.parquet")
    names = division_names(h, month)
    jobs, reports = area_jobs(h, month, area, rules, replaces, listed, staging, names)
    context = Context(rules, month, build, names, rules.deadlines.issued_on(month), replaces)
    drawn = draw_area(jobs, context, slots, staging, target)
    with timed("county overviews") as info:
        info["counties"] = write_overviews(h, month, sorted({t.code[:6] for t in jobs}), names, rules)
    return {
        "month": month,
        "prefecture": area,
        "townships": len(jobs),
        "files": drawn["files"],
        "reports": reports,
        **{k: drawn[k] for k in ("report_seconds", "busy_seconds", "lists", "reports_failed")},
        "portraits": drawn["portraits"],
        "portraits_failed": drawn["portraits_failed"],
        "exports": str(target),
    }


def read_listed(h: Home, month: str, area: str) -> pl.DataFrame:
    """The prefecture's cases listed this month (`_cases` with a sheet), with their households'
    heads and household-month columns."""
    roster = h.read("roster", month, ["household_id", "id_number", "name", "relation"], area)
    household_month = h.read("_household_month", month, HOUSEHOLD_COLUMNS, area)
    cases = h.scan("_cases", month).filter(
        pl.col("sheet").is_not_null() & pl.col("township_code").str.starts_with(area)
    )
    elsewhere = pending_by_household(h.read("_means_cross_region", month, area=area))
    return listed_cases(cases.collect(), heads(roster), household_month, elsewhere)


def area_jobs(
    h: Home,
    month: str,
    area: str,
    rules: RuleSet,
    replaces: str | None,
    listed: pl.DataFrame,
    staging: Path,
    names: dict[str, str],
) -> tuple[list[Township], int]:
    """Every township's files to draw (read of the build: reports' and portraits' rows, notices,
    re-check draws, the replaced build's lists), and the reports to draw; `names`: the divisions'."""
    with timed("report data") as info:
        report_rows = gather(h, month, report_households(listed), area)
        info["households"] = sum(len(rows) for rows in report_rows.values())
    with timed("portrait data") as info:
        # a portrait with the visit sheet for a new or escalated red/orange/yellow lead; others on demand
        printable = listed.filter(portraits.printed_at_export())
        printed = by_township(portraits.gather(h, month, printable, rules.dimensions, area))
        info["portraits"] = sum(len(p) for p in printed.values())
    notices = notices_by_township(h.read("_notices", month, area=area))
    labels = {c.id: c.label for c in rules.means_checks}
    lists = township_lists(*kinds(listed, labels, draws(h, listed), rule_titles(rules), names))
    counts = lead_counts(listed)
    jobs = [
        Township(
            folder=str(staging / t[:6] / t),
            code=t,
            lists={name: mine.get(t, empty) for name, (mine, empty) in lists.items()},
            published=_published_contents(h, month, replaces, t),
            reports=report_rows.get(t, []),
            leads=counts.get(t, {}),
            portraits=printed.get(t, []),
            notices=notices.get(t),
        )
        for t in area_townships(area, report_rows, listed, notices)
    ]
    return jobs, sum(row["draw"] for rows in report_rows.values() for row in rows)


def draw_area(jobs: list[Township], c: Context, slots: int | None, staging: Path, target: Path) -> dict:
    """Draws the townships' files into `staging`, then puts each county's folder in place by one
    rename; the counts and seconds of the pass."""
    with timed("township files") as info:
        fault("export", "reports")
        started = time.perf_counter()
        done = draw_townships(jobs, c, allotted(slots))
        seconds = time.perf_counter() - started
        failures = [f for d in done for f in d.failures]
        drawn_reports = sum(d.reports for d in done)
        drawn_portraits = sum(d.portraits for d in done)
        busy = {k: sum(d.seconds[k] for d in done) for k in ("lists", "reports", "portraits")}
        info.update(
            townships=len(jobs),
            lists=sum(len(d.lists) for d in done),
            reports=drawn_reports,
            portraits=drawn_portraits,
            failed=len(failures),
            busy="/".join(f"{v:.0f}" for v in busy.values()),
            per_second=round(drawn_reports / max(busy["reports"], 1e-9)),
        )
    reports_failed = sum(1 for f in failures if not f.file.startswith(portraits.PORTRAIT_DIR))
    for failure in failures:  # the month goes on; the township's manifest lists what is missing
        say("export", f"not written: {failure.township_code}/{failure.file}: {failure.message}")
    for county in sorted(staging.iterdir()):  # the prefecture's counties, each by one rename
        replace_dir(county, target / county.name)
    shutil.rmtree(staging)
    return {
        "files": sum(d.files for d in done),
        "report_seconds": round(seconds, 2),  # the pass drawing every township's files
        "busy_seconds": {k: round(v, 2) for k, v in busy.items()},  # process seconds per kind
        "lists": sum(len(d.lists) for d in done),
        "reports_failed": reports_failed,
        "portraits": drawn_portraits,
        "portraits_failed": len(failures) - reports_failed,
    }


# --- pure: a prefecture's rows by township --------------------------------------------------------

HOUSEHOLD_COLUMNS = [
    "household_id",
    "division_code",
    "category",
    "hardship_score",
    "hardship_level",
    "top_factors",
]


def listed_cases(
    cases: pl.DataFrame,
    heads: pl.DataFrame,
    household_month: pl.DataFrame | None,
    elsewhere: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The listed cases with their households' heads and household-month columns, ids for every
    list and the state as staff read it; `elsewhere`: the households' 异地核对 text
    (jobs/cross_region/evidence.py pending_by_household)."""
    if household_month is None:  # no household on the roster: only cases carried on
        household_month = pl.DataFrame(
            schema=dict.fromkeys(HOUSEHOLD_COLUMNS, pl.String) | {"hardship_score": pl.Float64}
        )
    if elsewhere is None:
        elsewhere = pending_by_household(None)
    return (
        cases.join(heads, on="household_id", how="left")
        .join(household_month, on="household_id", how="left")
        .join(elsewhere, on="household_id", how="left")
        .with_columns(record_id="case_id", lead_id="case_id", state_label=state_label())
    )


def kinds(
    listed: pl.DataFrame,
    labels: dict[str, str],
    drawn: pl.DataFrame,
    titles: dict[str, str],
    names: dict[str, str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The lead list's, the doubtful records' and the re-check sample's rows (LISTS' order): ids in
    the text masked, a lead's rules by their titles (`titles`) and its village by name (`names`,
    the code when the divisions delivery has none), a check by its label (`labels`), a draw with
    how it was drawn (`drawn`)."""
    code = pl.col("division_code")
    leads = listed.filter(pl.col("kind") == "lead").with_columns(
        reasons=mask_ids(pl.col("reasons")),
        warned_by=warned_by_expr(titles),
        village=code.replace_strict(names or {}, default=code, return_dtype=pl.String),
    )
    doubtful = listed.filter(pl.col("kind") == "doubtful").with_columns(
        check=pl.col("check_id").replace_strict(labels, default=pl.col("check_id")),
        evidence=mask_ids(pl.col("evidence")),
        sources=pl.col("source_refs").list.join("；"),
    )
    sample = (
        listed.filter(pl.col("kind") == "recheck")
        .join(drawn, on="case_id", how="left")
        .with_columns(
            batch=pl.col("period").replace_strict(batches(drawn), default=None, return_dtype=pl.String)
        )
    )
    return leads, doubtful, sample


def batches(drawn: pl.DataFrame) -> dict[str, str]:
    """Each draw period's 抽样批次 as staff read it (2026H2 -> 2026年下半年)."""
    return {p: period_label(p) for p in drawn["period"].unique().drop_nulls()}


def township_lists(*frames: pl.DataFrame) -> dict[str, tuple[dict[str, pl.DataFrame], pl.DataFrame]]:
    """Each list's rows by township, and its empty list, by file name (`frames` in LISTS' order)."""
    return {name: _by_township(frame, headers) for frame, (name, headers) in zip(frames, LISTS, strict=True)}


def report_households(listed: pl.DataFrame) -> set[str]:
    """A report for a new or changed doubtful record and a new re-check draw; others on demand."""
    drawn = listed.filter(pl.col("kind").is_in(["doubtful", "recheck"]) & pl.col("changed"))
    return set(drawn["household_id"])


def by_township(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows (portraits') by their `township_code`, in order."""
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row["township_code"], []).append(row)
    return out


def notices_by_township(noticed: pl.DataFrame | None) -> dict[str, pl.DataFrame]:
    """The anticipated needs by township, in notice order, the child's ID number masked."""
    noticed = (
        pl.DataFrame(schema={"township_code": pl.String, **dict.fromkeys(NOTICE_COLUMNS, pl.String)})
        if noticed is None
        else noticed.with_columns(child_id=mask_ids(pl.col("id_number")))
    )
    return {
        key[0]: part.select(*NOTICE_COLUMNS)
        for key, part in noticed.sort("township_code", "notice_id")
        .partition_by("township_code", as_dict=True, maintain_order=True)
        .items()
    }


def area_townships(area: str, reports: dict, listed: pl.DataFrame, notices: dict) -> list[str]:
    """The prefecture's townships with a file: reports, listed cases or notices."""
    found = set(reports).union(listed["township_code"].drop_nulls(), notices)
    return sorted(t for t in found if t.startswith(area))


def lead_counts(listed: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Each township's leads by colour (level)."""
    counts: dict[str, dict[str, int]] = {}
    leads = listed.filter(pl.col("kind") == "lead")
    for township, level, n in leads.group_by("township_code", "level").len().iter_rows():
        counts.setdefault(township, {})[level] = n
    return counts


class Township(NamedTuple):
    """A township's files to draw: its lists' rows by file name, the content hashes of the lists
    this build replaces, its reports' rows, its lead counts by colour and its portraits."""

    folder: str
    code: str
    lists: dict[str, pl.DataFrame]
    published: dict[str, str]
    reports: list[dict]
    leads: dict[str, int]
    portraits: list[dict]
    notices: pl.DataFrame | None = None  # anticipated needs: a sheet of the lead list


class Drawn(NamedTuple):
    lists: dict[str, dict]  # by file name: rows, content hash, revised
    reports: int  # files: reports and the summary
    portraits: int
    failures: list[ReportFailure]
    seconds: dict[str, float]  # process time per kind of file
    files: int  # written, the manifest included


class Context(NamedTuple):
    rules: RuleSet
    month: str
    build: str
    names: dict[str, str]
    issued_on: dt.date
    replaces: str | None


class Drawer:
    """Draws townships' files; one per worker process, holding the fonts."""

    def __init__(self, c: Context):
        self.c = c
        self.earliest = earliest_visit(c.month)  # the lists' first visit date (rules/, read once)
        fonts = FontChain(find_font())
        self.reports = Reports(c.rules, c.month, c.build, c.names, fonts)
        self.portraits = portraits.Portraits(c.month, c.build, c.names, fonts, rule_titles(c.rules))
        # what a document is drawn with besides its rows (jobs/export/drawing.py): the build id is
        # left out on purpose; the manifest records it and documents are drawn only under it
        self.conditions = drawing.conditions(c.rules, c.month, c.names, fonts)
        self.drawn_with = self.conditions["digest"]

    def township(self, t: Township) -> Drawn:
        """Writes the township's lists, summary and manifest; its reports and portraits are listed
        in the manifest with their input digests and drawn when asked for (jobs/export/documents.py)."""
        folder = Path(t.folder)
        folder.mkdir(parents=True, exist_ok=True)
        clock = time.process_time()
        lists = self.lists(folder, t)
        seconds = {"lists": time.process_time() - clock}
        clock = time.process_time()
        reports, failures = self.reports.write_summary(folder, t.code, t.reports, t.leads)
        seconds["reports"] = time.process_time() - clock
        seconds["portraits"] = 0.0
        withdrawn = sorted(set(t.published) - set(lists))
        c = self.c
        failed = [f._asdict() for f in failures]
        contents, documents = self.contents(t), self.documents(t)
        files = _manifest(
            folder,
            c.month,
            t.code,
            c.build,
            c.replaces,
            lists,
            withdrawn,
            failed,
            contents,
            documents,
            self.conditions,
        )
        return Drawn(lists, reports, len(t.portraits), failures, seconds, files + 1)

    def documents(self, t: Township) -> list[dict]:
        """The township's reports and portraits, drawn when asked for: each with its id (its path
        in the folder), kind, household and input digest (`contents`)."""
        listed = [
            (self.reports.file(row), "report", row["household_id"], row)
            for row in t.reports
            if row.get("draw", True)
        ]
        listed += [(p["file"], "portrait", p["household_id"], p) for p in t.portraits]
        return [
            {
                "file": file,
                "document_id": file,
                "kind": kind,
                "household_id": household,
                "content_sha256": _content_hash(self.drawn_with, row),
                ON_DEMAND: True,
            }
            for file, kind, household, row in listed
        ]

    def contents(self, t: Township) -> dict[str, str]:
        """Each report's, portrait's and the summary's content hash: what it is drawn from, so
        that `safetynet diff` tells a changed document from one whose build id alone changed."""
        out = {SUMMARY_FILE: _content_hash(self.drawn_with, t.code, t.reports, t.leads)}
        for row in t.reports:
            if row.get("draw", True):
                out[self.reports.file(row)] = _content_hash(self.drawn_with, row)
        for p in t.portraits:
            out[p["file"]] = _content_hash(self.drawn_with, p)
        return out

    def lists(self, folder: Path, t: Township) -> dict[str, dict]:
        c, written = self.c, {}
        for name, headers in LISTS:
            mine = t.lists[name]
            if name == SAMPLE_FILE and mine.height == 0:
                continue
            content = _content(mine, headers)
            before = t.published.get(name)
            revised = before is not None and before != content
            revision = (
                f"本清单为{c.month}的修订版，替换此前发布的同名清单（数据批次 {c.replaces}）。"
                "原因：部门数据重新报送或规则调整后重新计算。请以本版为准；已按旧版完成的核查结果仍可回传。"
                if revised
                else None
            )
            title = name.removesuffix(".xlsx")
            sheets = [
                (
                    sheet_title,
                    part,
                    f"{township_name(c.names, t.code)}（{t.code}）{c.month[:4]}年{c.month[5:]}月"
                    f"{heading}　　下发日期：{c.issued_on.isoformat()}　　共 {part.height} 条",
                )
                for sheet, sheet_title, heading in (
                    ("main", title, title),
                    ("overdue", OVERDUE_SHEET, f"{title}（{OVERDUE_SHEET}）"),
                )
                if (part := mine.filter(pl.col("sheet") == sheet)).height or sheet == "main"
            ]
            notes = []
            if name == LISTS[0][0] and t.notices is not None and t.notices.height:
                place = f"{township_name(c.names, t.code)}（{t.code}）"
                heading = (
                    f"{place}{c.month[:4]}年{c.month[5:]}月{NOTICE_SHEET}"
                    f"（不是预警线索，无需回传）　　共 {t.notices.height} 条"
                )
                notes.append((NOTICE_SHEET, t.notices, NOTICE_COLUMNS, heading))
            write_list(
                folder / name, sheets, headers, title, c.month, c.issued_on, revision, notes, self.earliest
            )
            written[name] = {"rows": mine.height, "content_sha256": content, "revised": bool(revised)}
        return written


_drawer: Drawer | None = None


def _start(c: Context) -> None:
    global _drawer
    _drawer = Drawer(c)


def _draw(t: Township) -> Drawn:
    return _drawer.township(t)


def draw_townships(jobs: list[Township], c: Context, workers: int = 1) -> list[Drawn]:
    """Writes every township's lists, summary and manifest, in `workers` processes when there are
    many (safetynet.workers.allotted); results in job order."""
    # the lists and summaries: the reports and portraits are drawn when asked for (documents.py)
    documents = sum(len(t.lists) + 1 for t in jobs)
    if workers <= 1 or documents < 400:  # starting workers costs more than a few hundred documents
        drawer = Drawer(c)
        return [drawer.township(t) for t in jobs]
    with pool(workers, _start, (c,)) as executor:
        return list(executor.map(_draw, jobs, chunksize=4))


def _by_township(
    frame: pl.DataFrame, headers: dict[str, str]
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """A list's rows split by township, in sheet and rank order; and the empty list."""
    rows = frame.select("township_code", "sheet", *headers, "visit_by")
    rows = rows.sort("township_code", "sheet", "rank")
    parts = rows.partition_by("township_code", as_dict=True, maintain_order=True, include_key=False)
    return {key[0]: part for key, part in parts.items()}, rows.drop("township_code").clear()


ISSUED_SCHEMA = {
    "month": pl.String,
    "id": pl.String,
    "kind": pl.String,
    "household_id": pl.String,
    "township_code": pl.String,
    "issued_on": pl.Date,
    "visit_by": pl.Date,
}
KINDS = {"lead": "线索清单", "doubtful": "核对疑点清单", "recheck": "随机抽查名单"}


def issued(month: str, listed: pl.DataFrame) -> pl.DataFrame:
    """Every id a township is given this month to return an outcome for (`_issued`): its open cases,
    leads, doubtful records and re-check draws. Outcomes are checked against it."""
    return (
        listed.select(
            pl.lit(month).alias("month"),
            pl.col("case_id").alias("id"),
            "kind",
            "household_id",
            "township_code",
            "issued_on",
            "visit_by",
        )
        .cast(ISSUED_SCHEMA)
        .sort("township_code", "kind", "id")
    )


def state_label() -> pl.Expr:
    """The case's state as township staff read it, with why a standing case is still listed."""
    label = pl.col("state").replace_strict(STATES, return_dtype=pl.String)
    return (
        pl.when(~pl.col("on_roster"))
        .then(label + "（已不在册，仍需核查）")
        .when(pl.col("condition_gone"))
        .then(label + "（预警条件已消失，仍需核查）")
        .otherwise(label)
    )


def draws(h: Home, listed: pl.DataFrame) -> pl.DataFrame:
    """How each listed re-check case was drawn (period, seed, stratum, rank), from its draw month."""
    schema = {
        "case_id": pl.String,
        "period": pl.String,
        "seed": pl.String,
        "stratum_size": pl.Int64,
        "draw_rank": pl.Int64,
    }
    months = listed.filter(pl.col("kind") == "recheck")["first_month"].unique().sort().to_list()
    frames = [
        f.select(pl.col("record_id").alias("case_id"), "period", "seed", "stratum_size", "draw_rank")
        for m in months
        if (f := h.read("_recheck", m)) is not None
    ]
    return pl.concat([f.cast(schema) for f in frames]) if frames else pl.DataFrame(schema=schema)


def write_overviews(h: Home, month: str, counties: list[str], names: dict[str, str], rules: RuleSet) -> int:
    """Each county's overview (jobs/export/overview.py), an offline HTML file published with the month:
    `report/overview/<county>.html`, from the warehouse's views over this build and the months
    before it (never a later month's: a rerun of this month makes the same bytes)."""
    import duckdb

    con = duckdb.connect(config={"threads": threads()})
    for sql in warehouse.statements(h, up_to=month):
        con.execute(sql)
    folder = h.building.path / "report" / "overview"
    staging = folder.with_name(f".overview.{uuid.uuid4().hex}.tmp")
    written = overview.write(con, month, counties, names, rules, staging)
    con.close()
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(staging.iterdir()):  # each county's file by one rename, beside the others'
        os.replace(path, folder / path.name)
    shutil.rmtree(staging)
    return written


def township_name(names: dict[str, str], township: str) -> str:
    return names.get(township) or names.get(township + "000") or township


_content_hash = drawing.content_hash


def _manifest(
    folder: Path,
    month: str,
    township: str,
    build: str,
    replaces: str | None,
    lists: dict[str, dict],
    withdrawn: list[str],
    failed: list[dict],
    contents: dict[str, str],
    documents: list[dict] = (),
    drawn_with: dict | None = None,
) -> int:
    """manifest.json: every file of the township folder with its SHA-256, and every document drawn
    when asked for (`documents`: no bytes until drawn; the portal log has the served bytes'
    SHA-256); returns the count of files written."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json")
    written = [
        {
            "file": p.relative_to(folder).as_posix(),
            **(
                {"rows": lists[p.name]["rows"], "content_sha256": lists[p.name]["content_sha256"]}
                if p.name in lists
                else {"content_sha256": contents[name]}
                if (name := p.relative_to(folder).as_posix()) in contents
                else {}
            ),
            "bytes": p.stat().st_size,
            "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
        }
        for p in files
    ]
    manifest = {
        "month": month,
        "township_code": township,
        "build": build,
        "revision_of": replaces if withdrawn or any(v["revised"] for v in lists.values()) else None,
        "revised_files": sorted(name for name, v in lists.items() if v["revised"]),
        "withdrawn_files": withdrawn,  # lists of the replaced build that this one no longer has
        # documents not written: a character of a name that no installed font has (safetynet/pdf.py)
        "failed_files": failed,
        "reports": sum(1 for d in documents if d["kind"] == "report"),
        "summary": SUMMARY_FILE,
        # what the documents are drawn with besides their rows: drawn when asked for only under it
        "drawn_with": drawn_with,
        "trace": TRACE,  # the warehouse's views each kind of file is drawn from, for auditors
        "files": sorted([*written, *documents], key=lambda f: f["file"]),
    }
    (folder / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return len(files)
