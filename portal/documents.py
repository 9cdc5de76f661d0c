"""The documents the portal shows or draws on demand: a folder's file tables, an area's overview, a
listed lead's portrait (page and PDF), a household's economic-status report. What a commit holds
never changes, so each is made once per process and cached by the commit.
The reports and portraits a manifest lists are drawn on first request and kept in the home's
cache (jobs/export/documents.py)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import polars as pl
from markupsafe import Markup

from jobs.export import overview, portraits
from jobs.export.documents import Renderer, cache_base, fill
from jobs.export.documents import listed as listed_documents
from jobs.export.household_reports import REPORT_DIR
from jobs.publish.sealed import connect
from portal.files import Folder, Library, drawn_folder, listed_cases
from portal.pages import TEMPLATES, NotFound
from safetynet.errors import SafetynetError
from safetynet.lake import Home, pruned_marker
from safetynet.pdf import FontChain, find_font
from safetynet.rules import load_rules

PORTRAITS = portraits.PORTRAIT_DIR + "/"


class DocumentFailed(SafetynetError):
    """A listed document that could not be drawn (its message names the household and the
    character's code point, for the township)."""


RADAR = (320, 250, 150, 122, 86)  # the portal's radar chart: width, height, centre x, centre y, radius


@lru_cache(maxsize=1)
def fonts() -> FontChain:
    """The font chain, read once per portal process (0.4 s) for the documents drawn on demand."""
    return FontChain(find_font())


@lru_cache(maxsize=12)
def rules(month: str | None):
    """The rules in force in `month` (each parameter's value dated at or before its first day)."""
    return load_rules(month=month)


def published_rules(home: Path):
    """The rules of the latest published month: an application is checked against its data."""
    catalog = Home(home).catalog
    return rules(max(catalog) if catalog else None)


def commit_name(h: Home) -> str:
    """What names a commit's data in the caches here: its sequence number, and the prune marker
    once a prune has removed builds (`safetynet.lake.pruned_marker`)."""
    marker = pruned_marker(h.root)
    return f"{h.commit}+pruned{marker}" if marker else str(h.commit)


@lru_cache(maxsize=4)
def renderer(root: Path, commit: str, month: str) -> Renderer:
    """The month's document renderer as of a commit, made once per process (fonts, rules, names)."""
    return Renderer(Home(root), month, fonts())


@lru_cache(maxsize=512)
def portrait_of(root: Path, commit: str, month: str, township: str, household: str) -> dict | None:
    """A listed household's portrait as of a commit (a commit never changes), as the export gathers
    it, around its lead case, else its first listed doubtful record or re-check draw."""
    h = Home(root)
    cases = h.scan("_cases", month) if h.build_dir(month) is not None else None
    if cases is None:
        return None
    mine = (
        cases.filter(
            pl.col("sheet").is_not_null()
            & (pl.col("township_code") == township)
            & (pl.col("household_id") == household)
        )
        .sort(pl.col("kind") != "lead", "sheet", "rank", "case_id")
        .head(1)
        .collect()
    )
    found = portraits.gather(h, month, mine, rules(month).dimensions)
    return found[0] if found else None


def draw_now(h: Home, kind: str, month: str, township: str, household: str) -> tuple[str, bytes] | None:
    """A portrait or economic-status report drawn now, by the code and from the rows the export
    gathers (jobs/export/documents.py), so it has the bytes the export would have written; (path in
    the township folder, bytes)."""
    return renderer(h.root, commit_name(h), month).one(kind, township, household)


def _base(root: Path, folder: Folder) -> Path:
    build = folder.path.parent.parent.parent.name.removeprefix("build=")  # exports/<county>/<township>
    return cache_base(root, build)


def served(h: Home, folder: Folder, entry: dict) -> bytes:
    """A document the township manifest lists as drawn on demand: from the cache, else drawn now
    and cached. Raises DocumentFailed (its message names the household and the code point) when a
    character has no glyph in any installed font."""
    made, failures, _ = fill(
        renderer(h.root, commit_name(h), folder.month), _base(h.root, folder), folder.township, [entry]
    )
    if entry["file"] not in made:
        raise DocumentFailed(failures[0].message)
    return made[entry["file"]].read_bytes()


def rendered(h: Home, folder: Folder) -> dict[str, Path]:
    """Every document the township manifest lists as drawn on demand, drawn in one pass (the
    township's rows gathered once) into the cache: each one's path, by file."""
    r = renderer(h.root, commit_name(h), folder.month)
    made, _, _ = fill(r, _base(h.root, folder), folder.township, listed_documents(folder.manifest))
    return made


def radar_svg(dims: list[dict]) -> dict:
    """The inline SVG radar chart's shapes: rings, spokes, the household's and the township median's
    polygons, and the labels (the same geometry as the PDF's, jobs/export/portraits.radar)."""
    _, _, cx, cy, r = RADAR
    n = len(dims)

    def path(values) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in portraits.radar(values, cx, cy, r))

    labels = [
        {"x": round(x, 1), "y": round(y + 4, 1), "text": d["label"], "score": portraits.points(d["score"])}
        for d, (x, y) in zip(dims, portraits.radar([1.22] * n, cx, cy, r), strict=True)
    ]
    return {
        "size": RADAR[:2],
        "rings": [path([ring] * n) for ring in (0.25, 0.5, 0.75, 1.0)],
        "spokes": [(round(x, 1), round(y, 1)) for x, y in portraits.radar([1.0] * n, cx, cy, r)],
        "centre": (cx, cy),
        "household": path(portraits.shares(dims, "score")),
        "median": path(portraits.shares(dims, "median")),
        "labels": labels,
    }


@lru_cache(maxsize=4096)
def files_table(path: Path, month: str, township: str) -> Markup:
    """A folder's file tables (names, rows, bytes, SHA-256, links), rendered once per build folder:
    a build never changes, and 100 escaped, quoted links per page were most of a page's cost."""
    folder = Library.folder_at(path, month, township)
    return Markup(
        TEMPLATES.get_template("files_table.html").render(
            folder=folder,
            lists=[f for f in folder.files if "/" not in f["file"]],
            reports=[f for f in folder.files if "/" in f["file"] and not f["file"].startswith(PORTRAITS)],
            portraits=[f for f in folder.files if f["file"].startswith(PORTRAITS)],
        )
    )


@lru_cache(maxsize=256)
def overview_html(root: Path, commit: str, month: str, area: str, names: tuple) -> Markup:
    """An area's overview as of a commit, rendered once (a commit never changes)."""
    with connect(root) as con:
        data = overview.gather(con, month, area, rules(month))
    return Markup(overview.render(data, dict(names), rules(month), standalone=False))


def listed(folder: Folder) -> tuple[dict, ...]:
    return listed_cases(folder.path.parent.parent.parent, folder.township)


def document(folder: Folder, drawn: Folder, prefix: str) -> str | None:
    """The address of a household's document (`prefix` = folder and household id), published
    with the month or drawn on demand; None when it is neither."""
    for route, where in (("download", folder), ("drawn", drawn)):
        entry = next((e for e in where.files if e["file"].startswith(prefix)), None)
        if entry is not None:
            return f"/{route}/{folder.month}/{folder.township}/{quote(entry['file'])}"
    return None


def on_demand(home: Path, folder: Folder, states: dict) -> dict:
    """The folder page's documents on demand: every listed lead's portrait, the reports of the
    listed doubtful-record and re-check households not drawn at export, the addendum."""
    drawn = drawn_folder(home, folder)
    leads, reports, seen = [], [], set()
    for case in listed(folder):
        hid = case["household_id"]
        if case["kind"] == "lead":
            pdf = document(folder, drawn, f"{portraits.PORTRAIT_DIR}/{hid}_")
            leads.append({**case, "pdf": pdf})
        elif case["reportable"] and hid not in seen:
            seen.add(hid)
            pdf = document(folder, drawn, f"{REPORT_DIR}/{hid}_")
            if pdf is None or pdf.startswith("/drawn/"):
                reports.append({**case, "pdf": pdf})
    return {"leads": leads, "reports": reports, "drawn": drawn, "states": states}


def lead_case(folder: Folder, household: str) -> dict:
    """A lead listed in the folder for the household, else 404."""
    case = next((c for c in listed(folder) if c["kind"] == "lead" and c["household_id"] == household), None)
    if case is None:
        raise NotFound()
    return case


def listed_case(folder: Folder, household: str) -> dict:
    """The household's case listed in the folder, its lead first, else 404: any row of the
    worklist opens its household's portrait."""
    mine = [c for c in listed(folder) if c["household_id"] == household]
    if not mine:
        raise NotFound()
    return next((c for c in mine if c["kind"] == "lead"), mine[0])


def reportable(folder: Folder, household: str) -> bool:
    """The household is a listed doubtful-record or re-check case with a report to draw."""
    return any(
        c["kind"] != "lead" and c["reportable"] and c["household_id"] == household for c in listed(folder)
    )
