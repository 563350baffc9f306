"""`alignment-ci gate`: exit codes 0 (pass) / 1 (a gate blocks) / 2 (input error), the
report on stdout with --format json, and the result files."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from alignment_ci.commands.gate import app
from alignment_ci.errors import InputError
from tests.gating_support import GATES, flipped_rm, gold_file, healthy_rm, isolated  # noqa: F401
from tests.train_support import one_thread, pairs, tiny_model, trained_reward  # noqa: F401


def invoke(*args: str):
    return CliRunner().invoke(app, [*args, "--gates", str(GATES), "-k", "gold or regression"])


def test_gate_exits_0_when_the_candidate_passes(isolated, healthy_rm, trained_reward, gold_file):
    result = invoke("--candidate-rm", str(healthy_rm), "--baseline-rm", str(trained_reward.model_dir),
                    "--gold", str(gold_file), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == "pass"
    assert data["counts"]["fail"] == 0 and data["counts"]["pass"] == 5
    assert Path(data["paths"]["json"]) == isolated / ".alignment-ci" / "out" / "gates" / "gates.json"
    assert Path(data["paths"]["junit"]).is_file()


def test_gate_exits_1_and_names_the_failures_when_a_gate_blocks(isolated, flipped_rm, trained_reward, gold_file):
    out = isolated / "results"
    result = invoke("--candidate-rm", str(flipped_rm), "--baseline-rm", str(trained_reward.model_dir),
                    "--gold", str(gold_file), "--results-dir", str(out))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[-1] == "verdict: fail"
    assert any(line.startswith("FAIL         gold/dimension=style_tone: gold pairwise accuracy") for line in lines)
    assert any(line.startswith("FAIL         regression/all: candidate reward model is worse than the baseline") for line in lines)
    assert json.loads((out / "gates.json").read_text())["verdict"] == "fail"
    assert (out / "gates.junit.xml").is_file()


def test_gate_refuses_a_model_directory_that_does_not_exist(isolated):
    result = invoke("--candidate-rm", str(isolated / "nowhere"))
    assert isinstance(result.exception, InputError) and result.exception.exit_code == 2
    assert str(result.exception) == (f"--candidate-rm {isolated / 'nowhere'}: no such directory; "
                                     "give the directory of a saved model")


def test_gate_refuses_a_missing_gates_directory(isolated):
    result = CliRunner().invoke(app, ["--gates", str(isolated / "no-gates")])
    assert isinstance(result.exception, InputError)
    assert "no such directory" in str(result.exception)
