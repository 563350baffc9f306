"""The ``training:`` job specs: validation, stage resolution, help text, no torch at import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import BaseModel, ValidationError

from alignment_ci.train import specs
from alignment_ci.train.specs import STAGES, StageJob, TrainingSettings

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_importing_specs_does_not_import_torch():
    code = (
        "import sys, alignment_ci.train.specs, alignment_ci.train.stages, alignment_ci.train.synthetic;"
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'datasets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hub_base_model_needs_a_pinned_commit():
    with pytest.raises(ValidationError, match="base_revision must pin it to a 40-character commit hash"):
        TrainingSettings(base_model="meta-llama/Llama-3.2-1B")
    with pytest.raises(ValidationError, match="got 'main'"):
        TrainingSettings(base_model="meta-llama/Llama-3.2-1B", base_revision="main")
    ok = TrainingSettings(base_model="meta-llama/Llama-3.2-1B", base_revision=SHA)
    assert ok.job("sft").base_revision == SHA


@pytest.mark.parametrize("ref", ["tiny", "./models/base", "/abs/model", "../up", "~/m"])
def test_local_base_models_need_no_revision_and_refuse_one(ref):
    assert TrainingSettings(base_model=ref).base_revision is None
    with pytest.raises(ValidationError, match="base_revision applies only to hub ids"):
        TrainingSettings(base_model=ref, base_revision=SHA)


def test_unknown_keys_are_rejected_at_every_level():
    with pytest.raises(ValidationError, match="grpo.num_generation\n"):
        TrainingSettings.model_validate({"grpo": {"num_generation": 4}})
    with pytest.raises(ValidationError, match="reward.lora.rank"):
        TrainingSettings.model_validate({"reward": {"lora": {"rank": 4}}})


def test_online_rl_batch_must_hold_whole_groups():
    with pytest.raises(ValidationError, match=r"\(6\) must be a multiple of num_generations \(4\)"):
        TrainingSettings.model_validate({"rloo": {"per_device_train_batch_size": 6}})
    ok = TrainingSettings.model_validate(
        {"grpo": {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 2, "num_generations": 4}}
    )
    assert ok.grpo.per_device_train_batch_size == 2


def test_online_rl_needs_some_reward():
    with pytest.raises(ValidationError, match="no reward"):
        TrainingSettings.model_validate({"grpo": {"use_reward_model": False}})
    ok = TrainingSettings.model_validate(
        {"grpo": {"use_reward_model": False, "rule_rewards": [{"kind": "regex", "pattern": "(?i)thank"}]}}
    )
    assert ok.grpo.rule_rewards[0].name == "rule_regex"


def test_rule_reward_arguments_are_checked():
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        TrainingSettings.model_validate({"grpo": {"rule_rewards": [{"kind": "regex", "pattern": "("}]}})
    with pytest.raises(ValidationError, match="needs `max_chars`"):
        TrainingSettings.model_validate({"rloo": {"rule_rewards": [{"kind": "max_chars"}]}})


@pytest.mark.parametrize(
    ("section", "value", "message"),
    [
        ({"dataset": {"snapshot": "yesterday"}}, None, "snapshot must be `latest` or a lower-case hex hash"),
        ({"dataset": {"aggregation": "mean"}}, None, "'majority', 'weighted', 'dawid-skene', 'bradley-terry' or 'borda'"),
        ({"modal": {"gpu": "H100 x4"}}, None, "gpu must look like `H100` or `A100-80GB:4`"),
        ({"sft": {"max_steps": 0}}, None, "max_steps must be a positive number of steps, or -1"),
    ],
)
def test_bad_values_say_what_is_allowed(section, value, message):
    with pytest.raises(ValidationError) as exc:
        TrainingSettings.model_validate(section)
    assert message in str(exc.value)


def test_job_resolves_shared_defaults_and_stage_overrides():
    settings = TrainingSettings.model_validate(
        {
            "backend": "modal",
            "seed": 7,
            "dataset": {"snapshot": "latest", "aggregation": "majority"},
            "modal": {"gpu": "A100-80GB:4"},
            "dpo": {"backend": "local", "dataset": {"snapshot": "ab12cd34ef56", "aggregation": "bradley-terry"}},
        }
    )
    dpo, rm = settings.job("dpo"), settings.job("reward")
    assert (dpo.backend, dpo.seed, dpo.dataset.snapshot, dpo.dataset.aggregation) == (
        "local", 7, "ab12cd34ef56", "bradley-terry")
    assert (rm.backend, rm.dataset.aggregation, rm.modal.gpu) == ("modal", "majority", "A100-80GB:4")
    assert dpo.stage == "dpo" and dpo.params.beta == 0.1
    with pytest.raises(ValueError, match="unknown stage .trpo.; choose one of reward, sft, dpo, grpo, rloo, ppo"):
        settings.job("trpo")


def test_job_round_trips_through_json_with_the_stage_discriminator():
    for stage in STAGES:
        job = TrainingSettings().job(stage)
        again = StageJob.model_validate(json.loads(job.model_dump_json()))
        assert again == job and type(again.params) is type(job.params)


def test_stage_defaults_differ_where_the_stage_needs_it_and_keep_one_help_text():
    s = TrainingSettings()
    assert [s.job(st).params.learning_rate for st in STAGES] == [1e-3, 5e-3, 5e-4, 3e-3, 3e-3, 1e-6]
    assert (s.grpo.beta, s.rloo.beta) == (0.04, 0.05)
    help_lr = specs.StageSettings.model_fields["learning_rate"].description
    assert specs.SFTStage.model_fields["learning_rate"].description == help_lr
    with pytest.raises(ValidationError):
        TrainingSettings.model_validate({"sft": {"learning_rate": 0}})  # the bound survives the new default


def _all_fields(model: type[BaseModel], seen: set) -> list[tuple[str, str, str | None]]:
    out = []
    for name, info in model.model_fields.items():
        out.append((model.__name__, name, info.description))
        for arg in getattr(info.annotation, "__args__", ()) + (info.annotation,):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in seen:
                seen.add(arg)
                out += _all_fields(arg, seen)
    return out


def test_every_field_has_help_text():
    fields = _all_fields(TrainingSettings, set())
    for stage_cls in (specs.RewardStage, specs.SFTStage, specs.DPOStage, specs.GRPOStage, specs.RLOOStage):
        fields += _all_fields(stage_cls, set())
    missing = sorted({f"{m}.{n}" for m, n, d in fields if not d})
    assert missing == []
    assert len(fields) > 80
