"""The public label-batch data contract (see DESIGN.md, "Data contract").

One judgment per row. The canonical in-memory form is an Arrow table / pandas DataFrame
with the columns below (absent optional columns are simply missing) plus ``line``: the
1-based physical line of the row in its source file (JSONL: line N is row N; CSV: the
header is line 1).
"""

from __future__ import annotations

import pyarrow as pa

from ..config import TASK_TYPES  # noqa: F401  (defined once, in config.py; the data modules import it from here)

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
ARROW_TYPES: dict[str, pa.DataType] = {
    "batch_id": pa.string(),
    "item_id": pa.string(),
    "rater_id": pa.string(),
    "dimension": pa.string(),
    "task_type": pa.string(),
    "prompt": pa.string(),
    "is_gold": pa.bool_(),
    "rationale": pa.string(),
    "safety_flag": pa.bool_(),
    "hallucination_flag": pa.bool_(),
    "time_spent_s": pa.float64(),
    "labeled_at": pa.string(),
    "sampling_bucket": pa.string(),
    "sampling_reason": pa.string(),
    "response_a": pa.string(),
    "response_b": pa.string(),
    "choice": pa.string(),
    "model_a": pa.string(),
    "model_b": pa.string(),
    "gold_choice": pa.string(),
    "suggestion": pa.string(),
    "response": pa.string(),
    "rating": pa.int64(),
    "gold_rating": pa.int64(),
    "responses": pa.list_(pa.string()),
    "ranking": pa.list_(pa.int64()),
    "gold_ranking": pa.list_(pa.int64()),
}

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
