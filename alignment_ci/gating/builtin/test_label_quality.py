"""Label-quality gate: the pull request's label batches must be fit to train on.

For each batch (``--batches``, else the batches the candidate was trained on, else every
ingested batch), with the raters its manifest excludes left out
(:func:`alignment_ci.quality.label_quality.assess_batch`):

- agreement per dimension: a ``fail`` on a critical dimension of the taxonomy fails the
  batch (others are reported; ``gates.label_quality.noncritical_blocks`` makes them block);
- the share of judgments from flagged raters must be at most ``max_flagged_share``;
- gold accuracy must reach the vendor's contracted ``sla.*.min_gold_accuracy``.

A failing batch names its remedy: the flagged raters to exclude and the command that records
the exclusion in the batch manifest (a reviewed change), and whether that would pass.
"""

from __future__ import annotations

import pytest

from alignment_ci.gating import Decision
from alignment_ci.quality.label_quality import assess_batch


@pytest.mark.gate("label_quality")
def test_label_batches_are_fit_to_train_on(label_batches, gate_context, gate_config, gate):
    settings = gate_config.label_quality
    if not label_batches:
        gate.inconclusive("no label batches to judge: ingest one, or pass --batches")
    for batch in label_batches:
        result = assess_batch(batch.frame, gate_context.config, batch_id=batch.batch_id, vendor=batch.vendor,
                              excluded_raters=batch.excluded_raters, max_flagged_share=settings.max_flagged_share,
                              min_gold_judgments=settings.min_gold_judgments,
                              noncritical_blocks=settings.noncritical_blocks)
        gate.record(Decision(result.outcome, result.reason, value=result.flagged_share,
                             threshold=settings.max_flagged_share, n=result.judgments, details=result.to_dict()),
                    part=batch.batch_id)
