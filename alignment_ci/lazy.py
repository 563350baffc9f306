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
import types
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
    "pandas",
    "pyarrow",
    "pandera",
)


#: The project's modules that import a heavy library at their top (a base class or a
#: decorator needs it there). A light module never imports them with an import statement:
#: it loads them by name with :func:`heavy_module` when it runs (the training stages of
#: ``alignment_ci.train.stages.STAGE_MODULES`` are loaded the same way).
HEAVY_MODULES: dict[str, str] = {
    "stages.common": "alignment_ci.train.stages.common",
    "modal_app": "alignment_ci.train.modal_app",
}


_PROBES = frozenset({"__wrapped__", "__getstate__", "__setstate__", "__reduce__", "__reduce_ex__", "__copy__",
                     "__deepcopy__", "__signature__", "__path__", "__all__"})


class _LazyModule(types.ModuleType):
    """A stand-in for a heavy library, bound at a module's top (``pd = lazy.module("pandas")``):
    the library is imported when an attribute is first read, and its names are copied in so
    that later reads are ordinary attribute reads."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__dict__["_lazy_target"] = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute in _PROBES:
            raise AttributeError(attribute)  # copy, pickle and inspect look for these: no import for them
        target = importlib.import_module(self.__dict__["_lazy_target"])
        self.__dict__.update({k: v for k, v in vars(target).items() if not (k.startswith("__") and k.endswith("__"))})
        return getattr(target, attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self.__dict__['_lazy_target']!r}>"


def module(name: str) -> Any:
    """``name`` (a heavy library or one of its submodules), imported on first attribute read.

    The one way a light module binds a heavy library at its top: ``pd = lazy.module("pandas")``
    reads like ``import pandas as pd`` and costs nothing until the module runs code that
    uses it. A module whose top level itself runs the library (a base class, a decorator)
    is heavy instead (:data:`HEAVY_MODULES`)."""
    if name.split(".")[0] not in HEAVY:
        raise ValueError(f"{name} is not a heavy library (alignment_ci.lazy.HEAVY)")
    return _LazyModule(name)


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
