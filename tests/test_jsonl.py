"""The one JSONL writer (alignment_ci.jsonl.write_jsonl, on atomic.write_atomic) and its reader."""

from __future__ import annotations

import json
import math

import pytest

from alignment_ci.jsonl import read_objects, write_jsonl


def test_write_jsonl_is_raw_utf8_one_object_per_line(tmp_path) -> None:
    rows = [{"prompt": "=HYPERLINK(\"x\") é", "chosen": "<b>a</b>", "rejected": "b"}, {"prompt": "2"}]
    path = tmp_path / "out" / "pairs.jsonl"
    assert write_jsonl(rows, path) == path
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == rows
    assert "é" in lines[0] and "<b>a</b>" in lines[0]
    assert [p.name for p in path.parent.iterdir()] == ["pairs.jsonl"]  # no temporary file left behind


def test_append_keeps_the_lines_already_there(tmp_path) -> None:
    path = tmp_path / "events.jsonl"
    write_jsonl([{"n": 1}], path, append=True)
    write_jsonl([{"n": 2}, {"n": 3}], path, append=True)
    assert [row["n"] for _, row in read_objects(path)] == [1, 2, 3]
    write_jsonl([{"n": 4}], path)
    assert [row["n"] for _, row in read_objects(path)] == [4]


def test_a_failed_write_leaves_the_old_file_whole(tmp_path) -> None:
    path = tmp_path / "pairs.jsonl"
    write_jsonl([{"ok": 1}], path)
    with pytest.raises(ValueError):
        write_jsonl([{"ok": 2}, {"bad": math.nan}], path)  # NaN is not JSON
    assert path.read_text(encoding="utf-8") == '{"ok": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["pairs.jsonl"]
