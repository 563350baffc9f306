"""What the gates are run on: the candidate and baseline models, the gold and eval sets,
the red-team suite and the settings, resolved in layers and loaded lazily.

A model set (candidate or baseline) is resolved by :func:`resolve_models`: directories
first (``--candidate-rm DIR`` / ``--candidate-policy DIR``), then a candidate record
(``--candidate ID``, or the run key of any run in it; see :mod:`alignment_ci.candidates`),
then the defaults: the latest candidate record for the candidate, the production baseline
for the baseline. A model set that cannot be resolved is kept with its ``problem`` (a
sentence saying what is missing and what to pass); gates that need it are then
inconclusive with that reason. Nothing is loaded until a gate asks for it, and each model
is loaded once per session.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..candidates import CANDIDATES_KIND, ROLES, make_candidate, production_baseline, resolve_candidate
from ..config import Config, PathsSettings, load_config
from ..data.manifest import StoredBatch, load_stored_batches
from ..errors import AlignmentCIError
from ..errors import InputError
from ..evals.datasets import load_eval_set, load_gold_set
from ..evals.generation import Policy
from ..evals.safety import load_red_team
from ..evals.scoring import RewardModel
from ..store import open_store
from ..train.runs import latest_run, model_dir_for
from .results import Inconclusive, NotApplicable
from .settings import GatesSettings


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
    "batches": "ALIGNMENT_CI_BATCHES",
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
    batches: str | None = None

    def with_env(self) -> "GateOptions":
        values = {k: getattr(self, k) or os.environ.get(ENV[k]) or None for k in ENV}
        return GateOptions(**values)


@dataclass
class ModelSet:
    """The models of a candidate (or the baseline): a reward model, a policy and the policy's
    reference (its SFT model), with where they came from.

    ``reward_model``, ``policy`` and ``reference`` are directories; :meth:`require_reward_model`,
    :meth:`require_policy` and :meth:`require_reference` load them (once) or raise
    :class:`Inconclusive` with a reason a reviewer can act on: a gate that needs a model the
    candidate lacks cannot decide, and says so (it never passes quietly as skipped).
    """

    role: str
    reward_model: Path | None = None
    policy: Path | None = None
    reference: Path | None = None
    run_key: str | None = None
    record: dict[str, Any] | None = None
    candidate_id: str | None = None
    source: str = ""
    problem: str | None = None
    first_model: bool = False
    _rm: Any = field(default=None, repr=False)
    _policy: Any = field(default=None, repr=False)
    _reference: Any = field(default=None, repr=False)

    @property
    def present(self) -> bool:
        return self.reward_model is not None or self.policy is not None

    def describe(self) -> dict[str, Any]:
        return {
            "candidate_id": self.candidate_id,
            "run_key": self.run_key,
            "reward_model": str(self.reward_model) if self.reward_model else None,
            "policy": str(self.policy) if self.policy else None,
            "reference": str(self.reference) if self.reference else None,
            "runs": {s: r.get("run_key") for s, r in ((self.record or {}).get("runs") or {}).items()} or None,
            "artifact": (self.record or {}).get("artifact"),
            "source": self.source,
            "problem": self.problem,
            "first_model": self.first_model,
        }

    def _missing(self, what: str) -> Exception:
        if not self.present:
            return Inconclusive(f"no {self.role}: {self.problem or 'nothing resolved'}")
        hint = ("pass the candidate record (`alignment-ci train` prints its id) or --candidate-"
                + {"reward model": "rm", "policy": "policy", "reference model": "policy"}[what] + " DIR")
        return Inconclusive(f"the {self.role} ({self.source}) has no {what}: {hint}")

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

    def require_reference(self) -> Any:
        """The loaded reference policy (the SFT model the policy started from)."""
        if self.reference is None:
            raise self._missing("reference model")
        if self._reference is None:
            self._reference = Policy(self.reference)
        return self._reference


def _check_dir(path: str, flag: str) -> tuple[Path | None, str | None]:
    p = Path(path).expanduser()
    if not (p / "config.json").is_file():
        return None, f"{flag} {p}: not a saved model directory (no config.json)"
    return p, None


def _from_candidate(ms: ModelSet, config: Config, candidate: dict[str, Any], store: Any) -> None:
    """Fill the roles the candidate record names (directories already given win)."""
    runs = candidate.get("runs") or {}
    for role in ROLES:
        stage = candidate.get(role)
        entry = runs.get(stage) if stage else None
        if entry and entry.get("artifact") and getattr(ms, role) is None:
            setattr(ms, role, Path(model_dir_for(config, entry, store)))
    ms.record = candidate
    ms.candidate_id = candidate.get("candidate_id") if candidate.get("recorded", True) else None
    policy = candidate.get("policy")
    ms.run_key = (runs.get(policy) or runs.get("reward") or {}).get("run_key")


def _describe_candidate(candidate: dict[str, Any]) -> str:
    runs = candidate.get("runs") or {}
    parts = ", ".join(f"{s} {r['run_key'][:12]}" for s, r in runs.items())
    if candidate.get("recorded", True):
        return f"candidate {candidate['candidate_id'][:12]} ({parts})"
    return f"run {parts} (not in a candidate record)"


def resolve_models(role: str, config: Config, *, run: str | None, rm_dir: str | None, policy_dir: str | None,
                   default_latest: bool, reference_dir: str | None = None, store: Any = None) -> ModelSet:
    """Resolve one model set, first match wins per model:

    1. directories (``--{role}-rm``, ``--{role}-policy``);
    2. ``run``: a candidate record id, or a run key of any run in one
       (:func:`alignment_ci.candidates.resolve_candidate`); every role it names;
    3. the candidate (``default_latest``): the most recent candidate record, else the latest
       reward run; the baseline: the production baseline
       (:func:`alignment_ci.candidates.production_baseline`), else ``first_model``.
    """
    ms = ModelSet(role)
    problems, sources = [], []
    for path, flag, attr in ((rm_dir, f"--{role}-rm", "reward_model"), (policy_dir, f"--{role}-policy", "policy"),
                             (reference_dir, f"--{role}-reference", "reference")):
        if path:
            found, problem = _check_dir(path, flag)
            if found is not None:
                setattr(ms, attr, found)
                sources.append(f"{flag} {found}")
            else:
                problems.append(problem)
    given = bool(run or rm_dir or policy_dir or reference_dir)
    try:
        store = store if store is not None else open_store(config)
        if run:
            try:
                candidate = resolve_candidate(store, run)
                _from_candidate(ms, config, candidate, store)
                sources.append(_describe_candidate(candidate))
            except AlignmentCIError as exc:
                problems.append(f"--{role} {run}: {exc}")
        elif not given and default_latest:
            records = [r for _, r in store.iter_records(CANDIDATES_KIND)]
            latest = max(records, key=lambda r: r.get("created_at", ""), default=None)
            if latest is not None:
                _from_candidate(ms, config, latest, store)
                sources.append(f"latest {_describe_candidate(latest)}")
            else:
                record = latest_run(config, "reward", store)
                if record is not None:
                    candidate = make_candidate([record])
                    _from_candidate(ms, config, {**candidate, "recorded": False}, store)
                    sources.append(f"latest reward run {record['run_key'][:12]} (no candidate record)")
        elif not given:
            baseline = production_baseline(store)
            if baseline is not None and baseline.get("candidate"):
                _from_candidate(ms, config, baseline["candidate"], store)
                sources.append(f"production baseline #{baseline['seq']}: {_describe_candidate(baseline['candidate'])}")
            elif baseline is None:
                ms.first_model = True
    except AlignmentCIError as exc:
        problems.append(f"{role}: {exc}")
    ms.source = "; ".join(sources)
    if problems:
        ms.problem = "; ".join(problems)
    elif not ms.present:
        if ms.first_model:
            ms.problem = ("first model: no baseline (no production baseline is recorded: a rollout that reaches 100% "
                          "records one, or `alignment-ci baseline set CANDIDATE`)")
        else:
            ms.problem = (f"no {role} given: pass --{role} CANDIDATE (a candidate id or a run key), or --{role}-rm DIR "
                          f"and/or --{role}-policy DIR" + (" (and no candidate or reward run is in the store)"
                                                           if default_latest else ""))
    return ms


def load_settings(config: Config | None, override_file: str | None) -> GatesSettings:
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


def results_dir_for(options: GateOptions, config: Config | None = None, settings: GatesSettings | None = None) -> Path:
    """Where ``gates.json`` and ``gates.junit.xml`` go, the one place this is decided:
    ``--results-dir`` (``ALIGNMENT_CI_GATE_RESULTS``), else ``gates.results_dir``, else
    ``<paths.outputs>/gates``; relative paths resolve against the config's directory (the
    working directory when no config could be read)."""
    chosen = options.results_dir or (settings.results_dir if settings is not None else None)
    if config is not None:
        return config.resolve(chosen) if chosen else config.resolve(config.paths.outputs) / "gates"
    if chosen:
        return Path(chosen)

    return Path(PathsSettings().outputs) / "gates"


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
        self._batches: Any = None

    @property
    def results_dir(self) -> Path:
        return results_dir_for(self.options, self.config, self.settings)

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

    def label_batches(self) -> list[StoredBatch]:
        """The label batches the label-quality gate judges (read once): ``--batches`` (batch ids
        or manifest paths, comma-separated), else the batches the candidate was trained on,
        else every ingested batch."""
        if self._batches is None:
            refs = [r.strip() for r in (self.options.batches or "").split(",") if r.strip()]
            if not refs:
                refs = list((self.candidate.record or {}).get("batch_ids") or [])
            self._batches = load_stored_batches(self.config, refs or None)
        return self._batches

    def describe(self) -> dict[str, Any]:
        return {"candidate": self.candidate.describe(), "baseline": self.baseline.describe()}

    def data_used(self) -> dict[str, Any]:
        """The data sets the gates of this session loaded (none is loaded here)."""
        data: dict[str, Any] = {}
        if self._gold is not None:
            data["gold"] = {"source": self._gold.source, "pairs": len(self._gold.pairs), "excluded": self._gold.excluded}
        if self._eval is not None:
            data["eval"] = {"source": self.eval_source(), "rows": len(self._eval)}
        if self._batches is not None:
            data["batches"] = [{"batch_id": b.batch_id, "vendor": b.vendor, "excluded_raters": b.excluded_raters}
                               for b in self._batches]
        if self._suite is not None:
            data["safety_suite"] = {"name": self._suite.name, "path": str(self._suite.path), "items": len(self._suite.items)}
        return data
