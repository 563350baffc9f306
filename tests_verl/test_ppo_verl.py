"""The ppo stage up to the GPU boundary, in verl's own environment (`make test-verl`).

verl 0.9.1 has no CPU execution path (rollouts need vLLM/SGLang, workers need NCCL), so
these tests check everything before the GPUs: the stage's configuration composed with
verl's own Hydra config and accepted by verl's ``validate_config``, the converted
dataset loaded by verl's ``RLHFDataset``, the rule-reward function loaded by verl's
loader, and the reward model's artifact format. They run where `verl` imports; a
missing verl fails (it is installed by the make target), it is not skipped.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import verl  # noqa: F401  (fails loudly when the environment lacks verl)
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from alignment_ci.errors import InputError
from alignment_ci.train.specs import DistributedSettings, ModalSettings, RuleReward, TrainingSettings
from alignment_ci.train.stages import ppo
from alignment_ci.train.synthetic import make_preference_pairs
from alignment_ci.train.tiny import build_tiny_model


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A tiny base model, a one-label reward model from it, and plain-template working copies."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    root = tmp_path_factory.mktemp("models")
    base = build_tiny_model(root / "base", seed=0)
    rm = root / "rm"
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(rm)
    tokenizer.save_pretrained(rm)
    return {
        "base": base,
        "rm": rm,
        "actor": ppo.working_copy(base, root / "actor", "plain"),
        "reward": ppo.working_copy(rm, root / "reward", "plain"),
    }


def _job(gpus: int = 2, **changes):
    settings = TrainingSettings(modal=ModalSettings(gpu=f"H100:{gpus}"), distributed=DistributedSettings())
    return settings.with_stage("ppo", **changes).job("ppo")


def _overrides(models, tmp_path, job=None, **extra) -> list[str]:
    job = job or _job()
    return ppo.verl_overrides(
        job, actor=models["actor"], critic=models["reward"], reward_model=models["reward"],
        train_file=tmp_path / "train.parquet", val_file=tmp_path / "val.parquet", checkpoint_dir=tmp_path / "ckpt",
        n_gpus=ppo.gpu_count(job), **extra,
    )


def test_stage_config_composes_with_verls_config_and_passes_validate_config(models, tmp_path):
    from verl.trainer.ppo.utils import need_critic, need_reference_policy

    cfg = ppo.compose_verl_config(_overrides(models, tmp_path))
    assert cfg.reward.reward_model.enable is True
    assert cfg.reward.reward_model.model_path == str(models["reward"])
    assert cfg.critic.model.path == str(models["reward"])  # critic_init: reward
    assert cfg.actor_rollout_ref.model.path == str(models["actor"])
    assert cfg.algorithm.adv_estimator == "gae" and cfg.algorithm.use_kl_in_reward is True
    assert cfg.algorithm.kl_ctrl.kl_coef == pytest.approx(0.05)
    assert cfg.trainer.n_gpus_per_node == 2 and cfg.trainer.total_training_steps == 20
    assert cfg.data.max_prompt_length + cfg.data.max_response_length == 256
    assert cfg.actor_rollout_ref.actor.checkpoint.save_contents == ["model", "optimizer", "extra", "hf_model"]
    assert cfg.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"
    assert cfg.critic.model.override_config.attn_implementation == "sdpa"
    assert need_critic(cfg) and need_reference_policy(cfg)


def test_a_misspelled_key_fails(models, tmp_path):
    with pytest.raises(InputError, match="ppo_mini_batchsize"):
        ppo.compose_verl_config(_overrides(models, tmp_path) + ["actor_rollout_ref.actor.ppo_mini_batchsize=4"])


def test_a_reward_model_under_the_old_keys_fails_and_would_be_ignored(models, tmp_path):
    base = [o for o in _overrides(models, tmp_path) if not o.startswith("reward.reward_model.")]
    legacy = [*base, "reward_model.enable=true", f"reward_model.model.path={models['reward']}"]
    with pytest.raises(InputError, match="main_ppo ignores them"):
        ppo.compose_verl_config(legacy)
    # Why: verl composes those keys without complaint, and its model-based reward stays off.
    config_dir = str(Path(__import__("verl.trainer.config", fromlist=["x"]).__file__).parent)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        cfg = compose(config_name="ppo_trainer", overrides=legacy)
    GlobalHydra.instance().clear()
    assert cfg.reward_model.enable is True and cfg.reward.reward_model.enable is False


def test_validate_config_rejects_a_batch_the_gpus_cannot_share(models, tmp_path):
    job = _job(gpus=3, per_device_train_batch_size=16, ppo_mini_batch_size=16)
    with pytest.raises(InputError, match="validate_config"):
        ppo.compose_verl_config(_overrides(models, tmp_path, job=job))


def test_rule_rewards_load_through_verls_loader_and_add_up(models, tmp_path):
    from verl.trainer.ppo.reward import get_custom_reward_fn

    job = _job(use_reward_model=False, critic_init="policy",
               rule_rewards=[RuleReward(kind="regex", pattern="(?i)thank", weight=2.0), RuleReward(kind="no_pii")])
    spec = ppo.write_reward_spec(job, None, tmp_path / "reward-spec.json")
    overrides = ppo.verl_overrides(
        job, actor=models["actor"], critic=models["actor"], reward_model=None, train_file=tmp_path / "t.parquet",
        val_file=tmp_path / "v.parquet", checkpoint_dir=tmp_path / "ckpt", n_gpus=2, reward_spec=spec,
    )
    cfg = ppo.compose_verl_config(overrides)
    assert cfg.reward.reward_model.enable is False
    fn = get_custom_reward_fn(cfg)

    def score(text: str) -> float:
        return asyncio.run(fn(data_source="alignment-ci", solution_str=text, ground_truth="", extra_info={}))["score"]

    assert score("Thank you!") == 2.0
    assert score("Thanks, mail me at a@b.com") == 1.0
    assert score("no.") == 0.0


def test_converted_dataset_loads_in_verls_rlhf_dataset(models, tmp_path):
    from transformers import AutoTokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    rows = make_preference_pairs(24, seed=3)
    records = ppo.verl_records(rows, "train")
    prompts = list(dict.fromkeys(r["prompt"] for r in rows))
    assert len(records) == len(prompts)
    path = ppo.write_parquet(records, tmp_path / "train.parquet")
    cfg = ppo.compose_verl_config(_overrides(models, tmp_path))
    tokenizer = AutoTokenizer.from_pretrained(models["actor"])
    dataset = RLHFDataset(data_files=[str(path)], tokenizer=tokenizer, config=cfg.data)
    assert len(dataset) == len(prompts)
    item = dataset[0]
    assert list(item["raw_prompt"]) == [{"role": "user", "content": prompts[0]}]
    # plain prompt format: the generation prompt is the bare prompt text, as in GRPO/RLOO
    text = tokenizer.apply_chat_template(list(item["raw_prompt"]), add_generation_prompt=True, tokenize=False)
    assert text == prompts[0]
    assert item["extra_info"]["item_id"] == str(rows[0]["item_id"])


def test_reward_model_artifact_format(models, tmp_path):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    ppo.check_reward_model_dir(models["reward"])
    tokenizer = AutoTokenizer.from_pretrained(models["reward"])
    text = ppo_reward_input(tokenizer, "Hello there. ", "Thanks!")
    assert text == "Hello there. Thanks!" + tokenizer.eos_token  # what TRL's RewardTrainer scored

    two = tmp_path / "two-labels"
    AutoModelForSequenceClassification.from_pretrained(models["base"], num_labels=2).save_pretrained(two)
    tokenizer.save_pretrained(two)
    with pytest.raises(InputError, match="2 labels"):
        ppo.check_reward_model_dir(two)
    lm = tmp_path / "causal"
    AutoModelForCausalLM.from_pretrained(models["base"]).save_pretrained(lm)
    tokenizer.save_pretrained(lm)
    with pytest.raises(InputError, match="ForSequenceClassification"):
        ppo.check_reward_model_dir(lm)
    bare = ppo.working_copy(models["rm"], tmp_path / "bare", "chat")
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((bare / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (bare / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="no chat template"):
        ppo.check_reward_model_dir(bare)


def ppo_reward_input(tokenizer, prompt: str, response: str) -> str:
    from alignment_ci.train.stages.ppo_reward import reward_model_input

    return reward_model_input(tokenizer, ppo.prompt_messages(prompt), response)
