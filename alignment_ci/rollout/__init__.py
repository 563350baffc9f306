"""Staged rollout: plan, always-valid sequential analysis, traffic routers, controller, simulator.

The CLI calls one function per verb in :mod:`alignment_ci.rollout.controller`
(``start``, ``step``, ``status``, ``promote``, ``abort``, ``resume``); each takes the
store, a rollout id and plain arguments and returns a JSON-able dict.
"""

from __future__ import annotations

from .plan import MetricSpec, RolloutPlan, RouterSettings, StageSpec, default_metrics, parse_plan, plan_from_config

__all__ = [
    "MetricSpec",
    "RolloutPlan",
    "RouterSettings",
    "StageSpec",
    "default_metrics",
    "parse_plan",
    "plan_from_config",
]
