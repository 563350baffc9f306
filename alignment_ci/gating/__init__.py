"""Merge gates as pytest suites: the plugin (:mod:`alignment_ci.gating.plugin`), the
settings (:class:`GatesSettings`), decisions and results, and :func:`run_gates`.

Imports here stay light (no torch, no pytest): gate files import ``Decision``,
``at_least``/``at_most`` and the two exceptions from this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ below imports on use
    from .context import Inconclusive, NotApplicable
    from .results import Decision, GateReport, GateResult, at_least, at_most
    from .settings import GatesSettings

# Names from submodules, imported on first use: config.py imports .settings, and .context
# imports config, so this package must not import .context when it is first loaded.
_STRUCTURE = {
    "context": ["Inconclusive", "NotApplicable"],
    "results": ["Decision", "GateReport", "GateResult", "at_least", "at_most"],
    "settings": ["GatesSettings"],
}
__getattr__, __dir__ = lazy_exports(__name__, _STRUCTURE)
__all__ = sorted(name for names in _STRUCTURE.values() for name in names)
