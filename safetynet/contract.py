"""The data exchange contract (shared/CONTRACT.md, version 3) as data.

Everything that parses, validates or generates a delivery reads the sources from here, so that
headers, types and code sets are written down once. The Great Expectations suites in
`expectations/` are generated from this module (`safetynet expectations`), and a test checks that
the committed suites are current.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# region: a division code of anywhere in China (6 or 12 digits), not checked against the province's
# divisions; province: a 2-digit province code; items: cross-region check items separated by `;`
# (contract version 3, cross-region checks)
ColumnType = Literal[
    "str",
    "id",
    "division",
    "region",
    "province",
    "items",
    "date",
    "amount",
    "int",
    "month",
    "code",
    "case_id",
]
SourceKind = Literal["reference", "snapshot", "event"]


@dataclass(frozen=True)
class Column:
    name: str
    zh: str
    type: ColumnType = "str"
    required: bool = False
    codes: tuple[str, ...] = ()
    # inclusive bounds for int columns (e.g. disability grade 1-4)
    bounds: tuple[int, int] | None = None
    # an amount that may be below zero (a bank balance); others must not be
    signed: bool = False
    # a date that may lie after the month (a reply deadline); others may not
    future: bool = False


@dataclass(frozen=True)
class Source:
    name: str
    zh: str
    kind: SourceKind
    columns: tuple[Column, ...]
    # columns that identify a row; rows sharing a key with different values are all quarantined
    key: tuple[str, ...] = ()
    # the date that says when an event happened; checked against the month
    event_date: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _id() -> Column:
    return Column("id_number", "身份证号", "id", required=True)


YES_NO = ("是", "否")

# What one province asks another about a person (contract version 3, cross-region checks)
CROSS_REGION_ITEMS = ("不动产", "机动车", "市场主体", "存款", "社保", "公积金", "死亡")

# Since version 3: `<source>.history.csv` (or .xlsx) holds up to the previous 12 months of an event
# source's events, read as those months' events
HISTORY = ".history."

SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source(
            "divisions",
            "区划代码表",
            "reference",
            (Column("division_code", "区划代码", "division", True), Column("name", "名称", "str", True)),
            key=("division_code",),
        ),
        Source(
            "roster",
            "监测对象名册",
            "snapshot",
            (
                Column("household_id", "户编号", "str", True),
                _id(),
                Column("name", "姓名", "str", True),
                Column(
                    "relation",
                    "与户主关系",
                    "code",
                    True,
                    ("户主", "配偶", "子女", "父母", "孙子女", "兄弟姐妹", "其他"),
                ),
                Column("division_code", "行政区划代码", "division", True),
                Column("residence_type", "城乡类别", "code", True, ("城市", "农村")),
                Column(
                    "category",
                    "人员类别",
                    "code",
                    True,
                    (
                        "低保",
                        "特困",
                        "低保边缘",
                        "刚性支出困难",
                        "脱贫不稳定户",
                        "边缘易致贫户",
                        "突发严重困难户",
                        "其他低收入",
                    ),
                ),
                Column("enrolled_on", "纳入日期", "date"),
                Column("monthly_benefit", "月救助金额", "amount"),
                Column("labour_capacity", "劳动能力", "code", codes=("有", "部分丧失", "无")),
                Column("health_status", "健康状况", "code", codes=("健康", "慢性病", "大病", "残疾")),
                Column("housing_area", "住房面积", "amount"),
                Column("declared_monthly_income", "申报月收入", "amount"),
                # version 3: where the person's household registration is, when it differs from where
                # the household lives (人户分离); another province's is asked about (jobs/cross_region)
                Column("hukou_division_code", "户籍地区划代码", "region"),
            ),
            # A person listed in two households is a means-test finding, not a broken row.
            key=("household_id", "id_number"),
        ),
        Source(
            "medical_claims",
            "医保结算",
            "event",
            (
                _id(),
                Column("settled_on", "结算日期", "date", True),
                Column("total_cost", "总费用", "amount", True),
                Column("fund_paid", "统筹支付", "amount", True),
                Column("out_of_pocket", "个人自付", "amount", True),
                Column("inpatient", "是否住院", "code", codes=YES_NO),
                Column("diagnosis_class", "病种类别", "code", codes=("普通", "慢性病", "重大疾病")),
            ),
            event_date="settled_on",
        ),
        Source(
            "medical_assistance",
            "医疗救助",
            "event",
            (
                _id(),
                Column("paid_on", "支付日期", "date", True),
                Column("amount", "救助金额", "amount", True),
            ),
            event_date="paid_on",
        ),
        Source(
            "disability",
            "残疾人登记",
            "snapshot",
            (
                _id(),
                Column(
                    "disability_type",
                    "残疾类别",
                    "code",
                    True,
                    ("视力", "听力", "言语", "肢体", "智力", "精神", "多重"),
                ),
                Column("grade", "残疾等级", "int", True, bounds=(1, 4)),
                Column("registered_on", "登记日期", "date", True),
            ),
            key=("id_number",),
        ),
        Source(
            "enrolment",
            "学籍",
            "snapshot",
            (
                _id(),
                Column(
                    "stage",
                    "学段",
                    "code",
                    True,
                    ("学前", "小学", "初中", "高中", "中职", "高职", "本科", "研究生"),
                ),
                Column("enrolled_on", "入学日期", "date", True),
                Column("status", "学籍状态", "code", True, ("在读", "休学", "辍学", "毕业")),
            ),
            key=("id_number", "stage"),
        ),
        Source(
            "education_aid",
            "教育资助",
            "event",
            (
                _id(),
                Column("aid_type", "资助类型", "str", True),
                Column("amount", "金额", "amount", True),
                Column("paid_on", "发放日期", "date", True),
            ),
            event_date="paid_on",
        ),
        Source(
            "employment",
            "就业失业登记",
            "event",
            (
                _id(),
                Column("status", "登记类型", "code", True, ("就业", "失业")),
                Column("registered_on", "登记日期", "date", True),
                Column("monthly_wage", "月工资", "amount"),
            ),
            key=("id_number", "registered_on", "status"),
            event_date="registered_on",
        ),
        Source(
            "work_injury",
            "工伤认定",
            "event",
            (
                _id(),
                Column("injured_on", "受伤日期", "date", True),
                Column("disability_level", "伤残等级", "int", bounds=(1, 10)),
                Column("compensation", "赔付金额", "amount"),
            ),
            key=("id_number", "injured_on"),
            event_date="injured_on",
        ),
        Source(
            "social_insurance",
            "社保缴费",
            "snapshot",
            (
                _id(),
                Column("month", "缴费月份", "month", True),
                Column("scheme", "险种", "code", True, ("城镇职工", "城乡居民")),
                Column("contribution_base", "缴费基数", "amount", True),
            ),
            key=("id_number", "month", "scheme"),
        ),
        Source(
            "deaths",
            "死亡人口",
            "event",
            (_id(), Column("died_on", "死亡日期", "date", True)),
            key=("id_number",),
            event_date="died_on",
        ),
        Source(
            "missing_persons",
            "宣告失踪",
            "event",
            (_id(), Column("declared_on", "宣告日期", "date", True)),
            key=("id_number",),
            event_date="declared_on",
        ),
        Source(
            "real_estate",
            "不动产登记",
            "snapshot",
            (
                _id(),
                Column("property_id", "不动产单元号", "str", True),
                Column("area", "建筑面积", "amount", True),
                Column("usage", "用途", "code", True, ("住宅", "商业", "工业", "其他")),
                Column("registered_on", "登记日期", "date"),
            ),
            key=("property_id", "id_number"),
        ),
        Source(
            "vehicles",
            "机动车登记",
            "snapshot",
            (
                _id(),
                Column("vehicle_id", "车辆识别号", "str", True),
                Column(
                    "vehicle_type", "车辆类型", "code", True, ("小型汽车", "货车", "摩托车", "农用车", "其他")
                ),
                Column("operating", "是否营运", "code", True, YES_NO),
                Column("registered_on", "登记日期", "date"),
            ),
            key=("vehicle_id",),
        ),
        Source(
            "business",
            "市场主体登记",
            "snapshot",
            (
                _id(),
                Column("entity_id", "统一社会信用代码", "str", True),
                Column("entity_type", "主体类型", "code", True, ("个体工商户", "有限责任公司", "其他")),
                Column("role", "身份", "code", True, ("经营者", "法定代表人", "股东")),
                Column("registered_capital", "注册资本", "amount"),
                Column("status", "状态", "code", True, ("存续", "注销", "吊销")),
            ),
            key=("entity_id", "id_number", "role"),
        ),
        Source(
            "deposits",
            "金融资产",
            "snapshot",
            (
                _id(),
                Column("institution", "机构", "str", True),
                # accepted as delivered: the means test counts a negative balance as 0 and says so
                Column("balance", "余额", "amount", True, signed=True),
            ),
            key=("id_number", "institution"),
        ),
        Source(
            "housing_fund",
            "住房公积金",
            "snapshot",
            (
                _id(),
                Column("monthly_deposit", "月缴存额", "amount", True),
                Column("status", "账户状态", "code", True, ("正常", "封存")),
            ),
            key=("id_number",),
        ),
        Source(
            "disasters",
            "灾害损失",
            "event",
            (
                _id(),
                Column("occurred_on", "发生日期", "date", True),
                Column("disaster_type", "灾害类型", "str", True),
                Column("house_damage", "房屋损毁", "code", codes=("无", "一般损坏", "严重损坏", "倒塌")),
                Column("loss_amount", "直接经济损失", "amount"),
            ),
            key=("id_number", "occurred_on", "disaster_type"),
            event_date="occurred_on",
        ),
        Source(
            "dilapidated_housing",
            "危房鉴定",
            "snapshot",
            (
                _id(),
                Column("grade", "鉴定等级", "code", True, ("A", "B", "C", "D")),
                Column("assessed_on", "鉴定日期", "date", True),
            ),
            key=("id_number",),
        ),
        Source(
            "legal_aid",
            "法律援助",
            "event",
            (
                _id(),
                Column("case_type", "案件类型", "str", True),
                Column("opened_on", "受理日期", "date", True),
            ),
            key=("id_number", "case_type", "opened_on"),
            event_date="opened_on",
        ),
        Source(
            "outcomes",
            "核查结果回传",
            "event",
            (
                # a lead id, or since version 2 a doubtful-record or re-check id, issued to a township
                Column("lead_id", "线索编号", "case_id", True),
                Column("visited_on", "核查日期", "date", True),
                Column(
                    "outcome",
                    "核查结论",
                    "code",
                    True,
                    (
                        "纳入低保",
                        "纳入特困",
                        "纳入低保边缘",
                        "临时救助",
                        "转介",
                        "维持现状",
                        "退出",
                        "不符合条件",
                        "无法核实",
                    ),
                ),
                Column("referred_to", "转介部门", "str"),
                Column("note", "备注", "str"),
                # the SHA-256 of the portal upload the row came from (an extension of the contract)
                Column("upload_sha256", "上传文件SHA256", "str"),
            ),
            key=("lead_id",),
            event_date="visited_on",
        ),
        Source(
            "cross_region_answers",
            "异地核对结果",
            "event",
            (
                Column("request_id", "请求编号", "str", True),
                _id(),
                Column("item", "核对项目", "code", True, CROSS_REGION_ITEMS),
                Column("found", "是否登记", "code", True, ("是", "否", "无数据")),
                # a balance may be negative, as in `deposits`
                Column("value", "数值", "amount", signed=True),
                Column("detail", "说明", "str"),
                Column("answered_on", "回复日期", "date", True),
                Column("region", "回复地区", "province", True),
            ),
            key=("request_id", "item"),
            event_date="answered_on",
        ),
        Source(
            "cross_region_requests",
            "异地核对请求",
            "event",
            (
                Column("request_id", "请求编号", "str", True),
                Column("region", "请求地区", "province", True),
                _id(),
                Column("name", "姓名", "str", True),
                Column("items", "核对项目", "items", True),
                Column("purpose", "用途", "code", True, ("申请核对", "定期复核")),
                # required by the contract, but a request without it is accepted into the lake and
                # refused by the answering step with its reason (已拒绝 in v_cross_region), so the
                # asking province gets an answer and auditors see the refusal
                Column("authorisation_ref", "授权书编号", "str"),
                Column("reply_by", "回复期限", "date", future=True),
            ),
            key=("request_id",),
        ),
    ]
}

# Ingest order: divisions first, because every other source's codes are checked against it.
SOURCE_NAMES: list[str] = list(SOURCES)

APPLIED_FOR = ("低保", "特困", "低保边缘", "临时救助", "其他")


def _application_column(col: Column) -> Column:
    """A roster column as an application takes it: the system gives a household_id when it is empty,
    and an applicant need not be in any category yet."""
    if col.name in ("household_id", "category"):
        return Column(col.name, col.zh, col.type, False, col.codes, col.bounds, col.signed)
    return col


# An application check (逢救必核, CONTRACT.md "Applications"): one row per member of an applicant
# household, the roster's columns plus the signed authorisation and the assistance applied for.
# Not a monthly delivery: it is read by `jobs/applications/checks.py`, validated by its own suite.
APPLICATION = Source(
    "application",
    "申请家庭",
    "snapshot",
    (
        *(_application_column(c) for c in SOURCES["roster"].columns),
        Column("authorisation_ref", "授权书编号", "str", True),
        Column("applied_for", "申请类别", "code", True, APPLIED_FOR),
    ),
    key=("id_number",),
)
SUITES: dict[str, Source] = {**SOURCES, APPLICATION.name: APPLICATION}

READY = "_READY"  # contract version 2: the data team's mark that a month's folder is complete
