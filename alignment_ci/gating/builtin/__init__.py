"""The built-in gates, shipped with alignment-ci and run on every candidate: gold,
calibration, regression, reward hacking, policy win rate, policy health, safety, hallucination
and label quality (the decision rules are in docs/gates.md). The plugin collects this directory beside a
repository's ``gates/``: a repository gate of the same name replaces a built-in one, and
``gates.disabled`` / ``gates.builtin`` in alignment.yaml turn them off.
"""
