"""GPU check (issue 15) → docs/benchmarks.md, section "GPU check". Started by bench/gpu_check.sh.

On a GPU machine: trains the reward, DPO and GRPO stages (alignment_ci.train.stages.run_stage,
the production path, bf16) on a ~0.4B Llama built from a config (24 layers, hidden 1024;
random weights and the bundled tokenizer: the machine has no hub access, and throughput
does not depend on the weights), then, where verl and vLLM import, one verl PPO step
(the ppo stage, max_steps 1). Per stage: wall time, training tokens per second (prompt +
response tokens the optimizer saw, from the tokenizer, divided by TRL's train_runtime)
and peak GPU memory (torch.cuda.max_memory_allocated).

``--dry-run``: on the CPU with the tiny model and 2 steps per stage, to check the script
end to end; its numbers are not GPU measurements and are labelled so.

Usage: python bench/gpu_bench.py [--dry-run] [--steps 20] [--processes N] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SECTION = "GPU check"
# ~0.4B parameters with the bundled tokenizer's small vocabulary (Qwen2.5-0.5B's blocks are
# similar: 24 layers, hidden 896; most of its 0.5B is a 152k-token embedding).
HALF_B = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
          "num_key_value_heads": 4, "max_position_embeddings": 1024}


def _v(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def build_model(root: Path, dry_run: bool) -> tuple[Path, int]:
    """The base model directory and its parameter count."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from alignment_ci.train.tiny import build_tiny_model

    tiny = build_tiny_model(root / "tiny", seed=0)
    if dry_run:
        model = AutoModelForCausalLM.from_pretrained(tiny)
        return tiny, sum(p.numel() for p in model.parameters())
    config = AutoConfig.from_pretrained(tiny)
    for key, value in HALF_B.items():
        setattr(config, key, value)
    config.head_dim = HALF_B["hidden_size"] // HALF_B["num_attention_heads"]
    model = AutoModelForCausalLM.from_config(config)
    out = root / "half-b"
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny).save_pretrained(out)
    return out, sum(p.numel() for p in model.parameters())


def tokens_per_step(rows: list[dict], base: Path, stage: str, batch: int) -> float:
    """Mean training tokens of one optimizer step: pairs count both responses."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    lengths = []
    for r in rows:
        prompt = len(tok(r["prompt"], add_special_tokens=False)["input_ids"])
        chosen = len(tok(r["chosen"], add_special_tokens=False)["input_ids"])
        rejected = len(tok(r["rejected"], add_special_tokens=False)["input_ids"])
        lengths.append(2 * prompt + chosen + rejected if stage in ("reward", "dpo") else prompt + chosen)
    return batch * sum(lengths) / len(lengths)


def run_trl_stage(stage: str, base: Path, rows: list[dict], parents: dict, out: Path, steps: int, batch: int,
                  processes: int) -> dict:
    import torch

    from alignment_ci.train.specs import DistributedSettings, TrainingSettings
    from alignment_ci.train.stages import run_stage

    extra = {"init_from": "base"} if stage in ("dpo", "grpo") else {}
    if stage == "grpo":
        extra |= {"num_generations": 4, "max_completion_length": 32, "use_reward_model": True, "eval_prompts": 0}
    settings = TrainingSettings(distributed=DistributedSettings(processes=processes)).with_stage(
        stage, max_steps=steps, per_device_train_batch_size=batch, max_length=256, eval_fraction=0.0,
        save_steps=10_000, **extra,
    )
    on_gpu = torch.cuda.is_available()
    if on_gpu:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = run_stage(settings.job(stage), rows, out, parents)
    wall = time.perf_counter() - started
    runtime = result.metrics.get("train_runtime") or wall
    per_step = tokens_per_step(rows, base, stage, batch * processes)
    if stage == "grpo":  # prompts + sampled completions (at most max_completion_length each)
        per_step = batch * processes * 32
    return {
        "stage": stage,
        "steps": steps,
        "global_batch": batch * processes,
        "wall_s": round(wall, 1),
        "train_runtime_s": round(runtime, 1),
        "tokens_per_s": round(per_step * steps / runtime, 1),
        "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if on_gpu and processes == 1 else None,
        "model_dir": str(result.model_dir),
        "final_loss": result.metrics.get("final_loss"),
    }


def run_ppo_step(base: Path, rows: list[dict], parents: dict, out: Path) -> dict:
    import torch

    from alignment_ci.train.specs import ModalSettings, TrainingSettings
    from alignment_ci.train.stages import run_stage

    gpus = torch.cuda.device_count()
    settings = TrainingSettings(modal=ModalSettings(gpu=f"H100:{gpus}")).with_stage(
        "ppo", init_from="base", max_steps=1, per_device_train_batch_size=16, ppo_mini_batch_size=8,
        micro_batch_size_per_gpu=2, max_completion_length=32, max_length=256, eval_prompts=0,
    )
    started = time.perf_counter()
    result = run_stage(settings.job("ppo"), rows, out, parents, checkpoint_dir=out.parent / "ppo-ckpt")
    wall = time.perf_counter() - started
    step = result.per_step[-1] if result.per_step else {}
    return {
        "stage": "ppo (verl, 1 step)",
        "steps": 1,
        "global_batch": 16,
        "wall_s": round(wall, 1),
        "train_runtime_s": round(step.get("timing_s/step", wall), 1),
        "tokens_per_s": round(step.get("perf/throughput", float("nan")) * gpus, 1) if "perf/throughput" in step else None,
        "peak_mem_gib": step.get("perf/max_memory_allocated_gb"),
        "final_loss": step.get("actor/pg_loss"),
    }


def machine() -> str:
    try:
        gpus = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20).stdout.strip().replace("\n", "; ")
    except (OSError, subprocess.TimeoutExpired):
        gpus = ""
    return f"{platform.node()}, {os.cpu_count()} CPUs, GPUs: {gpus or 'none'}"


def render(results: list[dict], notes: list[str], params: int, dry_run: bool, command: str) -> str:
    head = (f"## {SECTION}\n\n"
            + ("**Dry run on a CPU with the tiny model: checks the script, not a GPU measurement.**\n\n" if dry_run else "")
            + f"Machine: {machine()}. Model: {params / 1e6:.1f}M parameters"
            + (" (tiny)" if dry_run else " (Llama blocks, 24 layers × 1024, random weights, bundled tokenizer)")
            + f". Versions: torch {_v('torch')}, transformers {_v('transformers')}, TRL {_v('trl')}, "
            f"accelerate {_v('accelerate')}, verl {_v('verl')}, vLLM {_v('vllm')}.\n"
            f"Command: `{command}`.\n\n"
            "| stage | steps | global batch | wall s | train s | tokens/s | peak GPU memory GiB | final loss |\n"
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
    lines = []
    for r in results:
        def f(v):  # noqa: ANN001, ANN202
            return "n/a" if v is None else (f"{v:.4f}" if isinstance(v, float) and abs(v) < 10 else str(v))
        lines.append(f"| {r['stage']} | {r['steps']} | {r['global_batch']} | {r['wall_s']} | {r['train_runtime_s']} | "
                     f"{f(r['tokens_per_s'])} | {f(r['peak_mem_gib'])} | {f(r.get('final_loss'))} |")
    body = "\n".join(lines) + "\n"
    if notes:
        body += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    return head + body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny model, 2 steps: checks the script only")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--processes", type=int, default=1, help="training processes for the TRL stages")
    parser.add_argument("--write", type=Path, default=None, help="docs/benchmarks.md to update")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    args = parser.parse_args()

    import torch

    from alignment_ci.train.synthetic import make_preference_pairs

    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_bench: no CUDA GPU visible; use --dry-run to check the script on a CPU", file=sys.stderr)
        return 2
    steps = 2 if args.dry_run else args.steps
    tmp = Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    base, params = build_model(tmp, args.dry_run)
    rows = make_preference_pairs(256, seed=0)
    results: list[dict] = []
    notes: list[str] = []
    reward = run_trl_stage("reward", base, rows, {"base": base}, tmp / "rm", steps, args.batch, args.processes)
    results.append(reward)
    results.append(run_trl_stage("dpo", base, rows, {"base": base}, tmp / "dpo", steps, args.batch, args.processes))
    results.append(run_trl_stage("grpo", base, rows, {"base": base, "reward": Path(reward["model_dir"])}, tmp / "grpo",
                                 steps, args.batch, args.processes))
    try:
        import verl  # noqa: F401
        import vllm  # noqa: F401
    except ImportError as exc:
        notes.append(f"verl PPO step not run: {exc} (verl and vLLM must be installed in this environment)")
    else:
        if args.dry_run:
            notes.append("verl PPO step not run in a dry run (verl has no CPU execution path)")
        else:
            try:
                results.append(run_ppo_step(base, rows, {"base": base, "reward": Path(reward["model_dir"])}, tmp / "ppo"))
            except Exception as exc:  # a benchmark reports what failed rather than losing the other rows
                notes.append(f"verl PPO step failed: {type(exc).__name__}: {str(exc)[-300:]}")
    if args.processes > 1:
        notes.append("peak memory is not collected across processes (n/a)")
    command = "bash bench/gpu_check.sh" + (" --dry-run" if args.dry_run else "")
    section = render(results, notes, params, args.dry_run, command)
    print(section)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    if args.write:
        from docs_section import replace_section

        replace_section(args.write, SECTION, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
