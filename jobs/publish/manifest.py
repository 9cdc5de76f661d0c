"""The run manifest of a month's build (`manifest.json`) and the comparison of two builds.

The manifest says what the month is made of (inputs with SHA-256, rule, suite and code versions,
the previous month's build: together the content id), how many rows each stage produced, the
leads and doubtful records against the previous month, and every file of the build with its
SHA-256. It holds no run id and no clock time, so the same inputs give the same manifest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl

from safetynet.lake import Home, sha256_file, write_json
from safetynet.months import previous_month

COUNTED = {
    "households": "_household_month",
    "leads": "_leads",
    "doubtful_records": "_doubtful",
    "unchecked_households": "_unchecked",
    "recheck_sample": "_recheck",
}


def _rows(rows: pl.LazyFrame | None) -> int | None:
    return rows.select(pl.len()).collect().item() if rows is not None else None


def counts(home: Home, month: str) -> dict[str, int | None]:
    out = {name: _rows(home.scan(d, month)) for name, d in COUNTED.items()}
    leads = home.scan("_leads", month)
    out["leads_pushed"] = _rows(leads.filter(pl.col("pushed")) if leads is not None else None)
    # pushed, but waiting for its township's capacity (jobs/cases/capacity.py); none before issue 30
    queued = leads is not None and "queued" in leads.collect_schema()
    out["leads_queued"] = _rows(leads.filter(pl.col("queued").fill_null(False))) if queued else None
    return out


def write(home: Home, month: str) -> dict:
    build = home.building.path
    meta = json.loads((build / "build.json").read_text(encoding="utf-8"))
    record = json.loads((build / "record.json").read_text(encoding="utf-8"))
    deliveries = pl.concat([pl.read_parquet(p) for p in sorted((build / "_deliveries").glob("*.parquet"))])
    now = counts(home, month)
    before = counts(home, previous_month(month))
    files = sorted(
        p for p in build.rglob("*") if p.is_file() and p.relative_to(build).as_posix() != "manifest.json"
    )
    known = _township_hashes(build)
    manifest = {
        "month": month,
        "build": meta["build"],
        "made_of": {
            k: meta[k] for k in ("inputs", "previous", "rule_version", "suite_version", "code_version")
        },
        "status": record["status"],
        "rows": {
            "ingest": {
                r["source"]: {k: r[k] for k in ("status", "rows_delivered", "accepted", "quarantined")}
                for r in deliveries.sort("source").iter_rows(named=True)
            },
            **now,
            # exports/<county>/<township>/, not exports/_decisions/ (jobs/decisions/)
            "township_folders": sum(1 for p in (build / "exports").glob("*/*") if p.parent.name[0] != "_"),
            "township_files": sum(1 for p in files if p.relative_to(build).parts[0] == "exports"),
        },
        "against_previous_month": {
            k: {"previous": before[k], "now": now[k]}
            for k in ("leads", "leads_pushed", "leads_queued", "doubtful_records")
        },
        "files": [
            {
                "path": p.relative_to(build).as_posix(),
                "bytes": p.stat().st_size,
                "sha256": known.get(p.relative_to(build).as_posix()) or sha256_file(p),
            }
            for p in files
        ],
    }
    write_json(manifest, build / "manifest.json")
    return manifest


def _township_hashes(build: Path) -> dict[str, str]:
    """SHA-256 of the township files, from the township manifests `export` has just written (the
    reports are most of a build's bytes: hashing them twice cost about 15 s at 2 M households)."""
    out = {}
    for path in sorted((build / "exports").glob("*/*/manifest.json")):
        folder = path.parent.relative_to(build).as_posix()
        for f in json.loads(path.read_text(encoding="utf-8"))["files"]:
            if "sha256" in f:  # not a document drawn when asked for (jobs/export/documents.py)
                out[f"{folder}/{f['file']}"] = f["sha256"]
    return out


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def same(a: Path, b: Path) -> bool:
    return load(a)["files"] == load(b)["files"]


NOTE = (
    "documents (reports, portraits, lists, township manifests) print the build id: a new build "
    "changes every document's bytes, so documents are compared by their content (what they are "
    "drawn from, as the township manifest records it); documents_same_content counts those whose "
    "bytes differ only so"
)


def compare(old: Path, new: Path) -> dict:
    """Two builds of a month: inputs that changed, files added, removed or changed, and for each
    changed Parquet file the rows found only in one of them. A document whose content is unchanged
    (the township manifests' `content_sha256`) is not counted as changed for its build id."""
    a, b = load(old / "manifest.json"), load(new / "manifest.json")
    inputs_a = {(f["source"], f["file"]): f["sha256"] for f in a["made_of"]["inputs"]}
    inputs_b = {(f["source"], f["file"]): f["sha256"] for f in b["made_of"]["inputs"]}
    files_a = {f["path"]: f["sha256"] for f in a["files"]} | _on_demand(old)
    files_b = {f["path"]: f["sha256"] for f in b["files"]} | _on_demand(new)
    differ = sorted(p for p in files_a.keys() & files_b.keys() if files_a[p] != files_b[p])
    contents_a, contents_b = _contents(old), _contents(new)
    same_content = [p for p in differ if p in contents_a and contents_a[p] == contents_b.get(p)]
    changed = [p for p in differ if p not in same_content]
    rows = {}
    for path in changed:
        if path.endswith(".parquet"):
            rows[path] = _row_diff(old / path, new / path)
    return {
        "month": b["month"],
        "old": a["build"],
        "new": b["build"],
        "inputs_changed": sorted(
            f"{s}/{f}"
            for (s, f) in inputs_a.keys() | inputs_b.keys()
            if inputs_a.get((s, f)) != inputs_b.get((s, f))
        ),
        "versions_changed": sorted(
            k
            for k in ("rule_version", "suite_version", "code_version", "previous")
            if a["made_of"][k] != b["made_of"][k]
        ),
        "files_added": sorted(files_b.keys() - files_a.keys()),
        "files_removed": sorted(files_a.keys() - files_b.keys()),
        "files_changed": changed,
        "rows": rows,
        "files_same": len([p for p in files_a.keys() & files_b.keys() if files_a[p] == files_b[p]]),
        "documents_same_content": len(same_content),
        "note": NOTE,
    }


def _on_demand(build: Path) -> dict[str, str]:
    """Build path -> "content:<input digest>" of every document a township manifest lists as drawn
    when asked for: not in the build, so compared by what it is drawn from."""
    out = {}
    for path in sorted((build / "exports").glob("*/*/manifest.json")):
        folder = path.parent.relative_to(build).as_posix()
        for f in json.loads(path.read_text(encoding="utf-8"))["files"]:
            if f.get("on_demand"):
                out[f"{folder}/{f['file']}"] = "content:" + f["content_sha256"]
    return out


def _contents(build: Path) -> dict[str, str]:
    """Build path -> content hash of every document a township manifest gives one for, and of each
    township manifest itself: its files by content, without the build id it names."""
    out = {}
    for path in sorted((build / "exports").glob("*/*/manifest.json")):
        folder = path.parent.relative_to(build).as_posix()
        township = json.loads(path.read_text(encoding="utf-8"))
        listed = []
        for f in township.get("files", []):
            if f.get("content_sha256"):
                out[f"{folder}/{f['file']}"] = f["content_sha256"]
                listed.append({"file": f["file"], "content_sha256": f["content_sha256"]})
            else:
                listed.append(f)
        rest = {k: v for k, v in township.items() if k not in ("build", "revision_of", "files")}
        body = json.dumps({**rest, "files": listed}, ensure_ascii=False, sort_keys=True)
        out[f"{folder}/manifest.json"] = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return out


def _row_diff(a: Path, b: Path) -> dict:
    """Rows only in the old file and only in the new one (as multisets of whole rows). The counts
    are signed: value_counts gives unsigned ones, whose difference would wrap around."""
    fa, fb = pl.read_parquet(a), pl.read_parquet(b)
    if fa.columns != fb.columns:
        return {
            "columns_only_old": sorted(set(fa.columns) - set(fb.columns)),
            "columns_only_new": sorted(set(fb.columns) - set(fa.columns)),
        }
    ha = fa.hash_rows(seed=0).alias("row").value_counts(name="n_old")
    hb = fb.hash_rows(seed=0).alias("row").value_counts(name="n_new")
    joined = (
        ha.join(hb, on="row", how="full", coalesce=True)
        .fill_null(0)
        .with_columns(pl.col("n_old", "n_new").cast(pl.Int64))
    )
    only_old = int(joined.select((pl.col("n_old") - pl.col("n_new")).clip(0).sum()).item())
    only_new = int(joined.select((pl.col("n_new") - pl.col("n_old")).clip(0).sum()).item())
    return {
        "rows_old": fa.height,
        "rows_new": fb.height,
        "only_old": only_old,
        "only_new": only_new,
        "same_rows_other_order": only_old == only_new == 0,
    }
