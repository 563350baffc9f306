"""The gate session: the state of one pytest session that runs gates, and its hooks.

:class:`GateSession` is registered by :func:`alignment_ci.gating.plugin.pytest_configure`
(one instance per pytest session, as pytest-xdist registers its ``DSession``). It holds the
lazily built :class:`~alignment_ci.gating.context.GateContext`, the results so far and the
collection errors, and implements the hooks that run gates, turn their outcomes into
pytest's, and write ``gates.json`` / ``gates.junit.xml`` at the end. The pure rules live in
:mod:`alignment_ci.gating.outcomes`.

Built-in gates (``alignment_ci/gating/builtin/``) and a repository's ``gates/`` run in one
session: a repository gate with the same name as a built-in replaces it; a gate named in
``gates.disabled`` (or every built-in with ``gates.builtin: false``) does not run and is
reported ``skipped`` with the reason.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

import pytest

from .context import GateContext, GateOptions, results_dir_for
from .outcomes import MARKER, Attempt, GateSpec, classify, combine, gate_spec, single, to_results
from .recorder import GateRecorder
from .results import GateReport, GateResult, make_report, summary_lines, write_results
from .settings import GatesSettings

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
SESSION_KEY = pytest.StashKey["GateSession"]()
_RECORDER = pytest.StashKey[GateRecorder]()
_DONE = pytest.StashKey[bool]()


def _short(text: str, limit: int = 600) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    tail = " | ".join(lines[-3:]) if lines else ""
    return tail[-limit:]


def is_builtin(item: pytest.Item) -> bool:
    """Whether the item comes from the built-in gates shipped in the package."""
    return BUILTIN_DIR in Path(str(item.path)).resolve().parents


def _callspec_id(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.id if callspec is not None else None


def item_spec(item: pytest.Item, settings: GatesSettings | None) -> GateSpec:
    """The :class:`GateSpec` of a collected test (its ``gate`` marker and the settings)."""
    marker = item.get_closest_marker(MARKER)
    return gate_spec(item.name, marker.args if marker else (), marker.kwargs if marker else {},
                     param_id=_callspec_id(item), settings=settings)


class GateSession:
    """State and hooks of one gate session (see the module docstring)."""

    def __init__(self, options: GateOptions, *, active: bool = False) -> None:
        self.options = options
        self.active = active
        self.context: GateContext | None = None
        self.context_error: Exception | None = None
        self.results: list[GateResult] = []
        self.errors: list[str] = []
        self.report: GateReport | None = None

    # ------------------------------------------------------------------ context

    def get_context(self) -> GateContext:
        """The session's :class:`GateContext`, built once; a failure to build it is raised
        again to every gate that needs it."""
        if self.context is None and self.context_error is None:
            try:
                self.context = GateContext(self.options)
            except Exception as exc:  # reported once per gate that needs it
                self.context_error = exc
        if self.context_error is not None:
            raise self.context_error
        assert self.context is not None
        return self.context

    @property
    def settings(self) -> GatesSettings | None:
        try:
            return self.get_context().settings
        except Exception:
            return None

    @property
    def inconclusive_blocks(self) -> bool:
        settings = self.settings
        return settings.inconclusive_blocks if settings is not None else True

    def recorder(self, item: pytest.Item) -> GateRecorder:
        """The ``gate`` fixture's :class:`~alignment_ci.gating.recorder.GateRecorder` of an item."""
        if _RECORDER not in item.stash:
            settings = self.settings
            item.stash[_RECORDER] = GateRecorder(item_spec(item, settings), settings)
        return item.stash[_RECORDER]

    def is_gate(self, item: pytest.Item) -> bool:
        return self.active and isinstance(item, pytest.Function)

    # ------------------------------------------------------------------ collection

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(f"{report.nodeid or 'gates'}: could not be collected: {_short(report.longreprtext)}")

    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        self.active = self.active or any(item.get_closest_marker(MARKER) for item in items)
        if not self.active:
            return
        settings = self.settings
        names = {}
        for item in items:
            try:
                names[item.nodeid] = item_spec(item, settings).base_name
            except ValueError:
                names[item.nodeid] = item.name
        overridden = {names[i.nodeid] for i in items if not is_builtin(i)}
        disabled = set(settings.disabled) if settings is not None else set()
        builtins_on = settings.builtin if settings is not None else True
        keep, dropped = [], []
        for item in items:
            name = names[item.nodeid]
            if is_builtin(item) and name in overridden:
                dropped.append(item)  # the repository's gate of the same name replaces it
            elif name in disabled or (is_builtin(item) and not builtins_on):
                dropped.append(item)
                why = (f"turned off in alignment.yaml (gates.disabled lists {name!r})" if name in disabled
                       else "built-in gates are turned off in alignment.yaml (gates.builtin: false)")
                spec = GateSpec(name, blocking=False)
                self.results.extend(single(spec, item.nodeid, "skipped", why))
            else:
                keep.append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep

    # ------------------------------------------------------------------ running

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        if not self.is_gate(pyfuncitem):
            return None
        try:
            rec = self.recorder(pyfuncitem)
        except ValueError as exc:  # a bad marker is this gate's failure, not the session's
            results = single(GateSpec(pyfuncitem.name), pyfuncitem.nodeid, "fail", f"invalid gate marker: {exc}")
            self._finish(pyfuncitem, results)
            return True
        spec = rec.spec
        func = pyfuncitem.obj
        kwargs = {name: pyfuncitem.funcargs[name] for name in inspect.signature(func).parameters
                  if name in pyfuncitem.funcargs}
        attempts: list[Attempt] = []
        started = time.perf_counter()
        for k in range(spec.repeat):
            rec.begin(k)
            error = None
            try:
                func(**kwargs)
            except (Exception, pytest.skip.Exception, pytest.fail.Exception) as exc:  # noqa: BLE001 - every gate error is an outcome
                error = classify(exc)
            attempts.append(Attempt(dict(rec.records), error))
            if error is not None and error[0] == "skipped":
                break
        results = to_results(spec, pyfuncitem.nodeid, combine(spec, attempts), time.perf_counter() - started,
                             self.inconclusive_blocks)
        self._finish(pyfuncitem, results)
        return True

    def _finish(self, item: pytest.Item, results: list[GateResult]) -> None:
        self.results.extend(results)
        item.stash[_DONE] = True
        _raise_outcome(results)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]):  # noqa: ANN201
        report = yield
        if call.when != "setup" or call.excinfo is None or not self.is_gate(item) or item.stash.get(_DONE, False):
            return report
        # A fixture gave up (no candidate, missing data) or crashed: that is the gate's outcome.
        try:
            spec = self.recorder(item).spec
        except ValueError:
            spec = GateSpec(item.name)
        outcome, reason = classify(call.excinfo.value)
        results = single(spec, item.nodeid, outcome, reason, duration=call.duration,
                         inconclusive_blocks=self.inconclusive_blocks)
        self.results.extend(results)
        item.stash[_DONE] = True
        if not results[0].blocks and report.outcome == "failed":
            label = "shadow gate failed" if outcome == "fail" else outcome
            report.outcome = "skipped"
            report.longrepr = (str(item.path), (item.location[1] or 0) + 1, f"{label} (not blocking): {reason}")
        elif outcome == "skipped" and report.outcome == "failed":
            report.outcome = "skipped"
            report.longrepr = (str(item.path), (item.location[1] or 0) + 1, reason)
        return report

    # ------------------------------------------------------------------ the end

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.active and not self.results:
            return
        errors = list(self.errors)
        extra: dict[str, Any] = {"pytest_exit_code": int(exitstatus)}
        inconclusive_blocks = True
        results_dir = None
        try:
            ctx = self.get_context()
            inconclusive_blocks = ctx.settings.inconclusive_blocks
            results_dir = ctx.results_dir
            extra.update(ctx.describe())
            extra["data"] = ctx.data_used()
        except Exception as exc:  # noqa: BLE001 - the report is written whatever went wrong
            errors.append(f"gate inputs could not be resolved: {exc}")
        if exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
            errors.append(f"the gate session did not complete (pytest exit status {int(exitstatus)})")
        report = make_report(self.results, inconclusive_blocks, errors, **extra)
        if results_dir is None:  # the inputs could not be resolved: still write the report
            results_dir = results_dir_for(self.options.with_env())
        write_results(report, results_dir)
        self.report = report
        if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            session.exitstatus = pytest.ExitCode.OK if report.verdict == "pass" else pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        if self.report is None:
            return
        terminalreporter.section("alignment-ci gates")
        for line in summary_lines(self.report):
            terminalreporter.write_line(line)
        for kind, path in self.report.paths.items():
            terminalreporter.write_line(f"results ({kind}): {path}")


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


def gate_session(config: pytest.Config) -> GateSession:
    """The :class:`GateSession` of a pytest session (registered in ``pytest_configure``)."""
    return config.stash[SESSION_KEY]


__all__ = ["BUILTIN_DIR", "GateSession", "gate_session", "is_builtin", "item_spec"]
