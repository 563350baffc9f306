"""Vendor labeling-tool formats: Label Studio and Argilla exports to canonical label rows.

Each importer reads a tool's native export and returns an :class:`ImportResult`: the
rows of a label batch in the data contract's columns (``batch_id``, ``item_id``,
``rater_id``, ``dimension``, ``task_type``, ``prompt``, the responses and the judgment,
plus the quick flags and the rationale when present) and the annotations it skipped,
each with a reason. The rows go through ``validate``/``ingest`` like any batch.

Rater ids are the tool's numeric or UUID user ids with a tool prefix (``ls-17``,
``argilla-<uuid>``); an e-mail address never becomes a rater id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ValidationLimits
from ..data.limits import check_json_document, first_duplicate, loads_marking_duplicates
from ..errors import InputError
from ..textsafety import redact_pii, truncate


def parse_export_json(raw: bytes | str, name: str, limits: ValidationLimits | None, element: str) -> tuple[Any, bool]:
    """A tool export parsed as JSON after its nesting is checked against
    ``validation.limits.max_depth`` (:class:`~alignment_ci.errors.LimitExceeded` names the
    line and the ``element``). Returns the value and whether an object named a key twice
    (find it with :func:`duplicate_in`). Raises ``json.JSONDecodeError`` /
    ``UnicodeDecodeError`` for text that is not JSON, as ``json.loads`` does."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    check_json_document(data, limits if limits is not None else ValidationLimits(), name, element)
    try:
        return loads_marking_duplicates(raw)
    except RecursionError:
        raise InputError(f"{name}: the export nests too deeply to parse") from None


def duplicate_in(value: Any, where: str) -> None:
    """Raise :class:`InputError` naming ``where`` and the key when ``value`` (parsed by
    :func:`parse_export_json`) holds an object that gives a key twice."""
    key = first_duplicate(value)
    if key is not None:
        raise InputError(f"{where}: key {key!r} appears twice in one object; the export is ambiguous "
                         "(JSON keeps only the last value): fix the export")


def read_export(source: str | Path | bytes) -> tuple[str, bytes]:
    """``(name for messages, raw bytes)`` of an export given as a path or as bytes."""
    name = "<export>" if isinstance(source, bytes) else str(source)
    try:
        return name, source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as exc:
        raise InputError(f"{name}: cannot read the export ({exc})") from None


PROMPT_KEYS = ("prompt", "context", "question", "instruction", "text", "input")
RESPONSE_A_KEYS = ("response_a", "answer1", "response1", "response_1", "text1", "item1", "completion_a", "answer_a")
RESPONSE_B_KEYS = ("response_b", "answer2", "response2", "response_2", "text2", "item2", "completion_b", "answer_b")
CHOICE_ALIASES = {
    "a": "a", "left": "a", "1": "a", "response_a": "a", "response1": "a", "response_1": "a", "answer1": "a",
    "a is better": "a", "b": "b", "right": "b", "2": "b", "response_b": "b", "response2": "b", "response_2": "b",
    "answer2": "b", "b is better": "b", "tie": "tie", "equal": "tie", "both": "tie", "same": "tie", "3": "tie",
    "skip": "skip", "cannot judge": "skip", "skip (cannot judge)": "skip",
}
FLAG_ALIASES = {
    "safety": "safety_flag", "unsafe": "safety_flag", "safety_flag": "safety_flag", "unsafe / policy violation": "safety_flag",
    "hallucination": "hallucination_flag", "hallucination_flag": "hallucination_flag",
    "hallucination / invented facts": "hallucination_flag",
}


@dataclass
class ImportResult:
    """Canonical rows and the skipped annotations (``{where, reason}``)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    task_type: str | None = None
    # Per row, the tool's record it came from ("Label Studio task 1002, annotation 7, rater ls-7").
    sources: list[str] = field(default_factory=list)

    def add(self, row: dict[str, Any], source: str) -> None:
        self.rows.append(row)
        self.sources.append(truncate(redact_pii(source), 200))

    def source_of(self, line: int | None) -> str | None:
        """The record behind line ``line`` of the converted batch (one JSONL line per row)."""
        if not isinstance(line, int) or not 1 <= line <= len(self.sources):
            return None
        return self.sources[line - 1]

    def with_sources(self, issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Validation issues on the converted batch, each with the ``source`` record of its line."""
        return [{**issue, "source": self.source_of(issue.get("line"))} for issue in issues]

    def summary(self) -> dict[str, Any]:
        reasons: dict[str, int] = {}
        for s in self.skipped:
            reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
        return {
            "rows": len(self.rows),
            "task_type": self.task_type,
            "items": len({r["item_id"] for r in self.rows}),
            "raters": len({r["rater_id"] for r in self.rows}),
            "skipped": len(self.skipped),
            "skipped_reasons": dict(sorted(reasons.items())),
        }


def normalize_choice(value: Any, where: str) -> str:
    """A preference value from a tool (``left``, ``A is better``, ``response1``…) as a/b/tie/skip."""
    key = str(value).strip().lower()
    if key in CHOICE_ALIASES:
        return CHOICE_ALIASES[key]
    raise InputError(
        f"{where}: preference {value!r} is not one of a/b/tie/skip (or left/right, response1/response2); "
        "give the label names with --choice-map or rename the labels in the tool"
    )


def pick_key(data: dict[str, Any], keys: tuple[str, ...], override: str | None, what: str, where: str) -> str:
    """The value of the first of ``keys`` present in ``data`` (or of ``override``)."""
    if override:
        if override not in data:
            raise InputError(f"{where}: the data has no field {override!r} for the {what} (fields: {', '.join(sorted(data)) or 'none'})")
        return override
    for key in keys:
        if key in data:
            return key
    raise InputError(
        f"{where}: no {what} field: looked for {', '.join(keys)} (fields: {', '.join(sorted(data)) or 'none'}); "
        f"name it with the --fields option"
    )
