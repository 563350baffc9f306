"""Traffic routers behind one interface, chosen by name (``file``, ``s3``, ``webhook``).

Implementations are imported lazily (boto3 and httpx only when their router is used).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .base import RoutingTable, TrafficRouter, check_table

if TYPE_CHECKING:
    from ..plan import RouterSettings

ROUTERS = {
    "file": "alignment_ci.rollout.routers.file:FileRouter",
    "s3": "alignment_ci.rollout.routers.s3:S3Router",
    "webhook": "alignment_ci.rollout.routers.webhook:WebhookRouter",
}

__all__ = ["ROUTERS", "RoutingTable", "TrafficRouter", "check_table", "make_router"]


def _load(kind: str) -> type:
    module, _, name = ROUTERS[kind].partition(":")
    return getattr(import_module(module), name)


def make_router(settings: "RouterSettings") -> TrafficRouter:
    """The router named by ``settings.kind``, built from its settings."""
    cls = _load(settings.kind)
    if settings.kind == "file":
        return cls(settings.path)
    if settings.kind == "s3":
        return cls(
            settings.bucket,
            settings.key,
            endpoint_url=settings.endpoint_url,
            region=settings.region,
            max_attempts=settings.max_attempts,
        )
    return cls(settings.url, headers=settings.headers, timeout_s=settings.timeout_s, max_attempts=settings.max_attempts)
