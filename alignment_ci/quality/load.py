"""Load a label batch for quality analysis, refusing one that does not validate."""

from __future__ import annotations

from pathlib import Path
from typing import Any


from ..config import Config
from ..data.readers import read_batch
from ..data.validate import validate_file
from ..errors import InputError
from .. import lazy

pd = lazy.module("pandas")


def load_valid_batch(path: str | Path, config: Config, *, task_type: str | None = None) -> tuple[pd.DataFrame, Any]:
    """Validate ``path`` and read it as the canonical frame; InputError if it is rejected."""

    report = validate_file(path, config, task_type=task_type)
    if not report.accepted:
        first = report.errors[0]
        raise InputError(
            f"{path}: not a valid label batch ({report.error_count} error(s); first: line {first.line}, "
            f"column {first.column}: {first.message}); run `alignment-ci validate {path}` for all of them"
        )
    df = read_batch(path, task_type=task_type, default_dimension=config.taxonomy.default_dimension, limits=config.validation.limits)
    return df, report
