"""Shared fixtures of this repository's own gates.

The built-in gates (gold, calibration, regression, reward hacking, safety, hallucination,
label quality) ship inside alignment-ci (``alignment_ci/gating/builtin/``) and run on every
candidate; this directory holds what the repository adds: its own gates (``test_*.py``, each
gate marked ``@pytest.mark.gate("name")``), and overrides (a gate here with the name of a
built-in replaces it). The plugin provides the core fixtures: ``candidate``, ``baseline``,
``reward_model``, ``gold_set``, ``eval_set``, ``held_out_pairs``, ``slices``,
``safety_suite``, ``label_batches``, ``gate_config`` and ``gate`` (docs/gates.md). Put
fixtures this directory's gates share here.
"""
