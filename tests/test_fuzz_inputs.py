"""Structural fuzzing of everything that reads vendor or user input (issue 10).

Readers (JSONL, CSV, Parquet), the Label Studio and Argilla importers and the config
loader get generated input: well-formed shapes with wrong types, missing and extra
keys, deep nesting, duplicate keys, and raw bytes. The property: they return or raise
the project's own error (:class:`~alignment_ci.errors.AlignmentCIError`) with a message;
never another exception, never a crash. ``make test`` runs a few dozen cases per target;
``make test-slow`` runs the long versions.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignment_ci.config import Config, parse_config
from alignment_ci.data.contract import ARROW_TYPES
from alignment_ci.data.validate import validate_file
from alignment_ci.errors import AlignmentCIError
from alignment_ci.formats.argilla import read_argilla_export
from alignment_ci.formats.labelstudio import read_labelstudio_export

FAST = 50
FAST_FILES = 20  # a validate_file run costs ~0.5 s here; file-reading targets get fewer fast cases
LONG = 2000
LONG_FILES = 300
CONFIG = Config()


def _settings(n: int):
    return settings(max_examples=n, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much, HealthCheck.large_base_example])


def _twice(prop: Callable, strategy: st.SearchStrategy, files: bool = False) -> tuple[Callable, Callable]:
    """The property as a fast test and as a long (slow-marked) one."""
    fast = _settings(FAST_FILES if files else FAST)(given(strategy)(prop))
    long = pytest.mark.slow(_settings(LONG_FILES if files else LONG)(given(strategy)(prop)))
    return fast, long


# --------------------------------------------------------------------------- strategies

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                    st.text(max_size=20), st.sampled_from(["a", "b", "tie", "left", "right", "pairwise", "likert"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=20)
contract_keys = st.sampled_from(sorted(ARROW_TYPES))


def _deep(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


@st.composite
def json_rows(draw) -> str:
    """One JSONL line: an object over contract keys (and others) with arbitrary values,
    sometimes deeply nested, with a duplicate key, or not an object at all."""
    row = draw(st.dictionaries(st.one_of(contract_keys, st.text(max_size=10)), json_values, max_size=12))
    text = json.dumps(row)
    kind = draw(st.sampled_from(["plain", "plain", "plain", "deep", "dup", "raw", "truncated"]))
    if kind == "deep":
        return text[:-1] + (", " if row else "") + f'"x": {_deep(draw(st.integers(50, 30000)))}' + "}"
    if kind == "dup" and row:
        key = next(iter(row))
        return text[:-1] + f", {json.dumps(key)}: 1" + "}"
    if kind == "raw":
        return draw(st.text(max_size=40)).replace("\n", " ")
    if kind == "truncated":
        return text[: draw(st.integers(0, len(text)))]
    return text


def _run_validate(path: Path) -> None:
    try:
        report = validate_file(path, CONFIG)
    except AlignmentCIError as exc:
        assert str(exc)
        return
    for issue in report.errors:
        assert issue.message and issue.kind


# --------------------------------------------------------------------------- readers


def _jsonl_property(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "b.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        _run_validate(path)


def _bytes_property(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"b{suffix}"
        path.write_bytes(data)
        _run_validate(path)


test_fuzz_jsonl_rows, test_fuzz_jsonl_rows_long = _twice(_jsonl_property, st.lists(json_rows(), min_size=1, max_size=6), files=True)


def _raw_jsonl(data: bytes) -> None:
    _bytes_property(data, ".jsonl")


test_fuzz_jsonl_bytes, test_fuzz_jsonl_bytes_long = _twice(_raw_jsonl, st.binary(max_size=300), files=True)


@st.composite
def csv_texts(draw) -> str:
    header = draw(st.lists(st.one_of(contract_keys, st.text(max_size=6)), min_size=1, max_size=10))
    rows = draw(st.lists(st.lists(st.one_of(st.text(max_size=12), st.just(_deep(3000)), st.just('["a","b"]')),
                                  min_size=0, max_size=len(header) + 1), max_size=4))
    out = io.StringIO()
    import csv

    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    if draw(st.booleans()):  # cut it anywhere, e.g. inside a quoted field
        text = text[: draw(st.integers(0, len(text)))]
    return text


def _csv_property(text: str) -> None:
    _bytes_property(text.encode("utf-8", "surrogatepass"), ".csv")


test_fuzz_csv, test_fuzz_csv_long = _twice(_csv_property, csv_texts(), files=True)

_PARQUET_TYPES = [pa.string(), pa.int64(), pa.float64(), pa.bool_(), pa.list_(pa.string()), pa.list_(pa.int64()),
                  pa.struct([("x", pa.int64())]), pa.dictionary(pa.int32(), pa.string())]


@st.composite
def parquet_files(draw) -> bytes:
    names = draw(st.lists(st.one_of(contract_keys, st.text(min_size=1, max_size=6)), min_size=1, max_size=8, unique=True))
    n = draw(st.integers(0, 5))
    columns = {}
    for name in names:
        typ = draw(st.sampled_from(_PARQUET_TYPES))
        if pa.types.is_dictionary(typ):
            values = pa.array(draw(st.lists(st.sampled_from(["a", "b", "pairwise"]), min_size=n, max_size=n))).dictionary_encode()
        elif pa.types.is_string(typ):
            values = pa.array(draw(st.lists(st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["a", "pairwise", "b1"])),
                                            min_size=n, max_size=n)), typ)
        elif pa.types.is_int64(typ):
            values = pa.array(draw(st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=n, max_size=n)), typ)
        elif pa.types.is_floating(typ):
            values = pa.array(draw(st.lists(st.floats(allow_nan=True), min_size=n, max_size=n)), typ)
        elif pa.types.is_boolean(typ):
            values = pa.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), typ)
        elif pa.types.is_struct(typ):
            values = pa.array([{"x": i} for i in range(n)], typ)
        else:
            item = st.text(max_size=4) if typ.value_type == pa.string() else st.integers(-3, 3)
            values = pa.array(draw(st.lists(st.lists(item, max_size=3), min_size=n, max_size=n)), typ)
        columns[name] = values
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink, compression=draw(st.sampled_from(["none", "zstd", "snappy"])))
    data = bytearray(sink.getvalue())
    for _ in range(draw(st.integers(0, 3))):  # flip bytes: a corrupt file
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def _parquet_property(data: bytes) -> None:
    _bytes_property(data, ".parquet")


test_fuzz_parquet, test_fuzz_parquet_long = _twice(_parquet_property, parquet_files(), files=True)


# --------------------------------------------------------------------------- importers

ls_values = st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "selected": st.sampled_from(["left", "right", "up"]) | json_values,
    "choices": st.lists(st.sampled_from(["a", "b", "tie", "A is better", "safety", "x"]) | json_values, max_size=3) | json_values,
    "text": json_values}))
ls_results = st.lists(st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["pairwise", "choices", "textarea", "rating"]) | json_values,
    "from_name": st.sampled_from(["preference", "helpfulness", "flags", "why", "other"]) | json_values,
    "value": ls_values})), max_size=3)
ls_annotations = st.lists(st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "id": json_values, "completed_by": st.one_of(st.integers(0, 9), st.fixed_dictionaries({"id": json_values}), json_values),
    "result": ls_results | json_values, "was_cancelled": json_values, "ground_truth": json_values,
    "lead_time": json_values, "created_at": json_values})), max_size=3)
ls_tasks = st.lists(st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "id": json_values,
    "data": st.one_of(json_values, st.fixed_dictionaries({"prompt": json_values, "response_a": json_values,
                                                          "response_b": json_values}, optional={"item_id": json_values})),
    "annotations": ls_annotations | json_values})), max_size=4)


def _export_bytes(value: Any, draw_kind: str, depth: int) -> bytes:
    text = json.dumps(value)
    if draw_kind == "deep":
        text = "[" * depth + text + "]" * depth
    elif draw_kind == "dup" and text.startswith("[{") and text != "[{}]":
        text = '[{"id": 1, ' + text[2:]
    return text.encode()


@st.composite
def ls_exports(draw) -> bytes:
    return _export_bytes(draw(ls_tasks), draw(st.sampled_from(["plain", "plain", "deep", "dup"])),
                         draw(st.integers(60, 120_000)))


def _labelstudio_property(raw: bytes) -> None:
    try:
        read_labelstudio_export(raw, "b1", dimensions=CONFIG.taxonomy.names)
    except AlignmentCIError as exc:
        assert str(exc)


test_fuzz_labelstudio, test_fuzz_labelstudio_long = _twice(_labelstudio_property, ls_exports() | st.binary(max_size=200))

argilla_answers = st.lists(st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "value": st.one_of(st.integers(1, 5), st.sampled_from(["a", "b", "tie", "response1"]),
                       st.lists(st.sampled_from(["response1", "response2"]), max_size=3), json_values),
    "user_id": json_values | st.sampled_from(["u1", "u2"]), "status": st.sampled_from(["submitted", "draft"]) | json_values})),
    max_size=3)
argilla_records = st.lists(st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={
        "id": json_values,
        "fields": st.one_of(json_values, st.fixed_dictionaries({"prompt": json_values, "response1": json_values,
                                                                "response2": json_values})),
        "responses": st.one_of(json_values, st.dictionaries(st.sampled_from(["rating", "pref", "flags", "why"]),
                                                            argilla_answers | json_values, max_size=3))}),
    st.fixed_dictionaries({"prompt": json_values}, optional={
        "pref.responses": json_values, "pref.responses.users": json_values, "pref.responses.status": json_values})),
    max_size=4)


@st.composite
def argilla_exports(draw) -> bytes:
    records = draw(argilla_records)
    if draw(st.booleans()):  # JSON Lines
        lines = [json.dumps(r) for r in records]
        if lines and draw(st.booleans()):
            lines[0] = _deep(draw(st.integers(60, 120_000)))
        return "\n".join(lines).encode()
    return _export_bytes(records, draw(st.sampled_from(["plain", "plain", "deep", "dup"])), draw(st.integers(60, 120_000)))


def _argilla_property(raw: bytes) -> None:
    try:
        read_argilla_export(raw, "b1", dimensions=CONFIG.taxonomy.names)
    except AlignmentCIError as exc:
        assert str(exc)


test_fuzz_argilla, test_fuzz_argilla_long = _twice(_argilla_property, argilla_exports() | st.binary(max_size=200))


# --------------------------------------------------------------------------- config loader

sections = st.sampled_from(["project", "taxonomy", "validation", "stores", "paths", "quality", "bridge", "rollout",
                            "training", "gates", "limits", "max_errors", "dimensions"])
config_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                              st.dictionaries(sections, inner, max_size=4)), max_leaves=15)


@st.composite
def config_texts(draw) -> str:
    kind = draw(st.sampled_from(["dump", "dump", "raw", "alias", "deep", "dup"]))
    if kind == "raw":
        return draw(st.text(max_size=80))
    data = draw(st.dictionaries(sections, config_values, max_size=5))
    text = yaml.safe_dump(data)
    if kind == "alias":
        return "x: &x [1, 2]\n" + "".join(f"y{i}: &y{i} [*{'x' if i == 0 else f'y{i - 1}'}, *{'x' if i == 0 else f'y{i - 1}'}]\n"
                                          for i in range(draw(st.integers(1, 30))))
    if kind == "deep":
        depth = draw(st.integers(10, 50_000))
        return "project: " + "[" * depth + "]" * depth + "\n" + text
    if kind == "dup" and data:
        return text + text.splitlines()[0] + "\n"
    return text


def _config_property(text: str) -> None:
    try:
        parse_config(text)
    except AlignmentCIError as exc:
        assert str(exc)


test_fuzz_config, test_fuzz_config_long = _twice(_config_property, config_texts())
