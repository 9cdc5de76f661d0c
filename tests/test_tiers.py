"""The test tiers: what puts a test in the slow tier, and the order pytest-xdist's processes take."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from conftest import longest_first, whole_months


@dataclass
class Item:
    """What longest_first reads of a collected test: its node id and its markers."""

    nodeid: str
    marks: tuple[str, ...] = ()

    def iter_markers(self, name: str | None = None):
        return [SimpleNamespace(name=m) for m in self.marks if name in (None, m)]


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        # no tier: the collection's order
        ([("a.py::t1", ()), ("b.py::t1", ())], ["a.py::t1", "b.py::t1"]),
        # a module with one slow test starts before a module with none, and keeps its order
        (
            [("a.py::t1", ()), ("b.py::t1", ()), ("b.py::t2", ("slow",)), ("b.py::t3", ())],
            ["b.py::t1", "b.py::t2", "b.py::t3", "a.py::t1"],
        ),
        # services, then browser, then slow, then the rest
        (
            [
                ("a.py::t", ("slow",)),
                ("b.py::t", ()),
                ("c.py::t", ("browser",)),
                ("d.py::t", ("services", "slow")),
            ],
            ["d.py::t", "c.py::t", "a.py::t", "b.py::t"],
        ),
    ],
)
def test_the_longest_tiers_start_first_and_a_module_keeps_its_order(items, expected):
    collected = [Item(nodeid, marks) for nodeid, marks in items]
    longest_first(collected)
    assert [item.nodeid for item in collected] == expected


def test_whole_months_marks_the_fixture_function():
    def home():
        return None

    assert whole_months(home) is home and home.whole_months


def test_every_collected_test_on_a_whole_months_fixture_is_slow(request):
    """Over this session's tests (under `make check` the slow ones are deselected: none left)."""
    for item in request.session.items:
        info = getattr(item, "_fixtureinfo", None)
        defs = [d for ds in (info.name2fixturedefs.values() if info else ()) for d in ds]
        if any(getattr(d.func, "whole_months", False) for d in defs):
            assert item.get_closest_marker("slow"), item.nodeid
    assert request.node.get_closest_marker("slow") is None
