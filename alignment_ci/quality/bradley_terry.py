"""Bradley–Terry strengths by unregularised maximum likelihood, with an optional order effect.

Model (Bradley & Terry 1952; Agresti, *Categorical Data Analysis*, 2nd ed., §10.6):

    logit P(i beats j | i shown first) = θ_i − θ_j + γ

θ are natural-log strengths, reported mean-centred (Σθ = 0, the convention of
``choix``); γ is the first-shown ("home advantage") effect, fitted only when the
comparisons carry their presentation order, else fixed at 0.

Comparisons collapse into counts per ordered pair (first, second): ``a`` wins by the
first-shown, ``b`` wins by the second-shown. The log-likelihood depends on the data
only through these counts, so a million comparisons among a hundred entities become
at most 9,900 pairs; the MLE is then found by Newton's method with a backtracking
line search on the concave log-likelihood (quadratic convergence, usually < 10 steps).

The unregularised MLE exists only when the comparison graph is strongly connected
(Ford 1957; Hunter 2004, Assumption 1): otherwise some group of entities never loses
to the rest and its strengths run off to infinity. With the order effect, γ is also
confounded with the strengths when the presentation order never varies. Both cases
raise :class:`~alignment_ci.errors.InputError` naming the cause instead of returning
numbers that mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import InputError

if TYPE_CHECKING:
    import scipy.sparse as sp

# Dense Newton systems up to this many unknowns; sparse above (response-level entities).
_DENSE_MAX = 2000
# Count comparisons into a full n × n table when it has at most this many cells.
_DENSE_COUNT_MAX = 4_000_000


@dataclass(frozen=True)
class BTResult:
    """A fitted Bradley–Terry model.

    ``strengths[i]`` is the natural-log strength of entity ``i``, mean-centred;
    ``position_bias`` is γ, the log-odds advantage of being shown first (None when not
    fitted); ``log_likelihood`` is at the optimum.
    """

    strengths: NDArray[np.float64]
    position_bias: float | None
    log_likelihood: float
    n_comparisons: float
    iterations: int


@dataclass(frozen=True)
class PairCounts:
    """Comparisons collapsed per ordered pair: ``first`` vs ``second`` with wins ``a`` (first) and ``b`` (second)."""

    first: NDArray[np.int64]
    second: NDArray[np.int64]
    a: NDArray[np.float64]
    b: NDArray[np.float64]
    n_entities: int


def pair_counts(
    winners: ArrayLike,
    losers: ArrayLike,
    n_entities: int,
    position: ArrayLike | None = None,
    weights: ArrayLike | None = None,
) -> PairCounts:
    """Collapse a comparison list into win counts per ordered pair.

    ``position[k]`` is True when the winner of comparison ``k`` was shown first. Without
    ``position`` the winner is filed as "first" and every win counts in ``a``; that is the
    plain win-count matrix (γ is then not fitted). ``weights`` lets a comparison count
    fractionally (a tie is two half wins).
    """
    w = np.asarray(winners, dtype=np.int64)
    lo = np.asarray(losers, dtype=np.int64)
    if w.shape != lo.shape or w.ndim != 1:
        raise InputError("winners and losers must be 1-D arrays of the same length")
    if w.size and (min(w.min(), lo.min()) < 0 or max(w.max(), lo.max()) >= n_entities):
        raise InputError(f"entity indices must lie in 0..{n_entities - 1}")
    if np.any(w == lo):
        k = int(np.flatnonzero(w == lo)[0])
        raise InputError(f"comparison {k} pits entity {int(w[k])} against itself")
    cw = np.ones(w.size) if weights is None else np.asarray(weights, dtype=np.float64)
    if position is None:
        first, second = w, lo
        a_w, b_w = cw, np.zeros_like(cw)
    else:
        winner_first = np.asarray(position, dtype=bool)
        first = np.where(winner_first, w, lo)
        second = np.where(winner_first, lo, w)
        a_w = np.where(winner_first, cw, 0.0)
        b_w = np.where(winner_first, 0.0, cw)
    key = first * n_entities + second
    if n_entities * n_entities <= _DENSE_COUNT_MAX:
        # A direct count over all n² cells is linear time; sorting keys is not.
        a_all = np.bincount(key, weights=a_w, minlength=n_entities * n_entities)
        b_all = np.bincount(key, weights=b_w, minlength=n_entities * n_entities)
        uniq = np.flatnonzero(np.bincount(key, minlength=n_entities * n_entities))
        a, b = a_all[uniq], b_all[uniq]
    else:
        uniq, inverse = np.unique(key, return_inverse=True)
        a = np.bincount(inverse, weights=a_w, minlength=uniq.size)
        b = np.bincount(inverse, weights=b_w, minlength=uniq.size)
    return PairCounts(uniq // n_entities, uniq % n_entities, a, b, n_entities)


def _log_likelihood(c: PairCounts, theta: NDArray[np.float64], gamma: float) -> float:
    d = theta[c.first] - theta[c.second] + gamma
    # a·log σ(d) + b·log σ(−d), with log σ(x) = −log(1 + e^{−x}) computed stably.
    return float(-(c.a @ np.logaddexp(0.0, -d)) - (c.b @ np.logaddexp(0.0, d)))


def _check_identifiable(c: PairCounts, fit_position: bool, labels: list[str] | None) -> None:
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    n = c.n_entities
    name = (lambda i: repr(labels[i])) if labels is not None else (lambda i: f"entity {i}")
    # Edge loser -> winner for every observed win.
    rows = np.concatenate([c.second[c.a > 0], c.first[c.b > 0]])
    cols = np.concatenate([c.first[c.a > 0], c.second[c.b > 0]])
    graph = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    n_comp, comp = connected_components(graph, directed=True, connection="strong")
    if n_comp > 1:
        wins = np.bincount(cols, minlength=n)
        losses = np.bincount(rows, minlength=n)
        never_lost = [name(i) for i in np.flatnonzero(losses == 0)[:3]]
        never_won = [name(i) for i in np.flatnonzero(wins == 0)[:3]]
        detail = []
        if never_lost:
            detail.append("never lost: " + ", ".join(never_lost))
        if never_won:
            detail.append("never won: " + ", ".join(never_won))
        raise InputError(
            f"Bradley–Terry maximum likelihood does not exist: the comparison graph of {n} entities "
            f"splits into {n_comp} groups that never beat each other both ways"
            + (f" ({'; '.join(detail)})" if detail else "")
            + ". Every entity must both win and lose within one connected set of comparisons: "
            "collect more comparisons, or aggregate per item (majority, dawid-skene) instead."
        )
    if fit_position and (c.a.sum() == 0 or c.b.sum() == 0):
        side = "first" if c.b.sum() == 0 else "second"
        raise InputError(
            f"the position effect cannot be estimated: the {side}-shown response won every comparison; "
            "run without --position-effect"
        )


def _newton_system(
    c: PairCounts, theta: NDArray[np.float64], gamma: float, fit_position: bool
) -> tuple[NDArray[np.float64], np.ndarray | sp.spmatrix]:
    """Gradient and Fisher information (negative Hessian) with entity 0 pinned."""
    import scipy.sparse as sp

    n = c.n_entities
    d = theta[c.first] - theta[c.second] + gamma
    p = 1.0 / (1.0 + np.exp(-d))
    m = c.a + c.b
    r = c.a - m * p
    w = m * p * (1.0 - p)
    g_theta = np.bincount(c.first, r, n) - np.bincount(c.second, r, n)
    diag = np.bincount(c.first, w, n) + np.bincount(c.second, w, n)
    size = n + 1 if fit_position else n
    rows = [np.arange(n), c.first, c.second]
    cols = [np.arange(n), c.second, c.first]
    vals = [diag, -w, -w]
    grad = g_theta
    if fit_position:
        h_gt = np.bincount(c.first, w, n) - np.bincount(c.second, w, n)
        idx = np.arange(n)
        rows += [idx, np.full(n, n), np.array([n])]
        cols += [np.full(n, n), idx, np.array([n])]
        vals += [h_gt, h_gt, np.array([w.sum()])]
        grad = np.append(g_theta, r.sum())
    info = sp.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size)
    )
    # Drop entity 0: the likelihood is invariant to a common shift of θ.
    info = info.tocsr()[1:, 1:]
    if size - 1 <= _DENSE_MAX:
        return grad[1:], info.toarray()
    return grad[1:], info.tocsc()


def bradley_terry(
    winners: ArrayLike,
    losers: ArrayLike,
    n_entities: int,
    position: ArrayLike | None = None,
    *,
    weights: ArrayLike | None = None,
    labels: list[str] | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> BTResult:
    """Fit Bradley–Terry strengths (natural log, mean-centred) by unregularised MLE.

    ``winners[k]`` beat ``losers[k]`` (entity indices 0..n_entities-1). With ``position``
    (True where the winner was shown first) the first-shown effect γ is fitted jointly
    and returned as ``position_bias``. ``labels`` only improve error messages.
    Raises :class:`InputError` when the MLE does not exist (see the module docstring).
    """
    counts = pair_counts(winners, losers, n_entities, position, weights)
    return fit_pair_counts(counts, fit_position=position is not None, labels=labels, tol=tol, max_iter=max_iter)


def _solve(info: np.ndarray | sp.spmatrix, grad: NDArray[np.float64], check_rank: bool) -> NDArray[np.float64] | None:
    """Newton step ``info⁻¹ · grad``, or None when the system is singular."""
    from scipy.sparse.linalg import spsolve

    try:
        if isinstance(info, np.ndarray):
            if check_rank and np.linalg.matrix_rank(info) < info.shape[0]:
                return None
            step = np.linalg.solve(info, grad)
        else:
            step = spsolve(info, grad)
    except np.linalg.LinAlgError:
        return None
    return step if np.all(np.isfinite(step)) else None


def fit_pair_counts(
    counts: PairCounts,
    *,
    fit_position: bool = False,
    labels: list[str] | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> BTResult:
    """Newton–Raphson MLE on collapsed counts (see :func:`bradley_terry`)."""
    n = counts.n_entities
    if n < 2:
        raise InputError("Bradley–Terry needs at least two entities")
    _check_identifiable(counts, fit_position, labels)
    theta = np.zeros(n)
    gamma = 0.0
    ll = _log_likelihood(counts, theta, gamma)
    for iteration in range(1, max_iter + 1):
        grad, info = _newton_system(counts, theta, gamma, fit_position)
        # At θ = 0 every observed pair has positive weight, so a rank deficiency there is
        # structural (order confounded with entities), not numerical.
        step = _solve(info, grad, check_rank=iteration == 1 and fit_position)
        if step is None:
            raise InputError(
                "Bradley–Terry strengths are not identifiable from these comparisons: the presentation "
                "order is confounded with the entities (e.g. an entity is always shown first); "
                "run without --position-effect or balance the presentation order"
            )
        # Backtracking (Armijo) line search keeps every step an ascent step.
        t = 1.0
        slope = float(grad @ step)
        while True:
            new_theta = theta.copy()
            new_theta[1:] += t * step[: n - 1]
            new_gamma = gamma + t * step[n - 1] if fit_position else 0.0
            new_ll = _log_likelihood(counts, new_theta, new_gamma)
            if new_ll >= ll + 1e-4 * t * slope or t < 1e-10:
                break
            t *= 0.5
        theta, gamma, ll = new_theta, new_gamma, new_ll
        if np.max(np.abs(t * step)) < tol:
            break
    else:
        raise InputError(f"Bradley–Terry fit did not converge in {max_iter} Newton steps")
    theta = theta - theta.mean()
    return BTResult(
        strengths=theta,
        position_bias=float(gamma) if fit_position else None,
        log_likelihood=ll,
        n_comparisons=float(counts.a.sum() + counts.b.sum()),
        iterations=iteration,
    )
