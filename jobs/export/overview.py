"""KPI overviews (工作成效概览) of a county or a township: the month's cases per township and kind,
the visiting capacity and the queue (排队待下发: what waits, ranked, and why), the last `kpi_months`
months, the warning rules' yield and the urgent overdue leads escalated to the county (县级督办), with
charts drawn as inline SVG (no script, nothing from outside).

    <home>/reports/<YYYY-MM>/overview/<county>.html   (in the build: report/overview/<county>.html)

Every figure is a row of the warehouse's views (`v_kpis`, `v_rule_yield`, `v_cases`, and the
assistance funnel `v_assistance_funnel`: 线索→已核查→已申请→已批准→已落实, and the recent
months' cases followed to where they went, `v_assistance_cohort`): the page shows
what the SQL decided. The export task writes one offline HTML file per county into the build,
`report/overview/<county>.html`, published with the month; the portal renders the same page.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import duckdb
import jinja2
import polars as pl
from markupsafe import Markup

from jobs.cross_region import kpis as cross_region
from jobs.export.household_reports import RETIRED_RULE, rule_titles
from safetynet.ids import mask_ids
from safetynet.months import previous_month
from safetynet.rules import RuleSet, load_decisions

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=True,
    keep_trailing_newline=True,
)
KIND_LABELS = {"all": "合计", "lead": "预警线索", "doubtful": "核对疑点", "recheck": "随机抽查"}
KPI_LABELS = {
    "pushed": "新下发",
    "listed": "在办",
    "visited": "已核查",
    "enrolled_dibao": "纳入低保",
    "enrolled_tekun": "纳入特困",
    "enrolled_near_dibao": "纳入低保边缘",
    "temporary_assistance": "临时救助",
    "referred": "转介",
    "unchanged": "维持现状",
    "exited": "退出",
    "not_eligible": "不符合条件",
    "unverifiable": "无法核实",
    "overdue": "逾期",
    "expired": "超期未核查",
    "escalated_to_county": "报县督办",
    "median_days_to_visit": "核查用时中位数（天）",
    "households": "监测户数",
    "capacity": "核查能力（户）",
    "issued_households": "新下发户数",
    "issued_per_1000_households": "每千户新下发",
    "beyond_capacity": "超能力紧急下发（户）",
    "queued_households": "排队户数",
    "queued_per_1000_households": "每千户排队",
    "queue_months_max": "最长排队（月）",
    "townships_over_capacity": "超能力乡镇数",
}
CAPACITY_KEYS = (
    "households",
    "capacity",
    "issued_households",
    "issued_per_1000_households",
    "beyond_capacity",
    "queued_households",
    "queued_per_1000_households",
    "queue_months_max",
)
# the assistance funnel (v_assistance_funnel): each step's count and the median days to reach it
FUNNEL = (
    ("线索", "leads", None),
    ("已核查", "visited", "median_days_to_visit"),
    ("已申请", "proposed", "median_days_visit_to_proposal"),
    ("已批准", "approved", "median_days_proposal_to_approval"),
    ("已落实", "confirmed", "median_days_approval_to_confirmation"),
)
COLORS = {
    "listed": "#5b9bd5",
    "visited": "#70ad47",
    "overdue": "#ed7d31",
    "pushed": "#4472c4",
    "yield": "#70ad47",
}


def frame(con, sql: str, params: list) -> pl.DataFrame:
    return con.sql(sql, params=params).pl()


def gather(con: duckdb.DuckDBPyConnection, month: str, area: str, rules: RuleSet) -> dict:
    """The figures of an area (a 6-digit county or 9-digit township code) for a month."""
    level = "county" if len(area) == 6 else "township"
    kpis = frame(con, "select * from v_kpis where month = ? and area_code = ? order by kind", [month, area])
    townships = frame(
        con,
        "select * from v_kpis where month = ? and area_level = 'township' and kind = 'all' "
        "and starts_with(area_code, ?) order by area_code",
        [month, area],
    )
    series = frame(
        con,
        "select month, pushed, listed, visited, overdue, expired from v_kpis "
        "where area_code = ? and kind = 'all' and month <= ? order by month desc limit ?",
        [area, month, rules.cases.kpi_months],
    ).reverse()
    yields = frame(con, "select * from v_rule_yield where month = ? order by leads desc, rule_id", [month])
    escalated = frame(
        con,
        "select township_code, case_id, household_id, level, urgency, state, first_issued_on, days_open, "
        "visit_by, reasons from v_cases where month = ? and escalated_to_county "
        "and starts_with(township_code, ?) order by visit_by, case_id",
        [month, area],
    ).with_columns(reasons=mask_ids(pl.col("reasons")))
    # the month's steps; the urgent cases of the month before, issued this month: their hours are over
    funnel = frame(
        con,
        "select * from v_assistance_funnel where month in (?, ?) and area_code = ? order by month desc",
        [month, previous_month(month), area],
    )
    # where each recent month's cases went so far (v_assistance_cohort), newest first
    cohorts = frame(
        con,
        "select * from v_assistance_cohort where cohort_month <= ? and area_code = ? "
        "order by cohort_month desc limit ?",
        [month, area, rules.cases.kpi_months],
    )
    queue = frame(
        con,
        "select township_code, queue_rank, case_id, kind, household_id, coalesce(level, direction) as grade, "
        "urgency, first_month, coalesce(reasons, evidence) as reasons, queue_reason from v_cases "
        "where month = ? and state = 'queued' and starts_with(township_code, ?) "
        "order by township_code, queue_rank, case_id",
        [month, area],
    ).with_columns(reasons=mask_ids(pl.col("reasons")))
    return {
        "month": month,
        "area": area,
        "level": level,
        "kpis": kpis.to_dicts(),
        "townships": townships.to_dicts(),
        "series": series.to_dicts(),
        "yields": yields.to_dicts(),
        "escalated": escalated.to_dicts(),
        "queue": queue.to_dicts(),
        "capacity_keys": CAPACITY_KEYS,
        "cross_region": cross_region.figures(con, month, area),
        "funnel": next((f for f in funnel.to_dicts() if f["month"] == month), None),
        "urgent": next((f for f in funnel.to_dicts() if f["month"] != month), None),
        "funnel_steps": FUNNEL,
        "cohorts": cohorts.to_dicts(),
        "urgent_help_hours": load_decisions(month).urgent_help_hours,
    }


def bars(
    labels: list[str], series: dict[str, list[float]], percent: bool = False, width: int = 720
) -> Markup:
    """A horizontal grouped bar chart: one group per label, one bar per series."""
    bar, gap, left, right = 12, 10, 190, 60
    names = list(series)
    group = bar * len(names) + gap
    height = 30 + group * max(len(labels), 1)
    top = max([v or 0 for values in series.values() for v in values] + [1e-9])
    top = 1.0 if percent else top
    scale = (width - left - right) / top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-size="12">'
    ]
    for i, name in enumerate(names):  # legend
        x = left + i * 130
        parts.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{COLORS.get(name, "#999")}"/>')
        parts.append(f'<text x="{x + 16}" y="14">{escape(KPI_LABELS.get(name, "命中率"))}</text>')
    for g, label in enumerate(labels):
        y0 = 26 + g * group
        parts.append(f'<text x="{left - 6}" y="{y0 + group / 2}" text-anchor="end">{escape(label)}</text>')
        for i, name in enumerate(names):
            value = series[name][g]
            w = 0 if value is None else value * scale
            y = y0 + i * bar
            shown = "—" if value is None else (f"{value:.0%}" if percent else f"{value:g}")
            parts.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar - 2}" '
                f'fill="{COLORS.get(name, "#999")}"><title>{escape(label)} {escape(shown)}</title></rect>'
            )
            parts.append(f'<text x="{left + w + 4:.1f}" y="{y + bar - 3}">{escape(shown)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def charts(data: dict, names: dict[str, str], titles: dict[str, str]) -> dict[str, Markup]:
    """The page's charts; a rule by its Chinese title (`titles`: rule id -> rules/warnings/ description)."""
    towns = data["townships"]
    series = data["series"]
    yields = [y for y in data["yields"] if y["visited"]]
    return {
        "townships": bars(
            [f"{names.get(t['area_code'], '')}（{t['area_code']}）" for t in towns],
            {k: [t[k] for t in towns] for k in ("listed", "visited", "overdue")},
        )
        if data["level"] == "county" and towns
        else Markup(""),
        "months": bars(
            [s["month"] for s in series],
            {k: [s[k] for s in series] for k in ("pushed", "visited", "overdue")},
        ),
        "yield": bars(
            [titles.get(y["rule_id"], RETIRED_RULE) for y in yields],
            {"yield": [y["yield"] for y in yields]},
            percent=True,
        ),
    }


def cross_region_html(figures: dict) -> Markup:
    """The cross-region checks' section (jobs/cross_region/kpis.py `figures`), its own template:
    the county overview and the data team's status page show the same rows."""
    return Markup(TEMPLATES.get_template("cross_region.html").render(xr=figures))


def render(data: dict, names: dict[str, str], rules: RuleSet, standalone: bool) -> str:
    """The overview as HTML: a whole offline document, or the body the portal puts in its page."""
    titles = rule_titles(rules)
    return TEMPLATES.get_template("overview.html").render(
        rules=titles,
        retired=RETIRED_RULE,
        data=data,
        names=names,
        charts=charts(data, names, titles),
        kinds=KIND_LABELS,
        labels=KPI_LABELS,
        standalone=standalone,
        cross_region=cross_region_html(data["cross_region"]),
    )


def write(
    con: duckdb.DuckDBPyConnection,
    month: str,
    counties: list[str],
    names: dict[str, str],
    rules: RuleSet,
    folder: Path,
) -> int:
    """One offline HTML file per county: `folder/<county>.html`. The connection is the export's
    own: the month's rows of the views are computed once, into temp tables that the per-county
    queries read instead of the views (a hundred counties would otherwise compute them 300 times)."""
    for view, where in (
        ("v_kpis", "month <= ?"),
        ("v_rule_yield", "month = ?"),
        ("v_assistance_funnel", "month <= ?"),
        ("v_assistance_cohort", "cohort_month <= ?"),
        ("v_cases", "month = ? and (escalated_to_county or state = 'queued')"),
        ("v_cross_region_kpis", "month = ?"),
    ):
        con.execute(f"create temp table {view}_now as select * from {view} where {where}", [month])
        con.execute(f"create or replace temp view {view} as select * from {view}_now")
    cross_region.keep_month(con, month)
    folder.mkdir(parents=True, exist_ok=True)
    for county in counties:
        html = render(gather(con, month, county, rules), names, rules, standalone=True)
        (folder / f"{county}.html").write_text(html, encoding="utf-8")
    return len(counties)
