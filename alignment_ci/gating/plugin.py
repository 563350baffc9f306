"""The pytest plugin that turns a directory of pytest files into merge gates.

Registered through the ``pytest11`` entry point (``alignment_ci =
"alignment_ci.gating.plugin"``) or loaded with ``-p alignment_ci.gating.plugin``.

A gate is a test function marked ``@pytest.mark.gate(name, blocking=True, repeat=1,
min_pass=None)``. It reads its inputs from fixtures and records what it decided through
the ``gate`` fixture (``gate.record(decision)``, one per slice if it likes); a plain
``assert`` works too. Outcomes:

- ``pass``; ``fail`` (a recorded fail, a failed assert, or an exception in the gate);
- ``inconclusive``: not enough data to decide, or no candidate (raise
  :class:`~alignment_ci.gating.context.Inconclusive` or record it). Blocks unless
  ``gates.inconclusive_blocks`` is false;
- ``skipped``: the gate does not apply (:class:`~alignment_ci.gating.context.NotApplicable`).

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
``slices``, ``safety_suite``, ``gate_config`` (:class:`GatesSettings`), ``gate_context``
and ``gate``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

from .context import ENV, GateContext, GateOptions, Inconclusive, ModelSet, NotApplicable
from .policy_fixtures import *  # noqa: F403 - the policy gates' session fixtures, registered with the plugin
from .results import Decision, GateReport, GateResult, blocks, make_report, summary_lines, write_results
from .settings import GatesSettings

MARKER = "gate"
_STATE = pytest.StashKey["_PluginState"]()
_RECORDER = pytest.StashKey["GateRecorder"]()
_DONE = pytest.StashKey[bool]()
_SEVERITY = {"pass": 0, "skipped": 1, "inconclusive": 2, "fail": 3}


# ---------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("alignment-ci", "alignment-ci gates")
    helps = {
        "candidate": "Candidate run key (a reward run, or a policy run whose parent is a reward run).",
        "candidate_rm": "Candidate reward-model directory.",
        "candidate_policy": "Candidate policy directory.",
        "baseline": "Baseline run key.",
        "baseline_rm": "Baseline reward-model directory.",
        "baseline_policy": "Baseline policy directory.",
        "gold": "Gold set: a label batch (its gold items) or a pairs JSONL (default: gold items of ingested batches).",
        "eval": "Held-out eval set JSONL/YAML (default: the gold pairs).",
        "results_dir": "Directory for gates.json and gates.junit.xml.",
        "alignment_config": "alignment.yaml to read (default ./alignment.yaml).",
        "gates_settings": "YAML/JSON file of GatesSettings fields merged over the config's gates section.",
        "safety_suite": "Red-team prompt set (default: gates.safety.suite under paths.manifests).",
    }
    for key, env in ENV.items():
        flag = "--" + key.replace("_", "-")
        group.addoption(flag, dest=f"alignment_ci_{key}", default=None, metavar="VALUE",
                        help=f"{helps[key]} Env: {env}.")
    group.addoption("--alignment-ci-gates", dest="alignment_ci_gates", action="store_true", default=False,
                    help="Treat every test of this session as a gate and always write the gate report "
                    "(set by `alignment-ci gate`).")


def options_from(config: pytest.Config) -> GateOptions:
    return GateOptions(**{k: config.getoption(f"alignment_ci_{k}") for k in ENV})


@dataclass
class _PluginState:
    options: GateOptions
    context: GateContext | None = None
    context_error: Exception | None = None
    active: bool = False
    results: list[GateResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    report: GateReport | None = None

    def get_context(self) -> GateContext:
        if self.context is None and self.context_error is None:
            try:
                self.context = GateContext(self.options)
            except Exception as exc:  # reported once per gate that needs it
                self.context_error = exc
        if self.context_error is not None:
            raise self.context_error
        assert self.context is not None
        return self.context


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gate(name, blocking=True, repeat=None, min_pass=None): an alignment-ci merge gate; "
        "blocking=False is a shadow gate that reports but never blocks",
    )
    state = _PluginState(options_from(config), active=bool(config.getoption("alignment_ci_gates")))
    config.stash[_STATE] = state
    config.pluginmanager.register(_CollectErrors(state), f"alignment-ci-collect-errors-{id(config)}")


def _state(config: pytest.Config) -> _PluginState:
    return config.stash[_STATE]


def gate_report(config: pytest.Config) -> GateReport | None:
    """The report of a finished session (what was written to gates.json)."""
    return _state(config).report


# ---------------------------------------------------------------------- gate spec


@dataclass
class GateSpec:
    name: str
    blocking: bool
    repeat: int
    min_pass: int


def _spec(item: pytest.Item, settings: GatesSettings | None) -> GateSpec:
    marker = item.get_closest_marker(MARKER)
    kwargs = dict(marker.kwargs) if marker else {}
    name = (marker.args[0] if marker and marker.args else kwargs.get("name")) or item.name.split("[")[0].removeprefix("test_")
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        name = f"{name}[{callspec.id}]"
    blocking = bool(kwargs.get("blocking", True))
    if settings is not None and name.split("[")[0] in settings.shadow:
        blocking = False
    repeat = kwargs["repeat"] if kwargs.get("repeat") is not None else (settings.repeat if settings else 1)
    if kwargs.get("min_pass") is not None:
        min_pass = kwargs["min_pass"]
    elif "repeat" in kwargs or settings is None or settings.min_pass is None:
        min_pass = repeat  # every run must pass unless told otherwise
    else:
        min_pass = min(settings.min_pass, repeat)
    if not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"gate repeat must be a positive integer, got {repeat!r}")
    if not isinstance(min_pass, int) or not 1 <= min_pass <= repeat:
        raise ValueError(f"gate min_pass must lie in [1, repeat={repeat}], got {min_pass!r}")
    return GateSpec(str(name), blocking, int(repeat), int(min_pass))


# ---------------------------------------------------------------------- the `gate` fixture


class GateRecorder:
    """What a gate function uses to report: ``record`` a decision (optionally for a named
    ``part``, e.g. a slice), or give up with ``inconclusive`` / ``not_applicable``."""

    def __init__(self, spec: GateSpec, settings: GatesSettings | None) -> None:
        self.spec = spec
        self.name = spec.name
        self.blocking = spec.blocking
        self.attempt = 0
        self.base_seed = settings.seed if settings else 0
        self.records: dict[str | None, Decision] = {}

    @property
    def seed(self) -> int:
        """Seed of this run: ``gates.seed + attempt``."""
        return self.base_seed + self.attempt

    def begin(self, attempt: int) -> None:
        self.attempt = attempt
        self.records = {}

    def record(self, decision: Decision, part: str | None = None) -> Decision:
        self.records[part] = decision
        return decision

    def inconclusive(self, reason: str) -> NoReturn:
        raise Inconclusive(reason)

    def not_applicable(self, reason: str) -> NoReturn:
        raise NotApplicable(reason)


def _settings_or_none(state: _PluginState) -> GatesSettings | None:
    try:
        return state.get_context().settings
    except Exception:
        return None


def _recorder(item: pytest.Item) -> GateRecorder:
    if _RECORDER not in item.stash:
        state = _state(item.config)
        settings = _settings_or_none(state)
        item.stash[_RECORDER] = GateRecorder(_spec(item, settings), settings)
    return item.stash[_RECORDER]


@pytest.fixture
def gate(request: pytest.FixtureRequest) -> GateRecorder:
    """Records this gate's decisions (see :class:`GateRecorder`)."""
    return _recorder(request.node)


# ---------------------------------------------------------------------- data fixtures


def _as_inconclusive(fn):  # noqa: ANN001, ANN202
    """Input problems (missing file, bad batch) make the gates that need it inconclusive."""
    from ..errors import AlignmentCIError

    try:
        return fn()
    except AlignmentCIError as exc:
        raise Inconclusive(str(exc)) from None


@pytest.fixture(scope="session")
def gate_context(request: pytest.FixtureRequest) -> GateContext:
    return _as_inconclusive(_state(request.config).get_context)


@pytest.fixture(scope="session")
def gate_config(gate_context: GateContext) -> GatesSettings:
    """The resolved :class:`GatesSettings`."""
    return gate_context.settings


@pytest.fixture(scope="session")
def candidate(gate_context: GateContext) -> ModelSet:
    """The candidate's reward model and/or policy (resolved, loaded on first use)."""
    return gate_context.candidate


@pytest.fixture(scope="session")
def baseline(gate_context: GateContext) -> ModelSet:
    """The baseline's reward model and/or policy (resolved, loaded on first use)."""
    return gate_context.baseline


@pytest.fixture(scope="session")
def reward_model(candidate: ModelSet) -> Any:
    """The candidate's loaded reward model; inconclusive without a candidate, skipped when
    the candidate has no reward model."""
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
def slices(eval_set: list[dict[str, Any]], gate_config: GatesSettings) -> dict[str, list[dict[str, Any]]]:
    """``{"all": rows, "dimension=helpfulness": rows, ...}`` over ``gates.regression.slice_keys``."""
    from ..evals.datasets import slice_rows

    return slice_rows(eval_set, gate_config.regression.slice_keys)


@pytest.fixture(scope="session")
def safety_suite(gate_context: GateContext) -> Any:
    """The red-team :class:`~alignment_ci.evals.safety.RedTeamSuite`."""
    return _as_inconclusive(gate_context.safety_suite)


# ---------------------------------------------------------------------- running gates


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = _state(config)
    state.active = state.active or any(item.get_closest_marker(MARKER) for item in items)


class _CollectErrors:
    """Registered per session: a gate file that cannot be collected is an error of the run."""

    def __init__(self, state: "_PluginState") -> None:
        self.state = state

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.state.errors.append(f"{report.nodeid or 'gates'}: could not be collected: {_short(report.longreprtext)}")


def _short(text: str, limit: int = 600) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    tail = " | ".join(lines[-3:]) if lines else ""
    return tail[-limit:]


def _is_gate(item: pytest.Item) -> bool:
    return _state(item.config).active and isinstance(item, pytest.Function)


def _classify(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, Inconclusive):
        return "inconclusive", str(exc)
    if isinstance(exc, NotApplicable):
        return "skipped", str(exc)
    if isinstance(exc, pytest.skip.Exception):
        return "skipped", str(exc.msg)
    if isinstance(exc, pytest.fail.Exception):
        return "fail", str(exc.msg)
    if isinstance(exc, AssertionError):
        text = " | ".join(ln.strip() for ln in str(exc).splitlines() if ln.strip())
        return "fail", text[:1000] or "assertion failed"
    return "fail", f"the gate raised {type(exc).__name__}: {exc}"


@dataclass
class _Attempt:
    records: dict[str | None, Decision]
    error: tuple[str, str] | None


def _combine(spec: GateSpec, attempts: list[_Attempt]) -> list[tuple[str | None, Decision, list[str]]]:
    """Per part: the outcome over the runs (``min_pass`` of ``repeat``) and its decision."""
    parts: list[str | None] = []
    for a in attempts:
        for part in a.records:
            if part not in parts:
                parts.append(part)
        if a.error is not None and None not in parts:
            parts.insert(0, None)
    if not parts:
        parts = [None]
    combined = []
    for part in parts:
        per_run: list[Decision] = []
        for k, a in enumerate(attempts):
            if part in a.records:
                per_run.append(a.records[part])
            elif part is None and a.error is not None:
                per_run.append(Decision(a.error[0], a.error[1]))
            elif part is None and not a.records:
                per_run.append(Decision("pass", "the gate's checks held"))
            else:
                per_run.append(Decision("inconclusive", f"not evaluated in run {k + 1}"))
        outcomes = [d.outcome for d in per_run]
        n_pass, n_inc = outcomes.count("pass"), outcomes.count("inconclusive")
        if "skipped" in outcomes:
            final = "skipped"
        elif n_pass >= spec.min_pass:
            final = "pass"
        elif n_pass + n_inc >= spec.min_pass:
            final = "inconclusive"
        else:
            final = "fail"
        chosen = next((d for d in reversed(per_run) if d.outcome == final), per_run[-1])
        decision = Decision(final, chosen.reason, chosen.value, chosen.threshold, chosen.interval, chosen.n,
                            dict(chosen.details))
        if len(attempts) > 1:
            decision.reason = (f"passed {n_pass} of {len(attempts)} runs (at least {spec.min_pass} must pass); "
                               f"{'last' if final == chosen.outcome else 'run'}: {chosen.reason}")
            decision.details["runs"] = [{"outcome": d.outcome, "value": d.value, "reason": d.reason} for d in per_run]
        combined.append((part, decision, outcomes))
    return combined


def _to_results(spec: GateSpec, nodeid: str, combined: list[tuple[str | None, Decision, list[str]]],
                duration: float, inconclusive_blocks: bool) -> list[GateResult]:
    out = []
    for part, d, _ in combined:
        r = GateResult(
            gate=spec.name if part is None else f"{spec.name}/{part}",
            outcome=d.outcome, blocking=spec.blocking, reason=d.reason, value=d.value, threshold=d.threshold,
            interval=list(d.interval) if d.interval is not None else None, n=d.n, details=d.details,
            nodeid=nodeid, duration_s=duration / max(1, len(combined)),
        )
        r.blocks = blocks(r, inconclusive_blocks)
        out.append(r)
    return out


def _inconclusive_blocks(state: _PluginState) -> bool:
    settings = _settings_or_none(state)
    return settings.inconclusive_blocks if settings is not None else True


def _raise_outcome(results: list[GateResult]) -> None:
    """Turn the gate's results into pytest's outcome: blocking → failed; shadow fail → xfail;
    non-blocking inconclusive or not applicable → skipped."""
    blocking = [r for r in results if r.blocks]
    if blocking:
        pytest.fail("\n".join(f"{r.gate}: {r.outcome.upper()}: {r.reason}" for r in blocking), pytrace=False)
    shadow_fails = [r for r in results if r.outcome == "fail"]
    if shadow_fails:
        pytest.xfail("shadow gate failed (not blocking): " + "; ".join(f"{r.gate}: {r.reason}" for r in shadow_fails))
    others = [r for r in results if r.outcome in ("inconclusive", "skipped")]
    if others and len(others) == len(results):
        pytest.skip("; ".join(f"{r.gate}: {r.outcome}: {r.reason}" for r in others))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not _is_gate(pyfuncitem):
        return None
    state = _state(pyfuncitem.config)
    try:
        rec = _recorder(pyfuncitem)
    except ValueError as exc:  # a bad marker is this gate's failure, not the session's
        spec = GateSpec(pyfuncitem.name, True, 1, 1)
        results = _to_results(spec, pyfuncitem.nodeid, [(None, Decision("fail", f"invalid gate marker: {exc}"), [])],
                              0.0, True)
        state.results.extend(results)
        pyfuncitem.stash[_DONE] = True
        _raise_outcome(results)
        return True
    spec = rec.spec
    func = pyfuncitem.obj
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    attempts: list[_Attempt] = []
    started = time.perf_counter()
    for k in range(spec.repeat):
        rec.begin(k)
        error = None
        try:
            func(**kwargs)
        except (Exception, pytest.skip.Exception, pytest.fail.Exception) as exc:  # noqa: BLE001 - every gate error is an outcome
            error = _classify(exc)
        attempts.append(_Attempt(dict(rec.records), error))
        if error is not None and error[0] == "skipped":
            break
    results = _to_results(spec, pyfuncitem.nodeid, _combine(spec, attempts), time.perf_counter() - started,
                          _inconclusive_blocks(state))
    state.results.extend(results)
    pyfuncitem.stash[_DONE] = True
    _raise_outcome(results)
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # noqa: ANN201
    report = yield
    if call.when != "setup" or call.excinfo is None or not _is_gate(item) or item.stash.get(_DONE, False):
        return report
    # A fixture gave up (no candidate, missing data) or crashed: that is the gate's outcome.
    state = _state(item.config)
    try:
        spec = _recorder(item).spec
    except ValueError:
        spec = GateSpec(item.name, True, 1, 1)
    outcome, reason = _classify(call.excinfo.value)
    results = _to_results(spec, item.nodeid, [(None, Decision(outcome, reason), [outcome])],
                          call.duration, _inconclusive_blocks(state))
    state.results.extend(results)
    item.stash[_DONE] = True
    if not results[0].blocks and report.outcome == "failed":
        label = "shadow gate failed" if outcome == "fail" else outcome
        report.outcome = "skipped"
        report.longrepr = (str(item.path), (item.location[1] or 0) + 1, f"{label} (not blocking): {reason}")
    elif outcome == "skipped" and report.outcome == "failed":
        report.outcome = "skipped"
        report.longrepr = (str(item.path), (item.location[1] or 0) + 1, reason)
    return report


# ---------------------------------------------------------------------- session end


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = _state(session.config)
    if not state.active and not state.results:
        return
    errors = list(state.errors)
    extra: dict[str, Any] = {"pytest_exit_code": int(exitstatus)}
    inconclusive_blocks = True
    results_dir = None
    try:
        ctx = state.get_context()
        inconclusive_blocks = ctx.settings.inconclusive_blocks
        results_dir = ctx.results_dir
        extra["candidate"] = ctx.candidate.describe()
        extra["baseline"] = ctx.baseline.describe()
        data: dict[str, Any] = {}
        if ctx._gold is not None:
            data["gold"] = {"source": ctx._gold.source, "pairs": len(ctx._gold.pairs), "excluded": ctx._gold.excluded}
        if ctx._eval is not None:
            data["eval"] = {"source": ctx.eval_source(), "rows": len(ctx._eval)}
        if ctx._suite is not None:
            data["safety_suite"] = {"name": ctx._suite.name, "path": str(ctx._suite.path), "items": len(ctx._suite.items)}
        extra["data"] = data
    except Exception as exc:  # noqa: BLE001 - the report is written whatever went wrong
        errors.append(f"gate inputs could not be resolved: {exc}")
    if exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        errors.append(f"the gate session did not complete (pytest exit status {int(exitstatus)})")
    report = make_report(state.results, inconclusive_blocks, errors, **extra)
    if results_dir is None:  # the inputs could not be resolved: still write the report
        opts = state.options.with_env()
        results_dir = Path(opts.results_dir) if opts.results_dir else Path(".alignment-ci/out/gates")
    write_results(report, results_dir)
    state.report = report
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = pytest.ExitCode.OK if report.verdict == "pass" else pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    report = _state(config).report
    if report is None:
        return
    terminalreporter.section("alignment-ci gates")
    for line in summary_lines(report):
        terminalreporter.write_line(line)
    for kind, path in report.paths.items():
        terminalreporter.write_line(f"results ({kind}): {path}")
