"""Label Studio webhooks (``ANNOTATION_CREATED`` / ``ANNOTATION_UPDATED`` / ``ANNOTATIONS_DELETED``).

Label Studio posts ``{"action", "annotation": {...}, "task": {...}, "project": {...}}``
(https://labelstud.io/guide/webhook_reference). Its webhook settings cannot sign a body:
they hold a URL and fixed ``headers``. So a delivery authenticates with a per-vendor
static credential in those headers, ``Authorization: Bearer <token>``, where the token is
either the vendor's API token or a webhook-only token (``acw_…``, issued by
``alignment-ci bridge vendor webhook-token NAME``; it opens this route and nothing else,
since it is the one credential that sits in a Label Studio project's settings).

Senders that can sign may instead send ``X-Alignment-CI-Vendor: NAME`` and
``X-Alignment-CI-Signature: sha256=<hex HMAC-SHA256 of the body>`` under the vendor's own
signing key, derived from the bridge's master secret (:func:`signing_key`); a signature
sent beside a bearer token is checked too. Either way the delivery is tied to one vendor,
and a Label Studio project (its id is in every payload) is bound to one vendor
(:func:`bind_project`): a vendor's credential cannot write into another vendor's project.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from alignment_ci.errors import InputError
from alignment_ci.formats.labelstudio import read_labelstudio_export
from alignment_ci.monitor.queue import QueueError, complete_task

from .auth import VendorIdentity, hash_token, new_token, vendor_for_token
from .state import Bridge
from .db import LabelStudioAnnotation, LabelStudioProject, LabelStudioRevision, Token, Vendor, utcnow

SIGNATURE_HEADER = "X-Alignment-CI-Signature"
VENDOR_HEADER = "X-Alignment-CI-Vendor"
WEBHOOK_TOKEN_PREFIX = "acw_"
HANDLED_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")
DELETED_ACTION = "ANNOTATIONS_DELETED"
DELETED_REVISION = "deleted"
MAX_DELETED = 10_000


class WebhookRefused(Exception):
    """A delivery the bridge refuses before reading it: ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# ----------------------------------------------------------------------------- credentials


def signing_key(master_secret: str, vendor: str) -> str:
    """Vendor ``vendor``'s signing key: HMAC-SHA256 of the vendor name under the bridge's master
    secret (hex). Each vendor signs with its own key; a key signs for no other vendor."""
    return hmac.new(master_secret.encode("utf-8"), b"alignment-ci labelstudio webhook\0" + vendor.encode("utf-8"),
                    hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=`` + hex HMAC-SHA256."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_ok(secret: str | bytes, body: bytes, header: str | None) -> bool:
    return bool(header) and hmac.compare_digest(sign(secret, body), header.strip())


def _vendor(session: Session, name: str) -> Vendor:
    vendor = session.scalar(select(Vendor).where(Vendor.name == name))
    if vendor is None:
        raise InputError(f"no vendor {name!r}; add it with `alignment-ci bridge vendor add {name}`")
    return vendor


def issue_webhook_token(session: Session, name: str) -> str:
    """A webhook-only token for vendor ``name`` (stored as its sha256, shown once). It
    authenticates ``POST /v1/webhooks/labelstudio`` and is refused by every other route;
    ``bridge vendor revoke`` revokes it with the vendor's other tokens."""
    vendor = _vendor(session, name)
    token = WEBHOOK_TOKEN_PREFIX + new_token().removeprefix("acb_")
    session.add(Token(vendor_id=vendor.id, token_hash=hash_token(token), prefix=token[:10]))
    session.commit()
    return token


def vendor_for_webhook_token(session: Session, token: str) -> VendorIdentity | None:
    """The vendor of a live webhook token or API token, or None."""
    if token.startswith(WEBHOOK_TOKEN_PREFIX) and len(token) <= 200:
        row = session.execute(
            select(Vendor.id, Vendor.name).join(Token, Token.vendor_id == Vendor.id)
            .where(Token.token_hash == hash_token(token), Token.revoked_at.is_(None))
        ).first()
        return VendorIdentity(row.id, row.name) if row else None
    return vendor_for_token(session, token)


def bind_project(session: Session, name: str, project_id: int, url: str | None = None) -> dict[str, Any]:
    """Bind Label Studio project ``project_id`` to vendor ``name`` (idempotent). A project
    already bound to another vendor is an error: unbind it there first."""
    if isinstance(project_id, bool) or not isinstance(project_id, int) or not 0 < project_id < 2**63:
        raise InputError(f"a Label Studio project id is a positive integer, got {project_id!r}")
    vendor = _vendor(session, name)
    row = session.get(LabelStudioProject, project_id)
    if row is not None and row.vendor_id != vendor.id:
        owner = session.get(Vendor, row.vendor_id)
        raise InputError(f"Label Studio project {project_id} is bound to vendor {owner.name if owner else row.vendor_id!r}; "
                         "a project belongs to one vendor")
    if row is None:
        session.add(LabelStudioProject(project_id=project_id, vendor_id=vendor.id, url=url))
    elif url:
        row.url = url
    try:
        session.commit()
    except SAIntegrityError:
        session.rollback()
        raise InputError(f"Label Studio project {project_id} was bound concurrently; run the command again") from None
    return {"vendor": name, "project": project_id}


def authenticate(
    session: Session,
    *,
    authorization: str | None,
    vendor_name: str | None,
    has_signature: bool,
    master_secret: str | None,
) -> tuple[VendorIdentity, str | None]:
    """The vendor a delivery speaks for, and the signing key its signature must match (None when
    it sent no signature). Raises :class:`WebhookRefused`; the body is checked afterwards."""
    vendor: VendorIdentity | None = None
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise WebhookRefused(401, "the Authorization header must be 'Bearer <token>'")
        vendor = vendor_for_webhook_token(session, token.strip())
        if vendor is None:
            raise WebhookRefused(401, "unknown or revoked token; issue one with `alignment-ci bridge vendor webhook-token NAME`")
        if vendor_name is not None and vendor_name != vendor.name:
            raise WebhookRefused(401, f"{VENDOR_HEADER} names another vendor than the token's")
    elif has_signature and vendor_name:
        row = session.execute(select(Vendor.id, Vendor.name).where(Vendor.name == vendor_name)).first()
        if row is None:
            raise WebhookRefused(401, f"bad {SIGNATURE_HEADER} for {VENDOR_HEADER}")
        vendor = VendorIdentity(row.id, row.name)
    else:
        raise WebhookRefused(
            401, "no credential: in the Label Studio webhook's headers set 'Authorization: Bearer <token>' "
            f"(`alignment-ci bridge vendor webhook-token NAME`), or sign with {SIGNATURE_HEADER} and {VENDOR_HEADER}")
    if not has_signature:
        return vendor, None
    if not master_secret:
        raise WebhookRefused(403, "signed webhooks are off on this bridge (no master secret is set); "
                                  "send 'Authorization: Bearer <token>' instead")
    return vendor, signing_key(master_secret, vendor.name)


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def parse_body(body: bytes, max_depth: int) -> Any:
    """The JSON of a delivery. InputError (400) for bad JSON; WebhookRefused(422) when it nests
    deeper than ``max_depth`` (the setting ``bridge.max_webhook_depth``)."""
    try:
        payload = json.loads(body)
    except RecursionError:
        payload = None
        depth = None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError("the webhook body is not JSON") from None
    else:
        depth = _depth(payload)
    if depth is None or depth > max_depth:
        raise WebhookRefused(422, f"the webhook body nests deeper than {max_depth} levels "
                                  "(bridge.max_webhook_depth); a Label Studio annotation payload needs far fewer")
    return payload


def _int_id(obj: Any, what: str) -> int | None:
    if obj is None:
        return None
    value = obj.get("id") if isinstance(obj, dict) else obj
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InputError(f"{what}.id must be a non-negative integer")
    return value


def _project_id(payload: dict[str, Any], annotation: dict[str, Any] | None) -> int:
    project = payload.get("project")
    if project is None and annotation is not None:
        project = annotation.get("project")
    project_id = _int_id(project, "project")
    if project_id is None:
        raise InputError(f"{payload.get('action')}: the body names no project (project.id)")
    return project_id


def check_project(session: Session, vendor: VendorIdentity, project_id: int) -> None:
    """WebhookRefused(403) unless ``project_id`` is bound to ``vendor``."""
    owner = session.scalar(select(LabelStudioProject.vendor_id).where(LabelStudioProject.project_id == project_id))
    if owner != vendor.id:
        raise WebhookRefused(403, f"Label Studio project {project_id} is not bound to this vendor; bind it with "
                                  f"`alignment-ci labelstudio connect` or `alignment-ci bridge vendor webhook-token "
                                  f"{vendor.name} --project {project_id}`")


def revision_of(annotation: dict[str, Any]) -> str:
    """The key of an annotation revision: its ``updated_at`` (Label Studio sets it on every save),
    else a hash of the annotation."""
    updated = annotation.get("updated_at")
    if isinstance(updated, str) and 0 < len(updated) <= 64 and updated != DELETED_REVISION:
        return updated
    return "sha256:" + hashlib.sha256(json.dumps(annotation, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def complete_queue_task(session: Session, bridge: Bridge, vendor: VendorIdentity, task: Any,
                        annotation: dict[str, Any]) -> dict[str, Any] | None:
    """Complete the rater-queue task a Label Studio task carries (``data.queue_task_id``, put there
    by ``alignment-ci labelstudio connect``) with the annotation's answer, read by the same importer
    as exports. None for a task that did not come from the queue; else ``{task_id, completed}``
    plus ``answer`` or the ``reason`` it was not completed. Whether the task was gold is not said."""
    data = task.get("data") if isinstance(task, dict) else None
    queue_task_id = data.get("queue_task_id") if isinstance(data, dict) else None
    if queue_task_id is None:
        return None
    if not isinstance(queue_task_id, str) or not queue_task_id or len(queue_task_id) > 64:
        return {"task_id": None, "completed": False, "reason": "data.queue_task_id is not a queue task id"}
    rater_id = data.get("queue_rater_id") if isinstance(data.get("queue_rater_id"), str) else None
    taxonomy = bridge.config.taxonomy
    dimension = data.get("dimension") if data.get("dimension") in taxonomy.names else taxonomy.default_dimension
    outcome: dict[str, Any] = {"task_id": queue_task_id, "completed": False}
    try:
        imported = read_labelstudio_export([{"id": task.get("id"), "data": data, "annotations": [annotation]}], "webhook",
                                           dimension=dimension, dimensions=list(taxonomy.names))
    except InputError as exc:
        return {**outcome, "reason": str(exc)}
    except (AttributeError, TypeError):  # vendor data of a shape the importer does not expect: never a 500
        return {**outcome, "reason": "the annotation's result is not readable (each result's value must be an object)"}
    answers = [row["choice"] for row in imported.rows if row["dimension"] == dimension]
    if not answers:
        reason = imported.skipped[0]["reason"] if imported.skipped else f"no answer for {dimension}"
        return {**outcome, "reason": reason}
    try:
        with session.begin_nested():
            complete_task(session, vendor.name, queue_task_id, rater_id=rater_id, answer=answers[0])
    except (QueueError, InputError) as exc:
        return {**outcome, "reason": str(exc)}
    return {"task_id": queue_task_id, "completed": True, "answer": answers[0]}


def stored_payload(payload: dict[str, Any]) -> str:
    """What the bridge keeps of a delivery: everything but the project object, of which only id and
    title (Label Studio sends the whole project, its access token and task-data password included)."""
    project = payload.get("project")
    kept = {**payload, "project": {k: project[k] for k in ("id", "title") if k in project}} if isinstance(project, dict) else payload
    return json.dumps(kept, ensure_ascii=False, sort_keys=True)


def _answer(action: str, annotation_id: int | None, task_id: int | None, revisions: int, **extra: Any) -> dict[str, Any]:
    return {"handled": True, "action": action, "annotation_id": annotation_id, "task_id": task_id,
            "revisions": revisions, "duplicate": False, "deleted": [], "queue_task": None, **extra}


def _annotation_row(session: Session, vendor: VendorIdentity, annotation_id: int) -> LabelStudioAnnotation | None:
    return session.scalar(select(LabelStudioAnnotation).where(
        LabelStudioAnnotation.vendor_id == vendor.id, LabelStudioAnnotation.annotation_id == annotation_id))


def _seen(session: Session, vendor: VendorIdentity, annotation_id: int, revision: str) -> LabelStudioRevision | None:
    return session.scalar(select(LabelStudioRevision).where(
        LabelStudioRevision.vendor_id == vendor.id, LabelStudioRevision.annotation_id == annotation_id,
        LabelStudioRevision.revision == revision))


def _store_revision(session: Session, bridge: Bridge, vendor: VendorIdentity, payload: dict[str, Any], *, action: str,
                    annotation: dict[str, Any], task: Any, task_id: int | None, project_id: int) -> dict[str, Any]:
    annotation_id = int(annotation["id"])
    revision = revision_of(annotation)
    row = _annotation_row(session, vendor, annotation_id)
    seen = _seen(session, vendor, annotation_id, revision)
    if seen is not None:  # a replay: nothing changes
        return _answer(action, annotation_id, task_id, row.revisions if row else 1, duplicate=True,
                       queue_task=json.loads(seen.queue) if seen.queue else None)
    latest = session.scalar(select(func.max(LabelStudioRevision.revision)).where(
        LabelStudioRevision.vendor_id == vendor.id, LabelStudioRevision.annotation_id == annotation_id,
        LabelStudioRevision.revision != DELETED_REVISION, LabelStudioRevision.revision.not_like("sha256:%")))
    # ISO-8601 timestamps in one format sort as strings; an older revision arriving late is kept
    # as history but does not replace the latest state.
    newest = (row is None or row.action != DELETED_ACTION) and (
        latest is None or revision.startswith("sha256:") or revision >= latest)
    queue = complete_queue_task(session, bridge, vendor, task, annotation) if newest else None
    stored = stored_payload(payload)
    session.add(LabelStudioRevision(vendor_id=vendor.id, annotation_id=annotation_id, revision=revision, action=action,
                                    payload=stored, queue=json.dumps(queue) if queue is not None else None))
    if row is None:
        row = LabelStudioAnnotation(vendor_id=vendor.id, annotation_id=annotation_id, task_id=task_id,
                                    project_id=project_id, action=action, payload=stored, revisions=1)
        session.add(row)
    else:
        row.revisions += 1
        if newest:
            row.action, row.payload, row.task_id, row.project_id, row.updated_at = action, stored, task_id, project_id, utcnow()
    session.flush()
    return _answer(action, annotation_id, task_id, row.revisions, queue_task=queue)


def _store_deletions(session: Session, vendor: VendorIdentity, payload: dict[str, Any], ids: list[int],
                     project_id: int) -> dict[str, Any]:
    recorded = []
    stored = stored_payload(payload)
    for annotation_id in ids:
        if _seen(session, vendor, annotation_id, DELETED_REVISION) is not None:
            continue
        session.add(LabelStudioRevision(vendor_id=vendor.id, annotation_id=annotation_id, revision=DELETED_REVISION,
                                        action=DELETED_ACTION, payload=stored))
        row = _annotation_row(session, vendor, annotation_id)
        if row is None:  # deleted before the bridge saw it
            session.add(LabelStudioAnnotation(vendor_id=vendor.id, annotation_id=annotation_id, task_id=None,
                                              project_id=project_id, action=DELETED_ACTION, payload=stored, revisions=1))
        else:
            row.action, row.updated_at, row.revisions = DELETED_ACTION, utcnow(), row.revisions + 1
        recorded.append(annotation_id)
    session.flush()
    return _answer(DELETED_ACTION, None, None, 0, duplicate=not recorded and bool(ids), deleted=recorded)


def record_annotation(bridge: Bridge, vendor: VendorIdentity, payload: Any) -> dict[str, Any]:
    """Store one webhook delivery; returns what the route answers.

    ANNOTATION_CREATED/UPDATED: one revision per (annotation id, ``updated_at``); the same
    revision again changes nothing (``duplicate``); a new one is kept as history and, when it
    is the newest, becomes the latest state and completes the queue task it answers
    (:func:`complete_queue_task`), in the same transaction. ANNOTATIONS_DELETED: each
    annotation's deletion is recorded once. Raises InputError for a malformed payload and
    WebhookRefused(403) for a project not bound to ``vendor``."""
    if not isinstance(payload, dict):
        raise InputError("a Label Studio webhook body is a JSON object with 'action' and 'annotation'")
    action = payload.get("action")
    if action == DELETED_ACTION:
        items = payload.get("annotations")
        if not isinstance(items, list) or len(items) > MAX_DELETED:
            raise InputError(f"{action}: 'annotations' must be a list of at most {MAX_DELETED} annotations")
        ids = sorted({i for i in (_int_id(item, "annotations[]") for item in items) if i is not None})
        project_id = _project_id(payload, None)

        def write(s: Session) -> dict[str, Any]:
            return _store_deletions(s, vendor, payload, ids, project_id)
    elif action in HANDLED_ACTIONS:
        annotation = payload.get("annotation")
        if not isinstance(annotation, dict):
            raise InputError(f"{action}: the body has no 'annotation' object")
        if _int_id(annotation, "annotation") is None:
            raise InputError(f"{action}: annotation.id is missing")
        task = payload.get("task") if isinstance(payload.get("task"), dict) else annotation.get("task")
        task_id = _int_id(task, "task")
        project_id = _project_id(payload, annotation)

        def write(s: Session) -> dict[str, Any]:
            return _store_revision(s, bridge, vendor, payload, action=action, annotation=annotation, task=task,
                                   task_id=task_id, project_id=project_id)
    else:
        return {"handled": False, "action": action if isinstance(action, str) else None, "annotation_id": None,
                "task_id": None, "revisions": 0, "duplicate": False, "deleted": [], "queue_task": None}
    for _ in range(3):
        with bridge.sessions() as s:
            check_project(s, vendor, project_id)
            try:
                answer = write(s)
                s.commit()
                return answer
            except SAIntegrityError:  # the same revision written concurrently: the next round sees it
                s.rollback()
    raise InputError("the annotation was being written concurrently; deliver the webhook again")
