"""The ``gate`` fixture's object: what a gate function uses to report its decisions."""

from __future__ import annotations

from typing import NoReturn

from .outcomes import GateSpec
from .results import Decision, Inconclusive, NotApplicable
from .settings import GatesSettings


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
        """Record this run's decision (for ``part``, e.g. a slice; ``None``: the whole gate)."""
        self.records[part] = decision
        return decision

    def inconclusive(self, reason: str) -> NoReturn:
        raise Inconclusive(reason)

    def not_applicable(self, reason: str) -> NoReturn:
        raise NotApplicable(reason)


__all__ = ["GateRecorder"]
