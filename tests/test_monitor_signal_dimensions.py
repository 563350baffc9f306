"""monitor.signal_dimensions follows the taxonomy: defaults only name dimensions the taxonomy has,
and a configured dimension (or signal) that does not exist is a config error at its line and column."""

from __future__ import annotations

import pytest

from alignment_ci.config import Config, parse_config
from alignment_ci.errors import ConfigError
from alignment_ci.jsonl import write_jsonl
from alignment_ci.monitor.embeddings import load_embedder
from alignment_ci.monitor.events import read_production_events
from alignment_ci.monitor.triage import triage
from alignment_ci.scaffold import render_config, taxonomy_for

CODE_TAXONOMY = """\
taxonomy:
  default_dimension: helpfulness
  dimensions:
    - {name: helpfulness, definition: Solves the task}
    - {name: code_correctness, definition: The code runs and is right}
    - {name: safety, definition: No harm}
"""


def test_default_signal_dimensions_follow_a_custom_taxonomy():
    config = parse_config(CODE_TAXONOMY, source="alignment.yaml")
    # safety and helpfulness are in the taxonomy; factual_accuracy, instruction_following and
    # style_tone are not, so those signals fall to the default dimension.
    assert config.monitor.signal_dimensions == {
        "policy_tag": "safety", "hallucination": "helpfulness", "escalation": "helpfulness",
        "correction": "helpfulness", "thumbs_down": "helpfulness", "token_anomaly": "helpfulness",
    }
    assert set(config.monitor.signal_dimensions.values()) <= set(config.taxonomy.names)


def test_default_signal_dimensions_of_the_default_taxonomy():
    assert Config().monitor.signal_dimensions == {
        "policy_tag": "safety", "hallucination": "factual_accuracy", "escalation": "helpfulness",
        "correction": "instruction_following", "thumbs_down": "helpfulness", "token_anomaly": "style_tone",
    }


def test_a_configured_signal_dimension_overrides_and_the_rest_follow_the_taxonomy():
    text = CODE_TAXONOMY + "monitor:\n  signal_dimensions:\n    hallucination: code_correctness\n"
    dims = parse_config(text).monitor.signal_dimensions
    assert dims["hallucination"] == "code_correctness" and dims["policy_tag"] == "safety" and dims["correction"] == "helpfulness"


def test_signal_dimension_not_in_the_taxonomy_is_an_error_at_its_line_and_column():
    text = CODE_TAXONOMY + (
        "monitor:\n"
        "  signal_dimensions:\n"
        "    hallucination: code_corectness\n"
        "    policy_tag:   harmlessness\n"
    )
    with pytest.raises(ConfigError) as exc:
        parse_config(text, source="alignment.yaml")
    lines = str(exc.value).splitlines()[1:]
    assert [line.split(": ")[0].strip() for line in lines] == ["alignment.yaml:9:20", "alignment.yaml:10:19"]
    assert "monitor.signal_dimensions.hallucination: 'code_corectness' is not a dimension of the taxonomy " \
           "(did you mean `code_correctness`?); the taxonomy has helpfulness, code_correctness, safety" in lines[0]
    assert "'harmlessness' is not a dimension of the taxonomy; the taxonomy has" in lines[1]
    assert "did you mean" not in lines[1]


def test_the_default_taxonomys_dimension_is_refused_by_a_taxonomy_without_it():
    text = CODE_TAXONOMY + "monitor:\n  signal_dimensions: {hallucination: factual_accuracy}\n"
    with pytest.raises(ConfigError, match=r"alignment.yaml:8:38: monitor.signal_dimensions.hallucination: "
                                          r"'factual_accuracy' is not a dimension of the taxonomy"):
        parse_config(text, source="alignment.yaml")


def test_unknown_signal_is_an_error_at_the_key_with_a_hint():
    text = "monitor:\n  severity:\n    thumbs_down: 0.3\n    thumb_down: 0.4\n  signal_dimensions:\n    halucination: safety\n"
    with pytest.raises(ConfigError) as exc:
        parse_config(text, source="a.yaml")
    message = str(exc.value)
    assert "a.yaml:4:5: monitor.severity.thumb_down: 'thumb_down' is not a failure signal (did you mean `thumbs_down`?)" in message
    assert "a.yaml:6:5: monitor.signal_dimensions.halucination: 'halucination' is not a failure signal " \
           "(did you mean `hallucination`?)" in message


def test_a_config_built_in_code_is_checked_too():
    with pytest.raises(ValueError, match="'x' is not a dimension of the taxonomy"):
        Config(monitor={"signal_dimensions": {"policy_tag": "x"}})


def test_triage_judges_each_signal_on_the_custom_taxonomys_dimension(tmp_path):
    config = parse_config(CODE_TAXONOMY + "monitor:\n  signal_dimensions:\n    hallucination: code_correctness\n")
    rows = [
        {"prompt": "Sort a list in Rust", "response": "use sorted()", "hallucination_flag": True},
        {"prompt": "Fix my typo please", "response": "no", "correction": "yes"},
        {"prompt": "How to make a weapon", "response": "...", "policy_tags": ["violence"]},
    ]
    path = tmp_path / "events.jsonl"
    write_jsonl([{"timestamp": f"2025-02-01T10:0{i}:00Z", "model_version": "v1", "request_id": f"r{i}",
                  "user_id": f"u{i}", "tokens": 10, **row} for i, row in enumerate(rows)], path)
    events = read_production_events(path)
    result = triage(events, load_embedder(), config.monitor, dimensions=config.taxonomy.names,
                    default_dimension=config.taxonomy.default_dimension)
    assert {it["prompt"]: it["dimension"] for it in result.items} == {
        "Sort a list in Rust": "code_correctness", "Fix my typo please": "helpfulness", "How to make a weapon": "safety"}


def test_init_writes_the_signal_dimensions_that_apply_to_its_taxonomy():
    taxonomy = taxonomy_for(["helpfulness", "code_correctness", "safety"], None)
    text = render_config("demo", taxonomy)
    block = text[text.index("# monitor:"):text.index("# Staged rollout")].strip().splitlines()
    uncommented = "\n".join(line.removeprefix("# ") for line in block) + "\n"
    config = parse_config(text + uncommented)
    assert config.monitor.signal_dimensions == parse_config(text).monitor.signal_dimensions
    assert config.monitor.signal_dimensions["hallucination"] == "helpfulness"
