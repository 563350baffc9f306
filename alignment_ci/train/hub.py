"""Hugging Face hub base models: fail in seconds, with the fix, when the hub cannot be reached.

Without this, an uncached hub model on a machine without network spends about a minute
in huggingface_hub's retries and ends in a traceback. :func:`check_hub_model` answers
first from the local cache (no network), then, when the model is not cached, from
``HF_HUB_OFFLINE`` and a short TCP probe of the endpoint; a model it cannot get is an
:class:`~alignment_ci.errors.InputError` (exit 2) naming what to do.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from ..errors import InputError

PROBE_TIMEOUT_S = 3.0


def _offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT") or "https://huggingface.co"


def reachable(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True when a TCP connection to the URL's host and port opens within ``timeout_s``."""
    parts = urlparse(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def is_cached(model_id: str, revision: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model_id, "config.json", revision=revision)
    return isinstance(found, str)


def check_hub_model(model_id: str, revision: str | None, *, probe=reachable) -> None:
    """Return when ``model_id@revision`` can be loaded; else raise InputError with the fix."""
    if is_cached(model_id, revision):
        return
    at = f"{model_id}@{revision}" if revision else model_id
    download = f"`huggingface-cli download {model_id}{f' --revision {revision}' if revision else ''}`"
    if _offline():
        raise InputError(
            f"base model {at} is not in the local Hugging Face cache and offline mode is on (HF_HUB_OFFLINE=1). "
            f"Download it once where the hub is reachable ({download}, with HF_TOKEN for a gated model) and reuse "
            "that cache (HF_HOME), or set training.base_model to a local directory. See docs/models.md"
        )
    if not probe(endpoint()):
        raise InputError(
            f"base model {at}: the Hugging Face hub ({endpoint()}) is not reachable from this machine (no connection "
            f"within {PROBE_TIMEOUT_S:.0f} s). Check the network or proxy (HTTPS_PROXY), or download the model where "
            f"the hub is reachable ({download}) and run with HF_HUB_OFFLINE=1 and that cache, or set "
            "training.base_model to a local directory. See docs/models.md"
        )
