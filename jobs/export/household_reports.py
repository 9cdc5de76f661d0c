"""Economic-status reports (家庭经济状况核查报告) that township staff take on a home visit.

One PDF per household with a new or changed doubtful record or newly drawn for the random re-check
(`draw` in its row; a record standing with the same evidence is not drawn again), and a one-page
summary per township (核查报告汇总.pdf) that counts every flagged household. A report shows the
household and its members
(ID numbers masked), the income computation, the assets each department reported, every check
with its result and evidence, and what to verify at home. All figures come from the lake's
`_means_members`, `_means_households`, `_means_assets`, `_doubtful` and `_recheck` partitions of
the month, so a report says exactly what the warehouse says.

The data are gathered with Polars in the export task, which writes the summary and lists each
report in the township manifest with its input digest; the reports themselves are drawn when an
office or the data team asks for them (jobs/export/documents.py), by the same code, so a report has
the same bytes whenever and wherever it is drawn. `Reports.township` draws a whole township at once,
as the export did before (tests compare the two). A document with a
character that no installed font has is not written (never drawn with an empty box): the failure,
naming the household and the character's code point, is returned and the other documents go on.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import polars as pl

from jobs.cross_region.evidence import NO_DATA
from jobs.export.returnable import OUTCOME_CODES
from safetynet.ids import mask_ids
from safetynet.lake import Home
from safetynet.months import period_label
from safetynet.pdf import Document, Flow, FontChain, MissingGlyph, find_font
from safetynet.rules import LEVELS, RuleSet

REPORT_DIR = "家庭经济状况核查报告"
SUMMARY_FILE = "核查报告汇总.pdf"
RESULT = {"应退": "疑点（应退）", "核实": "需入户核实", "应保": "可纳入（应保）"}
# an application's checks: the same findings, said of an applicant rather than a recipient
APPLICATION_RESULT = {"应退": "超出限定条件", "核实": "需入户核实", "应保": "在限定条件以内"}
# checks that compare against the dibao standard and cannot be done without one
NEEDS_STANDARD = {"income_above_standard", "financial_assets", "eligible_not_covered"}
MAX_REFS = 4  # source rows listed per check in a report; the rest are in v_doubtful_records
# Why a lead's colour and its hardship index may disagree (issue 33): the colour comes from this
# month's warning rules, the index from the household's lasting situation.
WARNED_BY = "预警来自：{}；困难指数反映长期状况"
RETIRED_RULE = "已停用的规则"  # a rule id no longer in rules/warnings/


def rule_titles(rules: RuleSet) -> dict[str, str]:
    """Each warning rule's Chinese title (rules/warnings/: its `title`, else its description), by id."""
    return {w.id: w.title for w in rules.warnings}


def warned_by(rule_ids: list[str] | None, titles: dict[str, str]) -> str:
    """ "预警来自：<the rules' titles>；困难指数反映长期状况", or "" without rules."""
    names = dict.fromkeys(titles.get(r, RETIRED_RULE) for r in rule_ids or [])
    return WARNED_BY.format("、".join(names)) if names else ""


def warned_by_expr(titles: dict[str, str]) -> pl.Expr:
    """`warned_by` of each row's `rule_ids` (null for a row without rules)."""
    names = (
        pl.col("rule_ids")
        .list.eval(pl.element().replace_strict(titles, default=RETIRED_RULE, return_dtype=pl.String))
        .list.unique(maintain_order=True)
        .list.join("、")
    )
    return pl.when(pl.col("rule_ids").list.len() > 0).then(pl.format(WARNED_BY, names))


class ReportFailure(NamedTuple):
    """A document not written because a character has no glyph in any installed font."""

    household_id: str | None  # None for the township summary
    township_code: str
    file: str  # the file it would have written, relative to the township folder
    message: str  # names the document and the code points, in Chinese for the township


def division_names(home: Home, month: str) -> dict[str, str]:
    """Names of divisions from the latest delivered `divisions` up to the month."""
    for m in reversed([m for m in home.months() if m <= month]):
        if (names := home.read("divisions", m, ["division_code", "name"])) is not None:
            return dict(names.iter_rows())
    return {}


def gather(
    home: Home, month: str, draw: set[str] | None = None, area: str | None = None
) -> dict[str, list[dict]]:
    """The month's flagged and sampled households by township (of one prefecture, with `area`),
    each a dict with its doubtful records and re-check draw; those whose report is drawn (`draw`;
    all when None) also with their members, income, assets and lead, and `draw` true."""
    doubtful = home.read("_doubtful", month, area=area)
    sample = home.read("_recheck", month, area=area)
    wanted = pl.concat(
        [f.select("household_id") for f in (doubtful, sample) if f is not None and f.height]
        or [pl.DataFrame(schema={"household_id": pl.String})]
    ).unique()
    if wanted.height == 0:
        return {}
    drawn = wanted if draw is None else wanted.filter(pl.col("household_id").is_in(sorted(draw)))
    households = home.read("_means_households", month, area=area)
    if households is None:  # records of other prefectures only (the shared file)
        return {}
    households = households.join(wanted, on="household_id", how="semi")
    details = _details(home, month, area, households.join(drawn, on="household_id", how="semi"))
    joined = (
        _findings(households, doubtful, sample)
        .join(details.drop("township_code"), on="household_id", how="left")
        .with_columns(draw=pl.col("household_id").is_in(drawn["household_id"].implode()))
    )
    by_township: dict[str, list[dict]] = {}
    for row in joined.sort("township_code", "household_id").iter_rows(named=True):
        by_township.setdefault(row["township_code"], []).append(row)
    return by_township


def _findings(
    households: pl.DataFrame, doubtful: pl.DataFrame | None, sample: pl.DataFrame | None
) -> pl.DataFrame:
    """Each flagged or sampled household's township, doubtful records and re-check draw."""
    joined = households.select("household_id", "township_code")
    if doubtful is not None:
        records = (
            doubtful.with_columns(evidence=mask_ids(pl.col("evidence")))
            .group_by("household_id")
            .agg(records=pl.struct("check_id", "direction", "evidence", "source_refs"))
        )
        joined = joined.join(records, on="household_id", how="left")
    if sample is not None:
        draws = sample.select("household_id", "period", "seed", "draw_rank", "stratum_size")
        joined = joined.join(draws, on="household_id", how="left")
    return joined


MEMBER_FIELDS = (
    "name",
    "id_number",
    "relation",
    "declared_income",
    "employment_wage",
    "contribution_base",
    "housing_fund_wage",
    "died_on",
    "missing_declared_on",
    "counted",
    "income",
)


def _details(home: Home, month: str, area: str | None, drawn: pl.DataFrame) -> pl.DataFrame:
    """The drawn households' (`drawn`: their `_means_households` rows) hardship, members, assets
    and pushed lead. Only their rows, filtered as the files are read: a prefecture's members and
    assets in full would cost gigabytes for the thousand or so drawn
    (docs/design/benchmark-history.md)."""

    def rows(dataset: str, *columns: str) -> pl.DataFrame:
        found = home.scan(dataset, month, area).select(*columns or [pl.all()])
        return found.filter(pl.col("household_id").is_in(drawn["household_id"].implode())).collect()

    scored = rows("_household_month", "household_id", "hardship_score", "hardship_level", "top_factors")
    members = (
        rows("_means_members")
        .with_columns(id_number=mask_ids(pl.col("id_number")))
        .sort("household_id", pl.col("relation") != "户主", "name", "id_number")
        .group_by("household_id", maintain_order=True)
        .agg(members=pl.struct(*MEMBER_FIELDS))
    )
    assets = rows("_means_assets").with_columns(
        pl.col("deposits").cast(pl.Float64),
        *[mask_ids(pl.col(f"{kind}_detail")) for kind in ("deposit", "property", "car", "entity")],
    )
    heavy = [drawn, scored, members, assets]
    if (elsewhere := cross_region(home, month, area, drawn)) is not None:
        heavy.append(elsewhere)
    leads = home.read("_leads", month)
    if leads is not None:
        heavy.append(
            leads.filter(pl.col("pushed")).select(
                "household_id",
                "lead_id",
                "rule_ids",
                lead_level=pl.col("level"),
                lead_urgency=pl.col("urgency"),
            )
        )
    full = drawn.select("household_id")
    for frame in heavy:
        full = full.join(frame, on="household_id", how="left", suffix="_dup")
    return full


# what another province answered or still owes of a member registered there (jobs/cross_region/
# evidence.py, the means test's `_means_cross_region`): part of the report's rows, so of its digest
CROSS_REGION_FIELDS = (
    "name",
    "registered_elsewhere",
    "province",
    "pending_items",
    "overdue",
    "reply_by",
    "answers",
)
# the cross-region items shown on the asset table's rows (the others in the 异地核对 table only)
ASSET_ITEMS = {"deposit": "存款", "property": "不动产", "car": "机动车", "entity": "市场主体"}


def cross_region(home: Home, month: str, area: str | None, drawn: pl.DataFrame) -> pl.DataFrame | None:
    """The drawn households' members registered elsewhere, asked about or answered for (a list of
    CROSS_REGION_FIELDS structs per household, answers' ID numbers masked); None for a build
    made before issue 35."""
    found = home.scan("_means_cross_region", month, area)
    if found is None:
        return None
    rows = found.filter(pl.col("household_id").is_in(drawn["household_id"].implode())).collect()
    answers = pl.col("answers").list.eval(
        pl.element().struct.with_fields(pl.field("text").pipe(mask_ids), pl.field("detail").pipe(mask_ids))
    )
    return (
        rows.with_columns(answers=answers)
        .sort("household_id", "name", "id_number")
        .group_by("household_id", maintain_order=True)
        .agg(cross_region=pl.struct(*CROSS_REGION_FIELDS))
    )


def pending_of(row: dict, item: str) -> list[str]:
    """Who in the household waits for another province's answer on `item`: "<name>（<province>）"."""
    return [
        f"{m['name']}（{m['province']}）"
        for m in row.get("cross_region") or []
        if item in (m["pending_items"] or [])
    ]


def no_data_of(row: dict, item: str) -> list[str]:
    """Who in the household another province answered 无数据 about on `item` (not known there, not
    "nothing registered": issue 35): "<name>（<province>）"."""
    return [
        f"{m['name']}（{a['province']}）"
        for m in row.get("cross_region") or []
        for a in m.get("answers") or []
        if a["item"] == item and a["found"] == NO_DATA
    ]


def cross_region_rows(row: dict) -> list[list[str]]:
    """The 异地核对 table: each item asked of another province about a member, 待异地核对 while it
    waits (never "未见登记"), else 异地核对结果 with the answer and its row; and each member
    registered in another prefecture of the province (跨市)."""
    out = []
    for m in row.get("cross_region") or []:
        where = "省内其他市（跨市）" if m["registered_elsewhere"] == "跨市" else (m["province"] or "外省")
        waiting = "逾期未回复" if m["overdue"] else f"回复期限{m['reply_by']}"
        for item in m["pending_items"] or []:
            out.append([m["name"], where, item, f"待异地核对（{waiting}）", "—"])
        for a in m["answers"] or []:
            out.append([m["name"], a["province"], a["item"], a["text"], a["ref"]])
        if m["registered_elsewhere"] == "跨市" and not (m["pending_items"] or m["answers"]):
            out.append([m["name"], where, "—", "本省各部门数据已核对，相关财产标注“跨市”", "—"])
    return out


def _yuan(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _refs(refs: list[str] | None) -> str:
    refs = refs or []
    shown = "；".join(refs[:MAX_REFS])
    return f"（来源：{shown}{f' 等{len(refs)}条' if len(refs) > MAX_REFS else ''}）" if refs else ""


MEMBER_HEADERS = [
    "姓名",
    "身份证号",
    "关系",
    "状况",
    "申报收入",
    "就业工资",
    "职工社保基数",
    "公积金推算工资",
    "认定收入",
]
ASSET_HEADERS = ["报送部门", "项目", "登记情况", "核对标准", "数据来源"]
ASSETS_NOTE = "房产、市场主体登记只是核实线索，不是认定结论，须入户核实后处理。"
CROSS_REGION_HEADERS = ["成员", "户籍地", "核对项目", "核对情况", "数据来源"]
CROSS_REGION_NOTE = (
    "户籍在外省的成员，其外省登记由户籍地省份核对后回复（异地核对）；尚未回复的项目为“待异地核对”，"
    "不是“未见登记”。户籍在省内其他市的成员，其财产已在本省数据中核对，标注“跨市”。"
)
RESULT_HEADERS = ["核对项目", "处理方向", "结果", "说明"]


def member_rows(row: dict) -> list[list[str]]:
    """Each member (ID numbers as given: masked by the caller), status and income evidence."""
    return [
        [
            m["name"],
            m["id_number"],
            m["relation"],
            _status(m),
            _yuan(m["declared_income"]),
            _yuan(m["employment_wage"]),
            _yuan(m["contribution_base"]),
            _yuan(m["housing_fund_wage"]),
            _yuan(m["income"]) if m["counted"] else "不计入",
        ]
        for m in row["members"] or []
    ]


def _status(member: dict) -> str:
    if member["died_on"] is not None:
        return f"已死亡（{member['died_on']}）"
    if member["missing_declared_on"] is not None:
        return f"宣告失踪（{member['missing_declared_on']}）"
    return "共同生活"


class Reports:
    """Draws the reports of a month; one per worker process, holding the font."""

    def __init__(
        self, rules: RuleSet, month: str, build: str, names: dict[str, str], fonts: FontChain | None = None
    ):
        self.fonts = fonts or FontChain(find_font())
        self.checks = rules.means_checks
        self.titles = rule_titles(rules)
        self.limits = rules.means_limits
        self.recheck = rules.recheck
        self.rule_version = rules.version
        self.month = month
        self.build = build
        self.names = names

    def place(self, code: str) -> str:
        return f"{self.names.get(code, '（区划名称未登记）')}（{code}）"

    def household(self, row: dict, application: dict | None = None) -> bytes:
        """A household's report; `application` (id, applied_for, authorisation_ref, result, detail,
        at) makes it the answer to an application check (jobs/applications/checks.py)."""
        hid = row["household_id"]
        head = row["members"][0] if row["members"] else None
        head_name = head["name"] if head else "（无在册成员）"
        doc = Document(self.fonts, title=f"家庭经济状况核查报告 {hid}", author="safetynet")
        number = application["id"] if application else f"BG{self.month.replace('-', '')}-{hid}"
        f = Flow(doc, footer=f"报告编号 {number} · 含个人信息，仅限核查使用")
        f.title("家庭经济状况核查报告")
        records = {r["check_id"]: r for r in row.get("records") or []}
        if application:
            f.paragraph(
                f"申请核对（逢救必核）：申请类别 {application['applied_for']}，授权书编号 "
                f"{application['authorisation_ref']}，核对时间 {application['at']}，数据月份 {self.month}",
                size=9.5,
            )
            f.paragraph(f"核对结论：{application['result']}。{application['detail']}。", bold=True)
            return self._body(f, doc, row, records, hid, head_name, application)
        reasons = []
        if records:
            counts = {}
            for r in records.values():
                counts[r["direction"]] = counts.get(r["direction"], 0) + 1
            reasons.append("核对疑点：" + "，".join(f"{d}{n}项" for d, n in counts.items()))
        if row.get("period"):
            reasons.append(
                f"随机抽查（抽样批次 {period_label(row['period'])}，"
                f"本类别{row['stratum_size']}户中第{row['draw_rank']}个抽中）"
            )
        f.paragraph(f"核对月份：{self.month}    报告原因：{'；'.join(reasons)}", size=9.5)
        return self._body(f, doc, row, records, hid, head_name, None)

    # A little past a screen: the report's sections in their printed order, one call each, so the page
    # reads top to bottom as staff see it; splitting it would hide that order.
    def _body(
        self,
        f: Flow,
        doc: Document,
        row: dict,
        records: dict[str, dict],
        hid: str,
        head_name: str,
        application: dict | None,
    ) -> bytes:
        f.heading("一、家庭基本情况")
        lead = "无"
        if row.get("lead_id"):
            urgent = "，紧急" if row.get("lead_urgency") == "紧急" else ""
            lead = f"{row['lead_id']}（{row['lead_level']}色预警{urgent}）"
        f.table(
            ["项目", "内容", "项目", "内容"],
            [
                ["户编号", hid, "户主", head_name],
                [
                    "所属乡镇（街道）",
                    self.place(row["township_code"]),
                    "所属县（市、区）",
                    self.place(row["county_code"]),
                ],
                ["人员类别", row["category"] or "—", "城乡类别", row["residence_type"] or "—"],
                ["在册人数", str(row["listed"]), "计入收入人数", str(row["counted"])],
                [
                    "困难指数",
                    f"{row['hardship_score']:.1f}（{row['hardship_level']}）"
                    if row.get("hardship_score") is not None
                    else "—",
                    "主要致困因素",
                    row.get("top_factors") or "—",
                ],
                ["本月预警线索", lead, "月保障金", f"{_yuan(row['monthly_benefit'])} 元"],
            ],
            [2.2, 3.8, 2.2, 3.8],
        )
        if why := warned_by(row.get("rule_ids"), self.titles):
            f.paragraph(f"{why}。", size=8.5)
        f.heading("二、家庭成员及收入认定（元/月）")
        f.table(MEMBER_HEADERS, member_rows(row), [1.4, 2.8, 1.0, 1.8, 1.3, 1.3, 1.4, 1.5, 1.3], size=7.5)
        for text, bold in self.income_lines(row):
            f.paragraph(text, bold=bold, size=9.5 if bold else 8.5)
        f.heading("三、家庭财产（各部门报送）")
        f.table(ASSET_HEADERS, self.asset_rows(row), [1.6, 1.2, 4.2, 3.2, 2.6], size=7.5)
        if elsewhere := cross_region_rows(row):
            f.paragraph("异地核对（户籍在外地的成员）：", bold=True, size=9)
            f.table(CROSS_REGION_HEADERS, elsewhere, [1.4, 2.0, 1.2, 5.4, 2.6], size=7.5)
            f.paragraph(CROSS_REGION_NOTE, size=8)
        f.paragraph(ASSETS_NOTE, size=8)
        f.heading("四、核对结果")
        f.table(
            RESULT_HEADERS, self.results(row, records, every=application is not None), [2.4, 1.2, 1.7, 7.5]
        )
        f.heading("五、入户核实要点")
        points = [(c.label, c.verify) for c in self.checks if c.id in records]
        if row.get("period"):
            points.append(("随机抽查", self.recheck.verify))
        for n, (label, verify) in enumerate(points, start=1):
            f.paragraph(f"{n}. {label}", bold=True)
            for point in verify:
                f.paragraph(f"□ {point}", indent=14)
        f.heading("六、入户核查记录")
        # the nine conclusions of the lists' drop-down, in its order and words (the contract's codes)
        f.paragraph("核查结论（选一项，与清单“核查结论”下拉选项一致）：", bold=True)
        f.paragraph("    ".join(f"□ {code}" for code in OUTCOME_CODES), indent=14)
        f.paragraph("转介部门（结论为转介时填写）：______________________")
        f.paragraph("核查情况说明：")
        f.space(40)
        f.paragraph("核查人员（签字）：______________    核查日期：______年____月____日")
        f.paragraph("户主或家庭成员（签字）：______________    乡镇（街道）审核：______________")
        f.space(8)
        # the auditors' trace (the warehouse's views) is in the township's manifest, not on paper
        f.paragraph(
            f"数据批次 {self.build} · 规则版本 {self.rule_version} · "
            f"数据来源为各部门 {self.month} 报送数据。",
            size=7,
        )
        f.finish()
        return doc.render()

    def income_lines(self, row: dict) -> list[tuple[str, bool]]:
        """How the income was counted, and the per-capita income against the limits: (text, bold)."""
        limits, standard = self.limits, row["dibao_standard"]
        method = (
            f"认定收入取每名计入成员的{'、'.join(limits.counted_income.values())}中的最高值"
            f"（公积金推算工资 = 月缴存额÷{limits.housing_fund_wage_share:g}）；死亡、宣告失踪的成员不计入。"
            f"不计入收入：{'、'.join(limits.not_counted_income.values())}。"
        )
        counted = row["counted"] or 0
        if counted == 0:
            return [(method, False), ("家庭无计入收入的成员，无法计算人均收入。", True)]
        line = (
            f"家庭月收入 {_yuan(row['income'])} 元 ÷ 计入人数 {counted} 人 = 人均月收入 "
            f"{_yuan(row['per_capita_income'])} 元。"
        )
        if standard is None:
            return [
                (method, False),
                (
                    line + f"本户所在地区（{row['division_code']}）在 {self.month} 没有适用的低保标准，"
                    "收入和金融资产未核对。",
                    True,
                ),
            ]
        near = standard * limits.near_dibao_factor
        pci = row["per_capita_income"]
        if pci > standard:
            verdict = f"高于低保标准 {_yuan(pci - standard)} 元"
            if pci <= near:
                verdict += "，在低保边缘标准以内"
        else:
            verdict = "不高于低保标准"
        return [
            (method, False),
            (
                line + f"当地{row['residence_type'] or ''}低保标准 {_yuan(standard)} 元/月，"
                f"低保边缘标准（{limits.near_dibao_factor:g}倍）{_yuan(near)} 元/月。结论：{verdict}。",
                True,
            ),
        ]

    def asset_rows(self, row: dict) -> list[list[str]]:
        """Each department's assets, the limit they are checked against and the rows they come from."""
        limits, standard = self.limits, row["dibao_standard"]
        counted = row["counted"] or 0
        if standard is not None and counted:
            limit = standard * limits.financial_assets_months
            deposit_rule = (
                f"人均不超过{_yuan(limit)}元（低保标准×{limits.financial_assets_months:g}个月），"
                f"本户人均{_yuan((row['deposits'] or 0) / counted)}元"
            )
        else:
            deposit_rule = "无低保标准或无计入成员，未核对"
        rows = [
            [
                "金融机构",
                "存款、理财",
                f"合计{_yuan(row['deposits'])}元：{row['deposit_detail']}"
                if row["deposit_detail"]
                else "未见登记",
                deposit_rule,
                _refs(row["deposit_refs"]).strip("（）"),
            ],
            [
                "不动产登记机构",
                "房产",
                f"住宅{row['homes'] or 0}套，非住宅{row['non_residential'] or 0}处：{row['property_detail']}"
                if row["property_detail"]
                else "未见登记",
                f"住宅不超过{limits.max_homes}套，无{'、'.join(limits.non_residential_usages)}",
                _refs(row["property_refs"]).strip("（）"),
            ],
            [
                "公安交管部门",
                "机动车",
                f"{row['cars']}辆：{row['car_detail']}" if row["car_detail"] else "未见非营运小型汽车登记",
                f"无非营运{'、'.join(limits.car_types)}（{'、'.join(limits.car_exempt_types)}除外）",
                _refs(row["car_refs"]).strip("（）"),
            ],
            [
                "市场监管部门",
                "市场主体",
                f"{row['entities']}个：{row['entity_detail']}" if row["entity_detail"] else "未见登记",
                f"无{'、'.join(limits.business_exempt_types)}以外的在业市场主体",
                _refs(row["entity_refs"]).strip("（）"),
            ],
        ]
        for r, kind in zip(rows, ASSET_ITEMS.values(), strict=True):
            r[4] = r[4].removeprefix("来源：") or "—"
            if waiting := pending_of(row, kind):  # never "未见登记" while another province owes its answer
                found = r[2] if not r[2].startswith("未见") else "本省" + r[2]
                r[2] = f"{found}；待异地核对：{'、'.join(waiting)}"
            if unknown := no_data_of(row, kind):  # nor when it answered 无数据 (it does not know)
                found = r[2] if not r[2].startswith("未见") else "本省" + r[2]
                r[2] = f"{found}；异地无数据：{'、'.join(unknown)}"
        return rows

    def results(self, row: dict, records: dict[str, dict], every: bool = False) -> list[list[str]]:
        """Each check's result; `every`: each check was run where it applies (an application)."""
        out = []
        recipient = row["recipient"]
        for check in self.checks:
            record = records.get(check.id)
            if record is not None:
                result = (APPLICATION_RESULT if every else RESULT)[record["direction"]]
                text = record["evidence"] + _refs(record["source_refs"])
            elif not every and (check.applies_to == "recipients") != bool(recipient):
                result, text = "不适用", "本户为在保对象" if recipient else "本户不是在保对象"
            elif check.id in NEEDS_STANDARD and row["dibao_standard"] is None:
                result, text = "未核对", "所在地区本月没有适用的低保标准"
            else:
                result, text = "未发现疑点", "—"
            out.append([check.label, check.direction, result, text])
        return out

    def summary(
        self,
        township: str,
        households: list[dict],
        leads: dict[str, int],
        not_drawn: dict[str, list[str]] | None = None,
    ) -> bytes:
        """The township's one-page summary; `not_drawn` gives the code points of the characters
        that stopped a household's report (the characters themselves cannot be printed)."""
        county = township[:6]
        doc = Document(self.fonts, title=f"家庭经济状况核查汇总 {township}", author="safetynet")
        f = Flow(doc, footer=f"{self.place(township)} · {self.month} · 含个人信息，仅限核查使用")
        f.title("家庭经济状况核查汇总")
        f.paragraph(
            f"乡镇（街道）：{self.place(township)}    县（市、区）：{self.place(county)}    "
            f"核对月份：{self.month}"
        )
        per_check: dict[str, int] = {}
        directions: dict[str, set[str]] = {d: set() for d in RESULT}
        sampled = 0
        for h in households:
            for r in h.get("records") or []:
                per_check[r["check_id"]] = per_check.get(r["check_id"], 0) + 1
                directions[r["direction"]].add(h["household_id"])
            sampled += bool(h.get("period"))
        flagged = sum(1 for h in households if h.get("records"))
        drawn = sum(1 for h in households if h.get("draw", True))
        f.heading("一、核查报告")
        f.table(
            ["本月生成报告户数", "有核对疑点户数", "其中：随机抽查", "应退方向", "需核实", "应保方向"],
            [[str(drawn), str(flagged), str(sampled)] + [str(len(directions[d])) for d in RESULT]],
            [1, 1, 1, 1, 1, 1],
        )
        if drawn < len(households):
            f.paragraph(
                f"另有 {len(households) - drawn} 户的疑点与上月相同、仍待回传核查结果，本月不再重复生成报告"
                "（见核对疑点清单的“案件状态”列）；需要时可在工作平台按需生成。",
                size=9,
            )
        f.heading("二、核对项目")
        f.table(
            ["核对项目", "处理方向", "疑点户数", "适用对象"],
            [
                [
                    c.label,
                    c.direction,
                    str(per_check.get(c.id, 0)),
                    "在保对象" if c.applies_to == "recipients" else "其他监测对象",
                ]
                for c in self.checks
            ],
            [4, 1.5, 1.5, 2],
        )
        f.heading("三、本月推送的预警线索")
        f.table(list(LEVELS), [[str(leads.get(level, 0)) for level in LEVELS]], [1] * len(LEVELS))
        f.heading("说明")
        f.paragraph(
            f"每户的家庭经济状况核查报告在“{REPORT_DIR}”文件夹，按“户编号_户主姓名.pdf”命名；身份证号已脱敏。"
            "请按报告列出的要点入户核实，并通过工作平台上传核对疑点清单，回传核查结论。"
            "随机抽查名单见“随机抽查名单.xlsx”，全部疑点见“核对疑点清单.xlsx”。",
            size=9,
        )
        if not_drawn:
            f.paragraph(
                "以下户的核查报告未生成："
                + "；".join(f"{hid}（字符 {'、'.join(codes)}）" for hid, codes in not_drawn.items())
                + "。姓名等文字中有已安装的字体都不能显示的字符，为免打印成空框而停止；"
                "请联系系统管理员安装含该字的字体后重新生成。",
                size=9,
                bold=True,
            )
        f.paragraph(f"数据批次 {self.build} · 规则版本 {self.rule_version}", size=7)
        f.finish()
        return doc.render()

    def file(self, row: dict) -> str:
        """A household's report, within its township's folder."""
        head = row["members"][0]["name"] if row["members"] else "无成员"
        safe = "".join(c for c in head if c not in '\\/:*?"<>|')
        return f"{REPORT_DIR}/{row['household_id']}_{safe}.pdf"

    def write_summary(
        self, folder: Path, township: str, households: list[dict], leads: dict[str, int]
    ) -> tuple[int, list[ReportFailure]]:
        """Writes the township's summary only (the run's part: each household's report is drawn
        when asked for, jobs/export/documents.py); the files written and any failure."""
        try:
            (folder / SUMMARY_FILE).write_bytes(self.summary(township, households, leads))
        except MissingGlyph as exc:  # a division name with such a character
            return 0, [ReportFailure(None, township, SUMMARY_FILE, str(exc))]
        return 1, []

    def township(
        self, folder: Path, township: str, households: list[dict], leads: dict[str, int]
    ) -> tuple[int, list[ReportFailure]]:
        """Writes the township's reports and summary; returns the number of files written and the
        documents not written because a character has no glyph in any installed font."""
        reports = folder / REPORT_DIR
        drawn = [row for row in households if row.get("draw", True)]
        if drawn:
            reports.mkdir(parents=True, exist_ok=True)
        failures: list[ReportFailure] = []
        not_drawn: dict[str, list[str]] = {}
        for row in drawn:
            path = folder / self.file(row)
            try:
                path.write_bytes(self.household(row))
            except MissingGlyph as exc:
                file = path.relative_to(folder).as_posix()
                failures.append(ReportFailure(row["household_id"], township, file, str(exc)))
                not_drawn[row["household_id"]] = exc.code_points
        try:
            (folder / SUMMARY_FILE).write_bytes(self.summary(township, households, leads, not_drawn))
        except MissingGlyph as exc:  # a division name with such a character
            failures.append(ReportFailure(None, township, SUMMARY_FILE, str(exc)))
        return len(drawn) + 1 - len(failures), failures
