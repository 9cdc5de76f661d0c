"""The decision document (社会救助审批表): one A4 PDF per approved decision, drawn when an office
asks for it (portal/routes/proposals.py) from the decision log's steps of its proposal
(CONTRACT.md "Assistance decisions": proposed, returned, approved), with safetynet/pdf.py.

A decision's steps never change once it is approved, so the PDF is drawn once and kept in a cache
keyed by the decision and the digest of its steps, that may be deleted at any time:

    <home>/cache/approval_forms/<county>/<township>/<decision_id>_<digest[:16]>.pdf
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

from safetynet.errors import SafetynetError
from safetynet.ids import mask_id
from safetynet.pdf import Document, Flow, FontChain

CACHE = Path("cache") / "approval_forms"
EVENTS = {"proposed": "乡镇提出", "returned": "县级退回", "approved": "批准"}
ROLES = {"township": "乡镇（街道）", "county": "县（区）民政局", "admin": "数据组"}


class NotApproved(SafetynetError):
    """Steps without an approval: there is no decision to draw."""


def masked(id_number: str) -> str:
    """An ID number as every document prints it (`safetynet.ids.mask_id`): 430101********002X."""
    return mask_id(id_number)


def _yuan(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _when(at: str) -> str:
    return at[:16].replace("T", " ")


def _who(step: dict) -> str:
    return f"{step['account']}（{ROLES.get(step['role'], step['role'])}）"


def digest(steps: list[dict]) -> str:
    """The steps' digest: what the document is drawn from."""
    return hashlib.sha256(json.dumps(steps, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def decision_rows(approved: dict, names: dict[str, str]) -> list[list[str]]:
    """The decision as a two-column table: what was decided, for whom, from when."""
    township = approved["township_code"]
    county = approved["county_code"]
    return [
        ["决定编号", approved["decision_id"]],
        ["申请编号", f"{approved['proposal_id']}（第 {approved['version']} 版）"],
        ["县（区）", f"{names.get(county, county)}（{county}）"],
        ["乡镇（街道）", f"{names.get(township, township)}（{township}）"],
        ["户编号 / 案件编号", f"{approved['household_id']} / {approved['case_id']}"],
        ["救助类型", approved["kind"] + ("（先行救助，乡镇直接批准）" if approved["self_approved"] else "")],
        ["纳入类别", approved["category"] or "不纳入救助类别"],
        ["救助覆盖的成员", "、".join(masked(i) for i in approved["id_numbers"] or []) or "—"],
        ["每月救助金额（元）", _yuan(approved["monthly_amount"])],
        ["一次性救助金额（元）", _yuan(approved["one_off_amount"])],
        ["生效月份", approved["effective_from"] or "—"],
        ["理由", approved["reason"] or "—"],
    ]


def draw(steps: list[dict], names: dict[str, str], fonts: FontChain) -> bytes:
    """The 审批表 of a proposal's steps, the last of them its approval."""
    approved = next((s for s in steps if s["event"] == "approved"), None)
    if approved is None:
        raise NotApproved(f"{steps[0]['proposal_id'] if steps else '?'}: not approved")
    doc = Document(fonts, title=f"社会救助审批表 {approved['decision_id']}", author="safetynet")
    flow = Flow(doc, footer=f"决定编号 {approved['decision_id']}　含个人信息，仅限办理救助使用")
    flow.title("社会救助审批表")
    flow.table(["项目", "内容"], decision_rows(approved, names), [1, 3], size=9.5)
    flow.heading("办理经过")
    rows = [
        [_when(s["at"]), EVENTS[s["event"]], str(s["version"]), _who(s), s["reason"] or ""] for s in steps
    ]
    flow.table(["时间", "事项", "版本", "账户", "说明"], rows, [2.2, 1.4, 0.8, 2.4, 5])
    flow.heading("审批意见")
    when = _when(approved["at"])
    flow.paragraph(f"经审核，同意{approved['kind']}。批准人：{_who(approved)}　批准时间：{when}")
    flow.space(24)
    flow.paragraph("经办人（签字）：＿＿＿＿＿＿　　审核人（签字）：＿＿＿＿＿＿　　（盖章）　　年　月　日")
    flow.finish()
    return doc.render()


def cached(root: Path, approved: dict, steps: list[dict]) -> Path:
    township = approved["township_code"]
    name = f"{approved['decision_id']}_{digest(steps)[:16]}.pdf"
    return root / CACHE / township[:6] / township / name


def served(root: Path, steps: list[dict], names: dict[str, str], fonts: FontChain) -> tuple[str, bytes]:
    """A decision's 审批表: from the cache, else drawn now and kept (written aside and renamed, so
    two offices asking at once never read half a file). (the name the audit trail gives it, bytes)"""
    approved = next((s for s in steps if s["event"] == "approved"), None)
    if approved is None:
        raise NotApproved(f"{steps[0]['proposal_id'] if steps else '?'}: not approved")
    path = cached(root, approved, steps)
    file = f"审批表/{approved['decision_id']}.pdf"
    if path.is_file():
        return file, path.read_bytes()
    data = draw(steps, names, fonts)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return file, data
