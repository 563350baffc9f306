"""Win rate of a candidate against a baseline, with a one-sided non-inferiority test.

predictions: the candidate's score per unit (e.g. the judge's reward of its response);
references: the baseline's score on the same unit. A unit is a win (1), a tie (0.5, scores
within ``tie_tolerance``) or a loss (0). The win rate is the mean; the test is
H0: win rate ≤ 0.5 - margin against H1: win rate > 0.5 - margin (one-sided z-test at
``alpha``); ``non_inferior`` is true when H0 is rejected.
"""

import datasets
import evaluate

from alignment_ci.evals.stats import non_inferiority_test, win_scores

_CITATION = """@article{berger1982,
  title={Multiparameter hypothesis testing and acceptance sampling},
  author={Berger, Roger L.}, journal={Technometrics}, volume={24}, pages={295--300}, year={1982}}"""


class WinRate(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description="predictions: candidate scores; references: baseline scores (same units)",
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
            ),
        )

    def _compute(self, predictions, references, margin=0.05, alpha=0.05, tie_tolerance=0.0):
        return non_inferiority_test(win_scores(predictions, references, tie_tolerance), margin, alpha).to_dict()
