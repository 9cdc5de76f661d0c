"""The data team's monthly validation report: one self-contained HTML file.

GE's stock Data Docs load Bootstrap and jQuery from CDNs that civil-affairs networks cannot reach,
so this page is built from the GE validation results with inline CSS and no scripts at all.
ID numbers in example values are masked: the page gets mailed around.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import polars as pl

from jobs.ingest.coverage import figures_rest_on
from safetynet.contract import SOURCES
from safetynet.lake import Home
from safetynet.months import add_months
from safetynet.rules import load_population

EXAMPLES_PER_SOURCE = 20
CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#f0f0f0}.ok{color:#1a7f37}.bad{color:#c62828;font-weight:bold}.warn{color:#b26a00}
code{font-size:12px}h2{border-bottom:2px solid #ddd}
"""


def mask(value: str | None) -> str:
    """Keep the first 6 and last 2 characters of anything as long as an ID number."""
    if value is None:
        return ""
    return value[:6] + "*" * (len(value) - 8) + value[-2:] if len(value) >= 15 else value


def _table(headers: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{c if str(c).startswith('<span') else html.escape(str(c))}</td>" for c in r)
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _status(status: str) -> str:
    cls = {"delivered": "ok", "not_delivered": "warn", "unusable": "bad"}.get(status, "")
    return f'<span class="{cls}">{html.escape(status)}</span>'


def _span(months: list[str]) -> str:
    """Months as runs: 2025-09..2026-02, 2026-05."""
    runs: list[list[str]] = []
    for m in months:
        if runs and add_months(runs[-1][-1], 1) == m:
            runs[-1].append(m)
        else:
            runs.append([m])
    return ", ".join(r[0] if len(r) == 1 else f"{r[0]}..{r[-1]}" for r in runs) or "—"


def _rests_on(home: Home, month: str) -> list[str]:
    """Which months each 12-month figure rests on (jobs/ingest/coverage.py)."""
    months = load_population(month=month).lookback_months
    rows = [
        [
            f"{r['zh']} {r['source']}",
            r["figures"],
            f"{len(r['held'])} of {r['months']}",
            _span(r["held"]),
            _span(r["missing"]),
        ]
        for r in figures_rest_on(home, month, months)
    ]
    return [
        "<h2>12-month figures: the months they rest on</h2>"
        "<p>A month is held when the source was delivered in it or a history delivery "
        "(<code>&lt;source&gt;.history.csv</code>) reaches back to it; a missing month's events are unknown, "
        "and the figure sums fewer months than its name says.</p>",
        _table(["source", "figures", "months held", "held", "missing"], rows),
    ]


def _header(month: str, run: dict) -> list[str]:
    parts = [
        f"<h1>{month} 数据接收与校验报告 (validation report)</h1>",
        f"<p>build <code>{html.escape(run['build'])}</code> — status "
        f'<b class="{"ok" if run["status"] == "success" else "bad"}">{run["status"]}</b> — '
        f"rule version <code>{run['rule_version']}</code>, "
        f"suite version <code>{run['suite_version']}</code></p>",
        f"<p>{run['rows_delivered']:,} rows delivered = {run['accepted']:,} accepted + "
        f"{run['quarantined']:,} quarantined.</p>",
    ]
    if run["unknown_files"]:
        ignored = html.escape(", ".join(run["unknown_files"]))
        parts.append(f"<p class=warn>Files ignored (not in the contract): {ignored}</p>")
    return parts


def _deliveries(deliveries: pl.DataFrame) -> list[str]:
    """One row per source: its status, files, rows and problem."""
    rows = []
    for d in deliveries.sort("source").iter_rows(named=True):
        files = "; ".join(
            f"{f['file']} ({f['encoding'] or '?'}, sha256 {f['sha256'][:12]}…)" for f in d["files"]
        )
        rows.append(
            [
                SOURCES[d["source"]].zh + " " + d["source"],
                _status(d["status"]),
                files or "—",
                d["rows_delivered"] if d["rows_delivered"] is not None else "—",
                d["accepted"] if d["accepted"] is not None else "—",
                d["quarantined"] if d["quarantined"] is not None else "—",
                d["error"] or "",
            ]
        )
    return [
        "<h2>Deliveries</h2>",
        _table(["source", "status", "files", "delivered", "accepted", "quarantined", "problem"], rows),
    ]


def _expectations(d: dict, q: pl.DataFrame) -> str:
    """A delivered source's expectations as GE evaluated them, with the rows failing each."""
    counts = q.group_by("check", "column").len()
    ge_rows = []
    for r in json.loads(d["ge_results"] or "[]"):
        n = counts.filter((pl.col("check") == r["type"]) & (pl.col("column") == r["column"]))["len"].sum()
        ge_rows.append(
            [
                r["type"],
                r["column"],
                r["reason"],
                f"{r['unexpected_count'] or 0} of {r['element_count']} sampled",
                n,
            ]
        )
    return _table(
        ["expectation (GE)", "column", "meaning", "GE engine, sample", "rows failing (all)"], ge_rows
    )


def _quarantined(q: pl.DataFrame) -> list[str]:
    """One line per check and column (reasons that name a row, "duplicate of row 12", vary), then examples."""
    reasons = (
        q.group_by("column", "check")
        .agg(pl.col("reason").first(), pl.len())
        .sort("len", "column", "check", descending=[True, False, False])
    )
    examples = [
        [r["source_file"], r["source_row"], r["column"], r["reason"], mask(r["raw_value"])]
        for r in q.head(EXAMPLES_PER_SOURCE).iter_rows(named=True)
    ]
    return [
        _table(["column", "check", "reason (first example)", "rows"], reasons.rows()),
        _table(["file", "row", "column", "reason", "value as delivered"], examples),
    ]


def _sources(deliveries: pl.DataFrame, quarantine: pl.DataFrame) -> list[str]:
    parts: list[str] = []
    for d in deliveries.filter(pl.col("status") == "delivered").sort("source").iter_rows(named=True):
        source = d["source"]
        q = quarantine.filter(pl.col("source") == source)
        parts += [f"<h2>{SOURCES[source].zh} {source}</h2>", _expectations(d, q)]
        if d["ignored_columns"]:
            parts.append(f"<p class=warn>Columns ignored: {html.escape(', '.join(d['ignored_columns']))}</p>")
        if q.height:
            parts += _quarantined(q)
    return parts


def write(home: Home, month: str, run: dict, deliveries: pl.DataFrame) -> Path:
    """`report/validation.html` in the month's build; the same run record gives the same bytes."""
    quarantine_dir = home.partition("_quarantine", month)
    quarantine = pl.concat(
        [pl.read_parquet(p) for p in sorted(quarantine_dir.glob("*.parquet"))], how="vertical_relaxed"
    )
    parts = _header(month, run) + _deliveries(deliveries) + _rests_on(home, month)
    parts += _sources(deliveries, quarantine)
    page = (
        f"<!doctype html><html lang=zh-CN><head><meta charset=utf-8><title>{month} validation</title>"
        f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>"
    )
    path = home.partition("report", month) / "validation.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")  # a new file: never write into a published one
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path
