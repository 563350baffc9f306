"""What the gates are run on: the candidate and baseline models, the gold and eval sets,
the red-team suite and the settings, resolved in layers and loaded lazily.

Resolution of a model set (candidate or baseline), first match wins:

1. directories: ``--candidate-rm DIR`` / ``--candidate-policy DIR`` (env
   ``ALIGNMENT_CI_CANDIDATE_RM`` / ``ALIGNMENT_CI_CANDIDATE_POLICY``; ``BASELINE`` alike);
2. a run key: ``--candidate RUN`` (env ``ALIGNMENT_CI_CANDIDATE``), looked up with
   :func:`alignment_ci.train.runs.get_run` and materialized with ``model_dir_for``. A
   reward run gives the reward model; any other stage gives the policy, and a parent run of
   stage ``reward`` gives its reward model;
3. the candidate only: the latest ``reward`` run in the store (``latest_run``).

A model set that cannot be resolved is kept with its ``problem`` (a sentence saying what
is missing and what to pass); gates that need it are then inconclusive with that reason.
Nothing is loaded until a gate asks for it, and each model is loaded once per session.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import load_config
from ..errors import AlignmentCIError
from ..errors import InputError
from ..evals.datasets import load_eval_set, load_gold_set
from ..evals.generation import Policy
from ..evals.safety import load_red_team
from ..evals.scoring import RewardModel
from ..train import runs
from .settings import GatesSettings


class Inconclusive(Exception):
    """Raised in a gate: not enough data (or no candidate) to decide. Blocks by default."""


class NotApplicable(Exception):
    """Raised in a gate: it does not apply to this candidate (reported as ``skipped``)."""


ENV = {
    "candidate": "ALIGNMENT_CI_CANDIDATE",
    "candidate_rm": "ALIGNMENT_CI_CANDIDATE_RM",
    "candidate_policy": "ALIGNMENT_CI_CANDIDATE_POLICY",
    "baseline": "ALIGNMENT_CI_BASELINE",
    "baseline_rm": "ALIGNMENT_CI_BASELINE_RM",
    "baseline_policy": "ALIGNMENT_CI_BASELINE_POLICY",
    "gold": "ALIGNMENT_CI_GOLD",
    "eval": "ALIGNMENT_CI_EVAL",
    "results_dir": "ALIGNMENT_CI_GATE_RESULTS",
    "alignment_config": "ALIGNMENT_CI_CONFIG",
    "gates_settings": "ALIGNMENT_CI_GATES_SETTINGS",
    "safety_suite": "ALIGNMENT_CI_SAFETY_SUITE",
}


@dataclass
class GateOptions:
    """The plugin's inputs, from pytest options with environment fallbacks."""

    candidate: str | None = None
    candidate_rm: str | None = None
    candidate_policy: str | None = None
    baseline: str | None = None
    baseline_rm: str | None = None
    baseline_policy: str | None = None
    gold: str | None = None
    eval: str | None = None
    results_dir: str | None = None
    alignment_config: str | None = None
    gates_settings: str | None = None
    safety_suite: str | None = None

    def with_env(self) -> "GateOptions":
        values = {k: getattr(self, k) or os.environ.get(ENV[k]) or None for k in ENV}
        return GateOptions(**values)


POLICY_STAGES = ("rloo", "grpo", "dpo", "sft")


@dataclass
class ModelSet:
    """A reward model and/or a policy, with where they came from.

    ``reward_model`` and ``policy`` are directories; :meth:`require_reward_model` and
    :meth:`require_policy` load them (once) or raise :class:`Inconclusive` /
    :class:`NotApplicable` with a reason a reviewer can act on.
    """

    role: str
    reward_model: Path | None = None
    policy: Path | None = None
    run_key: str | None = None
    record: dict[str, Any] | None = None
    source: str = ""
    problem: str | None = None
    _rm: Any = field(default=None, repr=False)
    _policy: Any = field(default=None, repr=False)

    @property
    def present(self) -> bool:
        return self.reward_model is not None or self.policy is not None

    def describe(self) -> dict[str, Any]:
        return {
            "run_key": self.run_key,
            "reward_model": str(self.reward_model) if self.reward_model else None,
            "policy": str(self.policy) if self.policy else None,
            "artifact": (self.record or {}).get("artifact"),
            "source": self.source,
            "problem": self.problem,
        }

    def _missing(self, what: str) -> Exception:
        if not self.present:
            return Inconclusive(f"no {self.role}: {self.problem or 'nothing resolved'}")
        return NotApplicable(f"the {self.role} ({self.source}) has no {what}")

    def require_reward_model(self) -> Any:
        """The loaded :class:`~alignment_ci.evals.scoring.RewardModel`."""
        if self.reward_model is None:
            raise self._missing("reward model")
        if self._rm is None:
            self._rm = RewardModel(self.reward_model)
        return self._rm

    def require_policy(self) -> Any:
        """The loaded :class:`~alignment_ci.evals.generation.Policy`."""
        if self.policy is None:
            raise self._missing("policy")
        if self._policy is None:
            self._policy = Policy(self.policy)
        return self._policy


def _check_dir(path: str, flag: str) -> tuple[Path | None, str | None]:
    p = Path(path).expanduser()
    if not (p / "config.json").is_file():
        return None, f"{flag} {p}: not a saved model directory (no config.json)"
    return p, None


def _runs_module() -> Any:
    return runs


def _from_record(ms: ModelSet, config: Any, record: dict[str, Any], runs: Any) -> None:
    """A reward run gives the reward model; another stage gives the policy, and its
    ``reward`` parent (GRPO/RLOO record ``parents: {reward: {run_key, artifact}}``) the RM."""
    path = Path(runs.model_dir_for(config, record))
    if record.get("stage") == "reward":
        ms.reward_model = ms.reward_model or path
        return
    ms.policy = ms.policy or path
    parents = record.get("parents") or {}
    reward_parent = parents.get("reward") if isinstance(parents, dict) else None
    if ms.reward_model is None and isinstance(reward_parent, dict) and reward_parent.get("artifact"):
        ms.reward_model = Path(runs.model_dir_for(config, reward_parent))


def resolve_models(role: str, config: Any, *, run: str | None, rm_dir: str | None, policy_dir: str | None,
                   default_latest: bool) -> ModelSet:
    """Resolve one model set (see the module docstring for the order)."""
    ms = ModelSet(role)
    problems, sources = [], []
    for path, flag, attr in ((rm_dir, f"--{role}-rm", "reward_model"), (policy_dir, f"--{role}-policy", "policy")):
        if path:
            found, problem = _check_dir(path, flag)
            if found is not None:
                setattr(ms, attr, found)
                sources.append(f"{flag} {found}")
            else:
                problems.append(problem)
    if run:
        runs = _runs_module()
        if runs is None:
            problems.append(f"--{role} {run}: run records are not available (alignment_ci.train.runs is missing); "
                            f"pass --{role}-rm DIR / --{role}-policy DIR instead")
        else:
            try:
                record = runs.get_run(config, run)
                if record is None and hasattr(runs, "find_run") and len(run) >= 8:
                    record = runs.find_run(config, run)  # a key prefix or an artifact hash
                if record is None:
                    problems.append(f"--{role} {run}: no run record with that key in the store; "
                                    "`alignment-ci train` prints the run_key of each run")
                else:
                    ms.run_key, ms.record = record.get("run_key", run), record
                    _from_record(ms, config, record, runs)
                    sources.append(f"run {run}")
            except AlignmentCIError as exc:
                problems.append(f"--{role} {run}: {exc}")
    if not ms.present and not problems and default_latest:
        runs = _runs_module()
        record = runs.latest_run(config, "reward") if runs is not None else None
        if record is not None:
            ms.run_key, ms.record = record.get("run_key"), record
            try:
                _from_record(ms, config, record, runs)
                sources.append(f"latest reward run {ms.run_key}")
            except AlignmentCIError as exc:
                problems.append(f"latest reward run {ms.run_key}: {exc}")
    ms.source = "; ".join(sources)
    if problems:
        ms.problem = "; ".join(problems)
    elif not ms.present:
        ms.problem = (f"no {role} given: pass --{role} RUN, or --{role}-rm DIR and/or --{role}-policy DIR"
                      + (" (and no reward run is in the store)" if default_latest else ""))
    return ms


def load_settings(config: Any, override_file: str | None) -> GatesSettings:
    """``GatesSettings`` from the config's ``gates:`` section, with a YAML/JSON file's keys
    (``--gates-settings FILE``) merged over it, key by key."""
    import yaml


    base = getattr(config, "gates", None)
    data: dict[str, Any] = base.model_dump() if base is not None else {}
    if override_file:
        p = Path(override_file)
        try:
            extra = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(f"gate settings {p}: cannot read: {exc}") from None
        if not isinstance(extra, dict):
            raise InputError(f"gate settings {p}: the top level must be a mapping of GatesSettings fields")
        data = _merge(data, extra)
    from pydantic import ValidationError

    try:
        return GatesSettings.model_validate(data)
    except ValidationError as exc:
        where = override_file or "alignment.yaml gates:"
        msgs = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InputError(f"gate settings ({where}): {msgs}") from None


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class GateContext:
    """Per-session state shared by the fixtures: config, settings, models, data sets."""

    def __init__(self, options: GateOptions) -> None:
        self.options = options.with_env()
        self.config = load_config(self.options.alignment_config)
        self.settings = load_settings(self.config, self.options.gates_settings)
        self._candidate: ModelSet | None = None
        self._baseline: ModelSet | None = None
        self._gold: Any = None
        self._eval: Any = None
        self._suite: Any = None

    @property
    def results_dir(self) -> Path:
        chosen = self.options.results_dir or self.settings.results_dir
        if chosen:
            return self.config.resolve(chosen)
        return self.config.resolve(self.config.paths.outputs) / "gates"

    @property
    def candidate(self) -> ModelSet:
        if self._candidate is None:
            o = self.options
            self._candidate = resolve_models("candidate", self.config, run=o.candidate, rm_dir=o.candidate_rm,
                                             policy_dir=o.candidate_policy, default_latest=True)
        return self._candidate

    @property
    def baseline(self) -> ModelSet:
        if self._baseline is None:
            o = self.options
            self._baseline = resolve_models("baseline", self.config, run=o.baseline, rm_dir=o.baseline_rm,
                                            policy_dir=o.baseline_policy, default_latest=False)
        return self._baseline

    def gold_set(self) -> Any:
        """The gold :class:`~alignment_ci.evals.datasets.PairSet` (loaded once)."""
        if self._gold is None:
            self._gold = load_gold_set(self.config, self.options.gold)
        return self._gold

    def eval_set(self) -> list[dict[str, Any]]:
        """Held-out eval rows: ``--eval FILE``, else the gold pairs."""
        if self._eval is None:
            self._eval = load_eval_set(self.options.eval) if self.options.eval else list(self.gold_set().pairs)
        return self._eval

    def eval_source(self) -> str:
        return self.options.eval or f"gold set ({self.gold_set().source})"

    def safety_suite(self) -> Any:
        if self._suite is None:
            path = self.options.safety_suite or self.config.resolve(self.config.paths.manifests) / self.settings.safety.suite
            self._suite = load_red_team(path)
        return self._suite

    def describe(self) -> dict[str, Any]:
        return {"candidate": self.candidate.describe(), "baseline": self.baseline.describe()}
