"""The demo's AI-assisted rating step: the trained reward model as a critic.

A new vendor batch with planted label errors (5% of items with the consensus flipped) and a
planted rater who accepts every prefilled suggestion. The critic scores the batch, the
triage surfaces the planted errors first, the batch goes through Label Studio's format
with the critic's predictions and back, and the anchoring check catches the rater.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from .config import Config
from .evals.critics import resolve_critic, score_frame
from .formats.labelstudio import read_labelstudio_export
from .formats.prefill import agent_name, labelstudio_tasks, suggestions
from .quality.critic import anchoring, critic_agreement, critic_view, triage
from .synth import RATER_ROLES, labelstudio_export, make_planted_batch
from . import lazy

pd = lazy.module("pandas")

BATCH_ID = "acme-2026-11-003"
ROLES = {**{r: "careful" for r in RATER_ROLES}, "r07": "always_accept"}


def critic_step(console: Console, config: Config, store: Any, training: dict[str, Any]) -> dict[str, Any]:
    console.rule("AI-assisted raters: the reward model as a critic (triage, prefill, anchoring)")
    critic = resolve_critic(config, training["reward"]["run_key"], store=store)
    common = dict(batch_id=BATCH_ID, n_items=200, gold_share=0.3, dimensions=["helpfulness", "safety"], roles=ROLES, seed=11)
    planted = make_planted_batch(flip_share=0.05, **common)
    df = pd.DataFrame(planted.rows)
    scores = score_frame(df, critic)
    ranked = triage(df, scores, config.critic)
    helpfulness = ranked[ranked["dimension"] == "helpfulness"]
    budget = max(1, round(0.1 * len(helpfulness)))
    top = list(helpfulness["item_id"].head(budget))
    planted_here = set(helpfulness["item_id"]) & planted.flipped
    found = len(set(top) & planted_here)
    console.print(f"critic {escape(agent_name(critic.identity))} scored {df['item_id'].nunique()} items; "
                  f"{len(planted.flipped)} have a planted wrong consensus")
    console.print(f"auditing the top {budget} items ranked by critic disagreement finds [bold]{found} of "
                  f"{len(planted_here)}[/bold] planted helpfulness errors (a random audit of {budget} "
                  f"finds about {budget * len(planted_here) / max(1, len(helpfulness)):.1f})")
    for position, rec in enumerate(helpfulness.head(3).itertuples(), start=1):
        mark = "planted" if rec.item_id in planted.flipped else "not planted"
        console.print(f"  {position}. {escape(rec.item_id)} ({mark}): {escape(rec.reason)}")

    view = critic_view(df, scores, config.critic)
    sugg = suggestions(df, view, config)
    tasks = labelstudio_tasks(df, sugg, agent_name(critic.identity))
    shown = {t["data"]["item_id"]: t["data"]["suggestion"] for t in tasks if "suggestion" in t["data"]}
    judged = make_planted_batch(flip_share=0.05, suggestions=shown, **common)
    export = labelstudio_export(judged.rows, tasks)
    back = read_labelstudio_export(export, BATCH_ID, dimension="helpfulness", dimensions=config.taxonomy.names)
    imported = pd.DataFrame(back.rows)
    hints = int((sugg["mode"] == "hint").sum())
    console.print(f"prefilled {len(shown)} Label Studio tasks with predictions ({int(sugg['wrong_probe'].sum())} gold items "
                  f"with a deliberately wrong suggestion); {hints} safety tasks got only a hint (critical: a human decides)")
    check = anchoring(imported, config.critic)
    for rid in check["flagged_raters"]:
        console.print(f"anchoring check: [red]flagged {escape(rid)}[/red]: {escape(check['raters'][rid]['reason'])}")
    agreement = critic_agreement(df, scores, config.critic)
    share = agreement["dimensions"].get("helpfulness", {}).get("agreement")
    if share is not None:
        console.print(f"critic agrees with the human consensus on {share:.0%} of helpfulness items")
    return {
        "critic": critic.identity,
        "planted_errors": sorted(planted_here),
        "audit_budget": budget,
        "found_in_top": found,
        "prefilled": len(shown),
        "hints": hints,
        "wrong_probes": int(sugg["wrong_probe"].sum()),
        "imported_rows_with_suggestion": int(imported["suggestion"].notna().sum()),
        "anchoring_flagged": check["flagged_raters"],
        "critic_agreement": share,
    }
