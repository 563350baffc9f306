"""Metrics as local Hugging Face ``evaluate`` modules: one directory per metric, holding a
script of the same name, so ``evaluate.load(str(path))`` loads it offline::

    import evaluate
    from alignment_ci.evals.metrics import metric_path
    acc = evaluate.load(str(metric_path("pairwise_accuracy")))
    acc.compute(predictions=[0.9, 0.2], references=[1, 1])

Each module is a thin ``evaluate.Metric`` over a function of :mod:`alignment_ci.evals`
(the same code the gates run): ``pairwise_accuracy``, ``calibration_error``,
``win_rate``, ``safety_pass_rate``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

METRICS_DIR = Path(__file__).resolve().parent
METRIC_NAMES: tuple[str, ...] = ("pairwise_accuracy", "calibration_error", "win_rate", "safety_pass_rate")


def metric_path(name: str) -> Path:
    """The directory of a built-in metric module (what ``evaluate.load`` takes)."""
    if name not in METRIC_NAMES:
        raise KeyError(f"unknown metric {name!r}; built-in metrics: {', '.join(METRIC_NAMES)}")
    return METRICS_DIR / name


@lru_cache(maxsize=None)
def load_metric(name: str) -> Any:
    """``evaluate.load`` of a built-in metric, kept in memory (no cache files), loaded once
    per process."""
    import evaluate

    return evaluate.load(str(metric_path(name)), keep_in_memory=True)
