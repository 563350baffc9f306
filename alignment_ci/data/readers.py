"""Label-batch readers: JSONL, CSV and Parquet into one canonical Arrow form.

Every reader streams the file in chunks, so a 1M-row batch never exists in several
copies at once: memory is O(chunk), not O(file). A chunk is a :class:`RawChunk`: an Arrow
table whose known columns already have the contract's Arrow types
(:data:`alignment_ci.data.contract.ARROW_TYPES`), a ``line`` column (the 1-based physical
line of each row), and the problems found while parsing (:class:`Issue`).

Line numbers:

- JSONL: line N is the Nth physical line; blank lines are skipped but still counted.
- CSV: the header is line 1; a row starts on the line where its first field starts (a
  quoted field may span several lines).
- Parquet: the 1-based row number.

JSONL has a fast path and an exact path. The fast path hands a block of whole lines
(tens of MiB) to ``pyarrow.json.read_json`` with the contract's schema; the block's line
numbers come from a numpy scan of its newlines. When pyarrow refuses the block (a
truncated line, a boolean where an integer belongs, non-UTF-8 bytes, …) or its row count
does not match the non-blank lines, the block is re-read line by line with :mod:`json`,
which knows the exact line, column and kind of every problem. CSV is read with the
:mod:`csv` module (it knows where a quoted multi-line field starts), Parquet with
``ParquetFile.iter_batches``.

Public API: :func:`iter_batches` (canonical record batches), :func:`read_batch` (one
pandas DataFrame), :func:`iter_raw_chunks` (chunks with parse problems, used by
validation) and :func:`detect_format`.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from pathlib import Path

import numpy as np

from ..config import ValidationLimits
from ..errors import InputError, LimitExceeded
from ..textsafety import redact_pii, truncate
from .contract import (
    ARROW_TYPES,
    COMMON_REQUIRED,
    LINE,
    TASK_REQUIRED,
    TASK_TYPES,
    TEXT_FIELDS,
    allowed_columns,
)
from .limits import (
    DuplicateKey,
    check_json_lines,
    loads_unique,
    row_too_long,
    setting,
    top_level_keys,
    within_depth,
)
from .. import lazy

pd = lazy.module("pandas")
pa = lazy.module("pyarrow")
pc = lazy.module("pyarrow.compute")
pajson = lazy.module("pyarrow.json")
pq = lazy.module("pyarrow.parquet")

FORMATS = ("jsonl", "csv", "parquet")
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".jsonlines": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
DEFAULT_CHUNK_ROWS = 65536
# JSONL bytes handed to pyarrow at once; a longer line extends its block.
JSONL_BLOCK_BYTES = 32 * 1024 * 1024


@cache
def _json_schema() -> pa.Schema:
    return pa.schema([(name, typ) for name, typ in ARROW_TYPES.items()])


@cache
def _describe() -> dict[pa.DataType, str]:
    return {
        pa.string(): "a string",
        pa.bool_(): "a boolean (true/false)",
        pa.int64(): "an integer",
        pa.float64(): "a number",
        pa.list_(pa.string()): "a list of strings",
        pa.list_(pa.int64()): "a list of integers",
    }


@dataclass(frozen=True)
class Issue:
    """One problem in a batch: 1-based physical ``line``, ``column`` (field name, ``None``
    for a whole-line problem), a stable snake_case ``kind``, a message that never echoes
    PII or long text raw, and ``col``: the 1-based character position when known."""

    line: int | None
    column: str | None
    kind: str
    message: str
    col: int | None = None

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"line": self.line, "column": self.column, "kind": self.kind, "message": self.message}
        if self.col is not None:
            d["col"] = self.col
        return d


@dataclass
class RawChunk:
    """Rows of one chunk as read, before value checks.

    ``table`` holds the known columns that the source declares (CSV header, Parquet
    schema; every known column for JSONL, null where a row lacks it) with their canonical
    Arrow types, plus ``line``. A value of the wrong type is null in ``table``, reported
    in ``issues`` and listed in ``type_errors`` (column -> lines) so that it is not
    reported a second time as missing. ``unknown_columns`` maps each column outside the
    contract to the first line that has it. ``declared`` is the set of columns the file
    declares (None for JSONL, where each row declares its own keys).
    """

    table: pa.Table
    issues: list[Issue] = field(default_factory=list)
    type_errors: dict[str, set[int]] = field(default_factory=dict)
    unknown_columns: dict[str, int] = field(default_factory=dict)
    declared: frozenset[str] | None = None
    bad_columns: frozenset[str] = frozenset()  # wrong type for the whole file (Parquet), reported once
    data_lines: int = 0  # non-blank physical records seen in this chunk, parsed or not


def show(value: object, limit: int = 60) -> str:
    """A value as it may appear in a message: PII redacted, long text truncated."""
    if isinstance(value, str):
        return repr(truncate(redact_pii(value), limit))
    return truncate(redact_pii(json.dumps(value, ensure_ascii=False, default=str)), limit)


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    """``jsonl``, ``csv`` or ``parquet`` from ``fmt`` or the file's extension."""
    if fmt is not None:
        fmt = fmt.lower()
        fmt = "jsonl" if fmt in ("json", "ndjson", "jsonlines") else fmt
        if fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise InputError(
            f"{path}: cannot tell the format from the extension {suffix or '(none)'!r}; "
            f"name the file .jsonl, .csv or .parquet, or pass the format explicitly"
        )
    return _EXTENSIONS[suffix]


def _open_binary(path: Path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a label-batch file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror})") from None


def iter_raw_chunks(
    path: str | Path, *, fmt: str | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS,
    limits: ValidationLimits | None = None,
) -> Iterator[RawChunk]:
    """Stream ``path`` as :class:`RawChunk` objects (at most about ``chunk_rows`` rows each).

    Raises :class:`InputError` when the file cannot be opened or its format is unknown,
    and :class:`~alignment_ci.errors.LimitExceeded` (before parsing the offending part)
    when the file is over one of ``limits`` (default: :class:`ValidationLimits`'s
    defaults); every other problem inside the file is an :class:`Issue` instead.
    """
    path = Path(path)
    kind = detect_format(path, fmt)
    limits = limits if limits is not None else ValidationLimits()
    if kind == "jsonl":
        return _iter_jsonl(path, chunk_rows, limits)
    if kind == "csv":
        return _iter_csv(path, chunk_rows, limits)
    return _iter_parquet(path, chunk_rows, limits)


class _Columns:
    """Distinct columns seen in one batch, bounded by ``max_columns``."""

    def __init__(self, limits: ValidationLimits, source: Path) -> None:
        self.limits, self.source, self.names = limits, source, set()

    def add(self, names: Iterable[str], line: int | None) -> None:
        self.names.update(names)
        if len(self.names) > self.limits.max_columns:
            where = f"line {line}: " if line is not None else ""
            raise LimitExceeded(
                f"{self.source}: {where}the batch has more than {self.limits.max_columns} distinct columns, over "
                f"the limit ({setting('max_columns')})", setting=setting("max_columns"),
                limit=self.limits.max_columns, line=line)


# --------------------------------------------------------------------------- JSONL


def _iter_jsonl(path: Path, chunk_rows: int, limits: ValidationLimits | None = None,
                block_bytes: int = JSONL_BLOCK_BYTES) -> Iterator[RawChunk]:
    limits = limits if limits is not None else ValidationLimits()
    f = _open_binary(path)
    columns = _Columns(limits, path)
    with f:
        first_line = 1
        position = 0
        size = block_bytes
        while True:
            f.seek(position)
            block = f.read(size)
            if not block:
                break
            if len(block) == size:  # not at the end of the file: stop after the last newline
                cut = block.rfind(b"\n")
                if cut == -1:  # one line longer than the block: read a bigger block
                    if size > limits.max_row_bytes:
                        raise row_too_long(first_line, size, limits, f"{path}: ")
                    size *= 2
                    continue
                block = block[: cut + 1]
            size = block_bytes
            position += len(block)
            starts, ends = _line_spans(block)
            yield from _jsonl_block(block, starts, ends, first_line, chunk_rows, limits, columns)
            first_line += len(starts)


def _line_spans(block: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive, without the newline) byte offsets of each line."""
    nl = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
    starts = np.concatenate(([0], nl + 1))
    ends = np.concatenate((nl, [len(block)]))
    if len(block) and block.endswith(b"\n"):
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


def _jsonl_block(
    block: bytes, starts: np.ndarray, ends: np.ndarray, first_line: int, chunk_rows: int,
    limits: ValidationLimits | None = None, columns: _Columns | None = None,
) -> Iterator[RawChunk]:
    limits = limits if limits is not None else ValidationLimits()
    columns = columns if columns is not None else _Columns(limits, Path("<block>"))
    # Bounds first: pyarrow's reader crashes on a row nested thousands deep. A line with
    # no more brackets than the depth limit cannot be too deep (cheap, and true of normal
    # rows); only otherwise is the block's structure scanned, which also bounds its keys.
    source = str(columns.source)
    scan = None
    if not within_depth(block, starts, ends, first_line, limits, source):
        scan = check_json_lines(block, starts, ends, first_line, limits, source)
    lines = np.arange(first_line, first_line + len(starts), dtype=np.int64)
    # Any valid row is longer than 16 bytes; only short lines can be blank, so only they
    # are looked at one by one.
    short = np.flatnonzero(ends - starts < 16)
    blank = np.zeros(len(starts), dtype=bool)
    for i in short:
        blank[i] = not block[starts[i] : ends[i]].strip()
    data_lines = lines[~blank]
    longest = int((ends - starts).max()) if len(starts) else 0
    # pyarrow refuses keys outside the contract here (inferring them costs time
    # superlinear in their number: 40,000 keys took 40 s); only then are the keys found by
    # the structure scan, bounded, and the block read again ignoring them.
    table = _jsonl_fast(block, len(data_lines), longest, "error")
    unknown: dict[str, int] = {}
    if table is _UNEXPECTED_FIELD:
        scan = scan if scan is not None else check_json_lines(block, starts, ends, first_line, limits, source)
        names, first_segment = top_level_keys(block, scan)
        unknown = {name: int(lines[seg]) for name, seg in zip(names, first_segment) if name not in ARROW_TYPES}
        for name, line in sorted(unknown.items(), key=lambda kv: kv[1]):
            columns.add([name], line)
        table = _jsonl_fast(block, len(data_lines), longest, "ignore")
    if table is None or table is _UNEXPECTED_FIELD:
        if scan is None:  # the exact path bounds keys per row with the scan too
            check_json_lines(block, starts, ends, first_line, limits, source)
        yield from _jsonl_exact(block, starts, ends, lines, blank, chunk_rows, columns)
        return
    table = table.append_column(LINE, pa.array(data_lines))
    for offset in range(0, max(table.num_rows, 1), chunk_rows):
        part = table.slice(offset, chunk_rows)
        yield RawChunk(part, unknown_columns=unknown if offset == 0 else {}, data_lines=part.num_rows)


_UNEXPECTED_FIELD: Any = object()  # _jsonl_fast's answer when a row has a key outside the contract


def _jsonl_fast(block: bytes, expected_rows: int, longest_line: int, unexpected: str = "ignore") -> pa.Table | None:
    """Parse a block with pyarrow; None when it must be read line by line. With
    ``unexpected="error"``, :data:`_UNEXPECTED_FIELD` when a row has a key outside the
    contract (and no other problem came first)."""
    if expected_rows == 0:
        return None
    try:
        # Casting the whole block to utf8 validates it (pyarrow's JSON parser does not).
        whole = pa.Array.from_buffers(
            pa.binary(), 1, [None, pa.py_buffer(np.array([0, len(block)], dtype=np.int32)), pa.py_buffer(block)]
        )
        whole.cast(pa.string())
        table = pajson.read_json(
            pa.BufferReader(pa.py_buffer(block)),
            # pyarrow parses its blocks in parallel; each must hold whole lines.
            read_options=pajson.ReadOptions(use_threads=True, block_size=max(4 << 20, 2 * longest_line + 2)),
            parse_options=pajson.ParseOptions(
                explicit_schema=_json_schema(), newlines_in_values=False, unexpected_field_behavior=unexpected
            ),
        )
    except (pa.ArrowException, ValueError, OverflowError) as exc:
        return _UNEXPECTED_FIELD if "unexpected field" in str(exc) else None
    if table.num_rows != expected_rows:
        return None  # e.g. two objects on one line
    return table.combine_chunks()


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _conforms(value: object, typ: pa.DataType) -> bool:
    if typ == pa.string():
        return isinstance(value, str)
    if typ == pa.bool_():
        return isinstance(value, bool)
    if typ == pa.int64():
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if typ == pa.float64():
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if pa.types.is_list(typ):
        return isinstance(value, list) and all(_conforms(v, typ.value_type) for v in value)
    return False


def _wrong_type(name: str, value: object, typ: pa.DataType) -> str:
    got = _json_type(value)
    if isinstance(value, list) and pa.types.is_list(typ):
        bad = next(v for v in value if not _conforms(v, typ.value_type))
        got = f"a list containing {_json_type(bad)} {show(bad)}"
    else:
        got = f"{got} {show(value)}"
    hint = " (write the number without quotes)" if typ == pa.int64() and isinstance(value, str) else ""
    return f"{name} must be {_describe()[typ]}, got {got}{hint}"


def _key_col(text: str, name: str) -> int | None:
    pos = text.find(f'"{name}"')
    return pos + 1 if pos >= 0 else None


def _second_key_col(text: str, name: str) -> int | None:
    first = _key_col(text, name)
    if first is None:
        return None
    pos = text.find(f'"{name}"', first)
    return pos + 1 if pos >= 0 else first


def _jsonl_exact(
    block: bytes, starts: np.ndarray, ends: np.ndarray, lines: np.ndarray, blank: np.ndarray, chunk_rows: int,
    columns: _Columns | None = None,
) -> Iterator[RawChunk]:
    """Line-by-line parsing that reports each problem with its line and column."""
    columns = columns if columns is not None else _Columns(ValidationLimits(), Path("<block>"))
    rows: list[dict] = []
    row_lines: list[int] = []
    chunk = RawChunk(pa.table({}))
    for i in range(len(starts)):
        if blank[i]:
            continue
        line = int(lines[i])
        chunk.data_lines += 1
        raw = block[starts[i] : ends[i]]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            chunk.issues.append(
                Issue(line, None, "invalid_utf8", f"byte {exc.start + 1} of the line is not valid UTF-8 "
                      f"({raw[exc.start:exc.start + 1]!r}); save the file as UTF-8", col=exc.start + 1)
            )
            continue
        try:
            obj = loads_unique(text)
        except DuplicateKey as exc:
            chunk.issues.append(
                Issue(line, None, "duplicate_key", f"key {show(exc.key)} appears twice in one object; JSON readers "
                      "keep one of the values silently, so the row is ambiguous: write each key once",
                      col=_second_key_col(text, exc.key))
            )
            continue
        except json.JSONDecodeError as exc:
            hint = " (the line looks truncated)" if exc.pos >= len(text.rstrip()) else ""
            chunk.issues.append(
                Issue(line, None, "invalid_json", f"invalid JSON at character {exc.pos + 1}: {exc.msg}{hint}",
                      col=exc.pos + 1)
            )
            continue
        except RecursionError:
            chunk.issues.append(Issue(line, None, "invalid_json", "JSON nested too deeply"))
            continue
        if not isinstance(obj, dict):
            chunk.issues.append(
                Issue(line, None, "invalid_json", f"each line must be one JSON object, got a {_json_type(obj)}", col=1)
            )
            continue
        row: dict = {}
        for key, value in obj.items():
            typ = ARROW_TYPES.get(key)
            if typ is None:
                if key not in chunk.unknown_columns:
                    chunk.unknown_columns[key] = line
                    columns.add([key], line)
                continue
            if value is None or _conforms(value, typ):
                row[key] = value
            else:
                chunk.issues.append(Issue(line, key, "wrong_type", _wrong_type(key, value, typ), col=_key_col(text, key)))
                chunk.type_errors.setdefault(key, set()).add(line)
        rows.append(row)
        row_lines.append(line)
        if len(rows) >= chunk_rows:
            chunk.table = _rows_to_table(rows, row_lines)
            yield chunk
            rows, row_lines, chunk = [], [], RawChunk(pa.table({}))
    chunk.table = _rows_to_table(rows, row_lines)
    yield chunk


def _rows_to_table(rows: list[dict], row_lines: list[int]) -> pa.Table:
    arrays = {name: pa.array([r.get(name) for r in rows], type=typ) for name, typ in ARROW_TYPES.items()}
    arrays[LINE] = pa.array(row_lines, type=pa.int64())
    return pa.table(arrays)


# --------------------------------------------------------------------------- CSV

_INT_RE = re.compile(r"[+-]?\d+")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _csv_cell(name: str, cell: str, typ: pa.DataType) -> tuple[object, str | None]:
    """(value, error message) for one CSV cell of a known column."""
    if cell == "":
        # An empty free-text cell is an empty string (an empty prompt is its own error);
        # any other empty cell is a missing value.
        return ("" if name in TEXT_FIELDS and typ == pa.string() else None), None
    if typ == pa.string():
        return cell, None
    if typ == pa.int64():
        if _INT_RE.fullmatch(cell.strip()):
            return int(cell), None
        return None, f"{name} must be an integer, got {show(cell)}"
    if typ == pa.float64():
        try:
            return float(cell), None
        except ValueError:
            return None, f"{name} must be a number, got {show(cell)}"
    if typ == pa.bool_():
        low = cell.strip().lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE, None
        return None, f"{name} must be true or false, got {show(cell)}"
    # list columns: a JSON array in the cell
    try:
        value = loads_unique(cell)
    except (json.JSONDecodeError, DuplicateKey, RecursionError):
        return None, f"{name} must be a JSON list in the cell, e.g. [\"x\", \"y\"] or [1, 0], got {show(cell)}"
    if _conforms(value, typ):
        return value, None
    return None, _wrong_type(name, value, typ)


def _iter_csv(path: Path, chunk_rows: int, limits: ValidationLimits) -> Iterator[RawChunk]:
    f = _open_binary(path)
    bad_utf8: list[tuple[int, int, bytes]] = []

    def decoded_lines() -> Iterator[str]:
        for number, raw in enumerate(f, 1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad_utf8.append((number, exc.start, raw[exc.start : exc.start + 1]))
                yield raw.decode("utf-8", "replace")

    # A 4 MiB text field is legal; the default limit (128 KiB) would refuse it.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1, limits.max_row_bytes))
    with f:
        reader = csv.reader(decoded_lines(), strict=True)
        chunk = RawChunk(pa.table({}))

        def flush_utf8() -> None:
            for number, start, byte in bad_utf8:
                chunk.issues.append(
                    Issue(number, None, "invalid_utf8",
                          f"byte {start + 1} of the line is not valid UTF-8 ({byte!r}); save the file as UTF-8",
                          col=start + 1)
                )
            bad_utf8.clear()

        try:
            header = next(reader, None)
        except csv.Error as exc:
            chunk.issues.append(Issue(reader.line_num, None, "invalid_csv", f"cannot read the CSV header: {exc}"))
            header = None
        if header is None or not any(h.strip() for h in header):
            flush_utf8()
            chunk.table = pa.table({LINE: pa.array([], pa.int64())})
            chunk.declared = frozenset()
            yield chunk
            return
        header = [h.lstrip("\ufeff").strip() for h in header]
        if len(header) > limits.max_columns:
            raise _too_large(path, f"line 1: the CSV header has {len(header):,} columns", limits, "max_columns", line=1)
        twice = sorted({h for h in header if h and header.count(h) > 1})
        if twice:
            chunk.issues.append(Issue(1, twice[0], "duplicate_column",
                                      f"column {show(twice[0])} appears twice in the header; name each column once"))
            header = [h if h not in twice or i == header.index(h) else "" for i, h in enumerate(header)]
        known = [(i, h) for i, h in enumerate(header) if h in ARROW_TYPES]
        declared = frozenset(h for _, h in known)
        unknown = {h: 1 for h in header if h not in ARROW_TYPES and h}
        columns: dict[str, list] = {h: [] for _, h in known}
        row_lines: list[int] = []
        chunk.unknown_columns = dict(unknown)
        chunk.declared = declared
        previous = reader.line_num
        while True:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                if "field limit" in str(exc):
                    raise _too_large(path, f"line {previous + 1}: a field is longer than {limits.max_row_bytes:,} bytes",
                                     limits, "max_row_bytes", line=previous + 1) from None
                chunk.issues.append(Issue(previous + 1, None, "invalid_csv", f"cannot parse the CSV record: {exc}"))
                break
            line = previous + 1
            previous = reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # blank line
            chunk.data_lines += 1
            if len(record) != len(header):
                chunk.issues.append(
                    Issue(line, None, "invalid_csv",
                          f"the row has {len(record)} fields but the header has {len(header)}; "
                          "quote fields that contain commas")
                )
                continue
            for i, name in known:
                value, error = _csv_cell(name, record[i], ARROW_TYPES[name])
                if error:
                    chunk.issues.append(Issue(line, name, "wrong_type", error))
                    chunk.type_errors.setdefault(name, set()).add(line)
                columns[name].append(value)
            row_lines.append(line)
            if len(row_lines) >= chunk_rows:
                flush_utf8()
                chunk.table = _columns_to_table(columns, row_lines)
                yield chunk
                columns = {h: [] for _, h in known}
                row_lines = []
                chunk = RawChunk(pa.table({}), declared=declared)
        flush_utf8()
        chunk.table = _columns_to_table(columns, row_lines)
        yield chunk


def _columns_to_table(columns: dict[str, list], row_lines: list[int]) -> pa.Table:
    arrays = {name: pa.array(values, type=ARROW_TYPES[name]) for name, values in columns.items()}
    arrays[LINE] = pa.array(row_lines, type=pa.int64())
    return pa.table(arrays)


# --------------------------------------------------------------------------- Parquet


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
    if pa.types.is_dictionary(source):
        source = source.value_type
    if pa.types.is_string(target):
        return pa.types.is_string(source) or pa.types.is_large_string(source) or pa.types.is_string_view(source)
    if pa.types.is_integer(target):
        return pa.types.is_integer(source)
    if pa.types.is_floating(target):
        return pa.types.is_integer(source) or pa.types.is_floating(source)
    if pa.types.is_boolean(target):
        return pa.types.is_boolean(source)
    if pa.types.is_list(target):
        return (pa.types.is_list(source) or pa.types.is_large_list(source)) and _castable(
            source.value_type, target.value_type
        )
    return False


# Decoded bytes of one Parquet read batch: fewer rows per batch when rows are large.
PARQUET_BATCH_BYTES = 64 * 1024 * 1024
# A dictionary-encoded string column storing fewer bytes per value than this is read as
# a dictionary, so that its decoded size is counted before it is decoded.
DICTIONARY_BYTES_PER_VALUE = 64
# The compression ratio is judged only above this many decoded bytes (small files may
# compress very well and harm no one).
RATIO_FLOOR_BYTES = 64 * 1024 * 1024


def _empty_chunk(issues: list[Issue]) -> RawChunk:
    return RawChunk(pa.table({LINE: pa.array([], pa.int64())}), issues=issues, declared=frozenset())


def _parquet_sizes(pf: pq.ParquetFile, read: list[str]) -> tuple[int, list[str]]:
    """Decoded bytes of the columns in ``read`` according to the file's metadata, and the
    string columns stored with dictionary encoding (read as dictionaries, decoded only
    after their decoded size is known: a dictionary of one 4 MiB value repeated a million
    times is 4 TiB)."""
    meta = pf.metadata
    wanted = set(read)
    total = 0
    dictionary: set[str] = set()
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            name = chunk.path_in_schema.split(".")[0]
            if name not in wanted:
                continue
            total += max(0, chunk.total_uncompressed_size)
            # Few stored bytes per value in a dictionary-encoded chunk: values repeat, and
            # their decoded size is unknown. Reading such a column as a dictionary is cheap
            # (nothing to hash); a text column that stores its values (hundreds of bytes
            # each, pyarrow's fallback to plain pages) is read as it is.
            per_value = chunk.total_uncompressed_size / max(chunk.num_values, 1)
            if chunk.has_dictionary_page and ARROW_TYPES[name] == pa.string() and per_value < DICTIONARY_BYTES_PER_VALUE:
                dictionary.add(name)
    return total, sorted(dictionary)


def _too_large(path: Path, message: str, limits: ValidationLimits, name: str, line: int | None = None) -> LimitExceeded:
    value = getattr(limits, name)
    return LimitExceeded(f"{path}: {message}, over the limit {value:,} ({setting(name)})", setting=setting(name),
                         limit=value, line=line, http_status=413)


def _iter_parquet(path: Path, chunk_rows: int, limits: ValidationLimits) -> Iterator[RawChunk]:
    _open_binary(path).close()
    size = path.stat().st_size
    if size == 0:  # an empty batch, as an empty JSONL file is (validation reports it)
        yield _empty_chunk([])
        return
    try:
        # pre_buffer=False: pyarrow would otherwise buffer whole row groups ahead
        # (measured: 1.4 GiB vs 0.9 GiB peak for the 1M-row benchmark, and slower).
        pf = pq.ParquetFile(path, pre_buffer=False)
        schema = pf.schema_arrow
    except (pa.ArrowException, OSError, ValueError) as exc:  # ValueError: undecodable names in the footer
        yield _empty_chunk([Issue(1, None, "invalid_parquet", f"not a readable Parquet file ({show(str(exc), 200)}); "
                                  "write it with pyarrow or pandas' to_parquet")])
        return
    if len(schema.names) > limits.max_columns:
        raise _too_large(path, f"the Parquet schema has {len(schema.names):,} columns", limits, "max_columns")
    issues: list[Issue] = []
    read: list[str] = []
    for name in schema.names:
        if name not in ARROW_TYPES:
            continue
        if _castable(schema.field(name).type, ARROW_TYPES[name]):
            read.append(name)
        else:
            issues.append(
                Issue(1, name, "wrong_type",
                      f"column {name} has Parquet type {schema.field(name).type}; "
                      f"the contract needs {ARROW_TYPES[name]} ({_describe()[ARROW_TYPES[name]]})")
            )
    declared = frozenset(n for n in schema.names if n in ARROW_TYPES)
    bad = frozenset(n for n in declared if n not in read)
    unknown = {n: 1 for n in schema.names if n not in ARROW_TYPES}
    # Sizes from the metadata, before anything is decompressed.
    try:
        decoded, dictionary = _parquet_sizes(pf, read)
        rows = max(pf.metadata.num_rows, 1)
    except (pa.ArrowException, OSError, ValueError) as exc:
        yield _empty_chunk([Issue(1, None, "invalid_parquet", f"the Parquet metadata is corrupt ({show(str(exc), 200)})")])
        return
    if decoded > limits.max_decompressed_bytes:
        raise _too_large(path, f"the batch decodes to {decoded:,} bytes (Parquet metadata)", limits,
                         "max_decompressed_bytes")
    if decoded > RATIO_FLOOR_BYTES and decoded > limits.max_compression_ratio * size:
        raise _too_large(path, f"the {size:,}-byte file decodes to {decoded:,} bytes "
                         f"({decoded / size:,.0f} times its size: a compression bomb)", limits, "max_compression_ratio")
    batch_rows = int(max(1, min(chunk_rows, PARQUET_BATCH_BYTES * rows // max(decoded, 1))))
    first_row = 1
    emitted = False
    seen = 0  # decoded bytes so far, counted while reading (the metadata may lie)
    try:
        if dictionary:
            pf = pq.ParquetFile(path, pre_buffer=False, read_dictionary=dictionary)
        batches = pf.iter_batches(batch_size=batch_rows, columns=read) if read else iter(())
        for batch in batches:
            seen += _decoded_bytes(batch)
            if seen > limits.max_decompressed_bytes:
                raise _too_large(path, f"the batch decodes to more than {seen:,} bytes by row {first_row + batch.num_rows - 1}",
                                 limits, "max_decompressed_bytes", line=first_row)
            arrays = [_cast(batch.column(name), ARROW_TYPES[name]) for name in read]
            n = batch.num_rows
            arrays.append(pa.array(np.arange(first_row, first_row + n, dtype=np.int64)))
            table = pa.Table.from_arrays(arrays, names=[*read, LINE])
            chunk = RawChunk(table, declared=declared, bad_columns=bad, data_lines=n)
            if not emitted:
                chunk.issues, chunk.unknown_columns = issues, unknown
                emitted = True
            first_row += n
            yield chunk
    except (pa.ArrowException, OSError, ValueError) as exc:
        yield RawChunk(pa.table({LINE: pa.array([], pa.int64())}), declared=declared, bad_columns=bad,
                       issues=[*([] if emitted else issues), Issue(first_row, None, "invalid_parquet",
                               f"the Parquet file is corrupt near row {first_row} ({show(str(exc), 200)})")],
                       unknown_columns={} if emitted else unknown, data_lines=1)
        return
    if not emitted:
        n = pf.metadata.num_rows
        yield RawChunk(
            pa.table({**{c: pa.array([], ARROW_TYPES[c]) for c in read}, LINE: pa.array([], pa.int64())}),
            issues=issues, unknown_columns=unknown, declared=declared, bad_columns=bad, data_lines=n,
        )


def _decoded_bytes(batch: pa.RecordBatch) -> int:
    """Bytes of ``batch`` once decoded: dictionary columns count each value as often as
    it is used (computed from the lengths, without decoding)."""
    total = 0
    for column in batch.columns:
        if pa.types.is_dictionary(column.type):
            lengths = pc.binary_length(column.dictionary)
            used = pc.sum(pc.take(lengths, column.indices)).as_py() or 0
            total += used + column.indices.nbytes
        else:
            total += column.nbytes
    return total


def _cast(array: pa.Array, typ: pa.DataType) -> pa.Array:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array if array.type == typ else array.cast(typ)


# --------------------------------------------------------------------------- canonical form


def canonical_columns(task_type: str, declared: frozenset[str] | None) -> list[str]:
    """Columns of the canonical table for ``task_type`` (without ``line``).

    The task type's required columns always; optional ones when the source declares
    them (CSV header, Parquet schema) or, for JSONL, always (null where a row lacks it).
    """
    required = COMMON_REQUIRED + TASK_REQUIRED[task_type]
    optional = [c for c in allowed_columns(task_type) if c not in required]
    if declared is not None:
        optional = [c for c in optional if c in declared]
    return [*required, *optional]


def canonical_schema(task_type: str, declared: frozenset[str] | None) -> pa.Schema:
    cols = canonical_columns(task_type, declared)
    return pa.schema([(c, ARROW_TYPES[c]) for c in cols] + [(LINE, pa.int64())])


def to_canonical(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Project ``table`` on ``schema``: missing columns become nulls, extra ones go."""
    arrays = []
    for fld in schema:
        if fld.name in table.column_names:
            arrays.append(table[fld.name])
        else:
            arrays.append(pa.nulls(table.num_rows, fld.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _first_task_type(table: pa.Table) -> str | None:
    if "task_type" not in table.column_names:
        return None
    for value in pc.unique(table["task_type"]).to_pylist():
        if value in TASK_TYPES:
            return value
    return None


def iter_batches(
    path: str | Path,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    fmt: str | None = None,
    task_type: str | None = None,
    default_dimension: str = "helpfulness",
    limits: ValidationLimits | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream ``path`` as canonical record batches: the columns of
    :func:`canonical_columns` with the contract's Arrow types, plus ``line``.

    This reads; it does not validate (see :func:`alignment_ci.data.validate.validate_file`).
    The task type is ``task_type`` or the first one found in the file. A missing
    ``dimension`` column gets ``default_dimension``. A problem that makes a row unreadable
    (bad JSON, bad bytes, a wrong type) raises :class:`InputError` naming the line.
    """
    schema: pa.Schema | None = None
    for chunk in iter_raw_chunks(path, fmt=fmt, chunk_rows=chunk_rows, limits=limits):
        if chunk.issues:
            first = chunk.issues[0]
            where = f"line {first.line}" + (f", column {first.column}" if first.column else "")
            raise InputError(f"{path}: {where}: {first.message} (run `alignment-ci validate` for every problem)")
        if schema is None:
            task_type = task_type or _first_task_type(chunk.table)
            if task_type is None:
                if chunk.table.num_rows == 0:
                    continue
                raise InputError(f"{path}: no row names a known task_type ({', '.join(TASK_TYPES)})")
            if task_type not in TASK_TYPES:
                raise InputError(f"unknown task type {task_type!r}: use one of {', '.join(TASK_TYPES)}")
            schema = canonical_schema(task_type, chunk.declared)
        table = to_canonical(_fill_dimension(chunk.table, chunk.declared, default_dimension), schema)
        for batch in table.to_batches(max_chunksize=chunk_rows):
            yield batch


def _fill_dimension(table: pa.Table, declared: frozenset[str] | None, default: str) -> pa.Table:
    """Give rows without a dimension the default one (only where the file has no
    dimension column; for JSONL, where a row lacks it: validation rejects a JSONL batch
    in which only some rows name a dimension)."""
    if declared is not None and "dimension" in declared:
        return table
    if "dimension" not in table.column_names:
        return table.append_column("dimension", pa.array([default] * table.num_rows, pa.string()))
    filled = pc.fill_null(table["dimension"], pa.scalar(default, pa.string()))
    return table.set_column(table.column_names.index("dimension"), "dimension", filled)


def read_batch(path: str | Path, *, fmt: str | None = None, task_type: str | None = None,
               default_dimension: str = "helpfulness", limits: ValidationLimits | None = None) -> pd.DataFrame:
    """The whole batch as one canonical pandas DataFrame (see :func:`iter_batches`).

    Scalar columns use pandas' default dtypes (strings as ``str``, integers with nulls
    as float); list columns (``responses``, ``ranking``, ``gold_ranking``) hold Python
    lists (``None`` where absent). Optional columns that are null in every row are
    dropped, so an absent optional column is simply missing. Columns of ``line``: int64.
    """
    batches = list(iter_batches(path, fmt=fmt, task_type=task_type, default_dimension=default_dimension, limits=limits))
    if not batches:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in (*COMMON_REQUIRED, LINE)})
    table = pa.Table.from_batches(batches)
    tt = task_type or _first_task_type(table)
    required = set(COMMON_REQUIRED + TASK_REQUIRED[tt]) if tt else set(COMMON_REQUIRED)
    drop = [c for c in table.column_names if c not in required and c != LINE and table[c].null_count == table.num_rows]
    table = table.drop_columns(drop)
    df = table.to_pandas()
    for name in ("responses", "ranking", "gold_ranking"):
        if name in df.columns:
            df[name] = [None if v is None else list(v) for v in df[name]]
    return df


__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "FORMATS",
    "Issue",
    "RawChunk",
    "canonical_columns",
    "canonical_schema",
    "detect_format",
    "iter_batches",
    "iter_raw_chunks",
    "read_batch",
    "show",
    "to_canonical",
]
