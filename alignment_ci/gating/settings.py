"""The `gates` section's schema lives in :mod:`alignment_ci.sections.gates`, in the config
layer beside ``config.py`` (which assembles every section from ``alignment_ci.sections``); this
module keeps its names for the package that uses them."""

from ..sections.gates import (  # noqa: F401
    _Settings,
    GoldGateSettings,
    CalibrationGateSettings,
    RegressionGateSettings,
    GenerationSettings,
    WinRateGateSettings,
    PolicyHealthGateSettings,
    SafetyGateSettings,
    RewardHackingGateSettings,
    LabelQualityGateSettings,
    GatesSettings,
)

__all__ = ['_Settings', 'GoldGateSettings', 'CalibrationGateSettings', 'RegressionGateSettings', 'GenerationSettings', 'WinRateGateSettings', 'PolicyHealthGateSettings', 'SafetyGateSettings', 'RewardHackingGateSettings', 'LabelQualityGateSettings', 'GatesSettings']
