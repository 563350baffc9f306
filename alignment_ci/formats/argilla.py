"""Argilla v2: import exported records with rating, label or ranking questions.

Accepted exports: the nested records of ``dataset.records.to_list()`` / ``to_json()`` /
``dataset.to_disk()``'s ``records.json`` (``{"id", "fields", "responses": {question:
[{"value", "user_id", "status"}]}, "status", ...}``), JSON Lines of the same, and the
flattened form (``to_list(flatten=True)``, ``to_datasets()``: ``<question>.responses``,
``<question>.responses.users``, ``<question>.responses.status`` beside the fields).

The preference question decides the task type:

* rating (integers) → ``likert`` with the record's one response field;
* label (a string) → ``pairwise``: labels ``a``/``b``/``tie``/``skip`` or the response
  field names (``response1``/``response2``);
* ranking (a list of option values, best first; the server's ``[{"value", "rank"}]``
  form too) → ``ranking``: the options are the record's response fields.

A label/multi-label question named ``flags`` sets ``safety_flag`` /
``hallucination_flag``; a text question ``why`` (or ``rationale``) fills ``rationale``.
Only ``submitted`` responses count (a response without a status is taken as submitted);
``draft`` and ``discarded`` ones are skipped. The rater id is ``argilla-<user_id>``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from ..config import ValidationLimits
from ..errors import InputError
from . import (
    FLAG_ALIASES,
    PROMPT_KEYS,
    RESPONSE_A_KEYS,
    RESPONSE_B_KEYS,
    ImportResult,
    duplicate_in,
    normalize_choice,
    parse_export_json,
    pick_key,
    read_export,
)

FLAG_QUESTIONS = ("flags", "flag")
RATIONALE_QUESTIONS = ("why", "rationale", "reason")
_RECORD_KEYS = {"id", "_server_id", "status", "fields", "metadata", "suggestions", "responses", "vectors", "score", "inserted_at", "updated_at"}


def load_records(source: str | Path | bytes | list[Any], limits: ValidationLimits | None = None) -> list[dict[str, Any]]:
    """Records from a JSON array, ``{"records": [...]}`` or JSON Lines.

    Nesting deeper than ``limits.max_depth`` is refused before parsing; a key given twice
    in one object is an error naming the record (and the line, for JSON Lines)."""
    duplicated = False
    if isinstance(source, list):
        records: Any = source
        name = "<export>"
    else:
        name, raw = read_export(source)
        try:
            records, duplicated = parse_export_json(raw, name, limits, "record")
        except (json.JSONDecodeError, UnicodeDecodeError):
            records = []
            for lineno, line in enumerate(raw.split(b"\n"), start=1):
                if not line.strip():
                    continue
                try:
                    record, twice = parse_export_json(line, f"{name}:{lineno}", limits, "record")
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise InputError(f"{name}:{lineno}: not JSON ({exc}); export records with to_json() or to_disk()") from None
                if twice:
                    duplicate_in(record, f"{name}:{lineno}")
                records.append(record)
        if isinstance(records, dict):  # {"records": [...]}, or JSON Lines of a single record
            records = records["records"] if isinstance(records.get("records"), list) else [records]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InputError(f"{name}: expected a list of Argilla records (JSON array or JSON Lines)")
    if duplicated:
        for index, record in enumerate(records):
            duplicate_in(record, f"{name}: record {_record_label(record, index)}")
    for index, record in enumerate(records):
        _check_shape(record, f"{name}: record {_record_label(record, index)}")
    return records


def _record_label(record: dict[str, Any], index: int) -> str:
    rec_id = record.get("id") or record.get("_server_id")
    return str(rec_id)[:80] if isinstance(rec_id, (int, str)) and not isinstance(rec_id, bool) else f"#{index + 1}"


def _check_shape(record: dict[str, Any], where: str) -> None:
    """The parts of a record the importer walks have the types Argilla writes."""
    def need(value: Any, types: type | tuple[type, ...], what: str) -> None:
        if value is not None and not isinstance(value, types):
            raise InputError(f"{where}: {what} must be {'an object' if types is dict else 'a list'}, "
                             f"got {type(value).__name__}")

    need(record.get("fields"), dict, "'fields'")
    responses = record.get("responses")
    need(responses, dict, "'responses'")
    for question, answers in (responses or {}).items():
        need(answers, list, f"the responses to {str(question)[:60]!r}")
    for key, value in record.items():
        if isinstance(key, str) and (key.endswith(".responses") or key.endswith(".responses.users")
                                     or key.endswith(".responses.status")):
            need(value, list, f"{key[:80]!r}")


def _unflatten(record: dict[str, Any]) -> dict[str, Any]:
    """The nested form of a record, whichever form it came in."""
    if isinstance(record.get("fields"), dict):
        return record
    fields: dict[str, Any] = {}
    responses: dict[str, list[dict[str, Any]]] = {}
    for key, value in record.items():
        if key.endswith(".responses"):
            question = key[: -len(".responses")]
            users = record.get(f"{key}.users") or []
            statuses = record.get(f"{key}.status") or []
            values = value or []
            responses[question] = [
                {"value": v, "user_id": users[i] if i < len(users) else None, "status": statuses[i] if i < len(statuses) else None}
                for i, v in enumerate(values)
            ]
        elif ".responses." in key or ".suggestion" in key or key in _RECORD_KEYS:
            continue
        else:
            fields[key] = value
    suggestions = [{"question_name": k[: -len(".suggestion")], "value": v} for k, v in record.items() if k.endswith(".suggestion")]
    return {"id": record.get("id"), "_server_id": record.get("_server_id"), "status": record.get("status"),
            "fields": fields, "responses": responses, "metadata": {}, "suggestions": suggestions}


def _kind(values: list[Any]) -> str | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "likert"
    if all(isinstance(v, list) for v in present):
        return "ranking"
    if all(isinstance(v, str) for v in present):
        return "pairwise"
    return "mixed"


def _ranking_order(value: Any, where: str) -> list[str] | None:
    """Option values best first; None when two options share a rank."""
    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: a ranking response must be a non-empty list, got {value!r}")
    if all(isinstance(v, str) for v in value):
        return list(value)
    if all(isinstance(v, dict) and "value" in v for v in value):
        if all(v.get("rank") is None for v in value):
            return [str(v["value"]) for v in value]
        ranks = [v.get("rank") for v in value]
        if len(set(ranks)) != len(ranks):
            return None
        return [str(v["value"]) for v in sorted(value, key=lambda v: v["rank"])]
    raise InputError(f"{where}: a ranking response must list option values or {{value, rank}} objects, got {value!r}")


def read_argilla_export(
    source: str | Path | bytes | list[Any],
    batch_id: str,
    *,
    dimension: str = "helpfulness",
    dimensions: list[str] | None = None,
    question: str | None = None,
    fields: Mapping[str, str] | None = None,
    choice_map: Mapping[str, str] | None = None,
    limits: ValidationLimits | None = None,
) -> ImportResult:
    """Canonical rows from an Argilla v2 export.

    ``question`` names the preference question (needed only when a record has several
    candidates); its name sets the dimension when it is one of ``dimensions``, else
    ``dimension`` is used. ``fields`` maps ``prompt``/``response``/``response_a``/
    ``response_b`` to field names; ``choice_map`` maps label values to a/b/tie/skip.
    """
    records = [_unflatten(r) for r in load_records(source, limits)]
    fields = dict(fields or {})
    choice_map = dict(choice_map or {})
    candidates: dict[str, list[Any]] = {}
    for rec in records:
        for q, answers in (rec.get("responses") or {}).items():
            if q in FLAG_QUESTIONS or q in RATIONALE_QUESTIONS:
                continue
            candidates.setdefault(q, []).extend(a.get("value") for a in answers or [] if isinstance(a, dict))
    if question is None:
        usable = sorted(q for q, values in candidates.items() if _kind(values) in ("likert", "pairwise", "ranking"))
        if len(usable) != 1:
            raise InputError(
                "the export has " + (f"several preference questions ({', '.join(usable)})" if usable else "no rating, label or ranking responses")
                + ": name one with --question"
            )
        question = usable[0]
    elif question not in candidates:
        raise InputError(f"no responses to question {question!r} (questions with responses: {', '.join(sorted(candidates)) or 'none'})")
    task_type = _kind(candidates[question])
    if task_type not in ("likert", "pairwise", "ranking"):
        raise InputError(f"question {question!r} mixes value types; expected integers (rating), strings (label) or lists (ranking)")
    dim = question if question in set(dimensions or []) else dimension
    out = ImportResult(task_type=task_type)
    for index, rec in enumerate(records):
        rec_id = rec.get("id") or rec.get("_server_id") or f"#{index + 1}"
        where = f"record {rec_id}"
        data = rec.get("fields") or {}
        answers = [a for a in (rec.get("responses") or {}).get(question) or [] if isinstance(a, dict)]
        if not answers:
            out.skipped.append({"where": where, "reason": "no responses"})
            continue
        prompt = data[pick_key(data, PROMPT_KEYS, fields.get("prompt"), "prompt", where)]
        base: dict[str, Any] = {"batch_id": batch_id, "item_id": str(rec_id), "dimension": dim, "task_type": task_type, "prompt": prompt}
        option_fields: list[str] = []
        if task_type == "likert":
            key = fields.get("response")
            if key is None:
                texts = [k for k, v in data.items() if isinstance(v, str) and k != pick_key(data, PROMPT_KEYS, fields.get("prompt"), "prompt", where)]
                if len(texts) != 1:
                    raise InputError(f"{where}: a rating needs one response field, found {texts}; name it with --fields response=NAME")
                key = texts[0]
            base["response"] = data[pick_key(data, (), key, "response", where)]
        elif task_type == "pairwise":
            key_a = pick_key(data, RESPONSE_A_KEYS, fields.get("response_a"), "first response", where)
            key_b = pick_key(data, RESPONSE_B_KEYS, fields.get("response_b"), "second response", where)
            base["response_a"], base["response_b"] = data[key_a], data[key_b]
            local_map = {key_a: "a", key_b: "b", **choice_map}
        extras = _extras(rec, where)
        suggested = _suggestion(rec, question, where)
        if suggested is not None and task_type == "pairwise":
            value = local_map.get(str(suggested)) or normalize_choice(suggested, f"{where}, suggestion")
            if value in ("a", "b", "tie"):
                base["suggestion"] = value
        for a_index, answer in enumerate(answers):
            a_where = f"{where}, response {a_index + 1}"
            status = answer.get("status")
            if status not in (None, "submitted"):
                out.skipped.append({"where": a_where, "reason": str(status)})
                continue
            user = answer.get("user_id")
            if not user:
                raise InputError(f"{a_where}: the response has no user_id")
            row = dict(base, rater_id=f"argilla-{user}")
            value = answer.get("value")
            if task_type == "likert":
                row["rating"] = value
            elif task_type == "pairwise":
                row["choice"] = local_map.get(str(value)) or normalize_choice(value, a_where)
            else:
                order = _ranking_order(value, a_where)
                if order is None:
                    out.skipped.append({"where": a_where, "reason": "tied ranks"})
                    continue
                if not option_fields:
                    option_fields = sorted(order, key=lambda o: list(data).index(o) if o in data else len(data))
                    missing = [o for o in option_fields if o not in data]
                    if missing:
                        raise InputError(f"{a_where}: ranking options {missing} are not fields of the record; options must name the response fields")
                    row_responses = [data[o] for o in option_fields]
                if sorted(order) != sorted(option_fields):
                    raise InputError(f"{a_where}: ranking {order} does not rank the options {option_fields}")
                row["responses"] = row_responses
                row["ranking"] = [option_fields.index(o) for o in order]
            row.update(extras.get(str(user), {}))
            out.add(row, f"Argilla {a_where}, rater {row['rater_id']}")
    return out


def _suggestion(rec: dict[str, Any], question: str, where: str) -> Any:
    """The value suggested for ``question``: ``suggestions`` as a list of ``{question_name, value,
    score, agent}`` (``rg.Suggestion``), as a mapping question -> ``{value, …}``, or the flat
    ``<question>.suggestion`` key."""
    found = rec.get("suggestions")
    if isinstance(found, list):
        for s in found:
            if isinstance(s, dict) and s.get("question_name") == question:
                return s.get("value")
    elif isinstance(found, dict):
        entry = found.get(question)
        return entry.get("value") if isinstance(entry, dict) else entry
    return rec.get(f"{question}.suggestion")


def _extras(rec: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """Per user: flags and rationale from the ``flags`` and ``why`` questions."""
    extras: dict[str, dict[str, Any]] = {}
    responses = rec.get("responses") or {}
    for q in FLAG_QUESTIONS:
        for answer in responses.get(q) or []:
            if not isinstance(answer, dict):
                continue
            values = answer.get("value")
            for value in values if isinstance(values, list) else [values]:
                column = FLAG_ALIASES.get(str(value).strip().lower())
                if column:
                    extras.setdefault(str(answer.get("user_id")), {})[column] = True
    for q in RATIONALE_QUESTIONS:
        for answer in responses.get(q) or []:
            if isinstance(answer, dict) and isinstance(answer.get("value"), str) and answer["value"].strip():
                extras.setdefault(str(answer.get("user_id")), {})["rationale"] = answer["value"].strip()
    return extras
