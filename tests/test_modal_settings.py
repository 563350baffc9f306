"""Modal settings a user writes in alignment.yaml: GPU names checked against Modal's list,
and the credentials check only when a run must really be spawned."""

from __future__ import annotations

import json

import pytest

from alignment_ci.config import parse_config
from alignment_ci.errors import ConfigError

from .test_cli import run_cli
from .test_train_runs import workspace  # noqa: F401  (fixture)
from .train_support import one_thread  # noqa: F401  (fixture)


@pytest.mark.parametrize("gpu", ["H100", "A100-80GB:4", "l40s", "H100!:8", "B200+", "A10G:4", "T4"])
def test_modal_gpu_types_are_accepted(gpu):
    assert parse_config(f"training:\n  modal: {{gpu: '{gpu}'}}\n").training.modal.gpu == gpu


def test_unknown_gpu_is_rejected_with_the_list_and_a_hint():
    with pytest.raises(ConfigError) as info:
        parse_config("training:\n  modal:\n    gpu: H10O\n", source="alignment.yaml")
    message = str(info.value)
    assert "alignment.yaml:3" in message and "not a Modal GPU type" in message
    assert "did you mean `H100`" in message and "A100-80GB" in message


def test_rtx_9000_is_not_a_modal_gpu():
    with pytest.raises(ConfigError, match="'RTX-9000' is not a Modal GPU type"):
        parse_config("training:\n  modal: {gpu: 'RTX-9000'}\n")


def test_too_many_gpus_for_one_container():
    with pytest.raises(ConfigError, match="at most 4 A10 GPUs"):
        parse_config("training:\n  modal: {gpu: 'A10:8'}\n")


@pytest.mark.slow  # end to end: trains through the CLI, then reruns it (about 25 s)
def test_a_cached_run_needs_no_modal_credentials(workspace, monkeypatch):  # noqa: F811
    (workspace / "alignment.yaml").write_text("training:\n  reward: {max_steps: 2}\n")
    first = run_cli("train", "--stage", "reward", "--format", "json", cwd=workspace)
    assert first.returncode == 0, first.stderr
    for var in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(workspace / "no-modal.toml"))
    again = run_cli("train", "--stage", "reward", "--backend", "modal", "--format", "json", cwd=workspace)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["cached"] is True
