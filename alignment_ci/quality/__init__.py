"""Label quality: agreement, rater reliability, likert calibration (and aggregation).

Pure functions over the canonical label DataFrame (DESIGN.md, "Data contract") that
return plain dicts and dataclasses; the CLI serialises them.
"""

from alignment_ci.quality.agreement import (
    DimensionAgreement,
    agreement_report,
    alpha_bootstrap_ci,
    alpha_from_reliability_data,
    alpha_from_value_counts,
    coded_judgments,
    dimension_agreement,
)
from alignment_ci.quality.calibration import LikertCalibration, calibrate_likert, gold_accuracy_drift
from alignment_ci.quality.raters import RaterStats, RaterThresholds, rater_report, reliability_scores

__all__ = [
    "DimensionAgreement",
    "LikertCalibration",
    "RaterStats",
    "RaterThresholds",
    "agreement_report",
    "alpha_bootstrap_ci",
    "alpha_from_reliability_data",
    "alpha_from_value_counts",
    "calibrate_likert",
    "coded_judgments",
    "dimension_agreement",
    "gold_accuracy_drift",
    "rater_report",
    "reliability_scores",
]
