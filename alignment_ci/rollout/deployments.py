"""Mirror rollout decisions onto forge Deployments (GitHub Deployments, or the local sink).

One deployment per rollout and environment: ``canary`` while the candidate serves less
than 100%, ``production`` at 100%. Its ref is the merged commit (``GITHUB_SHA``; GitHub
requires a git ref), and the payload names the candidate model. The ids are kept as
write-once store records ``rollout-deployments/<rollout>-<environment>``, so later verbs,
from any workflow run, post their statuses to the same deployment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from ..config import Config
from ..forge import open_forge

KIND = "rollout-deployments"


def environment_for(result: dict[str, Any]) -> str:
    return "production" if result["percent"] >= 100 else "canary"


def publish(
    config: Config,
    store: Any,
    result: dict[str, Any],
    *,
    environment: str | None = None,
    forge: Any = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Create the environment's deployment on first use, then set its status from ``result``."""

    env_vars = os.environ if environ is None else environ
    forge = forge if forge is not None else open_forge(config, config.root)
    rollout_id = result["rollout_id"]
    env = environment or environment_for(result)
    key = f"{rollout_id}-{env}"
    record = store.get_record(KIND, key)
    if record is None:
        ref = env_vars.get("GITHUB_SHA") or env_vars.get("GITHUB_REF_NAME") or "main"
        deployment_id = forge.create_deployment(
            ref,
            env,
            {"rollout_id": rollout_id, "candidate": result["candidate"], "baseline": result["baseline"], "stages": result["stages"]},
        )
        store.put_record(KIND, key, {"deployment_id": deployment_id, "environment": env, "ref": ref})
        record = store.get_record(KIND, key)
    decision = result.get("decision", {})
    reasons = "; ".join(decision.get("reasons") or [])
    description = f"{decision.get('action', 'status')} → {result['status']} at {result['percent']:g}%" + (f": {reasons}" if reasons else "")
    forge.set_deployment_status(record["deployment_id"], result["deployment_state"], description[:140])
    return {"deployment_id": record["deployment_id"], "environment": env, "state": result["deployment_state"]}
