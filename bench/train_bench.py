"""Training benchmarks (issue: training) → docs/benchmarks.md, section "Training".

1. Overhead: the reward stage through alignment-ci (`train.runs.train`: dataset from the
   store, aggregation into pairs, TRL RewardTrainer, held-out metrics, model packed and
   stored, run record, lineage) against a plain TRL script doing the same optimizer
   steps on the same pairs with the same base model. Goal ≤ 1.10× wall time.
2. Cache: the second run of the unchanged pipeline against the first. Goal ≥ 20×.
3. GPU throughput (tokens/s, ~0.5B model, bf16): only where a GPU machine is at hand.

Both sides run in this one process, alternating, after TRL is imported and warmed up,
on one intra-op thread (the 2-core CI machine is noisy with two). Usage:
    .venv/bin/python bench/train_bench.py [--steps 150] [--repeat 3] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def plain_trl(base: Path, pairs: list[dict], steps: int, out: Path, seed: int, eval_fraction: float, max_length: int, lr: float, batch: int) -> float:
    """What a team writes by hand: tokenizer + model + RewardTrainer + save."""
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    from alignment_ci.train.stages.common import split_rows

    started = time.perf_counter()
    train_rows, _ = split_rows(pairs, eval_fraction, seed)  # the same training split
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    args = RewardConfig(
        output_dir=str(out / "trainer"), seed=seed, learning_rate=lr, max_steps=steps, per_device_train_batch_size=batch,
        logging_steps=1, save_strategy="no", report_to="none", use_cpu=True, bf16=False, gradient_checkpointing=False,
        max_length=max_length, disable_tqdm=True,
    )
    data = Dataset.from_list([{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in train_rows])
    trainer = RewardTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    trainer.train()
    trainer.save_model(str(out / "model"))
    tokenizer.save_pretrained(str(out / "model"))
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from alignment_ci.config import Config
    from alignment_ci.data.manifest import ingest_batch
    from alignment_ci.jsonl import write_jsonl
    from alignment_ci.synth import make_pairwise_batch
    from alignment_ci.train import runs
    from alignment_ci.train.tiny import build_tiny_model

    tmp = Path(tempfile.mkdtemp(prefix="train-bench-"))
    base = build_tiny_model(tmp / "tiny", seed=0)
    batch = write_jsonl(make_pairwise_batch(batch_id="bench-001", n_items=400, seed=1), tmp / "batch.jsonl")

    def workspace(i: int) -> Config:
        cfg = Config()
        training = cfg.training.model_copy(update={"base_model": str(base)}).with_stage("reward", max_steps=args.steps)
        cfg = cfg.model_copy(update={"training": training})
        cfg._root = tmp / f"ws{i}"
        cfg._root.mkdir()
        ingest_batch(batch, "bench", cfg)
        return cfg

    p = Config().training.reward
    pairs = runs.load_dataset(workspace(99), Config().training.model_copy(update={"base_model": str(base)}).job("reward")).pairs
    # warm-up: imports and first-call paths of both sides once, untimed
    plain_trl(base, pairs, 2, tmp / "warm", 0, p.eval_fraction, p.max_length, p.learning_rate, p.per_device_train_batch_size)
    warm = workspace(98)
    runs.train(warm.model_copy(update={"training": warm.training.with_stage("reward", max_steps=2)}), "reward")

    ours, plain, cached = [], [], []
    for i in range(args.repeat):
        cfg = workspace(i)
        t0 = time.perf_counter()
        record = runs.train(cfg, "reward")
        ours.append(time.perf_counter() - t0)
        assert record["cached"] is False
        t0 = time.perf_counter()
        again = runs.train(cfg, "reward")
        cached.append(time.perf_counter() - t0)
        assert again["cached"] is True
        plain.append(plain_trl(base, pairs, args.steps, tmp / f"plain{i}", 0, p.eval_fraction, p.max_length, p.learning_rate, p.per_device_train_batch_size))
    med = statistics.median
    overhead = med(ours) / med(plain)
    speedup = med(ours) / med(cached)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    section = f"""## Training

Command: `.venv/bin/python bench/train_bench.py --steps {args.steps} --repeat {args.repeat}` ({time.strftime('%Y-%m-%d')}).
Machine: {cpu}, {os.cpu_count()} cores, one torch thread; Python {platform.python_version()}, torch {version('torch')}, trl {version('trl')}, transformers {version('transformers')}.
Workload: reward stage, tiny Llama (2 layers, hidden 64), {len(pairs)} pairs from a 2,000-judgment synthetic batch, {args.steps} optimizer steps, batch {p.per_device_train_batch_size}; median of {args.repeat} alternating runs.

| measurement | alignment-ci | anchor | ratio | goal | met |
| --- | ---: | ---: | ---: | --- | --- |
| RM stage wall time vs a plain TRL script (same steps, data, base model) | {med(ours):.2f} s | {med(plain):.2f} s | {overhead:.2f}× | ≤ 1.10× | {'yes' if overhead <= 1.10 else 'no'} |
| second run of the unchanged pipeline (cache hit) vs the first | {med(cached):.3f} s | {med(ours):.2f} s | {speedup:.0f}× faster | ≥ 20× | {'yes' if speedup >= 20 else 'no'} |
| GPU RM and DPO throughput (tokens/s, ~0.5B model, bf16) | – | – | – | record | not measured: no GPU machine was lent to this session |

alignment-ci's side includes what the plain script does not: reading the batch from the
store, aggregating judgments into pairs (Dawid–Skene), held-out accuracy before and
after, packing and hashing the model into the store, the run record and lineage.
Runs: alignment-ci {', '.join(f'{t:.2f}' for t in ours)} s; plain TRL {', '.join(f'{t:.2f}' for t in plain)} s; cached {', '.join(f'{t:.3f}' for t in cached)} s.
"""
    print(section)
    if args.write:
        from docs_section import replace_section

        replace_section(args.write, "Training", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
