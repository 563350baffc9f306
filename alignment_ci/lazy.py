"""The import policy's one declaration: which third-party libraries are heavy, and lazy
re-exports for package ``__init__`` files (TRL's ``_import_structure``, in miniature).

* The project's own modules are imported at the top of every file.
* A heavy library (:data:`HEAVY`) is imported inside the functions of the one module
  that needs it, never at a module's top level, so `alignment-ci --help` and
  ``import alignment_ci.<anything>`` load none of them (tests/test_imports.py checks both).
* A module of the project that must import a heavy library at its top is itself heavy
  (:data:`HEAVY_MODULES`): light modules load it by name, when they run.
* A package ``__init__`` that offers names from a submodule which loads a heavy library
  declares them with :func:`lazy_exports`: the submodule is imported on first use.

docs/architecture.md states the rule and the layers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

#: Top-level import names of the heavy third-party libraries: seconds to import, or a GPU
#: runtime. Only the modules that use them import them, inside functions.
HEAVY: tuple[str, ...] = (
    "torch",
    "transformers",
    "trl",
    "peft",
    "datasets",
    "evaluate",
    "scipy",
    "statsmodels",
    "sklearn",
    "matplotlib",
    "sentence_transformers",
    "crowdkit",
    "modal",
)


#: The project's modules that import a heavy library at their top (a base class or a
#: decorator needs it there). A light module never imports them with an import statement:
#: it loads them by name with :func:`heavy_module` when it runs (the training stages of
#: ``alignment_ci.train.stages.STAGE_MODULES`` are loaded the same way).
HEAVY_MODULES: dict[str, str] = {
    "stages.common": "alignment_ci.train.stages.common",
    "modal_app": "alignment_ci.train.modal_app",
}


def heavy_module(name: str) -> Any:
    """The heavy module :data:`HEAVY_MODULES` names ``name``, imported on first call."""
    return importlib.import_module(HEAVY_MODULES[name])


def lazy_exports(package: str, structure: Mapping[str, list[str]]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package that re-exports ``structure``
    (``{submodule: [names]}``) without importing the submodules until a name is used.

    In the package's ``__init__.py``::

        _STRUCTURE = {"raters": ["rater_report", "reliability_scores"]}
        __getattr__, __dir__ = lazy_exports(__name__, _STRUCTURE)
        __all__ = [name for names in _STRUCTURE.values() for name in names]
    """
    where = {name: module for module, names in structure.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        return value

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__
