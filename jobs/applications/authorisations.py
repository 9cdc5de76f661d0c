"""The applicant's signed authorisation (授权书) uploaded with an application check: a check centre
makes no check without one (DOMAIN.md, "Checks across regions"), so a typed reference is not enough.

The file is a scan or a photo: PDF, JPG or PNG, its type read from its first bytes (a name says
nothing), at least `authorisation_min_bytes` (a scanned or photographed page; a type's first bytes
alone are no signed authorisation) and at most `authorisation_max_bytes` (rules/portal/portal.yaml).
It is kept once under its SHA-256, next to the application log, readable by the owner and group only
(jobs/__init__.py), and each log line names it (v_application_checks):

    <home>/lake/_applications/authorisations/<sha256>.<pdf|jpg|png>
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from safetynet.rules import PortalSettings

FOLDER = "_applications/authorisations"  # under the lake
# the magic bytes of each accepted type (ISO 32000 "%PDF-", JFIF/Exif SOI marker, PNG signature)
MAGIC = {b"%PDF-": "pdf", b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png"}


@dataclass(frozen=True)
class Authorisation:
    name: str  # as uploaded
    data: bytes
    kind: str  # pdf | jpg | png

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def file(self) -> str:
        """Its path under the lake."""
        return f"{FOLDER}/{self.sha256}.{self.kind}"


def kind_of(data: bytes) -> str | None:
    return next((kind for magic, kind in MAGIC.items() if data.startswith(magic)), None)


def screened(upload: tuple[str, bytes] | None, settings: PortalSettings) -> Authorisation | str:
    """The upload as an Authorisation, or what is wrong with it (in Chinese, for the office)."""
    if upload is None or (not upload[0] and not upload[1]):
        return "未上传申请人签署的授权书（PDF、JPG 或 PNG 扫描件或照片）；没有授权书不能核对"
    name, data = Path(upload[0] or "授权书").name[:200], upload[1]
    if not data:
        return f"授权书文件是空的：{name}"
    if len(data) > settings.authorisation_max_bytes:
        limit = settings.authorisation_max_bytes / 1_000_000
        return f"授权书文件超过 {limit:g} MB：{name}，请压缩或降低扫描分辨率"
    kind = kind_of(data)
    if kind is None:
        return f"授权书应为 PDF、JPG 或 PNG 文件（按文件内容判断，不看扩展名）：{name} 不是"
    if len(data) < settings.authorisation_min_bytes:
        least = settings.authorisation_min_bytes / 1000
        return (
            f"授权书文件太小（{len(data)} 字节）：{name} 不是签署的授权书的扫描件或照片（至少 {least:g} KB）"
        )
    return Authorisation(name, data, kind)


def keep(lake: Path, authorisation: Authorisation) -> str:
    """The file, written once under its SHA-256 (a second upload of the same bytes is the same
    file), read-only; returns its path under the lake."""
    path = lake / authorisation.file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")  # one per writer: threads share a pid
        tmp.write_bytes(authorisation.data)
        tmp.chmod(0o440)  # read-only, and like all the home holds, never for other accounts
        os.replace(tmp, path)
    return authorisation.file
