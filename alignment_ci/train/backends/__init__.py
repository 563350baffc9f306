"""Training backends behind one small interface, chosen by name (lazily imported).

A backend runs one resolved :class:`~alignment_ci.train.specs.StageJob` on training
rows and returns ``{metrics, per_step, device, wall_s, model_tar | model_dir}``. Both run
:func:`alignment_ci.train.backends.local.execute_job`: the Modal function body is the
same function the local backend calls.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from ...errors import InputError

BACKENDS = {"local": "alignment_ci.train.backends.local:LocalBackend", "modal": "alignment_ci.train.backends.modal:ModalBackend"}


class Backend(Protocol):
    def run(self, config, job, run_key: str, rows: list[dict], parent_dirs: dict, callback) -> dict[str, Any]: ...

    def submit(self, config, job, run_key: str, dataset, parent_records: dict, store) -> dict[str, Any]: ...


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise InputError(f"unknown training backend {name!r}; choose one of {', '.join(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)()
