"""Mirror rollout decisions onto a forge Deployment (GitHub Deployments, or the local sink).

The deployment id is kept as a write-once store record ``rollout-deployments/<id>``, so
every later verb (from any workflow run) posts its status to the same deployment.
"""

from __future__ import annotations

from typing import Any

KIND = "rollout-deployments"


def publish(config: Any, store: Any, result: dict[str, Any], *, environment: str | None = None, forge: Any = None) -> dict[str, Any]:
    """Create the deployment on first use, then set its status from ``result``."""
    from ..forge import open_forge

    forge = forge if forge is not None else open_forge(config, config.root)
    rollout_id = result["rollout_id"]
    record = store.get_record(KIND, rollout_id)
    if record is None:
        env = environment or ("production" if result["percent"] >= 100 else "canary")
        deployment_id = forge.create_deployment(
            result["candidate"], env, {"rollout_id": rollout_id, "baseline": result["baseline"], "stages": result["stages"]}
        )
        store.put_record(KIND, rollout_id, {"deployment_id": deployment_id, "environment": env})
        record = store.get_record(KIND, rollout_id)
    decision = result.get("decision", {})
    reasons = "; ".join(decision.get("reasons") or [])
    description = f"{decision.get('action', 'status')} → {result['status']} at {result['percent']:g}%" + (f": {reasons}" if reasons else "")
    forge.set_deployment_status(record["deployment_id"], result["deployment_state"], description[:140])
    return {"deployment_id": record["deployment_id"], "state": result["deployment_state"]}
