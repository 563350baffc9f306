"""Where the bridge's database is. Every other setting of the service is a field of
``bridge:`` in alignment.yaml (:class:`alignment_ci.config.BridgeSettings`), which the
bridge reads as ``Bridge.settings``."""

from __future__ import annotations

import os

from alignment_ci.config import Config
from alignment_ci.monitor.queue import database_url as queue_database_url

DATABASE_URL_ENV = "ALIGNMENT_CI_BRIDGE_DATABASE_URL"


def database_url(config: Config, environ: dict[str, str] | None = None) -> str:
    """``config.bridge.database_url`` (env ALIGNMENT_CI_BRIDGE_DATABASE_URL overrides); a relative
    SQLite path is resolved against the directory of alignment.yaml, and its directory created."""

    env = os.environ if environ is None else environ
    override = env.get(DATABASE_URL_ENV)
    if override:
        config = config.model_copy(update={"bridge": config.bridge.model_copy(update={"database_url": override})})
    return queue_database_url(config)
