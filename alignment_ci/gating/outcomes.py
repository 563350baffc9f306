"""How a gate's runs turn into outcomes: pure functions over plain values, no pytest session.

- :func:`gate_spec`: the gate's name, blocking flag and ``repeat``/``min_pass`` from its
  ``@pytest.mark.gate`` arguments and the ``gates:`` settings;
- :func:`classify`: an exception raised by a gate (or a fixture it needs) → an outcome and reason;
- :func:`combine`: the runs of a (repeated) gate → one decision per recorded part;
- :func:`to_results`: decisions → :class:`~alignment_ci.gating.results.GateResult` rows,
  with ``blocks`` set.

The plugin's session (:mod:`alignment_ci.gating.session`) calls these; the unit tests in
tests/test_gating_outcomes.py call them directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from .results import Decision, GateResult, Inconclusive, NotApplicable, blocks
from .settings import GatesSettings

MARKER = "gate"


@dataclass(frozen=True)
class GateSpec:
    """What the marker and the settings say about one gate."""

    name: str
    blocking: bool = True
    repeat: int = 1
    min_pass: int = 1

    @property
    def base_name(self) -> str:
        """The name without a parametrization id (``safety[en]`` → ``safety``)."""
        return self.name.split("[")[0]


def gate_spec(test_name: str, marker_args: Sequence[Any] = (), marker_kwargs: Mapping[str, Any] | None = None,
              *, param_id: str | None = None, settings: GatesSettings | None = None) -> GateSpec:
    """The spec of a gate from ``@pytest.mark.gate(name, blocking=, repeat=, min_pass=)``.

    The name defaults to the test function's name without ``test_``; a parametrized test adds
    ``[id]``. A name listed in ``gates.shadow`` is non-blocking. ``repeat`` defaults to
    ``gates.repeat``; ``min_pass`` to every run, or ``gates.min_pass`` when the marker does
    not set ``repeat``. Raises ``ValueError`` on a repeat or min_pass out of range.
    """
    kwargs = dict(marker_kwargs or {})
    name = (marker_args[0] if marker_args else kwargs.get("name")) or test_name.split("[")[0].removeprefix("test_")
    if param_id is not None:
        name = f"{name}[{param_id}]"
    blocking = bool(kwargs.get("blocking", True))
    if settings is not None and str(name).split("[")[0] in settings.shadow:
        blocking = False
    repeat = kwargs["repeat"] if kwargs.get("repeat") is not None else (settings.repeat if settings else 1)
    if kwargs.get("min_pass") is not None:
        min_pass = kwargs["min_pass"]
    elif "repeat" in kwargs or settings is None or settings.min_pass is None:
        min_pass = repeat  # every run must pass unless told otherwise
    else:
        min_pass = min(settings.min_pass, repeat)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
        raise ValueError(f"gate repeat must be a positive integer, got {repeat!r}")
    if not isinstance(min_pass, int) or isinstance(min_pass, bool) or not 1 <= min_pass <= repeat:
        raise ValueError(f"gate min_pass must lie in [1, repeat={repeat}], got {min_pass!r}")
    return GateSpec(str(name), blocking, int(repeat), int(min_pass))


def classify(exc: BaseException) -> tuple[str, str]:
    """``(outcome, reason)`` for an exception out of a gate or one of its fixtures:
    :class:`Inconclusive` → inconclusive; :class:`NotApplicable` and ``pytest.skip`` → skipped;
    ``pytest.fail``, a failed ``assert`` and any other exception → fail."""
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
class Attempt:
    """One run of a gate: what it recorded per part, and the error it ended with (if any)."""

    records: dict[str | None, Decision]
    error: tuple[str, str] | None = None


Combined = list[tuple[str | None, Decision, list[str]]]


def combine(spec: GateSpec, attempts: Sequence[Attempt]) -> Combined:
    """Per part: the outcome over the runs and the decision shown for it.

    A part is ``skipped`` when any run found it not applicable; ``pass`` when at least
    ``min_pass`` runs passed; ``inconclusive`` when passes plus inconclusive runs could
    still reach ``min_pass``; else ``fail``. A run that recorded nothing and raised nothing
    passed (its asserts held); a part a run did not record is inconclusive for that run.
    """
    parts: list[str | None] = []
    for a in attempts:
        for part in a.records:
            if part not in parts:
                parts.append(part)
        if a.error is not None and None not in parts:
            parts.insert(0, None)
    if not parts:
        parts = [None]
    combined: Combined = []
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


def to_results(spec: GateSpec, nodeid: str, combined: Combined, duration: float,
               inconclusive_blocks: bool) -> list[GateResult]:
    """One :class:`GateResult` per part (``gate/part``), ``blocks`` set by the verdict rule."""
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


def single(spec: GateSpec, nodeid: str, outcome: str, reason: str, *, duration: float = 0.0,
           inconclusive_blocks: bool = True) -> list[GateResult]:
    """The result of a gate decided before it ran (a fixture gave up, a bad marker, turned off)."""
    return to_results(spec, nodeid, [(None, Decision(outcome, reason), [outcome])], duration, inconclusive_blocks)


__all__ = ["MARKER", "Attempt", "GateSpec", "classify", "combine", "gate_spec", "single", "to_results"]
