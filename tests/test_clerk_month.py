"""A township clerk's month lived in a real browser (issue 33, "Must show"): the portal served by
uvicorn in this process with its own clock, Debian's chromium driven by Playwright (scripts off, as
on an old intranet browser), and the real runs of three months on a tiny synthetic county.

The clerk signs in and sees 本月待办, downloads two lists, fills them in Excel/WPS with the usual
mistakes, uploads them and reads each row's verdict, fixes the refused rows, follows the worklist to
a household's portrait; the next month's run reads the outcomes; the unchanged file uploaded again
is 无变化, one closed case is corrected with its reason; the month after reads the correction, and
the county sees it. A screenshot of each step is saved under the folder the test prints, named in
order (01-本月待办.png, ...)."""

from __future__ import annotations

import datetime as dt
import types
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import polars as pl
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]  # three months' runs; Debian's chromium

HOUSEHOLDS, SEED = 800, 2  # one county of 15 townships: the largest has 2 leads and 9 doubtful records
LEAD, DOUBTFUL = "线索清单", "核对疑点清单"
FILLED_DOUBTFUL = 7  # the rows 3-9 of 核对疑点清单 the clerk fills; the rest stay blank (not yet visited)
REASON = "复核发现家庭收入低于低保标准"


class Clock:
    """The portal's today: its deadlines, its "not after today" check and its log's day."""

    def __init__(self, day: dt.date) -> None:
        self.day = day

    def today(self) -> dt.date:
        return self.day

    def module(self) -> types.SimpleNamespace:
        """`datetime` for the portal's log, whose `now()` is this clock's day at 10:00."""
        clock = self

        class Now(dt.datetime):
            @classmethod
            def now(cls, tz=None):
                return cls.combine(clock.day, dt.time(10), tz)

        return types.SimpleNamespace(
            datetime=Now, date=dt.date, time=dt.time, timedelta=dt.timedelta, timezone=dt.timezone
        )


@dataclass
class Clerk:
    """A signed-in browser page of one township, and where its screenshots and files go."""

    page: object
    url: str
    township: str
    root: Path
    shots: Path
    taken: list[str] = field(default_factory=list)

    def shot(self, name: str) -> None:
        self.taken.append(f"{len(self.taken) + 1:02d}-{name}.png")
        self.page.screenshot(path=self.shots / self.taken[-1], full_page=True)

    def home(self) -> dict[str, dict[str, int]]:
        """本月待办's counts per list, as the home page shows them."""
        self.page.goto(self.url + "/")
        rows = self.page.query_selector_all(f"#todo-{self.township} #todo tr")[1:]
        cells = [[td.inner_text().strip() for td in r.query_selector_all("td")] for r in rows]
        return {
            c[0]: dict(zip(("open", "due", "overdue", "returned"), map(int, c[1:5]), strict=True))
            for c in cells
        }

    def download(self, month: str, name: str) -> Path:
        self.page.goto(f"{self.url}/files/{month}/{self.township}")
        with self.page.expect_download() as info:
            self.page.click(f"text={name}.xlsx")
        path = self.root / f"下载-{name}.xlsx"
        info.value.save_as(path)
        return path

    def upload(self, path: Path) -> dict[str, tuple[str, str, str]]:
        """Each row's verdict as the page lists it: place -> (id, 结果, 原因)."""
        self.page.goto(f"{self.url}/upload/{self.township}")
        self.page.set_input_files("input[name=file]", str(path))
        self.page.click("form[action^='/upload'] button")
        rows = self.page.query_selector_all("#rows tr")[1:]
        cells = [[td.inner_text().strip() for td in r.query_selector_all("td")] for r in rows]
        return {c[0]: (c[1], c[4], c[5]) for c in cells}

    def summary(self) -> dict[str, int]:
        return {
            k: int(self.page.inner_text(f"#{k}")) for k in ("accepted", "refused", "skipped", "unchanged")
        }

    def portrait(self, case_id: str, household: str) -> dict[str, object]:
        """The case found on the worklist by its household and its portrait opened from the case's
        row: each case's (state, 核查结论), the history's events, and the case's line on top."""
        self.page.goto(f"{self.url}/worklist/{self.township}?q={household}")
        self.page.click(f"#cases tr:has(td:text-is('{case_id}')) a.portrait")
        assert "案件状态与经过" in self.page.content()
        states = {
            tr.query_selector("td").inner_text(): (
                tr.query_selector("td.state").inner_text(),
                tr.query_selector_all("td")[-1].inner_text(),
            )
            for tr in self.page.query_selector_all("#case-states tr")[1:]
        }
        events = [
            [td.inner_text() for td in tr.query_selector_all("td")]
            for tr in self.page.query_selector_all("#history tr")[1:]
        ]
        return {"states": states, "events": events, "case": self.page.inner_text("p.case")}


def fill(source: Path, target: Path, rows: dict[int, dict[str, object]], drop: tuple[int, ...] = ()) -> Path:
    """The list opened and filled as in Excel/WPS: `rows` maps the sheet's row number to the cells
    typed there (by column header; a date typed as a date is a datetime, anything else is text);
    a row number past the last is a row pasted below; `drop` rows deleted."""
    book = openpyxl.load_workbook(source)
    sheet = book.worksheets[0]
    column = {c.value: c.column for c in sheet[2] if c.value}
    for r, values in rows.items():
        for name, value in values.items():
            cell = sheet.cell(r, column[name])
            cell.value = value
            if isinstance(value, dt.datetime):
                cell.number_format = "yyyy-mm-dd"
    for r in sorted(drop, reverse=True):
        sheet.delete_rows(r)
    book.save(target)
    return target


def ids_of(path: Path) -> list[str]:
    """The ids a downloaded list holds, from its third row on (title row, header row, data)."""
    sheet = openpyxl.load_workbook(path).worksheets[0]
    return [row[1] for row in sheet.iter_rows(min_row=3, values_only=True) if row[1]]


def full_width(text: str) -> str:
    """Letters and digits as an input method left in full-width mode types them."""
    return "".join(chr(ord(ch) + 0xFEE0) if ch.isascii() and ch.isalnum() else ch for ch in text)


def test_a_township_clerk_lives_a_month_in_the_browser(tmp_path, monkeypatch):
    from playwright.sync_api import sync_playwright

    from portal import audit
    from portal.app import create_app
    from synthetic.generate import generate
    from tests.conftest import safetynet
    from tests.direct import run
    from tests.test_corrections import q
    from tests.test_portal import serving
    from tests.test_portal_browser import CHROMIUM, PASSWORD, sign_in

    landing, home, shots = tmp_path / "landing", tmp_path / "home", tmp_path / "screenshots"
    shots.mkdir()
    print(f"screenshots: {shots}")
    generate("2026-08", HOUSEHOLDS, SEED, landing)
    run("2026-08", str(landing), str(home), "month-2026-08")
    cases = q(home, "select case_id, kind, township_code, household_id, visit_by from v_cases")
    per = cases.group_by("township_code").agg(
        leads=(pl.col("kind") == "lead").sum(), doubtful=(pl.col("kind") == "doubtful").sum()
    )
    ready = per.filter((pl.col("leads") >= 2) & (pl.col("doubtful") >= FILLED_DOUBTFUL + 1))
    township = ready.sort("doubtful", "township_code", descending=[True, False])["township_code"][0]
    county = township[:6]
    for user, role, area in (("town", "township", township), ("county", "county", county)):
        account = ["--username", user, "--role", role, "--area", area, "--password", PASSWORD]
        safetynet("users", "add", "--home", str(home), *account, check=True)
    clock = Clock(dt.date(2026, 9, 6))  # the lists came out on 1 September
    monkeypatch.setattr(audit, "dt", clock.module())

    def next_month(month: str, today: dt.date) -> None:
        generate(month, HOUSEHOLDS, SEED, landing)  # no invented outcomes: the clerk's are read
        run(month, str(landing), str(home), f"month-{month}")
        clock.day = today

    with serving(create_app(home, landing, today=clock.today)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        page = browser.new_context(java_script_enabled=False, accept_downloads=True).new_page()
        clerk = Clerk(page, url, township, tmp_path, shots)
        sign_in(page, url, "town")
        mine = cases.filter(pl.col("township_code") == township)
        sees_its_month(clerk, mine, cases, clock.day)
        lead_file, doubtful_file, leads = fills_and_uploads(clerk, mine, cases, clock.day)
        household = mine.filter(pl.col("case_id") == leads[1])["household_id"].item()
        follows_the_worklist(clerk, mine, leads, household)
        next_month("2026-09", dt.date(2026, 10, 8))
        sees_the_outcomes_read(clerk, home, q, leads, household)
        was = corrects_a_closed_case(clerk, lead_file, doubtful_file, leads)
        next_month("2026-10", dt.date(2026, 11, 5))
        sees_the_correction_read(clerk, leads[1], household, was)
        county_page = browser.new_context(java_script_enabled=False).new_page()
        sign_in(county_page, url, "county")
        county_page.click(f"a[href='/overview/2026-10/{county}']")
        clerk.page = county_page
        clerk.shot("县级概览-更正记录")
        listed = county_page.inner_text("#corrections")
        assert leads[1] in listed and f"{was} → 纳入低保" in listed and REASON in listed, listed
        browser.close()
    state = q(home, "select state from v_cases where month = '2026-10' and case_id = ?", leads[1]).item()
    assert state == "reopened", "a correction asking for action reopens the case"
    assert sorted(p.name for p in shots.glob("*.png")) == clerk.taken
    print("\n".join(clerk.taken))


def sees_its_month(clerk: Clerk, mine: pl.DataFrame, cases: pl.DataFrame, today: dt.date) -> None:
    """1. 本月待办: per list the open cases, those due within the portal's days, none overdue yet;
    the nearest deadline; no other township's files."""
    from safetynet.rules import load_portal

    due_days = load_portal().worklist_due_days
    counts = clerk.home()
    for kind, title in (("lead", LEAD), ("doubtful", DOUBTFUL)):
        ours = mine.filter(pl.col("kind") == kind)
        due = ours.filter(pl.col("visit_by").is_between(today, today + dt.timedelta(days=due_days))).height
        assert counts[title] == {"open": ours.height, "due": due, "overdue": 0, "returned": 0}, counts
    assert sum(c["due"] for c in counts.values()) > 0, "a deadline within the days the page warns of"
    assert str(mine.filter(pl.col("visit_by") >= today)["visit_by"].min()) in clerk.page.inner_text(
        "#nearest"
    )
    others = set(cases["township_code"]) - {clerk.township}
    assert not [t for t in others if t in clerk.page.content()], "only its own township"
    clerk.shot("本月待办")


def fills_and_uploads(
    clerk: Clerk, mine: pl.DataFrame, cases: pl.DataFrame, today: dt.date
) -> tuple[Path, Path, list[str]]:
    """2-3. Both lists downloaded, filled with the usual mistakes and uploaded: each row's verdict
    named by its sheet and row; then the refused rows put right and the file uploaded again."""
    lead_download, doubtful_download = clerk.download("2026-08", LEAD), clerk.download("2026-08", DOUBTFUL)
    leads, records = ids_of(lead_download), ids_of(doubtful_download)
    assert sorted(leads) == sorted(mine.filter(pl.col("kind") == "lead")["case_id"])
    other = cases.filter(pl.col("township_code") != clerk.township)["case_id"].sort()[0]
    lead_file = fill(
        lead_download,
        clerk.root / "线索清单-已填.xlsx",
        {
            3: {"线索编号": leads[0] + " ", "核查日期": "2026.9.5", "核查结论": "维持现状"},  # typed as text
            4: {"核查日期": dt.datetime(2026, 9, 4), "核查结论": "不符合条件"},
        },
    )
    got = clerk.upload(lead_file)
    assert clerk.summary() == {"accepted": 2, "refused": 0, "skipped": 0, "unchanged": 0}
    assert got == {f"“{LEAD}”表第 {r} 行": (leads[r - 3], "接受", "") for r in (3, 4)}, got
    clerk.shot("线索清单回传-全部接受")

    future = today + dt.timedelta(days=14)
    typed = {
        3: ({"核查日期": "9月5日", "核查结论": "维持现状"}, "拒绝", "核查日期“9月5日”无法识别"),
        4: ({"核查日期": dt.datetime(2026, 9, 5)}, "拒绝", "核查结论为空"),
        5: (
            {"记录编号": full_width(records[2]), "核查日期": "2026-09-05", "核查结论": "维持现状"},
            "接受",
            "",
        ),
        6: (
            {"核查日期": dt.datetime(2026, 9, 5), "核查结论": "已核实"},
            "拒绝",
            "核查结论“已核实”不在约定的选项中",
        ),
        7: (
            {"核查日期": dt.datetime.combine(future, dt.time()), "核查结论": "维持现状"},
            "拒绝",
            f"晚于今天（{today}）",
        ),
        8: ({"核查日期": dt.datetime(2026, 9, 3), "核查结论": "维持现状"}, "接受", ""),
        9: ({"核查日期": dt.datetime(2026, 9, 4), "核查结论": "不符合条件"}, "接受", ""),
    }
    pasted = len(records) + 3  # another township's row pasted below the list
    typed[pasted] = (
        {"记录编号": other, "核查日期": dt.datetime(2026, 9, 5), "核查结论": "维持现状"},
        "拒绝",
        f"编号 {other} 不是下发给本乡镇的编号",
    )
    blank = range(FILLED_DOUBTFUL + 3, pasted)
    doubtful_file = fill(
        doubtful_download, clerk.root / "核对疑点清单-有误.xlsx", {r: t[0] for r, t in typed.items()}
    )
    got = clerk.upload(doubtful_file)
    clerk.shot("核对疑点清单回传-逐行结果")
    expected = {r: (records[r - 3] if r < pasted else other, s) for r, (_, s, _) in typed.items()}
    expected |= {r: (records[r - 3], "跳过") for r in blank}
    assert {p: g[:2] for p, g in got.items()} == {f"“{DOUBTFUL}”表第 {r} 行": e for r, e in expected.items()}
    for r, (_, _, reason) in typed.items():
        assert reason in got[f"“{DOUBTFUL}”表第 {r} 行"][2], (r, reason, got)
    assert all("未填写核查日期和核查结论" in got[f"“{DOUBTFUL}”表第 {r} 行"][2] for r in blank)
    assert len(clerk.page.query_selector_all("tr.refused")) == clerk.summary()["refused"] == 5

    fixed = {
        3: {"核查日期": dt.datetime(2026, 9, 5)},
        4: {"核查结论": "维持现状"},
        6: {"核查结论": "维持现状"},
    }
    fixed[7] = {"核查日期": dt.datetime(2026, 9, 5)}
    doubtful_file = fill(doubtful_file, clerk.root / "核对疑点清单-已改正.xlsx", fixed, drop=(pasted,))
    clerk.upload(doubtful_file)
    assert clerk.summary() == {"accepted": 4, "refused": 0, "skipped": len(blank), "unchanged": 3}
    clerk.shot("核对疑点清单改正后重传")
    return lead_file, doubtful_file, leads


def follows_the_worklist(clerk: Clerk, mine: pl.DataFrame, leads: list[str], household: str) -> None:
    """4. The home page's counts moved to 已回传待读取; its count opens the worklist filtered to
    those cases, and a row's link the household's portrait in the same state."""
    open_doubtful = mine.filter(pl.col("kind") == "doubtful").height - FILLED_DOUBTFUL
    counts = clerk.home()
    assert counts[LEAD] == {"open": 0, "due": 0, "overdue": 0, "returned": 2}, counts
    assert (counts[DOUBTFUL]["open"], counts[DOUBTFUL]["returned"]) == (open_doubtful, FILLED_DOUBTFUL)
    clerk.shot("本月待办-已回传待读取")
    clerk.page.click(f"#todo-{clerk.township} a.count[href*='list=lead'][href*='state=returned']")
    rows = clerk.page.query_selector_all("#cases tr")[1:]
    assert sorted(r.query_selector("td").inner_text() for r in rows) == sorted(leads)
    assert {r.query_selector("td.state").inner_text() for r in rows} == {"已回传待读取"}
    clerk.shot("待办-线索已回传待读取")
    clerk.page.click(f"a.portrait[href$='/{household}']")
    states = {
        tr.query_selector("td").inner_text(): tr.query_selector("td.state").inner_text()
        for tr in clerk.page.query_selector_all("#case-states tr")[1:]
    }
    assert states[leads[1]] == "已回传待读取", states
    assert "已回传" in clerk.page.inner_text("#history")
    clerk.shot("家庭画像-已回传待读取")


def sees_the_outcomes_read(clerk: Clerk, home: Path, q, leads: list[str], household: str) -> None:
    """5. After the next month's run: nothing waits to be read, the outcomes closed their cases
    (the worklist's 已结案 is the run's count), the portrait's history says 已读取 and 已结案."""
    counts = clerk.home()
    assert counts and all(c["returned"] == 0 for c in counts.values()), counts
    clerk.shot("次月运行后-本月待办")
    closed = q(
        home,
        "select case_id from v_cases where month = '2026-09' and state = 'closed' and township_code = ?",
        clerk.township,
    )["case_id"]
    assert set(leads) <= set(closed) and closed.len() >= 2 + FILLED_DOUBTFUL
    clerk.page.goto(f"{clerk.url}/worklist/{clerk.township}")
    assert f"已结案 {closed.len()}" in clerk.page.content()
    seen = clerk.portrait(leads[1], household)
    assert seen["states"][leads[1]] == ("已结案", "不符合条件"), seen
    mine = [e for e in seen["events"] if e[1] == leads[1]]
    assert ["已读取", "2026年09月数据运行读取了回传的核查结论"] in [e[2:] for e in mine], mine
    assert "已结案" in [e[2] for e in mine], mine
    clerk.shot("家庭画像-已读取已结案")


def corrects_a_closed_case(clerk: Clerk, lead_file: Path, doubtful_file: Path, leads: list[str]) -> str:
    """6. The same files uploaded again after the run: 无变化, no red; a closed case's conclusion
    changed without a reason is refused naming the row, with its reason in 备注 it is 更正."""
    for path, filled in ((lead_file, 2), (doubtful_file, FILLED_DOUBTFUL)):
        clerk.upload(path)
        got = clerk.summary()
        assert (got["accepted"], got["refused"], got["unchanged"]) == (0, 0, filled), got
        assert clerk.page.query_selector_all("tr.refused") == []
    clerk.shot("原样重传-无变化")
    clerk.page.goto(f"{clerk.url}/worklist/{clerk.township}")
    assert "在“备注”中写明更正原因" in clerk.page.content()
    was = "不符合条件"
    unreasoned = fill(lead_file, clerk.root / "线索清单-更正缺原因.xlsx", {4: {"核查结论": "纳入低保"}})
    got = clerk.upload(unreasoned)
    assert clerk.summary() == {"accepted": 0, "refused": 1, "skipped": 0, "unchanged": 1}
    assert (
        got[f"“{LEAD}”表第 4 行"][1] == "拒绝" and "须在“备注”中写明更正原因" in got[f"“{LEAD}”表第 4 行"][2]
    )
    clerk.shot("更正未写原因-拒绝")
    corrected = fill(unreasoned, clerk.root / "线索清单-更正.xlsx", {4: {"备注": REASON}})
    got = clerk.upload(corrected)
    assert clerk.summary() == {"accepted": 1, "refused": 0, "skipped": 0, "unchanged": 1}
    assert clerk.page.inner_text("#corrections") == "1"
    status, reason = got[f"“{LEAD}”表第 4 行"][1:]
    assert (
        status == "接受（更正）" and f"原结论“{was}”（2026-09 月入库）→“纳入低保”，原因：{REASON}" in reason
    )
    clerk.shot("更正-接受")
    return was


def sees_the_correction_read(clerk: Clerk, lead: str, household: str, was: str) -> None:
    """7. The month after: the portrait's history keeps the original conclusion and shows the 更正
    and the case reopened on the new list, to visit again with the corrected conclusion."""
    seen = clerk.portrait(lead, household)
    assert seen["states"][lead] == ("待核查", "纳入低保"), seen
    assert f"线索编号 {lead}" in seen["case"] and "待核查" in seen["case"], seen["case"]
    events = [e[2:] for e in seen["events"] if e[1] == lead]
    assert [label for label, _ in events].count("更正") == 1, events
    (detail,) = [d for label, d in events if label == "更正"]
    assert "重新打开" in detail, events
    assert [d for label, d in events if label == "已结案"] == [f"核查结论 {was}，核查日期 2026-09-04"], "kept"
    (reissued,) = [d for label, d in events if label == "下发" and d.startswith("2026年10月")]
    assert "（更正后重新打开）" in reissued, events
    assert dt.date.fromisoformat(reissued.rsplit(" ", 1)[1]) > dt.date(2026, 11, 1), "a fresh deadline"
    clerk.shot("更正已读取-家庭画像")
    clerk.page.goto(f"{clerk.url}/worklist/{clerk.township}")
    assert lead in clerk.page.inner_text("#cases"), "back on the township's worklist"
