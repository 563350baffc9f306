"""The `rollout` section's schema lives in :mod:`alignment_ci.sections.rollout`, in the config
layer beside ``config.py`` (which assembles every section from ``alignment_ci.sections``); this
module keeps its names for the package that uses them."""

from ..sections.rollout import (  # noqa: F401
    Direction,
    MetricKind,
    _METRIC_NAME_RE,
    _Model,
    StageSpec,
    MetricSpec,
    default_metrics,
    default_stages,
    RouterSettings,
    RolloutPlan,
    parse_plan,
    plan_from_config,
)

__all__ = ['Direction', 'MetricKind', '_METRIC_NAME_RE', '_Model', 'StageSpec', 'MetricSpec', 'default_metrics', 'default_stages', 'RouterSettings', 'RolloutPlan', 'parse_plan', 'plan_from_config']
