"""Settings of the bridge service that alignment.yaml's ``bridge:`` section does not (yet) hold.

``config.bridge`` (alignment_ci.config.BridgeSettings) carries ``database_url``,
``gold_rate`` and ``max_upload_bytes``. The fields below are read from the same section
when present (so the lead can add them to BridgeSettings unchanged), else defaulted.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alignment_ci.config import Config
from alignment_ci.monitor.queue import database_url as queue_database_url

DATABASE_URL_ENV = "ALIGNMENT_CI_BRIDGE_DATABASE_URL"


class BridgeServiceSettings(BaseModel):
    """Service settings beyond ``database_url``, ``gold_rate`` and ``max_upload_bytes``."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    base_branch: str = Field("main", description="Branch that label-batch pull requests target.")
    labelstudio_secret_env: str = Field(
        "ALIGNMENT_CI_LABELSTUDIO_SECRET",
        description="Environment variable holding the shared secret of the Label Studio webhook signature.",
    )
    publish_wait_s: float = Field(
        60.0, gt=0, description="How long a duplicate push waits for the first push of the same content to publish."
    )
    health_bootstrap_samples: int = Field(
        200, ge=10, description="Bootstrap resamples for the agreement interval in the PR's label-health summary."
    )
    max_tasks_per_request: int = Field(100, ge=1, le=10000, description="Largest `n` a vendor may ask GET /v1/tasks for.")
    max_webhook_bytes: int = Field(1024 * 1024, gt=0, description="Largest Label Studio webhook body.")


def service_settings(config: Config) -> BridgeServiceSettings:
    """The service settings, taken from ``config.bridge`` where it has the fields."""
    section = config.bridge
    values: dict[str, Any] = {}
    for name in BridgeServiceSettings.model_fields:
        if hasattr(section, name):
            values[name] = getattr(section, name)
    return BridgeServiceSettings(**values)


def database_url(config: Config, environ: dict[str, str] | None = None) -> str:
    """``config.bridge.database_url`` (env ALIGNMENT_CI_BRIDGE_DATABASE_URL overrides); a relative
    SQLite path is resolved against the directory of alignment.yaml, and its directory created."""

    env = os.environ if environ is None else environ
    override = env.get(DATABASE_URL_ENV)
    if override:
        config = config.model_copy(update={"bridge": config.bridge.model_copy(update={"database_url": override})})
    return queue_database_url(config)
