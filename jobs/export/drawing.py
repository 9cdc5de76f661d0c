"""What a household report or portrait is drawn with besides its rows (issue 34, item 1): the
month, the rules version, the drawing code, the divisions' names and the fonts. The export puts
them in each township manifest (`drawn_with`), and a document drawn when asked for is drawn only
under the same conditions (jobs/export/documents.py), so that its bytes never differ from what
the build's digest describes.

The drawing version covers only the files that draw documents, not all of jobs/ as the code
version does: a change elsewhere does not touch the documents. The fonts are named by each
file's name and SHA-256, so another font on another host is told apart.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from safetynet.pdf import FontChain
from safetynet.rules import RuleSet

ROOT = Path(__file__).resolve().parents[2]
# the files that draw documents, and what they import from safetynet for text
DRAWING_FILES = (
    "jobs/export/household_reports.py",
    "jobs/export/portraits.py",
    "jobs/export/documents.py",
    "jobs/export/drawing.py",
    "jobs/export/returnable.py",
    "safetynet/pdf.py",
    "safetynet/ids.py",
    "safetynet/months.py",
    "safetynet/concepts.py",
)
# each part's name as the data team reads it when a document is refused
PARTS = {
    "month": "month",
    "rules_version": "rules version",
    "drawing_version": "drawing code",
    "division_names_sha256": "division names",
    "fonts": "fonts",
}


def content_hash(*parts: object) -> str:
    return hashlib.sha256(
        json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
    ).hexdigest()


@lru_cache(maxsize=1)
def drawing_version() -> str:
    """SHA-256 over the files that draw documents, by name and bytes."""
    digest = hashlib.sha256()
    for name in DRAWING_FILES:
        digest.update(name.encode() + b"\0" + (ROOT / name).read_bytes() + b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=16)
def _font_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def font_identity(fonts: FontChain) -> list[dict]:
    """Each font of the chain, in order: its file name and SHA-256."""
    return [{"file": Path(p).name, "sha256": _font_digest(str(p))} for p in fonts.paths]


def conditions(rules: RuleSet, month: str, names: dict[str, str], fonts: FontChain) -> dict:
    """The conditions a month's documents are drawn under, with their digest (`digest`): what
    the manifest's `drawn_with` holds."""
    parts = {
        "month": month,
        "rules_version": rules.version,
        "drawing_version": drawing_version(),
        "division_names_sha256": content_hash(sorted(names.items())),
        "fonts": font_identity(fonts),
    }
    return {"digest": content_hash(parts), **parts}


def differing(recorded: dict | None, now: dict) -> list[str]:
    """The parts of the conditions that differ from those recorded in a manifest, by name."""
    if not recorded:
        return ["drawing conditions (not recorded in this build's manifest)"]
    return [label for key, label in PARTS.items() if recorded.get(key) != now.get(key)]
