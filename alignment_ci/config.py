"""alignment.yaml -> pydantic models.

Every section has defaults, so a repository without alignment.yaml still runs the whole
loop. A wrong key or a wrong type is a :class:`ConfigError` that names the key path and
the line of the file it came from.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import CONFIG_PROBLEMS, ConfigError, config_problems
from .forge import ForgeSettings
from .sections.gates import GatesSettings
from .sections.monitor import (
    CostModelSettings,
    MonitorSettings,
    PlannerSettings,
    QueueSettings,
    RetrainSettings,
    SlaSettings,
)
from .sections.rollout import RolloutPlan
from .sections.training import TrainingSettings

DEFAULT_CONFIG_PATH = Path("alignment.yaml")
TASK_TYPES: tuple[str, ...] = ("pairwise", "likert", "ranking")
TaskType = Literal["pairwise", "likert", "ranking"]
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Scale(_Model):
    """An inclusive integer likert scale."""

    min: int = Field(1, description="Lowest rating on the scale.")
    max: int = Field(5, description="Highest rating on the scale.")

    @model_validator(mode="after")
    def _ordered(self) -> "Scale":
        if self.min >= self.max:
            raise ValueError(f"scale min ({self.min}) must be below max ({self.max})")
        return self

    @classmethod
    def parse(cls, text: str) -> "Scale":
        """Parse ``MIN..MAX`` as given on the command line."""
        m = re.fullmatch(r"\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*", text)
        if not m:
            raise ValueError(f"scale must look like MIN..MAX (e.g. 1..5), got {text!r}")
        return cls(min=int(m.group(1)), max=int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.min}..{self.max}"


class Dimension(_Model):
    """One axis of the feedback taxonomy that raters judge."""

    name: str = Field(description="Identifier used in label batches (lower_snake_case).")
    definition: str = Field(description="One-line definition shown to raters and reviewers.")
    product_outcome: str = Field("", description="The product outcome this dimension protects.")
    task_types: list[TaskType] = Field(
        default_factory=lambda: list(TASK_TYPES), description="Task types this dimension may be judged in."
    )
    scale: Scale = Field(default_factory=Scale, description="Likert scale for this dimension.")
    critical: bool = Field(False, description="Disagreements go to adjudication; gates block on it.")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(f"dimension name {v!r} must be lower_snake_case, at most 64 characters")
        return v

    @field_validator("definition")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if not v.strip() or "\n" in v.strip():
            raise ValueError("definition must be one non-empty line")
        return v.strip()


def _default_dimensions() -> list[Dimension]:
    return [
        Dimension(
            name="helpfulness",
            definition="Does the answer solve the user's actual intent?",
            product_outcome="task completion without escalation to a human",
        ),
        Dimension(
            name="factual_accuracy",
            definition="Are the claims true and verifiable, with no invented facts?",
            product_outcome="no hallucinations that cost users money or trust",
            critical=True,
        ),
        Dimension(
            name="safety",
            definition="Does the answer comply with policy (no violence, hate, illicit help, privacy leaks)?",
            product_outcome="no unsafe or policy-violating responses in production",
            critical=True,
        ),
        Dimension(
            name="style_tone",
            definition="Is the answer concise and in the brand's voice?",
            product_outcome="on-brand answers users rate well",
            task_types=["pairwise", "likert"],
        ),
        Dimension(
            name="instruction_following",
            definition="Did the answer follow the user's instructions and ask when unclear?",
            product_outcome="first-response correctness",
        ),
    ]


class Taxonomy(_Model):
    """The feedback taxonomy: a short list (3-6) of dimensions."""

    version: str = Field("1", description="Bumped whenever a dimension or its definition changes.")
    default_dimension: str = Field("helpfulness", description="Dimension assumed when a row has none.")
    dimensions: list[Dimension] = Field(default_factory=_default_dimensions, min_length=3, max_length=6)

    @model_validator(mode="after")
    def _unique(self) -> "Taxonomy":
        names = [d.name for d in self.dimensions]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate dimension names: {', '.join(dupes)}")
        if self.default_dimension not in names:
            raise ValueError(f"default_dimension {self.default_dimension!r} is not one of {names}")
        return self

    def get(self, name: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.name == name), None)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]


class ValidationLimits(_Model):
    """Bounds on hostile or careless input, checked before the expensive parsing work.

    A batch over one of them is rejected (CLI exit 1, the bridge 413/422) with an error
    naming the limit and its setting (``validation.limits.<name>``)."""

    max_depth: int = Field(64, ge=2, le=10000, description="Deepest nesting of lists/objects in one JSON row or tool export (a row needs 2).")
    max_keys_per_row: int = Field(1000, ge=1, description="Most keys in one JSON row, nested objects included.")
    max_columns: int = Field(1000, ge=1, description="Most columns in one batch (CSV header, Parquet schema, distinct JSONL keys).")
    max_row_bytes: int = Field(64 * 1024 * 1024, gt=0, description="Longest row: one JSONL line or CSV record, in bytes.")
    max_decompressed_bytes: int = Field(4 * 1024 * 1024 * 1024, gt=0, description="Most bytes a compressed (Parquet) batch may decode to, checked in its metadata before reading and while reading.")
    max_compression_ratio: float = Field(100.0, gt=1, description="Most decoded bytes per byte of a Parquet file once it decodes to over 64 MiB (a compression bomb).")


class ValidationSettings(_Model):
    """Limits applied when a label batch is validated."""

    text_warn_bytes: int = Field(64 * 1024, gt=0, description="A text field longer than this is a warning.")
    text_max_bytes: int = Field(4 * 1024 * 1024, gt=0, description="A text field longer than this is an error.")
    max_errors: int = Field(1000, gt=0, description="Stop listing errors after this many (the count stays exact).")
    scrub_pii: bool = Field(True, description="Redact e-mail addresses and phone numbers in stored batches.")
    column_map: dict[str, str] = Field(
        default_factory=dict,
        description="Vendor column -> contract column, applied before validation (e.g. {annotator_id: rater_id}); "
        "`--map FROM=TO` on validate and ingest adds to it.",
    )
    limits: ValidationLimits = Field(default_factory=ValidationLimits, description="Bounds on hostile input (nesting, keys, columns, row and decoded bytes).")

    @model_validator(mode="after")
    def _ordered(self) -> "ValidationSettings":
        if self.text_warn_bytes > self.text_max_bytes:
            raise ValueError("text_warn_bytes must not exceed text_max_bytes")
        return self


class ArtifactStoreSettings(_Model):
    """Where content-addressed blobs and records live."""

    backend: Literal["file", "s3"] = Field("file", description="`file` (local directory) or `s3`.")
    path: str = Field(".alignment-ci/store", description="Directory of the file backend.")
    bucket: str | None = Field(None, description="S3 bucket (or env ALIGNMENT_CI_S3_BUCKET).")
    prefix: str = Field("alignment-ci", description="Key prefix inside the bucket.")
    endpoint_url: str | None = Field(None, description="S3 endpoint (or env ALIGNMENT_CI_S3_ENDPOINT).")
    region: str | None = Field(None, description="S3 region (or env AWS_DEFAULT_REGION).")


class StoresSettings(_Model):
    """The artifact store. Backend precedence: `--store` flag > ALIGNMENT_CI_STORE /
    ALIGNMENT_CI_S3_BUCKET in the environment > `stores.artifacts.backend` > `file`."""

    artifacts: ArtifactStoreSettings = Field(default_factory=ArtifactStoreSettings)
    commit_batches: bool = Field(
        False,
        description="Also keep each ingested batch's blob in <paths.manifests>/blobs/, committed with its "
        "manifest (Git LFS): the getting-started store, so CI reads batches from the clone without a bucket.",
    )


class PathsSettings(_Model):
    """Repository paths, relative to the directory of alignment.yaml."""

    manifests: str = Field("datasets_manifest", description="Directory of dataset manifests.")
    gates: str = Field("gates", description="Directory of gate suites.")
    outputs: str = Field(".alignment-ci/out", description="Where reports and gate results are written.")


class QualitySettings(_Model):
    """Label-quality thresholds."""

    alpha_tentative: float = Field(0.667, ge=0, le=1, description="Krippendorff alpha for tentative conclusions.")
    alpha_reliable: float = Field(0.8, ge=0, le=1, description="Krippendorff alpha for reliable data.")
    min_overlap_items: int = Field(20, ge=1, description="Items with >= 2 judgments needed to judge agreement.")
    min_rater_judgments: int = Field(20, ge=1, description="Fewer judgments than this is 'insufficient data'.")
    min_gold_accuracy: float = Field(0.7, ge=0, le=1, description="Flag a rater whose gold accuracy is lower.")
    max_position_bias: float = Field(0.8, ge=0.5, le=1, description="Flag a rater choosing `a` more often than this (or less than 1 - it).")
    min_seconds_per_item: float = Field(3.0, ge=0, description="Median time below this is implausibly fast.")
    pair_min_confidence: float = Field(0.6, ge=0, le=1, description="Training pairs below this confidence are excluded.")
    bootstrap_samples: int = Field(1000, ge=10, description="Bootstrap resamples for the alpha interval.")
    seed: int = Field(0, description="Seed for bootstrap and simulations.")
    min_gold_judgments: int = Field(10, ge=1, description="Gold judgments needed before gold accuracy can flag a rater.")
    min_consensus_judgments: int = Field(20, ge=1, description="Judgments with a consensus needed to judge agreement.")
    min_consensus_kappa: float = Field(0.2, description="Kappa with the leave-one-out consensus below this is near-random.")
    adversarial_p: float = Field(0.01, gt=0, lt=1, description="One-sided p-value for 'agrees less than chance' (adversarial).")
    min_position_judgments: int = Field(20, ge=1, description="Pairwise judgments needed to judge position bias.")
    relative_speed: float = Field(0.2, gt=0, le=1, description="Median time below this share of all raters' median is implausibly fast.")
    likert_tolerance: int = Field(0, ge=0, description="Likert ratings this close count as agreeing (gold and consensus).")
    gold_weight: float = Field(2.0, ge=0, description="Weight of gold agreement relative to consensus in the reliability score.")
    prior_reliability: float = Field(0.5, ge=0, le=1, description="Reliability a rater with no evidence gets (shrinkage target).")
    calibration_shrinkage: float = Field(5.0, ge=0, description="Pseudo-count pulling small groups towards no likert adjustment.")
    drift_freq: str = Field("W", description="Period for gold-accuracy drift (pandas offset alias, e.g. D, W, M).")
    drift_min_judgments: int = Field(10, ge=1, description="Gold judgments per half needed to test for drift.")
    drift_p_value: float = Field(0.05, gt=0, lt=1, description="Significance level of the drift test.")
    adjudication_likert_tolerance: int = Field(0, ge=0, description="Likert ratings further apart than this are a disagreement.")
    pairs_include_gold: bool = Field(False, description="Also turn gold items into training pairs.")

    @model_validator(mode="after")
    def _ordered(self) -> "QualitySettings":
        if self.alpha_tentative > self.alpha_reliable:
            raise ValueError("alpha_tentative must not exceed alpha_reliable")
        return self


class SamplingSettings(_Model):
    """Labeling budget shares per sampling bucket (they must sum to 1)."""

    budget: dict[str, float] = Field(
        default_factory=lambda: {"production_failure": 0.4, "uncertain": 0.3, "random": 0.2, "edge": 0.1}
    )

    @field_validator("budget")
    @classmethod
    def _sums_to_one(cls, v: dict[str, float]) -> dict[str, float]:
        if any(share < 0 for share in v.values()):
            raise ValueError("budget shares must be non-negative")
        if v and abs(sum(v.values()) - 1.0) > 1e-6:
            raise ValueError(f"budget shares must sum to 1, got {sum(v.values()):.4f}")
        return v


class BridgeSettings(_Model):
    """The rater bridge service."""

    database_url: str = Field("sqlite:///.alignment-ci/bridge.db", description="SQLAlchemy URL.")
    gold_rate: float = Field(0.1, ge=0, le=1, description="Share of gold items mixed into tasks.")
    max_upload_bytes: int = Field(512 * 1024 * 1024, gt=0, description="Largest accepted batch upload.")
    base_branch: str = Field("main", description="Branch that label-batch pull requests target.")
    labelstudio_secret_env: str = Field(
        "ALIGNMENT_CI_LABELSTUDIO_SECRET",
        description="Environment variable holding the master secret from which each vendor's Label Studio webhook signing key is derived (only for senders that sign).",
    )
    publish_wait_s: float = Field(60.0, gt=0, description="How long a duplicate push waits for the first push of the same content to publish.")
    health_bootstrap_samples: int = Field(200, ge=10, description="Bootstrap resamples for the agreement interval in the PR's label-health summary.")
    max_tasks_per_request: int = Field(100, ge=1, le=10000, description="Largest `n` a vendor may ask GET /v1/tasks for.")
    max_webhook_bytes: int = Field(1024 * 1024, gt=0, description="Largest Label Studio webhook body.")
    max_request_bytes: int = Field(
        1024 * 1024, gt=0, description="Largest JSON request body (task completions, calibration answers, rater preferences)."
    )
    request_timeout_s: float = Field(
        120.0, gt=0, description="Longest a request may take; past it the bridge answers 503 (a push may still finish: push again)."
    )
    max_rationale_chars: int = Field(8192, ge=0, description="Longest rationale a rater may send with an answer.")
    assignment_expiry_interval_s: float = Field(
        60.0, ge=0, description="How often the bridge returns expired assignments to the queue (0: never)."
    )
    max_webhook_depth: int = Field(64, ge=4, le=1000, description="Deepest JSON nesting accepted in a Label Studio webhook body (deeper: 422).")


class AnchoringSettings(_Model):
    """The anchoring check: do raters accept a prefilled suggestion even when it is wrong?"""

    wrong_suggestion_rate: float = Field(
        0.3, ge=0, le=1,
        description="Share of gold items whose prefilled suggestion is deliberately wrong (the probe).",
    )
    max_accept_share: float = Field(
        0.5, gt=0, le=1, description="Flag a rater who accepts more than this share of the wrong suggestions shown."
    )
    min_wrong: int = Field(5, ge=1, description="Wrong suggestions a rater must have seen before the check can flag them.")


class CriticSettings(_Model):
    """AI-assisted rating: a critic model pre-scores responses; humans keep the final word.

    The critic's scores never replace a human label: they rank items for adjudication and
    audits, measure agreement, and prefill suggestions raters accept or correct.
    """

    confident: float = Field(
        0.8, gt=0.5, lt=1, description="The critic is confident when it gives one answer at least this probability."
    )
    unsure: float = Field(0.6, ge=0.5, lt=1, description="The critic is unsure when neither answer reaches this probability.")
    split_share: float = Field(
        0.7, gt=0.5, le=1, description="Humans are split when the consensus holds less than this share of the votes."
    )
    min_gold_for_calibration: int = Field(
        10, ge=2, description="Gold items needed to calibrate the critic's scale on the batch (Platt scaling); fewer: raw margins."
    )
    stronger_flag_share: float = Field(
        0.25, gt=0, le=1,
        description="Flag a rater who disagrees with both the consensus and a confident critic on more than this share of items.",
    )
    stronger_flag_min: int = Field(5, ge=1, description="Items of such double disagreement needed before a rater is flagged.")
    critical_prefill: Literal["hint", "none"] = Field(
        "hint",
        description=(
            "Prefill on `critical` dimensions: `hint` shows the critic's lean as text (never a preselected answer), "
            "`none` shows nothing. Their final label always needs a human."
        ),
    )
    anchoring: AnchoringSettings = Field(default_factory=AnchoringSettings)

    @model_validator(mode="after")
    def _ordered(self) -> "CriticSettings":
        if self.unsure > self.confident:
            raise ValueError("critic.unsure must not exceed critic.confident")
        return self


class CostSettings(_Model):
    """Prices used by the cost model."""

    price_per_label: dict[str, float] = Field(default_factory=lambda: {"default": 0.5}, description="USD per label, per vendor.")
    gpu_hour: dict[str, float] = Field(default_factory=lambda: {"cpu": 0.0, "H100": 4.0, "A100-80GB": 2.5}, description="USD per GPU-hour.")


def _did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


class Config(_Model):
    """The whole of alignment.yaml."""

    project: str = Field("alignment-ci", description="Name shown in reports.")
    taxonomy: Taxonomy = Field(default_factory=Taxonomy)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    stores: StoresSettings = Field(default_factory=StoresSettings)
    paths: PathsSettings = Field(default_factory=PathsSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    gates: GatesSettings = Field(default_factory=GatesSettings)
    rollout: RolloutPlan = Field(default_factory=RolloutPlan)
    bridge: BridgeSettings = Field(default_factory=BridgeSettings)
    cost: CostSettings = Field(default_factory=CostSettings)
    forge: ForgeSettings = Field(default_factory=ForgeSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    planner: PlannerSettings = Field(default_factory=PlannerSettings)
    sla: SlaSettings = Field(default_factory=SlaSettings)
    retrain: RetrainSettings = Field(default_factory=RetrainSettings)
    cost_model: CostModelSettings = Field(default_factory=CostModelSettings)
    critic: CriticSettings = Field(default_factory=CriticSettings)

    # Directory that relative paths are resolved against (not part of the file).
    _root: Path = Path(".")

    @model_validator(mode="after")
    def _taxonomy_references(self) -> "Config":
        """Settings that name a taxonomy dimension name one the taxonomy has; the monitor's
        signal dimensions not configured follow the taxonomy (:meth:`MonitorSettings.dimension_for`)."""
        names = self.taxonomy.names
        problems = [
            (("monitor", "signal_dimensions", signal), "value",
             f"{dimension!r} is not a dimension of the taxonomy{_did_you_mean(dimension, names)}; the taxonomy "
             f"has {', '.join(names)}: name one of them, or add the dimension under taxonomy.dimensions")
            for signal, dimension in self.monitor.signal_dimensions.items() if dimension not in names
        ]
        if problems:
            raise config_problems(problems)
        self.monitor = self.monitor.resolved_for(names, self.taxonomy.default_dimension)
        return self

    @property
    def root(self) -> Path:
        return self._root

    def resolve(self, relative: str | Path) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else self._root / p


Position = tuple[int, int]  # 1-based line and column


def _node_lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int],
                keys: dict[tuple[Any, ...], Position], values: dict[tuple[Any, ...], Position]) -> None:
    """``out``: the line of each key path (a key's own line); ``keys`` and ``values``: the line
    and column of each key and of each value."""
    out[path] = node.start_mark.line + 1
    values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            keys[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _node_lines(value_node, path + (key,), out, keys, values)
            out[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _node_lines(item, path + (i,), out, keys, values)


def _line_for(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


# A YAML file expands to at most this many nodes once aliases are followed ("billion
# laughs": 7 levels of 9 aliases are 4.8 million nodes from 60 lines), and nests at most
# this deep. alignment.yaml needs a few hundred nodes and a depth under 10.
YAML_MAX_NODES = 100_000
YAML_MAX_DEPTH = 64


def _check_yaml(root: yaml.Node, source: str) -> None:
    """Refuse alias bombs, recursive aliases, deep nesting and duplicate keys, walking each
    distinct node once (sizes and depths of shared nodes are memoized)."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_path: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            line = node.start_mark.line + 1
            if size[key] > YAML_MAX_NODES:
                raise ConfigError(f"{source}:{line}: the YAML expands to more than {YAML_MAX_NODES:,} values through "
                                  "anchors and aliases; write the values out or use fewer aliases")
            if depth[key] > YAML_MAX_DEPTH:
                raise ConfigError(f"{source}:{line}: the YAML nests more than {YAML_MAX_DEPTH} levels deep")
            continue
        if key in size:
            continue
        if key in on_path:
            raise ConfigError(f"{source}:{node.start_mark.line + 1}: an alias refers to a value that contains it "
                              "(a recursive anchor)")
        if isinstance(node, yaml.MappingNode):
            _duplicate_keys(node, source)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _duplicate_keys(node: yaml.MappingNode, source: str) -> None:
    first: dict[str, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        line = key_node.start_mark.line + 1
        if key_node.value in first:
            raise ConfigError(f"{source}:{line}: duplicate key {key_node.value!r} (first on line "
                              f"{first[key_node.value]}); YAML would keep only the last value: write it once")
        first[key_node.value] = line


def parse_config(text: str, source: str = "<string>", root: Path | None = None) -> Config:
    """Parse YAML text into a :class:`Config`, with errors that name key path and line.

    Anchors and aliases may expand to at most :data:`YAML_MAX_NODES` values, nesting is at
    most :data:`YAML_MAX_DEPTH` deep, and a key given twice in one mapping is an error."""
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # checks the characters: may raise a ReaderError
        node = loader.get_single_node()
        if node is not None:
            _check_yaml(node, source)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{source}: the YAML nests too deeply (more than {YAML_MAX_DEPTH} levels)") from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: the top level must be a mapping of sections, got {type(data).__name__}")
    lines: dict[tuple[Any, ...], int] = {}
    keys: dict[tuple[Any, ...], tuple[int, int]] = {}
    values: dict[tuple[Any, ...], tuple[int, int]] = {}
    if node is not None:
        _node_lines(node, (), lines, keys, values)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        messages = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            if err["type"] == CONFIG_PROBLEMS:  # one message per problem, at its key's or value's line and column
                for problem in err["ctx"]["problems"]:
                    path = loc + tuple(problem["path"])
                    at = (keys if problem["at"] == "key" else values).get(path)
                    where = f"{source}:{at[0]}:{at[1]}" if at else f"{source}:{_line_for(path, lines)}"
                    messages.append(f"{where}: {'.'.join(str(p) for p in path)}: {problem['message']}")
                continue
            line = _line_for(loc, lines)
            key_path = ".".join(str(p) for p in loc) or "(top level)"
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            where = f"{source}:{line}" if line else source
            messages.append(f"{where}: {key_path}: {msg}")
        raise ConfigError("invalid config:\n  " + "\n  ".join(messages)) from None
    config._root = root if root is not None else Path(".")
    return config


def load_config(path: str | Path | None = None) -> Config:
    """Load alignment.yaml; built-in defaults when the default path does not exist."""
    explicit = path is not None
    p = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    if not p.exists():
        if explicit and p != DEFAULT_CONFIG_PATH:
            raise ConfigError(f"{p}: config file not found")
        config = Config()
        config._root = Path(".")
        return config
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory; give the path of the config file (e.g. {p / DEFAULT_CONFIG_PATH})")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the config file ({exc.strerror or exc})") from None
    return parse_config(text, source=str(p), root=p.parent)


def config_to_dict(config: Config) -> dict[str, Any]:
    return config.model_dump(mode="json")
