"""Input limits (``validation.limits``) checked before a parser sees the bytes.

pyarrow's JSON reader crashes the process on a row nested some thousands deep, Python's
``json`` raises ``RecursionError``, and a row with tens of thousands of keys makes every
later step slow. :func:`check_json_lines` and :func:`check_json_document` bound nesting
depth, keys and row size with one vectorised pass over the bytes (numpy; no Python loop
per byte): escaped quotes are blanked, quotes outside strings toggle a per-line parity,
and brackets outside strings give the depth as a running sum. Every violation raises
:class:`~alignment_ci.errors.LimitExceeded` naming the line, the limit and its setting.

:func:`loads_unique` parses JSON refusing duplicate keys (which ``json`` would resolve
silently, last one wins).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import ValidationLimits
from ..errors import LimitExceeded
from .. import lazy

pa = lazy.module("pyarrow")
pc = lazy.module("pyarrow.compute")

_NEWLINE, _QUOTE, _COMMA, _COLON = 10, 34, 44, 58
_OPEN = (91, 123)  # [ {
_CLOSE = (93, 125)  # ] }
_DELTA = np.zeros(256, dtype=np.int32)
_DELTA[list(_OPEN)] = 1
_DELTA[list(_CLOSE)] = -1
_STRUCTURE = (_QUOTE, _COMMA, _COLON, *_OPEN, *_CLOSE)
# bytes.translate tables: 1 for the characters a scan looks at, 0 for every other byte.
_LINES_TABLE = bytes(1 if i in (*_STRUCTURE, _NEWLINE) else 0 for i in range(256))
_DOCUMENT_TABLE = bytes(1 if i in _STRUCTURE else 0 for i in range(256))

SETTING = "validation.limits"


def setting(name: str) -> str:
    """The config key of a limit, as messages name it."""
    return f"{SETTING}.{name}"


@dataclass
class _Scan:
    """Structural characters outside strings: byte position, segment, value, depth."""

    pos: np.ndarray
    seg: np.ndarray
    char: np.ndarray
    depth: np.ndarray  # depth after this character (an opening bracket counts itself)
    quote_pos: np.ndarray  # positions of the unescaped quotes
    starts: np.ndarray  # where each segment begins


def _forward_fill(marks: np.ndarray) -> np.ndarray:
    """For each entry, the index of the last marked entry at or before it (-1: none)."""
    return np.maximum.accumulate(np.where(marks, np.arange(len(marks)), -1))


def _scan(data: bytes, starts: np.ndarray, per_line: bool) -> _Scan:
    """Structure of ``data``. With ``per_line``, each line is a segment (``starts`` are
    the lines' starts) whose quote parity and depth start afresh (a JSON string never
    holds a raw newline); otherwise the whole of ``data`` is one segment.

    Vectorised: ``bytes.translate`` marks the few bytes that matter, and running sums
    over those give the quote parity (inside a string or not) and the depth."""
    if b"\\" in data:
        # Blank escaped backslashes first, then escaped quotes; lengths (positions) stay.
        data = data.replace(b"\\\\", b"  ").replace(b'\\"', b"  ")
    # The translated bytes are 0/1: read them as booleans (flatnonzero is fastest on those).
    marks = np.frombuffer(data.translate(_LINES_TABLE if per_line else _DOCUMENT_TABLE), dtype=np.bool_)
    pos = np.flatnonzero(marks)
    char = np.frombuffer(data, dtype=np.uint8)[pos]
    is_quote = char == _QUOTE
    quotes = np.cumsum(is_quote, dtype=np.int64)
    if per_line:
        is_newline = char == _NEWLINE
        seg = np.cumsum(is_newline, dtype=np.int64)
        last_newline = _forward_fill(is_newline)
        quote_base = np.where(last_newline >= 0, quotes[np.maximum(last_newline, 0)], 0)
        outside = ((quotes - is_quote - quote_base) & 1) == 0
        structural = outside & ~is_quote & ~is_newline
        keep = structural | is_newline  # newlines stay to restart the depth
    else:
        is_newline = np.zeros(len(char), dtype=bool)
        seg = np.zeros(len(char), dtype=np.int64)
        structural = (((quotes - is_quote) & 1) == 0) & ~is_quote
        keep = structural
    quote_pos = pos[is_quote]
    pos, seg, char, is_newline = pos[keep], seg[keep], char[keep], is_newline[keep]
    running = np.cumsum(_DELTA[char], dtype=np.int64)
    last_newline = _forward_fill(is_newline)
    depth = running - np.where(last_newline >= 0, running[np.maximum(last_newline, 0)], 0)
    structural = ~is_newline
    return _Scan(pos[structural], seg[structural], char[structural], depth[structural], quote_pos, starts)


def _check_row_bytes(starts: np.ndarray, ends: np.ndarray, first_line: int, limits: ValidationLimits, prefix: str) -> None:
    """Raise for the first line of a block longer than ``max_row_bytes``."""
    lengths = ends - starts
    long = np.flatnonzero(lengths > limits.max_row_bytes)
    if len(long):
        i = int(long[0])
        raise row_too_long(first_line + i, int(lengths[i]), limits, prefix)


def check_json_lines(block: bytes, starts: np.ndarray, ends: np.ndarray, first_line: int,
                     limits: ValidationLimits, source: str = "") -> _Scan | None:
    """Raise :class:`LimitExceeded` when a line of a JSONL ``block`` (lines at ``starts``..
    ``ends``, the first being ``first_line``) is too long, too deep or has too many keys."""
    prefix = f"{source}: " if source else ""
    if len(starts) == 0:
        return None
    _check_row_bytes(starts, ends, first_line, limits, prefix)
    scan = _scan(block, starts, per_line=True)
    deep = np.flatnonzero(scan.depth > limits.max_depth)
    if len(deep):
        s = int(scan.seg[deep[0]])
        depth = int(scan.depth[scan.seg == s].max())
        raise LimitExceeded(
            f"{prefix}line {first_line + s}: the row is nested {depth} levels deep, over the limit "
            f"{limits.max_depth} ({setting('max_depth')}; a label row needs 2); it was not parsed",
            setting=setting("max_depth"), limit=limits.max_depth, line=first_line + s)
    keys = np.bincount(scan.seg[scan.char == _COLON], minlength=len(starts))
    many = np.flatnonzero(keys > limits.max_keys_per_row)
    if len(many):
        s = int(many[0])
        raise LimitExceeded(
            f"{prefix}line {first_line + s}: the row has {int(keys[s])} keys, over the limit "
            f"{limits.max_keys_per_row} ({setting('max_keys_per_row')}); it was not parsed",
            setting=setting("max_keys_per_row"), limit=limits.max_keys_per_row, line=first_line + s)
    return scan


def top_level_keys(block: bytes, scan: _Scan) -> tuple[list[str], np.ndarray]:
    """The distinct keys of the rows' top-level objects and, for each, the index of the
    first line (segment) that has it. Read from the scan: the string before each colon at
    depth 1. Meaningful for well-formed JSON (the caller checks that separately)."""
    colon = (scan.char == _COLON) & (scan.depth == 1)
    cpos, cseg = scan.pos[colon], scan.seg[colon]
    closing = np.searchsorted(scan.quote_pos, cpos) - 1
    keep = closing >= 1
    closing, cseg = closing[keep], cseg[keep]
    if len(closing) > 1:  # malformed rows can point two colons at one string
        keep = np.concatenate(([True], np.diff(closing) > 0))
        closing, cseg = closing[keep], cseg[keep]
    start = scan.quote_pos[closing - 1] + 1
    keep = start >= scan.starts[cseg]
    closing, cseg, start = closing[keep], cseg[keep], start[keep]
    n = len(start)
    if n == 0:
        return [], np.empty(0, dtype=np.int64)
    # Key i is bytes start[i]..end[i]; interleave with the gaps between keys so that the
    # offsets rise, as an Arrow binary array over the block without copying it.
    offsets = np.empty(2 * n, dtype=np.int64)
    offsets[0::2] = start
    offsets[1::2] = scan.quote_pos[closing]
    spans = pa.Array.from_buffers(pa.large_binary(), 2 * n - 1, [None, pa.py_buffer(offsets), pa.py_buffer(block)])
    encoded = pc.dictionary_encode(spans.take(pa.array(np.arange(0, 2 * n - 1, 2))))
    _, first = np.unique(encoded.indices.to_numpy(), return_index=True)
    names = [_key_text(k) for k in encoded.dictionary.to_pylist()]
    return names, cseg[first]


def _key_text(raw: bytes) -> str:
    if b"\\" in raw:
        try:
            return json.loads(b'"' + raw + b'"')
        except ValueError:
            pass
    return raw.decode("utf-8", "replace")


_OPENERS_TABLE = bytes(1 if i in _OPEN else 0 for i in range(256))


def within_depth(block: bytes, starts: np.ndarray, ends: np.ndarray, first_line: int,
                 limits: ValidationLimits, source: str = "") -> bool:
    """True when no line of the block can be nested deeper than ``max_depth``: each has at
    most that many opening brackets, counted anywhere (cheap: no quote tracking). Also
    raises for a line over ``max_row_bytes``. False means: scan the structure."""
    if len(starts) == 0:
        return True
    _check_row_bytes(starts, ends, first_line, limits, f"{source}: " if source else "")
    openers = np.flatnonzero(np.frombuffer(block.translate(_OPENERS_TABLE), dtype=np.bool_))
    if len(openers) <= limits.max_depth:
        return True
    per_line = np.bincount(np.searchsorted(starts, openers, side="right") - 1, minlength=len(starts))
    return int(per_line.max()) <= limits.max_depth


def row_too_long(line: int, size: int, limits: ValidationLimits, prefix: str = "") -> LimitExceeded:
    return LimitExceeded(
        f"{prefix}line {line}: the row is {size:,} bytes or more, over the limit {limits.max_row_bytes:,} "
        f"({setting('max_row_bytes')}); it was not parsed",
        setting=setting("max_row_bytes"), limit=limits.max_row_bytes, line=line, http_status=413)


def check_json_document(data: bytes, limits: ValidationLimits, source: str, element: str = "element") -> None:
    """Raise :class:`LimitExceeded` when one JSON document (a tool export: an array of
    tasks or records) nests deeper than ``max_depth``; the message names the line and,
    when the document is an array, which ``element`` (1-based) holds the nesting."""
    scan = _scan(data, np.zeros(1, dtype=np.int64), per_line=False)
    deep = np.flatnonzero(scan.depth > limits.max_depth)
    if not len(deep):
        return
    at = int(deep[0])
    line = data.count(b"\n", 0, int(scan.pos[at])) + 1
    where = f"line {line}"
    if len(scan.char) and scan.char[0] == 91:  # a top-level array: count its commas before
        index = int(np.count_nonzero((scan.char[:at] == _COMMA) & (scan.depth[:at] == 1))) + 1
        where += f", {element} #{index} of the export"
    raise LimitExceeded(
        f"{source}: {where}: nested more than {limits.max_depth} levels deep, over the limit "
        f"({setting('max_depth')}); it was not parsed",
        setting=setting("max_depth"), limit=limits.max_depth, line=line)


class DuplicateKey(ValueError):
    """A JSON object names the same key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(key)
        out[key] = value
    return out


class _Duplicated(dict):
    """An object parsed from JSON that named ``duplicate`` twice."""

    duplicate: str = ""


def loads_marking_duplicates(text: str | bytes) -> tuple[Any, bool]:
    """``json.loads`` whose objects with a key given twice are marked (see
    :func:`first_duplicate`), so the caller can say which task or record holds one."""
    found = False

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out and not isinstance(out, _Duplicated):
                out = _Duplicated(out)
                out.duplicate = key
                found = True
            out[key] = value
        return out

    return json.loads(text, object_pairs_hook=hook), found


def first_duplicate(value: Any) -> str | None:
    """The first key given twice in an object inside ``value`` (parsed by
    :func:`loads_marking_duplicates`); None when there is none."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Duplicated):
            return item.duplicate
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def loads_unique(text: str | bytes) -> Any:
    """``json.loads`` that raises :class:`DuplicateKey` for a key given twice in one object
    (``json`` keeps the last value silently)."""
    return json.loads(text, object_pairs_hook=_unique_pairs)


__all__ = ["DuplicateKey", "check_json_document", "check_json_lines", "first_duplicate", "loads_marking_duplicates", "loads_unique", "row_too_long", "setting", "top_level_keys", "within_depth"]
