"""Retries for GitHub REST calls: backoff on transient errors, waiting out rate limits.

GitHub documents three reasons to wait and try again
(https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api and
https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):

* a **secondary rate limit** (403 or 429): when the response carries ``Retry-After``,
  wait that many seconds; without it, wait at least one minute, then back off
  exponentially;
* a **primary rate limit** (403 or 429 with ``X-RateLimit-Remaining: 0``): wait until
  the epoch second in ``X-RateLimit-Reset``;
* a **server error** (500, 502, 503, 504) or a dropped connection: retry with
  exponential backoff, ``base_delay * 2**(attempt - 1)`` capped at ``max_delay``.

Anything else (401, a 403 that is a permission problem, 404, 422) is not retried.
A wait longer than ``max_wait`` is not slept through: the caller gets a
:class:`RateLimited` error naming the time to retry after.

The sleep and clock functions are injectable so tests can assert the exact waits
without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .base import RateLimited

T = TypeVar("T")

RETRYABLE_SERVER_STATUSES = frozenset({500, 502, 503, 504})
SECONDARY_LIMIT_MIN_WAIT = 60.0
"""GitHub: without ``Retry-After``, wait at least one minute after a secondary limit."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. Waits are in seconds."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_wait: float = 900.0
    rate_limit_margin: float = 1.0
    """Seconds added after ``X-RateLimit-Reset`` (the reset is a whole second, clocks drift)."""


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:  # plain dicts (tests) are case-sensitive; requests' are not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def retry_delay(
    status: int | None,
    headers: Mapping[str, str] | None,
    message: str,
    attempt: int,
    policy: RetryPolicy,
    now: float,
) -> tuple[str, float] | None:
    """The wait before the next attempt after a failed one, or ``None`` to give up.

    ``status`` is the HTTP status (``None`` for a connection error), ``attempt`` the
    1-based number of the attempt that failed, ``now`` the current epoch time.
    Returns ``(reason, seconds)``; reason is ``retry-after``, ``rate-limit-reset``,
    ``secondary-rate-limit`` or ``server-error``.
    """
    backoff = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
    if status is None or status in RETRYABLE_SERVER_STATUSES:
        return ("server-error", backoff)
    if status not in (403, 429):
        return None
    retry_after = _float(_header(headers, "Retry-After"))
    if retry_after is not None:
        return ("retry-after", max(0.0, retry_after))
    if _header(headers, "X-RateLimit-Remaining") == "0":
        reset = _float(_header(headers, "X-RateLimit-Reset"))
        if reset is not None:
            return ("rate-limit-reset", max(0.0, reset - now) + policy.rate_limit_margin)
    if status == 429 or "rate limit" in message.lower():
        return ("secondary-rate-limit", max(SECONDARY_LIMIT_MIN_WAIT, backoff))
    return None  # a 403 that is about permissions: waiting will not help


def _describe(exc: BaseException) -> tuple[int | None, Mapping[str, str] | None, str] | None:
    """(status, headers, message) of a github3 exception, or None when it is not an HTTP/transport error."""
    from github3 import exceptions as gh_exc

    if isinstance(exc, gh_exc.TransportError):  # includes ConnectionError
        return (None, None, str(exc))
    if isinstance(exc, gh_exc.GitHubError) and getattr(exc, "response", None) is not None:
        message = exc.msg if isinstance(exc.msg, str) else str(exc.msg)
        return (exc.code, exc.response.headers, message or "")
    return None


def is_transient(exc: BaseException) -> bool:
    """True when waiting and retrying could help (server error, connection, rate limit)."""
    described = _describe(exc)
    if described is None:
        return False
    status, headers, message = described
    return retry_delay(status, headers, message, 1, RetryPolicy(), time.time()) is not None


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy | None = None,
    *,
    sleep: Callable[[float], Any] = time.sleep,
    clock: Callable[[], float] = time.time,
    what: str = "GitHub API call",
) -> T:
    """Run ``fn`` and retry it as :func:`retry_delay` says; re-raise when it says stop.

    ``fn`` must be safe to run again: callers pass a whole read-then-write unit (find
    the comment, then edit or create it), so a retried write re-reads first.
    """
    policy = policy or RetryPolicy()
    attempt = 1
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below, re-raised when not retryable
            described = _describe(exc)
            if described is None or attempt >= policy.max_attempts:
                raise
            status, headers, message = described
            decision = retry_delay(status, headers, message, attempt, policy, clock())
            if decision is None:
                raise
            reason, wait = decision
            if wait > policy.max_wait:
                raise RateLimited(
                    f"{what}: GitHub rate limit ({reason}) asks to wait {wait:.0f} s, more than "
                    f"forge max_wait ({policy.max_wait:.0f} s); rerun the step after "
                    f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(clock() + wait))} "
                    "or raise max_wait",
                    wait,
                ) from exc
            sleep(wait)
            attempt += 1
