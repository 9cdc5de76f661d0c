"""Documents drawn when asked for: each household's economic-status report (家庭经济状况核查报告)
and printed portrait (家庭画像), from the published build, rendered when an office opens or
downloads them (portal/) or when the data team asks (`safetynet documents`).

The run writes what a township needs at once (its lists, the summary 核查报告汇总.pdf) and lists
every report and portrait in the township manifest (jobs/export/lists.py) with its id (its path in
the folder), kind, household and input digest (`content_sha256`), marked `on_demand`. Here they are
drawn by the code the export used (`Reports.household`, `Portraits.household`) from the rows the
export gathered (`household_reports.gather`, `portraits.gather`), so the bytes are the same
whenever, and in whichever process, they are drawn. The drawn bytes are kept outside the sealed
build, in a cache that may be deleted at any time:

    <home>/cache/documents/<build>/<county>/<township>/<path in the township folder>

A township's documents are drawn in one pass: its rows are gathered once, not per document.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from jobs.export.household_reports import ReportFailure, Reports, division_names, gather, rule_titles
from jobs.export.lists import ON_DEMAND
from jobs.export.portraits import Portraits, listed_leads
from jobs.export.portraits import gather as gather_portraits
from jobs.ingest.areas import prefecture_of
from safetynet.errors import SafetynetError
from safetynet.lake import Home
from safetynet.pdf import FontChain, MissingGlyph, find_font
from safetynet.rules import load_rules
from safetynet.workers import pool

CACHE = Path("cache") / "documents"


class NotPublished(SafetynetError):
    """A month with no published build: there is nothing to draw documents from."""


def listed(manifest: dict) -> list[dict]:
    """A township manifest's documents drawn when asked for."""
    return [f for f in manifest["files"] if f.get(ON_DEMAND)]


def cache_base(root: Path, build: str) -> Path:
    """Where a build's drawn documents are kept: outside the sealed build, deletable."""
    return root / CACHE / build


def target(base: Path, township: str, file: str) -> Path:
    """A document's place under `base` (the cache's build folder, or `--out`)."""
    return base / township[:6] / township / file


class Renderer:
    """Draws a month's documents from its published build (`h`); one per process, holding the
    fonts, the rules and the divisions' names."""

    def __init__(self, h: Home, month: str, fonts: FontChain | None = None):
        found = h.build_dir(month)
        if found is None:
            raise NotPublished(f"{month}: no published build in {h.root}")
        self.h, self.month = h, month
        self.build = found.name.removeprefix("build=")
        rules = load_rules(month=month)  # the parameters in force in the month, as the export read them
        names = division_names(h, month)
        fonts = fonts or FontChain(find_font())
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

    def township(self, township: str, entries: list[dict]) -> Iterator[tuple[dict, bytes | ReportFailure]]:
        """Each entry's bytes, or why it was not drawn (a character no font has, or no rows)."""
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


def fill(
    renderer: Renderer, base: Path, township: str, entries: list[dict]
) -> tuple[dict[str, Path], list[ReportFailure], int]:
    """Draws the entries not yet under `base` in one pass; (each drawn entry's path by file, the
    failures, how many were drawn now)."""
    missing = [e for e in entries if not target(base, township, e["file"]).is_file()]
    failures, drawn = [], 0
    if missing:
        for entry, made in renderer.township(township, missing):
            if isinstance(made, ReportFailure):
                failures.append(made)
                continue
            write_atomic(target(base, township, entry["file"]), made)
            drawn += 1
    paths = {e["file"]: target(base, township, e["file"]) for e in entries}
    return {f: p for f, p in paths.items() if p.is_file()}, failures, drawn


# --- a month's documents, for the data team (`safetynet documents`) ------------------------------


def manifests(h: Home, month: str, township: str | None = None) -> list[Path]:
    """The month's township manifests in its published build (one township's with `township`)."""
    found = h.build_dir(month)
    if found is None:
        raise NotPublished(f"{month}: no published build in {h.root}")
    pattern = f"{township[:6]}/{township}/manifest.json" if township else "*/*/manifest.json"
    return sorted((found / "exports").glob(pattern))


_renderer: Renderer | None = None


def _start(root: str, month: str) -> None:
    global _renderer
    _renderer = Renderer(Home(Path(root)), month)


def _fill(job: tuple[str, list[dict], str]) -> tuple[int, list[ReportFailure]]:
    township, entries, base = job
    _, failures, drawn = fill(_renderer, Path(base), township, entries)
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
    base = out if out is not None else cache_base(root, h.build_dir(month).name.removeprefix("build="))
    listed_by = {m.parent.name: listed(json.loads(m.read_text(encoding="utf-8"))) for m in found}
    jobs = [
        (t, entries, str(base))
        for t, entries in listed_by.items()
        if any(not target(base, t, e["file"]).is_file() for e in entries)
    ]
    if workers <= 1 or len(jobs) < 2:
        if jobs:
            _start(str(root), month)
        done = [_fill(job) for job in jobs]
    else:
        with pool(min(workers, len(jobs)), _start, (str(root), month)) as executor:
            done = list(executor.map(_fill, jobs))
    return {
        "month": month,
        "townships": len(found),
        "documents": sum(len(e) for e in listed_by.values()),
        "drawn": sum(d[0] for d in done),
        "failures": [f for d in done for f in d[1]],
        "seconds": round(time.perf_counter() - started, 2),
        "folder": str(base),
    }
