"""Run cache, model artifacts, lineage and the Modal backend's configuration."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from alignment_ci.config import Config
from alignment_ci.data.manifest import ingest_batch
from alignment_ci.errors import InputError, IntegrityError
from alignment_ci.lineage import open_lineage
from alignment_ci.jsonl import write_jsonl
from alignment_ci.synth import make_pairwise_batch
from alignment_ci.train import runs
from alignment_ci.train.backends import modal as modal_backend

from .test_cli import run_cli
from .train_support import one_thread  # noqa: F401

FAST = {"max_steps": 3, "eval_fraction": 0.2, "logging_steps": 1}


def _config(root: Path, **stage_changes) -> Config:
    config = Config()
    training = config.training
    for stage in ("reward", "sft", "dpo"):
        training = training.with_stage(stage, **{**FAST, **stage_changes.get(stage, {})})
    config = config.model_copy(update={"training": training})
    config._root = root
    return config


@pytest.fixture
def workspace(tmp_path: Path, one_thread) -> Path:  # noqa: F811
    batch = write_jsonl(make_pairwise_batch(batch_id="train-001", n_items=40, seed=2), tmp_path / "in" / "b1.jsonl")
    ingest_batch(batch, "acme", _config(tmp_path))
    return tmp_path


def test_same_inputs_hit_the_cache_and_changes_retrain(workspace):
    first = runs.train(_config(workspace), "reward")
    assert first["cached"] is False and first["stage"] == "reward"
    assert first["batch_ids"] == ["train-001"] and "r08" in first["raters"]
    again = runs.train(_config(workspace), "reward")
    assert again["cached"] is True and again["run_key"] == first["run_key"] and again["artifact"] == first["artifact"]
    # a changed config field retrains
    changed = runs.train(_config(workspace, reward={"learning_rate": 5e-4}), "reward")
    assert changed["cached"] is False and changed["run_key"] != first["run_key"]
    # a new label batch changes the snapshot and retrains
    extra = write_jsonl(make_pairwise_batch(batch_id="train-002", n_items=20, seed=3), workspace / "in" / "b2.jsonl")
    ingest_batch(extra, "acme", _config(workspace))
    new_data = runs.train(_config(workspace), "reward")
    assert new_data["cached"] is False and new_data["snapshot"] != first["snapshot"]
    assert sorted(new_data["batch_ids"]) == ["train-001", "train-002"]


def test_a_changed_parent_retrains_the_child(workspace):
    dpo = runs.train(_config(workspace), "dpo")
    assert dpo["parents"]["sft"]["run_key"]
    assert runs.train(_config(workspace), "dpo")["cached"] is True
    other_sft = runs.train(_config(workspace, sft={"learning_rate": 1e-3}), "dpo")
    assert other_sft["cached"] is False
    assert other_sft["parents"]["sft"]["run_key"] != dpo["parents"]["sft"]["run_key"]


def test_corrupted_artifact_is_detected_on_load(workspace):
    config = _config(workspace)
    record = runs.train(config, "reward")
    blob = next(p for p in config.resolve(config.stores.artifacts.path).rglob(record["artifact"] + "*") if p.is_file())
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[-100] ^= 0x01
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        runs.model_dir_for(config, record)


def test_model_artifact_unpacks_to_a_loadable_model(workspace):
    config = _config(workspace)
    record = runs.train(config, "reward")
    model_dir = runs.model_dir_for(config, record)
    assert (model_dir / "model.safetensors").exists() and (model_dir / "tokenizer.json").exists()
    assert runs.pack_model_dir(model_dir) != b""
    import hashlib

    # the artifact is the hash of the deterministic tar of the model directory
    (model_dir / ".verified").unlink()
    assert hashlib.sha256(runs.pack_model_dir(model_dir)).hexdigest() == record["artifact"]


def test_lineage_show_walks_from_artifact_to_batches_and_raters(workspace):
    config = _config(workspace)
    dpo = runs.train(config, "dpo")
    chain = open_lineage(config).walk(dpo["artifact"])
    kinds = [e.kind for e in chain]
    assert kinds[0] == "train" and "ingest" in kinds
    assert chain[0].data["stage"] == "dpo"
    assert any(e.kind == "train" and e.data["stage"] == "sft" for e in chain)
    ingest = next(e for e in chain if e.kind == "ingest")
    assert ingest.data["batch_id"] == "train-001" and "r08" in ingest.data["raters"]
    assert open_lineage(config).verify().ok


def test_train_without_batches_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no label batches"):
        runs.train(_config(tmp_path), "reward")


def test_modal_app_configuration():
    from alignment_ci.train import modal_app

    assert modal_app.app.name == "alignment-ci-train"
    assert "trl==1.16.0" in modal_app.IMAGE_PACKAGES and "torch==2.13.0" in modal_app.IMAGE_PACKAGES
    assert modal_app.gpu_spec("A100-80GB:4") == ("A100-80GB", 4) and modal_app.gpu_spec("H100") == ("H100", 1)
    options = modal_app.FUNCTION_OPTIONS
    assert options["timeout"] == 3600 and options["retries"].max_retries == 1
    spec = modal_app.train_stage._spec_  # what the decorator registered (modal keeps no public accessor)
    assert spec.gpus == "H100"
    assert set(spec.volumes) == {"/root/.cache/huggingface", "/checkpoints"}
    assert len(spec.secrets) == 2
    # per-call GPU/timeout/retries come from training.modal through with_options
    job = Config().training.model_copy(update={"modal": Config().training.modal.model_copy(update={"gpu": "A100-80GB:4"})}).job("reward")
    assert job.modal.gpu == "A100-80GB:4"
    assert modal_backend._function(job) is not None


def test_modal_function_body_runs_locally(workspace, monkeypatch):
    from alignment_ci.train import modal_app

    monkeypatch.setenv("ALIGNMENT_CI_CHECKPOINTS", str(workspace / "ckpt"))
    config = _config(workspace)
    job = config.training.job("reward")
    dataset = runs.load_dataset(config, job)
    result = modal_app.train_stage.local(job.model_dump(mode="json"), dataset.pairs, {}, "test-run")
    assert result["stage"] == "reward" and result["model_tar"][:100]
    assert result["metrics"]["n_train"] > 0


def test_modal_without_credentials_fails_fast(workspace, monkeypatch):
    for var in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(workspace / "no-modal.toml"))
    started = time.perf_counter()
    result = run_cli("train", "--stage", "reward", "--backend", "modal", cwd=workspace)
    assert result.returncode == 2
    assert "Modal credentials not found" in result.stderr
    with pytest.raises(InputError, match="MODAL_TOKEN_ID"):
        modal_backend.require_credentials({})
    assert time.perf_counter() - started < 30  # the subprocess start dominates; modal's own client retries ~60 s


@pytest.mark.slow  # end to end through CLI subprocesses: `make test-slow`
def test_cli_train_prints_the_contract_record_and_caches(workspace):
    (workspace / "alignment.yaml").write_text("training:\n  reward: {max_steps: 3}\n")
    first = run_cli("train", "--stage", "reward", "--format", "json", cwd=workspace)
    assert first.returncode == 0, first.stderr
    record = json.loads(first.stdout)
    assert list(record)[:5] == ["run_key", "cached", "artifact", "metrics", "lineage"]
    assert record["cached"] is False and record["lineage"]["batch_ids"] == ["train-001"]
    second = json.loads(run_cli("train", "--stage", "reward", "--format", "json", cwd=workspace).stdout)
    assert second["cached"] is True and second["run_key"] == record["run_key"]
    shown = run_cli("lineage", "show", record["artifact"], "--format", "json", cwd=workspace)
    assert shown.returncode == 0
    assert [e["kind"] for e in json.loads(shown.stdout)["entries"]] == ["train", "ingest"]
