"""Label-batch validation: every bad input with its exact line, column and kind."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignment_ci.config import Config, Dimension, Scale, Taxonomy, ValidationSettings
from alignment_ci.data.validate import ValidationReport, validate_file
from alignment_ci.errors import InputError

BATCHES = Path(__file__).parent / "batches"
CONFIG = Config()


def pairwise(i: int = 1, **over) -> dict:
    row = {
        "batch_id": "b-1", "item_id": f"item-{i}", "rater_id": "rater-1", "dimension": "helpfulness",
        "task_type": "pairwise", "prompt": f"Question {i}?", "response_a": "Answer A.", "response_b": "Answer B.",
        "choice": "a",
    }
    row.update(over)
    return {k: v for k, v in row.items() if v is not _DROP}


def likert(i: int = 1, **over) -> dict:
    row = {
        "batch_id": "b-1", "item_id": f"item-{i}", "rater_id": "rater-1", "dimension": "helpfulness",
        "task_type": "likert", "prompt": f"Question {i}?", "response": "An answer.", "rating": 4,
    }
    row.update(over)
    return {k: v for k, v in row.items() if v is not _DROP}


def ranking(i: int = 1, **over) -> dict:
    row = {
        "batch_id": "b-1", "item_id": f"item-{i}", "rater_id": "rater-1", "dimension": "helpfulness",
        "task_type": "ranking", "prompt": f"Question {i}?", "responses": ["x", "y", "z"], "ranking": [2, 0, 1],
    }
    row.update(over)
    return {k: v for k, v in row.items() if v is not _DROP}


_DROP = object()


def write_jsonl(path: Path, rows: list[dict | str | bytes]) -> Path:
    with open(path, "wb") as f:
        for row in rows:
            if isinstance(row, dict):
                row = json.dumps(row)
            if isinstance(row, str):
                row = row.encode("utf-8")
            f.write(row + b"\n")
    return path


def validate_rows(tmp_path: Path, rows: list, config: Config = CONFIG, **kw) -> ValidationReport:
    return validate_file(write_jsonl(tmp_path / "batch.jsonl", rows), config, **kw)


def only_error(report: ValidationReport) -> tuple:
    assert report.error_count == 1, [e.to_dict() for e in report.errors]
    e = report.errors[0]
    return e.line, e.column, e.kind


# ----------------------------------------------------------------------------- accepted


@pytest.mark.parametrize(
    ("name", "task_type", "rows"),
    [("pairwise_ok.jsonl", "pairwise", 4), ("likert_ok.csv", "likert", 3), ("ranking_ok.jsonl", "ranking", 2)],
)
def test_accepts_valid_batches_of_each_task_type(name, task_type, rows):
    report = validate_file(BATCHES / name, CONFIG)
    assert report.accepted, [e.to_dict() for e in report.errors]
    assert (report.rows, report.task_type, report.error_count, report.warning_count) == (rows, task_type, 0, 0)
    assert report.to_dict()["accepted"] is True


def test_report_has_the_contract_json_shape(tmp_path):
    report = validate_rows(tmp_path, [pairwise(1), pairwise(2, choice="A")])
    data = json.loads(json.dumps(report.to_dict()))
    assert {"accepted", "rows", "errors", "warnings"} <= set(data)
    assert data["accepted"] is False and data["rows"] == 2
    assert data["errors"] == [{"line": 2, "column": "choice", "kind": "invalid_value",
                               "message": "choice 'A' is not one of 'a', 'b', 'tie', 'skip' (case-sensitive)"}]


# ----------------------------------------------------------------------------- errors


def test_rejects_missing_required_field(tmp_path):
    report = validate_rows(tmp_path, [pairwise(1), pairwise(2), pairwise(3, choice=_DROP)])
    assert only_error(report) == (3, "choice", "missing_field")


def test_rejects_null_prompt_as_missing(tmp_path):
    report = validate_rows(tmp_path, [pairwise(1, prompt=None)])
    assert only_error(report) == (1, "prompt", "missing_field")


def test_rejects_value_outside_allowed_set_case_sensitive(tmp_path):
    report = validate_rows(tmp_path, [pairwise(1), pairwise(2, choice="Tie")])
    assert only_error(report) == (2, "choice", "invalid_value")


def test_rejects_rating_outside_dimension_scale(tmp_path):
    report = validate_rows(tmp_path, [likert(1, rating=5), likert(2, rating=6), likert(3, rating=0)])
    assert [(e.line, e.column, e.kind) for e in report.errors] == [
        (2, "rating", "out_of_range"), (3, "rating", "out_of_range")]
    assert "1..5" in report.errors[0].message


def test_scale_override_and_dimension_scale(tmp_path):
    rows = [likert(1, rating=7)]
    assert not validate_rows(tmp_path, rows).accepted
    assert validate_rows(tmp_path, rows, scale=Scale.parse("1..7")).accepted
    dims = [d.model_copy(update={"scale": Scale(min=0, max=10)}) if d.name == "helpfulness" else d
            for d in CONFIG.taxonomy.dimensions]
    config = Config(taxonomy=Taxonomy(dimensions=dims))
    assert validate_rows(tmp_path, rows, config=config).accepted
    assert only_error(validate_rows(tmp_path, [likert(1, rating=11)], config=config)) == (1, "rating", "out_of_range")


@pytest.mark.parametrize("value", [True, "3", 3.5])
def test_rejects_boolean_or_string_where_integer_belongs(tmp_path, value):
    rows = [likert(1), likert(2, rating=value)]
    report = validate_rows(tmp_path, rows)
    assert only_error(report) == (2, "rating", "wrong_type")
    line_text = json.dumps(rows[1])
    assert report.errors[0].col == line_text.index('"rating"') + 1


def test_rejects_duplicate_key_naming_both_lines(tmp_path):
    rows = [pairwise(1), pairwise(2), pairwise(3), pairwise(1, choice="b")]
    report = validate_rows(tmp_path, rows)
    assert only_error(report) == (4, "item_id", "duplicate")
    assert "line 1 and line 4" in report.errors[0].message


def test_duplicates_are_found_across_chunks(tmp_path):
    rows = [pairwise(i) for i in range(1, 8)] + [pairwise(2), pairwise(6, rater_id="rater-2"), pairwise(6)]
    report = validate_rows(tmp_path, rows, chunk_rows=3)
    assert [(e.line, e.kind) for e in report.errors] == [(8, "duplicate"), (10, "duplicate")]
    assert "line 2 and line 8" in report.errors[0].message
    assert "line 6 and line 10" in report.errors[1].message


def test_same_item_and_rater_in_another_dimension_is_not_a_duplicate(tmp_path):
    assert validate_rows(tmp_path, [pairwise(1), pairwise(1, dimension="safety")]).accepted


@pytest.mark.parametrize("prompt", ["", "   "])
def test_rejects_empty_prompt(tmp_path, prompt):
    report = validate_rows(tmp_path, [pairwise(1), pairwise(2, prompt=prompt)])
    assert only_error(report) == (2, "prompt", "empty_prompt")


def test_rejects_non_utf8_bytes_with_line_and_byte(tmp_path):
    good = json.dumps(pairwise(1)).encode()
    bad = json.dumps(pairwise(2, prompt="caf@")).encode().replace(b"caf@", b"caf\xe9")
    report = validate_rows(tmp_path, [good, bad])
    assert only_error(report) == (2, None, "invalid_utf8")
    assert report.errors[0].col == bad.index(b"\xe9") + 1


def test_rejects_truncated_json_line(tmp_path):
    line = json.dumps(pairwise(2))
    report = validate_rows(tmp_path, [pairwise(1), line[:40], pairwise(3)])
    assert only_error(report) == (2, None, "invalid_json")
    assert report.errors[0].col == 41
    assert "truncated" in report.errors[0].message


def test_rejects_a_line_that_is_not_an_object(tmp_path):
    report = validate_rows(tmp_path, [pairwise(1), "[1, 2]"])
    assert only_error(report) == (2, None, "invalid_json")


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_rejects_empty_file(tmp_path, content):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    report = validate_file(path, CONFIG)
    assert only_error(report) == (1, None, "empty_file")
    assert report.rows == 0


def test_rejects_csv_with_only_a_header(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("batch_id,item_id\n")
    assert only_error(validate_file(path, CONFIG)) == (1, None, "empty_file")


def test_rejects_mixed_batch_id(tmp_path):
    report = validate_rows(tmp_path, [pairwise(1), pairwise(2), pairwise(3, batch_id="b-2")])
    assert only_error(report) == (3, "batch_id", "mixed_batch_id")
    assert "line 1" in report.errors[0].message


def test_rejects_unknown_task_type(tmp_path):
    report = validate_rows(tmp_path, [pairwise(1), pairwise(2, task_type="Pairwise")])
    assert only_error(report) == (2, "task_type", "unknown_task_type")


def test_rejects_mixed_task_types(tmp_path):
    report = validate_rows(tmp_path, [pairwise(1), likert(2)])
    assert (2, "task_type", "mixed_task_type") in [(e.line, e.column, e.kind) for e in report.errors]


def test_forced_task_type_must_match(tmp_path):
    report = validate_rows(tmp_path, [pairwise(1)], task_type="likert")
    assert (1, "task_type", "mixed_task_type") in [(e.line, e.column, e.kind) for e in report.errors]
    with pytest.raises(InputError):
        validate_rows(tmp_path, [pairwise(1)], task_type="rating")


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([pairwise(1, is_gold=True, gold_choice="skip")], (1, "gold_choice", "invalid_gold")),
        ([likert(1), likert(2, is_gold=True, gold_rating=9)], (2, "gold_rating", "invalid_gold")),
        ([ranking(1, is_gold=True, gold_ranking=[0, 1, 1])], (1, "gold_ranking", "invalid_gold")),
    ],
)
def test_rejects_gold_answer_outside_allowed_set(tmp_path, rows, expected):
    assert only_error(validate_rows(tmp_path, rows)) == expected


@pytest.mark.parametrize("bad", [[0, 0, 2], [0, 1], [0, 1, 3], [0, 1, 2, 2], [-1, 0, 1]])
def test_rejects_ranking_that_is_not_a_permutation(tmp_path, bad):
    report = validate_rows(tmp_path, [ranking(1), ranking(2, ranking=bad), ranking(3)])
    assert only_error(report) == (2, "ranking", "not_a_permutation")


def test_rejects_ranking_with_too_few_responses(tmp_path):
    report = validate_rows(tmp_path, [ranking(1, responses=["only"], ranking=[0])])
    assert only_error(report) == (1, "responses", "invalid_value")


def test_rejects_unknown_dimension(tmp_path):
    report = validate_rows(tmp_path, [pairwise(1), pairwise(2, dimension="Helpfulness")])
    assert only_error(report) == (2, "dimension", "unknown_dimension")


def test_rejects_dimension_not_allowed_for_task_type(tmp_path):
    # style_tone is judged in pairwise and likert tasks only (config default).
    report = validate_rows(tmp_path, [ranking(1), ranking(2, dimension="style_tone")])
    assert only_error(report) == (2, "dimension", "dimension_not_allowed")


def test_rejects_invalid_timestamp(tmp_path):
    rows = [pairwise(1, labeled_at="2025-01-05T10:00:00Z"), pairwise(2, labeled_at="2025-13-40")]
    assert only_error(validate_rows(tmp_path, rows)) == (2, "labeled_at", "invalid_value")


def test_default_dimension_applies_only_when_the_column_is_absent(tmp_path):
    assert validate_rows(tmp_path, [pairwise(1, dimension=_DROP), pairwise(2, dimension=_DROP)]).accepted
    report = validate_rows(tmp_path, [pairwise(1), pairwise(2, dimension=_DROP)])
    assert only_error(report) == (2, "dimension", "missing_field")


def test_rejects_text_over_hard_limit(tmp_path):
    big = "x" * (5 * 1024 * 1024)
    report = validate_rows(tmp_path, [pairwise(1), pairwise(2, response_b=big)])
    assert only_error(report) == (2, "response_b", "text_too_long")
    assert "5.0 MiB" in report.errors[0].message and len(report.errors[0].message) < 200


def test_accepts_one_mebibyte_field_with_a_warning(tmp_path):
    big = "word " * (1024 * 1024 // 5)
    report = validate_rows(tmp_path, [pairwise(1, response_a=big), pairwise(2)])
    assert report.accepted
    assert [(w.line, w.column, w.kind) for w in report.warnings] == [(1, "response_a", "text_long")]


def test_error_list_is_capped_but_the_count_is_exact(tmp_path):
    config = Config(validation=ValidationSettings(max_errors=3))
    report = validate_rows(tmp_path, [pairwise(i, choice="x") for i in range(1, 11)], config=config)
    assert report.error_count == 10 and len(report.errors) == 3
    assert [e.line for e in report.errors] == [1, 2, 3]


# ----------------------------------------------------------------------------- warnings


def test_warns_on_email_rater_id_without_echoing_it(tmp_path):
    report = validate_rows(tmp_path, [pairwise(1, rater_id="jane.doe@example.com")])
    assert report.accepted
    assert [(w.line, w.column, w.kind) for w in report.warnings] == [(1, "rater_id", "pii")]
    assert "jane" not in json.dumps(report.to_dict())


def test_warns_on_phone_number_in_text(tmp_path):
    report = validate_rows(tmp_path, [pairwise(1), pairwise(2, response_b="Call me on +1 415-555-0100.")])
    assert report.accepted
    assert [(w.line, w.column, w.kind) for w in report.warnings] == [(2, "response_b", "pii")]
    assert "phone" in report.warnings[0].message


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_warns_on_spreadsheet_formula(tmp_path, prefix):
    report = validate_rows(tmp_path, [pairwise(1, prompt=prefix + "HYPERLINK(\"http://x\")")])
    assert report.accepted
    assert [(w.line, w.column, w.kind) for w in report.warnings] == [(1, "prompt", "formula")]


def test_warns_on_formula_inside_a_list_of_responses(tmp_path):
    report = validate_rows(tmp_path, [ranking(1, responses=["ok", "=1+1", "fine"])])
    assert [(w.line, w.column, w.kind) for w in report.warnings] == [(1, "responses", "formula")]
    assert report.warnings[0].message.startswith("responses[1]")


def test_warns_on_text_over_the_report_limit(tmp_path):
    config = Config(validation=ValidationSettings(text_warn_bytes=20, text_max_bytes=100))
    report = validate_rows(tmp_path, [pairwise(1, rationale="r" * 21), pairwise(2, rationale="r" * 101)], config=config)
    assert [(w.line, w.column, w.kind) for w in report.warnings] == [(1, "rationale", "text_long")]
    assert only_error(report) == (2, "rationale", "text_too_long")


def test_warns_on_unknown_column(tmp_path):
    report = validate_rows(tmp_path, [pairwise(1), pairwise(2, vendor_note="hi"), pairwise(3, rating=3)])
    assert report.accepted
    assert [(w.line, w.column, w.kind) for w in report.warnings] == [
        (2, "vendor_note", "unknown_column"), (3, "rating", "unknown_column")]


# ----------------------------------------------------------------------------- line numbers


def test_jsonl_blank_lines_keep_physical_line_numbers(tmp_path):
    rows = ["", pairwise(1), "   ", "", pairwise(2, choice="nope"), "\t", pairwise(3)]
    report = validate_rows(tmp_path, rows)
    assert report.rows == 3
    assert only_error(report) == (5, "choice", "invalid_value")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blanks=st.lists(st.integers(0, 3), min_size=4, max_size=4), bad=st.integers(0, 3),
       truncated=st.booleans())
def test_error_line_is_the_physical_line(tmp_path, blanks, bad, truncated):
    """Fast path (all valid JSON) and exact path (a truncated line) agree on lines."""
    rows: list = []
    expected = []
    for i, n_blank in enumerate(blanks):
        rows.extend([""] * n_blank)
        if i == bad:
            rows.append(pairwise(i, choice="B"))
            expected.append((len(rows), "choice", "invalid_value"))
        else:
            rows.append(pairwise(i))
    if truncated:
        rows.append('{"batch_id": "b-1", "item')
        expected.append((len(rows), None, "invalid_json"))
    report = validate_rows(tmp_path, rows)
    assert [(e.line, e.column, e.kind) for e in report.errors] == expected


def test_csv_lines_count_header_and_multiline_fields(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text(
        "batch_id,item_id,rater_id,dimension,task_type,prompt,response,rating\n"
        'b,i1,r1,helpfulness,likert,"two\nlines",ok,3\n'
        "\n"
        "b,i2,r1,helpfulness,likert,p,ok,9\n"
        'b,i3,r1,helpfulness,likert,"three\nphysical\nlines",ok,true\n'
        "b,i4,r1,helpfulness,likert,,ok,1\n",
        encoding="utf-8",
    )
    report = validate_file(path, CONFIG)
    assert [(e.line, e.column, e.kind) for e in report.errors] == [
        (5, "rating", "out_of_range"), (6, "rating", "wrong_type"), (9, "prompt", "empty_prompt")]


def test_csv_missing_required_column_is_reported_once_on_the_header(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("batch_id,item_id,rater_id,task_type,prompt,response\nb,i1,r1,likert,p,ok\nb,i2,r1,likert,p,ok\n")
    assert only_error(validate_file(path, CONFIG)) == (1, "rating", "missing_field")


def test_csv_without_task_type_column(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("batch_id,item_id,rater_id,prompt,response,rating\nb,i1,r1,p,ok,3\n")
    report = validate_file(path, CONFIG)
    assert [(e.line, e.column, e.kind) for e in report.errors] == [
        (1, "task_type", "missing_field"), (1, "task_type", "unknown_task_type")]
    assert validate_file(path, CONFIG, task_type="likert").error_count == 1


def test_csv_non_utf8_bytes(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes(b"batch_id,item_id,rater_id,task_type,prompt,response,rating\n"
                     b"b,i1,r1,likert,p,ok,3\nb,i2,r1,likert,caf\xe9,ok,3\n")
    assert only_error(validate_file(path, CONFIG)) == (3, None, "invalid_utf8")


# ----------------------------------------------------------------------------- Parquet, output, input errors


def test_parquet_input_reports_row_numbers(tmp_path):
    rows = [likert(1), likert(2), likert(3, rating=8)]
    table = pa.Table.from_pylist(rows).set_column(7, "rating", pa.array([4, 4, 8], pa.int32()))
    path = tmp_path / "b.parquet"
    pq.write_table(table, path)
    assert only_error(validate_file(path, CONFIG)) == (3, "rating", "out_of_range")


def test_parquet_column_of_the_wrong_type(tmp_path):
    path = tmp_path / "b.parquet"
    pq.write_table(pa.Table.from_pylist([likert(1, rating="4")]), path)
    assert only_error(validate_file(path, CONFIG)) == (1, "rating", "wrong_type")


def test_normalized_output_written_only_when_accepted(tmp_path):
    out = tmp_path / "out" / "normalized.parquet"
    report = validate_file(BATCHES / "pairwise_ok.jsonl", CONFIG, normalized_out=out)
    assert report.accepted and out.exists()
    table = pq.read_table(out)
    assert table.num_rows == 4 and table["line"].to_pylist() == [1, 2, 3, 4]
    assert table["choice"].to_pylist() == ["a", "a", "b", "tie"]
    assert table.schema.field("responses" if "responses" in table.column_names else "choice").type == pa.string()

    rejected = tmp_path / "out" / "rejected.parquet"
    report = validate_rows(tmp_path, [pairwise(1), pairwise(2, choice="x")], normalized_out=rejected)
    assert not report.accepted
    assert sorted(p.name for p in rejected.parent.iterdir()) == ["normalized.parquet"]


def test_normalized_output_scrubs_pii(tmp_path):
    rows = [pairwise(1, rater_id="jane.doe@example.com", response_a="mail me: bob@example.org please"),
            pairwise(2, response_b="call +1 415-555-0100")]
    out = tmp_path / "n.parquet"
    report = validate_rows(tmp_path, rows, normalized_out=out)
    assert report.accepted and report.warning_count == 3
    table = pq.read_table(out)
    assert table["rater_id"][0].as_py().startswith("rater-") and table["rater_id"][1].as_py() == "rater-1"
    assert table["response_a"].to_pylist() == ["mail me: [email redacted] please", "Answer A."]
    assert table["response_b"].to_pylist() == ["Answer B.", "call [phone redacted]"]
    kept = tmp_path / "kept.parquet"
    validate_rows(tmp_path, rows, config=Config(validation=ValidationSettings(scrub_pii=False)), normalized_out=kept)
    assert pq.read_table(kept)["rater_id"][0].as_py() == "jane.doe@example.com"


def test_scrubbing_keeps_lists_intact(tmp_path):
    rows = [ranking(1, responses=["a", "write x@example.com", "c"]), ranking(2)]
    out = tmp_path / "n.parquet"
    assert validate_rows(tmp_path, rows, normalized_out=out).accepted
    assert pq.read_table(out)["responses"].to_pylist() == [["a", "write [email redacted]", "c"], ["x", "y", "z"]]


def test_unreadable_inputs_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        validate_file(tmp_path / "missing.jsonl", CONFIG)
    (tmp_path / "batch.xlsx").write_bytes(b"PK")
    with pytest.raises(InputError, match="extension"):
        validate_file(tmp_path / "batch.xlsx", CONFIG)
    # An unreadable batch file is a rejected batch (exit 1), as an empty JSONL file is.
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    report = validate_file(tmp_path / "bad.parquet", CONFIG)
    assert not report.accepted and [e.kind for e in report.errors] == ["invalid_parquet"]
    assert "not a readable Parquet file" in report.errors[0].message and report.errors[0].line == 1


def test_format_override(tmp_path):
    path = write_jsonl(tmp_path / "batch.txt", [pairwise(1)])
    assert validate_file(path, CONFIG, fmt="jsonl").accepted


def test_dimension_task_types_come_from_config(tmp_path):
    dims = [Dimension(name=n, definition="d", task_types=["likert"]) for n in ("a_dim", "b_dim", "c_dim")]
    config = Config(taxonomy=Taxonomy(default_dimension="a_dim", dimensions=dims))
    report = validate_rows(tmp_path, [pairwise(1, dimension="a_dim")], config=config)
    assert only_error(report) == (1, "dimension", "dimension_not_allowed")
