"""A Hugging Face base model that cannot be fetched is a usage error in seconds, with the fix."""

from __future__ import annotations

import socket

import pytest

from alignment_ci.errors import InputError
from alignment_ci.train.hub import check_hub_model, reachable

from .test_cli import run_cli
from .test_train_runs import workspace  # noqa: F401  (fixture)
from .train_support import one_thread  # noqa: F401  (fixture)

REVISION = "0123456789abcdef0123456789abcdef01234567"


def test_offline_and_not_cached_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(InputError) as info:
        check_hub_model("acme/base-7b", REVISION)
    message = str(info.value)
    assert "not in the local Hugging Face cache" in message and "HF_HUB_OFFLINE=1" in message
    assert f"huggingface-cli download acme/base-7b --revision {REVISION}" in message and "docs/models.md" in message


def test_unreachable_hub_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(InputError, match="is not reachable from this machine"):
        check_hub_model("acme/base-7b", REVISION, probe=lambda url: False)


def test_reachable_probes_a_real_socket():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        assert reachable(f"http://127.0.0.1:{port}")
    finally:
        server.close()
    assert not reachable(f"http://127.0.0.1:{port}", timeout_s=1.0)


@pytest.mark.slow  # end to end: `alignment-ci train` in a subprocess (over 10 s)
def test_train_with_an_unfetchable_base_model_exits_2_without_a_traceback(workspace, monkeypatch):  # noqa: F811
    (workspace / "alignment.yaml").write_text(
        f"training:\n  base_model: acme/base-7b\n  base_revision: '{REVISION}'\n  reward: {{max_steps: 2}}\n")
    monkeypatch.setenv("HF_HOME", str(workspace / "hf"))
    result = run_cli("train", "--stage", "reward", "--format", "json", cwd=workspace)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "acme/base-7b" in result.stderr
    assert "HF_HUB_OFFLINE" in result.stderr
    assert result.stdout == ""
