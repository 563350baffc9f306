"""Vendor column names → the data contract's: a mapping, and "did you mean" hints.

Vendors name columns their own way (``annotator_id``, ``question``, ``winner``). A mapping
(``validation.column_map`` in alignment.yaml, or ``--map FROM=TO`` on ``validate`` and
``ingest``) renames them before validation. :func:`renamed_copy` writes a renamed copy
that keeps every physical line where it was (CSV: only the header changes; JSONL: each
object's keys; Parquet: the schema), so errors still name the vendor file's lines.

When a required column is absent, :func:`suggest` names the file's column that most likely
holds it: a known alias first (``annotator_id`` → ``rater_id``), then difflib's closest name.
The other way round, :func:`contract_name` names the contract column a column outside the
contract most likely means (for the warning on a JSONL key or CSV column that is ignored).
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import InputError
from .contract import KNOWN_COLUMNS

ALIASES: dict[str, tuple[str, ...]] = {
    "rater_id": ("annotator", "annotator_id", "rater", "worker", "worker_id", "labeler", "labeler_id", "labeller",
                 "labeller_id", "user_id", "completed_by", "judge", "judge_id"),
    "item_id": ("item", "id", "task_id", "example_id", "sample_id", "question_id", "record_id"),
    "prompt": ("question", "instruction", "input", "query", "context"),
    "response_a": ("answer_a", "answer1", "completion_a", "output_a", "left", "response1"),
    "response_b": ("answer_b", "answer2", "completion_b", "output_b", "right", "response2"),
    "response": ("answer", "completion", "output"),
    "choice": ("preference", "winner", "label", "selected", "preferred"),
    "rating": ("score", "likert", "grade"),
    "dimension": ("criterion", "aspect", "axis"),
    "batch_id": ("batch",),
    "task_type": ("type",),
}


def suggest(missing: str, columns: Iterable[str]) -> str | None:
    """The file's column that most likely means the contract's ``missing`` column."""
    present = [c for c in columns if c not in KNOWN_COLUMNS]
    lowered = {c.lower(): c for c in present}
    for alias in ALIASES.get(missing, ()):
        if alias in lowered:
            return lowered[alias]
    close = difflib.get_close_matches(missing, present, n=1, cutoff=0.6)
    return close[0] if close else None


def contract_name(unknown: str, candidates: Iterable[str] = KNOWN_COLUMNS) -> str | None:
    """The contract column (among ``candidates``) that a column outside the contract most likely
    means: ``annotator_id`` → ``rater_id`` (a known alias), ``rater_idd`` → ``rater_id``,
    ``Prompt`` → ``prompt``; None when nothing is close."""
    candidates = list(candidates)
    lowered = unknown.lower()
    for column in candidates:
        if lowered == column or lowered in ALIASES.get(column, ()):
            return column
    close = difflib.get_close_matches(lowered, candidates, n=1, cutoff=0.75)
    return close[0] if close else None


def map_hint(meant: str, vendor: str, contract: str) -> str:
    """`` (did you mean `MEANT`? map it: --map VENDOR=CONTRACT or validation.column_map)``."""
    return f" (did you mean `{meant}`? map it: --map {vendor}={contract} or validation.column_map)"


def hint(missing: str, columns: Iterable[str]) -> str:
    """`` (did you mean `annotator_id`? map it: --map annotator_id=rater_id)`` or ``""``."""
    found = suggest(missing, columns)
    return "" if found is None else map_hint(found, found, missing)


def parse_map(values: Iterable[str]) -> dict[str, str]:
    """``["annotator_id=rater_id", …]`` → ``{"annotator_id": "rater_id"}``."""
    out: dict[str, str] = {}
    for value in values:
        src, sep, dst = value.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise InputError(f"--map {value!r} must look like VENDOR_COLUMN=CONTRACT_COLUMN, e.g. annotator_id=rater_id")
        out[src.strip()] = dst.strip()
    return out


def check_map(mapping: Mapping[str, str]) -> dict[str, str]:
    """The mapping if every target is a contract column and no two sources share a target."""
    for src, dst in mapping.items():
        if dst not in KNOWN_COLUMNS:
            close = difflib.get_close_matches(dst, KNOWN_COLUMNS, n=1)
            more = f" (did you mean `{close[0]}`?)" if close else ""
            raise InputError(f"column map {src}={dst}: {dst!r} is not a column of the data contract{more}")
    targets = list(mapping.values())
    dupes = sorted({t for t in targets if targets.count(t) > 1})
    if dupes:
        raise InputError(f"column map: several columns map to {', '.join(dupes)}; keep one")
    return dict(mapping)


def renamed_copy(path: Path, fmt: str, mapping: Mapping[str, str], dest_dir: Path) -> Path:
    """A copy of ``path`` with columns renamed by ``mapping``, every line where it was."""
    dest = Path(dest_dir) / f"mapped{path.suffix}"
    if fmt == "csv":
        with open(path, encoding="utf-8-sig", newline="") as src, open(dest, "w", encoding="utf-8", newline="") as out:
            header = src.readline()
            ending = "\r\n" if header.endswith("\r\n") else "\n"
            names = next(csv.reader([header.rstrip("\r\n")]), [])
            buf = io.StringIO()
            csv.writer(buf, lineterminator=ending).writerow([mapping.get(n, n) for n in names])
            out.write(buf.getvalue())
            for chunk in iter(lambda: src.read(1 << 20), ""):
                out.write(chunk)
        return dest
    if fmt == "jsonl":
        with open(path, "rb") as src, open(dest, "wb") as out:
            for raw in src:
                body = raw.rstrip(b"\r\n")
                try:
                    obj = json.loads(body)
                except (ValueError, UnicodeDecodeError):
                    out.write(raw)  # left as it is: the validator reports the line
                    continue
                if isinstance(obj, dict) and any(k in mapping for k in obj):
                    obj = {mapping.get(k, k): v for k, v in obj.items()}
                    out.write(json.dumps(obj, ensure_ascii=False).encode("utf-8") + raw[len(body):])
                else:
                    out.write(raw)
        return dest
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        pq.write_table(table.rename_columns([mapping.get(n, n) for n in table.column_names]), dest)
        return dest
    raise InputError(f"{path}: a column map applies to CSV, JSONL and Parquet files, not {fmt}")
