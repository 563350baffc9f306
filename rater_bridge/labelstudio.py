"""Connect a Label Studio project to the bridge: ``alignment-ci labelstudio connect``.

Through Label Studio's documented REST API (https://api.labelstud.io, plain httpx):

1. the project: created with the labeling config generated from the taxonomy
   (:func:`alignment_ci.formats.labelstudio.labeling_config`), or an existing one by id;
2. the tasks: the rater queue hands out up to ``n`` pairwise tasks of the dimension to the
   rater ``labelstudio-<project id>`` of the vendor (gold mixed in as for any rater); each
   becomes a Label Studio task whose data carries ``queue_task_id`` and ``queue_rater_id``
   beside ``prompt``/``response_a``/``response_b``, so the webhook can complete it;
3. the binding and the credential: the project is bound to the vendor, and a webhook-only
   token is issued for it;
4. the webhook: ``<bridge url>/v1/webhooks/labelstudio`` for ANNOTATION_CREATED,
   ANNOTATION_UPDATED and ANNOTATIONS_DELETED, with ``Authorization: Bearer <webhook token>``
   in its fixed headers (an existing webhook to the same URL is updated, not duplicated).

Label Studio tokens: a legacy API token is sent as ``Authorization: Token …``; a personal
access token (a JWT refresh token) is exchanged at ``/api/token/refresh`` for an access
token sent as ``Bearer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from alignment_ci.errors import AlignmentCIError, InputError
from alignment_ci.formats.labelstudio import labeling_config
from alignment_ci.monitor.queue import next_tasks, release_task, session_scope

from .state import Bridge
from .webhooks import DELETED_ACTION, HANDLED_ACTIONS, bind_project, issue_webhook_token

WEBHOOK_PATH = "/v1/webhooks/labelstudio"
WEBHOOK_ACTIONS = [*HANDLED_ACTIONS, DELETED_ACTION]


class LabelStudioError(AlignmentCIError):
    """Label Studio answered with an error (or not at all)."""


@dataclass
class LabelStudioClient:
    """A small client of Label Studio's REST API (the calls ``connect`` needs)."""

    url: str
    token: str
    verify: bool | str = True
    timeout_s: float = 30.0
    _client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise InputError(f"--url must be an http(s) URL of the Label Studio server, got {self.url!r}")
        self._client = httpx.Client(base_url=self.url, timeout=self.timeout_s, verify=self.verify)
        self._client.headers["Authorization"] = self._authorization()

    def _authorization(self) -> str:
        if self.token.count(".") == 2:  # a personal access token: a JWT refresh token
            r = self._send("POST", "/api/token/refresh", json={"refresh": self.token})  # before the header is set
            return f"Bearer {r['access']}"
        return f"Token {self.token}"

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            r = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise LabelStudioError(f"Label Studio at {self.url}: {method} {path} failed ({exc})") from None
        if r.status_code in (401, 403):
            raise InputError(f"Label Studio refused the token ({r.status_code} on {path}): use an access token of a user "
                             "in the project's organization (Account & Settings)")
        if r.status_code >= 400:
            raise LabelStudioError(f"Label Studio: {method} {path} answered {r.status_code}: {r.text[:500]}")
        return r.json() if r.content else None

    def close(self) -> None:
        self._client.close()

    def project(self, project_id: int) -> dict[str, Any]:
        return self._send("GET", f"/api/projects/{project_id}")

    def find_project(self, title: str) -> dict[str, Any] | None:
        page = self._send("GET", "/api/projects", params={"title": title, "page_size": 100})
        for project in page.get("results", []) if isinstance(page, dict) else page:
            if project.get("title") == title:
                return project
        return None

    def create_project(self, title: str, label_config: str, description: str = "") -> dict[str, Any]:
        return self._send("POST", "/api/projects", json={"title": title, "label_config": label_config,
                                                         "description": description})

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> dict[str, Any]:
        return self._send("POST", f"/api/projects/{project_id}/import", json=tasks)

    def webhooks(self, project_id: int) -> list[dict[str, Any]]:
        return self._send("GET", "/api/webhooks", params={"project": project_id})

    def put_webhook(self, project_id: int, url: str, headers: dict[str, str]) -> dict[str, Any]:
        body = {"project": project_id, "url": url, "send_payload": True, "send_for_all_actions": False,
                "headers": headers, "is_active": True, "actions": WEBHOOK_ACTIONS}
        for hook in self.webhooks(project_id):
            if hook.get("url") == url and hook.get("project") == project_id:
                return self._send("PATCH", f"/api/webhooks/{hook['id']}", json=body)
        try:
            return self._send("POST", "/api/webhooks", json=body)
        except LabelStudioError as exc:
            if "reserved network address" in str(exc) or "SSRF" in str(exc):
                raise InputError(
                    f"Label Studio refuses the webhook URL {url} (a private or loopback address): set "
                    "SSRF_PROTECTION_ENABLED=false in Label Studio's environment, or give a public --bridge-url"
                ) from None
            raise


def queue_tasks_for(bridge: Bridge, vendor: str, project_id: int, dimension: str, n: int) -> list[dict[str, Any]]:
    """Up to ``n`` pairwise queue tasks of ``dimension`` handed out to the project's rater, as
    Label Studio task data. Calibration items are not imported (their grading is the bridge's)."""
    rater_id = f"labelstudio-{project_id}"
    with bridge.write_lock, session_scope(bridge.engine) as s:
        handed = next_tasks(s, vendor, rater_id, n, bridge.config.bridge.gold_rate, dimension=dimension)
    tasks = []
    for task in handed:
        if task["phase"] != "task" or task["task_type"] != "pairwise":
            continue
        tasks.append({"data": {"prompt": task["prompt"], "response_a": task["responses"][0],
                               "response_b": task["responses"][1], "dimension": task["dimension"],
                               "queue_task_id": task["task_id"], "queue_rater_id": rater_id,
                               **({"content_warning": task["content_warning"]} if task["content_warning"] else {})}})
    return tasks


def connect(
    bridge: Bridge,
    client: LabelStudioClient,
    *,
    project: str,
    vendor: str,
    bridge_url: str,
    dimension: str | None = None,
    n_tasks: int = 100,
) -> dict[str, Any]:
    """Create or reuse the project, import queue tasks, bind it to ``vendor`` and register the
    webhook. ``project`` is an existing project's id or the title of the one to create (or reuse).
    Returns ``{project, title, created, tasks_imported, webhook, webhook_url}``."""
    taxonomy = bridge.config.taxonomy
    dim = dimension or taxonomy.default_dimension
    xml = labeling_config(taxonomy, dim)  # validates the dimension before anything is written
    if not bridge_url.startswith(("http://", "https://")):
        raise InputError(f"--bridge-url must be the http(s) URL Label Studio reaches the bridge at, got {bridge_url!r}")
    created = False
    if project.isdigit():
        found = client.project(int(project))
    else:
        found = client.find_project(project)
        if found is None:
            found = client.create_project(project, xml, f"alignment-ci: pairwise {dim} judgments for vendor {vendor}")
            created = True
    project_id = int(found["id"])
    with bridge.sessions() as s:
        bind_project(s, vendor, project_id, url=client.url)
        token = issue_webhook_token(s, vendor)
    webhook_url = bridge_url.rstrip("/") + WEBHOOK_PATH
    hook = client.put_webhook(project_id, webhook_url, {"Authorization": f"Bearer {token}"})
    tasks = queue_tasks_for(bridge, vendor, project_id, dim, n_tasks) if n_tasks > 0 else []
    try:
        imported = client.import_tasks(project_id, tasks)["task_count"] if tasks else 0
    except Exception:
        # Not in Label Studio, so nobody can work on them: back to the pool.
        with bridge.write_lock, session_scope(bridge.engine) as s:
            for task in tasks:
                release_task(s, vendor, task["data"]["queue_task_id"])
        raise
    return {"project": project_id, "title": found.get("title"), "created": created, "dimension": dim,
            "tasks_imported": int(imported), "webhook": hook.get("id"), "webhook_url": webhook_url,
            "actions": WEBHOOK_ACTIONS}
