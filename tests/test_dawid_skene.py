"""Our Dawid–Skene against crowd-kit's, iteration for iteration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene as CrowdKitDawidSkene

from alignment_ci.quality.dawid_skene import DawidSkene

LABELS = np.array(["a", "b", "tie"])


def crowd(seed: int, n_tasks: int = 600, n_workers: int = 25, per_task: int = 4) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n_tasks)
    skill = rng.uniform(0.25, 0.95, n_workers)
    rows = []
    for t in range(n_tasks):
        for w in rng.choice(n_workers, per_task, replace=False):
            label = truth[t] if rng.random() < skill[w] else rng.integers(0, 3)
            rows.append((f"t{t}", f"w{w}", LABELS[label]))
    return pd.DataFrame(rows, columns=["task", "worker", "label"]), truth


@pytest.mark.parametrize("with_gold", [False, True])
def test_posteriors_match_crowd_kit(with_gold: bool) -> None:
    data, truth = crowd(seed=11)
    gold = pd.Series({f"t{t}": LABELS[truth[t]] for t in range(0, 600, 7)}) if with_gold else None
    ours = DawidSkene().fit(data, gold)
    ref = CrowdKitDawidSkene(n_iter=100).fit(data, gold)
    assert len(ours.loss_history_) == len(ref.loss_history_)
    np.testing.assert_allclose(ours.loss_history_, ref.loss_history_, atol=1e-9)
    ref_probas = ref.probas_.loc[ours.probas_.index, list(ours.classes_)].to_numpy()
    # crowd-kit clips returned posteriors at 1e-10; ours keep the exact zeros of pinned gold tasks.
    np.testing.assert_allclose(ours.probas_.to_numpy(), ref_probas, atol=2e-10)
    assert (ours.labels_ == ref.labels_.loc[ours.labels_.index]).all()
    np.testing.assert_allclose(ours.priors_.to_numpy(), ref.priors_.loc[list(ours.classes_)].to_numpy(), atol=1e-9)


def test_gold_tasks_are_pinned_to_their_answer() -> None:
    data, _ = crowd(seed=5, n_tasks=50)
    # Pin a task to an answer nobody gave it.
    answers = data[data["task"] == "t0"]["label"]
    pinned = next(lbl for lbl in LABELS if lbl not in set(answers))
    ds = DawidSkene().fit(data, {"t0": pinned})
    assert ds.probas_.loc["t0", pinned] == 1.0
    assert ds.labels_["t0"] == pinned
