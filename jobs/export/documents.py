"""Documents drawn when asked for: each household's economic-status report (家庭经济状况核查报告)
and printed portrait (家庭画像), from the published build, rendered when an office opens or
downloads them (portal/) or when the data team asks (`safetynet documents`).

The run writes what a township needs at once (its lists, the summary 核查报告汇总.pdf) and lists
every report and portrait in the township manifest (jobs/export/lists.py) with its id (its path in
the folder), kind, household and input digest (`content_sha256`), marked `on_demand`. Here they are
drawn by the code the export used (`Reports.household`, `Portraits.household`) from the rows the
export gathered (`household_reports.gather`, `portraits.gather`), from the rows of that build.
They are drawn only under the conditions the manifest records (`drawn_with`: month, rules
version, drawing code, division names, fonts; jobs/export/drawing.py) and only when a row read
now has the digest its entry records; otherwise the document is refused (`DocumentChanged`),
never drawn with other bytes. The drawn bytes are kept outside the sealed build, in a cache keyed
by the build and its conditions, that may be deleted at any time:

    <home>/cache/documents/<build>/<drawn_with[:16]>/<county>/<township>/<path in the folder>

A township's documents are drawn in one pass: its rows are gathered once, not per document.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import polars as pl

from jobs.export.drawing import conditions, content_hash, differing
from jobs.export.household_reports import ReportFailure, Reports, division_names, gather, rule_titles
from jobs.export.lists import ON_DEMAND
from jobs.export.portraits import Portraits, listed_leads
from jobs.export.portraits import gather as gather_portraits
from jobs.ingest.areas import TOWNSHIP, prefecture_of
from safetynet.errors import SafetynetError
from safetynet.lake import Build, Home
from safetynet.pdf import FontChain, MissingGlyph, find_font
from safetynet.rules import load_rules
from safetynet.workers import pool

CACHE = Path("cache") / "documents"


class NotPublished(SafetynetError):
    """A month with no published build: there is nothing to draw documents from."""


class DocumentChanged(SafetynetError):
    """A document not drawn: what it would be drawn with now (a part of the conditions, or its
    household's rows read now) differs from what its build's manifest records, so its bytes could
    differ from those the digest describes. Carries the township, file and household as a
    ReportFailure does."""

    def __init__(self, build: str, month: str, township: str, entry: dict, parts: list[str]):
        self.made_of = (build, month, township, entry, parts)  # to cross a worker pool (pickle)
        self.household_id, self.township_code, self.file = entry["household_id"], township, entry["file"]
        self.parts = parts
        self.message = (
            f"{township}/{entry['file']}: not drawn: {', '.join(parts)} differ from build {build}'s; "
            f"rerun {month} with today's code and rules, or serve it from a host with the build's fonts"
        )
        super().__init__(self.message)

    def __reduce__(self):
        return DocumentChanged, self.made_of


# what the township is shown when a document is refused (DocumentChanged)
REFUSED = "本文档暂时无法生成（生成条件与本月数据批次不一致），已通知数据管理员。"
HOUSEHOLD_DATA = "this household's data read now"


def listed(manifest: dict) -> list[dict]:
    """A township manifest's documents drawn when asked for."""
    return [f for f in manifest["files"] if f.get(ON_DEMAND)]


def cache_base(root: Path, build: str, drawn_with: dict | None) -> Path:
    """Where a build's drawn documents are kept: outside the sealed build, deletable, keyed by the
    build and the conditions its manifest records."""
    return root / CACHE / build / (drawn_with or {}).get("digest", "unrecorded")[:16]


def target(base: Path, township: str, file: str) -> Path:
    """A document's place under `base` (the cache's build folder, or `--out`); a manifest is ours,
    but never trust a path (portal Folder.path_of's rule)."""
    name = PurePosixPath(file)
    if name.is_absolute() or ".." in name.parts or not TOWNSHIP.fullmatch(township):
        raise FileNotFoundError(f"{township}/{file}")
    return base / township[:6] / township / name


class Renderer:
    """Draws a month's documents from one of its builds (`build`, else the published one); one
    per process and build, holding the fonts, the rules, the divisions' names and the conditions
    they make now (`conditions`)."""

    def __init__(self, h: Home, month: str, fonts: FontChain | None = None, build: Path | None = None):
        found = build or h.build_dir(month)
        if found is None:
            raise NotPublished(f"{month}: no published build in {h.root}")
        h = Home(h.root, Build(month, found))  # the month read from this build, whatever is current
        self.h, self.month = h, month
        self.build = found.name.removeprefix("build=")
        rules = load_rules(month=month)  # the parameters in force in the month, as the export read them
        names = division_names(h, month)
        fonts = fonts or FontChain(find_font())
        self.conditions = conditions(rules, month, names, fonts)
        self.dimensions = rules.dimensions
        self.reports = Reports(rules, month, self.build, names, fonts)
        self.portraits = Portraits(month, self.build, names, fonts, rule_titles(rules))

    def rows(self, township: str, reports: set[str], portraits: set[str]) -> dict[str, tuple[str, dict]]:
        """The rows the documents of a township's households are drawn from, gathered once, by path
        in the township folder: (kind, row)."""
        area = prefecture_of(township)
        found: dict[str, tuple[str, dict]] = {}
        if reports:
            for row in gather(self.h, self.month, reports, area).get(township, []):
                if row["draw"]:
                    found[self.reports.file(row)] = ("report", row)
        cases = self.h.scan("_cases", self.month) if portraits else None
        if cases is not None:
            leads = cases.filter(
                listed_leads()
                & (pl.col("township_code") == township)
                & pl.col("household_id").is_in(sorted(portraits))
            ).collect()
            for p in gather_portraits(self.h, self.month, leads, self.dimensions, area):
                found[p["file"]] = ("portrait", p)
        return found

    def draw(self, kind: str, row: dict) -> bytes:
        return self.reports.household(row) if kind == "report" else self.portraits.household(row)

    def township(
        self, township: str, entries: list[dict], drawn_with: dict | None
    ) -> Iterator[tuple[dict, bytes | ReportFailure | DocumentChanged]]:
        """Each entry's bytes, or why it was not drawn: the conditions now differ from those its
        manifest records (`drawn_with`) or its row read now from its digest (DocumentChanged), a
        character no font has, or no rows."""
        parts = differing(drawn_with, self.conditions)
        if parts:
            for e in entries:
                yield e, DocumentChanged(self.build, self.month, township, e, parts)
            return
        kinds = {"report": set(), "portrait": set()}
        for e in entries:
            kinds[e["kind"]].add(e["household_id"])
        rows = self.rows(township, kinds["report"], kinds["portrait"])
        for e in entries:
            found = rows.get(e["file"])
            if found is None:  # a manifest entry the build has no rows for: never expected
                message = f"《{e['file']}》未生成：数据批次 {self.build} 中没有该户的数据。"
                yield e, ReportFailure(e["household_id"], township, e["file"], message)
                continue
            if content_hash(self.conditions["digest"], found[1]) != e["content_sha256"]:
                yield e, DocumentChanged(self.build, self.month, township, e, [HOUSEHOLD_DATA])
                continue
            try:
                yield e, self.draw(*found)
            except MissingGlyph as exc:
                yield e, ReportFailure(e["household_id"], township, e["file"], str(exc))

    def one(self, kind: str, township: str, household: str) -> tuple[str, bytes] | None:
        """One household's document, drawn now: (path in the township folder, bytes), or None
        when the household has none in that township. Raises MissingGlyph."""
        wanted = {household}
        rows = self.rows(township, *(wanted if k == kind else set() for k in ("report", "portrait")))
        mine = [(file, row) for file, (k, row) in rows.items() if k == kind]
        if not mine:
            return None
        file, row = mine[0]
        return file, self.draw(kind, row)


def write_atomic(path: Path, data: bytes) -> None:
    """Writes `path` by a temporary file and a rename: a reader sees all of it or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def cached(base: Path, township: str, entries: list[dict]) -> dict[str, bytes]:
    """The entries' bytes already under `base`, by file (one deleted meanwhile is simply absent)."""
    found = {}
    for e in entries:
        try:
            found[e["file"]] = target(base, township, e["file"]).read_bytes()
        except FileNotFoundError:
            continue
    return found


def fill(
    renderer: Renderer, base: Path, township: str, entries: list[dict], drawn_with: dict | None
) -> tuple[dict[str, bytes], list[ReportFailure | DocumentChanged], int]:
    """The entries' bytes: those under `base`, the others drawn now in one pass (under the
    conditions `drawn_with` the manifest records) and written there; (bytes by file, the failures,
    how many were drawn now). Every entry has bytes or a failure."""
    made = cached(base, township, entries)
    failures, drawn = [], 0
    missing = [e for e in entries if e["file"] not in made]
    if missing:
        for entry, result in renderer.township(township, missing, drawn_with):
            if not isinstance(result, bytes):
                failures.append(result)
                continue
            write_atomic(target(base, township, entry["file"]), result)
            made[entry["file"]] = result
            drawn += 1
    failed = {f.file for f in failures}
    lost = [e["file"] for e in entries if e["file"] not in made and e["file"] not in failed]
    if lost:
        raise SafetynetError(f"{township}: documents neither drawn nor refused: {', '.join(lost)}")
    return made, failures, drawn


# --- a month's documents, for the data team (`safetynet documents`) ------------------------------


def manifests(h: Home, month: str, township: str | None = None) -> list[Path]:
    """The month's township manifests in its published build (one township's with `township`)."""
    found = h.build_dir(month)
    if found is None:
        raise NotPublished(f"{month}: no published build in {h.root}")
    if township is not None and not TOWNSHIP.fullmatch(township):
        raise SafetynetError(f"--township {township!r}: a township code is 9 digits")
    pattern = f"{township[:6]}/{township}/manifest.json" if township else "*/*/manifest.json"
    return sorted((found / "exports").glob(pattern))


_renderer: Renderer | None = None


def _start(root: str, month: str, build: str) -> None:
    global _renderer
    _renderer = Renderer(Home(Path(root)), month, build=Path(build))


def _fill(job: tuple[str, list[dict], str, dict | None]) -> tuple[int, list[ReportFailure]]:
    township, entries, base, drawn_with = job
    _, failures, drawn = fill(_renderer, Path(base), township, entries, drawn_with)
    return drawn, failures


def render_month(
    root: Path, month: str, township: str | None = None, out: Path | None = None, workers: int = 1
) -> dict:
    """Draws a month's documents (every township's, or one's) from its published build into the
    cache, or `out`; the counts, the seconds and the failures. Townships with a document not yet
    drawn are shared among `workers` processes when there are several (safetynet.workers)."""
    started = time.perf_counter()
    h = Home(root)
    found = manifests(h, month, township)
    if township and not found:
        raise NotPublished(f"{month}: township {township} has no folder in the published build")
    build = h.build_dir(month)
    read = {m.parent.name: json.loads(m.read_text(encoding="utf-8")) for m in found}
    listed_by = {t: listed(m) for t, m in read.items()}
    bases = {
        t: out
        if out is not None
        else cache_base(root, build.name.removeprefix("build="), m.get("drawn_with"))
        for t, m in read.items()
    }
    jobs = [
        (t, entries, str(bases[t]), read[t].get("drawn_with"))
        for t, entries in listed_by.items()
        if any(not target(bases[t], t, e["file"]).is_file() for e in entries)
    ]
    start = (str(root), month, str(build))
    if workers <= 1 or len(jobs) < 2:
        if jobs:
            _start(*start)
        done = [_fill(job) for job in jobs]
    else:
        with pool(min(workers, len(jobs)), _start, start) as executor:
            done = list(executor.map(_fill, jobs))
    return {
        "month": month,
        "townships": len(found),
        "documents": sum(len(e) for e in listed_by.values()),
        "drawn": sum(d[0] for d in done),
        "failures": [f for d in done for f in d[1]],
        "seconds": round(time.perf_counter() - started, 2),
        "folder": str(out if out is not None else next(iter(bases.values()), cache_base(root, "", None))),
    }
