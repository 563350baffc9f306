"""The candidate policy against the baseline policy, on what they say.

Both policies answer the same eval prompts (:mod:`.generation`, same decoding and seed).
Every pair of answers is scored by two judges: the candidate's own reward model and an
*independent* judge that is not the candidate's (the baseline's reward model by default,
or a configured reward model). Per prompt, a judge gives a win score: 1 when the
candidate's answer scores higher by more than ``tie_tolerance``, 0 when lower, 0.5 for a
tie (identical answers always tie). Per slice and judge:

- the **win rate** (mean win score, ties as half) with a one-sided lower confidence bound
  ``w̄ - z₁₋α·s/√n`` over the paired per-prompt scores (the bound of
  :func:`~alignment_ci.evals.stats.non_inferiority_test`; with zero variance, e.g. every
  answer identical, the bound is the mean itself);
- the **sign test** (exact binomial on wins vs losses, ties dropped; one-sided: the
  candidate is worse) and the **Wilcoxon signed-rank test** on the paired score
  differences (one-sided, zeros split; Pratt/Wilcoxon as in ``scipy.stats.wilcoxon``).

The examples the report shows side by side come from here: each eval prompt with both
answers and both judges' scores, ordered by the independent judge's score difference.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .datasets import load_eval_set
from .scoring import resolve_model_dir
from .stats import non_inferiority_test, win_scores


DEFAULT_EVAL_PROMPTS = Path(__file__).parent / "data" / "eval_prompts.yaml"
"""The shipped eval prompts (48 prompts in 4 slices), used when no eval set is configured."""


def load_prompt_set(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Eval rows (``prompt`` + slice fields) from a JSONL/YAML eval set (default: the shipped
    one). A YAML mapping's ``prompt_template`` (with ``{prompt}``) frames every prompt."""
    import yaml

    p = Path(path) if path is not None else DEFAULT_EVAL_PROMPTS
    rows = load_eval_set(p)
    if p.suffix in (".yaml", ".yml"):
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
        template = doc.get("prompt_template") if isinstance(doc, dict) else None
        if template is not None:
            if not isinstance(template, str) or "{prompt}" not in template:
                raise InputError(f"{p}: prompt_template must be a string containing {{prompt}}, got {template!r}")
            rows = [dict(r, prompt=template.replace("{prompt}", str(r["prompt"]))) for r in rows]
    return rows


def resolve_judge_path(spec: str | Path) -> Path:
    """The judge's model directory: a path, or a Hugging Face model name from the local cache (offline)."""
    return resolve_model_dir(spec, "judge model")


def same_model(a: str | Path | None, b: str | Path | None) -> bool:
    """Two model directories that are the same model: the same path, or the same weights file."""
    if a is None or b is None:
        return False
    pa, pb = Path(a).resolve(), Path(b).resolve()
    if pa == pb:
        return True
    for name in ("model.safetensors", "pytorch_model.bin"):
        fa, fb = pa / name, pb / name
        if fa.is_file() and fb.is_file() and fa.stat().st_size == fb.stat().st_size and fa.stat().st_size < 64 << 20:
            return fa.read_bytes() == fb.read_bytes()
    return False


@dataclass
class JudgedAnswers:
    """Both policies' answers to each eval row and every judge's scores of them."""

    rows: list[Mapping[str, Any]]
    prompts: list[str]
    candidate: list[str]
    baseline: list[str]
    scores: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    judges: dict[str, str] = field(default_factory=dict)
    scoring_seconds: float = 0.0

    @property
    def identical(self) -> np.ndarray:
        return np.array([c == b for c, b in zip(self.candidate, self.baseline)], dtype=bool)


def judge_answers(rows: Sequence[Mapping[str, Any]], candidate: Sequence[str], baseline: Sequence[str],
                  judges: Mapping[str, Any], descriptions: Mapping[str, str] | None = None) -> JudgedAnswers:
    """Score both answers to every row with every judge (``{label: RewardModel}``)."""
    prompts = [str(r["prompt"]) for r in rows]
    if not len(prompts) == len(candidate) == len(baseline):
        raise ValueError(f"{len(prompts)} prompts, {len(candidate)} candidate and {len(baseline)} baseline answers")
    out = JudgedAnswers(list(rows), prompts, list(candidate), list(baseline), judges=dict(descriptions or {}))
    started = time.perf_counter()
    # Every distinct (prompt, answer) is scored once per judge: an answer both policies gave
    # (a tie by definition) costs one forward pass, not two.
    pairs = list(dict.fromkeys(zip(prompts + prompts, out.candidate + out.baseline)))
    position = {pair: i for i, pair in enumerate(pairs)}
    cand_idx = [position[pair] for pair in zip(prompts, out.candidate)]
    base_idx = [position[pair] for pair in zip(prompts, out.baseline)]
    for label, rm in judges.items():
        scored = np.asarray(rm.score([p for p, _ in pairs], [a for _, a in pairs]), dtype=float)
        out.scores[label] = (scored[cand_idx], scored[base_idx])
        out.judges.setdefault(label, str(getattr(rm, "path", label)))
    out.scoring_seconds = time.perf_counter() - started
    return out


@dataclass
class PairedWinRate:
    """Win rate of the candidate's answers with its one-sided bound and two paired tests."""

    n: int
    wins: int
    ties: int
    losses: int
    win_rate: float
    lower_bound: float
    upper_bound: float
    sign_test_p: float
    wilcoxon_p: float
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired_win_rate(candidate: Sequence[float], baseline: Sequence[float], *,
                    identical: Sequence[bool] | None = None, tie_tolerance: float = 1e-6,
                    alpha: float = 0.05) -> PairedWinRate:
    """Win rate (ties half), its one-sided ``1 - alpha`` bounds, and the one-sided sign and
    Wilcoxon signed-rank p-values for "the candidate's answers score lower"."""
    from scipy.stats import binomtest, wilcoxon

    c, b = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    scores = win_scores(c, b, tie_tolerance)
    diff = c - b
    if identical is not None:
        same = np.asarray(identical, dtype=bool)
        scores[same] = 0.5
        diff = np.where(same, 0.0, diff)
    diff = np.where(np.abs(diff) <= tie_tolerance, 0.0, diff)
    n = int(scores.size)
    wins, ties = int((scores == 1.0).sum()), int((scores == 0.5).sum())
    losses = n - wins - ties
    if n == 0:
        nan = float("nan")
        return PairedWinRate(0, 0, 0, 0, nan, nan, nan, 1.0, nan, alpha)
    test = non_inferiority_test(scores, margin=0.0, alpha=alpha)
    upper = min(1.0, 2 * test.win_rate - test.lower_bound)
    sign_p = float(binomtest(losses, wins + losses, 0.5, alternative="greater").pvalue) if wins + losses else 1.0
    if np.any(diff != 0):
        wilcoxon_p = float(wilcoxon(diff, zero_method="zsplit", alternative="less").pvalue)
    else:
        wilcoxon_p = 1.0
    return PairedWinRate(n, wins, ties, losses, test.win_rate, max(0.0, test.lower_bound), upper, sign_p,
                         wilcoxon_p, alpha)


def side_by_side(judged: JudgedAnswers, primary: str, *, limit: int | None = None,
                 slice_of: Mapping[int, str] | None = None) -> list[dict[str, Any]]:
    """Every eval prompt with both answers and every judge's scores, worst first by the
    ``primary`` judge's score difference (candidate − baseline). With ``limit``, the
    ``limit // 2`` worst and the rest best are kept (the largest regressions and improvements)."""
    rows = []
    for i, prompt in enumerate(judged.prompts):
        scores = {label: {"candidate": float(c[i]), "baseline": float(b[i])} for label, (c, b) in judged.scores.items()}
        main = scores.get(primary)
        rows.append({
            "slice": (slice_of or {}).get(i, "all"),
            "prompt": prompt,
            "baseline": judged.baseline[i],
            "candidate": judged.candidate[i],
            "candidate_score": main["candidate"] if main else None,
            "baseline_score": main["baseline"] if main else None,
            "delta": main["candidate"] - main["baseline"] if main else None,
            "scores": scores,
            "judge": primary,
        })
    rows.sort(key=lambda r: (r["delta"] is None, r["delta"] if r["delta"] is not None else 0.0))
    if limit is not None and len(rows) > limit:
        worst = limit // 2
        rows = rows[:worst] + rows[len(rows) - (limit - worst):]
    return rows


def describe(res: PairedWinRate) -> str:
    """``win rate 0.312 (wins/ties/losses 5/3/24), one-sided 95% lower bound 0.190, sign test p = 0.0004``."""
    if res.n == 0:
        return "no eval prompts"
    level = f"{1 - res.alpha:.0%}"
    wil = "" if math.isnan(res.wilcoxon_p) else f", Wilcoxon p = {res.wilcoxon_p:.3g}"
    return (f"win rate {res.win_rate:.3f} (wins/ties/losses {res.wins}/{res.ties}/{res.losses}), one-sided {level} "
            f"lower bound {res.lower_bound:.3f}, sign test p(worse) = {res.sign_test_p:.3g}{wil}")
