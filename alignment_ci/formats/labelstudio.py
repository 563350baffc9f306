"""Label Studio: import a JSON export of pairwise judgments; generate a labeling config.

Import (:func:`read_labelstudio_export`) reads Label Studio's "JSON" export: a list of
tasks ``{id, data: {...}, annotations: [{id, completed_by, result: [...], was_cancelled,
ground_truth, lead_time, created_at}]}``. Recognised results:

* ``{"type": "pairwise", "value": {"selected": "left"|"right"}}`` — the Pairwise /
  "Human preference for RLHF" templates; left is the first response (``a``);
* ``{"type": "choices", "from_name": <dimension or "preference">, "value": {"choices": [..]}}``
  — the config :func:`labeling_config` generates (aliases ``a``, ``b``, ``tie``, ``skip``);
* ``choices`` from ``flags`` (``safety``, ``hallucination``) and a ``textarea`` from ``why``.

``completed_by`` is an object (``{"id": 3, "email": ...}``) or an integer id; the rater id
is ``ls-<id>`` (an export with only an e-mail gets a pseudonym, never the address). A
cancelled (skipped) annotation becomes a ``skip`` row, so a rater's skip rate counts it; a
ground-truth annotation makes the task a gold item whose ``gold_choice`` the other
annotations carry. A JSON_MIN export is refused: it leaves out cancelled annotations and
ground-truth flags (checked against Label Studio 1.23.2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping
from xml.sax.saxutils import quoteattr

from ..config import ValidationLimits
from ..errors import InputError
from ..textsafety import pseudonymize
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

JSON_MIN_KEYS = frozenset({"annotator", "annotation_id", "lead_time"})
"""Keys of a JSON_MIN export row (flat: the task's data, the results by control name, and these)."""
PREFERENCE_NAMES = ("preference", "choice", "comparison", "pairwise", "pw")
FLAG_NAMES = ("flags", "flag")
RATIONALE_NAMES = ("why", "rationale", "reason")


def load_export(source: str | Path | bytes | list[Any], limits: ValidationLimits | None = None) -> list[dict[str, Any]]:
    """The list of tasks of a Label Studio JSON export (a path, bytes or the parsed list).

    Nesting deeper than ``limits.max_depth`` is refused before parsing; a key given twice
    in one object is an error naming the task."""
    duplicated = False
    if isinstance(source, list):
        data: Any = source
        name = "<export>"
    else:
        name, raw = read_export(source)
        try:
            data, duplicated = parse_export_json(raw, name, limits, "task")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{name}: not JSON ({exc}); export the project as 'JSON' from Label Studio") from None
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise InputError(f"{name}: expected a JSON array of tasks (Label Studio's 'JSON' export), got {type(data).__name__}")
    if duplicated:
        for index, task in enumerate(data):
            duplicate_in(task, f"{name}: task {_task_label(task, index)}")
    return data


def _task_label(task: dict[str, Any], index: int) -> str:
    task_id = task.get("id")
    return str(task_id) if isinstance(task_id, (int, str)) and not isinstance(task_id, bool) else f"#{index + 1}"


def _value(r: dict[str, Any], where: str) -> dict[str, Any]:
    """A result's ``value`` object (empty when absent)."""
    value = r.get("value")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: result {str(r.get('from_name') or r.get('type'))[:60]!r} has a value that is not an "
                         f"object (got {type(value).__name__}); export the project as 'JSON' from Label Studio")
    return value


def _choice_list(value: dict[str, Any], where: str) -> list[Any]:
    choices = value.get("choices") or []
    if not isinstance(choices, list):
        raise InputError(f"{where}: 'choices' must be a list, got {type(choices).__name__}")
    return choices


def rater_id_of(completed_by: Any, where: str) -> str:
    """``ls-<id>`` from ``completed_by`` (object or integer); never the e-mail."""
    if isinstance(completed_by, bool):
        raise InputError(f"{where}: completed_by must be a user object or an integer id, got {completed_by!r}")
    if isinstance(completed_by, int):
        return f"ls-{completed_by}"
    if isinstance(completed_by, str) and completed_by.strip().isdigit():
        return f"ls-{int(completed_by)}"
    if isinstance(completed_by, dict):
        uid = completed_by.get("id")
        if isinstance(uid, int) and not isinstance(uid, bool):
            return f"ls-{uid}"
        if isinstance(uid, str) and uid.strip().isdigit():
            return f"ls-{int(uid)}"
        email = completed_by.get("email")
        if isinstance(email, str) and email:
            return pseudonymize(email, salt="labelstudio")
    raise InputError(f"{where}: completed_by has no user id; export with user ids (Label Studio's full JSON export)")


def _preference(result: list[Any], dimensions: set[str], default_dimension: str, where: str, choice_map: Mapping[str, str]) -> dict[str, str]:
    """Dimension -> a/b/tie/skip from one annotation's results."""
    found: dict[str, str] = {}
    for r in result:
        if not isinstance(r, dict):
            continue
        value = _value(r, where)
        kind = r.get("type")
        name = str(r.get("from_name") or "")
        if kind == "pairwise":
            selected = value.get("selected")
            if selected not in ("left", "right"):
                raise InputError(f"{where}: pairwise result must select 'left' or 'right', got {selected!r}")
            dim = name if name in dimensions else default_dimension
            found[dim] = "a" if selected == "left" else "b"
        elif kind == "choices" and (name in dimensions or name in PREFERENCE_NAMES):
            choices = _choice_list(value, where)
            if len(choices) != 1:
                raise InputError(f"{where}: preference {name!r} must have exactly one choice, got {choices!r}")
            label = str(choices[0])
            dim = name if name in dimensions else default_dimension
            found[dim] = choice_map.get(label) or normalize_choice(label, where)
    return found


def _flags_and_rationale(result: list[Any], where: str) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for r in result:
        if not isinstance(r, dict):
            continue
        value = _value(r, where)
        name = str(r.get("from_name") or "")
        if r.get("type") == "choices" and name in FLAG_NAMES:
            for choice in _choice_list(value, where):
                column = FLAG_ALIASES.get(str(choice).strip().lower())
                if column:
                    extra[column] = True
        elif r.get("type") == "textarea" and name in RATIONALE_NAMES:
            text = value.get("text") or []
            joined = " ".join(str(t) for t in (text if isinstance(text, list) else [text])).strip()
            if joined:
                extra["rationale"] = joined
    return extra


def _suggestions(task: dict[str, Any], data: dict[str, Any], dimensions: set[str], default_dimension: str, where: str,
                 choice_map: Mapping[str, str]) -> dict[str, str]:
    """Dimension -> the answer prefilled for the rater: from the task's ``predictions`` (full
    objects, as a snapshot export gives them) or else ``data.suggestion`` (the plain export lists
    predictions by id only). Only a/b/tie count; see :mod:`alignment_ci.formats.prefill`."""
    found: dict[str, str] = {}
    for pred in task.get("predictions") or []:
        if isinstance(pred, dict) and isinstance(pred.get("result"), list):
            prefs = _preference(pred["result"], dimensions, default_dimension, f"{where}, prediction", choice_map)
            found.update({d: c for d, c in prefs.items() if c in ("a", "b", "tie") and d not in found})
    if not found and data.get("suggestion") in ("a", "b", "tie"):
        found[default_dimension] = data["suggestion"]
        found.update({d: data["suggestion"] for d in dimensions})
    return found


def read_labelstudio_export(
    source: str | Path | bytes | list[Any],
    batch_id: str,
    *,
    dimension: str = "helpfulness",
    dimensions: list[str] | None = None,
    fields: Mapping[str, str] | None = None,
    choice_map: Mapping[str, str] | None = None,
    limits: ValidationLimits | None = None,
) -> ImportResult:
    """Canonical pairwise rows from a Label Studio JSON export.

    ``dimension`` is used for a preference control not named after a dimension;
    ``dimensions`` (the taxonomy's names) lets a control named after a dimension set it.
    ``fields`` maps ``prompt``/``response_a``/``response_b`` to the task's data keys when
    they are not among the usual names; ``choice_map`` maps custom choice labels to
    a/b/tie/skip.
    """
    tasks = load_export(source, limits)
    fields = dict(fields or {})
    choice_map = {k: v for k, v in (choice_map or {}).items()}
    dims = set(dimensions or []) | {dimension}
    out = ImportResult(task_type="pairwise")
    for t_index, task in enumerate(tasks):
        task_where = f"task {_task_label(task, t_index)}"
        data = task.get("data")
        if not isinstance(data, dict):
            if "annotations" not in task and JSON_MIN_KEYS & task.keys():
                raise InputError(f"{task_where}: export as JSON (not JSON_MIN): JSON_MIN leaves out cancelled (skipped) "
                                 "annotations and ground-truth flags, so skips and gold answers would be lost")
            raise InputError(f"{task_where}: has no 'data' object")
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            raise InputError(f"{task_where}: 'annotations' must be a list, got {type(annotations).__name__}")
        if not annotations:
            out.skipped.append({"where": task_where, "reason": "no annotations"})
            continue
        prompt = data[pick_key(data, PROMPT_KEYS, fields.get("prompt"), "prompt", task_where)]
        response_a = data[pick_key(data, RESPONSE_A_KEYS, fields.get("response_a"), "first response", task_where)]
        response_b = data[pick_key(data, RESPONSE_B_KEYS, fields.get("response_b"), "second response", task_where)]
        item_id = str(data.get("item_id") or f"ls-task-{task.get('id', t_index + 1)}")
        gold: dict[str, str] = {}
        suggested = _suggestions(task, data, dims, dimension, task_where, choice_map)
        judged = []
        for a_index, ann in enumerate(annotations):
            where = f"{task_where}, annotation {ann.get('id', f'#{a_index + 1}')}" if isinstance(ann, dict) else task_where
            if not isinstance(ann, dict):
                raise InputError(f"{where}: an annotation must be an object")
            result = ann.get("result") or []
            if not isinstance(result, list):
                raise InputError(f"{where}: 'result' must be a list, got {type(result).__name__}")
            if ann.get("was_cancelled"):
                # A skip, not a missing row: it keeps the rater's skip rate honest.
                try:
                    named = _preference(result, dims, dimension, where, choice_map)
                except (InputError, AttributeError, TypeError):  # what a skipped annotation says does not matter
                    named = {}
                judged.append((ann, where, {d: "skip" for d in (named or {dimension: "skip"})}, {}))
                continue
            prefs = _preference(result, dims, dimension, where, choice_map)
            if not prefs:
                out.skipped.append({"where": where, "reason": "no preference result"})
                continue
            if ann.get("ground_truth"):
                gold.update({d: c for d, c in prefs.items() if c in ("a", "b", "tie")})
                out.skipped.append({"where": where, "reason": "ground truth (used as gold answer)"})
                continue
            judged.append((ann, where, prefs, _flags_and_rationale(result, where)))
        for ann, where, prefs, extra in judged:
            rater = rater_id_of(ann.get("completed_by"), where)
            for dim, choice in sorted(prefs.items()):
                row: dict[str, Any] = {
                    "batch_id": batch_id,
                    "item_id": item_id,
                    "rater_id": rater,
                    "dimension": dim,
                    "task_type": "pairwise",
                    "prompt": prompt,
                    "response_a": response_a,
                    "response_b": response_b,
                    "choice": choice,
                }
                for key in ("model_a", "model_b", "sampling_bucket", "sampling_reason"):
                    if isinstance(data.get(key), str):
                        row[key] = data[key]
                if dim in suggested:
                    row["suggestion"] = suggested[dim]
                if dim in gold:
                    row["is_gold"] = True
                    row["gold_choice"] = gold[dim]
                row.update(extra)
                if isinstance(ann.get("lead_time"), (int, float)) and not isinstance(ann.get("lead_time"), bool):
                    row["time_spent_s"] = float(ann["lead_time"])
                labeled_at = ann.get("updated_at") or ann.get("created_at")
                if isinstance(labeled_at, str):
                    row["labeled_at"] = labeled_at
                out.add(row, f"Label Studio {where}, rater {rater}")
    return out


def labeling_config(taxonomy: Any, dimension: str | None = None) -> str:
    """A Label Studio labeling config (XML) for pairwise judgments on one taxonomy dimension.

    Side-by-side responses under the context, the dimension's definition as the question,
    hotkeys 1 (A better), 2 (B better), 3 (tie) and ``s`` (skip), safety and hallucination
    flags, and a short "why" field. Choice aliases match what :func:`read_labelstudio_export`
    reads back; tasks need the data keys ``prompt``, ``response_a``, ``response_b``.
    """
    name = dimension or taxonomy.default_dimension
    dim = taxonomy.get(name)
    if dim is None:
        raise InputError(f"dimension {name!r} is not in the taxonomy ({', '.join(taxonomy.names)})")
    if "pairwise" not in dim.task_types:
        raise InputError(f"dimension {name!r} is not judged pairwise (task_types: {', '.join(dim.task_types)})")
    question = f"{dim.name.replace('_', ' ').capitalize()}: {dim.definition}"
    return "\n".join([
        "<View>",
        f"  <Header value={quoteattr(question)} size=\"4\"/>",
        "  <View style=\"padding: 0.5em; background: #f6f8fa; border-radius: 4px;\">",
        "    <Header value=\"Context\" size=\"6\"/>",
        "    <Text name=\"prompt\" value=\"$prompt\"/>",
        "  </View>",
        "  <View style=\"display: flex; gap: 1em; margin-top: 0.5em;\">",
        "    <View style=\"flex: 1; min-width: 0;\">",
        "      <Header value=\"Response A\" size=\"6\"/>",
        "      <Text name=\"response_a\" value=\"$response_a\"/>",
        "    </View>",
        "    <View style=\"flex: 1; min-width: 0;\">",
        "      <Header value=\"Response B\" size=\"6\"/>",
        "      <Text name=\"response_b\" value=\"$response_b\"/>",
        "    </View>",
        "  </View>",
        f"  <Choices name={quoteattr(dim.name)} toName=\"prompt\" choice=\"single-radio\" required=\"true\" showInline=\"true\">",
        "    <Choice value=\"A is better\" alias=\"a\" hotkey=\"1\"/>",
        "    <Choice value=\"B is better\" alias=\"b\" hotkey=\"2\"/>",
        "    <Choice value=\"Tie\" alias=\"tie\" hotkey=\"3\"/>",
        "    <Choice value=\"Skip (cannot judge)\" alias=\"skip\" hotkey=\"s\"/>",
        "  </Choices>",
        "  <Choices name=\"flags\" toName=\"prompt\" choice=\"multiple\" showInline=\"true\">",
        "    <Choice value=\"Unsafe / policy violation\" alias=\"safety\"/>",
        "    <Choice value=\"Hallucination / invented facts\" alias=\"hallucination\"/>",
        "  </Choices>",
        "  <TextArea name=\"why\" toName=\"prompt\" placeholder=\"Why? One short sentence.\" rows=\"2\" maxSubmissions=\"1\" editable=\"true\"/>",
        "</View>",
        "",
    ])
