"""The ``webhook`` router: POST the routing table to a URL; any 2xx answer means applied.

Each request carries ``Idempotency-Key: <rollout_id>-<seq>`` so a receiver can drop the
duplicate that a crash between its 2xx and the controller's "applied" record would
cause on resume. 5xx, 429 and network errors are retried with exponential backoff
(``max_attempts`` in all); other 4xx answers are final. The router cannot read the
table back, so :meth:`WebhookRouter.current` returns the last table this object
applied.
"""

from __future__ import annotations

import random
import time


import httpx

from ...errors import StoreError
from .base import RoutingTable, check_table, same_table

RETRY_STATUS = {429, 500, 502, 503, 504}


class WebhookError(StoreError):
    """The webhook refused the routing table or could not be reached."""


class WebhookRouter:
    """POST routing tables to ``url``."""

    kind = "webhook"

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout_s: float = 10.0,
        max_attempts: int = 4,
        backoff_s: float = 0.5,
    ) -> None:
        self.url = url
        self.headers = dict(headers or {})
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self._last: RoutingTable | None = None

    def describe(self) -> str:
        return f"webhook:{self.url}"

    def current(self) -> RoutingTable | None:
        return self._last

    def apply(self, table: RoutingTable) -> bool:
        check_table(table)
        if same_table(self._last, table):
            return False
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"{table.get('rollout_id', 'rollout')}-{table.get('seq', 0)}",
            **self.headers,
        }
        problem = ""
        with httpx.Client(timeout=self.timeout_s) as client:
            for attempt in range(self.max_attempts):
                try:
                    response = client.post(self.url, json=table, headers=headers)
                except httpx.HTTPError as exc:
                    problem = f"request failed: {exc}"
                else:
                    if 200 <= response.status_code < 300:
                        self._last = dict(table)
                        return True
                    problem = f"HTTP {response.status_code}: {response.text[:200]}"
                    if response.status_code not in RETRY_STATUS:
                        raise WebhookError(
                            f"{self.url} refused the routing table ({problem}); check the URL and its credentials"
                        )
                if attempt + 1 < self.max_attempts:
                    time.sleep(self.backoff_s * 2**attempt * random.uniform(0.5, 1.0))
        raise WebhookError(f"{self.url}: routing table not applied after {self.max_attempts} attempts ({problem})")


