"""validation.limits: hostile batches are refused before the parser sees them (issue 10)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alignment_ci.cli import app

from alignment_ci.config import Config, ValidationLimits, parse_config
from alignment_ci.data import readers
from alignment_ci.data.limits import check_json_document, loads_unique, DuplicateKey
from alignment_ci.data.validate import validate_file
from alignment_ci.errors import InputError, LimitExceeded

CLI = [sys.executable, "-m", "alignment_ci.cli"]


def _row(i: int = 0, **extra) -> dict:
    return {"batch_id": "b1", "item_id": f"i{i}", "rater_id": f"r{i % 3}", "task_type": "pairwise",
            "prompt": "p", "response_a": "x", "response_b": "y", "choice": "a", **extra}


def _deep_line(depth: int) -> str:
    return '{"a":' + "[" * depth + "]" * depth + "}"


def _write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- finding 1: depth


def test_deep_jsonl_line_exits_1_through_the_cli_instead_of_crashing(tmp_path):
    path = _write_jsonl(tmp_path / "d.jsonl", [json.dumps(_row()), _deep_line(20000)])
    proc = subprocess.run([*CLI, "validate", str(path), "--format", "json"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    report = json.loads(proc.stdout)
    assert report["accepted"] is False
    [error] = report["errors"]
    assert error["line"] == 2 and error["kind"] == "limit_exceeded"
    assert "validation.limits.max_depth" in error["message"] and "64" in error["message"]
    assert "20001 levels" in error["message"]
    assert "Traceback" not in proc.stderr


def test_reader_raises_limit_exceeded_before_parsing(tmp_path):
    path = _write_jsonl(tmp_path / "d.jsonl", [json.dumps(_row()), json.dumps(_row(1)), _deep_line(70)])
    with pytest.raises(LimitExceeded) as info:
        list(readers.iter_raw_chunks(path))
    assert info.value.line == 3
    assert info.value.setting == "validation.limits.max_depth"
    assert info.value.limit == 64 and info.value.exit_code == 1 and info.value.http_status == 422
    assert isinstance(info.value, InputError)  # code that answers unreadable input answers it too


def test_depth_limit_is_configurable_and_counts_only_structure(tmp_path):
    # Brackets inside strings (and escaped quotes before them) are text, not nesting.
    text = 'see \\"[[[[[[[[[[[[\\" and ' + "{" * 100
    path = _write_jsonl(tmp_path / "ok.jsonl", [json.dumps(_row(prompt=text, meta=[[["deep"]]]))])
    assert validate_file(path, Config()).accepted
    tight = parse_config("validation:\n  limits:\n    max_depth: 3\n")
    report = validate_file(path, tight)
    assert not report.accepted
    assert report.errors[0].kind == "limit_exceeded" and "max_depth" in report.errors[0].message
    assert report.limit is not None and report.limit.setting == "validation.limits.max_depth"


def test_depth_scan_resets_at_each_line(tmp_path):
    # An unbalanced (malformed) line does not carry its depth into the next lines.
    lines = ["[" * 40] * 3 + [json.dumps(_row())]
    report = validate_file(_write_jsonl(tmp_path / "b.jsonl", lines), Config())
    assert [e.kind for e in report.errors] == ["invalid_json"] * 3


def test_limit_settings_are_validated():
    with pytest.raises(Exception, match="max_depth"):
        parse_config("validation:\n  limits:\n    max_depth: 1\n")
    assert Config().validation.limits == ValidationLimits()


# --------------------------------------------------------------------------- finding 2: keys and columns


def _wide_row(n_keys: int, tag: str = "k") -> str:
    row = _row()
    row.update({f"{tag}{j}": j for j in range(n_keys)})
    return json.dumps(row)


def test_row_with_40000_keys_is_refused_by_the_keys_limit(tmp_path):
    path = _write_jsonl(tmp_path / "w.jsonl", [json.dumps(_row()), _wide_row(40000)])
    report = validate_file(path, Config())
    assert not report.accepted
    [error] = report.errors
    assert (error.line, error.kind) == (2, "limit_exceeded")
    assert "40008 keys" in error.message and "validation.limits.max_keys_per_row" in error.message


def test_many_unknown_columns_within_raised_limits_are_read_once_each(tmp_path):
    # With the limits raised, 40,000 unknown keys are found by the structure scan and
    # ignored by pyarrow (it used to infer each one and drop them one call at a time).
    path = _write_jsonl(tmp_path / "w.jsonl", [_wide_row(40000)] + [json.dumps(_row(i)) for i in range(1, 4)])
    config = parse_config("validation:\n  limits:\n    max_keys_per_row: 50000\n    max_columns: 50000\n")
    report = validate_file(path, config)
    assert report.accepted and report.rows == 4
    assert report.warning_count == 40000
    assert {w.kind for w in report.warnings} == {"unknown_column"}
    assert report.warnings[0].line == 1


def test_distinct_columns_across_rows_are_bounded(tmp_path):
    lines = [_wide_row(400, tag=f"l{i}_") for i in range(4)]
    report = validate_file(_write_jsonl(tmp_path / "w.jsonl", lines), Config())
    assert not report.accepted
    [error] = report.errors
    assert error.kind == "limit_exceeded" and error.line == 3
    assert "validation.limits.max_columns" in error.message


def test_unknown_columns_found_by_the_scan_match_the_exact_parser(tmp_path):
    lines = [json.dumps(_row(0, **{"we\"ird": 1})), json.dumps(_row(1, extra={"nested": 1}, other=None))]
    block = ("\n".join(lines) + "\n").encode()
    starts, ends = readers._line_spans(block)
    [fast] = readers._jsonl_block(block, starts, ends, 1, 100)
    import numpy as np
    [exact] = readers._jsonl_exact(block, starts, ends, np.array([1, 2]), np.zeros(2, bool), 100)
    assert fast.unknown_columns == exact.unknown_columns == {'we"ird': 1, "extra": 2, "other": 2}


def test_overlong_line_is_refused_before_it_is_read_whole(tmp_path):
    path = _write_jsonl(tmp_path / "l.jsonl", [json.dumps(_row(prompt="x" * 5000))])
    config = parse_config("validation:\n  limits:\n    max_row_bytes: 1024\n")
    with pytest.raises(LimitExceeded) as info:
        list(readers._iter_jsonl(path, 100, config.validation.limits, block_bytes=256))
    assert info.value.setting == "validation.limits.max_row_bytes" and info.value.http_status == 413
    report = validate_file(path, config)
    assert report.errors[0].kind == "limit_exceeded" and report.errors[0].line == 1


# --------------------------------------------------------------------------- finding 3: Parquet bombs

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402


def _parquet_rows(n: int, prompt) -> pa.Table:
    base = _row()
    columns = {k: pa.array([v] * n) for k, v in base.items() if k not in ("item_id", "prompt")}
    columns["item_id"] = pa.array([f"i{i}" for i in range(n)])
    columns["prompt"] = prompt
    return pa.table(columns)


def test_zstd_bomb_parquet_is_refused_from_its_metadata(tmp_path):
    # 17 prompts of 4 MiB, compressed by zstd to a few KiB: 68 MiB decoded.
    path = tmp_path / "bomb.parquet"
    pq.write_table(_parquet_rows(17, pa.array(["x" * (4 << 20)] * 17)), path, compression="zstd", use_dictionary=False)
    assert path.stat().st_size < 64 * 1024
    report = validate_file(path, Config())
    assert not report.accepted
    [error] = report.errors
    assert error.kind == "limit_exceeded" and "validation.limits.max_compression_ratio" in error.message
    assert report.limit.http_status == 413
    assert report.rows == 0  # refused before a row was decoded


def test_decompressed_bytes_per_batch_are_configurable(tmp_path):
    path = tmp_path / "b.parquet"
    pq.write_table(_parquet_rows(50, pa.array(["a prompt"] * 50)), path)
    assert validate_file(path, Config()).accepted
    tight = parse_config("validation:\n  limits:\n    max_decompressed_bytes: 200\n")
    report = validate_file(path, tight)
    assert [e.kind for e in report.errors] == ["limit_exceeded"]
    assert "validation.limits.max_decompressed_bytes" in report.errors[0].message


def test_dictionary_bomb_is_refused_before_it_is_decoded(tmp_path):
    # 200,000 rows that all point at one 1 MiB dictionary value: tiny metadata sizes,
    # 200 GiB once decoded. The reader counts the decoded bytes from the dictionary.
    n = 200_000
    prompt = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array(["y" * (1 << 20)]))
    path = tmp_path / "dict.parquet"
    pq.write_table(_parquet_rows(n, prompt), path, compression="zstd")
    with pytest.raises(LimitExceeded) as info:
        list(readers.iter_raw_chunks(path))
    assert info.value.setting == "validation.limits.max_decompressed_bytes"


# --------------------------------------------------------------------------- finding 8: empty and unreadable files


@pytest.mark.parametrize("name, content", [("e.jsonl", b""), ("e.parquet", b""), ("e.csv", b""),
                                           ("junk.parquet", b"PAR1 not really")])
def test_empty_or_unreadable_batch_files_are_rejected_with_exit_1(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    result = CliRunner().invoke(app, ["validate", str(path), "--format", "json"])
    assert result.exit_code == 1 and result.exception is None or isinstance(result.exception, SystemExit), result.output
    [error] = json.loads(result.stdout)["errors"]
    assert error["line"] == 1
    assert error["kind"] == ("invalid_parquet" if name.startswith("junk") else "empty_file")


# --------------------------------------------------------------------------- finding 9: duplicate keys in rows; CSV


def test_duplicate_key_in_a_jsonl_row_is_an_error_naming_key_and_line(tmp_path):
    good = json.dumps(_row())
    dup = good[:-1] + ', "choice": "b"}'
    report = validate_file(_write_jsonl(tmp_path / "d.jsonl", [good.replace('"i0"', '"i9"'), dup]), Config())
    assert not report.accepted
    [error] = report.errors
    assert (error.line, error.kind) == (2, "duplicate_key")
    assert "'choice' appears twice" in error.message


def test_csv_limits_duplicate_columns_and_deep_cells(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(1001)) + "\n" + ",".join("1" for _ in range(1001)) + "\n")
    report = validate_file(wide, Config())
    assert [e.kind for e in report.errors] == ["limit_exceeded"] and "max_columns" in report.errors[0].message
    header = "batch_id,item_id,rater_id,task_type,prompt,responses,ranking,choice,choice\n"
    deep = '"' + "[" * 5000 + "]" * 5000 + '"'
    dup = tmp_path / "dup.csv"
    dup.write_text(header + f"b,i,r,ranking,p,{deep},\"[0,1]\",a,b\n")
    report = validate_file(dup, Config())
    kinds = {e.kind for e in report.errors}
    assert "duplicate_column" in kinds and "wrong_type" in kinds
    assert next(e for e in report.errors if e.kind == "duplicate_column").column == "choice"


# --------------------------------------------------------------------------- finding 9: the config loader

from alignment_ci.config import load_config  # noqa: E402
from alignment_ci.errors import ConfigError  # noqa: E402


def _billion_laughs(levels: int = 7) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_fast(tmp_path):
    path = tmp_path / "alignment.yaml"
    path.write_text(_billion_laughs(7))
    with pytest.raises(ConfigError, match="expands to more than 100,000 values") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_yaml_aliases_and_merge_keys_within_the_budget_still_work():
    text = ("base: &base {text_warn_bytes: 1000}\n"
            "validation:\n  <<: *base\n  max_errors: 5\n")
    with pytest.raises(ConfigError, match="base: unknown key"):  # the anchor's home is not a section
        parse_config(text)
    config = parse_config("validation: &v {max_errors: 7}\n")
    assert config.validation.max_errors == 7


def test_yaml_recursive_alias_and_deep_nesting_are_config_errors():
    with pytest.raises(ConfigError, match="recursive anchor"):
        parse_config("project: &p [*p]\n")
    with pytest.raises(ConfigError, match="nests"):
        parse_config("project: " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match="nests more than 64"):
        parse_config("project: " + "[" * 70 + "]" * 70 + "\n")


def test_yaml_duplicate_key_names_key_and_line():
    with pytest.raises(ConfigError, match=r"<string>:3: duplicate key 'max_errors' \(first on line 2\)"):
        parse_config("validation:\n  max_errors: 5\n  max_errors: 6\n")


def test_config_path_that_is_a_directory_is_a_clear_exit_2(tmp_path):
    result = CliRunner().invoke(app, ["config", "show", "-c", str(tmp_path)])
    assert isinstance(result.exception, ConfigError) and "is a directory" in str(result.exception)
    proc = subprocess.run([*CLI, "config", "show", "-c", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "is a directory" in proc.stderr and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- finding 4: importers

from alignment_ci.formats.argilla import read_argilla_export  # noqa: E402
from alignment_ci.formats.labelstudio import read_labelstudio_export  # noqa: E402


def _ls_task(task_id: int, value) -> dict:
    return {"id": task_id, "data": {"prompt": "p", "response_a": "a", "response_b": "b"},
            "annotations": [{"id": 7, "completed_by": 3, "result": [{"type": "pairwise", "from_name": "pw", "value": value}]}]}


def test_labelstudio_export_nested_100k_deep_is_a_limit_error_naming_the_task():
    tasks = json.dumps([_ls_task(1, {"selected": "left"}), _ls_task(2, {"selected": "left"})])
    raw = tasks[:-2] + ', "extra": ' + _deep_line(100_000)[5:-1] + "}]"
    with pytest.raises(LimitExceeded) as info:
        read_labelstudio_export(raw.encode(), "b1")
    assert "task #2 of the export" in str(info.value) and "validation.limits.max_depth" in str(info.value)


def test_labelstudio_result_value_that_is_not_an_object_names_task_and_annotation():
    with pytest.raises(InputError, match=r"task 5, annotation 7: result 'pw' has a value that is not an object \(got list\)"):
        read_labelstudio_export(json.dumps([_ls_task(5, ["left"])]).encode(), "b1")


def test_labelstudio_duplicate_key_names_task_and_key():
    raw = json.dumps([_ls_task(1, {"selected": "left"}), _ls_task(2, {"selected": "left"})])
    head, _, tail = raw.rpartition('{"selected": "left"}')
    raw = head + '{"selected": "left", "selected": "right"}' + tail
    with pytest.raises(InputError, match=r"task 2: key 'selected' appears twice"):
        read_labelstudio_export(raw.encode(), "b1")


def test_argilla_export_deep_or_duplicated_names_the_record_and_line():
    record = {"id": "r1", "fields": {"prompt": "p", "response": "x"},
              "responses": {"rating": [{"value": 4, "user_id": "u1", "status": "submitted"}]}}
    deep = json.dumps(record) + "\n" + _deep_line(100_000)
    with pytest.raises(LimitExceeded, match=r"line 2.*validation.limits.max_depth"):
        read_argilla_export(deep.encode(), "b1")
    dup = json.dumps(record) + "\n" + json.dumps(record).replace('"user_id": "u1"', '"user_id": "u1", "user_id": "u2"')
    with pytest.raises(InputError, match=r":2: key 'user_id' appears twice"):
        read_argilla_export(dup.encode(), "b1")
    with pytest.raises(InputError, match=r"record r1: 'responses' must be an object, got list"):
        read_argilla_export(json.dumps([dict(record, responses=[1])]).encode(), "b1")


def test_yaml_with_a_control_character_is_a_config_error():
    # Found by the long config fuzz run: the loader's own character check must be caught too.
    with pytest.raises(ConfigError, match="invalid YAML"):
        parse_config("project: a\x1fb\n")


def test_parquet_with_undecodable_column_metadata_is_rejected(tmp_path):
    # Found by the long Parquet fuzz run: a column chunk's path in the footer is not UTF-8.
    import re

    path = tmp_path / "b.parquet"
    pq.write_table(_parquet_rows(3, pa.array(["a prompt"] * 3)), path, store_schema=False)
    data = path.read_bytes()
    messages = []
    for match in re.finditer(b"prompt", data):
        at = match.start()
        path.write_bytes(data[:at] + b"\x90" * 6 + data[at + 6:])
        report = validate_file(path, Config())
        messages += [e.message for e in report.errors if e.kind == "invalid_parquet"]
    assert any(m.startswith("the Parquet metadata is corrupt") for m in messages)


def test_argilla_flag_answers_that_are_not_objects_are_ignored():
    record = {"id": "r1", "fields": {"prompt": "p", "response": "x"},
              "responses": {"rating": [{"value": 4, "user_id": "u1"}], "flags": [3, None], "why": ["text"]}}
    [row] = read_argilla_export(json.dumps([record]).encode(), "b1").rows
    assert row["rating"] == 4 and "rationale" not in row


def test_read_batch_uses_the_limits_validation_used(tmp_path):
    path = _write_jsonl(tmp_path / "w.jsonl", [_wide_row(1500)] + [json.dumps(_row(i)) for i in range(1, 3)])
    raised = parse_config("validation:\n  limits:\n    max_keys_per_row: 5000\n    max_columns: 5000\n")
    assert validate_file(path, raised).accepted
    assert len(readers.read_batch(path, limits=raised.validation.limits)) == 3
    with pytest.raises(LimitExceeded, match="max_keys_per_row"):
        readers.read_batch(path)
