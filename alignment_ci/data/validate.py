"""Validate a label batch against the data contract (DESIGN.md, "Data contract").

:func:`validate_file` streams the file chunk by chunk (:mod:`alignment_ci.data.readers`)
and runs three kinds of checks on each chunk:

1. the pandera schema of the task type (:mod:`alignment_ci.data.schemas`) on the small
   columns: presence, allowed sets, scales, dimensions, timestamps;
2. vectorised Arrow checks on free text, which pandas never sees: empty prompt, size
   limits, PII and spreadsheet formulas with RE2 regexes (linear time, so a 1 MiB field
   is cheap), response counts and ranking permutations;
3. checks across chunks with small state: one batch id, one task type, and unique
   (item_id, rater_id, dimension) keys through 64-bit hashes (pandas' SipHash of the
   three strings) held in sorted numpy arrays, 16 bytes per row.

Memory stays O(chunk) apart from those 16 bytes per row. Every problem is an
:class:`Issue` with its 1-based physical line, its column and a stable kind; the first
``validation.max_errors`` of each list are kept and the counts stay exact.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from queue import Empty, Queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config, Scale
from ..errors import InputError, LimitExceeded
from ..ids import id_problem
from .columns import check_map, contract_name, hint, map_hint, renamed_copy
from ..textsafety import EMAIL_PATTERN, FORMULA_PATTERN, PHONE_PATTERN, PII_PATTERN, pseudonymize
from .contract import (
    COMMON_REQUIRED,
    KNOWN_COLUMNS,
    LINE,
    MAX_RESPONSES,
    MIN_RESPONSES,
    TASK_REQUIRED,
    TASK_TYPES,
    TEXT_FIELDS,
    allowed_columns,
)
from .readers import (
    DEFAULT_CHUNK_ROWS,
    Issue,
    RawChunk,
    canonical_schema,
    detect_format,
    iter_raw_chunks,
    show,
    to_canonical,
)
from .schemas import SCALE_MAX, SCALE_MIN, build_schema, failure_kinds, scale_columns, small_columns
from .. import lazy

pd = lazy.module("pandas")
pandera = lazy.module("pandera.pandas")
pa = lazy.module("pyarrow")
pc = lazy.module("pyarrow.compute")
pq = lazy.module("pyarrow.parquet")

__all__ = ["Issue", "ValidationReport", "scrub_pii", "validate_file"]

_KEY = ("item_id", "rater_id", "dimension")
_SHORT = 256  # a prompt longer than this is not blank; only shorter ones are looked at


@dataclass
class ValidationReport:
    """The verdict on one batch. ``to_dict()`` is the contract's JSON shape."""

    accepted: bool
    rows: int
    errors: list[Issue]
    warnings: list[Issue]
    batch_id: str | None
    task_type: str | None
    error_count: int
    warning_count: int
    path: str | None = None
    format: str | None = None
    limit: LimitExceeded | None = None  # set when reading stopped at a validation.limits bound

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "rows": self.rows,
            "errors": [i.to_dict() for i in self.errors],
            "warnings": [i.to_dict() for i in self.warnings],
            "batch_id": self.batch_id,
            "task_type": self.task_type,
            "error_count": self.error_count,
            "warning_count": self.warning_count,
            "path": self.path,
            "format": self.format,
        }


class _Issues:
    """A capped list with an exact count."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.items: list[Issue] = []
        self.count = 0

    def add(self, issue: Issue) -> None:
        self.count += 1
        if len(self.items) < self.cap:
            self.items.append(issue)

    def add_many(self, lines: Iterable[int], column: str | None, kind: str, message: Callable[[int], str]) -> None:
        """Add one issue per line; ``message(i)`` is only called for listed ones."""
        lines = np.asarray(lines)
        self.count += len(lines)
        room = self.cap - len(self.items)
        for i in range(min(room, len(lines))):
            self.items.append(Issue(int(lines[i]), column, kind, message(i)))

    def sorted(self) -> list[Issue]:
        return sorted(self.items, key=lambda i: (i.line if i.line is not None else 0, i.column or "", i.kind))


class _DuplicateIndex:
    """First line of every (item_id, rater_id, dimension) key seen, by 64-bit hash.

    Sorted numpy segments (LSM-style) keep it at 16 bytes per row; two different keys
    share a hash with probability about n^2 / 2^65 (3e-8 for a million rows).
    """

    def __init__(self) -> None:
        self.segments: list[tuple[np.ndarray, np.ndarray]] = []

    def check(self, hashes: np.ndarray, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Record a chunk; return (line, earlier line) of each duplicate in it."""
        if len(hashes) == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        order = np.argsort(hashes, kind="stable")
        h, ln = hashes[order], lines[order]
        first = np.ones(len(h), dtype=bool)
        first[1:] = h[1:] != h[:-1]
        origin = ln.copy()
        found = np.zeros(len(h), dtype=bool)
        fi = np.flatnonzero(first)
        for seg_h, seg_l in self.segments:
            pos = np.searchsorted(seg_h, h[fi])
            pos_ok = pos < len(seg_h)
            hit = np.zeros(len(fi), dtype=bool)
            hit[pos_ok] = seg_h[pos[pos_ok]] == h[fi][pos_ok]
            hit &= ~found[fi]
            origin[fi[hit]] = seg_l[pos[hit]]
            found[fi[hit]] = True
        run_start = np.maximum.accumulate(np.where(first, np.arange(len(h)), 0))
        origin = origin[run_start]
        is_dup = ~first | found
        new = first & ~found
        self.segments.append((h[new], ln[new]))
        if len(self.segments) > 8:
            all_h = np.concatenate([s[0] for s in self.segments])
            all_l = np.concatenate([s[1] for s in self.segments])
            o = np.argsort(all_h, kind="stable")
            self.segments = [(all_h[o], all_l[o])]
        dup_lines, dup_origin = ln[is_dup], origin[is_dup]
        o = np.argsort(dup_lines, kind="stable")
        return dup_lines[o], dup_origin[o]


def _lines_where(mask: pa.Array | np.ndarray, lines: np.ndarray) -> np.ndarray:
    if isinstance(mask, (pa.Array, pa.ChunkedArray)):
        mask = pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    return lines[np.asarray(mask, dtype=bool)]


class _Validator:
    def __init__(self, config: Config, task_type: str | None, scale: Scale | None) -> None:
        self.config = config
        self.taxonomy = config.taxonomy
        self.limits = config.validation
        self.scale = scale
        self.forced_task_type = task_type
        self.task_type: str | None = task_type
        self.task_type_line: int | None = None
        self.batch_id: str | None = None
        self.batch_id_line: int | None = None
        self.errors = _Issues(self.limits.max_errors)
        self.warnings = _Issues(self.limits.max_errors)
        self.rows = 0
        self.data_lines = 0
        self.dups = _DuplicateIndex()
        self.absent: set[str] = set()  # required columns the file does not declare (reported once)
        self.unknown_warned: set[str] = set()
        self.present: set[str] = set()  # contract columns the file has a value for (so far)
        # JSONL rows without a dimension: an error only if other rows name one.
        self.no_dimension_lines: list[int] = []
        self.no_dimension_count = 0
        self.dimension_seen = False
        self.schemas: dict[str | None, pandera.DataFrameSchema] = {}
        self.pool = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)))
        self.pii_columns: set[str] = set()  # columns of the current chunk with PII (for scrubbing)
        self.limit: LimitExceeded | None = None  # the limit that stopped reading, if one did

    # ------------------------------------------------------------------ per chunk
    def check(self, chunk: RawChunk) -> pa.Table | None:
        for issue in chunk.issues:
            self.errors.add(issue)
        self.data_lines += chunk.data_lines
        table = chunk.table
        n = table.num_rows
        self.rows += n
        if n == 0:
            self._unknown_columns(chunk, table)
            return None
        lines = table[LINE].to_numpy()
        self.pii_columns = set()
        self.absent |= chunk.bad_columns
        suppressed = {c: set(v) for c, v in chunk.type_errors.items()}

        table = self._dimension(table, chunk.declared, lines, suppressed)
        self.present |= {c for c in table.column_names if table[c].null_count < n}
        self._task_type(table, lines)
        self._declared(chunk.declared, chunk.unknown_columns)
        self._unknown_columns(chunk, table)
        self._batch_id(table, lines)
        small = self._pandera(table, lines, suppressed)
        self._text(table, lines, suppressed)
        if self.task_type == "ranking":
            self._ranking(table, lines)
        self._duplicates(small, lines)
        if self.task_type is None:
            return None
        return table

    def _dimension(self, table: pa.Table, declared: frozenset[str] | None, lines: np.ndarray,
                   suppressed: dict[str, set[int]]) -> pa.Table:
        default = pa.scalar(self.taxonomy.default_dimension, pa.string())
        if declared is not None:
            if "dimension" in declared:
                return table
            return table.append_column("dimension", pa.array(np.full(table.num_rows, default.as_py(), dtype=object), pa.string()))
        dim = table["dimension"]
        missing = dim.null_count
        if missing < table.num_rows:
            self.dimension_seen = True
        if missing:
            lost = _lines_where(pc.is_null(dim), lines)
            if suppressed.get("dimension"):
                lost = np.setdiff1d(lost, np.fromiter(suppressed["dimension"], np.int64), assume_unique=True)
            self.no_dimension_count += len(lost)
            room = self.limits.max_errors - len(self.no_dimension_lines)
            self.no_dimension_lines.extend(int(x) for x in lost[:room])
            table = table.set_column(table.column_names.index("dimension"), "dimension", pc.fill_null(dim, default))
        return table

    def _task_type(self, table: pa.Table, lines: np.ndarray) -> None:
        if "task_type" not in table.column_names:
            return
        col = table["task_type"]
        if self.task_type is None:
            known = pc.is_in(col, value_set=pa.array(TASK_TYPES))
            idx = pc.index(known, True).as_py()
            if idx < 0:
                return
            self.task_type = col[idx].as_py()
            self.task_type_line = int(lines[idx])
        known = pc.fill_null(pc.is_in(col, value_set=pa.array(TASK_TYPES)), False)
        other = pc.and_(known, pc.not_equal(col, self.task_type))
        bad = _lines_where(other, lines)
        if len(bad):
            values = pc.filter(col, other).to_pylist()
            source = (f"--task-type {self.task_type}" if self.forced_task_type
                      else f"{self.task_type!r} on line {self.task_type_line}")
            self.errors.add_many(
                bad, "task_type", "mixed_task_type",
                lambda i: f"task_type {values[i]!r} differs from {source}; one file holds one task type",
            )

    def _declared(self, declared: frozenset[str] | None, others: Any = ()) -> None:
        """Report required columns that a CSV header / Parquet schema lacks, once each
        (common ones at once, the task type's as soon as it is known)."""
        if declared is None:
            return
        required = COMMON_REQUIRED + (TASK_REQUIRED[self.task_type] if self.task_type else ())
        for name in required:
            if name not in declared and name != "dimension" and name not in self.absent:
                self.absent.add(name)
                needed = f" (needed for {self.task_type} batches)" if name not in COMMON_REQUIRED else ""
                self.errors.add(Issue(1, name, "missing_field",
                                      f"required column {name} is absent from the file{needed}{hint(name, others)}"))

    def _unknown_columns(self, chunk: RawChunk, table: pa.Table) -> None:
        for name, line in chunk.unknown_columns.items():
            if name == LINE:
                continue  # a stored (normalized) batch carries the source's line numbers: not a vendor column
            if name not in self.unknown_warned:
                self.unknown_warned.add(name)
                self.warnings.add(Issue(line, name, "unknown_column",
                                        f"column {show(name)} is not part of the data contract; it is ignored"
                                        f"{self._unknown_hint(name, table)}"))
        if self.task_type is None:
            return
        allowed = set(allowed_columns(self.task_type))
        for name in table.column_names:
            if name == LINE or name in allowed or name in self.unknown_warned:
                continue
            valid = pc.is_valid(table[name])
            idx = pc.index(valid, True).as_py()
            if idx >= 0 or (chunk.declared is not None and name in chunk.declared):
                self.unknown_warned.add(name)
                owner = [t for t in TASK_TYPES if name in allowed_columns(t)]
                self.warnings.add(Issue(
                    int(table[LINE][max(idx, 0)].as_py()) if table.num_rows else 1, name, "unknown_column",
                    f"column {name} belongs to {'/'.join(owner)} batches, not {self.task_type}; it is ignored"))

    def _unknown_hint(self, name: str, table: pa.Table) -> str:
        """"did you mean" for a column outside the contract that is close to a contract column
        this file lacks (absent, or null on every row so far)."""
        candidates = allowed_columns(self.task_type) if self.task_type else KNOWN_COLUMNS
        column = contract_name(name, candidates)
        if column is None or column in self.present:
            return ""
        return map_hint(column, name, column)

    def _missing_message(self, column: str) -> str:
        """A required field a row lacks; with the file's column that may hold it (a JSONL key
        outside the contract: CSV and Parquet name it once, on the header)."""
        return f"required field {column} is missing or null{hint(column, self.unknown_warned)}"

    def _batch_id(self, table: pa.Table, lines: np.ndarray) -> None:
        if "batch_id" not in table.column_names:
            return
        col = table["batch_id"]
        if self.batch_id is None:
            idx = pc.index(pc.is_valid(col), True).as_py()
            if idx < 0:
                return
            self.batch_id = col[idx].as_py()
            self.batch_id_line = int(lines[idx])
            problem = id_problem(self.batch_id)
            if problem is not None:  # the id becomes a path, an S3 key and a git branch name
                self.errors.add(Issue(self.batch_id_line, "batch_id", "invalid_batch_id",
                                      f"batch_id {show(self.batch_id)} is not a valid id: {problem}"))
        other = pc.not_equal(col, self.batch_id)
        bad = _lines_where(other, lines)
        if len(bad):
            values = pc.filter(col, pc.fill_null(other, False)).to_pylist()
            self.errors.add_many(
                bad, "batch_id", "mixed_batch_id",
                lambda i: f"batch_id {show(values[i])} differs from {show(self.batch_id)} on line "
                          f"{self.batch_id_line}; one file holds one batch",
            )

    # ------------------------------------------------------------------ pandera
    def _pandera(self, table: pa.Table, lines: np.ndarray, suppressed: dict[str, set[int]]) -> pd.DataFrame:
        names = [c for c in small_columns(self.task_type) if c in table.column_names]
        df = table.select(names).to_pandas()
        df.index = pd.Index(lines, name=LINE)
        required = [c for c in small_columns(self.task_type) if c in COMMON_REQUIRED
                    or (self.task_type and c in TASK_REQUIRED[self.task_type])]
        for name in required:
            if name not in df.columns:
                df[name] = pd.Series(None, index=df.index, dtype=object)
        if self.task_type == "likert":
            df[SCALE_MIN], df[SCALE_MAX] = scale_columns(df["dimension"], self.config, self.scale)
        schema = self.schemas.get(self.task_type)
        if schema is None:
            schema = self.schemas[self.task_type] = build_schema(self.config, self.task_type)
        try:
            schema.validate(df, lazy=True)
        except pandera.errors.SchemaErrors as exc:
            self._pandera_issues(exc.failure_cases, df, suppressed)
        return df

    def _pandera_issues(self, failures: pd.DataFrame, df: pd.DataFrame, suppressed: dict[str, set[int]]) -> None:
        found = [f for f in failure_kinds(failures)
                 if not (f[2] == "missing_field" and (f[1] in self.absent or f[0] in suppressed.get(f[1], ())))]
        found.sort(key=lambda f: (f[0] or 0, f[1]))
        for line, column, kind, value in found:
            if line is None:
                continue  # a column-level failure; absent columns are reported by _declared
            self.errors.add(Issue(line, column, kind, self._message(line, column, kind, value, df)))

    def _message(self, line: int, column: str, kind: str, value: object, df: pd.DataFrame) -> str:
        names = ", ".join(self.taxonomy.names)
        if kind == "missing_field":
            if value is None or (isinstance(value, float) and np.isnan(value)):
                return self._missing_message(column)
            return f"required field {column} is empty"
        if kind == "unknown_task_type":
            return f"task_type {show(value)} is not one of {', '.join(TASK_TYPES)} (case-sensitive)"
        if kind == "unknown_dimension":
            return f"dimension {show(value)} is not in the taxonomy ({names}); fix the row or add it to alignment.yaml"
        if kind == "dimension_not_allowed":
            dim = self.taxonomy.get(str(value))
            allowed = ", ".join(dim.task_types) if dim else "?"
            return f"dimension {show(value)} is not judged in {self.task_type} tasks (only {allowed})"
        if kind == "out_of_range" and column == "time_spent_s":
            return f"time_spent_s {value} is negative"
        if kind in ("out_of_range", "invalid_gold") and column in ("rating", "gold_rating"):
            lo, hi = df.at[line, SCALE_MIN], df.at[line, SCALE_MAX]
            whose = "--scale" if self.scale else f"dimension {df.at[line, 'dimension']}'s scale"
            return f"{column} {_int(value)} is outside {whose} {int(lo)}..{int(hi)}"
        if kind == "invalid_value" and column == "choice":
            return f"choice {show(value)} is not one of 'a', 'b', 'tie', 'skip' (case-sensitive)"
        if kind == "invalid_gold" and column == "gold_choice":
            return f"gold_choice {show(value)} is not one of 'a', 'b', 'tie' (case-sensitive)"
        if kind == "invalid_value" and column == "suggestion":
            return f"suggestion {show(value)} is not one of 'a', 'b', 'tie' (the prefilled answer shown to the rater)"
        if kind == "invalid_value" and column == "labeled_at":
            return f"labeled_at {show(value)} is not an ISO-8601 timestamp (e.g. 2024-05-01T12:30:00Z)"
        return f"{column} {show(value)} fails the {kind} check"

    # ------------------------------------------------------------------ Arrow text checks
    def _text(self, table: pa.Table, lines: np.ndarray, suppressed: dict[str, set[int]]) -> None:
        tt = self.task_type
        required_text = [c for c in (TASK_REQUIRED[tt] if tt else ()) if c in TEXT_FIELDS or c == "ranking"]
        for name in ["prompt", *required_text]:
            if name in self.absent:
                continue
            if name not in table.column_names:
                continue
            missing = _lines_where(pc.is_null(table[name]), lines)
            skip = suppressed.get(name)
            if skip:
                missing = np.array([x for x in missing if x not in skip], dtype=np.int64)
            self.errors.add_many(missing, name, "missing_field", lambda i, n=name: self._missing_message(n))
        if "prompt" in table.column_names:
            self._empty_prompt(table["prompt"], lines)
        allowed = set(allowed_columns(tt)) if tt else set(TEXT_FIELDS)
        jobs = [(name, table[name]) for name in TEXT_FIELDS if name in table.column_names and name in allowed]
        results = list(self.pool.map(lambda job: self._scan_text(*job, lines), jobs))
        if "rater_id" in table.column_names:
            results.append([self._scan_pii("rater_id", table["rater_id"], lines)])
        for issues in results:
            for add in issues:
                add()

    def _empty_prompt(self, prompt: pa.ChunkedArray, lines: np.ndarray) -> None:
        short = np.flatnonzero(pc.fill_null(pc.less(pc.binary_length(prompt), _SHORT), False).to_numpy(zero_copy_only=False))
        if not len(short):
            return
        blank = pc.match_substring_regex(prompt.take(pa.array(short)), r"^\s*$").to_numpy(zero_copy_only=False)
        bad = lines[short[blank]]
        self.errors.add_many(bad, "prompt", "empty_prompt", lambda i: "prompt is empty; every judgment needs its prompt")

    def _scan_text(self, name: str, col: pa.ChunkedArray, lines: np.ndarray) -> list[Callable[[], None]]:
        """Size, formula and PII scans of one column (runs in a worker thread: pyarrow
        releases the GIL). Returns closures that record the issues in the main thread."""
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        if pa.types.is_list(col.type):
            values = col.flatten()
            rows = pc.list_parent_indices(col).to_numpy()
            offsets = col.offsets.to_numpy()
            first = offsets[col.offset] if len(col) else 0
            index_in_list = np.arange(len(values)) + first - offsets[rows]
        else:
            values, rows, index_in_list = col, None, None
        out: list[Callable[[], None]] = []

        def where(mask: pa.Array) -> tuple[np.ndarray, np.ndarray]:
            positions = np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))
            row_idx = positions if rows is None else rows[positions]
            return positions, row_idx

        def label(pos: int) -> str:
            return name if index_in_list is None else f"{name}[{int(index_in_list[pos])}]"

        lengths = pc.binary_length(values)
        too_long_pos, too_long_rows = where(pc.greater(lengths, self.limits.text_max_bytes))
        long_pos, long_rows = where(pc.and_(pc.greater(lengths, self.limits.text_warn_bytes),
                                            pc.less_equal(lengths, self.limits.text_max_bytes)))
        if len(too_long_pos):
            lens = lengths.to_numpy(zero_copy_only=False)
            out.append(lambda: self.errors.add_many(
                lines[too_long_rows], name, "text_too_long",
                lambda i: f"{label(too_long_pos[i])} is {_kib(lens[too_long_pos[i]])}, over the hard limit "
                          f"{_kib(self.limits.text_max_bytes)} (validation.text_max_bytes)"))
        if len(long_pos):
            lens = lengths.to_numpy(zero_copy_only=False)
            out.append(lambda: self.warnings.add_many(
                lines[long_rows], name, "text_long",
                lambda i: f"{label(long_pos[i])} is {_kib(lens[long_pos[i]])}, over "
                          f"{_kib(self.limits.text_warn_bytes)} (validation.text_warn_bytes); reports truncate it"))
        formula_pos, formula_rows = where(pc.match_substring_regex(values, FORMULA_PATTERN))
        if len(formula_pos):
            firsts = pc.utf8_slice_codeunits(values.take(pa.array(formula_pos)), 0, 1).to_pylist()
            out.append(lambda: self.warnings.add_many(
                lines[formula_rows], name, "formula",
                lambda i: f"{label(formula_pos[i])} starts with {firsts[i]!r}, which spreadsheets run as a formula; "
                          "exports prefix it with a quote"))
        out.extend(self._pii_issues(name, values, lines, where, label))
        return out

    def _scan_pii(self, name: str, col: pa.ChunkedArray, lines: np.ndarray) -> Callable[[], None]:
        values = col.combine_chunks()

        def where(mask: pa.Array) -> tuple[np.ndarray, np.ndarray]:
            positions = np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))
            return positions, positions

        adds = self._pii_issues(name, values, lines, where, lambda pos: name)
        return lambda: [add() for add in adds]

    def _pii_issues(self, name, values, lines, where, label) -> list[Callable[[], None]]:
        pii_pos, pii_rows = where(pc.match_substring_regex(values, PII_PATTERN))
        if not len(pii_pos):
            return []
        self.pii_columns.add(name)
        email = pc.match_substring_regex(values.take(pa.array(pii_pos)), EMAIL_PATTERN).to_pylist()
        what = "an identifier" if name == "rater_id" else "text"

        def message(i: int) -> str:
            kind = "an e-mail address" if email[i] else "a phone number"
            fix = ("use a pseudonymous rater id; ingest replaces it" if name == "rater_id"
                   else "it is redacted in reports and stored batches")
            return f"{label(pii_pos[i])} contains what looks like {kind} (PII in {what}); {fix}"

        return [lambda: self.warnings.add_many(lines[pii_rows], name, "pii", message)]

    def _ranking(self, table: pa.Table, lines: np.ndarray) -> None:
        if "responses" not in table.column_names:
            return
        responses = table["responses"].combine_chunks()
        n_resp = pc.list_value_length(responses).to_numpy(zero_copy_only=False)
        n_resp = np.nan_to_num(np.asarray(n_resp, dtype=float), nan=-1).astype(np.int64)
        bad_count = (n_resp >= 0) & ((n_resp < MIN_RESPONSES) | (n_resp > MAX_RESPONSES))
        counts = n_resp[bad_count]
        self.errors.add_many(lines[bad_count], "responses", "invalid_value",
                             lambda i: f"responses has {counts[i]} entries; a ranking task needs "
                                       f"{MIN_RESPONSES} to {MAX_RESPONSES}")
        for name, kind in (("ranking", "not_a_permutation"), ("gold_ranking", "invalid_gold")):
            if name not in table.column_names:
                continue
            ranking = table[name].combine_chunks()
            bad = _not_permutation(ranking, n_resp)
            if bad.any():
                shown = ranking.filter(pa.array(bad)).to_pylist()
                sizes = n_resp[bad]
                self.errors.add_many(
                    lines[bad], name, kind,
                    lambda i, n=name: f"{n} {show(shown[i])} is not a permutation of 0..{sizes[i] - 1} "
                                      f"(one index per response, best first)")

    def _duplicates(self, small: pd.DataFrame, lines: np.ndarray) -> None:
        keys = small[list(_KEY)]
        complete = keys.notna().all(axis=1).to_numpy()
        if not complete.any():
            return
        keys = keys[complete]
        hashes = pd.util.hash_pandas_object(keys, index=False).to_numpy()
        dup_lines, earlier = self.dups.check(hashes, lines[complete])
        if len(dup_lines):
            shown = keys.loc[dup_lines[: self.errors.cap]]
            self.errors.add_many(
                dup_lines, "item_id", "duplicate",
                lambda i: f"(item_id {show(shown.iat[i, 0])}, rater_id {show(shown.iat[i, 1])}, "
                          f"dimension {show(shown.iat[i, 2])}) appears on line {earlier[i]} and line "
                          f"{dup_lines[i]}; each rater judges an item once per dimension")

    # ------------------------------------------------------------------ end
    def finish(self) -> None:
        self.pool.shutdown()
        if self.data_lines == 0 and self.errors.count == 0:
            self.errors.add(Issue(1, None, "empty_file", "the file holds no judgments; a batch needs at least one row"))
        if self.dimension_seen and self.no_dimension_count:
            self.errors.add_many(np.array(self.no_dimension_lines, dtype=np.int64), "dimension", "missing_field",
                                 lambda i: "required field dimension is missing or null (other rows name one; "
                                           "leave the column out everywhere to use the default)")
            self.errors.count += self.no_dimension_count - len(self.no_dimension_lines)
        if self.rows and self.task_type is None:
            first = 1
            self.errors.add(Issue(first, "task_type", "unknown_task_type",
                                  f"no row names a known task_type ({', '.join(TASK_TYPES)})"))


def scrub_pii(table: pa.Table, columns: Iterable[str]) -> pa.Table:
    """Redact e-mail addresses and phone numbers in ``columns`` (RE2, vectorised, the same
    placeholders as :func:`alignment_ci.textsafety.redact_pii`); a ``rater_id`` that looks
    like PII becomes its stable pseudonym (:func:`alignment_ci.textsafety.pseudonymize`)."""
    for name in columns:
        if name not in table.column_names:
            continue
        col = table[name].combine_chunks()
        if name == "rater_id":
            new = pa.array([None if v is None else pseudonymize(v) for v in col.to_pylist()], pa.string())
        elif pa.types.is_list(col.type):
            new = pa.ListArray.from_arrays(col.offsets, _redact(col.values), mask=col.is_null())
        else:
            new = _redact(col)
        table = table.set_column(table.column_names.index(name), name, new)
    return table


def _redact(values: pa.Array) -> pa.Array:
    values = pc.replace_substring_regex(values, EMAIL_PATTERN, "[email redacted]")
    return pc.replace_substring_regex(values, PHONE_PATTERN, "[phone redacted]")


def _prefetch(chunks: Iterator[RawChunk]) -> Iterator[RawChunk]:
    """Read the next chunk in a thread while this one is checked (pyarrow's readers
    release the GIL). At most two chunks are alive at once, so memory stays O(chunk)."""
    queue: Queue = Queue(maxsize=1)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                if stop.is_set():
                    return
                queue.put(chunk)
            queue.put(done)
        except BaseException as exc:  # re-raised in the consumer (e.g. InputError)
            queue.put(exc)

    worker = threading.Thread(target=produce, name="alignment-ci-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = queue.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                queue.get_nowait()
            except Empty:
                pass
            worker.join(timeout=0.01)


def _not_permutation(ranking: pa.Array, n_resp: np.ndarray) -> np.ndarray:
    """Rows whose list is not a permutation of 0..n-1 (n = len(responses)); null rows pass.

    Vectorised with a bitmask per row: a permutation has n entries, each in range, whose
    bits together are 2^n - 1.
    """
    n = len(ranking)
    if n == 0:
        return np.zeros(0, dtype=bool)
    valid = pc.is_valid(ranking).to_numpy(zero_copy_only=False) & (n_resp >= 0)
    lengths = np.nan_to_num(np.asarray(pc.list_value_length(ranking).to_numpy(zero_copy_only=False), dtype=float),
                            nan=0).astype(np.int64)
    flat = ranking.flatten().to_numpy(zero_copy_only=False)
    parents = pc.list_parent_indices(ranking).to_numpy()
    flat = np.nan_to_num(np.asarray(flat, dtype=float), nan=-1).astype(np.int64)
    in_range = (flat >= 0) & (flat < n_resp[parents]) & (flat < 63)
    bits = np.where(in_range, np.left_shift(np.uint64(1), np.clip(flat, 0, 62).astype(np.uint64)), np.uint64(0))
    mask = np.zeros(n, dtype=np.uint64)
    np.bitwise_or.at(mask, parents, bits)
    all_in = np.ones(n, dtype=bool)
    np.logical_and.at(all_in, parents, in_range)
    full = np.left_shift(np.uint64(1), np.clip(n_resp, 0, 62).astype(np.uint64)) - np.uint64(1)
    ok = (lengths == n_resp) & all_in & (mask == full)
    return valid & ~ok


def _int(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _kib(n: int | float) -> str:
    n = int(n)
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.1f} KiB"


def _relative(message: str, path: str | Path) -> str:
    """A reader's message without the leading ``<path>: `` (the report names the file)."""
    prefix = f"{path}: "
    message = message[len(prefix):] if message.startswith(prefix) else message
    return re.sub(r"^line \d+: ", "", message)


def validate_file(
    path: str | Path,
    config: Config,
    *,
    task_type: str | None = None,
    scale: Scale | None = None,
    normalized_out: Path | None = None,
    fmt: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> ValidationReport:
    """Validate a label batch; never raises for a problem inside the file.

    ``task_type`` forces the task type (otherwise the first row's); ``scale`` overrides
    every dimension's likert scale. With ``normalized_out``, the canonical table (with
    ``line``) is streamed to Parquet at a temporary name and renamed there only when the
    batch is accepted; with ``validation.scrub_pii`` (the default) PII in it is redacted
    and e-mail-like rater ids are pseudonymized (see :func:`scrub_pii`). Raises :class:`~alignment_ci.errors.InputError` when the file
    cannot be opened or its format is unknown.
    """
    if task_type is not None and task_type not in TASK_TYPES:
        raise InputError(f"--task-type {task_type!r} is not one of {', '.join(TASK_TYPES)}")
    kind = detect_format(path, fmt)
    if config.validation.column_map:
        # Vendor column names renamed in a line-preserving copy, then validated as usual.
        import tempfile

        with tempfile.TemporaryDirectory(prefix="alignment-ci-map-") as tmpdir:
            copy = renamed_copy(Path(path), kind, check_map(config.validation.column_map), Path(tmpdir))
            plain = config.model_copy(update={"validation": config.validation.model_copy(update={"column_map": {}})})
            return validate_file(copy, plain, task_type=task_type, scale=scale, normalized_out=normalized_out,
                                 fmt=kind, chunk_rows=chunk_rows)
    validator = _Validator(config, task_type, scale)
    chunks = _prefetch(iter_raw_chunks(path, fmt=fmt, chunk_rows=chunk_rows, limits=config.validation.limits))
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    tmp: Path | None = None
    if normalized_out is not None:
        normalized_out = Path(normalized_out)
        tmp = normalized_out.with_name(f".{normalized_out.name}.{os.getpid()}.tmp")
    try:
        try:
            for chunk in chunks:
                table = validator.check(chunk)
                if tmp is None or table is None or validator.errors.count:
                    continue
                if writer is None:
                    schema = canonical_schema(validator.task_type, chunk.declared)
                    tmp.parent.mkdir(parents=True, exist_ok=True)
                    writer = pq.ParquetWriter(tmp, schema)
                if config.validation.scrub_pii and validator.pii_columns:
                    table = scrub_pii(table, validator.pii_columns)
                writer.write_table(to_canonical(table, schema))
        except LimitExceeded as exc:
            # Over a limit: reading stops here; the batch is rejected with that error.
            validator.limit = exc
            validator.errors.add(Issue(exc.line, exc.column, "limit_exceeded", _relative(str(exc), path)))
        validator.finish()
    finally:
        validator.pool.shutdown(wait=False)
        if writer is not None:
            writer.close()
    accepted = validator.errors.count == 0
    if tmp is not None:
        if accepted and writer is not None:
            os.replace(tmp, normalized_out)
        elif tmp.exists():
            tmp.unlink()
    return ValidationReport(
        accepted=accepted,
        rows=validator.rows,
        errors=validator.errors.sorted(),
        warnings=validator.warnings.sorted(),
        batch_id=validator.batch_id,
        task_type=validator.task_type,
        error_count=validator.errors.count,
        warning_count=validator.warnings.count,
        path=str(path),
        format=kind,
        limit=validator.limit,
    )
