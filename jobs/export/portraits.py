"""Household portraits (家庭画像) of the pushed leads, and the visit sheet printed with them.

A portrait shows what the month's run decided about a listed lead's household: the eight dimension
sub-scores of the hardship index as a radar chart against the median of the township's monitored
households, the hardship factors, the members (ID numbers masked), and the assistance the household
already receives, its 幸福清单: category and monthly benefit (roster), medical assistance, education
aid and work-injury compensation over the index's 12-month window (the departments' deliveries),
and every temporary assistance (临时救助) a township returned as a visit's outcome so far.

The portal shows it as a page for every listed lead. The export lists in the township manifest, to
be drawn when asked for (jobs/export/documents.py), an A4 PDF with the visit sheet (reasons,
recommended action, deadline, a box per outcome code of the contract, lines for the visit date,
referral and signatures) for each new or escalated red, orange or yellow lead: one page for a
household of up to seven members and five kinds of assistance (a larger one goes on to a second
page):

    <township folder>/家庭画像/<household>_<head of household>.pdf

Other leads' PDFs are drawn on demand in the portal too; all by the same code, so they are the
same bytes whenever they are drawn.
Everything is read from the month's lake partitions (`_cases`, `_household_month`, the roster, the
work-injury deliveries, earlier months' closed `_cases` and `outcomes`), never recomputed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from jobs.assess.households import window
from jobs.export.household_reports import ReportFailure, rule_titles, warned_by
from jobs.export.returnable import OUTCOME_CODES
from safetynet import concepts
from safetynet.contract import SOURCES
from safetynet.ids import mask_ids
from safetynet.lake import Home
from safetynet.months import month_bounds
from safetynet.pdf import Document, Flow, FontChain, MissingGlyph, find_font
from safetynet.rules import Dimension, load_population, load_rules

PORTRAIT_DIR = "家庭画像"
# The leads whose portrait and visit sheet are printed at export (issue 13, item 4): a home visit is
# asked for red, orange and yellow leads (blue and green are referrals and notices), and a standing
# lead was printed in the month it was new or escalated.
PRINTED_LEVELS = ("红", "橙", "黄")
PRINTED_STATES = ("new", "escalated", "reopened")
TEMPORARY_ASSISTANCE = "临时救助"
STATE_LABELS = {
    "new": "新增",
    "standing": "持续",
    "escalated": "升级",
    "overdue": "逾期",
    "expired": "超期未核查",
    "reopened": "更正后重新打开",
}
CASE_FIELDS = (
    "case_id",
    "household_id",
    "township_code",
    "county_code",
    "state",
    "level",
    "urgency",
    "reasons",
    "rule_ids",
    "recommended_action",
    "visit_by",
    "first_issued_on",
    "days_open",
    "rank",
)


def listed_leads() -> pl.Expr:
    """The lead cases on a month's lists (either sheet): the leads a portrait is shown for."""
    return (pl.col("kind") == "lead") & pl.col("sheet").is_not_null()


def printed_at_export() -> pl.Expr:
    """The listed leads whose portrait PDF is written at export; others are drawn on demand."""
    return listed_leads() & pl.col("state").is_in(PRINTED_STATES) & pl.col("level").is_in(PRINTED_LEVELS)


def file_name(household_id: str, head_name: str | None, folder: str = PORTRAIT_DIR) -> str:
    """A household's document in its township folder, `<folder>/<household>_<head>.pdf`, named as
    the economic-status reports are (jobs/export/household_reports.py)."""
    safe = "".join(c for c in (head_name or "无成员") if c not in '\\/:*?"<>|')
    return f"{folder}/{household_id}_{safe}.pdf"


# --- reading the month ----------------------------------------------------------------------------


def _scan(home: Home, dataset: str, months: Sequence[str]) -> pl.LazyFrame | None:
    paths = [p for m in months for p in home.files(dataset, m)]
    return pl.scan_parquet(paths) if paths else None


def township_medians(household_month: pl.LazyFrame, dimensions: Sequence[Dimension]) -> pl.LazyFrame:
    """The median sub-score of each dimension over a township's monitored households (a dimension
    left unscored because its source was not delivered is left out, not counted as 0)."""
    return household_month.group_by("township_code").agg(
        pl.col(f"dim_{d.id}").median().alias(f"median_{d.id}") for d in dimensions
    )


def gather(
    home: Home, month: str, leads: pl.DataFrame, dimensions: Sequence[Dimension], area: str | None = None
) -> list[dict]:
    """The portraits of the given lead cases (rows of the month's `_cases`), in township and list
    order: one dict per lead with its case, household, dimensions, members and 幸福清单. With
    `area`, the leads are of that prefecture and only its files are read."""
    if leads.height == 0:
        return []
    wanted = leads.select("household_id").unique()
    townships = leads.select("township_code").unique()
    dims = [f"dim_{d.id}" for d in dimensions]
    scanned = home.scan("_household_month", month, area)
    household = scanned.join(wanted.lazy(), on="household_id", how="semi").select(
        "household_id",
        "category",
        "residence_type",
        "members",
        "hardship_score",
        "hardship_level",
        "top_factors",
        "incomplete_dimensions",
        "medical_assistance_12m",
        "education_aid_12m",
        *[c for c in NEED_FIELDS if c in scanned.collect_schema()],  # built before issue 30: none
        *dims,
    )
    medians = township_medians(
        scanned.join(townships.lazy(), on="township_code", how="semi").select("township_code", *dims),
        dimensions,
    )
    people = _members(home, month, wanted, area)
    frame = (
        leads.lazy()
        .select(*CASE_FIELDS)
        .join(household, on="household_id", how="left")
        .join(medians, on="township_code", how="left")
        .join(_by_household(people), on="household_id", how="left")
        .join(_work_injury(home, month, people), on="household_id", how="left")
        .join(_temporary_assistance(home, month, wanted), on="household_id", how="left")
        .with_columns(reasons=mask_ids(pl.col("reasons")))
        .sort("township_code", "rank", "case_id")
        .collect()
    )
    return [_portrait(row, dimensions) for row in frame.iter_rows(named=True)]


def _members(home: Home, month: str, wanted: pl.DataFrame, area: str | None = None) -> pl.LazyFrame:
    """The households' members on the month's roster, head first, with their age at the month's end."""
    _, end = month_bounds(month)
    return (
        pl.scan_parquet(home.files("roster", month, area))
        .join(wanted.lazy(), on="household_id", how="semi")
        .select(
            "household_id",
            "id_number",
            "name",
            "relation",
            "health_status",
            "labour_capacity",
            "monthly_benefit",
            age=concepts.age_on(concepts.birth_date(), end),
        )
        .sort("household_id", pl.col("relation") != "户主", "id_number")
    )


def _by_household(people: pl.LazyFrame) -> pl.LazyFrame:
    return people.group_by("household_id", maintain_order=True).agg(
        head_name=pl.col("name").first(),
        benefit=pl.col("monthly_benefit").sum().cast(pl.Float64),  # exact in decimal, then float
        member_rows=pl.struct(
            "name",
            mask_ids(pl.col("id_number")).alias("id_number"),
            "relation",
            "age",
            "health_status",
            "labour_capacity",
            pl.col("monthly_benefit").cast(pl.Float64),
        ),
    )


def _work_injury(home: Home, month: str, people: pl.LazyFrame) -> pl.LazyFrame:
    """Work injuries of the members over the index's 12-month window, with the compensation paid."""
    schema = {"household_id": pl.String, "injuries": pl.UInt32, "compensation": pl.Float64}
    months = window(month, load_population(month=month).lookback_months)
    rows = _scan(home, "work_injury", months)
    if rows is None:
        return pl.LazyFrame(schema=schema)
    start = month_bounds(months[0])[0]
    _, end = month_bounds(month)
    return (
        rows.select("id_number", "injured_on", "compensation")
        .filter(pl.col("injured_on").is_between(start, end))
        .unique()
        .join(people.select("id_number", "household_id"), on="id_number", how="inner")
        .group_by("household_id")
        .agg(injuries=pl.len().cast(pl.UInt32), compensation=pl.col("compensation").sum().cast(pl.Float64))
    )


def _temporary_assistance(home: Home, month: str, wanted: pl.DataFrame) -> pl.LazyFrame:
    """Every case of the household closed by an outcome of temporary assistance, up to the month,
    with the visit date and the note the township returned (ID numbers masked)."""
    schema = {"household_id": pl.String, "temporary": pl.List(pl.Struct({"text": pl.String}))}
    months = [m for m in home.months() if m <= month]
    closed = _scan(home, "_cases", months)
    if closed is None:
        return pl.LazyFrame(schema=schema)
    found = (
        closed.filter((pl.col("state") == "closed") & (pl.col("outcome") == TEMPORARY_ASSISTANCE))
        .join(wanted.lazy(), on="household_id", how="semi")
        .select("month", "case_id", "household_id", "visited_on")
    )
    returned = _scan(home, "outcomes", months)
    if returned is not None:
        notes = (
            returned.select(case_id="lead_id", visited_on="visited_on", note=mask_ids(pl.col("note")))
            .sort("case_id", "visited_on", "note", nulls_last=False)
            .unique(["case_id", "visited_on"], keep="last", maintain_order=True)
        )
        found = found.join(notes, on=["case_id", "visited_on"], how="left")
    else:
        found = found.with_columns(note=pl.lit(None, pl.String))
    text = pl.format(
        "{} 入户核查后给予临时救助（案件 {}）",
        pl.col("visited_on").cast(pl.String),
        pl.col("case_id"),
    ) + pl.when(pl.col("note").is_not_null()).then(pl.format("：{}", "note")).otherwise(pl.lit(""))
    return (
        found.sort("household_id", "visited_on", "case_id")
        .group_by("household_id", maintain_order=True)
        .agg(temporary=pl.struct(text.alias("text")))
    )


# --- what a portrait says (pure) ------------------------------------------------------------------


def _yuan(value: float | None) -> str:
    return f"{value:,.2f}"


# the household's need figure (jobs/assess/households.py rigid_figure), shown beside the index
NEED_FIELDS = ("income_after_rigid_per_capita", "dibao_standard", "rigid_months", "rigid_expenditure_month")


def need_text(row: dict) -> str:
    """The per-capita income after rigid expenditure as the portrait states it, with what it rests on."""
    if "income_after_rigid_per_capita" not in row:
        return "—（本月数据未测算）"
    figure, standard = row["income_after_rigid_per_capita"], row.get("dibao_standard")
    if figure is None or standard is None:
        return "—（无计入收入的共同生活成员，或无低保标准）"
    return (
        f"{_yuan(figure)}元（低保标准{_yuan(standard)}元；刚性支出月均{_yuan(row['rigid_expenditure_month'])}元，"
        f"医疗费用依据近{row['rigid_months']}个月医保结算）"
    )


def welfare(row: dict) -> list[tuple[str, str, str]]:
    """The 幸福清单: (item, what the household receives, where it comes from)."""
    roster = SOURCES["roster"].zh
    benefit = row.get("benefit") or 0.0
    out = [
        (
            "人员类别及月救助金",
            f"{row.get('category') or '—'}，"
            + (f"月救助金 {_yuan(benefit)} 元" if benefit > 0 else "名册未登记月救助金"),
            roster,
        )
    ]
    medical = row.get("medical_assistance_12m") or 0.0
    if medical > 0:
        out.append(("医疗救助", f"近12个月 {_yuan(medical)} 元", SOURCES["medical_assistance"].zh))
    education = row.get("education_aid_12m") or 0.0
    if education > 0:
        out.append(("教育资助", f"近12个月 {_yuan(education)} 元", SOURCES["education_aid"].zh))
    if row.get("injuries"):
        paid = row.get("compensation")
        out.append(
            (
                "工伤赔付",
                f"近12个月工伤认定 {row['injuries']} 次"
                + (f"，赔付 {_yuan(paid)} 元" if paid else "，未登记赔付金额"),
                SOURCES["work_injury"].zh,
            )
        )
    for item in row.get("temporary") or []:
        out.append((TEMPORARY_ASSISTANCE, item["text"], SOURCES["outcomes"].zh))
    if len(out) == 1:
        out.append(("其他救助", "近12个月未见医疗救助、教育资助、工伤赔付或临时救助记录", "各部门报送数据"))
    return out


def _portrait(row: dict, dimensions: Sequence[Dimension]) -> dict:
    dims = [
        {
            "label": d.label,
            "weight": d.weight,
            "score": row.get(f"dim_{d.id}"),
            "median": row.get(f"median_{d.id}"),
        }
        for d in dimensions
    ]
    return {
        **{k: row[k] for k in CASE_FIELDS},
        "state_label": STATE_LABELS.get(row["state"], row["state"]),
        "head_name": row.get("head_name"),
        "file": file_name(row["household_id"], row.get("head_name")),
        "category": row.get("category"),
        "residence_type": row.get("residence_type"),
        "hardship_score": row.get("hardship_score"),
        "hardship_level": row.get("hardship_level"),
        "top_factors": row.get("top_factors"),
        "incomplete_dimensions": row.get("incomplete_dimensions"),
        "need": need_text(row),
        "dimensions": dims,
        "members": row.get("member_rows") or [],
        "welfare": welfare(row),
    }


def radar(values: Sequence[float | None], cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """Points of a radar chart: value i (0-1, None as 0) on spoke i, the first spoke straight up,
    the others clockwise; y grows downwards (a PDF page from the top, an SVG)."""
    n = len(values)
    return [
        (
            cx + r * min(max(v or 0.0, 0.0), 1.0) * math.sin(2 * math.pi * i / n),
            cy - r * min(max(v or 0.0, 0.0), 1.0) * math.cos(2 * math.pi * i / n),
        )
        for i, v in enumerate(values)
    ]


def shares(dims: Sequence[dict], key: str) -> list[float | None]:
    """Each dimension's sub-score (or median) as a share of the dimension's weight."""
    return [None if d[key] is None else d[key] / d["weight"] for d in dims]


def points(value: float | None) -> str:
    return "未评分" if value is None else f"{value:.1f}"


# --- the PDF --------------------------------------------------------------------------------------


class Portraits:
    """Draws portrait PDFs; one per worker process, holding the fonts."""

    def __init__(
        self,
        month: str,
        build: str,
        names: dict[str, str],
        fonts: FontChain | None = None,
        titles: dict[str, str] | None = None,
    ):
        self.fonts = fonts or FontChain(find_font())
        self.month = month
        self.build = build
        self.names = names
        # the warning rules' titles, by id: what a lead's colour comes from (beside the index)
        self.titles = rule_titles(load_rules(month=month)) if titles is None else titles

    def place(self, code: str) -> str:
        return f"{self.names.get(code, '（区划名称未登记）')}（{code}）"

    def township(self, folder: Path, township: str, portraits: list[dict]) -> tuple[int, list[ReportFailure]]:
        """Writes a township's portraits into its folder; returns the number written and the
        documents not written because a character has no glyph in any installed font."""
        written, failures = 0, []
        for p in portraits:
            try:
                data = self.household(p)
            except MissingGlyph as exc:
                failures.append(ReportFailure(p["household_id"], township, p["file"], str(exc)))
                continue
            (folder / p["file"]).parent.mkdir(parents=True, exist_ok=True)
            (folder / p["file"]).write_bytes(data)
            written += 1
        return written, failures

    def household(self, p: dict) -> bytes:
        """One A4 page: the portrait, then the visit sheet."""
        doc = Document(self.fonts, title=f"家庭画像 {p['household_id']}", author="safetynet")
        f = Flow(
            doc,
            margin=30,
            footer=f"线索编号 {p['case_id']} · 数据批次 {self.build} · 含个人信息，仅限核查使用",
        )
        f.title("家庭画像与入户核查单", size=14)
        f.paragraph(
            f"线索编号 {p['case_id']}　　{p['level']}色预警{'（紧急）' if p['urgency'] == '紧急' else ''}"
            f"　　{p['state_label']}　　首次下发 {p['first_issued_on']}　　核查期限 {p['visit_by']}",
            size=9,
            bold=True,
        )
        f.heading("一、家庭基本情况", size=9.5)
        score = p["hardship_score"]
        f.table(
            ["项目", "内容", "项目", "内容"],
            [
                ["户编号", p["household_id"], "户主", p["head_name"] or "（无在册成员）"],
                ["所属乡镇（街道）", self.place(p["township_code"]), "人员类别", p["category"] or "—"],
                [
                    "困难指数",
                    "—" if score is None else f"{score:.1f}（{p['hardship_level']}）",
                    "主要致困因素",
                    p["top_factors"] or "—",
                ],
                ["扣除刚性支出后人均月收入", p.get("need") or "—", "", ""],
            ],
            [2.2, 3.8, 2.2, 3.8],
            size=7,
        )
        if why := warned_by(p.get("rule_ids"), self.titles):
            f.paragraph(f"{why}。", size=7.5)
        f.heading("二、困难维度（本户与本乡镇监测对象中位数）", size=9.5)
        self._dimensions(f, p)
        f.heading("三、家庭成员", size=9.5)
        f.table(
            ["姓名", "身份证号", "与户主关系", "年龄", "健康状况", "劳动能力", "月救助金（元）"],
            [
                [
                    m["name"],
                    m["id_number"],
                    m["relation"],
                    "—" if m["age"] is None else str(m["age"]),
                    m["health_status"] or "—",
                    m["labour_capacity"] or "—",
                    "—" if m["monthly_benefit"] is None else _yuan(m["monthly_benefit"]),
                ]
                for m in p["members"]
            ],
            [1.6, 3.0, 1.3, 0.8, 1.3, 1.3, 1.6],
            size=7,
        )
        f.heading("四、已享受的救助帮扶（幸福清单）", size=9.5)
        f.table(["项目", "内容", "数据来源"], [list(w) for w in p["welfare"]], [2.2, 7.4, 2.4], size=7)
        self._visit_sheet(f, p)
        f.finish()
        return doc.render()

    def _dimensions(self, f: Flow, p: dict) -> None:
        dims = p["dimensions"]
        top = f.y
        cx, cy, r = f.margin + 95, top + 74, 54
        page, doc = f.page, f.doc
        for ring in (0.25, 0.5, 0.75, 1.0):
            doc.polygon(page, radar([ring] * len(dims), cx, cy, r), width=0.3, stroke=0.7)
        for x, y in radar([1.0] * len(dims), cx, cy, r):
            doc.line(page, cx, cy, x, y, width=0.3)
        doc.polygon(page, radar(shares(dims, "score"), cx, cy, r), width=1.2, fill=0.75)
        doc.polygon(page, radar(shares(dims, "median"), cx, cy, r), width=0.8, dash=2)
        for d, (x, y) in zip(dims, radar([1.18] * len(dims), cx, cy, r), strict=True):
            size = 6.5
            w = f.doc.fonts.width(d["label"], size)
            doc.text(page, x - w / 2, y + size / 2 - 1, d["label"], size)
        legend_y = top + 148
        doc.box(page, f.margin + 30, legend_y - 6, 12, 6, fill=0.75)
        doc.text(page, f.margin + 45, legend_y, "本户", 6.5)
        dash = [(f.margin + 80, legend_y - 3), (f.margin + 92, legend_y - 3)]
        doc.polygon(page, dash, width=0.8, dash=2)
        doc.text(page, f.margin + 95, legend_y, "本乡镇中位数（虚线）", 6.5)
        f.table(
            ["维度", "本户得分", "本乡镇中位数", "满分"],
            [[d["label"], points(d["score"]), points(d["median"]), f"{d['weight']:g}"] for d in dims],
            [2.2, 1.4, 1.6, 1.0],
            size=7,
            left=200,
            width=f.width - 200,
        )
        f.y = max(f.y, legend_y + 6)
        if p["incomplete_dimensions"]:
            f.paragraph(f"未评分的维度（数据未报送）：{p['incomplete_dimensions']}", size=7.5)

    def _visit_sheet(self, f: Flow, p: dict) -> None:
        f.heading("五、入户核查单", size=9.5)
        f.paragraph(f"预警原因：{p['reasons'] or '—'}", size=8)
        f.paragraph(f"建议措施：{p['recommended_action'] or '—'}", size=8)
        f.paragraph(f"核查期限：{p['visit_by']} 前入户核查，并在平台回传核查结论。", size=8, bold=True)
        f.need(30)
        size = 8.5
        doc, page = f.doc, f.page
        doc.text(page, f.margin, f.y + size, "核查结论（选一项）：", size, bold=True)
        f.y += size * 1.6
        per_row = 5
        cell = f.width / per_row
        for i, code in enumerate(OUTCOME_CODES):
            x = f.margin + (i % per_row) * cell
            y = f.y + (i // per_row) * size * 1.9
            doc.box(page, x, y + 1, size, size)
            doc.text(page, x + size + 4, y + size, code, size)
        f.y += math.ceil(len(OUTCOME_CODES) / per_row) * size * 1.9 + 4
        for labels in (("核查日期", "转介部门"), ("核查人员（签字）", "户主或家庭成员（签字）")):
            f.need(size * 2.4)
            half = f.width / 2
            for k, label in enumerate(labels):
                x = f.margin + k * half
                doc.text(f.page, x, f.y + size, f"{label}：", size)
                start = x + f.doc.fonts.width(label + "：", size) + 2
                doc.line(f.page, start, f.y + size + 1, x + half - 16, f.y + size + 1)
            f.y += size * 2.4
        label = "情况说明："
        doc.text(f.page, f.margin, f.y + size, label, size)
        start = f.margin + f.doc.fonts.width(label, size) + 2
        doc.line(f.page, start, f.y + size + 1, f.margin + f.width, f.y + size + 1, width=0.3)
        f.y += size * 2.4
        doc.line(f.page, f.margin, f.y, f.margin + f.width, f.y, width=0.3)
        f.y += 6
        # the auditors' trace (the warehouse's views) is in the township's manifest, not on paper
        f.paragraph(f"数据月份 {self.month}。", size=6.5)


# --- writing --------------------------------------------------------------------------------------


def portrait(
    home: Home, month: str, township: str, household: str, dimensions: Sequence[Dimension]
) -> dict | None:
    """The portrait of one listed lead of a township (the portal's page), or None when the household
    is not a listed lead of that township and month."""
    cases = home.read("_cases", month) if home.build_dir(month) is not None else None
    if cases is None:
        return None
    mine = cases.filter(
        listed_leads() & (pl.col("township_code") == township) & (pl.col("household_id") == household)
    )
    found = gather(home, month, mine, dimensions)
    return found[0] if found else None


def draw(
    home: Home,
    month: str,
    township: str,
    household: str,
    dimensions: Sequence[Dimension],
    names: dict[str, str],
    fonts: FontChain | None = None,
) -> tuple[str, bytes] | None:
    """The portrait PDF of one listed lead of a township, drawn now (the portal's on-demand draw):
    (its path in the township folder, its bytes), or None when the household is not a listed lead
    of that township and month. The same bytes as the export's; raises MissingGlyph as it would."""
    p = portrait(home, month, township, household, dimensions)
    if p is None:
        return None
    build = home.build_dir(month).name.removeprefix("build=")
    return p["file"], Portraits(month, build, names, fonts).household(p)
