"""Training: job specs (``specs``), the tiny offline model (``tiny``), synthetic pairs
(``synthetic``) and the five TRL stages behind ``stages.run_stage``.

Importing this package, ``specs``, ``synthetic`` or ``stages`` does not import torch;
the stage modules and ``tiny.build_tiny_model`` import it when called.
"""

from .specs import STAGES, StageJob, TrainingSettings

__all__ = ["STAGES", "StageJob", "TrainingSettings"]
