"""Readers: JSONL, CSV and Parquet into one canonical Arrow/pandas form, with lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alignment_ci.data import readers
from alignment_ci.data.contract import ARROW_TYPES
from alignment_ci.data.readers import detect_format, iter_batches, iter_raw_chunks, read_batch
from alignment_ci.errors import InputError

BATCHES = Path(__file__).parent / "batches"


def test_detects_format_from_extension_or_override():
    assert [detect_format(p) for p in ("a.jsonl", "a.NDJSON", "a.json", "a.csv", "a.parquet")] == [
        "jsonl", "jsonl", "jsonl", "csv", "parquet"]
    assert detect_format("a.txt", "json") == "jsonl"
    with pytest.raises(InputError, match="extension"):
        detect_format("a.xlsx")
    with pytest.raises(InputError, match="unknown format"):
        detect_format("a.jsonl", "xml")


def test_iter_batches_gives_canonical_types_and_lines():
    batches = list(iter_batches(BATCHES / "pairwise_ok.jsonl"))
    table = pa.Table.from_batches(batches)
    assert table.column_names[:9] == ["batch_id", "item_id", "rater_id", "dimension", "task_type", "prompt",
                                      "response_a", "response_b", "choice"]
    assert table.column_names[-1] == "line"
    for name in table.column_names[:-1]:
        assert table.schema.field(name).type == ARROW_TYPES[name]
    assert table["line"].to_pylist() == [1, 2, 3, 4]
    assert table["is_gold"].to_pylist() == [None, None, True, None]
    assert table["time_spent_s"].to_pylist() == [12.5, 9.0, None, None]


def test_read_batch_csv_with_multiline_fields_and_typed_cells():
    df = read_batch(BATCHES / "likert_ok.csv")
    assert list(df["line"]) == [2, 3, 4]
    assert list(df["rating"]) == [4, 5, 3]
    assert df["prompt"].iloc[2] == "Write a poem,\nabout the sea."
    assert df["is_gold"].tolist()[:2] == [False, True]
    assert "rationale" not in df.columns  # absent optional columns are simply missing


def test_read_batch_ranking_lists_are_python_lists():
    df = read_batch(BATCHES / "ranking_ok.jsonl")
    assert df["responses"].iloc[0] == ["7", "8", "9"]
    assert df["ranking"].tolist() == [[0, 2, 1], [0, 1, 2]]
    assert df["gold_ranking"].tolist() == [None, [0, 2, 1]]


def test_csv_list_cells_are_json(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(
        "batch_id,item_id,rater_id,dimension,task_type,prompt,responses,ranking\n"
        'b,i1,r1,helpfulness,ranking,p,"[""x"", ""y""]","[1, 0]"\n'
    )
    df = read_batch(path)
    assert df["responses"].iloc[0] == ["x", "y"] and df["ranking"].iloc[0] == [1, 0]


def test_missing_dimension_column_gets_the_default(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("batch_id,item_id,rater_id,task_type,prompt,response,rating\nb,i,r,likert,p,ok,3\n")
    assert read_batch(path, default_dimension="safety")["dimension"].tolist() == ["safety"]


def test_parquet_types_are_cast_to_the_contract(tmp_path):
    path = tmp_path / "b.parquet"
    pq.write_table(pa.table({
        "batch_id": pa.array(["b", "b"], pa.large_string()), "item_id": ["i1", "i2"], "rater_id": ["r", "r"],
        "dimension": pa.array(["helpfulness"] * 2).dictionary_encode(), "task_type": ["likert"] * 2,
        "prompt": ["p", "q"], "response": ["x", "y"], "rating": pa.array([1, 5], pa.int8()),
    }), path)
    table = pa.Table.from_batches(list(iter_batches(path)))
    assert table.schema.field("rating").type == pa.int64()
    assert table.schema.field("batch_id").type == pa.string()
    assert table["dimension"].to_pylist() == ["helpfulness"] * 2
    assert table["line"].to_pylist() == [1, 2]


def test_iter_batches_raises_input_error_naming_the_line(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"batch_id": "b"}\n{"batch_id": \n')
    with pytest.raises(InputError, match="line 2"):
        list(iter_batches(path))


def _rows(n: int, blank_every: int = 0) -> list[str]:
    lines = []
    for i in range(n):
        if blank_every and i % blank_every == 0:
            lines.append("  ")
        lines.append(json.dumps({
            "batch_id": "b", "item_id": f"i{i}", "rater_id": "r", "task_type": "likert", "prompt": f"p{i}",
            "response": "ok", "rating": i % 5 + 1, "responses": None, "extra": i,
        }))
    return lines


def test_fast_and_exact_jsonl_paths_agree(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text("\r\n".join(_rows(50, blank_every=7)) + "\r\n")
    block = path.read_bytes()
    starts, ends = readers._line_spans(block)
    fast = list(readers._jsonl_block(block, starts, ends, 1, 1000))
    blank = np.array([not block[s:e].strip() for s, e in zip(starts, ends)])
    exact = list(readers._jsonl_exact(block, starts, ends, np.arange(1, len(starts) + 1), blank, 1000))
    assert len(fast) == 1 and len(exact) == 1
    assert fast[0].table.equals(exact[0].table)
    assert fast[0].unknown_columns == exact[0].unknown_columns == {"extra": 1 + 1}
    assert fast[0].table["line"].to_pylist()[:3] == [2, 3, 4]


def test_jsonl_blocks_split_on_lines_and_keep_line_numbers(tmp_path):
    path = tmp_path / "b.jsonl"
    rows = _rows(300, blank_every=11)
    path.write_text("\n".join(rows))  # no final newline
    chunks = list(readers._iter_jsonl(path, chunk_rows=64, block_bytes=2048))
    lines = np.concatenate([c.table["line"].to_numpy() for c in chunks])
    expected = [i + 1 for i, r in enumerate(rows) if r.strip()]
    assert lines.tolist() == expected
    assert max(c.table.num_rows for c in chunks) <= 64


def test_a_line_longer_than_the_block_is_read_whole(tmp_path):
    path = tmp_path / "b.jsonl"
    long_row = json.dumps({"batch_id": "b", "prompt": "x" * 10000})
    path.write_text(_rows(1)[0] + "\n" + long_row + "\n" + _rows(1)[0] + "\n")
    chunks = list(readers._iter_jsonl(path, chunk_rows=64, block_bytes=1024))
    table = pa.concat_tables([c.table for c in chunks])
    assert table["line"].to_pylist() == [1, 2, 3]
    assert len(table["prompt"][1].as_py()) == 10000


def test_chunks_are_bounded_in_rows(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text("\n".join(_rows(1000)) + "\n")
    sizes = [c.table.num_rows for c in iter_raw_chunks(path, chunk_rows=128)]
    assert sum(sizes) == 1000 and max(sizes) == 128
