"""Synthetic preference pairs with a learnable rule, for tests and the demo.

The rule: for the same user request, the *chosen* answer is courteous (it opens with an
offer to help and closes with thanks), the *rejected* answer is curt (it opens with a
refusal-like brush-off). Both share the same helpful sentence in the middle, so a
model can only separate them by the courtesy markers — a rule a tiny reward model
learns in a few dozen steps, and that an online-RL policy can be pushed towards.

No torch here: the demo and the CLI build data without importing the training stack.
"""

from __future__ import annotations

import random
from typing import Any

TASKS: tuple[tuple[str, str], ...] = (
    ("reset my password", "open the settings page and choose the option to reset it"),
    ("bake a loaf of bread", "mix flour, water, salt and yeast, let it rise, then bake it"),
    ("water a house plant", "check the soil first and water it when the top feels dry"),
    ("fix a flat bicycle tire", "find the hole, patch the tube and pump it back up"),
    ("write a short cover letter", "name the job, show one strong result and keep it brief"),
    ("learn to play the guitar", "practice a few chords each day and play simple songs"),
    ("save money each month", "write a budget and move a fixed amount to savings first"),
    ("clean a cast iron pan", "scrub it with hot water, dry it well and oil it lightly"),
    ("prepare for a job interview", "study the company and practice answers out loud"),
    ("sleep better at night", "keep a steady schedule and put the phone away early"),
    ("make a cup of green tea", "heat the water below boiling and steep the leaves briefly"),
    ("back up my photos", "copy them to an external drive and to a cloud folder"),
    ("start running safely", "begin with short easy runs and rest between the days"),
    ("plan a small garden", "pick a sunny spot and start with a few easy plants"),
    ("speed up my old laptop", "remove unused programs and restart it once in a while"),
    ("write a clear email", "state the request first and keep the message short"),
)

OPENERS_POLITE: tuple[str, ...] = (
    "Sure, I am happy to help.",
    "Of course, glad to help.",
    "Great question, happy to help.",
    "Certainly, here is how.",
)
CLOSERS_POLITE: tuple[str, ...] = (
    "Thank you for asking, and good luck!",
    "Thanks, I hope this helps!",
    "Thank you, have a nice day!",
)
OPENERS_CURT: tuple[str, ...] = (
    "Ugh, whatever.",
    "No, figure it out yourself.",
    "Not my problem, but fine.",
    "Stop asking me this.",
)
CLOSERS_CURT: tuple[str, ...] = (
    "Do not bother me again.",
    "That is all, go away.",
    "Whatever, I am done.",
)
PROMPT_TEMPLATES: tuple[str, ...] = (
    "How do I {task}?",
    "Can you tell me how to {task}?",
    "What is the best way to {task}?",
    "Please explain how to {task}.",
)


#: How the synthetic pairs frame every prompt (a chat turn): an eval or red-team set asked of a
#: policy trained on them uses it as its ``prompt_template``.
PROMPT_FRAMING = "User: {prompt}\nAssistant:"


def make_preference_pairs(n: int, seed: int = 0, *, batch_id: str = "synthetic-0001",
                          dimension: str = "style_tone") -> list[dict[str, Any]]:
    """``n`` preference rows in TRL's explicit-prompt format plus lineage columns.

    Each row is ``{prompt, chosen, rejected, weight, item_id, dimension, batch_id}``;
    ``prompt`` ends with a newline and ``chosen``/``rejected`` are the answers, so
    ``prompt + chosen`` is the full text. Deterministic for a given ``(n, seed)``.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        task, advice = rng.choice(TASKS)
        prompt = rng.choice(PROMPT_TEMPLATES).format(task=task)
        body = advice[0].upper() + advice[1:] + "."
        chosen = f" {rng.choice(OPENERS_POLITE)} {body} {rng.choice(CLOSERS_POLITE)}"
        rejected = f" {rng.choice(OPENERS_CURT)} {body} {rng.choice(CLOSERS_CURT)}"
        rows.append({
            "prompt": PROMPT_FRAMING.format(prompt=prompt),
            "chosen": chosen,
            "rejected": rejected,
            "weight": 1.0,
            "item_id": f"syn-{seed}-{i:05d}",
            "dimension": dimension,
            "batch_id": batch_id,
        })
    return rows


def is_polite(text: str) -> bool:
    """The rule behind the synthetic labels: a courteous opener or closer is present."""
    return any(marker in text for marker in OPENERS_POLITE + CLOSERS_POLITE)
