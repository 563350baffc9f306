"""The traffic-router interface: put a routing table where the serving layer reads it.

A routing table is a small JSON object::

    {"rollout_id": "rm-v7", "baseline": "model-v6", "candidate": "model-v7",
     "weights": {"model-v6": 90.0, "model-v7": 10.0}, "seq": 3, "stage": 1, "status": "running"}

``weights`` are percentages summing to 100; ``seq`` is the controller decision that set
them. :meth:`TrafficRouter.apply` is idempotent: a router that can read its current
table compares it first and writes only when it differs, and returns whether it wrote.
That, with the controller's "applied" records, is what keeps a resumed rollout from
applying a decision twice.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ...errors import InputError

RoutingTable = dict[str, Any]


@runtime_checkable
class TrafficRouter(Protocol):
    """One way of shifting traffic: ``file``, ``s3`` or ``webhook``."""

    kind: str

    def current(self) -> RoutingTable | None:
        """The table now in force, or None when there is none (or it cannot be read back)."""

    def apply(self, table: RoutingTable) -> bool:
        """Put ``table`` in force. True when something was written, False when it already was."""

    def describe(self) -> str:
        """Where the table goes (for messages and decisions)."""


def check_table(table: RoutingTable) -> RoutingTable:
    """Refuse a table whose weights are not non-negative percentages summing to 100."""
    weights = table.get("weights")
    if not isinstance(weights, dict) or not weights:
        raise InputError("a routing table needs `weights`: {model_version: percent}")
    if any(not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0 for v in weights.values()):
        raise InputError(f"routing weights must be non-negative numbers, got {weights}")
    if abs(sum(weights.values()) - 100.0) > 1e-6:
        raise InputError(f"routing weights must sum to 100, got {sum(weights.values())}")
    return table


def same_table(a: RoutingTable | None, b: RoutingTable) -> bool:
    return a is not None and a == b
