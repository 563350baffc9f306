"""The staged-rollout plan: stages, watched metrics, the sequential test's settings, the router.

The plan is the ``rollout:`` section of alignment.yaml in full form. Everything has a
default, so an empty section gives the default plan: stages 2 → 10 → 50 → 100 percent,
the five production metrics of :func:`default_metrics`, ``alpha = 0.05``, at most 3
failed checks, and the ``file`` router.

Example::

    rollout:
      alpha: 0.05
      max_failed_checks: 3
      stages:
        - {percent: 2, min_events: 500, min_minutes: 30}
        - {percent: 10, min_events: 2000, min_minutes: 60}
        - {percent: 50, min_events: 5000, min_minutes: 120}
        - {percent: 100, manual_approval: true}
      metrics:
        - {name: thumbs_down_rate, field: thumbs_down, kind: boolean, direction: lower, margin: 0.05}
        - {name: task_completion, field: task_completed, kind: boolean, direction: higher, margin: 0.02}
      router: {kind: file, path: .alignment-ci/routing.json}

Margins are *relative*: for a boolean metric the rate of the bad outcome (true for
"lower is better", false for "higher is better") may grow by the factor ``1 + margin``
before the candidate counts as worse; for a numeric metric the mean may grow (lower is
better) or shrink (higher is better) by that fraction.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError

if TYPE_CHECKING:  # config.py imports this module (the rollout section's schema)
    from ..config import Config

Direction = Literal["lower", "higher"]
MetricKind = Literal["boolean", "numeric"]
_METRIC_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class StageSpec(_Model):
    """One traffic step of the rollout."""

    percent: float = Field(gt=0, le=100, description="Share of traffic routed to the candidate, in percent.")
    min_events: int = Field(500, ge=0, description="Candidate events this stage must see before it can be promoted.")
    min_minutes: float = Field(10.0, ge=0, description="Minutes this stage must run before it can be promoted.")
    manual_approval: bool = Field(
        False,
        description="Entering this stage needs a human `alignment-ci rollout promote`; "
        "the rollout pauses (inconclusive) when the stage before it has passed.",
    )


class MetricSpec(_Model):
    """A production metric compared between candidate and baseline traffic."""

    name: str = Field(description="Name shown in decisions and reports (lower_snake_case).")
    field: str = Field(description="Event field the metric reads (see alignment_ci.rollout.events).")
    kind: MetricKind = Field("boolean", description="`boolean`: a rate of true values; `numeric`: a mean.")
    direction: Direction = Field("lower", description="`lower` or `higher` is better.")
    margin: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Tolerated relative worsening (0.05 = 5%) before the candidate counts as worse.",
    )
    effect: float = Field(
        0.3,
        gt=0,
        description="Relative worsening (beyond baseline) that should be caught fastest; the centre of "
        "the sequential test's mixture prior.",
    )
    threshold: float | None = Field(
        None,
        description="Flagger-style hard limit on the candidate's rate or mean; a step where the "
        "candidate crosses it (in the bad direction) is a failed check.",
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        if not _METRIC_NAME_RE.match(v):
            raise ValueError(f"metric name {v!r} must be lower_snake_case, at most 64 characters")
        return v

    @model_validator(mode="after")
    def _effect_beyond_margin(self) -> "MetricSpec":
        if self.kind == "boolean" or self.direction == "lower":
            if self.effect <= self.margin:
                raise ValueError(f"metric {self.name}: effect ({self.effect}) must exceed margin ({self.margin})")
        elif not self.margin < self.effect < 1:
            raise ValueError(f"metric {self.name}: effect must lie between margin ({self.margin}) and 1")
        return self


def default_metrics() -> list[MetricSpec]:
    """The five production metrics of the issue: four rates and tokens per response."""
    return [
        MetricSpec(name="thumbs_down_rate", field="thumbs_down", margin=0.05, effect=0.3),
        MetricSpec(name="escalation_rate", field="escalated", margin=0.05, effect=0.3),
        MetricSpec(name="safety_flag_rate", field="safety_flag", margin=0.0, effect=0.5),
        MetricSpec(name="hallucination_flag_rate", field="hallucination_flag", margin=0.05, effect=0.3),
        MetricSpec(name="tokens_per_response", field="tokens", kind="numeric", margin=0.1, effect=0.25),
    ]


def default_stages() -> list[StageSpec]:
    return [StageSpec(percent=p) for p in (2.0, 10.0, 50.0)] + [StageSpec(percent=100.0, min_events=0, min_minutes=0)]


class RouterSettings(_Model):
    """Where the routing table goes. Paths are resolved against alignment.yaml's directory."""

    kind: Literal["file", "s3", "webhook"] = Field("file", description="`file` (default), `s3` or `webhook`.")
    path: str = Field(".alignment-ci/routing.json", description="file: the JSON routing table the serving layer reads.")
    bucket: str | None = Field(None, description="s3: bucket of the routing object.")
    key: str = Field("alignment-ci/routing.json", description="s3: key of the routing object.")
    endpoint_url: str | None = Field(None, description="s3: a non-AWS endpoint (MinIO, moto).")
    region: str | None = Field(None, description="s3: region.")
    url: str | None = Field(None, description="webhook: URL the weights are POSTed to; any 2xx means applied.")
    headers: dict[str, str] = Field(default_factory=dict, description="webhook: extra request headers.")
    timeout_s: float = Field(10.0, gt=0, description="webhook: per-request timeout.")
    max_attempts: int = Field(4, ge=1, description="webhook/s3: attempts on transient errors (5xx, 429, network).")

    @model_validator(mode="after")
    def _complete(self) -> "RouterSettings":
        if self.kind == "webhook" and not self.url:
            raise ValueError("router kind 'webhook' needs `url`")
        if self.kind == "s3" and not self.bucket:
            raise ValueError("router kind 's3' needs `bucket`")
        return self


class RolloutPlan(_Model):
    """The whole staged-rollout plan."""

    stages: list[StageSpec] = Field(default_factory=default_stages, description="Traffic steps, ending at 100%.")
    metrics: list[MetricSpec] = Field(default_factory=default_metrics, min_length=1, description="Metrics watched.")
    alpha: float = Field(
        0.05,
        gt=0,
        lt=0.5,
        description="False-rollback rate of the sequential test: roll back when the e-value reaches 1/alpha, "
        "however often steps look.",
    )
    prior_width: float = Field(
        0.25,
        gt=0,
        description="Standard deviation, on the log scale, of the mixture prior around each metric's effect.",
    )
    pause_evalue: float | None = Field(
        None,
        gt=1,
        description="At a stage's end, an e-value at or above this pauses the rollout as inconclusive "
        "(default sqrt(1/alpha)).",
    )
    max_failed_checks: int = Field(
        3,
        ge=1,
        description="Flagger-style guard: roll back when this many steps failed a check (unreadable "
        "events, a metric over its threshold, a traffic split above the router's weight).",
    )
    router: RouterSettings = Field(default_factory=RouterSettings)

    @field_validator("stages", mode="before")
    @classmethod
    def _bare_percentages(cls, v: Any) -> Any:
        # `stages: [2, 10, 50, 100]` (the minimal RolloutSettings form) means default stages at those shares.
        if isinstance(v, list):
            return [
                {"percent": item, **({"min_events": 0, "min_minutes": 0} if item == 100 else {})}
                if isinstance(item, (int, float)) and not isinstance(item, bool)
                else item
                for item in v
            ]
        return v

    @field_validator("stages")
    @classmethod
    def _increasing(cls, v: list[StageSpec]) -> list[StageSpec]:
        percents = [s.percent for s in v]
        if len(v) < 2 or percents != sorted(set(percents)) or percents[-1] != 100:
            raise ValueError(
                f"stages must be at least two strictly increasing percentages ending at 100, got {percents}"
            )
        return v

    @field_validator("metrics")
    @classmethod
    def _unique(cls, v: list[MetricSpec]) -> list[MetricSpec]:
        names = [m.name for m in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate metric names: {', '.join(dupes)}")
        return v

    @property
    def rollback_evalue(self) -> float:
        return 1.0 / self.alpha

    @property
    def inconclusive_evalue(self) -> float:
        return self.pause_evalue if self.pause_evalue is not None else (1.0 / self.alpha) ** 0.5


def parse_plan(data: dict[str, Any] | None, source: str = "rollout") -> RolloutPlan:
    """Validate a plan mapping; errors name the key path (``rollout.stages.1.percent: ...``)."""
    try:
        return RolloutPlan.model_validate(data or {})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            path = ".".join([source] + [str(p) for p in err["loc"]])
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"{path}: {msg}")
        raise ConfigError("invalid rollout plan:\n  " + "\n  ".join(lines)) from None


def plan_from_config(config: Config) -> RolloutPlan:
    """The plan of a :class:`~alignment_ci.config.Config` (its ``rollout:`` section), with a
    file router's relative path resolved against the config's directory."""
    plan = config.rollout
    if plan.router.kind == "file":
        plan = plan.model_copy(update={"router": plan.router.model_copy(update={"path": str(config.resolve(plan.router.path))})})
    return plan
