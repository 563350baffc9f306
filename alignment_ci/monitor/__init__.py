"""The closed loop: production events -> triage -> sampling plan -> rater queue -> vendors.

* :mod:`.events` — the production event schema triage reads (the rollout's, plus text fields);
* :mod:`.triage` — failure signals, near-duplicate grouping, severity x frequency x value;
* :mod:`.planner` — the labeling budget across buckets, coverage, active learning;
* :mod:`.audit` — merged labels back for re-review, audit error rates;
* :mod:`.queue` — the rater queue (SQLAlchemy: SQLite or PostgreSQL) the bridge serves;
* :mod:`.sla` — vendor service levels; :mod:`.cost` — annotation and GPU cost;
* :mod:`.retrain` — the retrain trigger and its pull request;
* :mod:`.settings` — the settings models of these sections.

Nothing is imported here, so ``import alignment_ci.monitor.queue`` stays light.
"""
