"""Multi-process TRL stages (alignment_ci.train.stages.launcher) on this CPU: two ranks over gloo.

The ranks run DistributedDataParallel over gloo (accelerate's MULTI_CPU state; the tests
assert it, since a world size of 2 also shows for ranks that shard the data but train
unsynchronised models). Invariant: with the global batch kept (2 ranks × per-device 4 = 1 rank × 8), the two
ranks see the same examples per optimizer step as one process (accelerate shards the
same seeded batches) and DDP averages the same per-example gradients, so in fp32 the
per-step losses agree to rounding. Tolerance: 1e-4 absolute on losses, 1e-3 on held-out
margins (measured below 1e-5 here); the seed-1 run in test_train_invariants.py differs
by more than 100× that.
"""

from __future__ import annotations

import pytest
from transformers.trainer_utils import get_last_checkpoint

from alignment_ci.errors import InputError
from alignment_ci.train.stages import launcher
from alignment_ci.train.runs import run_key_for
from alignment_ci.train.specs import DistributedSettings, TrainingSettings
from alignment_ci.train.stages import run_stage
from alignment_ci.train.stages.common import last_complete_checkpoint
from tests.train_support import one_thread, pairs, tiny_model  # noqa: F401 (fixtures)

LOSS_TOLERANCE = 1e-4
METRIC_TOLERANCE = 1e-3


def _settings(stage: str, processes: int, **changes) -> TrainingSettings:
    values = {"max_steps": 4, "per_device_train_batch_size": 8, "eval_fraction": 0.2,
              **({"init_from": "base"} if stage == "dpo" else {}), **changes}
    return TrainingSettings(distributed=DistributedSettings(processes=processes)).with_stage(stage, **values)


def _losses(result) -> list[float]:
    return [e["loss"] for e in result.per_step if "loss" in e]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stage", "metrics"),
    # DPO's held-out loss, not TRL's eval reward margins: TRL averages those over gathered
    # batches including the samples accelerate repeats to even out the last batch across ranks.
    [("reward", ["eval_accuracy", "eval_margin"]), ("dpo", ["eval_loss", "reward_margin", "reward_accuracy"])],
)
def test_two_processes_reach_the_metrics_of_one_with_the_same_global_batch(stage, metrics, pairs, tiny_model, tmp_path):
    one = run_stage(_settings(stage, 1).job(stage), pairs, tmp_path / "one", {"base": tiny_model})
    two = run_stage(_settings(stage, 2).job(stage), pairs, tmp_path / "two", {"base": tiny_model})
    # One run of two ranks with synchronised gradients: a world size of 2 alone would also
    # show for two ranks that each train their own model on half the data.
    assert two.extra["world_size"] == 2 and two.extra["processes"] == 2
    assert (two.extra["distributed_type"], two.extra["wrapped_model"]) == ("MULTI_CPU", "DistributedDataParallel")
    assert "world_size" not in one.extra
    assert len(_losses(one)) == len(_losses(two)) == 4
    assert _losses(two) == pytest.approx(_losses(one), abs=LOSS_TOLERANCE)
    assert _losses(two)[-1] < _losses(two)[0]
    if stage == "dpo":  # the training-time implicit reward margins, step by step (full batches)
        margins = [[e["rewards/margins"] for e in r.per_step if "rewards/margins" in e] for r in (one, two)]
        assert margins[1] == pytest.approx(margins[0], abs=METRIC_TOLERANCE) and len(margins[0]) == 4
    for name in metrics:
        assert two.metrics[name] == pytest.approx(one.metrics[name], abs=METRIC_TOLERANCE), name
    assert (tmp_path / "two" / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]  # no rank left a scratch output


class _Kill(RuntimeError):
    pass


@pytest.mark.slow
def test_a_killed_two_process_run_resumes_from_its_last_checkpoint(pairs, tiny_model, tmp_path):
    settings = _settings("reward", 2, max_steps=6, save_steps=2, eval_fraction=0.0)
    job, out, ckpt = settings.job("reward"), tmp_path / "rm", tmp_path / "ckpt"
    seen: list[int] = []

    def kill_at_3(step, max_steps, logs):
        seen.append(step)
        if step == 3:
            raise _Kill("power cut")

    with pytest.raises(_Kill):
        run_stage(job, pairs, out, {"base": tiny_model}, kill_at_3, checkpoint_dir=ckpt)
    assert seen[:3] == [1, 2, 3]
    assert not out.exists()
    assert "checkpoint-2" in {p.name for p in ckpt.glob("checkpoint-*")}

    resumed = run_stage(job, pairs, out, {"base": tiny_model}, checkpoint_dir=ckpt)
    assert resumed.extra["world_size"] == 2 and resumed.extra["wrapped_model"] == "DistributedDataParallel"
    assert resumed.resumed_from is not None and resumed.resumed_from.endswith(("checkpoint-2", "checkpoint-4"))
    first = int(resumed.resumed_from.rsplit("-", 1)[1]) + 1
    assert [e["step"] for e in resumed.per_step if "loss" in e] == list(range(first, 7))
    straight = run_stage(_settings("reward", 1, max_steps=6, eval_fraction=0.0).job("reward"), pairs, tmp_path / "one",
                         {"base": tiny_model})
    assert _losses(resumed) == pytest.approx(_losses(straight)[first - 1:], abs=LOSS_TOLERANCE)
    assert (out / "model.safetensors").is_file()


@pytest.mark.slow
def test_a_one_process_checkpoint_resumes_in_two_processes(pairs, tiny_model, tmp_path):
    """The launch mode is not part of the run key, so a rerun may come back with another one."""
    ckpt, out = tmp_path / "ckpt", tmp_path / "rm"

    def kill_at_3(step, max_steps, logs):
        if step == 3:
            raise _Kill("preempted")

    one_job = _settings("reward", 1, max_steps=6, save_steps=2, eval_fraction=0.0).job("reward")
    with pytest.raises(_Kill):
        run_stage(one_job, pairs, out, {"base": tiny_model}, kill_at_3, checkpoint_dir=ckpt)
    two_job = _settings("reward", 2, max_steps=6, save_steps=2, eval_fraction=0.0).job("reward")
    assert run_key_for(one_job, "s", {}) == run_key_for(two_job, "s", {})
    resumed = run_stage(two_job, pairs, out, {"base": tiny_model}, checkpoint_dir=ckpt)
    assert resumed.extra["wrapped_model"] == "DistributedDataParallel"
    assert resumed.resumed_from.endswith("checkpoint-2")
    straight = run_stage(one_job, pairs, tmp_path / "straight", {"base": tiny_model})
    assert _losses(resumed) == pytest.approx(_losses(straight)[2:], abs=LOSS_TOLERANCE)


# ---------------------------------------------------------------- planning (no training)


def test_the_global_batch_is_kept_across_process_counts():
    settings = TrainingSettings().with_stage("reward", per_device_train_batch_size=8, gradient_accumulation_steps=4)
    job = settings.job("reward")
    p2 = launcher.split_global_batch(job, 2).params
    assert (p2.per_device_train_batch_size, p2.gradient_accumulation_steps) == (8, 2)
    p8 = launcher.split_global_batch(job, 8).params
    assert (p8.per_device_train_batch_size, p8.gradient_accumulation_steps) == (4, 1)  # 8×4 = 4×1×8
    p6 = launcher.split_global_batch(settings.with_stage("reward", per_device_train_batch_size=6).job("reward"), 6).params
    assert (p6.per_device_train_batch_size, p6.gradient_accumulation_steps) == (2, 2)  # 6×4 = 2×2×6
    with pytest.raises(InputError, match="cannot be split evenly over 3 processes"):
        launcher.split_global_batch(job, 3)


def test_online_rl_ranks_keep_whole_groups():
    settings = TrainingSettings().with_stage("grpo", per_device_train_batch_size=8, num_generations=8)
    with pytest.raises(InputError, match="not a multiple of num_generations"):
        launcher.split_global_batch(settings.job("grpo"), 2)


def test_run_key_does_not_depend_on_how_the_stage_is_launched():
    one = TrainingSettings(distributed=DistributedSettings(processes=1)).job("dpo")
    four = TrainingSettings(distributed=DistributedSettings(processes=4, strategy="fsdp")).job("dpo")
    assert run_key_for(one, "snap", {"sft": "k"}) == run_key_for(four, "snap", {"sft": "k"})
    other = TrainingSettings().with_stage("dpo", beta=0.2).job("dpo")
    assert run_key_for(other, "snap", {"sft": "k"}) != run_key_for(one, "snap", {"sft": "k"})


def test_process_count_is_one_per_gpu_by_default():
    assert launcher.process_count(DistributedSettings(), gpus=4) == 4
    assert launcher.process_count(DistributedSettings(), gpus=0) == 1
    assert launcher.process_count(DistributedSettings(processes=2), gpus=0) == 2
    with pytest.raises(ValueError, match="processes must be"):
        DistributedSettings(processes=0)


def test_gpu_runs_start_under_accelerate_launch_and_cpu_runs_under_torchrun():
    gpu = launcher.launch_command(4, "cuda", DistributedSettings(), ["/w"])
    assert gpu[1:3] == ["-m", "accelerate.commands.launch"]
    assert gpu[gpu.index("--num_processes") + 1] == "4" and "--multi_gpu" in gpu
    assert gpu[-3:] == ["-m", "alignment_ci.train.stages.launcher", "/w"]
    cpu = launcher.launch_command(2, "cpu", DistributedSettings(), ["/w"])
    assert cpu[1:3] == ["-m", "torch.distributed.run"] and cpu[cpu.index("--nproc_per_node") + 1] == "2"


def test_sharded_strategies_map_to_trainer_options(monkeypatch):
    from alignment_ci.train.stages.common import distributed_kwargs

    monkeypatch.setenv("WORLD_SIZE", "4")
    fsdp = TrainingSettings(distributed=DistributedSettings(strategy="fsdp")).job("sft")
    assert distributed_kwargs(fsdp, "cuda")["fsdp"] == "full_shard auto_wrap"
    ds = TrainingSettings(distributed=DistributedSettings(strategy="deepspeed", zero_stage=3)).job("sft")
    options = distributed_kwargs(ds, "cuda")
    assert options["deepspeed"]["zero_optimization"]["stage"] == 3 and options["ddp_backend"] == "nccl"
    assert distributed_kwargs(fsdp, "cpu")["ddp_backend"] == "gloo"
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed_kwargs(fsdp, "cuda") == {}


def test_sharded_strategies_are_refused_on_a_cpu(pairs, tiny_model, tmp_path):
    settings = TrainingSettings(distributed=DistributedSettings(processes=2, strategy="fsdp"))
    with pytest.raises(InputError, match="needs GPUs"):
        run_stage(settings.job("reward"), pairs, tmp_path / "rm", {"base": tiny_model})


def test_a_partial_checkpoint_left_by_a_kill_mid_save_is_skipped(tmp_path):
    """A process killed while saving step 4 leaves checkpoint-4 without its trainer_state.json
    (the Trainer writes it last): resuming picks checkpoint-2. transformers' own
    get_last_checkpoint (the reference) picks the partial one, and the resume then fails."""
    for step, complete in ((2, True), (4, False), (10, True)):
        ckpt = tmp_path / f"checkpoint-{step}"
        ckpt.mkdir()
        (ckpt / "model.safetensors").write_bytes(b"x")
        if complete:
            (ckpt / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()  # not a checkpoint
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")
    (tmp_path / "checkpoint-10" / "trainer_state.json").unlink()  # killed mid-save at step 10
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert get_last_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-10")  # the library would pick it
    assert last_complete_checkpoint(tmp_path / "none") is None
