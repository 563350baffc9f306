"""The `monitor` section's schema lives in :mod:`alignment_ci.sections.monitor`, in the config
layer beside ``config.py`` (which assembles every section from ``alignment_ci.sections``); this
module keeps its names for the package that uses them."""

from ..sections.monitor import (  # noqa: F401
    _Section,
    _default_severity,
    SIGNALS,
    SIGNAL_DIMENSION_PREFERENCES,
    MonitorSettings,
    QueueSettings,
    PlannerSettings,
    SlaTarget,
    SlaSettings,
    RetrainSettings,
    CostModelSettings,
)

__all__ = ['_Section', '_default_severity', 'SIGNALS', 'SIGNAL_DIMENSION_PREFERENCES', 'MonitorSettings', 'QueueSettings', 'PlannerSettings', 'SlaTarget', 'SlaSettings', 'RetrainSettings', 'CostModelSettings']
