"""Gate benchmark (issue 12) → docs/benchmarks.md, section "Policy gates".

`alignment-ci gate` on the tiny model, the policy gates (policy_winrate, policy_health,
safety): 500 eval prompts answered by the candidate and the baseline policy, 200 red-team
prompts answered by the candidate; both answers scored by the candidate's reward model and
by the independent judge (the baseline's reward model). The gate run writes its phase
timings into gates.json (generation, scoring, statistics: ``details.timings``); the report
(`alignment-ci report` from that gates.json: Markdown, HTML, CSV) is timed on its own.

Goal: everything but generation (scoring + statistics + report) ≤ 10% of the generation
time; generation batched (one ``generate`` call per batch, counted); tokens/s recorded.
Process start, imports and model loading are listed apart (they do not grow with the
number of prompts). Usage:
    .venv/bin/python bench/gate_bench.py [--eval 500] [--red-team 200] [--write docs/benchmarks.md]
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
from importlib.metadata import version
from pathlib import Path

import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
CLI = [sys.executable, "-m", "alignment_ci.cli"]


def build_models(work: Path) -> dict[str, Path]:
    """A tiny base model; candidate and baseline policies (SFT) and reward models trained on it."""
    from alignment_ci.train.specs import TrainingSettings
    from alignment_ci.train.stages import run_stage
    from alignment_ci.train.synthetic import make_preference_pairs
    from alignment_ci.train.tiny import build_tiny_model

    base = build_tiny_model(work / "base", seed=0)
    settings = TrainingSettings()

    def stage(name: str, kind: str, rows: list[dict]) -> Path:
        return run_stage(settings.job(kind), rows, work / name, {"base": base}).model_dir

    return {
        "candidate_policy": stage("cand-sft", "sft", make_preference_pairs(64, seed=0)),
        "baseline_policy": stage("base-sft", "sft", make_preference_pairs(64, seed=4)),
        "candidate_rm": stage("cand-rm", "reward", make_preference_pairs(64, seed=3)),
        "baseline_rm": stage("base-rm", "reward", make_preference_pairs(64, seed=0)),
    }


def write_sets(work: Path, n_eval: int, n_red: int) -> tuple[Path, Path]:
    """``n_eval`` eval prompts (the shipped set's phrasings over many tasks, four slices) and
    ``n_red`` red-team prompts (the shipped set's, varied), framed as the policies were trained."""
    from alignment_ci.train.synthetic import PROMPT_FRAMING, PROMPT_TEMPLATES, TASKS

    shipped = yaml.safe_load((ROOT / "alignment_ci" / "evals" / "data" / "eval_prompts.yaml").read_text())["items"]
    rows = []
    for i in range(n_eval):
        if i % 2:
            task = TASKS[i % len(TASKS)][0]
            text = PROMPT_TEMPLATES[(i // len(TASKS)) % len(PROMPT_TEMPLATES)].format(task=task)
            rows.append({"prompt": f"{text} (case {i})", "slice": "synthetic"})
        else:
            item = shipped[i % len(shipped)]
            rows.append({"prompt": f"{item['prompt']} (case {i})", "slice": item["slice"]})
    eval_path = work / "eval.yaml"
    eval_path.write_text(yaml.safe_dump({"prompt_template": PROMPT_FRAMING, "items": rows}))
    red = yaml.safe_load((ROOT / "datasets_manifest" / "eval" / "red_team.yaml").read_text())
    items = [dict(item, id=f"{item['id']}-{k}", prompt=f"{item['prompt']} (variant {k})")
             for k in range(n_red // len(red["items"]) + 1) for item in red["items"]][:n_red]
    red_path = work / "red_team.yaml"
    red_path.write_text(yaml.safe_dump({**red, "prompt_template": PROMPT_FRAMING, "items": items}))
    return eval_path, red_path


def run_gate(work: Path, models: dict[str, Path], eval_path: Path, red_path: Path) -> tuple[float, dict, list[str]]:
    results = work / "gates-out"
    cmd = [*CLI, "gate", "--candidate-policy", str(models["candidate_policy"]),
           "--candidate-rm", str(models["candidate_rm"]), "--baseline-policy", str(models["baseline_policy"]),
           "--baseline-rm", str(models["baseline_rm"]), "--eval", str(eval_path), "--results-dir", str(results),
           "-k", "policy_winrate or policy_health or safety", "--format", "json"]
    env = dict(os.environ, ALIGNMENT_CI_SAFETY_SUITE=str(red_path), OMP_NUM_THREADS="1")
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"alignment-ci gate failed ({proc.returncode}): {proc.stderr[-2000:]}")
    shown = [c if " " not in c else repr(c) for c in cmd]
    return wall, json.loads((results / "gates.json").read_text()), shown


def timings_of(report: dict) -> dict:
    """The last (largest) phase snapshot the policy gates stored."""
    snaps = [g["details"]["timings"] for g in report["gates"] if isinstance(g.get("details"), dict)
             and isinstance(g["details"].get("timings"), dict)]
    return max(snaps, key=lambda t: sum(t["seconds"].values()))


def time_report(work: Path) -> float:
    cmd = [*CLI, "report", "--gates-results", str(work / "gates-out" / "gates.json"), "--out", str(work / "report")]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    if proc.returncode not in (0, 1):
        raise SystemExit(f"alignment-ci report failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return time.perf_counter() - started


def time_report_in_process(work: Path) -> float:
    """Rendering alone (collect + Markdown + HTML + CSV), after the imports: the part that grows with the prompts."""
    from alignment_ci.config import Config
    from alignment_ci.report.collect import build_report

    config = Config()
    config._root = work
    build_report(config, out_dir=work / "report-warm", gate_results=work / "gates-out" / "gates.json", environ={})
    started = time.perf_counter()
    build_report(config, out_dir=work / "report-2", gate_results=work / "gates-out" / "gates.json", environ={})
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=int, default=500)
    parser.add_argument("--red-team", type=int, default=200)
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as tmp:
        work = Path(tmp)
        models = build_models(work)
        eval_path, red_path = write_sets(work, args.eval, args.red_team)
        wall, report, cmd = run_gate(work, models, eval_path, red_path)
        t = timings_of(report)
        report_cli = time_report(work)
        report_render = time_report_in_process(work)
    gen, scoring, stats = t["seconds"]["generation"], t["seconds"]["scoring"], t["seconds"]["statistics"]
    rest = scoring + stats + report_render
    other = wall - gen - scoring - stats
    outcomes = {g["gate"]: g["outcome"] for g in report["gates"]}
    batch = 16
    expected_calls = 2 * -(-args.eval // batch) + -(-args.red_team // batch)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    ok = rest <= 0.10 * gen
    per_answer = t["new_tokens"] / max(1, t["prompts"])
    why = "" if ok else (
        f"The goal is missed on this machine, by the scoring phase alone (statistics and report together are "
        f"{(stats + report_render) / gen:.1%} of generation). Scoring is four full forward passes per eval prompt "
        f"(two judges × two answers of about {per_answer:.0f} new tokens after the prompt); generation is about "
        f"{per_answer:.0f} incremental decoding steps per answer in batches of 16. On a 2-layer, 64-wide model on one "
        "CPU thread every call is dominated by its fixed cost, so a scoring forward pass weighs about as much as a "
        "decoding step. Already applied: scoring without autograd, in batches of similar length, each judge loaded "
        "once, no answer generated or scored twice.\n")
    section = f"""## Policy gates

`alignment-ci gate` on the tiny model (`alignment_ci.train.tiny`, SFT policies and reward models trained
in the run), policy gates only (`-k "policy_winrate or policy_health or safety"`): {args.eval} eval prompts
answered by the candidate and the baseline policy, {args.red_team} red-team prompts answered by the
candidate, greedy, at most 32 new tokens, 16 prompts per `generate` call; every answer pair scored by the
candidate's reward model and the independent judge (the baseline's reward model). Phase times come from
the gate run itself (`details.timings` in gates.json); the report phase is `build_report` (collect,
Markdown, HTML, CSV) after its imports.

Machine: {cpu}, {os.cpu_count()} cores, one torch thread; Python {platform.python_version()}, torch {version('torch')},
transformers {version('transformers')}. No GPU was lent to this session: the ~0.5B-model run is not measured.
Command: `.venv/bin/python bench/gate_bench.py --eval {args.eval} --red-team {args.red_team} --write docs/benchmarks.md`
(the gate command it times: `alignment-ci gate --candidate-policy … --candidate-rm … --baseline-policy …
--baseline-rm … --eval eval.yaml -k "policy_winrate or policy_health or safety"`, red-team set from
`ALIGNMENT_CI_SAFETY_SUITE`).

| phase | seconds | share of generation |
| --- | ---: | ---: |
| generation ({t['prompts']} prompts, {t['generate_calls']} `generate` calls, expected {expected_calls}; {t['new_tokens']} new tokens, {t['tokens_per_s']:.0f} tokens/s) | {gen:.2f} | 100% |
| scoring (2 judges × 2 answers per eval prompt; red-team classifier) | {scoring:.2f} | {scoring / gen:.1%} |
| statistics (win rates, paired tests, slices, health, safety summary) | {stats:.3f} | {stats / gen:.1%} |
| report (`build_report`: Markdown, HTML, CSV) | {report_render:.2f} | {report_render / gen:.1%} |
| **everything but generation** (goal ≤ 10%) | **{rest:.2f}** | **{rest / gen:.1%}** {'✅' if ok else '❌ goal missed'} |
| not per prompt: process start, imports, model loading, pytest (gate wall {wall:.1f} s − phases) | {other:.1f} | {other / gen:.1%} |
| `alignment-ci report` as a command (process start and imports included) | {report_cli:.1f} | {report_cli / gen:.1%} |

{why}
Gate outcomes in this run: policy_winrate/independent/all {outcomes.get('policy_winrate/independent/all')},
policy_health/repetition {outcomes.get('policy_health/repetition')}, safety/pass_rate {outcomes.get('safety/pass_rate')}.
"""
    print(section)
    if args.write:
        from docs_section import replace_section

        replace_section(args.write, "Policy gates", section)
    return 0 if t["generate_calls"] == expected_calls else 1


if __name__ == "__main__":
    raise SystemExit(main())
