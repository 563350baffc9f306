"""Label Studio and Argilla exports to canonical rows, and the generated Label Studio config."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from alignment_ci.config import Config
from alignment_ci.data.validate import validate_file
from alignment_ci.errors import InputError
from alignment_ci.formats.argilla import read_argilla_export
from alignment_ci.formats.labelstudio import labeling_config, read_labelstudio_export
from alignment_ci.jsonl import write_jsonl
from alignment_ci.quality.raters import rater_report

RLHF_TASKS = [
    {
        "id": 101,
        "data": {"prompt": "How do I boil an egg?", "answer1": "Boil it for 9 minutes.", "answer2": "Eggs are birds."},
        "annotations": [
            {"id": 1, "completed_by": {"id": 7, "email": "ann@vendor.example", "first_name": "Ann"},
             "result": [{"type": "pairwise", "from_name": "comparison", "to_name": "prompt", "value": {"selected": "left"}}],
             "was_cancelled": False, "lead_time": 12.5, "created_at": "2025-01-02T10:00:00.000000Z"},
            {"id": 2, "completed_by": 8, "result": [{"type": "pairwise", "value": {"selected": "right"}}],
             "was_cancelled": False},
            {"id": 3, "completed_by": 9, "result": [], "was_cancelled": True},
        ],
    },
    {
        "id": 102,
        "data": {"prompt": "Capital of France?", "answer1": "Paris", "answer2": "Lyon"},
        "annotations": [
            {"id": 4, "completed_by": {"id": 1}, "ground_truth": True, "result": [{"type": "pairwise", "value": {"selected": "left"}}]},
            {"id": 5, "completed_by": {"email": "bob@vendor.example"}, "result": [{"type": "pairwise", "value": {"selected": "left"}}]},
        ],
    },
    {"id": 103, "data": {"prompt": "p", "answer1": "x", "answer2": "y"}, "annotations": []},
]


def test_labelstudio_rlhf_template_export(tmp_path):
    result = read_labelstudio_export(RLHF_TASKS, "ls-batch")
    rows = result.rows
    assert [(r["item_id"], r["rater_id"], r["choice"]) for r in rows] == [
        ("ls-task-101", "ls-7", "a"),
        ("ls-task-101", "ls-8", "b"),
        ("ls-task-101", "ls-9", "skip"),  # the cancelled annotation: a skip, so the skip rate counts it
        ("ls-task-102", rows[3]["rater_id"], "a"),
    ]
    # The e-mail never becomes a rater id: a pseudonym stands in.
    assert rows[3]["rater_id"].startswith("rater-") and "bob" not in rows[3]["rater_id"]
    assert rows[0]["time_spent_s"] == 12.5 and rows[0]["labeled_at"] == "2025-01-02T10:00:00.000000Z"
    assert rows[3]["is_gold"] is True and rows[3]["gold_choice"] == "a" and "is_gold" not in rows[0]
    assert result.summary()["skipped_reasons"] == {"ground truth (used as gold answer)": 1, "no annotations": 1}
    path = tmp_path / "batch.jsonl"
    write_jsonl(rows, path)
    report = validate_file(path, Config())
    assert report.accepted, report.to_dict()["errors"]
    assert report.rows == 4 and report.task_type == "pairwise"


def test_labelstudio_generated_config_round_trip(tmp_path):
    config = Config()
    xml = labeling_config(config.taxonomy, "factual_accuracy")
    root = ET.fromstring(xml)
    choices = {c.get("name"): c for c in root.iter("Choices")}
    pref = choices["factual_accuracy"]
    assert [(c.get("alias"), c.get("hotkey")) for c in pref.iter("Choice")] == [("a", "1"), ("b", "2"), ("tie", "3"), ("skip", "s")]
    assert [c.get("alias") for c in choices["flags"].iter("Choice")] == ["safety", "hallucination"]
    assert [t.get("value") for t in root.iter("Text")] == ["$prompt", "$response_a", "$response_b"]
    assert root.find(".//TextArea").get("name") == "why"
    assert "Are the claims true and verifiable" in root.find("Header").get("value")
    # What that config exports comes back as rows with flags and the rationale.
    task = {
        "id": 5,
        "data": {"prompt": "Who wrote Hamlet?", "response_a": "Shakespeare", "response_b": "Dickens", "item_id": "it-5"},
        "annotations": [{
            "id": 9, "completed_by": 3,
            "result": [
                {"type": "choices", "from_name": "factual_accuracy", "value": {"choices": ["a"]}},
                {"type": "choices", "from_name": "flags", "value": {"choices": ["hallucination"]}},
                {"type": "textarea", "from_name": "why", "value": {"text": ["B invents the author."]}},
            ],
        }],
    }
    (row,) = read_labelstudio_export([task], "b1", dimensions=config.taxonomy.names).rows
    assert row["dimension"] == "factual_accuracy" and row["choice"] == "a" and row["item_id"] == "it-5"
    assert row["hallucination_flag"] is True and "safety_flag" not in row and row["rationale"] == "B invents the author."


def test_labelstudio_config_rejects_a_dimension_not_judged_pairwise():
    from alignment_ci.config import parse_config

    config = parse_config(
        "taxonomy:\n  dimensions:\n"
        "    - {name: helpfulness, definition: 'Helps?'}\n"
        "    - {name: safety, definition: 'Safe?', task_types: [likert]}\n"
        "    - {name: style_tone, definition: 'Tone?'}\n"
    )
    with pytest.raises(InputError, match="'safety' is not judged pairwise"):
        labeling_config(config.taxonomy, "safety")
    with pytest.raises(InputError, match="'nope' is not in the taxonomy"):
        labeling_config(config.taxonomy, "nope")


def test_cancelled_annotations_are_skips_that_count_in_the_skip_rate():
    """One behaviour in code and README: a cancelled annotation is a `skip` row (it was dropped)."""
    tasks = [{"id": 200 + i, "data": {"prompt": f"p{i}", "response_a": "x", "response_b": "y"},
              "annotations": [{"id": 10 * i + 1, "completed_by": 1, "result": [
                                  {"type": "choices", "from_name": "helpfulness", "value": {"choices": ["a"]}}]},
                              {"id": 10 * i + 2, "completed_by": 2, "was_cancelled": i % 2 == 0,
                               "result": [] if i % 2 == 0 else [
                                   {"type": "choices", "from_name": "helpfulness", "value": {"choices": ["a"]}}]}]}
             for i in range(4)]
    rows = read_labelstudio_export(tasks, "b").rows
    assert [(r["rater_id"], r["choice"]) for r in rows if r["rater_id"] == "ls-2"] == [
        ("ls-2", "skip"), ("ls-2", "a"), ("ls-2", "skip"), ("ls-2", "a")]
    raters = rater_report(pd.DataFrame(rows))["raters"]
    assert raters["ls-2"]["skip_rate"] == 0.5 and raters["ls-1"]["skip_rate"] == 0.0


def test_json_min_export_is_refused_with_what_to_export_instead():
    """JSON_MIN (here as Label Studio 1.23.2 exported it) is flat and drops cancelled annotations and
    the ground-truth flag: skips and gold would be lost silently. It used to fail with "has no 'data' object"."""
    json_min = json.loads((Path(__file__).parent / "labelstudio" / "export-json-min.json").read_text())
    assert {"annotator", "annotation_id"} <= json_min[0].keys() and "data" not in json_min[0]
    with pytest.raises(InputError, match=r"^task 14: export as JSON \(not JSON_MIN\): JSON_MIN leaves out cancelled "
                                         r"\(skipped\) annotations and ground-truth flags"):
        read_labelstudio_export(json_min, "b")
    with pytest.raises(InputError, match="task 12: has no 'data' object"):
        read_labelstudio_export([{"id": 12, "annotations": []}], "b")


def test_labelstudio_errors_name_the_task_and_annotation(tmp_path):
    bad = [{"id": 4, "data": {"prompt": "p", "answer1": "a", "answer2": "b"},
            "annotations": [{"id": 11, "completed_by": 2, "result": [{"type": "pairwise", "value": {"selected": "middle"}}]}]}]
    with pytest.raises(InputError, match="task 4, annotation 11: pairwise result must select 'left' or 'right'"):
        read_labelstudio_export(bad, "b")
    nouser = [{"id": 4, "data": {"prompt": "p", "answer1": "a", "answer2": "b"},
               "annotations": [{"id": 12, "completed_by": {"first_name": "x"}, "result": [{"type": "pairwise", "value": {"selected": "left"}}]}]}]
    with pytest.raises(InputError, match="annotation 12: completed_by has no user id"):
        read_labelstudio_export(nouser, "b")
    path = tmp_path / "x.json"
    path.write_text('{"not": "a list"}')
    with pytest.raises(InputError, match="expected a JSON array of tasks"):
        read_labelstudio_export(path, "b")


USER_A = "6f1f3f0c-0000-4000-8000-00000000000a"
USER_B = "6f1f3f0c-0000-4000-8000-00000000000b"


def test_argilla_rating_question_nested_export(tmp_path):
    records = [
        {"id": "r1", "status": "completed", "fields": {"prompt": "Explain DNS", "response": "DNS maps names to IPs."},
         "responses": {"helpfulness": [{"value": 4, "user_id": USER_A, "status": "submitted"},
                                       {"value": 2, "user_id": USER_B, "status": "discarded"}],
                       "why": [{"value": "Accurate and short.", "user_id": USER_A, "status": "submitted"}]},
         "metadata": {}, "suggestions": {}, "vectors": {}, "_server_id": "00000000-0000-0000-0000-000000000001"},
        {"id": "r2", "status": "pending", "fields": {"prompt": "Explain TCP", "response": "It is a protocol."},
         "responses": {}, "metadata": {}, "suggestions": {}, "vectors": {}},
    ]
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records))
    result = read_argilla_export(path, "arg-1", dimensions=Config().taxonomy.names)
    assert result.task_type == "likert"
    assert result.rows == [{
        "batch_id": "arg-1", "item_id": "r1", "dimension": "helpfulness", "task_type": "likert", "prompt": "Explain DNS",
        "response": "DNS maps names to IPs.", "rater_id": f"argilla-{USER_A}", "rating": 4, "rationale": "Accurate and short.",
    }]
    assert result.summary()["skipped_reasons"] == {"discarded": 1, "no responses": 1}
    out = tmp_path / "batch.jsonl"
    write_jsonl(result.rows, out)
    assert validate_file(out, Config()).accepted


def test_argilla_label_question_flattened_export(tmp_path):
    flat = [
        {"id": "p1", "status": "completed", "_server_id": "s1", "prompt": "2+2?", "response1": "4", "response2": "5",
         "preference.responses": ["response1", "tie"], "preference.responses.users": [USER_A, USER_B],
         "preference.responses.status": ["submitted", "submitted"],
         "flags.responses": [["safety"]], "flags.responses.users": [USER_B], "flags.responses.status": ["submitted"]},
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in flat) + "\n")
    result = read_argilla_export(path, "arg-2")
    assert [(r["rater_id"], r["choice"], r.get("safety_flag")) for r in result.rows] == [
        (f"argilla-{USER_A}", "a", None), (f"argilla-{USER_B}", "tie", True)]
    assert result.rows[0]["response_a"] == "4" and result.rows[0]["response_b"] == "5"
    out = tmp_path / "batch.jsonl"
    write_jsonl(result.rows, out)
    assert validate_file(out, Config()).accepted


def test_argilla_ranking_question_both_value_forms(tmp_path):
    records = [
        {"id": "k1", "fields": {"prompt": "Best greeting?", "response1": "Hi", "response2": "Hello there", "response3": "Yo"},
         "responses": {"ranking": [
             {"value": ["response2", "response1", "response3"], "user_id": USER_A, "status": "submitted"},
             {"value": [{"value": "response3", "rank": 1}, {"value": "response1", "rank": 2}, {"value": "response2", "rank": 3}],
              "user_id": USER_B, "status": "submitted"},
             {"value": [{"value": "response3", "rank": 1}, {"value": "response1", "rank": 1}, {"value": "response2", "rank": 2}],
              "user_id": "u3", "status": "submitted"},
         ]}},
    ]
    result = read_argilla_export(records, "arg-3", dimension="instruction_following")
    assert result.task_type == "ranking"
    assert [(r["responses"], r["ranking"]) for r in result.rows] == [
        (["Hi", "Hello there", "Yo"], [1, 0, 2]),
        (["Hi", "Hello there", "Yo"], [2, 0, 1]),
    ]
    assert result.skipped == [{"where": "record k1, response 3", "reason": "tied ranks"}]
    out = tmp_path / "batch.jsonl"
    write_jsonl(result.rows, out)
    assert validate_file(out, Config()).accepted


def test_argilla_asks_for_the_question_when_ambiguous():
    records = [{"id": "x", "fields": {"prompt": "p", "response": "r"},
                "responses": {"helpfulness": [{"value": 3, "user_id": USER_A}], "safety": [{"value": 5, "user_id": USER_A}]}}]
    with pytest.raises(InputError, match=r"several preference questions \(helpfulness, safety\): name one with --question"):
        read_argilla_export(records, "b")
    rows = read_argilla_export(records, "b", question="safety", dimensions=["safety"]).rows
    assert [(r["dimension"], r["rating"]) for r in rows] == [("safety", 5)]


def test_cli_import_and_labelstudio_config(tmp_path):
    import typer
    from typer.testing import CliRunner

    from alignment_ci.commands import importers

    app = typer.Typer()
    app.add_typer(importers.app, name="import")
    app.add_typer(importers.labelstudio_app, name="labelstudio")
    runner = CliRunner()
    export = tmp_path / "ls.json"
    export.write_text(json.dumps(RLHF_TASKS))
    out = tmp_path / "batch.jsonl"
    result = runner.invoke(app, ["import", "labelstudio", str(export), "--batch-id", "ls-1", "--out", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 4 and len(out.read_text().splitlines()) == 4  # with the skip row
    config = runner.invoke(app, ["labelstudio", "config", "--dimension", "safety"])
    assert config.exit_code == 0 and ET.fromstring(config.stdout).find("Choices").get("name") == "safety"
    argilla = tmp_path / "records.json"
    argilla.write_text(json.dumps([{"id": "x", "fields": {"prompt": "p", "response": "r"},
                                    "responses": {"rating": [{"value": 9, "user_id": USER_A, "status": "submitted"}]}}]))
    bad = runner.invoke(app, ["import", "argilla", str(argilla), "--batch-id", "a", "--out", str(tmp_path / "a.jsonl")])
    # import validates what it converted: 9 on a 1..5 scale is rejected there, naming the record; nothing written
    assert bad.exit_code == 1 and "Argilla record x" in bad.output
    assert not (tmp_path / "a.jsonl").exists()
