"""pandera schemas of the label-batch contract, one per task type.

A schema covers the small columns of a chunk (ids, task type, dimension, choice, rating,
gold answers, flags, timestamps) as a pandas DataFrame indexed by ``line``. The readers
already enforce the Arrow types, so the schemas check values: presence, allowed sets
(case-sensitive), scales and timestamps. Free text (prompt, responses, rationale) stays
in Arrow and is checked vectorised in :mod:`alignment_ci.data.validate` (size, PII,
formulas), so a 1 MiB field is never copied into pandas.

Each check is named after the issue kind it reports; a DataFrame-wide check is named
``kind:column`` so :func:`failure_issues` knows which column to blame.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


from ..config import Config, Scale
from .contract import CHOICES, GOLD_CHOICES, TASK_TYPES
from .. import lazy

pd = lazy.module("pandas")
pa = lazy.module("pandera.pandas")

# Small columns that go to pandera, per task type; everything else stays in Arrow.
SMALL_COLUMNS = ("batch_id", "item_id", "rater_id", "dimension", "task_type")
SMALL_OPTIONAL = ("is_gold", "safety_flag", "hallucination_flag", "time_spent_s", "labeled_at", "sampling_bucket")
SMALL_TASK = {
    "pairwise": ("choice", "gold_choice", "model_a", "model_b", "suggestion"),
    "likert": ("rating", "gold_rating"),
    "ranking": (),
}
SCALE_MIN, SCALE_MAX = "_scale_min", "_scale_max"  # per-row scale of the row's dimension

# Checks whose pandera name is not an issue kind.
_PANDERA_KINDS = {"not_nullable": "missing_field", "column_in_dataframe": "missing_field"}


def small_columns(task_type: str | None) -> tuple[str, ...]:
    extra = SMALL_TASK[task_type] if task_type else ()
    return SMALL_COLUMNS + SMALL_OPTIONAL + extra


def _non_empty(series: pd.Series) -> pd.Series:
    return series.str.strip().str.len() > 0


def _iso8601(series: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(series, format="ISO8601", errors="coerce", utc=True)
    return parsed.notna()


def _isin(values: Iterable[str], name: str) -> pa.Check:
    allowed = list(values)
    return pa.Check(lambda s: s.isin(allowed), name=name)


def _in_scale(column: str, kind: str) -> pa.Check:
    def check(df: pd.DataFrame) -> pd.Series:
        value = df[column]
        return value.isna() | df[SCALE_MIN].isna() | ((value >= df[SCALE_MIN]) & (value <= df[SCALE_MAX]))

    return pa.Check(check, name=f"{kind}:{column}")


def build_schema(config: Config, task_type: str | None) -> pa.DataFrameSchema:
    """The pandera schema of ``task_type``'s small columns (common columns only when the
    task type is not known yet). Ratings are compared with the per-row scale columns
    ``_scale_min``/``_scale_max`` that the validator adds from each row's dimension."""
    taxonomy = config.taxonomy
    known = taxonomy.names
    columns: dict[str, pa.Column] = {
        "batch_id": pa.Column(nullable=False, checks=pa.Check(_non_empty, name="missing_field")),
        "item_id": pa.Column(nullable=False, checks=pa.Check(_non_empty, name="missing_field")),
        "rater_id": pa.Column(nullable=False, checks=pa.Check(_non_empty, name="missing_field")),
        "task_type": pa.Column(
            nullable=False, checks=_isin(TASK_TYPES, "unknown_task_type")
        ),
        "dimension": pa.Column(
            nullable=False,
            checks=[_isin(known, "unknown_dimension")],
        ),
        "is_gold": pa.Column(nullable=True, required=False),
        "safety_flag": pa.Column(nullable=True, required=False),
        "hallucination_flag": pa.Column(nullable=True, required=False),
        "time_spent_s": pa.Column(
            nullable=True, required=False, checks=pa.Check.ge(0, name="out_of_range")
        ),
        "labeled_at": pa.Column(
            nullable=True, required=False, checks=pa.Check(_iso8601, name="invalid_value")
        ),
        "sampling_bucket": pa.Column(nullable=True, required=False),
    }
    checks: list[pa.Check] = []
    if task_type is not None:
        allowed_dims = [d.name for d in taxonomy.dimensions if task_type in d.task_types]
        columns["dimension"].checks.append(
            pa.Check(
                lambda s: ~s.isin(known) | s.isin(allowed_dims),
                name="dimension_not_allowed",
            )
        )
    if task_type == "pairwise":
        columns["choice"] = pa.Column(nullable=False, checks=_isin(CHOICES, "invalid_value"))
        columns["gold_choice"] = pa.Column(
            nullable=True, required=False, checks=_isin(GOLD_CHOICES, "invalid_gold")
        )
        columns["suggestion"] = pa.Column(
            nullable=True, required=False, checks=_isin(GOLD_CHOICES, "invalid_value")
        )
        columns["model_a"] = pa.Column(nullable=True, required=False)
        columns["model_b"] = pa.Column(nullable=True, required=False)
    elif task_type == "likert":
        columns["rating"] = pa.Column(nullable=False)
        columns["gold_rating"] = pa.Column(nullable=True, required=False)
        checks = [_in_scale("rating", "out_of_range"), _in_scale("gold_rating", "invalid_gold")]
    return pa.DataFrameSchema(columns, checks=checks, strict=False, name=f"label_batch[{task_type or 'any'}]")


def scale_columns(dimensions: pd.Series, config: Config, override: Scale | None) -> tuple[pd.Series, pd.Series]:
    """Per-row (min, max) of the likert scale: ``override`` or each row's dimension's scale
    (NaN for an unknown dimension, which is reported as such)."""
    if override is not None:
        return (pd.Series(override.min, index=dimensions.index, dtype="float64"),
                pd.Series(override.max, index=dimensions.index, dtype="float64"))
    lo = {d.name: d.scale.min for d in config.taxonomy.dimensions}
    hi = {d.name: d.scale.max for d in config.taxonomy.dimensions}
    return dimensions.map(lo).astype("float64"), dimensions.map(hi).astype("float64")


def failure_kinds(failure_cases: pd.DataFrame) -> list[tuple[int | None, str, str, object]]:
    """(line, column, kind, failing value) rows from pandera's ``failure_cases``."""
    out: list[tuple[int | None, str, str, object]] = []
    for check, column, value, index in zip(
        failure_cases["check"], failure_cases["column"], failure_cases["failure_case"], failure_cases["index"]
    ):
        check = str(check)
        kind = _PANDERA_KINDS.get(check, check)
        if ":" in kind:  # DataFrame-wide check: keep only the failure of its own column
            kind, target = kind.split(":", 1)
            if column != target:
                continue
        line = None if index is None or pd.isna(index) else int(index)
        out.append((line, str(column), kind, value))
    return out


__all__: Sequence[str] = (
    "SCALE_MAX",
    "SCALE_MIN",
    "build_schema",
    "failure_kinds",
    "scale_columns",
    "small_columns",
)
