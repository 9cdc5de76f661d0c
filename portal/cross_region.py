"""The cross-region checks (跨省核对) on the data team's status page: the latest published month's
figures per province and the doubtful records marked 跨省/跨市 (jobs/cross_region/kpis.py), drawn by
the county overview's own template, once per commit (a commit never changes)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from markupsafe import Markup

from jobs.cross_region import kpis
from jobs.export import overview
from jobs.publish.sealed import connect
from portal.files import Library


@lru_cache(maxsize=16)
def _section(root: Path, commit: str, month: str) -> Markup:
    with connect(root) as con:
        return overview.cross_region_html(kpis.figures(con, month))


def section(library: Library) -> Markup:
    """The section for the latest published month; nothing before the first month is published."""
    months = library.months()
    return _section(library.root, library.commit(), months[0]) if months else Markup("")
