"""Read one source's delivered files into strings in the contract's columns, then cast them to its types.

Departments send CSV in UTF-8 (with or without BOM), GBK or GB18030, or xlsx; headers in English
or Chinese in any order; values padded with normal or full-width spaces. Everything that cannot be
read at all raises `DeliveryError` naming the file; everything that can be read but not cast is
returned as a per-cell problem for the quarantine, so no row is lost.

A month's delivery is staged (`stage_source`): each file checked and hashed 16 MB at a time,
transcoded to UTF-8 when it is not, and streamed by Polars into Parquet of trimmed strings, so a
province's roster (465 MB, 4.7 M rows) is never held whole (0.4 GB at most, against 2.4 GB read into
memory). A workbook is read whole, and so is a CSV with a row of more fields than its header.
`read_source` reads the same way into memory, for uploads and tests.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from xml.parsers import expat

import polars as pl

from jobs.lake import write_parquet
from safetynet.contract import SOURCES, Source
from safetynet.errors import DeliveryError, SafetynetError
from safetynet.ids import convert_legacy_expr, is_legacy_expr
from safetynet.rules import PortalSettings

# Characters trimmed from headers and values: ASCII whitespace, full-width space (U+3000),
# no-break space and a stray BOM (CONTRACT.md, "Headers").
TRIM = " \t\r\n\u3000\u00a0\ufeff"
DELIVERY_RE = re.compile(r"^(?P<source>[a-z_]+?)(?:\.part-(?P<part>\d+))?\.(?P<ext>csv|xlsx)$")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")
AMOUNT = pl.Decimal(16, 2)
META = ["source_file", "source_row"]


@dataclass(frozen=True)
class DeliveredFile:
    path: Path
    sha256: str
    bytes: int
    encoding: str
    rows: int


@dataclass
class RawSource:
    """One source's delivered rows as trimmed strings, canonical column names, plus metadata.

    `malformed` holds rows that could not be split into the header's columns (source_file,
    source_row, reason, raw_value); they count as delivered and are quarantined."""

    source: Source
    frame: pl.DataFrame
    files: list[DeliveredFile]
    ignored_columns: list[str]
    malformed: pl.DataFrame | None = None


def find_deliveries(month_dir: Path) -> tuple[dict[str, list[Path]], list[Path]]:
    """Delivered files per known source, and files that match no source of the contract."""
    found: dict[str, list[tuple[int, Path]]] = {}
    unknown: list[Path] = []
    for path in sorted(month_dir.iterdir()):
        if path.name == "_READY":  # the data team's readiness marker (contract version 2)
            continue
        m = DELIVERY_RE.match(path.name)
        if not path.is_file() or not m or m["source"] not in SOURCES:
            unknown.append(path)
            continue
        if m["part"] and m["ext"] != "csv":
            unknown.append(path)
            continue
        found.setdefault(m["source"], []).append((int(m["part"] or 0), path))
    return {s: [p for _, p in sorted(parts)] for s, parts in found.items()}, unknown


CHUNK_BYTES = 1 << 24  # a delivered file is checked, hashed and transcoded 16 MB at a time


def _chunks(path: Path) -> Iterator[bytes]:
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                yield chunk
    except OSError as exc:
        raise DeliveryError(path, f"cannot be read ({exc.strerror})") from None


def _encoding(path: Path, chunks: Iterable[bytes]) -> tuple[str, str, int]:
    """The encoding a delivered CSV is in (utf-8, utf-8-sig, or gb18030 when it is not UTF-8),
    with its SHA-256 and size; raises DeliveryError for a file that is not CSV text."""
    digest, size, blank, utf8 = hashlib.sha256(), 0, True, codecs.getincrementaldecoder("utf-8")()
    encoding = "utf-8"
    for chunk in chunks:
        if size == 0:
            if chunk[:4] == b"PK\x03\x04":
                raise DeliveryError(path, "file is a zip/xlsx archive but is named .csv")
            if b"\x00" in chunk[:65536]:
                raise DeliveryError(path, "file is binary (NUL bytes), not a CSV text file")
            if chunk.startswith(codecs.BOM_UTF8):
                encoding = "utf-8-sig"
        digest.update(chunk)
        size += len(chunk)
        blank = blank and not chunk.strip()
        if encoding != "gb18030":
            try:
                utf8.decode(chunk)
            except UnicodeDecodeError:
                encoding = "gb18030"
    if blank:
        raise DeliveryError(path, "file is empty")
    if encoding != "gb18030":
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            encoding = "gb18030"
    return encoding, digest.hexdigest(), size


def _transcode(path: Path, chunks: Iterable[bytes], encoding: str, sink: BinaryIO) -> None:
    """Write a delivered CSV to `sink` as UTF-8 without BOM (a BOM before GBK text too). GBK-labelled
    files are decoded as GB18030, its superset, so the rare characters of the 2022 standard
    round-trip; decoding is strict, never replacing a character."""
    decoder = codecs.getincrementaldecoder("utf-8" if encoding == "utf-8-sig" else encoding)()
    offset, chunk = 0, b""
    try:
        for chunk in chunks:
            if offset == 0 and chunk.startswith(codecs.BOM_UTF8):
                chunk, offset = chunk[len(codecs.BOM_UTF8) :], len(codecs.BOM_UTF8)
            sink.write(decoder.decode(chunk).encode("utf-8"))
            offset += len(chunk)
        chunk = b""
        sink.write(decoder.decode(chunk, final=True).encode("utf-8"))
    except UnicodeDecodeError as exc:
        # the decoder holds back a character's first bytes: they stand before `chunk` in exc.object
        at = offset + len(chunk) - len(exc.object) + exc.start
        raise DeliveryError(
            path, f"file is neither UTF-8 nor GBK/GB18030 text (undecodable byte at offset {at})"
        ) from None


def decode_csv(path: Path, data: bytes) -> tuple[bytes, str]:
    """UTF-8 bytes of a delivered CSV held in memory and the encoding it came in."""
    encoding, _, _ = _encoding(path, [data])
    if encoding == "utf-8":
        return data, encoding
    text = io.BytesIO()
    _transcode(path, [data], encoding, text)
    return text.getvalue(), encoding


def _read_xlsx(path: Path, data: bytes) -> tuple[pl.DataFrame, list[str]]:
    from python_calamine import CalamineWorkbook

    if data[:4] != b"PK\x03\x04":
        raise DeliveryError(path, "file is named .xlsx but is not an xlsx workbook")
    try:
        rows = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
    except Exception as exc:  # calamine raises its own types for corrupt workbooks
        raise DeliveryError(path, f"xlsx workbook cannot be read ({exc})") from None
    if not rows:
        raise DeliveryError(path, "file is empty (first sheet has no rows)")
    header = [_cell_text(v) or f"column_{i}" for i, v in enumerate(rows[0])]
    names = _dedupe(header)
    columns = {h: [_cell_text(r[i]) if i < len(r) else None for r in rows[1:]] for i, h in enumerate(names)}
    return pl.DataFrame(columns, schema=dict.fromkeys(names, pl.String)), header


def _cell_text(value: object) -> str | None:
    """xlsx cells come typed; contract columns are text, so render them as a department would see them."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    return str(value)


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}__{seen[n]}")
    return out


def _read_ragged(path: Path, text: bytes) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """Slow path for a CSV with rows that have more fields than its header: keep the others.

    Only files that fail the fast reader come here, so the per-record Python is acceptable."""
    records = list(csv.reader(io.StringIO(text.decode("utf-8"))))
    header, body = records[0], records[1:]
    good = [(i + 2, r) for i, r in enumerate(body) if len(r) <= len(header) and any(r)]
    bad = [(i + 2, r) for i, r in enumerate(body) if len(r) > len(header)]
    frame = pl.DataFrame(
        {
            h: [r[j] if j < len(r) and r[j] != "" else None for _, r in good]
            for j, h in enumerate(_dedupe(header))
        },
        schema={h: pl.String for h in _dedupe(header)},
    ).with_columns(__row=pl.Series([i for i, _ in good], dtype=pl.Int64))
    malformed = pl.DataFrame(
        {
            "source_file": [path.name] * len(bad),
            "source_row": [i for i, _ in bad],
            "reason": [f"row has {len(r)} fields, the header has {len(header)}" for _, r in bad],
            "raw_value": [",".join(r)[:500] for _, r in bad],
        },
        schema={
            "source_file": pl.String,
            "source_row": pl.Int64,
            "reason": pl.String,
            "raw_value": pl.String,
        },
    )
    return frame, malformed, header


def _field_names(source: Source) -> dict[str, str]:
    names: dict[str, str] = {}
    for col in source.columns:
        names[col.name.lower()] = col.name
        names[col.zh] = col.name
    return names


def _field(names: dict[str, str], header: str) -> str | None:
    # spaces inside a header are a typist's (姓　名), never part of a name of the contract
    key = re.sub(r"[\s\u3000]+", "", header.strip(TRIM))
    return names.get(key) or names.get(key.lower())


def header_map(source: Source, delivered: list[str]) -> tuple[dict[str, str], list[str]]:
    """Map delivered headers to canonical names; returns the mapping and the ignored headers
    (a second header for a field already mapped is one `_canonical` compares with the first)."""
    names = _field_names(source)
    mapping: dict[str, str] = {}
    ignored: list[str] = []
    for header in delivered:
        canonical = _field(names, header)
        if canonical is None or canonical in mapping.values():
            ignored.append(header)
        else:
            mapping[header] = canonical
    return mapping, ignored


def _trimmed(column: str) -> pl.Expr:
    # strip_chars() trims Unicode white space, full-width space included (3x faster than an
    # explicit character set on 5 M rows)
    return _blank_as_null(pl.col(column).str.strip_chars())


def _twins(source: Source, header: list[str]) -> dict[str, list[int]]:
    """The positions of the columns each field is delivered in, for fields delivered more than once."""
    names, found = _field_names(source), {}
    for i, name in enumerate(header):
        if (canonical := _field(names, name)) is not None:
            found.setdefault(canonical, []).append(i)
    return {field: where for field, where in found.items() if len(where) > 1}


def _collapse(path: Path, cells: pl.LazyFrame, names: list[str], header: list[str], twins) -> list[str]:
    """Notes for the columns that repeat a field with the same values in every row; raises
    DeliveryError naming both columns and the first row where they differ (CONTRACT.md: a header
    names one field, so two columns with two values for it leave the row's value unknown). Only a
    file with a repeated field pays for this pass over its rows."""
    notes = []
    for field, (first, *others) in twins.items():
        for other in others:
            a, b = names[first], names[other]
            differ = (
                cells.filter(~_trimmed(a).eq_missing(_trimmed(b)))
                .select("__row")
                .head(1)
                .collect(engine="streaming")
            )
            shown = f"{first + 1} ({header[first].strip(TRIM)}) and {other + 1} ({header[other].strip(TRIM)})"
            if differ.height:
                raise DeliveryError(
                    path,
                    f"columns {shown} both give {field} and differ, first at row {differ['__row'][0]}: "
                    "the file cannot say which is meant",
                )
            same = f"column {other + 1}: the same values as column {first + 1}, collapsed"
            notes.append(f"{header[other].strip(TRIM)} ({same})")
    return notes


def _canonical(
    source: Source, path: Path, cells: pl.LazyFrame, header: list[str]
) -> tuple[pl.LazyFrame, list[str]]:
    """A file's cells (strings, `__row`, columns in the order of `header`, the file's first row) as
    the contract's columns, trimmed, with `source_file` and `source_row`; and the headers ignored
    or collapsed. Raises DeliveryError when the header does not name the source's required columns,
    or names one field twice with different values."""
    names = [c for c in cells.collect_schema().names() if c != "__row"]
    if len(header) != len(names):  # never seen; the reader's own names then, repeats renamed
        header = names
    fields = _field_names(source)
    mapping: dict[str, str] = {}
    ignored = []
    for name, delivered in zip(names, header, strict=True):
        canonical = _field(fields, delivered)
        if canonical is None:
            ignored.append(delivered)
        elif canonical not in mapping.values():
            mapping[name] = canonical
    if not mapping:
        shown = ", ".join(c.strip(TRIM) for c in header[:4])
        raise DeliveryError(path, f"no recognised header for source '{source.name}' (first row: {shown})")
    missing = [c for c in source.required if c not in mapping.values()]
    if missing:
        named = ", ".join(f"{c} ({source.column(c).zh})" for c in missing)
        raise DeliveryError(path, f"required column(s) missing: {named}")
    ignored += _collapse(path, cells, names, header, _twins(source, header))
    canonical = cells.rename(mapping).select(
        [
            (_trimmed(c.name) if c.name in mapping.values() else pl.lit(None)).cast(pl.String).alias(c.name)
            for c in source.columns
        ],
        source_file=pl.lit(path.name),
        source_row=pl.col("__row").cast(pl.Int64),
    )
    return canonical, ignored


def _blank_as_null(value: pl.Expr) -> pl.Expr:
    """Null for an empty value: `when`, not `replace("", None)`, which Polars' streaming engine
    does not run (measured: the roster's staging 2.2 GB with it, 0.4 GB without)."""
    return pl.when(value != "").then(value)


def _csv_header(text: Path) -> list[str]:
    """A CSV's first row as delivered: Polars renames a repeated header (`x_duplicated_0`)."""
    first = pl.read_csv(text, has_header=False, n_rows=1, infer_schema=False)
    return [v or "" for v in first.row(0)]


def _csv_error(path: Path, exc: Exception) -> DeliveryError:
    return DeliveryError(path, f"not a readable CSV ({str(exc).strip().splitlines()[0][:160]})")


def stage_file(
    source: Source, path: Path, target: Path, data: bytes | None = None
) -> tuple[DeliveredFile, list[str], pl.DataFrame | None]:
    """One delivered file's rows as trimmed strings in the contract's columns, written to `target`
    (Parquet) a batch at a time, so a 5 M-row roster is never held whole (a workbook is, and a CSV
    with a row of too many fields is read again whole, in Python, to keep its other rows); `data`:
    the file's bytes when they are already in memory (an upload). Returns what was delivered, the
    headers ignored and the rows that could not be split into the header's columns (source_file,
    source_row, reason, raw_value), which count as delivered and are quarantined."""
    chunks = (lambda: [data]) if data is not None else (lambda: _chunks(path))
    malformed, text = None, path
    try:
        if path.suffix == ".xlsx":  # a workbook is read whole (calamine); at most 1,048,576 rows
            whole = data if data is not None else b"".join(chunks())
            sha, size, encoding = hashlib.sha256(whole).hexdigest(), len(whole), "xlsx"
            frame, header = _read_xlsx(path, whole)
            cells = frame.lazy().with_row_index("__row", offset=2)
        else:
            encoding, sha, size = _encoding(path, chunks())
            if encoding != "utf-8" or data is not None:  # Polars reads a UTF-8 file of its own
                text = target.with_name(f"{target.stem}.csv")
                with open(text, "wb") as sink:
                    _transcode(path, chunks(), encoding, sink)
            cells = pl.scan_csv(text, infer_schema=False, has_header=True, raise_if_empty=True)
            cells = cells.with_row_index("__row", offset=2)
            header = _csv_header(text)
        rows, ignored = _canonical(source, path, cells, header)
        write_parquet(rows, target)
    except pl.exceptions.ComputeError as exc:
        if path.suffix == ".xlsx" or "more fields" not in str(exc):
            raise _csv_error(path, exc) from None
        frame, malformed, header = _read_ragged(path, text.read_bytes())
        rows, ignored = _canonical(source, path, frame.lazy(), header)
        write_parquet(rows, target)
    except pl.exceptions.NoDataError as exc:
        raise _csv_error(path, exc) from None
    finally:
        if text != path:
            text.unlink(missing_ok=True)
    count = pl.scan_parquet(target).select(pl.len()).collect().item()
    rows_delivered = count + (malformed.height if malformed is not None else 0)
    return DeliveredFile(path, sha, size, encoding, rows_delivered), ignored, malformed


@dataclass
class StagedSource:
    """One source's delivered rows written as trimmed strings in the contract's columns (one
    Parquet file per delivered file, in delivery order), plus what was delivered."""

    source: Source
    parts: list[Path]
    files: list[DeliveredFile]
    ignored_columns: list[str]
    malformed: pl.DataFrame | None = None

    def scan(self) -> pl.LazyFrame:
        return pl.scan_parquet(self.parts)


def stage_source(
    source_name: str | Source, paths: list[Path], folder: Path, contents: dict[Path, bytes] | None = None
) -> StagedSource:
    """Stage every file of one source (a name of the contract's, or a Source) into `folder`;
    `contents` holds the bytes of files already in memory. Raises DeliveryError if unusable."""
    source = source_name if isinstance(source_name, Source) else SOURCES[source_name]
    folder.mkdir(parents=True, exist_ok=True)
    parts, files, ignored, malformed = [], [], [], []
    for number, path in enumerate(paths):
        part = folder / f"{number:04}.parquet"
        info, extra, bad_rows = stage_file(source, path, part, (contents or {}).get(path))
        parts.append(part)
        files.append(info)
        ignored += [c for c in extra if c not in ignored]
        if bad_rows is not None:
            malformed.append(bad_rows)
    return StagedSource(source, parts, files, ignored, pl.concat(malformed) if malformed else None)


def read_source(
    source_name: str | Source, paths: list[Path], contents: dict[Path, bytes] | None = None
) -> RawSource:
    """Read, map headers and trim every file of one source into memory (an upload, a test); the
    month's ingest stages its deliveries instead (`stage_source`). Raises DeliveryError if unusable."""
    with tempfile.TemporaryDirectory(prefix="safetynet-read-") as folder:
        staged = stage_source(source_name, paths, Path(folder), contents)
        frame = pl.read_parquet(staged.parts)
    return RawSource(staged.source, frame, staged.files, staged.ignored_columns, staged.malformed)


def _guess_date_format(values: pl.Series) -> str:
    """The date form a file uses: the one that parses most of its first 1,000 values."""
    head = values.drop_nulls().head(1000)
    return max(DATE_FORMATS, key=lambda fmt: head.str.to_date(fmt, strict=False).is_not_null().sum())


def _amount(raw: pl.Expr) -> pl.Expr:
    return raw.str.replace_all(r"[,，]", "").str.replace(r"^[¥￥]", "").cast(AMOUNT, strict=False)


def _month(raw: pl.Expr) -> pl.Expr:
    parsed = pl.coalesce(
        [(raw + "-01").str.to_date(fmt, strict=False) for fmt in ("%Y-%m-%d", "%Y/%m-%d")]
        + [(raw + "01").str.to_date("%Y%m%d", strict=False)]
    )
    return parsed.dt.strftime("%Y-%m")


def _int(raw: pl.Expr) -> pl.Expr:
    return raw.str.strip_suffix("级").cast(pl.Int32, strict=False)


CAST_REASONS = {
    "date": "not a date in YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD form",
    "amount": "not an amount in yuan",
    "int": "not a whole number",
    "month": "not a month in YYYY-MM form",
}


def cast(raw: RawSource) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed frame (same rows, same order) and the cells that could not be cast.

    The problems frame has one row per failed cell: source_file, source_row, column, reason,
    raw_value. ID numbers are normalised here (lower-case x, 15-digit legacy numbers converted
    and flagged in `id_legacy15`); their validity is an expectation of the suite.

    The common case is parsed for all rows in one parallel pass (dates in the form the file
    mostly uses); only the rows that fail it are retried with the other forms.
    """
    source, frame = raw.source, raw.frame
    exprs: list[pl.Expr] = []
    for col in source.columns:
        c = pl.col(col.name)
        if col.type == "date":
            exprs.append(c.str.to_date(_guess_date_format(frame[col.name]), strict=False))
        elif col.type == "amount":
            exprs.append(_amount(c))
        elif col.type == "int":
            exprs.append(_int(c))
        elif col.type == "month":
            exprs.append(_month(c))
        elif col.type == "id":
            exprs += [c.str.to_uppercase(), is_legacy_expr(c).alias("id_legacy15")]
        else:
            exprs.append(c)
    typed = frame.select(*META, *exprs)
    if "id_legacy15" in typed.columns and typed["id_legacy15"].any():
        legacy = typed["id_legacy15"].arg_true()
        fixed = typed[legacy].select(convert_legacy_expr(pl.col("id_number")))
        typed = typed.with_columns(typed["id_number"].scatter(legacy, fixed.to_series()))
    checked = [c for c in source.columns if c.type in CAST_REASONS]
    failed = (
        frame.select((pl.col(c.name).is_not_null() & typed[c.name].is_null()).alias(c.name) for c in checked)
        if checked
        else pl.DataFrame()
    )
    problems = []
    for col in checked:
        rows = failed[col.name].arg_true()
        if col.type == "date" and len(rows):  # another of the contract's forms, row by row
            retry = (
                frame[col.name]
                .gather(rows)
                .to_frame("v")
                .select(pl.coalesce(pl.col("v").str.to_date(f, strict=False) for f in DATE_FORMATS))
                .to_series()
            )
            typed = typed.with_columns(typed[col.name].scatter(rows, retry))
            rows = rows.gather(retry.is_null().arg_true())
        if len(rows):
            problems.append(
                frame[rows].select(
                    *META,
                    column=pl.lit(col.name),
                    reason=pl.lit(CAST_REASONS[col.type]),
                    raw_value=pl.col(col.name),
                )
            )
    return typed, pl.concat(problems) if problems else _empty_problems()


def _empty_problems() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "source_file": pl.String,
            "source_row": pl.Int64,
            "column": pl.String,
            "reason": pl.String,
            "raw_value": pl.String,
        }
    )


class XlsxRefused(SafetynetError):
    """A workbook uploaded to the portal refused before it is read; the message is in Chinese."""


NOT_A_WORKBOOK = "文件不是有效的 Excel 工作簿（xlsx）"
SHEET_ROOTS = ("worksheet", "macrosheet", "dialogsheet")  # parts a reader lays out as a grid
CELL_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def _local(name: str) -> str:
    """An element's or attribute's name without its namespace (`x:c` and `c` are one element)."""
    return name.rpartition("}")[2]


class _SheetExtent:
    """A worksheet's extent as its XML streams: every <row> and <c> element counted, whatever its
    attributes say, and the farthest place each takes: its `r` attribute when it has one, else the
    one after the previous (as a reader lays it out). Refuses as soon as a limit is passed, so a
    sheet of a million empty cells costs no more than the first cells past the limit."""

    def __init__(self, settings: PortalSettings) -> None:
        # the title and header rows sit above the data rows a list may have
        self.max_rows, self.max_columns = settings.upload_max_rows + 10, settings.upload_max_columns
        self.max_cells = settings.upload_max_cells
        self.rows = self.cells = self.row = self.column = self.far_row = self.far_column = 0

    def element(self, name: str, attrs: dict[str, str]) -> None:
        if name == "c":
            self.cells += 1
            ref = _reference(attrs)
            self.row, self.column = _cell_place(ref) if ref is not None else (self.row, self.column + 1)
        elif name == "row":
            self.rows += 1
            ref = _reference(attrs)
            self.row = _row_number(ref) if ref is not None else self.row + 1
            self.column = 0
        elif name == "dimension" and attrs.get("ref"):  # what it claims counts too
            return self._reach(*_cell_place(attrs["ref"].rpartition(":")[2]))
        else:
            return
        self._reach(self.row, self.column)
        if self.rows > self.max_rows or self.cells > self.max_cells:
            raise XlsxRefused(
                f"工作簿的行数或单元格数过多（读到第 {self.rows} 行、第 {self.cells} 个单元格时超出），"
                f"已拒绝；最多 {self.max_rows - 10} 行、{self.max_cells} 个单元格"
            )

    def _reach(self, row: int, column: int) -> None:
        self.far_row, self.far_column = max(self.far_row, row), max(self.far_column, column)
        if self.far_row > self.max_rows or self.far_column > self.max_columns:
            raise XlsxRefused(
                f"工作簿的表格范围过大（{self.far_row} 行 × {self.far_column} 列），已拒绝；"
                f"最多 {self.max_rows - 10} 行、{self.max_columns} 列"
            )


def _reference(attrs: dict[str, str]) -> str | None:
    """The `r` attribute, with or without a namespace prefix."""
    if "r" in attrs or not attrs:
        return attrs.get("r")
    return next((v for k, v in attrs.items() if _local(k) == "r"), None)


def _row_number(ref: str) -> int:
    if not ref.strip().isdigit():
        raise XlsxRefused(NOT_A_WORKBOOK)
    return int(ref)


def _cell_place(ref: str) -> tuple[int, int]:
    """(row, column) of a reference such as `T300000`."""
    found = CELL_REF.fullmatch(ref.strip())
    if found is None:
        raise XlsxRefused(NOT_A_WORKBOOK)
    return int(found.group(2)), _column_number(found.group(1))


class _Part:
    """One XML part fed to expat as it inflates, measured if its root element is a worksheet (what
    the part is, not what it is named). A DOCTYPE or an entity (never in a workbook) is refused; a
    part that is not a sheet and does not parse is left to the reader, but its bytes still count."""

    def __init__(self, name: str, settings: PortalSettings) -> None:
        self.name, self.settings, self.sheet = name, settings, None
        self.parser = expat.ParserCreate(namespace_separator="}")
        self.parser.StartElementHandler = self._start
        self.parser.StartDoctypeDeclHandler = self.parser.EntityDeclHandler = self._refuse

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        local = _local(tag)
        if self.sheet is None:
            self.sheet = _SheetExtent(self.settings) if local in SHEET_ROOTS else False
        if self.sheet:
            self.sheet.element(local, attrs)

    def _refuse(self, *_) -> None:
        raise XlsxRefused(NOT_A_WORKBOOK)

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if self.parser is None:
            return
        try:
            self.parser.Parse(chunk, final)
        except expat.ExpatError:
            if self.sheet or self.name.startswith("xl/worksheets/"):
                raise XlsxRefused(NOT_A_WORKBOOK) from None
            self.parser = None


def inspect_xlsx(data: bytes, settings: PortalSettings) -> None:
    """Refuse a workbook before a reader builds its grid: by the bytes it really inflates to (not
    the sizes it declares), by the rows and cells its sheets really hold, and by the farthest cell
    they reach, however they say it (a 5 KB file can place a cell at row 300000 or at XFD1048576,
    which a reader would fill out as millions of cells)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise XlsxRefused(NOT_A_WORKBOOK) from None
    with zf:
        if "xl/workbook.xml" not in zf.namelist():
            raise XlsxRefused(NOT_A_WORKBOOK)
        budget = settings.xlsx_max_uncompressed_bytes
        for name in zf.namelist():
            budget = _inspect_part(zf, name, budget, settings)


def _inspect_part(zf: zipfile.ZipFile, name: str, budget: int, settings: PortalSettings) -> int:
    """Stream one member, counting its inflated bytes against `budget` (returned, less what it
    used) and measuring it if it is XML."""
    part = _Part(name, settings) if name.lower().endswith(".xml") else None
    try:
        with zf.open(name) as member:
            while chunk := member.read(1 << 20):
                budget -= len(chunk)
                if budget < 0:
                    raise XlsxRefused(
                        f"工作簿解压后超过 {settings.xlsx_max_uncompressed_bytes // 1_000_000} MB，已拒绝"
                        "（可能是压缩炸弹或含大量无关内容）"
                    )
                if part is not None:
                    part.feed(chunk)
        if part is not None:
            part.feed(b"", final=True)
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError):
        raise XlsxRefused(NOT_A_WORKBOOK) from None
    return budget
