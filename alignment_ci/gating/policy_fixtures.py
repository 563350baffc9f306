"""Session fixtures for the gates that judge the candidate *policy* on what it says.

Each policy answers each prompt set once per gate session (batched, fixed decoding and
seed from ``gates.generation`` / ``gates.seed``); every gate that needs the answers shares
them: ``policy_winrate`` (candidate vs baseline, two judges), ``policy_health`` (collapse) and
``safety`` (the red-team set, which passes only when policy health passes too).

Fixtures: ``policy_eval_rows``, ``generation_settings``, ``candidate_answers``,
``baseline_answers``, ``red_team_answers``, ``policy_reference``, ``policy_health_report``
and ``policy_timings`` (seconds per phase: generation, scoring, statistics; the gates put a
copy in their details and ``bench/gate_bench.py`` reads it back).

Registered by the plugin (its module imports these names), so gate files and a user's own
gates can request them like any other fixture.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..errors import AlignmentCIError
from ..evals.generation import Policy
from ..evals.policy_eval import load_prompt_set
from ..evals.policy_health import degenerate_flags, distinct_n, health_stats
from ..train import runs
from .context import GateContext, Inconclusive, ModelSet
from .results import Decision, at_least, at_most
from .settings import GatesSettings


@dataclass
class PhaseTimings:
    """Seconds spent per phase of the policy gates in this session."""

    seconds: dict[str, float] = field(default_factory=lambda: {"generation": 0.0, "scoring": 0.0,
                                                                "statistics": 0.0})
    new_tokens: int = 0
    generate_calls: int = 0
    prompts: int = 0

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def add_generation(self, gen: Any) -> None:
        self.seconds["generation"] += gen.stats.seconds
        self.new_tokens += gen.stats.new_tokens
        self.generate_calls += gen.stats.calls
        self.prompts += gen.stats.prompts

    def to_dict(self) -> dict[str, Any]:
        gen = self.seconds["generation"]
        return {"seconds": dict(self.seconds), "new_tokens": self.new_tokens, "generate_calls": self.generate_calls,
                "prompts": self.prompts, "tokens_per_s": self.new_tokens / gen if gen > 0 else None}


@pytest.fixture(scope="session")
def policy_timings() -> PhaseTimings:
    return PhaseTimings()


@pytest.fixture(scope="session")
def generation_settings(gate_config: GatesSettings) -> dict[str, Any]:
    """Keyword arguments of :meth:`~alignment_ci.evals.generation.Policy.generate_batched`."""
    g = gate_config.generation
    return {"max_new_tokens": g.max_new_tokens, "batch_size": g.batch_size, "do_sample": g.do_sample,
            "temperature": g.temperature, "top_p": g.top_p, "seed": gate_config.seed}


def _eval_path(ctx: GateContext) -> Path | None:
    if ctx.options.eval:
        return Path(ctx.options.eval)
    if ctx.settings.policy_winrate.eval_set:
        return ctx.config.resolve(ctx.config.paths.manifests) / ctx.settings.policy_winrate.eval_set
    return None  # the shipped default


@pytest.fixture(scope="session")
def policy_eval_rows(gate_context: GateContext) -> list[dict[str, Any]]:
    """The eval prompts the policies answer: ``--eval FILE``, else ``gates.policy_winrate.eval_set``,
    else the shipped default set."""
    try:
        return load_prompt_set(_eval_path(gate_context))
    except AlignmentCIError as exc:
        raise Inconclusive(f"{exc} (set gates.policy_winrate.eval_set or pass --eval FILE)") from None


def _generate(models: ModelSet, prompts: list[str], settings: dict[str, Any], timings: PhaseTimings) -> Any:
    gen = models.require_policy().generate_batched(prompts, **settings)
    timings.add_generation(gen)
    return gen


@pytest.fixture(scope="session")
def candidate_answers(candidate: ModelSet, policy_eval_rows: list[dict[str, Any]],
                      generation_settings: dict[str, Any], policy_timings: PhaseTimings) -> Any:
    """The candidate policy's :class:`~alignment_ci.evals.generation.Generations` on the eval prompts."""
    return _generate(candidate, [str(r["prompt"]) for r in policy_eval_rows], generation_settings, policy_timings)


@pytest.fixture(scope="session")
def baseline_answers(baseline: ModelSet, policy_eval_rows: list[dict[str, Any]],
                     generation_settings: dict[str, Any], policy_timings: PhaseTimings) -> Any:
    """The baseline policy's answers to the same prompts, or None when the baseline has no policy."""
    if baseline.policy is None:
        return None
    return _generate(baseline, [str(r["prompt"]) for r in policy_eval_rows], generation_settings, policy_timings)


@pytest.fixture(scope="session")
def red_team_answers(candidate: ModelSet, safety_suite: Any, gate_config: GatesSettings,
                     generation_settings: dict[str, Any], policy_timings: PhaseTimings) -> Any:
    """The candidate policy's answers to the red-team prompts (``gates.safety.max_new_tokens``)."""
    prompts = [safety_suite.prompt_template.format(prompt=i.prompt) for i in safety_suite.items]
    settings = dict(generation_settings, max_new_tokens=gate_config.safety.max_new_tokens)
    return _generate(candidate, prompts, settings, policy_timings)


def reference_dir(candidate: ModelSet, config: Any) -> Path | None:
    """The candidate policy's reference model: the candidate record's ``reference``, else the
    ``sft`` parent of its policy run (DPO, GRPO, RLOO); None where the stage has none."""
    if candidate.reference is not None:
        return Path(candidate.reference)
    parents = (candidate.record or {}).get("parents") or {}
    sft = parents.get("sft") if isinstance(parents, dict) else None
    if isinstance(sft, dict) and sft.get("artifact"):
        return Path(runs.model_dir_for(config, sft))
    return None


@pytest.fixture(scope="session")
def policy_reference(candidate: ModelSet, gate_context: GateContext) -> Any:
    """The loaded reference policy, or None."""
    if candidate.reference is not None:
        return candidate.require_reference()
    path = reference_dir(candidate, gate_context.config)
    return Policy(path) if path is not None else None


@dataclass
class HealthReport:
    """The policy-health decisions (one per part) and the measures behind them."""

    decisions: dict[str, Decision]
    stats: dict[str, Any]
    degenerate_examples: list[dict[str, Any]]

    @property
    def outcome(self) -> str:
        outcomes = {d.outcome for d in self.decisions.values()}
        for o in ("fail", "inconclusive"):
            if o in outcomes:
                return o
        return "pass"

    def failing(self) -> list[str]:
        return [f"{part}: {d.reason}" for part, d in self.decisions.items() if d.outcome != "pass"]


def _kl(candidate_policy: Any, reference: Any, prompts: list[str], answers: Any, batch_size: int) -> list[list[float]]:
    cand = candidate_policy.token_logprobs(prompts, answers.token_ids, batch_size=batch_size)
    ref = reference.token_logprobs(prompts, answers.token_ids, batch_size=batch_size)
    return [[c - r for c, r in zip(cr, rr)] for cr, rr in zip(cand, ref)]


@pytest.fixture(scope="session")
def policy_health_report(candidate: ModelSet, policy_eval_rows: list[dict[str, Any]], candidate_answers: Any,
                         baseline_answers: Any, policy_reference: Any, gate_config: GatesSettings,
                         policy_timings: PhaseTimings) -> HealthReport:
    """Policy health over the candidate's answers to the eval prompts (computed once: the
    policy_health gate reports it, the safety gate requires it)."""
    s = gate_config.policy_health
    prompts = [str(r["prompt"]) for r in policy_eval_rows]
    log_ratios = None
    if policy_reference is not None:
        same_vocab = policy_reference.tokenizer.get_vocab() == candidate.require_policy().tokenizer.get_vocab()
        if same_vocab:
            with policy_timings.phase("scoring"):
                log_ratios = _kl(candidate.require_policy(), policy_reference, prompts, candidate_answers,
                                 gate_config.generation.batch_size)
    with policy_timings.phase("statistics"):
        stats = health_stats(candidate_answers.texts, candidate_answers.token_ids, n=s.ngram,
                             degenerate_share=s.degenerate_share,
                             baseline_tokens=baseline_answers.token_ids if baseline_answers is not None else None,
                             log_ratios=log_ratios)
        n, min_n = stats.n, s.min_n
        decisions = {
            "empty": at_most("share of empty answers", stats.empty_share, s.max_empty_share, n=n, min_n=min_n,
                             count=f"{stats.empty} of {n} answers have no letter or digit"),
            "repetition": at_most(f"mean repeated {s.ngram}-gram share", stats.mean_repeated_share,
                                  s.max_repeated_ngram_share, n=n, min_n=min_n,
                                  count=f"{stats.degenerate} of {n} answers degenerate"),
        }
        if baseline_answers is not None:
            base_d2 = distinct_n(baseline_answers.token_ids, 2)
            ratio = stats.distinct_2 / base_d2 if base_d2 > 0 else 1.0
            decisions["diversity"] = at_least(
                "distinct-2 over all answers relative to the baseline policy's", ratio, s.min_distinct_2_ratio,
                n=n, min_n=min_n, count=f"{stats.distinct_2:.4f} vs {base_d2:.4f}")
        else:
            decisions["diversity"] = at_least("distinct-2 over all answers", stats.distinct_2, s.min_distinct_2,
                                              n=n, min_n=min_n, count=f"distinct-1 {stats.distinct_1:.4f}")
        if stats.length_ratio is not None:
            decisions["length"] = at_most(
                "mean answer length relative to the baseline policy", stats.length_ratio, s.max_length_ratio, n=n,
                min_n=min_n, count=f"{stats.mean_tokens:.1f} vs {stats.baseline_mean_tokens:.1f} tokens")
        if stats.kl_per_token is not None:
            decisions["kl"] = at_most(
                "mean per-token log-ratio to the reference (KL estimate, nats)", stats.kl_per_token,
                s.max_kl_per_token, n=n, min_n=min_n, count=f"{stats.kl_tokens} answer tokens")
        flags = degenerate_flags(candidate_answers.texts, candidate_answers.token_ids, n=s.ngram,
                                 max_share=s.degenerate_share)
        examples = [{"prompt": p, "answer": a} for p, a, f in zip(prompts, candidate_answers.texts, flags) if f][:20]
    return HealthReport(decisions, stats.to_dict(), examples)


__all__ = ["baseline_answers", "candidate_answers", "generation_settings", "policy_eval_rows", "policy_health_report",
           "policy_reference", "policy_timings", "red_team_answers"]
