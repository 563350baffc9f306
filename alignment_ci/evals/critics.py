"""Critic models: score every response of a label batch, stored beside the batch.

A critic is named on the command line by ``--critic REF``:

- a training run (run key, a prefix of at least 8 characters, or its artifact hash): the
  reward model that run trained, unpacked from the artifact store;
- a directory of a saved Hugging Face model, or a model name in the local Hugging Face
  cache (offline): a reward model (sequence classifier with one label) or a sequence
  classifier with several labels, whose score is the log-probability of its positive
  label (``--positive-label``, default the last label).

Critic kinds are small classes chosen by name from :data:`CRITIC_KINDS` (``"module:Class"``
strings, loaded lazily) like the training backends, so a team can add a judge (an API
model, say) without touching the rest. The critic's identity (run key and artifact, or
model and revision) goes into the sidecar, the manifest and the lineage log.

The scores (``item_id``, ``response``, ``score``) never replace human labels: they feed
:mod:`alignment_ci.quality.critic` (triage, agreement, anchoring) and prefill
(:mod:`alignment_ci.formats.prefill`).
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

from ..atomic import write_atomic
from ..config import Config
from ..data.manifest import find_batch
from ..errors import InputError
from ..jsonl import read_objects
from ..lineage import LineageLog
from ..store import open_store
from ..train.runs import find_run, model_dir_for
from .scoring import check_model_dir
from .scoring import RewardModel
from .. import lazy

pd = lazy.module("pandas")

CRITIC_KINDS: dict[str, str] = {
    "reward": "alignment_ci.evals.critics:RewardCritic",
    "classifier": "alignment_ci.evals.critics:ClassifierCritic",
}


class Critic(Protocol):
    identity: dict[str, Any]

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray: ...


@dataclass
class RewardCritic:
    """A scalar reward model (one label): the score is its reward."""

    path: Path
    identity: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 32

    def __post_init__(self) -> None:
        self._rm = RewardModel(self.path, batch_size=self.batch_size)

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        return self._rm.score(prompts, responses)


@dataclass
class ClassifierCritic:
    """A sequence classifier with several labels: the score is log P(positive label | prompt, response)."""

    path: Path
    identity: dict[str, Any] = field(default_factory=dict)
    positive_label: str | None = None
    batch_size: int = 32

    def __post_init__(self) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = AutoModelForSequenceClassification.from_pretrained(self.path).eval()
        labels = {str(v): int(k) for k, v in (self.model.config.id2label or {}).items()}
        if self.positive_label is None:
            self.label_index = int(self.model.config.num_labels) - 1
        elif self.positive_label in labels:
            self.label_index = labels[self.positive_label]
        else:
            raise InputError(f"critic {self.path}: no label {self.positive_label!r} (labels: {', '.join(labels)})")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
            self.model.config.pad_token_id = self.tokenizer.pad_token_id

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        torch = self._torch
        out: list[np.ndarray] = []
        with torch.no_grad():
            for i in range(0, len(prompts), self.batch_size):
                enc = self.tokenizer(list(prompts[i:i + self.batch_size]), list(responses[i:i + self.batch_size]),
                                     truncation=True, padding=True, return_tensors="pt")
                logits = self.model(**enc).logits
                out.append(torch.log_softmax(logits, dim=-1)[:, self.label_index].cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)


def _load(kind: str) -> type:
    module, _, name = CRITIC_KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def _dir_digest(path: Path) -> str:
    """sha256 over a model directory's files (names and bytes): the revision of a local model."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
        h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def _num_labels(path: Path) -> int:
    config = json.loads((path / "config.json").read_text())
    return int(config.get("num_labels") or len(config.get("id2label") or {}) or 2)


def _hub_snapshot(name: str, revision: str | None) -> Path:
    """The local snapshot of a Hugging Face model name (offline: only what is cached)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(name, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError) as exc:
        raise InputError(
            f"critic {name!r}: not a run in the store, not a model directory, and not in the local Hugging Face "
            f"cache ({type(exc).__name__}); download it first (huggingface-cli download {name}) or give a path"
        ) from None


def resolve_critic(config: Config, ref: str, *, positive_label: str | None = None, revision: str | None = None,
                   store=None) -> Critic:
    """The critic named by ``ref``: a run's reward model, a model directory or a cached hub model."""
    store = store if store is not None else open_store(config)
    path = Path(ref).expanduser()
    if path.is_dir():
        check_model_dir(path, "critic")
        identity: dict[str, Any] = {"kind": "model", "model": str(path), "revision": _dir_digest(path)}
    else:
        run = None
        if len(ref) >= 8:
            try:
                run = find_run(config, ref, store=store)
            except InputError:
                run = None
        if run is not None:
            if run.get("stage") != "reward":
                raise InputError(f"critic run {ref!r} is a {run.get('stage')} run; a critic is a reward model (a reward run)")
            path = model_dir_for(config, run, store=store)
            identity = {"kind": "run", "run_key": run["run_key"], "artifact": run["artifact"], "stage": "reward"}
        else:
            path = _hub_snapshot(ref, revision)
            identity = {"kind": "model", "model": ref, "revision": path.name}
    kind = "reward" if _num_labels(path) == 1 else "classifier"
    identity["critic_kind"] = kind
    cls = _load(kind)
    if kind == "classifier":
        identity["positive_label"] = positive_label
        return cls(path, identity=identity, positive_label=positive_label)
    return cls(path, identity=identity)


def score_frame(df: pd.DataFrame, critic: Critic) -> pd.DataFrame:
    """The critic's score of every response of a pairwise batch: ``item_id``, ``response``, ``score``."""
    if df.empty:
        return pd.DataFrame(columns=["item_id", "response", "score"])
    task_type = str(df["task_type"].iloc[0])
    if task_type != "pairwise":
        raise InputError(f"critic score works on pairwise batches; this batch is {task_type}")
    items = df.drop_duplicates("item_id")[["item_id", "prompt", "response_a", "response_b"]]
    prompts = items["prompt"].astype(str).tolist()
    scores = critic.score(prompts * 2, items["response_a"].astype(str).tolist() + items["response_b"].astype(str).tolist())
    n = len(items)
    return pd.DataFrame({
        "item_id": items["item_id"].astype(str).tolist() * 2,
        "response": ["a"] * n + ["b"] * n,
        "score": np.asarray(scores, dtype=float),
    }).sort_values(["item_id", "response"], kind="mergesort").reset_index(drop=True)


def sidecar_bytes(scores: pd.DataFrame, identity: dict[str, Any], batch_sha256: str | None) -> bytes:
    """The sidecar file: JSON Lines, a header line with the critic, then one score per line."""
    header = {"critic": identity, "batch_sha256": batch_sha256, "rows": int(len(scores))}
    buf = io.StringIO()
    buf.write(json.dumps({"_header": header}, sort_keys=True) + "\n")
    for rec in scores.to_dict(orient="records"):
        buf.write(json.dumps({"item_id": rec["item_id"], "response": rec["response"], "score": float(rec["score"])}) + "\n")
    return buf.getvalue().encode()


def read_scores(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A critic sidecar (or any JSONL of ``item_id``, ``response``, ``score``) and its header."""
    rows, header = [], {}
    for lineno, obj in read_objects(path):
        if "_header" in obj:
            header = obj["_header"] if isinstance(obj["_header"], dict) else {}
            continue
        if not isinstance(obj.get("item_id"), str) or obj.get("response") not in ("a", "b") or isinstance(obj.get("score"), bool) \
                or not isinstance(obj.get("score"), (int, float)) or not np.isfinite(obj["score"]):
            raise InputError(f"{path}:{lineno}: a score needs item_id (string), response (a or b) and a finite number score")
        rows.append(obj)
    return pd.DataFrame(rows, columns=["item_id", "response", "score"]), header


@dataclass
class ScoreResult:
    scores: pd.DataFrame
    identity: dict[str, Any]
    sha256: str | None = None
    manifest: Path | None = None
    out: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"critic": self.identity, "rows": int(len(self.scores)), "items": int(self.scores["item_id"].nunique()),
                "sha256": self.sha256, "manifest": str(self.manifest) if self.manifest else None,
                "out": str(self.out) if self.out else None}


def score_batch(config: Config, df: pd.DataFrame, critic: Critic, *, out: Path | None = None, batch_id: str | None = None,
                store=None) -> ScoreResult:
    """Score a batch; store the sidecar by hash beside an ingested batch (manifest + lineage) and/or write ``out``.

    When ``batch_id`` names an ingested batch, the sidecar goes into the artifact store, the
    manifest gains a ``critic_scores`` entry (sha256, critic identity, time) and the lineage
    log an entry of kind ``critic`` whose inputs are the batch's hash.
    """
    scores = score_frame(df, critic)
    found = find_batch(config, batch_id) if batch_id else None
    batch_sha = found[1].get("sha256") if found else None
    blob = sidecar_bytes(scores, critic.identity, batch_sha)
    result = ScoreResult(scores, critic.identity)
    if out is not None:
        write_atomic(out, blob)
        result.out = out
    if found is not None:
        store = store if store is not None else open_store(config)
        digest = store.put_blob(blob)
        path, manifest = found
        entries = [e for e in manifest.get("critic_scores") or [] if e.get("sha256") != digest]
        entries.append({"sha256": digest, "critic": critic.identity, "rows": int(len(scores)),
                        "scored_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        manifest["critic_scores"] = entries
        write_atomic(path, yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True))
        LineageLog(store).append(kind="critic", subject=digest, inputs=[batch_sha],
                                 data={"batch_id": batch_id, "critic": critic.identity, "rows": int(len(scores))})
        result.sha256, result.manifest = digest, path
    return result
