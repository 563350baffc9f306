"""Evaluation building blocks the gates use, usable on their own:

- :mod:`.stats`: Wilson interval, pairwise accuracy, expected calibration error, win scores
  and the one-sided non-inferiority test (numpy/scipy only);
- :mod:`.scoring`: reward-model scoring of (prompt, response) pairs, length/repetition probes;
- :mod:`.generation`: policy generation (greedy or seeded sampling);
- :mod:`.winrate`: candidate-vs-baseline win scores (policies judged by an RM, or two RMs);
- :mod:`.safety`: red-team sets, refusal detection, rule and HF classifiers;
- :mod:`.datasets`: gold set, eval set, slices;
- :mod:`.metrics`: the same metrics as local ``evaluate`` modules.
"""
