"""Training backends behind one small interface, chosen by name (lazily imported).

A backend runs one resolved :class:`~alignment_ci.train.specs.StageJob` on training
rows and returns ``{metrics, per_step, device, wall_s, model_tar | model_dir}``. Both run
:func:`alignment_ci.train.backends.local.execute_job`: the Modal function body is the
same function the local backend calls.
"""

from __future__ import annotations

from ..registry import BACKENDS, Backend, get_backend

__all__ = ["BACKENDS", "Backend", "get_backend"]
