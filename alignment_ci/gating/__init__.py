"""Merge gates as pytest suites: the plugin (:mod:`alignment_ci.gating.plugin`), the
settings (:class:`GatesSettings`), decisions and results, and :func:`run_gates`.

Imports here stay light (no torch, no pytest): gate files import ``Decision``,
``at_least``/``at_most`` and the two exceptions from this package.
"""

from __future__ import annotations

from .results import Decision, GateReport, GateResult, Inconclusive, NotApplicable, at_least, at_most
from .settings import GatesSettings

__all__ = [
    "Decision",
    "GateReport",
    "GateResult",
    "GatesSettings",
    "Inconclusive",
    "NotApplicable",
    "at_least",
    "at_most",
]
