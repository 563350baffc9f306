"""The ppo stage on verl, in the TRL environment: everything that does not need verl or a GPU.

verl's own checks (Hydra composition, validate_config, RLHFDataset) run in its separate
environment: tests_verl/, `make test-verl`.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from alignment_ci.errors import InputError
from alignment_ci.train import runs
from alignment_ci.train.specs import STAGES, TRL_STAGES, ModalSettings, RuleReward, TrainingSettings
from alignment_ci.train.stages import ppo, run_stage
from alignment_ci.train.stages.ppo_reward import total_reward
from tests.train_support import one_thread, pairs, tiny_model, trained_reward  # noqa: F401 (fixtures)


def test_ppo_is_a_stage_but_not_a_trl_one():
    assert "ppo" in STAGES and "ppo" not in TRL_STAGES
    job = TrainingSettings().job("ppo")
    assert runs.parents_of(job) == ["sft", "reward"]  # start/reference model, and reward model (+ critic)
    rules_only = TrainingSettings().with_stage("ppo", use_reward_model=False, critic_init="policy",
                                               rule_rewards=[{"kind": "no_pii"}]).job("ppo")
    assert runs.parents_of(rules_only) == ["sft"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"use_reward_model": False}, "no reward"),
        ({"use_reward_model": False, "rule_rewards": [{"kind": "no_pii"}]}, "critic_init: reward needs the reward model"),
        ({"max_completion_length": 300}, "must be below max_length"),
        ({"ppo_mini_batch_size": 48}, "multiple of ppo_mini_batch_size"),
        ({"lr_scheduler_type": "linear"}, "constant"),
        ({"lora": {"enabled": True}}, "LoRA on verl"),
    ],
)
def test_inconsistent_ppo_settings_are_refused(changes, message):
    with pytest.raises(ValidationError, match=message):
        TrainingSettings().with_stage("ppo", **changes)


def test_prompts_become_verls_dataset_format(pairs, tmp_path):
    records = ppo.verl_records(pairs + pairs[:5], "train")  # repeated prompts appear once
    prompts = list(dict.fromkeys(r["prompt"] for r in pairs))
    assert [r["prompt"][0]["content"] for r in records] == prompts
    path = ppo.write_parquet(records, tmp_path / "train.parquet")
    table = pq.read_table(path)
    assert set(table.column_names) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    first = table.slice(0, 1).to_pylist()[0]
    assert first["prompt"] == [{"role": "user", "content": prompts[0]}]
    assert first["data_source"] == "alignment-ci" and first["reward_model"]["style"] == "model"
    assert first["extra_info"]["item_id"] == str(pairs[0]["item_id"]) and first["extra_info"]["index"] == 0
    with pytest.raises(InputError, match="no prompts"):
        ppo.write_parquet([], tmp_path / "empty.parquet")


def test_the_reward_stages_model_is_a_valid_verl_reward_model(trained_reward, tmp_path):
    from transformers import AutoTokenizer

    copy = ppo.working_copy(trained_reward.model_dir, tmp_path / "rm", "plain")
    ppo.check_reward_model_dir(copy)
    assert (copy / "model.safetensors").is_symlink()  # weights linked, not copied
    tok = AutoTokenizer.from_pretrained(copy)
    chat = [{"role": "user", "content": "Hi. "}, {"role": "assistant", "content": "Hello!"}]
    assert tok.apply_chat_template(chat, tokenize=False) == "Hi. Hello!" + tok.eos_token
    assert tok.apply_chat_template(chat[:1], tokenize=False, add_generation_prompt=True) == "Hi. "


def test_a_causal_lm_is_not_a_reward_model(tiny_model):
    with pytest.raises(InputError, match="ForSequenceClassification"):
        ppo.check_reward_model_dir(tiny_model)


def _overrides(tmp_path, job):
    return ppo.verl_overrides(job, actor=tmp_path / "a", critic=tmp_path / "c", reward_model=tmp_path / "rm",
                              train_file=tmp_path / "t.parquet", val_file=tmp_path / "v.parquet",
                              checkpoint_dir=tmp_path / "ck", n_gpus=ppo.gpu_count(job))


def test_the_reward_model_goes_under_verls_current_keys_only(tmp_path):
    job = TrainingSettings(modal=ModalSettings(gpu="H100:4")).job("ppo")
    overrides = _overrides(tmp_path, job)
    keys = {o.split("=", 1)[0]: o.split("=", 1)[1] for o in overrides}
    assert keys["reward.reward_model.enable"] == "true"
    assert keys["reward.reward_model.model_path"] == f"'{tmp_path / 'rm'}'"
    assert keys["critic.model.path"] == f"'{tmp_path / 'c'}'"
    assert keys["trainer.n_gpus_per_node"] == "4" and keys["algorithm.use_kl_in_reward"] == "true"
    assert (keys["trainer.val_before_train"], keys["trainer.test_freq"]) == ("true", "20")  # before and at the end
    assert not [k for k in keys if k.startswith(ppo.LEGACY_PREFIXES)]
    ppo.check_overrides(overrides)
    with pytest.raises(InputError, match="main_ppo ignores them; use `reward.reward_model.enable`"):
        ppo.check_overrides([*overrides, "reward_model.enable=true"])


def test_rule_rewards_add_to_the_reward_models_score(tmp_path):
    rules = [RuleReward(kind="regex", pattern="(?i)thank", weight=2.0).model_dump(), RuleReward(kind="no_pii").model_dump()]
    assert total_reward(0.5, 3.0, rules, "Thank you") == pytest.approx(1.5 + 2.0)
    assert total_reward(None, 1.0, rules, "call 555-123-4567") == -1.0
    job = TrainingSettings().with_stage("ppo", rule_rewards=[RuleReward(kind="no_pii")]).job("ppo")
    with pytest.raises(ValueError, match="reward spec"):
        _overrides(tmp_path, job)
    spec = json.loads(ppo.write_reward_spec(job, tmp_path / "rm", tmp_path / "spec.json").read_text())
    assert spec["rules"][0]["kind"] == "no_pii" and spec["rm_model"] == str(tmp_path / "rm")


def test_ppo_on_this_cpu_machine_says_where_it_runs_and_writes_nothing(pairs, tiny_model, trained_reward, tmp_path):
    job = TrainingSettings().with_stage("ppo", init_from="base").job("ppo")
    with pytest.raises(InputError, match="--backend modal"):
        run_stage(job, pairs, tmp_path / "out", {"base": tiny_model, "reward": trained_reward.model_dir})
    assert not (tmp_path / "out").exists()


def test_verl_metrics_summarise_reward_kl_and_validation():
    per_step = [
        ppo.metrics_entry({"step": 1, "data": {"critic/rewards/mean": -0.5, "actor/reward_kl_penalty": 0.0,
                                               "val-core/alignment-ci/reward/mean@1": 0.1, "note": "x"}}),
        ppo.metrics_entry({"step": 2, "data": {"critic/rewards/mean": 0.25, "actor/reward_kl_penalty": 0.02,
                                               "critic/vf_loss": 0.3, "val-core/alignment-ci/reward/mean@1": 0.4}}),
    ]
    assert "note" not in per_step[0]
    summary = ppo.summary_metrics(per_step)
    assert summary["train_reward_first"] == -0.5 and summary["train_reward_last"] == 0.25
    assert summary["kl"] == 0.02 and summary["value_loss"] == 0.3
    assert (summary["eval_reward_start"], summary["eval_reward"]) == (0.1, 0.4)
    assert "eval_reward_start" not in ppo.summary_metrics(per_step[1:])  # one validation: no start/end pair


def test_modal_app_defines_the_verl_function_with_its_own_image():
    from alignment_ci.train import modal_app
    from alignment_ci.train.backends import modal as modal_backend

    assert modal_app.function_for("ppo") is modal_app.train_ppo
    assert modal_app.function_for("dpo") is modal_app.train_stage
    assert "verl[vllm]==0.9.1" in modal_app.VERL_IMAGE_PACKAGES
    assert not any(p.startswith(("trl", "transformers")) for p in modal_app.VERL_IMAGE_PACKAGES)
    from modal._utils.async_utils import synchronizer  # modal keeps no public accessor for a function's image

    ppo_spec, trl_spec = modal_app.train_ppo._spec_, modal_app.train_stage._spec_

    def base_of(image):  # noqa: ANN001, ANN202 (the layer below the mounted package source)
        return synchronizer._translate_in(image)._deps()[0]

    assert ppo_spec.image._deps()[0] is base_of(modal_app.verl_image)
    assert trl_spec.image._deps()[0] is base_of(modal_app.image)
    assert ppo_spec.image._deps()[0] is not trl_spec.image._deps()[0]
    assert set(ppo_spec.volumes) == {"/root/.cache/huggingface", "/checkpoints"} and len(ppo_spec.secrets) == 2
    assert "deepspeed==0.19.8" in modal_app.DISTRIBUTED_PACKAGES
    job = TrainingSettings(modal=ModalSettings(gpu="H100:8")).job("ppo")
    assert ppo.gpu_count(job) == 8
    assert modal_backend._function(job) is not None


def test_cli_ppo_here_fails_before_training_any_parent(tmp_path):
    from alignment_ci.config import Config
    from alignment_ci.data.manifest import ingest_batch
    from alignment_ci.synth import make_pairwise_batch, write_jsonl

    from .test_cli import run_cli

    config = Config()
    config._root = tmp_path
    ingest_batch(write_jsonl(make_pairwise_batch(batch_id="b-001", n_items=20, seed=2), tmp_path / "b.jsonl"), "acme",
                 config)
    result = run_cli("train", "--stage", "ppo", "--format", "json", cwd=tmp_path)
    assert result.returncode == 2
    assert "the ppo stage runs on verl" in result.stderr and "--backend modal" in result.stderr
    assert runs.latest_run(config, "sft") is None and runs.latest_run(config, "reward") is None
