"""The gold set and the eval set the gates score, and the slices of an eval set.

- Gold set: the gold items of label batches (pairwise ``gold_choice`` ``a``/``b``, and the
  pairs a ranking ``gold_ranking`` implies), as preference pairs ``{prompt, chosen,
  rejected, item_id, dimension, batch_id, ...}``. Gold items are never training pairs
  (``quality.pairs_include_gold`` is off by default), so they are held out by construction.
  Read from a label batch file, from a pairs file, or from every ingested batch (manifests
  + store).
- Eval set: held-out rows ``{prompt, chosen?, rejected?, <slice fields>...,
  hallucination_flag?}`` from a JSONL or YAML file; without one, the gold pairs serve.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import Config
from ..data.manifest import iter_manifests
from ..data.manifest import drop_excluded, excluded_rater_ids
from ..errors import InputError
from ..jsonl import parse_objects
from ..quality.load import load_valid_batch
from ..store import open_store

SLICE_FIELDS: tuple[str, ...] = ("dimension", "sampling_bucket", "language", "cohort")
CARRIED_FIELDS: tuple[str, ...] = ("item_id", "dimension", "batch_id", "sampling_bucket", "language", "cohort",
                                   "hallucination_flag", "safety_flag")


@dataclass
class PairSet:
    """Preference pairs with where they came from and what was left out (by reason)."""

    pairs: list[dict[str, Any]]
    source: str
    excluded: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pairs)


def _present(value: Any) -> bool:
    """Not None, NaN or pandas' NA (how a missing optional column reads back)."""
    if value is None or type(value).__name__ == "NAType":
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _carried(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name in CARRIED_FIELDS:
        value = row.get(name)
        if _present(value):
            out[name] = bool(value) if name.endswith("_flag") else str(value)
    return out


def gold_pairs_from_frame(df: Any) -> PairSet:
    """Gold preference pairs from a canonical label frame (one pair per gold item, dimension).

    Pairwise: ``gold_choice`` ``a`` → chosen = ``response_a``; ``tie`` is excluded (a tie
    has no preferred side). Ranking: every pair of responses ordered by ``gold_ranking``.
    Likert gold ratings carry no pair and are not used.
    """
    excluded = {"tie": 0, "likert": 0}
    pairs: list[dict[str, Any]] = []
    if "is_gold" not in df.columns or len(df) == 0:
        return PairSet(pairs, "label batch", excluded)
    gold = df[df["is_gold"].fillna(False).astype(bool)]
    gold = gold.drop_duplicates(subset=["item_id", "dimension"], keep="first")
    for row in gold.to_dict("records"):
        base = _carried(row)
        task = row.get("task_type")
        if task == "pairwise" and _present(row.get("gold_choice")):
            choice = row["gold_choice"]
            if choice == "tie":
                excluded["tie"] += 1
                continue
            a, b = row["response_a"], row["response_b"]
            chosen, rejected = (a, b) if choice == "a" else (b, a)
            pairs.append({"prompt": str(row["prompt"]), "chosen": str(chosen), "rejected": str(rejected), **base})
        elif task == "ranking" and row.get("gold_ranking") is not None:
            responses, order = list(row["responses"]), [int(i) for i in row["gold_ranking"]]
            for i, hi in enumerate(order):
                for lo in order[i + 1 :]:
                    pairs.append({"prompt": str(row["prompt"]), "chosen": str(responses[hi]),
                                  "rejected": str(responses[lo]), **base,
                                  "item_id": f"{base.get('item_id', '')}:{hi}>{lo}"})
        elif task == "likert":
            excluded["likert"] += 1
    return PairSet(pairs, "label batch", excluded)


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file, or of a YAML file (a list, or a mapping with ``items``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    if path.suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: invalid YAML: {exc}") from None
        rows = data.get("items") if isinstance(data, dict) else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise InputError(f"{path}: expected a list of mappings (or a mapping with a list under `items`)")
        return rows

    return [row for _, row in parse_objects(text, path)]


def _is_pairs_file(path: Path) -> bool:
    if path.suffix not in (".jsonl", ".json", ".yaml", ".yml"):
        return False
    rows = _read_rows(path)
    return bool(rows) and "chosen" in rows[0] and "rejected" in rows[0]


def load_pairs(path: str | Path) -> PairSet:
    """Preference pairs from a JSONL/YAML file of ``{prompt, chosen, rejected, ...}`` rows."""
    p = Path(path)
    rows = _read_rows(p)
    pairs = []
    for n, row in enumerate(rows, start=1):
        for name in ("prompt", "chosen", "rejected"):
            if not isinstance(row.get(name), str) or not row[name]:
                raise InputError(f"{p}: row {n}: field {name!r} must be a non-empty string")
        pairs.append({"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"],
                      **_carried(row), **{k: v for k, v in row.items() if k not in ("prompt", "chosen", "rejected")
                                          and k not in CARRIED_FIELDS}})
    return PairSet(pairs, str(p))


def load_gold_set(config: Config, path: str | Path | None = None) -> PairSet:
    """The gold set: from ``path`` (a pairs file, or a label batch whose gold items are
    used), else from the gold items of every ingested batch (manifests + artifact store)."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"gold set {p}: no such file")
        if _is_pairs_file(p):
            return load_pairs(p)

        df, _ = load_valid_batch(p, config)
        found = gold_pairs_from_frame(df)
        found.source = str(p)
        return found
    return gold_from_store(config)


def gold_from_store(config: Config) -> PairSet:
    """Gold pairs from every batch manifest with gold rows, read back from the store."""
    import pandas as pd


    frames, names = [], []
    manifests = [(p, m) for p, m in iter_manifests(config) if m.get("gold_rows") and m.get("sha256")]
    if not manifests:
        return PairSet([], "manifests (no batch with gold items)")
    store = open_store(config)
    with tempfile.TemporaryDirectory(prefix="alignment-ci-gold-") as tmp:
        for i, (mpath, manifest) in enumerate(manifests):
            local = Path(tmp) / f"{i}.parquet"
            store.get_blob_to_path(manifest["sha256"], local)
            frames.append(drop_excluded(pd.read_parquet(local), excluded_rater_ids(manifest)))
            names.append(str(manifest.get("batch_id", mpath.stem)))
    excluded: dict[str, int] = {}
    pairs: list[dict[str, Any]] = []
    for df in frames:
        found = gold_pairs_from_frame(df)
        pairs += found.pairs
        for k, v in found.excluded.items():
            excluded[k] = excluded.get(k, 0) + v
    return PairSet(pairs, "gold items of batches " + ", ".join(names), excluded)


def load_eval_set(path: str | Path) -> list[dict[str, Any]]:
    """Eval rows from JSONL/YAML: each needs a non-empty ``prompt``; ``chosen``/``rejected``
    (held-out pairs), slice fields and ``hallucination_flag`` are optional."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"eval set {p}: no such file")
    rows = _read_rows(p)
    for n, row in enumerate(rows, start=1):
        if not isinstance(row.get("prompt"), str) or not row["prompt"]:
            raise InputError(f"{p}: row {n}: field 'prompt' must be a non-empty string")
    if not rows:
        raise InputError(f"eval set {p}: no rows")
    return rows


def slice_rows(rows: Sequence[Mapping[str, Any]], keys: Iterable[str] = SLICE_FIELDS) -> dict[str, list[Mapping[str, Any]]]:
    """``{"all": rows, "<key>=<value>": rows with that value, ...}`` for every slice key
    present in the rows, in key order then value order."""
    out: dict[str, list[Mapping[str, Any]]] = {"all": list(rows)}
    for key in keys:
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for row in rows:
            value = row.get(key)
            if _present(value) and str(value) != "":
                groups.setdefault(str(value), []).append(row)
        for value in sorted(groups):
            out[f"{key}={value}"] = groups[value]
    return out
