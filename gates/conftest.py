"""Shared fixtures of the gate suites in this directory.

The alignment-ci plugin (``alignment_ci.gating.plugin``) provides the core fixtures:
``candidate``, ``baseline``, ``reward_model``, ``gold_set``, ``eval_set``, ``slices``,
``safety_suite``, ``gate_config`` and ``gate``. Add your own gate files beside the
built-in ones (``test_*.py``, each gate marked ``@pytest.mark.gate("name")``) and put
fixtures they share here.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def held_out_pairs(eval_set: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The eval rows that are preference pairs (``prompt``, ``chosen``, ``rejected``)."""
    return [r for r in eval_set if r.get("chosen") and r.get("rejected")]
