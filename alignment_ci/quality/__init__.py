"""Label quality: agreement, rater reliability, likert calibration (and aggregation).

Pure functions over the canonical label DataFrame (DESIGN.md, "Data contract") that
return plain dicts and dataclasses; the CLI serialises them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ below imports on use
    from .agreement import (
        DimensionAgreement,
        agreement_report,
        alpha_bootstrap_ci,
        alpha_from_reliability_data,
        alpha_from_value_counts,
        coded_judgments,
        dimension_agreement,
    )
    from .calibration import LikertCalibration, calibrate_likert, gold_accuracy_drift
    from .raters import RaterStats, RaterThresholds, rater_report, reliability_scores

# Re-exported names, imported from their submodule on first use (the submodules load
# pandas and, in their functions, scipy): ``import alignment_ci.quality.load`` stays light.
_STRUCTURE = {
    "agreement": [
        "DimensionAgreement",
        "agreement_report",
        "alpha_bootstrap_ci",
        "alpha_from_reliability_data",
        "alpha_from_value_counts",
        "coded_judgments",
        "dimension_agreement",
    ],
    "calibration": ["LikertCalibration", "calibrate_likert", "gold_accuracy_drift"],
    "raters": ["RaterStats", "RaterThresholds", "rater_report", "reliability_scores"],
}
__getattr__, __dir__ = lazy_exports(__name__, _STRUCTURE)
__all__ = sorted(name for names in _STRUCTURE.values() for name in names)
