"""The pytest plugin that turns a directory of pytest files into merge gates: its options and
fixtures. The session state and the hooks are :class:`~alignment_ci.gating.session.GateSession`,
registered here per pytest session; the outcome rules are :mod:`alignment_ci.gating.outcomes`.

Registered through the ``pytest11`` entry point (``alignment_ci =
"alignment_ci.gating.plugin"``) or loaded with ``-p alignment_ci.gating.plugin``.

A gate is a test function marked ``@pytest.mark.gate(name, blocking=True, repeat=1,
min_pass=None)``. It reads its inputs from fixtures and records what it decided through
the ``gate`` fixture (``gate.record(decision)``, one per slice if it likes); a plain
``assert`` works too. Outcomes:

- ``pass``; ``fail`` (a recorded fail, a failed assert, or an exception in the gate);
- ``inconclusive``: not enough data to decide, no candidate, or a candidate that lacks what
  the gate needs (raise :class:`~alignment_ci.gating.context.Inconclusive` or record it).
  Blocks unless ``gates.inconclusive_blocks`` is false;
- ``skipped``: the gate is turned off in the config (``gates.disabled``), or a gate says it
  does not apply (:class:`~alignment_ci.gating.context.NotApplicable`).

``blocking=False`` (or the gate's name in ``gates.shadow``) makes a shadow gate: it runs and
is reported, and never blocks (Argo Rollouts' dryRun). A stochastic gate runs ``repeat``
times (run ``k`` sees ``gate.seed == gates.seed + k``) and passes only when at least
``min_pass`` runs pass (default: all), so a flaky gate does not pass by luck.

At the end of the session the plugin writes ``gates.json`` and ``gates.junit.xml`` into the
results directory, whatever the outcome (a failing gate still produces its report), and
makes pytest's exit status the verdict: 0 pass, 1 blocked. It does nothing in a session
that collected no gate (so it can stay installed for the project's own tests).

Fixtures: ``candidate``, ``baseline`` (:class:`~alignment_ci.gating.context.ModelSet`),
``reward_model`` (the candidate's loaded reward model), ``gold_set``, ``eval_set``,
``held_out_pairs``, ``slices``, ``safety_suite``, ``label_batches``, ``gate_config``
(:class:`GatesSettings`), ``gate_context`` and ``gate``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from ..errors import AlignmentCIError
from ..evals.datasets import slice_rows
from .context import ENV, GateContext, GateOptions, Inconclusive, ModelSet
from .outcomes import MARKER
from .policy_fixtures import *  # noqa: F403 - the policy gates' session fixtures, registered with the plugin
from .recorder import GateRecorder
from .results import GateReport
from .session import SESSION_KEY, GateSession, gate_session
from .settings import GatesSettings

T = TypeVar("T")

OPTION_HELP = {
    "candidate": "Candidate: a candidate record id, or the run key of any run in it (reward, SFT, DPO, ...).",
    "candidate_rm": "Candidate reward-model directory.",
    "candidate_policy": "Candidate policy directory.",
    "baseline": "Baseline: a candidate record id or run key (default: the production baseline).",
    "baseline_rm": "Baseline reward-model directory.",
    "baseline_policy": "Baseline policy directory.",
    "gold": "Gold set: a label batch (its gold items) or a pairs JSONL (default: gold items of ingested batches).",
    "eval": "Held-out eval set JSONL/YAML (default: the gold pairs).",
    "results_dir": "Directory for gates.json and gates.junit.xml.",
    "alignment_config": "alignment.yaml to read (default ./alignment.yaml).",
    "gates_settings": "YAML/JSON file of GatesSettings fields merged over the config's gates section.",
    "safety_suite": "Red-team prompt set (default: gates.safety.suite under paths.manifests).",
    "batches": "Label batches of the PR, comma-separated batch ids or manifest paths (default: every ingested batch).",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("alignment-ci", "alignment-ci gates")
    for key, env in ENV.items():
        flag = "--" + key.replace("_", "-")
        group.addoption(flag, dest=f"alignment_ci_{key}", default=None, metavar="VALUE",
                        help=f"{OPTION_HELP[key]} Env: {env}.")
    group.addoption("--alignment-ci-gates", dest="alignment_ci_gates", action="store_true", default=False,
                    help="Treat every test of this session as a gate and always write the gate report "
                    "(set by `alignment-ci gate`).")


def options_from(config: pytest.Config) -> GateOptions:
    return GateOptions(**{k: config.getoption(f"alignment_ci_{k}") for k in ENV})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gate(name, blocking=True, repeat=None, min_pass=None): an alignment-ci merge gate; "
        "blocking=False is a shadow gate that reports but never blocks",
    )
    session = GateSession(options_from(config), active=bool(config.getoption("alignment_ci_gates")))
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, f"alignment-ci-gate-session-{id(config)}")


def gate_report(config: pytest.Config) -> GateReport | None:
    """The report of a finished session (what was written to gates.json)."""
    return gate_session(config).report


# ---------------------------------------------------------------------- fixtures


def _as_inconclusive(fn: Callable[[], T]) -> T:
    """Input problems (missing file, bad batch) make the gates that need it inconclusive."""

    try:
        return fn()
    except AlignmentCIError as exc:
        raise Inconclusive(str(exc)) from None


@pytest.fixture
def gate(request: pytest.FixtureRequest) -> GateRecorder:
    """Records this gate's decisions (see :class:`GateRecorder`)."""
    return gate_session(request.config).recorder(request.node)


@pytest.fixture(scope="session")
def gate_context(request: pytest.FixtureRequest) -> GateContext:
    return _as_inconclusive(gate_session(request.config).get_context)


@pytest.fixture(scope="session")
def gate_config(gate_context: GateContext) -> GatesSettings:
    """The resolved :class:`GatesSettings`."""
    return gate_context.settings


@pytest.fixture(scope="session")
def candidate(gate_context: GateContext) -> ModelSet:
    """The candidate's reward model, policy and reference (resolved, loaded on first use)."""
    return gate_context.candidate


@pytest.fixture(scope="session")
def baseline(gate_context: GateContext) -> ModelSet:
    """The baseline's reward model, policy and reference (resolved, loaded on first use)."""
    return gate_context.baseline


@pytest.fixture(scope="session")
def reward_model(candidate: ModelSet) -> Any:
    """The candidate's loaded reward model; inconclusive when the candidate has none."""
    return candidate.require_reward_model()


@pytest.fixture(scope="session")
def gold_set(gate_context: GateContext) -> Any:
    """The gold :class:`~alignment_ci.evals.datasets.PairSet`."""
    return _as_inconclusive(gate_context.gold_set)


@pytest.fixture(scope="session")
def eval_set(gate_context: GateContext) -> list[dict[str, Any]]:
    """Held-out eval rows (``--eval``), else the gold pairs."""
    return _as_inconclusive(gate_context.eval_set)


@pytest.fixture(scope="session")
def held_out_pairs(eval_set: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The eval rows that are preference pairs (``prompt``, ``chosen``, ``rejected``)."""
    return [r for r in eval_set if r.get("chosen") and r.get("rejected")]


@pytest.fixture(scope="session")
def slices(eval_set: list[dict[str, Any]], gate_config: GatesSettings) -> dict[str, list[dict[str, Any]]]:
    """``{"all": rows, "dimension=helpfulness": rows, ...}`` over ``gates.regression.slice_keys``."""

    return slice_rows(eval_set, gate_config.regression.slice_keys)


@pytest.fixture(scope="session")
def label_batches(gate_context: GateContext) -> list[Any]:
    """The PR's label batches (:class:`~alignment_ci.data.manifest.StoredBatch`): ``--batches``, else
    the candidate's training batches, else every ingested batch."""
    return _as_inconclusive(gate_context.label_batches)


@pytest.fixture(scope="session")
def safety_suite(gate_context: GateContext) -> Any:
    """The red-team :class:`~alignment_ci.evals.safety.RedTeamSuite`."""
    return _as_inconclusive(gate_context.safety_suite)


__all__ = ["MARKER", "GateRecorder", "gate_report", "options_from"]
