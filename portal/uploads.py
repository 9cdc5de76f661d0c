"""A township's returned outcomes: the filled list it downloaded (xlsx, title row and all) or a CSV
(UTF-8, UTF-8 with BOM, GBK), checked at once row by row, and merged into the `outcomes` delivery of
the next month not yet run: `<landing>/<month>/outcomes.part-<township>.csv` (CONTRACT.md, version 2).

Every data row of an upload is accepted, refused with a reason in Chinese, skipped because its
outcome columns are still empty (a case not visited yet), or unchanged (无变化: the same conclusion,
date, referral and note as the outcome already uploaded or already read for its id; not written
again). The checks are the outcomes suite's
(`expectations/outcomes.json`: a required id, date and outcome; an outcome in the contract's set; a
date in the month's event window) and those only the township's own lists can answer: an id that
was never issued, another township's id, a visit before the list was issued or in the future, the
same id twice with different outcomes. A row that changes the outcome a run read for a case now
closed is a correction (更正): accepted only with its reason in 备注 (a note other than the one the
closed outcome had); the next run reads it (jobs/cases/lifecycle.py).

Uploads merge by id: a later row for an id replaces the earlier one, rows for other ids stay. Each
row carries the SHA-256 of the upload it came from (`upload_sha256`), and the raw upload is kept
under `<home>/portal/uploads/`.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import io
import os
import threading
import time
import unicodedata
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import polars as pl

from jobs.cases import lifecycle
from jobs.export.returnable import OUTCOME_CODES
from jobs.ingest.deliveries import decode_csv
from jobs.ingest.workbook_screen import XlsxRefused, inspect_xlsx
from safetynet import runs
from safetynet.contract import READY, SOURCES
from safetynet.errors import DeliveryError, SafetynetError
from safetynet.lake import Home, pruned_marker
from safetynet.months import add_months, month_bounds, next_month
from safetynet.rules import PortalSettings, load_population

COLUMNS = [c.name for c in SOURCES["outcomes"].columns]
HEADERS = {c.zh: c.name for c in SOURCES["outcomes"].columns} | {
    c.name: c.name for c in SOURCES["outcomes"].columns
}
HEADERS["记录编号"] = "lead_id"
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d")


class UploadRefused(SafetynetError):
    """An upload refused as a whole; the message is in Chinese, for the township's staff."""


# the columns of `Row.content`, in order
CONTENT = ("outcome", "visited_on", "referred_to", "note")


def corrected_part(content: tuple) -> tuple:
    """What a correction (更正) compares of a `Row.content` (jobs/cases/lifecycle.py `CORRECTED`:
    conclusion, date, referral; a note alone changes nothing)."""
    return tuple(v for c, v in zip(CONTENT, content, strict=True) if c in lifecycle.CORRECTED)


@dataclass
class Row:
    line: int  # the row number staff see in Excel (or the CSV line)
    sheet: str  # the workbook sheet it is on ("" for a CSV)
    id: str | None
    visited_on: dt.date | None
    outcome: str | None
    referred_to: str | None
    note: str | None
    status: str = "接受"  # 接受, 拒绝, 跳过, 无变化
    reason: str = ""
    correction: bool = False  # accepted as a correction (更正) of a closed case's outcome

    @property
    def content(self) -> tuple:
        """What an outcome says: conclusion, date, referral and note (`CONTENT`)."""
        day = self.visited_on.isoformat() if self.visited_on else None
        return (self.outcome, day, self.referred_to, self.note)

    @property
    def place(self) -> str:
        """Where staff find the row: 第 5 行, or “逾期未回传”表第 5 行 on a workbook's other sheets."""
        return f"“{self.sheet}”表第 {self.line} 行" if self.sheet else f"第 {self.line} 行"


@dataclass
class Checked:
    sha256: str
    filename: str
    bytes: int
    month: str  # the month whose run will read the accepted rows
    rows: list[Row] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)  # month -> rows written for its run
    replaced: int = 0
    kept: int = 0

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def corrections(self) -> int:
        return sum(1 for r in self.rows if r.status == "接受" and r.correction)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).replace("\u3000", " ").strip()
    return text or None


def _id(value: object) -> str | None:
    """An id as typed: full-width letters, digits and dashes (an input method left in full-width
    mode) folded to the ASCII the lists print, and spaces around it dropped."""
    text = _text(value)
    return unicodedata.normalize("NFKC", text).strip() if text else None


def _date(value: object) -> dt.date | None | str:
    """A date, None when empty, or the text that is not a date."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _text(value)
    if text is None:
        return None
    if text.isdigit() and len(text) != 8:
        return text
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text.split(" ")[0], fmt).date()
        except ValueError:
            pass
    return text


def _xlsx_tables(data: bytes, settings: PortalSettings) -> list[tuple[str, list[list[object]]]]:
    """Every sheet of the workbook: a list has its cases on one sheet and the overdue ones on
    逾期未回传, and staff fill in both."""
    from python_calamine import CalamineWorkbook

    try:
        inspect_xlsx(data, settings)
    except XlsxRefused as exc:
        raise UploadRefused(str(exc)) from None
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        return [
            (name, book.get_sheet_by_name(name).to_python(skip_empty_area=False)) for name in book.sheet_names
        ]
    except Exception as exc:  # calamine raises its own error types for a broken workbook
        raise UploadRefused(f"无法读取工作簿：{str(exc).splitlines()[0][:120]}") from None


def _csv_rows(data: bytes) -> list[list[object]]:
    import csv

    try:
        text, _ = decode_csv(Path("upload.csv"), data)
    except DeliveryError as exc:
        reasons = {
            "file is empty": "上传的文件是空的",
        }
        raise UploadRefused(reasons.get(exc.problem, f"无法读取 CSV 文件：{exc.problem}")) from None
    return [list(r) for r in csv.reader(io.StringIO(text.decode("utf-8")))]


def _too_slow(settings: PortalSettings) -> UploadRefused:
    return UploadRefused(
        f"文件读取超过 {settings.upload_parse_seconds:g} 秒，已拒绝（文件可能已损坏或含大量无关内容，"
        "请另存为新的工作簿后重新上传）"
    )


class _Readers:
    """The uploads being read now, in this process: a slot is taken before a read starts and given
    back when its thread ends, not when the portal stops waiting for it, so reads given up at the
    time limit cannot pile up threads."""

    def __init__(self) -> None:
        self.lock, self.busy = threading.Lock(), 0

    def take(self, limit: int) -> bool:
        with self.lock:
            if self.busy >= limit:
                return False
            self.busy += 1
            return True

    def give(self) -> None:
        with self.lock:
            self.busy -= 1


READERS = _Readers()
BUSY = "正在读取的上传文件过多，请稍后再试"


async def read_in_worker(filename: str, data: bytes, settings: PortalSettings) -> list[Row]:
    """`read_upload` in a worker thread, so that the portal answers everyone else meanwhile, given
    up after `upload_parse_seconds`: the answer goes out then, and the reading stops itself at its
    next check of the same deadline (a thread cannot be killed). At most `upload_parse_workers`
    reads at once; past that, refused at once."""
    if not READERS.take(settings.upload_parse_workers):
        raise UploadRefused(BUSY)
    deadline = time.monotonic() + settings.upload_parse_seconds
    slot = threading.Lock()  # held by whichever gives the slot back: the thread, or this if it never ran

    def work() -> list[Row]:
        if not slot.acquire(blocking=False):
            return []  # given up before it started
        try:
            return read_upload(filename, data, settings, deadline)
        finally:
            READERS.give()

    try:
        with anyio.fail_after(settings.upload_parse_seconds):
            return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except TimeoutError:
        raise _too_slow(settings) from None
    finally:
        if slot.acquire(blocking=False):  # the thread never started: it will not
            READERS.give()


def read_upload(
    filename: str, data: bytes, settings: PortalSettings, deadline: float | None = None
) -> list[Row]:
    """The data rows of an upload, from every sheet with a list's header row (the title row above
    it is skipped; a sheet without one, such as 修订说明, is not a list). Past `deadline` (a
    `time.monotonic()`), refused."""
    if not data:
        raise UploadRefused("上传的文件是空的")
    if len(data) > settings.upload_max_bytes:
        raise UploadRefused(f"文件超过 {settings.upload_max_bytes // 1_000_000} MB，已拒绝")
    suffix = Path(filename or "").suffix.lower()
    if suffix == ".xlsx":
        tables = _xlsx_tables(data, settings)
    elif suffix == ".csv":
        tables = [("", _csv_rows(data))]
    else:
        raise UploadRefused("只接受 xlsx 或 csv 文件（请上传填写后的清单）")
    if deadline is not None and time.monotonic() > deadline:
        raise _too_slow(settings)
    rows = [row for sheet, table in tables for row in _table_rows(sheet, table, settings, deadline)]
    if not any(_header(table) is not None for _, table in tables):
        raise UploadRefused(
            "找不到表头：文件前 10 行中没有“线索编号”或“记录编号”与“核查结论”两列（请上传从门户下载的清单）"
        )
    if len(rows) > settings.upload_max_rows:
        raise UploadRefused(f"文件超过 {settings.upload_max_rows} 行，已拒绝；请分批上传")
    return rows


def _header(table: list[list[object]]) -> tuple[int, dict[str, int]] | None:
    """The header row's index and the column of each outcome field, if the first 10 rows hold it."""
    for header_row, cells in enumerate(table[:10]):
        names = [HEADERS.get(_text(c) or "") for c in cells]
        if "lead_id" in names and "outcome" in names:
            return header_row, {name: i for i, name in reversed(list(enumerate(names))) if name}
    return None


def _table_rows(
    sheet: str, table: list[list[object]], settings: PortalSettings, deadline: float | None = None
) -> list[Row]:
    found = _header(table)
    if found is None:
        return []
    header_row, where = found

    def cell(cells: list, name: str) -> object:
        i = where.get(name)
        return cells[i] if i is not None and i < len(cells) else None

    rows = []
    for n, cells in enumerate(table[header_row + 1 :], start=header_row + 2):
        if deadline is not None and n % 1000 == 0 and time.monotonic() > deadline:
            raise _too_slow(settings)
        if not any(_text(c) for c in cells):
            continue
        visited = _date(cell(cells, "visited_on"))
        row = Row(
            line=n,
            sheet=sheet,
            id=_id(cell(cells, "lead_id")),
            visited_on=visited if isinstance(visited, dt.date) else None,
            outcome=_text(cell(cells, "outcome")),
            referred_to=_text(cell(cells, "referred_to")),
            note=_text(cell(cells, "note")),
        )
        if isinstance(visited, str):
            row.status, row.reason = "拒绝", f"核查日期“{visited}”无法识别（应为 2026-10-08 这样的日期）"
        rows.append(row)
    return rows


def target_month(home: Home, landing: Path | None) -> str | None:
    """The first month that still takes outcomes: after the last published month, not yet started
    by a run, and not yet marked complete by the data team (`_READY`): a run may read its folder
    from then on, and a row written later would never be read."""
    months = sorted(home.catalog)
    if not months:
        return None
    started = {e["month"] for e in runs.entries(home) if e.get("status") in ("running", "held")}
    month = next_month(months[-1])
    while month in started or (landing is not None and (landing / month / READY).exists()):
        month = next_month(month)
    return month


ISSUED = {"id": pl.String, "township_code": pl.String, "kind": pl.String, "issued_on": pl.Date}


def issued(home: Home, ids: list[str]) -> pl.DataFrame:
    """Where each of `ids` was issued: the township of its latest issue (a household that moved is
    the new township's case), its kind, and the date it was first issued."""
    if not ids:
        return pl.DataFrame(schema=ISSUED)
    return commit_index(home).issued.filter(pl.col("id").is_in(ids))


def commit_key(home: Home) -> tuple:
    """What names a commit's data: the home, its commit, each month's build (a build is named by
    its content, so a home made again at the same place and sequence number is another key) and
    the prune marker (a prune removes builds a commit names: `safetynet.lake.pruned_marker`)."""
    return (
        home.root,
        home.commit,
        tuple(sorted((m, e["build"]) for m, e in home.catalog.items())),
        pruned_marker(home.root),
    )


@dataclass(frozen=True)
class Index:
    """What an upload is checked against, for every case id of a commit: where each was issued
    (`issued`, as `issued` gives it), the ids closed and not reopened since (`closed`) and the
    latest outcome a run read (`read`, as `latest_read` gives it)."""

    issued: pl.DataFrame
    closed: pl.Series
    read: pl.DataFrame


_INDEX_LOCK = threading.Lock()  # held only to look up or add a key in `_INDEXES`, never while building
_INDEXES: dict[tuple, Future[Index]] = {}  # per commit key: its index, made or being made
_KEPT = 2  # commits whose index is kept: the current one and the one before (a read of it may linger)


def commit_index(home: Home) -> Index:
    """The commit's `Index`, made once per commit and portal process: an upload's 500 ids are looked
    up in memory, instead of reading every month's `_issued`, `_cases` and `outcomes` of the
    province on every upload (issue 33, item 8). One thread makes it; a lookup of the same commit
    waits for that one, a lookup of another commit does not."""
    key = commit_key(home)
    future, mine = _claim(key)
    if mine:
        _build(key, home, future)
    return future.result()


def prepare(home: Home) -> None:
    """Makes the commit's `Index` in the background unless it is made or being made (a township's
    home page calls it), so that the first upload after a commit does not wait for it."""
    key = commit_key(home)
    future, mine = _claim(key)
    if mine:
        threading.Thread(target=_build, args=(key, home, future), daemon=True).start()


def _claim(key: tuple) -> tuple[Future[Index], bool]:
    """The key's latch, and whether the caller is the one to make its index (the first to ask)."""
    with _INDEX_LOCK:
        if key in _INDEXES:
            return _INDEXES[key], False
        future: Future[Index] = Future()
        _INDEXES[key] = future
        for old in list(_INDEXES)[:-_KEPT]:  # a waiter holds its own reference to an evicted latch
            del _INDEXES[old]
        return future, True


def _build(key: tuple, home: Home, future: Future[Index]) -> None:
    """Makes the index into its latch; a failure reaches every waiter, and the next lookup tries again."""
    try:
        future.set_result(_make_index(home))
    except BaseException as error:
        with _INDEX_LOCK:
            if _INDEXES.get(key) is future:
                del _INDEXES[key]
        future.set_exception(error)


def _make_index(home: Home) -> Index:
    months = sorted(home.catalog)
    paths = [p for m in months for p in home.files("_issued", m)]
    found = (
        pl.scan_parquet(paths)
        .sort("month")
        .group_by("id")
        .agg(pl.col("township_code", "kind").last(), pl.col("issued_on").first())
        .collect()
        .select(list(ISSUED))
        if paths
        else pl.DataFrame(schema=ISSUED)
    )
    closed = lifecycle.closed_ids(home, next_month(months[-1])) if months else None
    return Index(found, pl.Series("case_id", closed or [], dtype=pl.String), latest_read(home))


@dataclass(frozen=True)
class Returned:
    """The outcome a run read for a case id, and whether its case stands closed on it."""

    month: str  # the month whose run read it
    content: tuple  # conclusion, date (ISO), referral, note, as `Row.content`
    closed: bool  # false: reopened by a correction, open again

    @property
    def outcome(self) -> str:
        return self.content[0]


def read_back(home: Home, ids: list[str]) -> dict[str, Returned]:
    """The latest outcome the runs read (the lake's `outcomes`) for each of `ids`."""
    index = commit_index(home)
    if not ids or index.read.height == 0:
        return {}
    latest = index.read.filter(pl.col("lead_id").is_in(ids))
    shut = set(latest["lead_id"].filter(latest["lead_id"].is_in(index.closed.implode())))
    return {
        r["lead_id"]: Returned(
            r["month"],
            (r["outcome"], r["visited_on"].isoformat(), r["referred_to"], r["note"]),
            r["lead_id"] in shut,
        )
        for r in latest.iter_rows(named=True)
    }


def latest_read(home: Home) -> pl.DataFrame:
    """Each case id's latest outcome the runs read (the lake's `outcomes` of every month), with the
    month whose run read it."""
    scans = [(m, s) for m in sorted(home.catalog) if (s := home.scan("outcomes", m)) is not None]
    if not scans:
        return pl.DataFrame()
    return (
        pl.concat(
            s.select(
                "lead_id", "visited_on", "outcome", "referred_to", "note", "source_file", "source_row"
            ).with_columns(month=pl.lit(m))
            for m, s in scans
        )
        .sort("lead_id", "month", "visited_on", "source_file", "source_row")
        .unique("lead_id", keep="last", maintain_order=True)
        .collect()
    )


def against_returned(rows: list[Row], read: dict[str, Returned], waiting: dict[str, tuple]) -> None:
    """Each accepted row against what its id already has: the outcome uploaded and not yet read
    (`waiting`: id -> content), else the one a run read (`read`); the later upload wins. The same
    content is 无变化, and so is a closed case's outcome with a new note alone (`corrected_part`);
    a change to a closed case's outcome is a correction that needs its reason in 备注; a row back to
    the outcome read, replacing a correction uploaded and not yet read, takes that correction back."""
    for row in rows:
        if row.status != "接受":
            continue
        before, done = waiting.get(row.id), read.get(row.id)
        if before is not None and row.content == before:
            row.status, row.reason = "无变化", "与此前上传、尚待月度运行读取的结果相同，未重复写入"
        elif done is None:
            continue
        elif before is None and row.content == done.content:
            row.status, row.reason = "无变化", f"与{done.month} 月已入库的结论相同，未重复写入"
        elif not done.closed:
            continue
        elif corrected_part(row.content) == corrected_part(done.content):
            if before is not None:
                row.reason = "撤回此前上传的更正：恢复为已入库的结论"
            else:
                row.status = "无变化"
                row.reason = (
                    f"与{done.month} 月已入库的结论、核查日期和转介部门相同；只改“备注”不算更正，未写入"
                )
        else:
            change = f"原结论“{done.outcome}”（{done.month} 月入库）→“{row.outcome}”"
            if row.note is None or row.note == done.content[3]:
                row.status = "拒绝"
                row.reason = (
                    f"编号 {row.id} 已结案，{change}属于更正，须在“备注”中写明更正原因"
                    "（备注为空或与原结论的备注相同）"
                )
            else:
                row.correction, row.reason = True, f"更正：{change}，原因：{row.note}"


def check(
    rows: list[Row],
    township: str,
    home: Home,
    month: str,
    today: dt.date,
    waiting: dict[str, tuple] | None = None,
) -> None:
    """Each row accepted, refused with a reason, skipped (nothing filled in yet) or unchanged (the
    same as the outcome of its id uploaded and not yet read, `waiting`: id -> `Row.content`, or
    read by a run)."""
    ids = sorted({r.id for r in rows if r.id})
    known = {r[0]: r[1:] for r in issued(home, ids).iter_rows()}
    window_start = month_bounds(add_months(month, -load_population(month=month).late_report_months))[0]
    first: dict[str, Row] = {}
    for row in rows:
        if row.status != "接受":
            continue
        if row.visited_on is None and row.outcome is None:
            row.status, row.reason = "跳过", "未填写核查日期和核查结论（尚未核查）"
            continue
        where = known.get(row.id or "")
        if not row.id:
            row.status, row.reason = "拒绝", "编号为空"
        elif where is None or where[0] != township:
            # one answer for both, so that uploads cannot map which households elsewhere are cases
            row.status, row.reason = (
                "拒绝",
                f"编号 {row.id} 不是下发给本乡镇的编号（不存在或属于其他乡镇，请核对是否抄错）",
            )
        elif row.outcome is None:
            row.status, row.reason = "拒绝", "核查结论为空"
        elif row.outcome not in OUTCOME_CODES:
            row.status, row.reason = (
                "拒绝",
                f"核查结论“{row.outcome}”不在约定的选项中（{'、'.join(OUTCOME_CODES)}）",
            )
        elif row.visited_on is None:
            row.status, row.reason = "拒绝", "核查日期为空"
        elif row.visited_on < where[2]:
            row.status, row.reason = "拒绝", f"核查日期 {row.visited_on} 早于清单下发日 {where[2]}"
        elif row.visited_on > today:
            row.status, row.reason = "拒绝", f"核查日期 {row.visited_on} 晚于今天（{today}）"
        elif row.visited_on < window_start:
            row.status, row.reason = "拒绝", f"核查日期 {row.visited_on} 早于一年前，超出回传时限"
    for row in rows:
        if row.status != "接受":
            continue
        earlier = first.get(row.id)
        if earlier is None:
            first[row.id] = row
        elif (earlier.outcome, earlier.visited_on, earlier.referred_to, earlier.note) != (
            row.outcome,
            row.visited_on,
            row.referred_to,
            row.note,
        ):
            for r in (earlier, row):
                r.status = "拒绝"
                lines = f"{earlier.place}和{row.place}"
                r.reason = f"编号 {row.id} 在本文件中出现两次且内容不同（{lines}）"
        else:
            row.status, row.reason = "跳过", f"与{earlier.place}重复"
    # an id refused for a conflict stays refused even if a third row repeats one of the two
    conflicted = {r.id for r in rows if r.reason.startswith(f"编号 {r.id} 在本文件中出现两次")}
    for row in rows:
        if row.status == "接受" and row.id in conflicted:
            row.status, row.reason = "拒绝", f"编号 {row.id} 在本文件中出现两次且内容不同"
    against_returned(rows, read_back(home, ids), waiting or {})


def part_path(landing: Path, month: str, township: str) -> Path:
    return landing / month / f"outcomes.part-{township}.csv"


def _read_part(path: Path) -> pl.DataFrame:
    schema = {c: pl.String for c in COLUMNS}
    return pl.read_csv(path, schema=schema) if path.exists() else pl.DataFrame(schema=schema)


def _write_part(path: Path, frame: pl.DataFrame) -> None:
    """Atomic: a temporary file, flushed to disk, renamed over the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if frame.height == 0:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.sort("lead_id").write_csv(tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def merge(home: Home, landing: Path, township: str, accepted: list[Row], sha256: str) -> dict[str, int]:
    """Write the accepted rows into the township's part of `outcomes`, each in the month of its
    visit or, if that month no longer takes outcomes, in the first that does (`target_month`, found
    under the lock): an outcome is an event of the month it happened in. A row replaces the rows of
    its id in every month that still takes outcomes; rows of other ids stay. Serialised by a lock;
    each file is replaced atomically. Returns rows per month written, "replaced" and "kept"."""
    new = pl.DataFrame(
        {
            "lead_id": [r.id for r in accepted],
            "visited_on": [r.visited_on.isoformat() for r in accepted],
            "outcome": [r.outcome for r in accepted],
            "referred_to": [r.referred_to for r in accepted],
            "note": [r.note for r in accepted],
            "upload_sha256": [sha256] * len(accepted),
        },
        schema={c: pl.String for c in COLUMNS},
    )
    landing.mkdir(parents=True, exist_ok=True)
    counts = {"replaced": 0, "kept": 0}
    with open(landing / f".outcomes.part-{township}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        first = target_month(home, landing)
        new = new.with_columns(month=pl.max_horizontal(pl.lit(first), pl.col("visited_on").str.slice(0, 7)))
        pending = sorted(
            {p.parent.name for p in landing.glob(f"*/outcomes.part-{township}.csv") if p.parent.name >= first}
            | set(new["month"])
        )
        ids = new["lead_id"].implode()
        for month in pending:
            path = part_path(landing, month, township)
            old = _read_part(path)
            counts["replaced"] += old.filter(pl.col("lead_id").is_in(ids)).height
            counts["kept"] += old.filter(~pl.col("lead_id").is_in(ids)).height
            mine = new.filter(pl.col("month") == month).drop("month")
            if mine.height or old.filter(pl.col("lead_id").is_in(ids)).height:
                _write_part(path, pl.concat([old.filter(~pl.col("lead_id").is_in(ids)), mine]))
            if mine.height:
                counts[month] = mine.height
    return counts


def keep_raw(home: Path, data: bytes, filename: str) -> str:
    sha = hashlib.sha256(data).hexdigest()
    folder = home / "portal" / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{sha}{Path(filename).suffix.lower()}"
    if not target.exists():
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.chmod(0o600)
        os.replace(tmp, target)
    return sha


def receive(
    home_root: Path,
    landing: Path,
    township: str,
    filename: str,
    data: bytes,
    settings: PortalSettings,
    today: dt.date,
    rows: list[Row] | None = None,
) -> Checked:
    """Check an upload (its `rows`, when they were read already) and, when rows are accepted,
    merge them into next month's delivery."""
    home = Home(home_root)
    month = target_month(home, landing)
    if month is None:
        raise UploadRefused("还没有发布任何月份的清单，暂不能回传")
    rows = read_upload(filename, data, settings) if rows is None else rows
    sha = keep_raw(home_root, data, filename)
    result = Checked(sha256=sha, filename=filename, bytes=len(data), month=month, rows=rows)
    check(rows, township, home, month, today, waiting(home, landing, township))
    accepted = [r for r in rows if r.status == "接受"]
    if accepted:
        counts = merge(home, landing, township, accepted, sha)
        result.replaced, result.kept = counts.pop("replaced"), counts.pop("kept")
        result.written = counts
    return result


def unread_parts(home: Home, landing: Path | None, township: str = "*") -> list[Path]:
    """The outcome parts uploaded for months not yet published (a run has not read them yet)."""
    months = sorted(home.catalog)
    if landing is None or not months:
        return []
    return [p for p in sorted(landing.glob(f"*/outcomes.part-{township}.csv")) if p.parent.name > months[-1]]


def waiting(home: Home, landing: Path | None, township: str) -> dict[str, tuple]:
    """The content (`Row.content`) of each outcome uploaded and not yet read by a run, by id."""
    rows = pending(home, landing, township).select("lead_id", "outcome", "visited_on", "referred_to", "note")
    return {r[0]: tuple(v or None for v in r[1:]) for r in rows.iter_rows()}


def pending(home: Home, landing: Path | None, township: str) -> pl.DataFrame:
    """The outcomes uploaded and not yet read by a run."""
    parts = [_read_part(p) for p in unread_parts(home, landing, township)]
    return pl.concat(parts) if parts else _read_part(Path("/nonexistent"))
