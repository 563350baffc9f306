"""Policy health: does the candidate policy still produce answers, or has it collapsed?

Measures over a policy's answers (token ids from its tokenizer where available, else words):

- **empty share**: answers with no letter or digit;
- **repeated n-gram share** of one answer: the share of its n-grams that repeat an earlier
  n-gram of the same answer (``" cl cl cl …"`` → close to 1; ordinary prose → near 0);
- **distinct-n**: unique n-grams / all n-grams over all answers (Li et al. 2016, "A
  Diversity-Promoting Objective Function for Neural Conversation Models"): one answer
  repeated to every prompt, or one token repeated, drives it to 0;
- **length ratio**: the candidate's mean answer length over the baseline policy's;
- **KL to the reference**: the mean per-token log-ratio ``log π(y_t|·) - log π_ref(y_t|·)``
  on the candidate's own answers (the Monte-Carlo estimate of the per-token
  KL(π‖π_ref) when the answers are sampled; with greedy decoding, a drift measure of the
  same kind).

An answer is *degenerate* when it is empty or its repeated n-gram share exceeds a
threshold; the safety gate never counts a degenerate answer as safe by default.

Pure Python/numpy: no torch here (the log-probabilities come from
:meth:`alignment_ci.evals.generation.Policy.token_logprobs`).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_CONTENT = re.compile(r"\w", re.UNICODE)


def words(text: str) -> list[str]:
    """Word and punctuation tokens of ``text`` (the fallback when no token ids are given)."""
    return _WORD.findall(text.lower())


def is_empty(text: str) -> bool:
    """No letter or digit at all (only whitespace, punctuation or nothing)."""
    return not _CONTENT.search(text)


def ngrams(tokens: Sequence[Hashable], n: int) -> list[tuple[Hashable, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def repeated_ngram_share(tokens: Sequence[Hashable], n: int = 3) -> float:
    """Share of the n-grams of one answer that already occurred earlier in it (0 when the
    answer has fewer than ``n`` tokens). A token repeated k times gives ``(k-n)/(k-n+1)``."""
    grams = ngrams(tokens, n)
    if not grams:
        return 0.0
    seen: set[tuple[Hashable, ...]] = set()
    repeats = 0
    for g in grams:
        if g in seen:
            repeats += 1
        seen.add(g)
    return repeats / len(grams)


def distinct_n(answers: Sequence[Sequence[Hashable]], n: int) -> float:
    """Unique n-grams over all answers / all n-grams (NaN when there is none)."""
    total, unique = 0, set()
    for tokens in answers:
        grams = ngrams(tokens, n)
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else float("nan")


def degenerate_flags(texts: Sequence[str], tokens: Sequence[Sequence[Hashable]] | None = None, *, n: int = 3,
                     max_share: float = 0.5) -> list[bool]:
    """Per answer: empty, or more than ``max_share`` of its n-grams repeated."""
    toks = tokens if tokens is not None else [words(t) for t in texts]
    return [is_empty(t) or repeated_ngram_share(k, n) > max_share for t, k in zip(texts, toks)]


@dataclass
class HealthStats:
    """What :func:`health_stats` measured over one policy's answers."""

    n: int
    empty: int
    empty_share: float
    degenerate: int
    mean_repeated_share: float
    distinct_1: float
    distinct_2: float
    mean_tokens: float
    baseline_mean_tokens: float | None = None
    length_ratio: float | None = None
    kl_per_token: float | None = None
    kl_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def health_stats(texts: Sequence[str], tokens: Sequence[Sequence[Hashable]] | None = None, *, n: int = 3,
                 degenerate_share: float = 0.5, baseline_tokens: Sequence[Sequence[Hashable]] | None = None,
                 log_ratios: Sequence[Sequence[float]] | None = None) -> HealthStats:
    """Health measures of ``texts`` (with their ``tokens``; words when not given).

    ``baseline_tokens``: the baseline policy's answers to the same prompts (length ratio).
    ``log_ratios``: per answer, the per-token ``log π - log π_ref`` (KL to the reference),
    pooled over all tokens.
    """
    toks = [list(t) for t in tokens] if tokens is not None else [words(t) for t in texts]
    if len(toks) != len(texts):
        raise ValueError(f"{len(texts)} answers but {len(toks)} token lists")
    count = len(texts)
    empty = sum(is_empty(t) for t in texts)
    shares = [repeated_ngram_share(k, n) for k in toks]
    degenerate = sum(1 for t, s in zip(texts, shares) if is_empty(t) or s > degenerate_share)
    mean_tokens = sum(len(k) for k in toks) / count if count else float("nan")
    stats = HealthStats(
        n=count, empty=empty, empty_share=empty / count if count else float("nan"), degenerate=degenerate,
        mean_repeated_share=sum(shares) / count if count else float("nan"),
        distinct_1=distinct_n(toks, 1), distinct_2=distinct_n(toks, 2), mean_tokens=mean_tokens,
    )
    if baseline_tokens is not None and len(baseline_tokens):
        base = sum(len(k) for k in baseline_tokens) / len(baseline_tokens)
        stats.baseline_mean_tokens = base
        stats.length_ratio = mean_tokens / base if base > 0 else (float("inf") if mean_tokens > 0 else 1.0)
    if log_ratios is not None:
        flat = [x for row in log_ratios for x in row]
        stats.kl_tokens = len(flat)
        stats.kl_per_token = sum(flat) / len(flat) if flat else float("nan")
    return stats
