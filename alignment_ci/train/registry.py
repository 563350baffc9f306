"""The training backends' registry: each backend by name, imported when chosen.

The backends (:mod:`alignment_ci.train.backends`) build on :mod:`alignment_ci.train.runs`;
runs picks one through :func:`get_backend` here, by module name, so the dependency points
one way (backends -> runs -> registry) and the Modal SDK loads only when Modal is chosen.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from ..config import Config
from ..errors import InputError

BACKENDS = {"local": "alignment_ci.train.backends.local:LocalBackend", "modal": "alignment_ci.train.backends.modal:ModalBackend"}


class Backend(Protocol):
    def run(self, config: Config, job, run_key: str, rows: list[dict], parent_dirs: dict, callback) -> dict[str, Any]: ...

    def submit(self, config: Config, job, run_key: str, dataset, parent_records: dict, store) -> dict[str, Any]: ...


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise InputError(f"unknown training backend {name!r}; choose one of {', '.join(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)()
