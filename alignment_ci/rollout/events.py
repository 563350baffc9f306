"""Production events: the schema the rollout controller reads, and its readers.
One event is one served response, one JSON object per line (JSONL) or one Parquet row:

| field | type | required | meaning |
| --- | --- | --- | --- |
| timestamp | ISO-8601 string (a naive time is UTC) | yes | when the response was served |
| model_version | str | yes | the model that served it (baseline or candidate id) |
| request_id | str | yes | unique per request; a repeated id is counted once |
| thumbs | `"up"`, `"down"` or null | no | user feedback; gives the derived `thumbs_down` |
| escalated | bool | no | the conversation was escalated to a human |
| safety_flag | bool | no | a safety classifier or reviewer flagged the response |
| hallucination_flag | bool | no | flagged as containing invented facts |
| tokens | int >= 0 | no | tokens in the response |
| customer_tier | str | no | e.g. `free`, `pro`, `enterprise` |
| cohort | str | no | a user cohort (experiment bucket, region, ...) |
| *any other* | number or bool | no | a team metric such as `task_completed` |

A missing or null boolean counts as false (the flag was not raised); a missing number
is left out of the mean. Derived column: ``thumbs_down = (thumbs == "down")``.

Sources: a path to a ``.jsonl``/``.json``/``.parquet`` file, a directory (every such
file in it, sorted), a glob, or ``store:<sha256>`` for a blob in the artifact store
(JSONL or Parquet, told apart by Parquet's ``PAR1`` magic).
"""

from __future__ import annotations

import glob
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


from ..errors import InputError
from .. import lazy

pd = lazy.module("pandas")

REQUIRED = ("timestamp", "model_version", "request_id")
BOOLEAN_FIELDS = ("escalated", "safety_flag", "hallucination_flag", "thumbs_down")
STRING_FIELDS = ("model_version", "request_id", "customer_tier", "cohort")
THUMBS_VALUES = ("up", "down")
_EXTENSIONS = (".jsonl", ".json", ".ndjson", ".parquet")


def expand_sources(sources: str | Path | Sequence[str | Path]) -> list[str]:
    """Files (and ``store:`` blobs) named by paths, directories and globs, in a stable order."""
    items = [sources] if isinstance(sources, (str, Path)) else list(sources)
    out: list[str] = []
    for item in items:
        text = str(item)
        if text.startswith("store:"):
            out.append(text)
            continue
        path = Path(text)
        if path.is_dir():
            out.extend(sorted(str(p) for p in path.iterdir() if p.suffix in _EXTENSIONS))
        elif any(ch in text for ch in "*?["):
            out.extend(sorted(glob.glob(text)))
        elif path.exists():
            out.append(text)
        else:
            raise InputError(f"{text}: events file not found; give a JSONL/Parquet file, a directory or a glob")
    return out


def _parse_jsonl(data: bytes, source: str) -> pd.DataFrame:
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{source}:{lineno}: not a JSON object ({exc}); fix or remove the line") from None
        if not isinstance(obj, dict):
            raise InputError(f"{source}:{lineno}: expected a JSON object per line, got {type(obj).__name__}")
        records.append(obj)
        lines.append(lineno)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=list(REQUIRED))
    frame["_line"] = lines
    return frame


def _read_one(source: str, store: Any = None) -> pd.DataFrame:
    if source.startswith("store:"):
        if store is None:
            raise InputError(f"{source}: reading events from the store needs the store (pass store=...)")
        data = store.get_blob(source[len("store:") :])
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise InputError(f"{source}: cannot read events file ({exc})") from None
    if data[:4] == b"PAR1":
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise InputError(f"{source}: not a readable Parquet file ({exc})") from None
        frame["_line"] = range(1, len(frame) + 1)
        return frame
    return _parse_jsonl(data, source)


def _first_line(frame: pd.DataFrame, mask: "pd.Series[bool]") -> int:
    return int(frame.loc[mask, "_line"].iloc[0])


def normalize_events(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check the schema and convert: UTC timestamps, booleans with null as false, ``thumbs_down``."""
    for name in REQUIRED:
        if name not in frame.columns:
            if len(frame) == 0:
                frame[name] = pd.Series(dtype=object)
                continue
            raise InputError(f"{source}: events lack the required field {name!r} (line {int(frame['_line'].iloc[0])})")
        missing = frame[name].isna()
        if missing.any():
            raise InputError(f"{source}:{_first_line(frame, missing)}: field {name!r} is missing or null")
    for name in STRING_FIELDS:
        if name in frame.columns:
            bad = frame[name].notna() & ~frame[name].map(lambda v: isinstance(v, str))
            if bad.any():
                raise InputError(f"{source}:{_first_line(frame, bad)}: field {name!r} must be a string")
    ts = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce", format="ISO8601")
    if ts.isna().any():
        raise InputError(
            f"{source}:{_first_line(frame, ts.isna())}: timestamp {frame.loc[ts.isna(), 'timestamp'].iloc[0]!r} "
            "is not an ISO-8601 time (e.g. 2025-01-31T12:00:00Z)"
        )
    frame = frame.assign(timestamp=ts)
    if "thumbs" in frame.columns:
        bad = frame["thumbs"].notna() & ~frame["thumbs"].isin(THUMBS_VALUES)
        if bad.any():
            raise InputError(f"{source}:{_first_line(frame, bad)}: thumbs must be \"up\", \"down\" or null")
        frame["thumbs_down"] = frame["thumbs"].eq("down")
    for name in frame.columns:
        if name in REQUIRED or name in STRING_FIELDS or name in ("thumbs", "_line", "timestamp"):
            continue
        col = frame[name]
        values = col[col.notna()]
        if values.map(lambda v: isinstance(v, bool)).all() and len(values):
            frame[name] = col.map(lambda v: bool(v) if isinstance(v, bool) else False).astype(bool)
        elif name in BOOLEAN_FIELDS and len(values):
            bad = col.notna() & ~col.map(lambda v: isinstance(v, bool))
            raise InputError(f"{source}:{_first_line(frame, bad)}: field {name!r} must be true, false or null")
        elif name == "tokens" and len(values):
            numeric = pd.to_numeric(col, errors="coerce")
            bad = col.notna() & (numeric.isna() | (numeric < 0) | col.map(lambda v: isinstance(v, bool)))
            if bad.any():
                raise InputError(f"{source}:{_first_line(frame, bad)}: tokens must be a non-negative number")
            frame[name] = numeric
    return frame


def read_events(sources: str | Path | Sequence[str | Path], store: Any = None) -> pd.DataFrame:
    """All events of ``sources`` as one DataFrame sorted by timestamp, each request id once.

    Columns: the schema's fields present in the files (``timestamp`` as UTC datetimes),
    ``thumbs_down`` when ``thumbs`` is present, and ``source`` (where the row came from).
    """
    frames = []
    for source in expand_sources(sources):
        frame = normalize_events(_read_one(source, store), source)
        frames.append(frame.assign(source=source))
    if not frames:
        return pd.DataFrame({"timestamp": pd.Series(dtype="datetime64[ns, UTC]"), "model_version": [], "request_id": []})
    events = pd.concat(frames, ignore_index=True)
    events = events.drop_duplicates(subset="request_id", keep="first")
    return events.sort_values("timestamp", kind="stable").drop(columns="_line").reset_index(drop=True)
