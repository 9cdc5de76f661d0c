"""Application checks (逢救必核): an applicant household checked on demand, with the monthly means
test's own SQL, against the latest published month of the lake.

An application is one file (CSV or xlsx; CONTRACT.md "Applications"): a row per member with the
roster's columns, the signed authorisation's reference (授权书编号) and the assistance applied for
(申请类别). It is read like a delivery (`jobs/ingest/deliveries.py`) and validated by its own suite
(`expectations/application.json`, written from the contract). Then:

1. A DuckDB connection gets the warehouse's views of the published lake and the month's parameters
   (`means_test.connect`), for the latest published month M.
2. Temp tables named like the lake views the means test reads (`lake_roster`, `lake_deposits`, ...)
   hold only the rows about the applicant's members: `lake_roster` of M holds the application as
   its household's rows, and the rows of other households that list one of its members;
   `lake_household_month` holds the applicant household only. DuckDB resolves a name to a temp
   table first, so the models of `warehouse/means_test/models/` and the checks of
   `warehouse/means_test/checks/` run unchanged: one definition of each check. Reading a source's
   rows for a few ID numbers is quick at province scale, by the Parquet files' row-group statistics
   (figures: docs/policy/applications.md, "Speed").
3. Each check runs where it applies: `eligible_not_covered` (within the dibao, near-dibao or 单人保
   limits) on the household as it stands, the recipients' checks (income, financial assets, car,
   homes, business, ...) on the household as if it were granted, since an applicant must meet what
   a recipient must go on meeting.

A household id given in the application must be a household of M's roster in the head's township,
or one of the township's earlier applications; without one, the household is named by a keyed hash
of its head's ID number (`<home>/secrets/application-ids.key`), so a reapplication is the same
household and the id cannot be turned back into the ID number.

The answer is the economic-status report (家庭经济状况核查报告, `jobs/export/household_reports.py`, ID numbers
masked) and a record. Records live in the lake, where auditors read them:

    <home>/lake/_applications/log/<YYYY-MM>.jsonl           one line per check or refusal,
                                                             append-only: v_application_checks
    <home>/lake/_applications/checks/<YYYY-MM>/<id>/members.parquet, report.pdf
                                                             the members as checked (full ID numbers,
                                                             v_application_members) and the report
    <home>/lake/_applications/authorisations/<sha256>.<ext>  the signed authorisations (授权书)
    <home>/lake/_applications/held/<YYYY-MM>/<id>.<ext>      the file of a check held for the county

A refused application (bad rows, no signed authorisation, a member living outside the office's area,
a member who died, a member already in another household's application) writes its log line and
nothing else. A check outside the office's duty (jobs/applications/duty.py: a member on another
township's roster, or the office past its daily threshold) is held: logged, its file kept, nothing
of the members told, until the county office releases it (`release`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import xlsxwriter

from jobs.applications import authorisations, cross_region
from jobs.applications import duty as application_duty
from jobs.assess.households import dibao_standard_expr
from jobs.assess.month_window import delivered as delivered_sources
from jobs.export.household_reports import (
    ASSET_HEADERS,
    ASSETS_NOTE,
    CROSS_REGION_HEADERS,
    MEMBER_HEADERS,
    RESULT_HEADERS,
    Reports,
    cross_region_rows,
    division_names,
    member_rows,
)
from jobs.ingest.areas import prefecture_of
from jobs.ingest.deliveries import read_source
from jobs.ingest.validate import validate
from jobs.ingest.watched import NEW_APPLICANT, entries, log_folder, records
from jobs.ingest.workbook_screen import XlsxRefused, inspect_xlsx
from jobs.means_test import checks as means_test
from jobs.publish.warehouse import APPLICATION_LOG_COLUMNS
from safetynet import alerts
from safetynet.contract import APPLICATION, SOURCES
from safetynet.errors import DeliveryError, SafetynetError
from safetynet.faults import fault
from safetynet.ids import mask_ids
from safetynet.lake import Home, append_line, locked, write_parquet
from safetynet.months import add_months, month_bounds
from safetynet.pdf import FontChain, MissingGlyph
from safetynet.rules import PortalSettings, RuleSet, load_portal

daily_threshold = application_duty.daily_threshold  # the office's day: jobs/applications/duty.py

CHINA = dt.timezone(dt.timedelta(hours=8))
LOG_COLUMNS = APPLICATION_LOG_COLUMNS
# The lake views the means test reads: the applicant's rows stand in for them (roster and
# household_month are made from the application).
BY_PERSON = (
    "deaths",
    "missing_persons",
    "employment",
    "social_insurance",
    "housing_fund",
    "deposits",
    "real_estate",
    "vehicles",
    "business",
    "disability",
)
# the monthly snapshots the checks read: a month without one cannot say an applicant is within limits
SNAPSHOTS_READ = tuple(s for s in BY_PERSON if SOURCES[s].kind == "snapshot")
RESULTS = {
    "低保": "符合低保条件",
    "刚性支出困难": "符合刚性支出困难条件",
    "低保边缘": "符合低保边缘条件",
    "单人保": "可评估单人保",
}
AS_TEXT = "请把该列设为文本后重新填写"
LONG_NUMBER = re.compile(r"\d[\d.]{9,}(?:[eE][+-]?\d+)?")
UNREADABLE = {
    "file is empty": "文件是空的",
    "file is a zip/xlsx archive but is named .csv": "文件其实是 xlsx 工作簿，请用 .xlsx 扩展名上传",
    "file is binary": "文件不是文本（CSV）文件",
    "file is neither UTF-8 nor GBK": "文件编码无法识别，请另存为 UTF-8 或 GBK 编码的 CSV，或上传 xlsx",
    "no recognised header": "第一行不是可识别的列名，请使用填写模板的列名",
    "not a readable CSV": "不是可读取的 CSV 文件",
    "file is named .xlsx but is not an xlsx workbook": "文件名是 .xlsx，但不是 Excel 工作簿",
    "xlsx workbook cannot be read": "Excel 工作簿无法读取，请另存后重新上传",
}
REASONS_ZH = {
    "required value is missing": "必填项为空",
    "value is not in the contract's code set": "不是约定的代码值",
    "division code has the wrong form": "行政区划代码应为12位数字",
    "division code is not in the latest divisions delivery": "行政区划代码不在最新的区划代码表中",
    "amount is negative": "金额不能为负数",
    "date is implausible for the month": "日期不合理（晚于数据月份或早于1900年）",
    "not a date in YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD form": "日期应为 YYYY-MM-DD、YYYY/MM/DD 或 YYYYMMDD",
    "not an amount in yuan": "不是以元为单位的金额",
    "ID number check character is invalid (GB 11643)": "身份证号校验码错误（GB 11643）",
    "ID number has an impossible birth date": "身份证号中的出生日期不存在",
    "ID number is not 18 characters of digits with a final digit or X": "身份证号应为18位，末位为数字或X",
    "ID number mangled by Excel into scientific notation": "身份证号被 Excel 转成了科学计数法，" + AS_TEXT,
    "ID number mangled by Excel into a decimal number": "身份证号被 Excel 转成了数字，" + AS_TEXT,
    "ID number lost its last digits to Excel (trailing zeros, check character invalid)": (
        "身份证号后几位被 Excel 改成了0，请把该列设为文本后重新填写"
    ),
}


class ApplicationRefused(SafetynetError):
    """An application that is not checked: every problem, in Chinese, naming the file and row."""

    def __init__(self, problems: list[str], application: Application | None = None):
        self.problems = problems
        self.application = application
        super().__init__("；".join(problems))


class AlreadyReleased(ApplicationRefused):
    """A release of a check that a release before it has already run (a double-click): nothing is
    logged, the answer is the first release's."""


@dataclass(frozen=True)
class Application:
    file: str
    sha256: str
    month: str  # the latest published month, whose data the check uses
    build: str
    household_id: str
    township_code: str
    authorisation_ref: str
    applied_for: str
    members: pl.DataFrame  # the roster's columns, typed, with source_file and source_row


@dataclass
class Checked:
    application_id: str
    application: Application
    result: str  # 符合低保条件 | 符合低保边缘条件 | 可评估单人保 | 需入户核实 | 不符合条件 | 无法核对
    detail: str
    meets_applied_for: bool | None
    row: dict  # the report's household: members (masked), income, assets, records
    records: list[dict] = field(default_factory=list)
    report: bytes = b""
    sections: dict = field(default_factory=dict)  # the report's tables, for the portal's page
    report_file: str = ""
    entry: dict = field(default_factory=dict)
    status: str = "checked"  # or "held": for the county's release, nothing of the members told


def latest(h: Home) -> tuple[str, str]:
    """The latest published month and its build."""
    if not h.catalog:
        raise ApplicationRefused(["尚无已发布的月份数据，无法核对；请先完成一个月的月度运行"])
    month = max(h.catalog)
    return month, h.catalog[month]["build"]


def _unreadable(problem: str) -> str:
    """A file that cannot be read as a whole, said in Chinese (ingest's messages are the data team's)."""
    missing = re.match(r"required column\(s\) missing: (.*)", problem)
    if missing:
        names = re.findall(r"\((.+?)\)", missing.group(1))
        return f"缺少必填列：{'、'.join(names)}（第一行应是列名，列名见填写模板）"
    twins = re.match(
        r"columns (\d+) \((.+?)\) and (\d+) \((.+?)\) both give (\w+) and differ, first at row (\d+)", problem
    )
    if twins:
        a, name_a, b, name_b, field, row = twins.groups()
        return (
            f"第{a}列“{name_a}”和第{b}列“{name_b}”都是{APPLICATION.column(field).zh}，第{row}行两列的值不同，"
            "无法确定以哪一列为准：请删去其中一列后重新上传"
        )
    for english, chinese in UNREADABLE.items():
        if problem.startswith(english):
            return chinese
    return f"文件无法读取（{problem}）"


def _problem(file: str, row: dict) -> str:
    col = row["column"]
    column = APPLICATION.column(col).zh if col in _COLUMNS else ("整行" if col == "*" else col)
    value = f"（填写的是“{row['raw_value']}”）" if row["raw_value"] else ""
    reason = REASONS_ZH.get(row["reason"], row["reason"])
    if row["reason"].startswith("key is not unique") or row["check"] == "duplicate_row":
        reason = "同一身份证号在申请中出现不止一次"
    fields = re.match(r"row has (\d+) fields, the header has (\d+)", row["reason"] or "")
    if fields:
        reason = (
            f"该行有{fields.group(1)}列，标题行只有{fields.group(2)}列"
            "（金额中的千分位逗号会把一列分成两列：请去掉逗号，或给该格加引号）"
        )
        value = ""
    if (
        col in _COLUMNS
        and APPLICATION.column(col).codes
        and row["check"] == "expect_column_values_to_be_in_set"
    ):
        value = f"（填写的是“{row['raw_value']}”；可填：{'、'.join(APPLICATION.column(col).codes)}）"
    return _masked(f"{_at(file, row['source_row'])} {column}：{reason}{value}")


FORM_FILE = "网页填写.csv"  # an application entered in the portal's form, one member per form row
FORM_ROWS = 8  # members the form has room for; a larger household is uploaded as a file
FORM_COLUMNS = (
    "name",
    "id_number",
    "relation",
    "division_code",
    "residence_type",
    "labour_capacity",
    "health_status",
    "declared_monthly_income",
)


def _at(file: str, row: int) -> str:
    """Where a problem is: a file's row, or the member's number on the portal's form."""
    return f"第{row - 1}名成员" if file == FORM_FILE else f"{file} 第{row}行"


def form_csv(members: dict[str, list[str]], authorisation_ref: str, applied_for: str) -> bytes:
    """The portal's form as an application file: `members` holds FORM_COLUMNS, one value per form
    row; rows left empty are dropped."""
    count = max((len(v) for v in members.values()), default=0)
    columns = [*FORM_COLUMNS, "authorisation_ref", "applied_for"]
    rows = []
    for i in range(count):
        values = [(members.get(c) or [])[i : i + 1] for c in FORM_COLUMNS]
        values = [v[0].strip() if v else "" for v in values]
        if values[0] or values[1]:  # a member has a name or an ID number
            rows.append([*values, authorisation_ref.strip(), applied_for.strip()])
    out = io.StringIO()
    pl.DataFrame(rows, schema=columns, orient="row").write_csv(out)
    return out.getvalue().encode("utf-8")


_COLUMNS = {c.name for c in APPLICATION.columns}


def read(h: Home, filename: str, data: bytes, max_members: int) -> Application:
    """The application in `data` (a file named `filename`), validated; ApplicationRefused otherwise."""
    name = Path(filename or "").name or "申请.csv"
    if Path(name).suffix.lower() not in (".csv", ".xlsx"):
        raise ApplicationRefused([f"{name}：请上传 xlsx 或 CSV 文件（每行一名家庭成员）"])
    path = Path(name)
    path = path.with_suffix(path.suffix.lower())
    month, build = latest(h)
    try:
        raw = read_source(APPLICATION, [path], {path: data})
    except DeliveryError as exc:
        raise ApplicationRefused([f"{name}：{_unreadable(exc.problem)}"]) from None
    codes = sorted(division_names(h, month)) or None
    checked = validate(raw, month, codes, ge_sample=0)
    problems = [_problem(name, r) for r in checked.quarantine.sort("source_row", "column").to_dicts()]
    members = checked.accepted
    if problems:
        raise ApplicationRefused(problems)
    if members.height == 0:
        raise ApplicationRefused([f"{name}：没有家庭成员行"])
    for col, label in (("authorisation_ref", "授权书编号"), ("applied_for", "申请类别")):
        values = members[col].unique().to_list()
        if len(values) > 1:
            raise ApplicationRefused(
                [f"{name}：各行的{label}不一致（{'、'.join(sorted(values))}），一份文件只能是一份申请"]
            )
    given = [v for v in members["household_id"].unique().to_list() if v is not None]
    if len(given) > 1 or (given and members["household_id"].null_count()):
        raise ApplicationRefused([f"{name}：各行的户编号不一致，一份文件只能是一户的申请"])
    heads = members.filter(pl.col("relation") == "户主")
    if heads.height != 1:
        raise ApplicationRefused([f"{name}：应有且只有一名户主（现有{heads.height}名）"])
    if members.height > max_members:
        raise ApplicationRefused([f"{name}：一份申请最多{max_members}名家庭成员（现有{members.height}名）"])
    head = heads.row(0, named=True)
    township = head["division_code"][:9]
    if given and not _known_household(h, month, given[0], township, members["id_number"].to_list()):
        raise ApplicationRefused(
            [
                f"{name}：户编号 {given[0]} 不是本乡镇（街道）{month}监测名册中列有申请成员的户，"
                "也不是本乡镇核对过的、列有申请成员的申请；新申请的家庭请不填户编号，由系统编号"
            ]
        )
    # Without a household id, the household is named by its head (a reapplication is the same
    # household), through a keyed hash: the id cannot be turned back into the head's ID number.
    household = given[0] if given else "SQ" + _keyed(h.root, head["id_number"])[:12].upper()
    return Application(
        file=name,
        sha256=hashlib.sha256(data).hexdigest(),
        month=month,
        build=build,
        household_id=household,
        township_code=township,
        authorisation_ref=head["authorisation_ref"],
        applied_for=head["applied_for"],
        members=members.with_columns(household_id=pl.lit(household)),
    )


def _keyed(home: Path, text: str) -> str:
    """HMAC-SHA-256 of `text` with the home's key for application ids (made once, readable by the
    home's owner only; outside the lake, so auditors' reads never include it)."""
    path = home / "secrets" / "application-ids.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, secrets.token_bytes(32))
            finally:
                os.close(fd)
    return hmac.new(path.read_bytes(), text.encode(), hashlib.sha256).hexdigest()


def _known_household(h: Home, month: str, household_id: str, township: str, ids: list[str]) -> bool:
    """A household id a township may give: a household of the month's roster in the township, or of
    an application the township has checked, that lists at least one of the applicant's members
    (a mistyped number never joins an applicant to another family)."""
    roster = h.scan("roster", month, area=prefecture_of(township))
    listed = (
        roster.filter(
            (pl.col("household_id") == household_id)
            & pl.col("division_code").str.starts_with(township)
            & pl.col("id_number").is_in(ids)
        )
        if roster is not None
        else None
    )
    if listed is not None and listed.select(pl.len()).collect().item():
        return True
    return any(
        e["household_id"] == household_id and set(ids) & set(e["member_ids"] or [])
        for e in records(h.root, township)
    )


def other_applications(h: Home, app: Application, rules: RuleSet, today: dt.date) -> list[dict]:
    """Applications of another household checked within refused_applicant_months that list one of
    the applicant's members: the same person in two applications."""
    since = add_months(today.strftime("%Y-%m"), -rules.population.refused_applicant_months)
    ids = set(app.members["id_number"].to_list())
    out = []
    for e in records(h.root, months=(since, today.strftime("%Y-%m"))):
        shared = sorted(ids & set(e["member_ids"] or []))
        if e["household_id"] != app.household_id and shared:
            out.append(e | {"shared": shared, "day": e["at"][:10]})
    return out


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> pl.DataFrame:
    return pl.from_arrow(con.sql(sql, params=params).to_arrow_table())


def _stand_ins(con: duckdb.DuckDBPyConnection, app: Application, rules: RuleSet) -> None:
    """Temp tables that stand in for the lake views the means test reads: the applicant's rows."""
    ids = app.members["id_number"].to_list()
    for source in BY_PERSON:
        con.execute(
            f"create temp table lake_{source} as select * from memory.main.lake_{source} "
            "where id_number in (select unnest(?))",
            [ids],
        )
    members = app.members.drop("authorisation_ref", "applied_for", "id_legacy15", strict=False).with_columns(
        month=pl.lit(app.month),
        category=pl.col("category").fill_null(NEW_APPLICANT),
    )
    con.register("application_members", members.to_arrow())
    con.execute(
        "create temp table lake_roster as "
        "select * from memory.main.lake_roster where month = ? and household_id != ? "
        "and id_number in (select unnest(?)) "
        "union all by name select * from application_members",
        [app.month, app.household_id, ids],
    )
    head = members.filter(pl.col("relation") == "户主")
    start, _ = month_bounds(app.month)
    household = head.select(
        "household_id",
        "division_code",
        "residence_type",
        month=pl.lit(app.month),
        township_code=pl.col("division_code").str.slice(0, 9),
        county_code=pl.col("division_code").str.slice(0, 6),
        dibao_standard=dibao_standard_expr(rules, start),
        # an applicant's rigid expenditure is not assembled (jobs/assess/): no 刚性支出困难 answer
        rigid_months=pl.lit(None, pl.Int32),
        rigid_expenditure_month=pl.lit(None, pl.Float64),
    )
    con.register("application_household", household.to_arrow())
    con.execute("create temp table lake_household_month as select * from application_household")


def _refusals_in_data(con: duckdb.DuckDBPyConnection, app: Application) -> list[str]:
    """Members whom the deaths or missing-persons deliveries report as dead or missing."""
    found = con.execute(
        "select m.name, m.id_number, m.died_on, m.missing_declared_on, m.source_refs, r.source_row "
        "from means_members as m join application_members as r on r.id_number = m.id_number "
        "where m.household_id = ? and (m.died_on is not null or m.missing_declared_on is not null) "
        "order by r.source_row",
        [app.household_id],
    ).fetchall()
    out = []
    for name, id_number, died_on, missing_on, refs, row in found:
        what = (
            f"已于{died_on}死亡（死亡人口数据）" if died_on else f"已于{missing_on}被宣告失踪（宣告失踪数据）"
        )
        out.append(
            f"{_at(app.file, row)} {name}（{_mask(id_number)}）：据部门数据{what}，来源 {refs[-1]}；"
            "请核实家庭成员后重新提交"
        )
    return out


def _mask(id_number: str) -> str:
    return _masked(id_number)


def _masked(text: str) -> str:
    """A text a township reads, with every resident ID number in it masked, and any other run of ten
    or more digits (an ID number Excel turned into 4.301011975021105e+17) cut to its first six."""
    masked = pl.select(mask_ids(pl.lit(text, pl.String))).item()
    return LONG_NUMBER.sub(lambda m: m.group(0)[:6] + "…（已隐去）", masked)


def _checks(con: duckdb.DuckDBPyConnection, app: Application, rules: RuleSet) -> list[dict]:
    """Every check where it applies: the others' checks on the household as it stands, the
    recipients' checks on the household as if it were granted. The others' are run first as for a
    household in no category (a 低保边缘 household is a dibao or near-dibao candidate too), then,
    when that finds no candidate, in the household's own category (单人保 is for its members)."""
    sql = {p.stem: p.read_text(encoding="utf-8") for p in means_test.checks()}
    category = con.execute("select category from means_households").fetchone()[0]
    passes = [("others", False, NEW_APPLICANT), ("others", False, category), ("recipients", True, category)]
    records: list[dict] = []
    for applies_to, recipient, as_category in passes:
        if applies_to == "others" and any(r["check_id"] == "eligible_not_covered" for r in records):
            continue
        con.execute("update means_households set recipient = ?, category = ?", [recipient, as_category])
        for check in rules.means_checks:
            if check.applies_to == applies_to:
                found = con.sql(sql[check.id]).pl().filter(pl.col("household_id") == app.household_id)
                records += [r | {"check_id": check.id, "label": check.label} for r in found.to_dicts()]
    con.execute("update means_households set category = ?", [category])
    return records


def _verdict(
    app: Application,
    household: dict,
    records: list[dict],
    missing: list[str],
    within: dict[str, tuple[str, ...]],
) -> tuple[str, str, bool | None]:
    """(result, detail, whether the assistance applied for is within it). `missing`: sources the
    checks read that were not delivered in the month: within the limits cannot be said then.
    `within`: assistance applied for -> the candidacies it is within (means_test/limits.yaml
    `applied_for_within`); 临时救助 and 其他 are decided on other grounds, the report informs them."""
    if household["dibao_standard"] is None:
        return "无法核对", f"所在地区在{app.month}没有适用的低保标准，收入和金融资产无法核对", None
    refund = [r["label"] for r in records if r["direction"] == "应退"]
    verify = [r["label"] for r in records if r["direction"] == "核实"]
    candidate = next(
        (r.get("candidate_for") for r in records if r["check_id"] == "eligible_not_covered"), None
    )
    if candidate is not None and not (candidate == "低保" and refund):
        result = RESULTS[candidate]
        detail = f"收入和财产在{candidate}的限定条件以内"
        if verify:
            detail += f"；另有{len(verify)}项需入户核实：{'、'.join(verify)}"
    elif refund:
        result, detail = "不符合条件", "超出限定条件：" + "、".join(refund)
        if verify:
            detail += f"；另有{len(verify)}项需入户核实：{'、'.join(verify)}"
    elif verify:
        result, detail = "需入户核实", f"{len(verify)}项需入户核实后才能认定：{'、'.join(verify)}"
    else:
        result, detail = "不符合条件", "家庭人均收入不低于当地低保标准"
    if missing:
        names = "、".join(f"{SOURCES[m].zh}（{m}）" for m in missing)
        detail += f"；{app.month}未收到{names}的数据，相应的收入、财产无从核对"
        if result in RESULTS.values():  # never "within the limits" on data that did not come
            result = "需入户核实"
    meets = None
    if app.applied_for in within:
        meets = candidate in within[app.applied_for] and result in RESULTS.values()
        detail += f"；所申请的{app.applied_for}{'在本结论之内' if meets else '不在本结论之内'}"
    else:
        detail += f"；所申请的{app.applied_for}不以本核对的收入和财产限定条件为准，按其规定审核"
    legacy = app.members.filter(pl.col("id_legacy15")) if "id_legacy15" in app.members.columns else None
    if legacy is not None and legacy.height:
        rows = "、".join(f"第{r}行" for r in legacy["source_row"].to_list())
        detail += f"；{rows}的身份证号为15位旧号码，已按GB 11643转换为18位"
    return result, detail, meets


def check(h: Home, app: Application, rules: RuleSet) -> Checked:
    """The means test of the application against its month; ApplicationRefused when a member died."""
    con = means_test.connect(h, app.month, rules, models=False)
    try:
        _stand_ins(con, app, rules)
        means_test.build_models(con, quiet=True)
        dead = _refusals_in_data(con, app)
        if dead:
            raise ApplicationRefused(dead, app)
        records = _checks(con, app, rules)
        hid = app.household_id
        household = _frame(con, "select * from means_households where household_id = ?", [hid])
        members = _frame(
            con,
            "select * from means_members where household_id = ? order by relation != '户主', name, id_number",
            [hid],
        )
        assets = _frame(con, "select * from means_assets where household_id = ?", [hid])
        elsewhere = _frame(
            con, "select * from means_cross_region where household_id = ? order by name", [hid]
        )
    finally:
        con.close()
    row = household.row(0, named=True)
    delivered = delivered_sources(h, app.month)
    missing = [s for s in SNAPSHOTS_READ if s not in delivered]
    result, detail, meets = _verdict(app, row, records, missing, rules.means_limits.applied_for_within)
    row["members"] = members.with_columns(id_number=mask_ids(pl.col("id_number"))).to_dicts()
    row |= _assets(assets) | {"cross_region": elsewhere.drop("id_number").to_dicts() or None}
    row["records"] = [
        {
            "check_id": r["check_id"],
            "direction": r["direction"],
            "evidence": pl.select(mask_ids(pl.lit(r["evidence"]))).item(),
            "source_refs": r["source_refs"],
        }
        for r in records
    ]
    return Checked("", app, result, detail, meets, row, records)


def _assets(assets: pl.DataFrame) -> dict:
    details = [f"{kind}_detail" for kind in ("deposit", "property", "car", "entity")]
    if assets.height == 0:
        return {
            "deposits": 0.0,
            "homes": 0,
            "non_residential": 0,
            "cars": 0,
            "entities": 0,
            **{c: None for c in details},
            **{c.replace("detail", "refs"): None for c in details},
        }
    return (
        assets.with_columns(pl.col("deposits").cast(pl.Float64), *[mask_ids(pl.col(c)) for c in details])
        .drop("household_id")
        .row(0, named=True)
    )


def report(
    checked: Checked, rules: RuleSet, fonts: FontChain, names: dict[str, str], at: dt.datetime
) -> tuple[bytes, dict]:
    """The economic-status report as a PDF, and its sections for the portal's page (the same rows)."""
    app = checked.application
    reports = Reports(rules, app.month, app.build, names, fonts)
    pdf = reports.household(
        checked.row,
        application={
            "id": checked.application_id,
            "applied_for": app.applied_for,
            "authorisation_ref": app.authorisation_ref,
            "result": checked.result,
            "detail": checked.detail,
            "at": at.strftime("%Y-%m-%d %H:%M"),
        },
    )
    by_check = {r["check_id"]: r for r in checked.row["records"]}
    sections = {
        "members": [MEMBER_HEADERS, member_rows(checked.row)],
        "income": reports.income_lines(checked.row),
        "assets": [ASSET_HEADERS, reports.asset_rows(checked.row)],
        "checks": [RESULT_HEADERS, reports.results(checked.row, by_check, every=True)],
        "assets_note": ASSETS_NOTE,
        "cross_region": [CROSS_REGION_HEADERS, cross_region_rows(checked.row)],  # 待异地核对, 异地核对结果
    }
    return pdf, sections


def _append(home: Path, entry: dict, now: dt.datetime) -> None:
    """One line of the log, flushed to disk before the answer goes out."""
    line = json.dumps(entry, ensure_ascii=False, sort_keys=True, default=str) + "\n"
    append_line(log_folder(home) / f"{now:%Y-%m}.jsonl", line)


def _entry(now: dt.datetime, status: str, who: dict, **fields: object) -> dict:
    return (
        {c: None for c in LOG_COLUMNS}
        | who
        | {"at": now.isoformat(timespec="milliseconds"), "status": status}
        | fields
    )


def _same_people(app: Application, others: list[dict]) -> list[str]:
    """The refusal for members already in another household's application: the other application
    is named only when it is the same township's (another township's is not this office's to see)."""
    rows = dict(zip(app.members["id_number"], app.members["source_row"], strict=True))
    out = []
    for o in others:
        where = (
            f"本乡镇（街道）另一户的申请 {o['application_id']}"
            if o["township_code"] == app.township_code
            else "其他乡镇（街道）另一户的申请"
        )
        for id_number in o["shared"]:
            out.append(
                f"{_at(app.file, rows[id_number])} {_mask(id_number)}：已在{where}中（{o['day']}核对）。"
                "同一人不能同时在两户申请，请核实其实际共同生活的家庭"
            )
    return out


HELD = "待县级放行"  # the result of a check held for the county's release
WAIT = "申请已暂缓：须经县（区）民政局审核放行后才核对，放行后在本页查看核对结果"


def submit(
    home: Path,
    filename: str,
    data: bytes,
    rules: RuleSet,
    fonts: FontChain,
    account: str,
    role: str,
    area: str = "",
    client_address: str | None = None,
    now: dt.datetime | None = None,
    settings: PortalSettings | None = None,
    authorisation: tuple[str, bytes] | None = None,
) -> Checked:
    """Read, check, report and record an application for an account whose area is `area` ("" for
    all), with the signed authorisation (name, bytes). A refused application writes its log line
    only and raises ApplicationRefused; one outside the office's duty is held for the county
    (`status` held, nothing of the members told); an unexpected error writes its line (status
    `error`) and is raised."""
    now = now or dt.datetime.now(CHINA)
    settings = settings or load_portal()
    h = Home(home)
    name = (Path(filename or "").name or "")[:200]
    who = {
        "account": account,
        "role": role,
        "client_address": client_address,
        "office": area or None,
        "file": name,
        "file_sha256": hashlib.sha256(data).hexdigest(),
    }
    signed = authorisations.screened(authorisation, settings)
    if isinstance(signed, authorisations.Authorisation):
        who["authorisation_sha256"] = signed.sha256
    app = None
    try:
        _screen_file(name, data, settings)
        app = _read_with(h, filename, data, settings, signed)
        _within_area(h, app, area)
        others = other_applications(h, app, rules, now.date())
        if others:
            raise ApplicationRefused(_same_people(app, others), app)
        who["authorisation_file"] = authorisations.keep(h.lake, signed)
        duty = _duty(h, app, area, now, settings)
        application_id = f"SQ{now:%Y%m%d}-{uuid.uuid4().hex[:8].upper()}"
        if duty.get("held_for"):
            with locked(log_folder(home) / ".lock"):  # counted as it is logged
                count, threshold = _count(home, area, now, settings)
                duty |= {"day_count": count + 1, "day_threshold": threshold}
                entry = _held_entry(h, app, data, who | duty, application_id, now)
                _append(home, entry, now)
            return _held(home, app, entry)
        return _run(h, app, rules, fonts, who | duty, application_id, now, settings, data)
    except ApplicationRefused as exc:
        _failed(home, now, who, exc.application or app, "refused", "；".join(exc.problems), area)
        raise
    except Exception as exc:
        _failed(home, now, who, app, "error", f"{type(exc).__name__}: {exc}", area)
        raise


def release(
    home: Path,
    application_id: str,
    rules: RuleSet,
    fonts: FontChain,
    account: str,
    role: str,
    area: str,
    client_address: str | None = None,
    now: dt.datetime | None = None,
    settings: PortalSettings | None = None,
) -> Checked:
    """A held check released by the county office of its township: checked now, for the office
    that asked, under the same application id. ApplicationRefused for anyone else, or when it is
    not held (AlreadyReleased when a release came first: nothing logged); a check refused or
    failing on release is logged as a submitted one is (an error leaves it held, to release again)."""
    now = now or dt.datetime.now(CHINA)
    settings = settings or load_portal()
    h = Home(home)
    entry = find(home, application_id)
    if role != "county" or not area or entry is None or not (entry["township_code"] or "").startswith(area):
        raise ApplicationRefused([f"只有申请所在县（区）民政局可以放行暂缓的申请 {application_id}"])
    if entry["status"] != "held" and entry.get("released_by"):
        raise AlreadyReleased([f"申请 {application_id} 已放行核对，请查看核对结果"])
    if entry["status"] != "held":
        raise ApplicationRefused([f"申请 {application_id} 不是待放行的申请（{entry['result']}）"])
    kept = ("account", "role", "client_address", "office", "file", "file_sha256")
    who = {k: entry[k] for k in (*kept, "authorisation_sha256", "authorisation_file")}
    who |= {"released_by": account, "released_at": now.isoformat(timespec="milliseconds")}
    data = (h.lake / entry["held_file"]).read_bytes()
    app = None
    try:
        app = read(h, entry["file"], data, settings.application_max_members)
        others = other_applications(h, app, rules, now.date())
        if others:
            raise ApplicationRefused(_same_people(app, others), app)
        return _run(h, app, rules, fonts, who, application_id, now, settings, data)
    except AlreadyReleased:
        raise
    except ApplicationRefused as exc:  # shown, masked, to the office that asked (its township's line)
        problems = "；".join(exc.problems)
        _failed(
            home,
            now,
            who,
            exc.application or app,
            "refused",
            problems,
            entry["township_code"],
            application_id,
        )
        raise
    except Exception as exc:
        _failed(
            home,
            now,
            who,
            app,
            "error",
            f"{type(exc).__name__}: {exc}",
            entry["township_code"],
            application_id,
        )
        raise


def _screen_file(name: str, data: bytes, settings: PortalSettings) -> None:
    if len(data) > settings.upload_max_bytes:
        raise ApplicationRefused([f"{name}：文件超过 {settings.upload_max_bytes // 1_000_000} MB"])
    if name.lower().endswith(".xlsx"):
        try:
            inspect_xlsx(data, settings)
        except XlsxRefused as exc:
            raise ApplicationRefused([f"{name}：{exc}"]) from None


def _read_with(
    h: Home, filename: str, data: bytes, settings: PortalSettings, signed: authorisations.Authorisation | str
) -> Application:
    """The application read; refused with every problem of the rows and of the authorisation."""
    missing = [signed] if isinstance(signed, str) else []
    try:
        app = read(h, filename, data, settings.application_max_members)
    except ApplicationRefused as exc:
        raise ApplicationRefused(exc.problems + missing) from None
    if missing:
        raise ApplicationRefused(missing, app)
    return app


def _within_area(h: Home, app: Application, area: str) -> None:
    """Refused unless every member lives in the office's area, naming the township whose it is."""
    out = application_duty.outside(app.members, area)
    if out.height == 0:
        return
    names = division_names(h, app.month)
    mine = f"{names[area]}（{area}）" if area in names else area
    raise ApplicationRefused(
        [
            f"{_at(app.file, r['source_row'])} {_mask(r['id_number'])}：行政区划代码 {r['division_code']} "
            f"属于{names.get(r['division_code'][:9], '')}（{r['division_code'][:9]}）的辖区，"
            f"不属于本账户的辖区（{mine}），应由其受理，本账户不能为其核对"
            for r in out.to_dicts()
        ],
        app,
    )


def _duty(h: Home, app: Application, area: str, now: dt.datetime, settings: PortalSettings) -> dict:
    """The office's count for the day and its threshold; why the check is held, if it is."""
    if not area:
        return {}
    count, threshold = _count(h.root, area, now, settings)
    fields: dict = {"day_count": count + 1, "day_threshold": threshold}
    found = application_duty.elsewhere(h, app.month, app.members["id_number"].to_list(), area)
    if found.height:
        reason = roster_reason(found, division_names(h, app.month), app.township_code, app.month)
        return fields | {"held_for": "roster", "held_reason": reason}
    if count >= threshold:
        return fields | {
            "held_for": "daily_count",
            "held_reason": _daily_reason(area, count, threshold, settings),
        }
    return fields


def roster_reason(found: pl.DataFrame, names: dict[str, str], township: str, month: str) -> str:
    """Why a check is held for its county: where each member stands on the roster. The household is
    named only when it is of the county's own townships; another county's is not this county's to
    read (the township's name suffices to ask there)."""
    reasons = []
    for r in found.to_dicts():
        theirs = r["division_code"][:9]
        household = f"的户 {r['household_id']} " if theirs[:6] == township[:6] else ""
        where = f"{names.get(theirs, '')}（{theirs}）{month}监测名册{household}"
        reasons.append(f"成员 {_mask(r['id_number'])} 在{where}中")
    return "；".join(reasons) + "：请核实其实际居住和共同生活的家庭后放行"


def _daily_reason(area: str, count: int, threshold: int, settings: PortalSettings) -> str:
    """Why a check is held for its office's daily count (`count` checks made before it today)."""
    return (
        f"本辖区（{area}）本日第{count + 1}次申请核对，超过每日阈值{threshold}次"
        f"（通常每日次数的{settings.application_daily_multiple:g}倍，至少{settings.application_daily_minimum}次）"
    )


def _count(home: Path, area: str, now: dt.datetime, settings: PortalSettings) -> tuple[int, int]:
    """The office's checks today, and its threshold for the day."""
    first = now.date() - dt.timedelta(days=settings.application_baseline_days)
    lines = entries(home, (f"{first:%Y-%m}", f"{now:%Y-%m}"))
    count, past = application_duty.day_counts(lines, area, now.date(), settings.application_baseline_days)
    return count, application_duty.daily_threshold(past, settings)


def _held_entry(
    h: Home, app: Application, data: bytes, who: dict, application_id: str, now: dt.datetime
) -> dict:
    """The log line of a held check; the application file kept for the release."""
    held = Path("_applications") / "held" / f"{now:%Y-%m}" / f"{application_id}{Path(app.file).suffix}"
    (h.lake / held).parent.mkdir(parents=True, exist_ok=True)
    (h.lake / held).write_bytes(data)
    # the same words whatever the reason: that a member stands on another township's roster is the
    # county's to read (held_for, held_reason), not the office's that typed him
    return _entry(
        now,
        "held",
        who,
        application_id=application_id,
        **_fields(app),
        result=HELD,
        detail=WAIT,
        held_file=held.as_posix(),
    )


def _fields(app: Application) -> dict:
    """The application's fields of a log line."""
    return {
        "township_code": app.township_code,
        "household_id": app.household_id,
        "authorisation_ref": app.authorisation_ref,
        "applied_for": app.applied_for,
        "members": app.members.height,
        "member_ids": app.members["id_number"].to_list(),
        "month_used": app.month,
        "build": app.build,
    }


def _held(home: Path, app: Application, entry: dict) -> Checked:
    """A held check as its office sees it (nothing of the members), and the county and the data
    team alerted (safetynet/alerts.py): once per office and day for its daily count."""
    first_today = entry["held_for"] != "daily_count" or not any(
        e["status"] == "held" and e.get("held_for") == "daily_count" and e.get("office") == entry["office"]
        for e in entries(home, (entry["at"][:7], entry["at"][:7]))
        if e["at"][:10] == entry["at"][:10] and e["application_id"] != entry["application_id"]
    )
    if first_today:
        alerts.notify(
            home,
            "application_hold",
            f"safetynet: 申请核对 {entry['application_id']} 已暂缓，"
            f"待县（区）民政局 {app.township_code[:6]} 审核放行",
            entry["held_reason"],
            county_code=app.township_code[:6],
            township_code=app.township_code,
            office=entry["office"],
            account=entry["account"],
            application_id=entry["application_id"],
            day_count=entry["day_count"],
            day_threshold=entry["day_threshold"],
        )
    return Checked(entry["application_id"], app, HELD, entry["detail"], None, {}, status="held", entry=entry)


def _run(
    h: Home,
    app: Application,
    rules: RuleSet,
    fonts: FontChain,
    who: dict,
    application_id: str,
    now: dt.datetime,
    settings: PortalSettings,
    data: bytes,
) -> Checked:
    """The check, its report and its record; the record put in place and the log line written last,
    together under the log's lock, after what others may have changed meanwhile is read again
    (`_read_again`)."""
    home = h.root
    checked = check(h, app, rules)
    checked.application_id = application_id
    asked = cross_region.asked(app, checked, now)  # members registered in another province, asked at once
    try:
        checked.report, checked.sections = report(checked, rules, fonts, division_names(h, app.month), now)
    except MissingGlyph as exc:
        raise ApplicationRefused([f"{app.file}：报告无法生成，{exc}"], app) from None
    folder = home / "lake" / "_applications" / "checks" / f"{now:%Y-%m}" / application_id
    checked.report_file = (folder / "report.pdf").relative_to(home / "lake").as_posix()
    staged = _write_record(folder, checked, now)
    try:
        fault("application", "record")
        checked.entry = _entry(
            now,
            "checked",
            who,
            application_id=application_id,
            **_fields(app),
            result=checked.result,
            detail=checked.detail,
            report_file=checked.report_file,
            report_sha256=hashlib.sha256(checked.report).hexdigest(),
        )
        with locked(log_folder(home) / ".lock"):
            late = _read_again(h, app, rules, who, checked, settings, data, now)
            if late is None:
                _place(staged, folder)
                cross_region.write(home, asked)
            _append(home, late or checked.entry, now)
    finally:
        shutil.rmtree(staged, ignore_errors=True)  # a record not put in place
    return _held(home, app, late) if late else checked


def _read_again(
    h: Home,
    app: Application,
    rules: RuleSet,
    who: dict,
    checked: Checked,
    settings: PortalSettings,
    data: bytes,
    now: dt.datetime,
) -> dict | None:
    """Under the log's lock: a release still held (a second click is AlreadyReleased); the same people
    not in another office's application checked meanwhile (refused); the office's count for the day
    (checks made at once past the threshold: the late ones are held, their log line returned)."""
    application_id = checked.application_id
    if who.get("released_by"):
        entry = find(h.root, application_id)
        if entry is None or entry["status"] != "held":
            raise AlreadyReleased([f"申请 {application_id} 已放行核对，请查看核对结果"], app)
    others = other_applications(h, app, rules, now.date())
    if others:
        raise ApplicationRefused(_same_people(app, others), app)
    office = who.get("office")
    if not office or who.get("released_by"):
        return None
    count, threshold = _count(h.root, office, now, settings)
    checked.entry |= {"day_count": count + 1, "day_threshold": threshold}
    if count < threshold:
        return None
    late = who | {
        "day_count": count + 1,
        "day_threshold": threshold,
        "held_for": "daily_count",
        "held_reason": _daily_reason(office, count, threshold, settings),
    }
    return _held_entry(h, app, data, late, application_id, now)


def _failed(
    home: Path,
    now: dt.datetime,
    who: dict,
    app: Application | None,
    status: str,
    detail: str,
    area: str,
    application_id: str | None = None,
) -> None:
    """The log line of a refused or failed check."""
    # refused before it was read: the office's own township
    fields = _fields(app) if app is not None else {"township_code": area or None}
    entry = _entry(
        now,
        status,
        who,
        application_id=application_id,
        detail=_masked(detail)[:2000],
        result="拒绝",
        **fields,
    )
    _append(home, entry, now)


def _write_record(folder: Path, checked: Checked, now: dt.datetime) -> Path:
    """The members as checked and the report, into a folder of this writer's own (two releases of
    one check at once write their own), for `_place` to rename into place whole; one level deeper
    than the records, so v_application_members never reads it."""
    tmp = folder.parent / ".staging" / f"{folder.name}.{uuid.uuid4().hex}"
    tmp.mkdir(parents=True)
    app = checked.application
    write_parquet(
        app.members.with_columns(
            application_id=pl.lit(checked.application_id),
            checked_at=pl.lit(now.isoformat(timespec="milliseconds")),
            result=pl.lit(checked.result),
            month_used=pl.lit(app.month),
        ),
        tmp / "members.parquet",
    )
    (tmp / "report.pdf").write_bytes(checked.report)
    (tmp / "report.json").write_text(json.dumps(checked.sections, ensure_ascii=False), encoding="utf-8")
    return tmp


def _place(staged: Path, folder: Path) -> None:
    """The record renamed into place, under the log's lock as its line is written: a folder already
    there is a stopped release's, named by no line (the log still says held)."""
    if folder.exists():
        shutil.rmtree(folder)
    os.rename(staged, folder)


def held(home: Path, area: str = "") -> list[dict]:
    """The checks of townships starting with `area` held and not yet released, newest first."""
    latest: dict[str, dict] = {}
    for e in entries(home):
        if e["application_id"] and e["status"] != "error":  # an error on release leaves it held
            latest.setdefault(e["application_id"], e)
    return [
        e for e in latest.values() if e["status"] == "held" and (e["township_code"] or "").startswith(area)
    ]


APPLICATION_ID = re.compile(r"SQ\d{8}-[0-9A-F]{8}")


def find(home: Path, application_id: str) -> dict | None:
    """The latest log line of an application (checked, held, or refused on release), or None. A
    release that failed with an error (logged for the data team) leaves the line before it."""
    if not APPLICATION_ID.fullmatch(application_id):
        return None
    month = f"{application_id[2:6]}-{application_id[6:8]}"  # logged from the month of its id's date on
    lines = entries(home, (month, "9999-12"))
    return next((e for e in lines if e["application_id"] == application_id and e["status"] != "error"), None)


def sections_of(home: Path, entry: dict) -> dict:
    """The report of a checked application as the portal shows it (ID numbers masked)."""
    path = home / "lake" / Path(entry["report_file"]).with_name("report.json")
    return json.loads(path.read_text(encoding="utf-8"))


def template() -> bytes:
    """An xlsx with the application's columns (Chinese headers, ID numbers as text) and a sheet that
    explains each column, for township staff to fill in with Excel or WPS."""
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True})
    text = wb.add_format({"num_format": "@"})
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    ws = wb.add_worksheet("申请家庭")
    for i, col in enumerate(APPLICATION.columns):
        ws.write(0, i, col.zh, head)
        ws.set_column(i, i, 20 if col.type == "id" else 12, text)
    notes = wb.add_worksheet("填写说明")
    notes.write_row(0, 0, ["列名", "英文列名", "必填", "可填的值"], head)
    for i, col in enumerate(APPLICATION.columns, start=1):
        required = "是" if col.required else ("为空时由系统编号" if col.name == "household_id" else "")
        notes.write_row(i, 0, [col.zh, col.name, required, "、".join(col.codes)])
    notes.write(
        len(APPLICATION.columns) + 2,
        0,
        "每行一名家庭成员，应有且只有一名户主；各行的授权书编号、申请类别相同。"
        "上传时须同时上传申请人签署的授权书（PDF、JPG 或 PNG）。",
    )
    notes.set_column(0, 3, 18)
    wb.close()
    return buffer.getvalue()
