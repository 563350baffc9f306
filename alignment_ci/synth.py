"""Synthetic, realistic label batches with planted truths, for the demo, tests and benchmarks.

A batch compares answers of a few models of known (hidden) strength. For each item the
better answer is drawn from a Bradley–Terry model of those strengths, and its text is
written to be recognisably better (specific, polite, structured) so that a reward model
can learn the preference. Raters have planted behaviours: careful raters, a random
clicker, an adversarial rater, one who always prefers the first answer, and a speeder.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .formats.prefill import LS_CHOICE
from .jsonl import write_jsonl  # noqa: F401  (the one JSONL writer; tests and scripts import it from here too)

MODELS = {"atlas-7b": 0.8, "borealis-3b": 0.2, "cirrus-1b": -0.3, "drift-base": -0.7}

TOPICS = [
    ("reset my router", "unplug the router for 30 seconds, plug it back in, then wait for the status light to turn solid green"),
    ("export a spreadsheet to CSV", "open File > Save As, choose 'CSV (comma delimited)' and confirm the single-sheet warning"),
    ("write a polite meeting decline", "thank the organiser, say you cannot attend, and offer to read the notes or send input beforehand"),
    ("compute compound interest", "use A = P(1 + r/n)^(nt), where P is the principal, r the yearly rate and n the compounding periods"),
    ("back up photos from my phone", "turn on automatic cloud backup over Wi-Fi, then copy the originals to an external drive monthly"),
    ("prepare for a job interview", "research the company, practise three stories with the STAR method, and prepare two questions"),
    ("fix a leaking tap", "turn off the water supply, replace the worn washer or cartridge, then reassemble and test slowly"),
    ("start running safely", "begin with run-walk intervals three times a week and increase total time by about ten percent a week"),
    ("understand a cron expression", "read the five fields as minute, hour, day of month, month and day of week, left to right"),
    ("choose a strong password", "use a long passphrase of four or more random words and keep it in a password manager"),
    ("summarise a long report", "state the main finding first, then list the three supporting points and one open question"),
    ("plan a weekly budget", "list fixed costs, set a spending cap per category, and review actual spending every Sunday"),
]

#: How the prompts are phrased, in turn per round of topics (no random draw, so the rest of a
#: batch does not change): a policy trained on one phrasing only cannot answer the others.
PROMPT_FORMS = ["How do I {topic}?", "Can you tell me how to {topic}?", "What is the best way to {topic}?",
                "Please explain how to {topic}."]

GOOD_OPENERS = ["Sure, here is a clear way to do it.", "Happy to help with that.", "Here is a step-by-step answer."]
BAD_ANSWERS = [
    "Just search online, it is easy.",
    "Not sure, maybe try again later.",
    "That depends. There are many ways.",
    "You should ask someone else about this.",
]

RATER_ROLES = {
    "r01": "careful",
    "r02": "careful",
    "r03": "careful",
    "r04": "careful",
    "r05": "careful",
    "r06": "careful",
    "r07": "random",
    "r08": "adversarial",
    "r09": "position_biased",
    "r10": "speeder",
}
PLANTED_BAD_RATERS = {r for r, role in RATER_ROLES.items() if role != "careful"}


def good_answer(topic: str, advice: str, rng: random.Random) -> str:
    return f"{rng.choice(GOOD_OPENERS)} To {topic}, {advice}. Let me know if you would like more detail on any step."


def bad_answer(rng: random.Random) -> str:
    return rng.choice(BAD_ANSWERS)


@dataclass
class SyntheticItem:
    item_id: str
    prompt: str
    response_a: str
    response_b: str
    model_a: str
    model_b: str
    truth: str  # "a" or "b"
    dimension: str
    bucket: str


def _items(n_items: int, rng: random.Random, dimensions: list[str]) -> list[SyntheticItem]:
    models = list(MODELS)
    buckets = ["production_failure"] * 4 + ["uncertain"] * 3 + ["random"] * 2 + ["edge"]
    items = []
    for i in range(n_items):
        topic, advice = TOPICS[i % len(TOPICS)]
        m1, m2 = rng.sample(models, 2)
        p_first = 1.0 / (1.0 + math.exp(-(MODELS[m1] - MODELS[m2])))
        winner_first = rng.random() < p_first
        a_is_first = rng.random() < 0.5
        model_a, model_b = (m1, m2) if a_is_first else (m2, m1)
        a_wins = winner_first == a_is_first
        good, bad = good_answer(topic, advice, rng), bad_answer(rng)
        items.append(
            SyntheticItem(
                item_id=f"item-{i:04d}",
                prompt=PROMPT_FORMS[(i // len(TOPICS)) % len(PROMPT_FORMS)].format(topic=topic),
                response_a=good if a_wins else bad,
                response_b=bad if a_wins else good,
                model_a=model_a,
                model_b=model_b,
                truth="a" if a_wins else "b",
                dimension=dimensions[i % len(dimensions)],
                bucket=buckets[i % len(buckets)],
            )
        )
    return items


def _judge(role: str, truth: str, rng: random.Random, suggestion: str | None = None) -> tuple[str, float]:
    other = "b" if truth == "a" else "a"
    if role == "always_accept":  # takes whatever was prefilled, fast
        if suggestion in ("a", "b", "tie"):
            rng.random()  # as many draws as a careful rater, so the rest of the batch is the same
            return suggestion, rng.uniform(3, 8)
        role = "careful"
    if role == "careful":
        r = rng.random()
        choice = truth if r < 0.9 else ("skip" if r < 0.93 else other)
        return choice, rng.uniform(12, 60)
    if role == "random":
        return rng.choice("ab"), rng.uniform(8, 40)
    if role == "adversarial":
        return (other if rng.random() < 0.9 else truth), rng.uniform(10, 45)
    if role == "position_biased":
        return ("a" if rng.random() < 0.95 else "b"), rng.uniform(8, 30)
    if role == "speeder":
        return rng.choice("ab"), rng.uniform(0.4, 1.5)
    raise ValueError(role)


@dataclass
class PlantedBatch:
    """A synthetic batch with what was planted: each item's true answer and the items whose
    consensus was flipped on purpose (every rater judged them against the truth)."""

    rows: list[dict[str, Any]]
    truth: dict[str, str]
    flipped: set[str]


def make_pairwise_batch(
    *,
    batch_id: str = "demo-batch-001",
    n_items: int = 160,
    raters_per_item: int = 5,
    gold_share: float = 0.15,
    dimensions: list[str] | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Rows of a pairwise batch following the data contract, with planted raters."""
    return make_planted_batch(batch_id=batch_id, n_items=n_items, raters_per_item=raters_per_item,
                              gold_share=gold_share, dimensions=dimensions, seed=seed).rows


def make_planted_batch(
    *,
    batch_id: str = "demo-batch-001",
    n_items: int = 160,
    raters_per_item: int = 5,
    gold_share: float = 0.15,
    dimensions: list[str] | None = None,
    seed: int = 0,
    flip_share: float = 0.0,
    roles: dict[str, str] | None = None,
    suggestions: dict[str, str] | None = None,
) -> PlantedBatch:
    """:func:`make_pairwise_batch` with more planted: ``flip_share`` of the non-gold items get a
    wrong consensus (label errors a critic should surface), ``roles`` replaces the rater roles
    (e.g. ``always_accept``), and ``suggestions`` (item → a/b) are the prefilled answers
    shown to raters (recorded in the ``suggestion`` column)."""
    rng = random.Random(seed)
    dimensions = dimensions or ["helpfulness", "factual_accuracy"]
    roles = roles or RATER_ROLES
    raters = list(roles)
    start = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
    rows: list[dict[str, Any]] = []
    truth: dict[str, str] = {}
    flipped: set[str] = set()
    for k, item in enumerate(_items(n_items, rng, dimensions)):
        is_gold = rng.random() < gold_share
        truth[item.item_id] = item.truth
        judged_truth = item.truth
        if not is_gold and flip_share and rng.random() < flip_share:
            flipped.add(item.item_id)
            judged_truth = "b" if item.truth == "a" else "a"
        suggestion = (suggestions or {}).get(item.item_id)
        for rater in rng.sample(raters, raters_per_item):
            choice, seconds = _judge(roles[rater], judged_truth, rng, suggestion)
            row: dict[str, Any] = {
                "batch_id": batch_id,
                "item_id": item.item_id,
                "rater_id": rater,
                "dimension": item.dimension,
                "task_type": "pairwise",
                "prompt": item.prompt,
                "response_a": item.response_a,
                "response_b": item.response_b,
                "model_a": item.model_a,
                "model_b": item.model_b,
                "choice": choice,
                "is_gold": is_gold,
                "time_spent_s": round(seconds, 2),
                "labeled_at": (start + timedelta(minutes=3 * k + rng.randint(0, 120))).isoformat(),
                "sampling_bucket": item.bucket,
                "sampling_reason": f"{item.bucket.replace('_', ' ')} sample",
            }
            if is_gold:
                row["gold_choice"] = item.truth
            if suggestion is not None:
                row["suggestion"] = suggestion
            rows.append(row)
    return PlantedBatch(rows, truth, flipped)


def make_bad_batch_lines(batch_id: str = "demo-batch-002") -> list[str]:
    """A small vendor batch with the mistakes vendors make; every one is an error."""
    good = make_pairwise_batch(batch_id=batch_id, n_items=3, raters_per_item=2, seed=7)
    lines = [json.dumps(r) for r in good]
    bad_choice = dict(good[0], rater_id="r11", choice="A")  # case-sensitive allowed set
    duplicate = dict(good[1])  # same (item, rater, dimension) as line 2
    empty_prompt = dict(good[2], rater_id="r12", prompt="")
    unknown_dim = dict(good[3], rater_id="r13", dimension="vibes")
    lines += [json.dumps(bad_choice), json.dumps(duplicate), json.dumps(empty_prompt), json.dumps(unknown_dim)]
    lines.append(json.dumps(dict(good[4], rater_id="r14"))[:-25])  # truncated upload
    return lines


def labelstudio_export(rows: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A Label Studio JSON export of ``rows`` judged on prefilled ``tasks`` (import format, with
    ``predictions``): each rater ``rNN`` is user ``NN``; a gold item gets a ground-truth
    annotation by user 900 (the expert). Simulates the round trip through Label Studio."""

    labels = {**LS_CHOICE, "skip": "Skip (cannot judge)"}
    by_item: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        by_item.setdefault((row["item_id"], row["dimension"]), []).append(row)
    export = []
    for task_id, task in enumerate(tasks, start=1):
        data = task["data"]
        judged = by_item.get((data["item_id"], data["dimension"]), [])
        annotations = []
        for n, row in enumerate(judged, start=1):
            annotations.append({
                "id": task_id * 100 + n,
                "completed_by": int(str(row["rater_id"]).lstrip("r")),
                "result": [{"from_name": row["dimension"], "to_name": "prompt", "type": "choices",
                            "value": {"choices": [labels[row["choice"]]]}}],
                "was_cancelled": False,
                "ground_truth": False,
                "lead_time": row.get("time_spent_s"),
                "created_at": row.get("labeled_at"),
            })
        gold = next((r.get("gold_choice") for r in judged if r.get("gold_choice")), None)
        if gold:
            annotations.append({
                "id": task_id * 100 + 99, "completed_by": 900, "ground_truth": True, "was_cancelled": False,
                "result": [{"from_name": data["dimension"], "to_name": "prompt", "type": "choices",
                            "value": {"choices": [labels[gold]]}}],
            })
        export.append({"id": task_id, "data": data, "annotations": annotations, "predictions": task.get("predictions", [])})
    return export


def preference_pairs(n_pairs: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """TRL preference pairs (``prompt``, ``chosen``, ``rejected``) in the style of the synthetic
    batches: the specific, polite answer is chosen over the curt one. Trains a critic (a tiny
    reward model) that judges those batches."""
    rng = random.Random(seed)
    pairs = []
    for item in _items(n_pairs, rng, ["helpfulness"]):
        good, bad = (item.response_a, item.response_b) if item.truth == "a" else (item.response_b, item.response_a)
        pairs.append({"prompt": item.prompt, "chosen": good, "rejected": bad})
    return pairs
