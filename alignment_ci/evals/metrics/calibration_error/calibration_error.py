"""Expected calibration error of predicted probabilities (equal-width bins).

predictions: predicted P(label = 1) in [0, 1]; references: the labels (0/1).
ECE = Σ_b (n_b / N) |acc_b - conf_b| (Naeini et al. 2015; Guo et al. 2017); MCE is the
largest bin gap. ``bins`` lists each non-empty bin's range, count, accuracy and confidence.
"""

import datasets
import evaluate

from alignment_ci.evals.stats import expected_calibration_error

_CITATION = """@inproceedings{guo2017calibration,
  title={On Calibration of Modern Neural Networks},
  author={Guo, Chuan and Pleiss, Geoff and Sun, Yu and Weinberger, Kilian Q.},
  booktitle={ICML}, year={2017}}"""


class CalibrationError(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description="predictions: probabilities in [0, 1]; references: 0/1 labels",
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, n_bins=10):
        result = expected_calibration_error(predictions, references, n_bins)
        return {"ece": result.ece, "mce": result.mce, "n": result.n, "n_bins": n_bins, "bins": result.bins}
