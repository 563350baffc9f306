"""Pairwise accuracy of a preference model, with a Wilson score interval.

predictions: P(first ≻ second) per pair (for a reward model, σ(r₁ - r₂)).
references: 1 when the reference (gold) prefers the first response, 0 for the second.
A tie (p = 0.5) is never right. Returns accuracy, correct, n and the Wilson interval
(ci_low, ci_high) at ``confidence``.
"""

import datasets
import evaluate

from alignment_ci.evals.stats import pairwise_accuracy

_CITATION = """@article{wilson1927,
  title={Probable inference, the law of succession, and statistical inference},
  author={Wilson, Edwin B.}, journal={JASA}, volume={22}, pages={209--212}, year={1927}}"""


class PairwiseAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description="predictions: P(first preferred) in [0, 1]; references: 1 first preferred, 0 second",
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, confidence=0.95):
        result = pairwise_accuracy(predictions, references, confidence)
        return {
            "accuracy": result.value,
            "correct": int(result.successes),
            "n": result.n,
            "ci_low": result.interval[0],
            "ci_high": result.interval[1],
            "confidence": confidence,
        }
