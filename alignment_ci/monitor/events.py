"""Production events for triage: the rollout's event schema plus the fields triage reads.
An event is one served response (:mod:`alignment_ci.rollout.events` documents the base
schema: ``timestamp``, ``model_version``, ``request_id``, ``thumbs``, ``escalated``,
``safety_flag``, ``hallucination_flag``, ``tokens``, ``customer_tier``, ``cohort``).
Triage also reads, all optional:

| field | type | meaning |
| --- | --- | --- |
| prompt | str | the user's request (an event without it cannot be flagged for labeling) |
| response | str | the served answer |
| correction | str or bool | the user's explicit correction (a non-empty text or true) |
| policy_tags | list of str | tags a policy classifier put on the response (`self_harm`, `pii`, …) |
| user_id | str | who asked; hashed and kept apart from the text, never in a queue item |
| opted_out | bool | the user opted out of training use: the content never enters the queue |
| language | str | language of the conversation (e.g. `en`, `de`) |

The reader checks these types and names the offending ``request_id`` and file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


from ..errors import InputError
from ..rollout.events import read_events
from .. import lazy

pd = lazy.module("pandas")

TEXT_FIELDS = ("prompt", "response", "user_id", "language")
MONITOR_FIELDS = ("prompt", "response", "correction", "policy_tags", "user_id", "opted_out", "language")


def _where(events: pd.DataFrame, mask: "pd.Series[bool]") -> str:
    row = events.loc[mask].iloc[0]
    return f"{row.get('source', '<events>')}: event request_id={row['request_id']!r}"


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def read_production_events(sources: str | Path | Sequence[str | Path], store: Any = None) -> pd.DataFrame:
    """Events of ``sources`` (files, directories, globs, ``store:`` blobs) with the triage fields
    normalised: ``policy_tags`` a list (empty when absent), ``correction`` a bool
    ``has_correction`` beside the text, ``opted_out`` a bool (missing = false)."""
    events = read_events(sources, store=store)
    n = len(events)
    for name in TEXT_FIELDS:
        if name in events.columns:
            bad = events[name].map(lambda v: not _is_missing(v) and not isinstance(v, str))
            if bad.any():
                raise InputError(f"{_where(events, bad)}: field {name!r} must be a string or null")
        else:
            events[name] = pd.Series([None] * n, index=events.index, dtype=object)
    if "policy_tags" in events.columns:
        def _tags(v: Any) -> Any:
            if _is_missing(v):
                return []
            if hasattr(v, "tolist"):
                v = v.tolist()
            return v

        tags = events["policy_tags"].map(_tags)
        bad = tags.map(lambda v: not isinstance(v, list) or not all(isinstance(t, str) for t in v))
        if bad.any():
            raise InputError(f"{_where(events, bad)}: policy_tags must be a list of strings or null")
        events["policy_tags"] = tags
    else:
        events["policy_tags"] = pd.Series([[] for _ in range(n)], index=events.index, dtype=object)
    if "correction" in events.columns:
        bad = events["correction"].map(lambda v: not _is_missing(v) and not isinstance(v, (str, bool)))
        if bad.any():
            raise InputError(f"{_where(events, bad)}: correction must be a text, true/false or null")
        events["has_correction"] = events["correction"].map(lambda v: (isinstance(v, str) and bool(v.strip())) or v is True)
        events["correction"] = events["correction"].map(lambda v: v.strip() if isinstance(v, str) and v.strip() else None)
    else:
        events["correction"] = pd.Series([None] * n, index=events.index, dtype=object)
        events["has_correction"] = False
    if "opted_out" in events.columns:
        bad = events["opted_out"].map(lambda v: not _is_missing(v) and not isinstance(v, (bool,)) and v not in (0, 1))
        if bad.any():
            raise InputError(f"{_where(events, bad)}: opted_out must be true, false or null")
        events["opted_out"] = events["opted_out"].map(lambda v: bool(v) if not _is_missing(v) else False).astype(bool)
    else:
        events["opted_out"] = False
    for flag in ("thumbs_down", "escalated", "safety_flag", "hallucination_flag"):
        if flag not in events.columns:
            events[flag] = False
    return events
