"""Dawid–Skene aggregation with gold items pinned to their answers.

A. P. Dawid and A. M. Skene, "Maximum likelihood estimation of observer error-rates
using the EM algorithm", *Applied Statistics* 28(1), 1979, 20–28.

Each worker ``w`` has a confusion matrix ``π_w[l, c] = P(w answers l | true class c)``;
classes have prior ``p[c]``. EM alternates

- E-step: ``P(z_t = c) ∝ p[c] · Π_{(t,w,l)} π_w[l, c]`` (in logs);
- M-step: ``π_w[l, c] ∝ Σ_{t: w answered l on t} P(z_t = c)``, ``p = mean_t P(z_t)``.

Gold tasks have their posterior pinned to the known answer after every E-step, so they
anchor the confusion matrices (crowd-kit's ``true_labels``). The iteration follows
crowd-kit's ``DawidSkene`` step for step (majority-vote start, ε = 1e-10 clipping, stop
when the evidence lower bound per label improves by less than ``tol``), so the two agree
to rounding; the difference is that the sums run as sparse matrix products over integer
codes instead of pandas joins, which is what makes it fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from .. import lazy

pd = lazy.module("pandas")

if TYPE_CHECKING:
    import scipy.sparse as sp

_EPS = 1e-10


@dataclass
class DawidSkene:
    """Dawid–Skene EM. Fitted attributes end in ``_`` (as in crowd-kit).

    ``probas_``: DataFrame (task × class) of posteriors; ``labels_``: Series of the most
    probable class per task; ``priors_``: Series of class priors; ``errors_``: array
    (worker, answered class, true class) of confusion probabilities; ``loss_history_``:
    evidence lower bound per label after each iteration.
    """

    n_iter: int = 100
    tol: float = 1e-5

    probas_: pd.DataFrame = field(init=False, repr=False)
    labels_: pd.Series = field(init=False, repr=False)
    priors_: pd.Series = field(init=False, repr=False)
    errors_: NDArray[np.float64] = field(init=False, repr=False)
    workers_: pd.Index = field(init=False, repr=False)
    classes_: pd.Index = field(init=False, repr=False)
    loss_history_: list[float] = field(init=False, repr=False)

    def fit(self, data: pd.DataFrame, true_labels: Mapping[Any, Any] | pd.Series | None = None) -> "DawidSkene":
        """Fit on a DataFrame with ``task``, ``worker`` and ``label`` columns.

        ``true_labels`` maps gold tasks to their answers; their posteriors are pinned.
        """
        import scipy.sparse as sp

        gold = pd.Series(true_labels, dtype=object) if true_labels is not None else pd.Series(dtype=object)
        t_idx, tasks = pd.factorize(data["task"], sort=False)
        w_idx, workers = pd.factorize(data["worker"], sort=True)
        classes = pd.Index(sorted(set(data["label"].tolist()) | set(gold.tolist())))
        l_idx = classes.get_indexer(data["label"])
        n_t, n_w, k = len(tasks), len(workers), len(classes)
        self.workers_, self.classes_ = workers, classes
        if n_t == 0:
            self.probas_ = pd.DataFrame(columns=classes, dtype=float)
            self.labels_ = pd.Series(dtype=object)
            self.priors_ = pd.Series(dtype=float)
            self.errors_ = np.zeros((0, k, k))
            self.loss_history_ = []
            return self

        # A[t, w*k + l] = number of times worker w answered l on task t.
        answers = sp.csr_matrix(
            (np.ones(len(t_idx)), (t_idx, w_idx * k + l_idx)), shape=(n_t, n_w * k)
        )
        answers.sum_duplicates()
        observed = np.asarray(answers.sum(axis=0)).ravel().reshape(n_w, k) > 0
        per_task = np.asarray(answers.sum(axis=1)).ravel()
        answers_t = answers.T.tocsr()

        gold_rows = tasks.get_indexer(gold.index) if len(gold) else np.array([], dtype=np.int64)
        keep = gold_rows >= 0
        gold_rows = gold_rows[keep]
        gold_cols = classes.get_indexer(gold.to_numpy()[keep]) if len(gold) else gold_rows

        def pin(probas: NDArray[np.float64]) -> NDArray[np.float64]:
            if gold_rows.size:
                probas[gold_rows] = 0.0
                probas[gold_rows, gold_cols] = 1.0
            return probas

        def m_step(probas: NDArray[np.float64]) -> NDArray[np.float64]:
            errors = (answers_t @ probas).reshape(n_w, k, k)
            errors = np.where(observed[:, :, None], np.maximum(errors, _EPS), 0.0)
            return errors / errors.sum(axis=1, keepdims=True)

        def log_errors(errors: NDArray[np.float64]) -> NDArray[np.float64]:
            with np.errstate(divide="ignore"):
                out = np.log(errors)
            # Unobserved (worker, answer) cells never enter a product.
            return np.where(observed[:, :, None], out, 0.0).reshape(n_w * k, k)

        # Majority-vote start, as crowd-kit.
        counts = np.zeros((n_t, k))
        np.add.at(counts, (t_idx, l_idx), 1.0)
        probas = pin(counts / counts.sum(axis=1, keepdims=True))
        priors = probas.mean(axis=0)
        errors = m_step(probas)
        loss = -np.inf
        history: list[float] = []
        for _ in range(self.n_iter):
            log_prior = np.log(np.maximum(priors, _EPS))
            log_lik = answers @ log_errors(errors) + log_prior
            log_lik -= log_lik.max(axis=1, keepdims=True)
            probas = np.exp(log_lik)
            probas = pin(probas / probas.sum(axis=1, keepdims=True))
            priors = probas.mean(axis=0)
            errors = m_step(probas)
            new_loss = self._elbo(answers, probas, priors, log_errors(errors), per_task) / len(t_idx)
            history.append(new_loss)
            if new_loss - loss < self.tol:
                break
            loss = new_loss

        self.probas_ = pd.DataFrame(probas, index=tasks, columns=classes)
        self.labels_ = pd.Series(classes[probas.argmax(axis=1)], index=tasks, name="agg_label")
        self.priors_ = pd.Series(priors, index=classes, name="prior")
        self.errors_ = errors
        self.loss_history_ = history
        return self

    @staticmethod
    def _elbo(
        answers: sp.csr_matrix,
        probas: NDArray[np.float64],
        priors: NDArray[np.float64],
        log_err: NDArray[np.float64],
        per_task: NDArray[np.float64],
    ) -> float:
        log_prior = np.log(np.maximum(priors, _EPS))
        joint = float(np.sum(probas * (answers @ log_err + per_task[:, None] * log_prior)))
        clipped = np.maximum(probas, _EPS)
        entropy = float(-np.sum(clipped * np.log(clipped)))
        return joint + entropy

    def fit_predict_proba(
        self, data: pd.DataFrame, true_labels: Mapping[Any, Any] | pd.Series | None = None
    ) -> pd.DataFrame:
        return self.fit(data, true_labels).probas_

    def fit_predict(self, data: pd.DataFrame, true_labels: Mapping[Any, Any] | pd.Series | None = None) -> pd.Series:
        return self.fit(data, true_labels).labels_
