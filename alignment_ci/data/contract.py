"""The public label-batch data contract (see DESIGN.md, "Data contract").

One judgment per row. The canonical in-memory form is an Arrow table / pandas DataFrame
with the columns below (absent optional columns are simply missing) plus ``line``: the
1-based physical line of the row in its source file (JSONL: line N is row N; CSV: the
header is line 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import cache


from ..config import TASK_TYPES  # noqa: F401  (defined once, in config.py; the data modules import it from here)
from .. import lazy

pa = lazy.module("pyarrow")

CHOICES = ("a", "b", "tie", "skip")
GOLD_CHOICES = ("a", "b", "tie")
MIN_RESPONSES, MAX_RESPONSES = 2, 9

LINE = "line"  # physical line column added by the readers

COMMON_REQUIRED = ("batch_id", "item_id", "rater_id", "dimension", "task_type", "prompt")
COMMON_OPTIONAL = (
    "is_gold",
    "rationale",
    "safety_flag",
    "hallucination_flag",
    "time_spent_s",
    "labeled_at",
    "sampling_bucket",
    "sampling_reason",
)
TASK_REQUIRED = {
    "pairwise": ("response_a", "response_b", "choice"),
    "likert": ("response", "rating"),
    "ranking": ("responses", "ranking"),
}
TASK_OPTIONAL = {
    "pairwise": ("model_a", "model_b", "gold_choice", "suggestion"),
    "likert": ("gold_rating",),
    "ranking": ("gold_ranking",),
}

# Arrow types of the canonical table. `labeled_at` stays a string (ISO-8601) in the
# canonical form; it is parsed where time matters.
_ARROW_TYPE_OF: dict[str, Callable[[], pa.DataType]] = {
    "batch_id": lambda: pa.string(),
    "item_id": lambda: pa.string(),
    "rater_id": lambda: pa.string(),
    "dimension": lambda: pa.string(),
    "task_type": lambda: pa.string(),
    "prompt": lambda: pa.string(),
    "is_gold": lambda: pa.bool_(),
    "rationale": lambda: pa.string(),
    "safety_flag": lambda: pa.bool_(),
    "hallucination_flag": lambda: pa.bool_(),
    "time_spent_s": lambda: pa.float64(),
    "labeled_at": lambda: pa.string(),
    "sampling_bucket": lambda: pa.string(),
    "sampling_reason": lambda: pa.string(),
    "response_a": lambda: pa.string(),
    "response_b": lambda: pa.string(),
    "choice": lambda: pa.string(),
    "model_a": lambda: pa.string(),
    "model_b": lambda: pa.string(),
    "gold_choice": lambda: pa.string(),
    "suggestion": lambda: pa.string(),
    "response": lambda: pa.string(),
    "rating": lambda: pa.int64(),
    "gold_rating": lambda: pa.int64(),
    "responses": lambda: pa.list_(pa.string()),
    "ranking": lambda: pa.list_(pa.int64()),
    "gold_ranking": lambda: pa.list_(pa.int64()),
}


class _ArrowTypes(Mapping[str, "pa.DataType"]):
    """Column name -> Arrow type, in contract order. The names are known without pyarrow;
    pyarrow loads when the first type is read."""

    def __getitem__(self, name: str) -> pa.DataType:
        return _arrow_types()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_ARROW_TYPE_OF)

    def __len__(self) -> int:
        return len(_ARROW_TYPE_OF)

    def __contains__(self, name: object) -> bool:
        return name in _ARROW_TYPE_OF


@cache
def _arrow_types() -> dict[str, pa.DataType]:
    return {name: make() for name, make in _ARROW_TYPE_OF.items()}


ARROW_TYPES: Mapping[str, pa.DataType] = _ArrowTypes()

# Free-text fields: checked for PII, spreadsheet formulas and size limits.
TEXT_FIELDS = (
    "prompt",
    "response_a",
    "response_b",
    "response",
    "responses",
    "rationale",
    "sampling_reason",
)

KNOWN_COLUMNS = tuple(ARROW_TYPES)


def required_columns(task_type: str) -> tuple[str, ...]:
    return COMMON_REQUIRED + TASK_REQUIRED[task_type]


def allowed_columns(task_type: str) -> tuple[str, ...]:
    return COMMON_REQUIRED + COMMON_OPTIONAL + TASK_REQUIRED[task_type] + TASK_OPTIONAL[task_type]
