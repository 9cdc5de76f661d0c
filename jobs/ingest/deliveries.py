"""Read one source's delivered files into strings in the contract's columns, then cast them to its types.

Departments send CSV in UTF-8 (with or without BOM), GBK or GB18030, or xlsx; headers in English
or Chinese in any order; values padded with normal or full-width spaces. Everything that cannot be
read at all raises `DeliveryError` naming the file; everything that can be read but not cast is
returned as a per-cell problem for the quarantine, so no row is lost.

A month's delivery is staged (`stage_source`): each file checked and hashed 16 MB at a time,
transcoded to UTF-8 when it is not, and streamed by Polars into Parquet of trimmed strings, so a
province's roster is never held whole (figures: docs/design/benchmark-history.md, "Per task").
A workbook is read whole, and so is a CSV with a row of more fields than its header.
`read_source` reads the same way into memory, for uploads and tests.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import polars as pl

from safetynet.contract import HISTORY, SOURCES, Source
from safetynet.errors import DeliveryError
from safetynet.ids import convert_legacy_expr, is_legacy_expr
from safetynet.lake import write_parquet

# Characters trimmed from headers and values: ASCII whitespace, full-width space (U+3000),
# no-break space and a stray BOM (CONTRACT.md, "Headers").
TRIM = " \t\r\n\u3000\u00a0\ufeff"
DELIVERY_RE = re.compile(
    r"^(?P<source>[a-z_]+?)(?:\.part-(?P<part>\d+)|\.(?P<history>history))?\.(?P<ext>csv|xlsx)$"
)
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
        if m["part"] and m["ext"] != "csv" or m["history"] and SOURCES[m["source"]].kind != "event":
            unknown.append(path)  # only an event source has earlier months' events to deliver
            continue
        order = -1 if m["history"] else int(m["part"] or 0)  # the history first: the earlier events
        found.setdefault(m["source"], []).append((order, path))
    return {s: [p for _, p in sorted(parts)] for s, parts in found.items()}, unknown


CHUNK_BYTES = 1 << 24  # a delivered file is checked, hashed and transcoded 16 MB at a time


def is_history(file_name: str) -> bool:
    """A `<source>.history.csv` (or .xlsx) delivery: up to the previous 12 months of events."""
    return HISTORY in file_name


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


def header_map(source: Source, header: list[str]) -> tuple[dict[int, str], list[str]]:
    """The canonical field of each delivered column, by position, the first column of a field only
    (a repeat is one `_collapse` compares with the first); and the headers naming no field."""
    names = _field_names(source)
    mapping: dict[int, str] = {}
    ignored: list[str] = []
    for i, delivered in enumerate(header):
        canonical = _field(names, delivered)
        if canonical is None:
            ignored.append(delivered)
        elif canonical not in mapping.values():
            mapping[i] = canonical
    return mapping, ignored


def _trimmed(column: str) -> pl.Expr:
    # strip_chars() trims Unicode white space, full-width space included (and is faster than an
    # explicit character set: docs/design/benchmark-history.md, "Figures that were in the code")
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
    if len(header) != len(names):  # never seen; the reader's names then, a repeat's suffix taken off
        header = [DUPLICATED.sub("", n) for n in names]
    positions, ignored = header_map(source, header)
    mapping = {names[i]: field for i, field in positions.items()}
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


DUPLICATED = re.compile(r"_duplicated_[0-9]+$")  # Polars' name for a repeated header


def _blank_as_null(value: pl.Expr) -> pl.Expr:
    """Null for an empty value: `when`, not `replace("", None)`, which Polars' streaming engine
    does not run, so it would read the roster whole (docs/data-team/validation.md, "Ingest in
    batches")."""
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
