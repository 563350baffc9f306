"""The five TRL stages on the tiny model and the synthetic courtesy rule.

Real training, no mocks: each test trains for a few dozen steps on CPU and checks that
the metric the stage exists for moves the right way.
"""

from __future__ import annotations

import json
import math
import sys

import pytest

from alignment_ci.errors import InputError
from alignment_ci.train.specs import RuleReward, TrainingSettings
from alignment_ci.train.stages import run_stage
from alignment_ci.train.stages.common import read_rows, split_rows
from tests.train_support import (  # noqa: F401 (fixtures)
    one_thread,
    pairs,
    style_agnostic_policy,
    tiny_model,
    trained_reward,
)


def _losses(result):
    return [e["loss"] for e in result.per_step if "loss" in e]


# ---------------------------------------------------------------- reward


def test_reward_model_reaches_90_percent_heldout_pairwise_accuracy(trained_reward):
    m = trained_reward.metrics
    assert (m["n_train"], m["n_eval"]) == (52, 12)
    assert m["eval_accuracy"] >= 0.9
    assert m["eval_margin"] > 1.0
    assert m["eval_accuracy_start"] < 0.9  # the untrained head does not already know the rule
    assert len(_losses(trained_reward)) == 30
    assert trained_reward.per_step[0]["step"] == 1 and trained_reward.per_step[-1]["step"] == 30
    assert {"accuracy", "margin", "grad_norm", "learning_rate"} <= set(trained_reward.per_step[-1])
    assert trained_reward.device == "cpu"


def test_saved_reward_model_scores_like_the_trained_one(trained_reward, pairs):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from alignment_ci.train.stages.common import split_rows
    from alignment_ci.train.stages.reward import pairwise_metrics

    model_dir = trained_reward.model_dir
    assert {"config.json", "model.safetensors", "tokenizer.json", "alignment-ci-stage.json"} <= {
        p.name for p in model_dir.iterdir()}
    stage = json.loads((model_dir / "alignment-ci-stage.json").read_text())
    assert stage["stage"] == "reward" and stage["job"]["params"]["max_steps"] == 30
    _, held_out = split_rows(pairs, 0.2, 0)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    reloaded = pairwise_metrics(model, AutoTokenizer.from_pretrained(model_dir), held_out)
    assert reloaded["accuracy"] == trained_reward.metrics["eval_accuracy"]
    assert reloaded["margin"] == pytest.approx(trained_reward.metrics["eval_margin"], abs=1e-4)


# ---------------------------------------------------------------- sft and dpo


def test_sft_loss_falls(pairs, tiny_model, tmp_path):
    job = TrainingSettings().with_stage("sft", max_steps=20).job("sft")
    result = run_stage(job, pairs, tmp_path / "sft", {"base": tiny_model})
    losses = _losses(result)
    assert len(losses) == 20
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5
    assert result.metrics["eval_loss"] < result.metrics["eval_loss_start"] - 0.5


def test_dpo_heldout_reward_margin_rises(pairs, tiny_model, tmp_path):
    job = TrainingSettings().with_stage("dpo", init_from="base", max_steps=20, eval_steps=5).job("dpo")
    result = run_stage(job, pairs, tmp_path / "dpo", {"base": tiny_model})
    m = result.metrics
    evals = [e for e in result.per_step if "eval_rewards/margins" in e]
    assert [e["step"] for e in evals] == [0, 5, 10, 15, 20]
    margins = [e["eval_rewards/margins"] for e in evals]
    assert margins[0] == m["eval_reward_margin_start"] == pytest.approx(0.0, abs=1e-6)  # policy == reference
    assert all(b > a for a, b in zip(margins, margins[1:])), margins
    assert m["eval_reward_margin"] == margins[-1] > 0.5
    assert m["eval_reward_accuracy"] >= 0.9


# ---------------------------------------------------------------- online RL


@pytest.mark.parametrize("stage", ["grpo", "rloo"])
def test_online_rl_with_the_reward_model_raises_mean_reward(stage, pairs, style_agnostic_policy, trained_reward,
                                                           tmp_path):
    job = TrainingSettings().job(stage)  # defaults: init_from sft, the reward model, 20 steps
    parents = {"sft": style_agnostic_policy, "reward": trained_reward.model_dir}
    result = run_stage(job, pairs, tmp_path / stage, parents)
    m = result.metrics
    # Held-out prompts, same sampling seed before and after: the RM's mean score rises.
    assert m["eval_rm_reward"] > m["eval_rm_reward_start"] + 0.3, m
    assert m["eval_reward"] == m["eval_rm_reward"]  # no rule rewards configured
    assert 0 < m["kl"] < 10
    rewards = [e["reward"] for e in result.per_step if "reward" in e]
    assert len(rewards) == 20
    assert sum(rewards[-5:]) / 5 > sum(rewards[:5]) / 5


def test_grpo_with_only_a_rule_reward_learns_without_a_reward_model(pairs, style_agnostic_policy, tmp_path):
    rule = RuleReward(kind="regex", pattern=r"(?i)\b(sure|happy|glad|certainly|great)\b")
    job = TrainingSettings().with_stage(
        "grpo", use_reward_model=False, rule_rewards=[rule.model_dump()], max_steps=12
    ).job("grpo")
    result = run_stage(job, pairs, tmp_path / "grpo-rule", {"sft": style_agnostic_policy})
    m = result.metrics
    assert "eval_rm_reward" not in m
    assert m["eval_reward"] > m["eval_reward_start"] + 0.1, m
    assert any("rewards/rule_regex/mean" in e for e in result.per_step)


def test_rule_rewards_score_completions_exactly():
    from alignment_ci.train.stages.online import rule_reward_fn

    completions = ["Sure, happy to help.", "no", "mail me at a.b@example.com"]
    regex = rule_reward_fn(RuleReward(kind="regex", pattern="(?i)happy"))
    limit = rule_reward_fn(RuleReward(kind="max_chars", max_chars=5))
    pii = rule_reward_fn(RuleReward(kind="no_pii"))
    assert regex(prompts=[""] * 3, completions=completions) == [1.0, 0.0, 0.0]
    assert limit(prompts=[""] * 3, completions=completions) == [-1.0, 0.0, -1.0]
    assert pii(prompts=[""] * 3, completions=completions) == [0.0, 0.0, -1.0]
    assert (regex.__name__, limit.__name__, pii.__name__) == ("rule_regex", "rule_max_chars", "rule_no_pii")


# ---------------------------------------------------------------- crash safety and resume


class _Crash(RuntimeError):
    pass


def test_crash_leaves_no_output_and_rerun_resumes_from_the_last_checkpoint(pairs, tiny_model, tmp_path):
    job = TrainingSettings().with_stage("reward", max_steps=6, save_steps=3).job("reward")
    out, ckpt = tmp_path / "rm", tmp_path / "ckpt"

    def crash_at_4(step, max_steps, logs):
        if step == 4:
            raise _Crash("power cut")

    with pytest.raises(_Crash):
        run_stage(job, pairs, out, {"base": tiny_model}, crash_at_4, checkpoint_dir=ckpt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no output, no temp dir left
    assert sorted(p.name for p in ckpt.glob("checkpoint-*")) == ["checkpoint-3"]

    resumed = run_stage(job, pairs, out, {"base": tiny_model}, checkpoint_dir=ckpt)
    assert resumed.resumed_from is not None and resumed.resumed_from.endswith("checkpoint-3")
    assert [e["step"] for e in resumed.per_step if "loss" in e] == [4, 5, 6]
    assert (out / "model.safetensors").is_file()

    straight = run_stage(job, pairs, tmp_path / "rm-straight", {"base": tiny_model})
    assert _losses(resumed) == pytest.approx(_losses(straight)[3:], abs=1e-5)


def test_existing_output_is_refused_before_training(pairs, tiny_model, tmp_path):
    out = tmp_path / "rm"
    out.mkdir()
    (out / "config.json").write_text("{}")
    seen = []
    with pytest.raises(InputError, match="already exists and is not empty"):
        run_stage(TrainingSettings().job("reward"), pairs, out, {"base": tiny_model},
                  lambda *a: seen.append(a))
    assert seen == []


def test_missing_parent_model_names_the_stage_to_train_first(pairs, tiny_model, tmp_path):
    with pytest.raises(InputError, match="stage 'dpo' needs the 'sft' model: train that stage first"):
        run_stage(TrainingSettings().job("dpo"), pairs, tmp_path / "dpo", {"base": tiny_model})
    assert list(tmp_path.iterdir()) == []


def test_lora_without_peft_says_what_to_install(pairs, tiny_model, tmp_path, monkeypatch):
    from trl import SFTTrainer  # noqa: F401  (import TRL while peft is still importable)

    monkeypatch.setitem(sys.modules, "peft", None)  # from here on `import peft` raises ImportError
    job = TrainingSettings().with_stage("sft", lora={"enabled": True}).job("sft")
    with pytest.raises(InputError, match=r"training.sft.lora.enabled is true, but the `peft` package is not installed"):
        run_stage(job, pairs, tmp_path / "sft", {"base": tiny_model})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stage", ["sft", "reward"])
def test_lora_trains_adapters_and_saves_a_merged_plain_model(stage, pairs, tiny_model, tmp_path):
    pytest.importorskip("peft")
    from safetensors.torch import load_file

    job = TrainingSettings().with_stage(stage, max_steps=10, lora={"enabled": True, "r": 4}).job(stage)
    result = run_stage(job, pairs, tmp_path / stage, {"base": tiny_model})
    names = {p.name for p in result.model_dir.iterdir()}
    assert "model.safetensors" in names and "adapter_config.json" not in names
    base, tuned = load_file(tiny_model / "model.safetensors"), load_file(result.model_dir / "model.safetensors")
    assert not any("lora" in k for k in tuned)
    changed = sorted(k for k in base if k in tuned and not (base[k] == tuned[k]).all())
    # Only the adapted attention projections changed (merged B·A), the MLPs and embeddings did not.
    assert changed and all(k.split(".")[-2] in {"q_proj", "k_proj", "v_proj", "o_proj"} for k in changed)
    losses = _losses(result)
    assert losses[-1] < losses[0]


# ---------------------------------------------------------------- input rows


def test_bad_jsonl_row_names_the_file_and_line(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n"
        + json.dumps({"prompt": "p", "chosen": "", "rejected": "b"}) + "\n"
    )
    with pytest.raises(InputError, match=r"pairs.jsonl:2: field 'chosen' must be a non-empty string"):
        read_rows(path)
    path.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n\n{"prompt": \n')
    with pytest.raises(InputError, match=r"pairs.jsonl:3: not valid JSON"):
        read_rows(path)


def test_heldout_split_keeps_each_item_on_one_side_and_is_deterministic(pairs):
    rows = pairs + [dict(r, chosen=r["chosen"] + " Again.") for r in pairs[:20]]  # 20 items judged twice
    _, held_once = split_rows(pairs, 0.2, seed=0)
    held_ids = {r["item_id"] for r in held_once}
    assert len(held_ids) == 12
    train, held = split_rows(rows, 0.2, seed=0)
    expected_held = 12 + sum(r["item_id"] in held_ids for r in pairs[:20])
    assert (len(train), len(held)) == (84 - expected_held, expected_held)
    assert {r["item_id"] for r in train}.isdisjoint({r["item_id"] for r in held})
    assert split_rows(rows, 0.2, seed=0) == (train, held)
    assert split_rows(rows, 0.2, seed=1) != (train, held)
    assert split_rows(rows, 0.0, seed=0) == (rows, [])
    tiny_train, tiny_held = split_rows(pairs[:2], 0.01, seed=0)
    assert (len(tiny_train), len(tiny_held)) == (1, 1)


def test_metrics_are_finite_floats(trained_reward):
    assert all(isinstance(v, float) and math.isfinite(v) for v in trained_reward.metrics.values())
