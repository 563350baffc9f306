"""Critic triage and the anchoring check on seeded synthetic batches (issue: AI-assisted raters).

1. Triage: each batch (the demo's generator) has 5% of its non-gold
   items' consensus flipped on purpose (ten careful raters, so the planted errors are the label errors). A critic (a tiny reward model trained here on separate
   synthetic pairs) scores the batch; auditing the top 10% of items ranked by
   ``alignment_ci.quality.critic.triage`` is compared with auditing a random 10% (the anchor,
   same budget, same batch): planted errors found. Goal: >= 3x as many.
2. Anchoring: 20 raters, 2 of them planted "always accept the suggestion"; suggestions are the
   critic's, with a share of gold items given a deliberately wrong one. Goal: both caught and
   0 careful raters flagged, on each of 10 seeds.

Usage: .venv/bin/python bench/critic_bench.py [--seeds 10] [--items 400] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from docs_section import replace_section  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from alignment_ci.config import Config  # noqa: E402
from alignment_ci.evals.critics import RewardCritic, score_frame  # noqa: E402
from alignment_ci.formats.prefill import suggestions  # noqa: E402
from alignment_ci.quality.critic import anchoring, critic_view, triage  # noqa: E402
from alignment_ci.synth import make_planted_batch, preference_pairs  # noqa: E402

TITLE = "Critic triage and the anchoring check"


def train_critic(workdir: Path) -> RewardCritic:
    import torch

    from alignment_ci.train.specs import TrainingSettings
    from alignment_ci.train.stages import run_stage
    from alignment_ci.train.tiny import build_tiny_model

    torch.manual_seed(0)
    base = build_tiny_model(workdir / "tiny", seed=0)
    result = run_stage(TrainingSettings().job("reward"), preference_pairs(160, seed=1000), workdir / "rm", {"base": base})
    return RewardCritic(result.model_dir, identity={"kind": "model", "model": "bench-rm", "revision": "local"})


def triage_run(critic: RewardCritic, config: Config, seed: int, items: int) -> dict:
    careful = {f"r{i:02d}": "careful" for i in range(1, 11)}
    planted = make_planted_batch(batch_id=f"bench-{seed}", n_items=items, flip_share=0.05, seed=seed, roles=careful)
    df = pd.DataFrame(planted.rows)
    scores = score_frame(df, critic)
    ranked = triage(df, scores, config.critic)
    budget = max(1, round(0.10 * df["item_id"].nunique()))
    ranked_items = list(dict.fromkeys(ranked["item_id"]))[:budget]
    rng = random.Random(seed + 10_000)
    random_items = rng.sample(sorted(df["item_id"].unique()), budget)
    return {
        "planted": len(planted.flipped),
        "budget": budget,
        "found_ranked": len(planted.flipped & set(ranked_items)),
        "found_random": len(planted.flipped & set(random_items)),
    }


def anchoring_run(critic: RewardCritic, config: Config, seed: int, items: int) -> dict:
    roles = {f"r{i:02d}": "careful" for i in range(1, 21)}
    roles["r19"] = roles["r20"] = "always_accept"
    first = make_planted_batch(batch_id=f"anchor-{seed}", n_items=items, gold_share=0.3, roles=roles, seed=seed)
    df = pd.DataFrame(first.rows)
    view = critic_view(df, score_frame(df, critic), config.critic)
    sugg = suggestions(df, view, config, seed=seed)
    shown = {r.item_id: r.suggestion for r in sugg.itertuples() if r.mode == "prefill"}
    second = make_planted_batch(batch_id=f"anchor-{seed}", n_items=items, gold_share=0.3, roles=roles, seed=seed,
                                suggestions=shown)
    report = anchoring(pd.DataFrame(second.rows), config.critic)
    flagged = set(report["flagged_raters"])
    return {"caught": len(flagged & {"r19", "r20"}), "careful_flagged": len(flagged - {"r19", "r20"}),
            "wrong_shown": report["wrong_suggestions"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--items", type=int, default=400)
    ap.add_argument("--anchor-items", type=int, default=1000, help="Items per anchoring batch (each rater must see enough probes).")
    ap.add_argument("--write", type=Path, default=None)
    args = ap.parse_args()
    config = Config()
    # one dimension that is not critical, so every item can be prefilled
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        critic = train_critic(Path(tmp))
        train_s = time.perf_counter() - t0
        triages = [triage_run(critic, config, s, args.items) for s in range(args.seeds)]
        anchors = [anchoring_run(critic, config, s, args.anchor_items) for s in range(args.seeds)]
    wall = time.perf_counter() - started
    planted = sum(t["planted"] for t in triages)
    ranked = sum(t["found_ranked"] for t in triages)
    rand = sum(t["found_random"] for t in triages)
    ratio = ranked / rand if rand else float("inf")
    all_caught = all(a["caught"] == 2 for a in anchors)
    careful = sum(a["careful_flagged"] for a in anchors)
    lines = [
        f"## {TITLE}",
        "",
        f"`bench/critic_bench.py`: {args.seeds} seeded synthetic batches of {args.items} pairwise items (the demo's generator with "
        "ten careful raters, 90% accurate, so that the planted errors are the batch's label errors), 5% of non-gold items with the consensus flipped on purpose. The critic is a tiny "
        f"reward model trained in the run on 160 separate synthetic pairs ({train_s:.1f} s). Budget: 10% of the items. "
        "The anchor is a random audit of the same size on the same batch.",
        "",
        "| seed | planted errors | audit budget | found, ranked by critic disagreement | found, random 10% (anchor) |",
        "| --- | --- | --- | --- | --- |",
        *[f"| {s} | {t['planted']} | {t['budget']} | {t['found_ranked']} | {t['found_random']} |" for s, t in enumerate(triages)],
        f"| **all** | {planted} | | **{ranked}** ({ranked / max(1, planted):.0%}) | **{rand}** ({rand / max(1, planted):.0%}) |",
        "",
        f"Ranked audit finds **{ratio:.1f}x** as many planted errors as the random audit (goal >= 3x): "
        f"{'met' if ratio >= 3 else 'NOT met'}.",
        "",
        f"Anchoring: batches of {args.anchor_items} items, 5 of 20 raters per item (18 careful, 2 planted to always accept the "
        "prefilled suggestion), 30% gold items, "
        "30% of gold items shown a deliberately wrong suggestion (`critic.anchoring.wrong_suggestion_rate`), flag above "
        "50% accepted with at least 5 seen.",
        "",
        "| seed | wrong suggestions shown | always-accept raters caught (of 2) | careful raters flagged |",
        "| --- | --- | --- | --- |",
        *[f"| {s} | {a['wrong_shown']} | {a['caught']} | {a['careful_flagged']} |" for s, a in enumerate(anchors)],
        "",
        f"Both planted raters caught on every seed: {'yes' if all_caught else 'NO'}; careful raters flagged over all seeds: "
        f"{careful} (goal 0).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()} (shared with other work while "
        f"measured). Versions: Python {platform.python_version()}, torch {version('torch')}, transformers "
        f"{version('transformers')}, trl {version('trl')}, scikit-learn {version('scikit-learn')}. Wall time {wall:.0f} s. "
        f"Command: `.venv/bin/python bench/critic_bench.py --seeds {args.seeds} --items {args.items} --anchor-items "
        f"{args.anchor_items} --write docs/benchmarks.md`.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        replace_section(args.write, TITLE, text)


if __name__ == "__main__":
    main()
