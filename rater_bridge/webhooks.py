"""Label Studio webhooks (``ANNOTATION_CREATED`` / ``ANNOTATION_UPDATED``).

Label Studio posts ``{"action", "annotation": {...}, "task": {...}, "project": {...}}``
(https://labelstud.io/guide/webhook_reference). The bridge checks, besides the vendor's
bearer token, an HMAC-SHA256 of the raw body under a shared secret, sent as
``X-Alignment-CI-Signature: sha256=<hex>`` (the scheme of GitHub's ``X-Hub-Signature-256``),
compared in constant time. The latest state of each annotation is kept per vendor.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from alignment_ci.errors import InputError

from .auth import VendorIdentity
from .batches import Bridge
from .db import LabelStudioAnnotation, utcnow

SIGNATURE_HEADER = "X-Alignment-CI-Signature"
HANDLED_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")


def sign(secret: str | bytes, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=`` + hex HMAC-SHA256."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_ok(secret: str | bytes, body: bytes, header: str | None) -> bool:
    return bool(header) and hmac.compare_digest(sign(secret, body), header.strip())


def _int_id(obj: Any, what: str) -> int | None:
    if obj is None:
        return None
    value = obj.get("id") if isinstance(obj, dict) else obj
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InputError(f"{what}.id must be a non-negative integer")
    return value


def record_annotation(bridge: Bridge, vendor: VendorIdentity, payload: Any) -> dict[str, Any]:
    """Store one webhook delivery; returns what the route answers. Raises InputError for a malformed payload."""
    if not isinstance(payload, dict):
        raise InputError("a Label Studio webhook body is a JSON object with 'action' and 'annotation'")
    action = payload.get("action")
    if action not in HANDLED_ACTIONS:
        return {"handled": False, "action": action if isinstance(action, str) else None, "annotation_id": None,
                "task_id": None, "revisions": 0}
    annotation = payload.get("annotation")
    if not isinstance(annotation, dict):
        raise InputError(f"{action}: the body has no 'annotation' object")
    annotation_id = _int_id(annotation, "annotation")
    if annotation_id is None:
        raise InputError(f"{action}: annotation.id is missing")
    task = payload.get("task") if isinstance(payload.get("task"), dict) else annotation.get("task")
    task_id = _int_id(task, "task")
    project = payload.get("project") if isinstance(payload.get("project"), dict) else annotation.get("project")
    project_id = _int_id(project, "project")
    stored = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    for _ in range(3):
        with bridge.sessions() as s:
            row = s.scalar(select(LabelStudioAnnotation).where(
                LabelStudioAnnotation.vendor_id == vendor.id, LabelStudioAnnotation.annotation_id == annotation_id))
            try:
                if row is None:
                    row = LabelStudioAnnotation(vendor_id=vendor.id, annotation_id=annotation_id, task_id=task_id,
                                                project_id=project_id, action=action, payload=stored, revisions=1)
                    s.add(row)
                else:
                    row.action, row.payload, row.task_id = action, stored, task_id
                    row.project_id, row.revisions, row.updated_at = project_id, row.revisions + 1, utcnow()
                s.commit()
                return {"handled": True, "action": action, "annotation_id": annotation_id, "task_id": task_id,
                        "revisions": row.revisions}
            except SAIntegrityError:
                s.rollback()
    raise InputError("the annotation was being written concurrently; deliver the webhook again")
