"""The ppo stage's reward function, loaded by verl (``reward.custom_reward_function``).

Used only when the stage has rule rewards: verl then hands every response to
:func:`compute_score` instead of scoring it with the reward model itself, so this
function asks the reward-model server (the router verl passes in) for the model's score,
exactly as verl's own model-based path does (the response appended to the chat as the
assistant turn, the reward model's chat template applied, the BOS token stripped), and
adds the weighted rule rewards. Imports no torch; aiohttp comes with verl.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from ..specs import RuleReward
from .rules import rule_score


def total_reward(rm_score: float | None, rm_weight: float, rules: list[dict[str, Any]], response: str) -> float:
    """``rm_weight × rm_score + Σ weight × rule(response)``, the sum TRL's online stages use."""
    total = 0.0 if rm_score is None else rm_weight * rm_score
    for data in rules:
        rule = RuleReward.model_validate(data)
        total += rule.weight * rule_score(rule, response)
    return total


def reward_model_input(tokenizer: Any, prompt_messages: list[dict[str, str]], response: str) -> str:
    chat = [*prompt_messages, {"role": "assistant", "content": response}]
    text = tokenizer.apply_chat_template(chat, add_generation_prompt=False, tokenize=False)
    if tokenizer.bos_token and text.startswith(tokenizer.bos_token):
        text = text[len(tokenizer.bos_token):]
    return text


async def _rm_score(router: str, engine: str, model: str, text: str) -> float:
    import aiohttp

    if engine == "vllm":
        endpoint, payload = "classify", {"model": model, "input": text, "use_activation": False}
    else:
        endpoint, payload = "v1/embeddings", {"model": model, "input": text}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        async with session.post(f"http://{router}/{endpoint}", json=payload) as resp:
            resp.raise_for_status()
            out = await resp.json()
    row = out["data"][-1]
    return float(row["probs"][-1] if engine == "vllm" else row["embedding"][-1])


@functools.lru_cache(maxsize=4)
def load_spec(path: str) -> dict[str, Any]:
    """The spec :func:`alignment_ci.train.stages.ppo.write_reward_spec` wrote."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


async def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    reward_router_address: str | None = None,
    reward_model_tokenizer: Any = None,
    *,
    spec: str,
    **_: Any,
) -> dict[str, float]:
    """verl's reward-function signature; ``spec`` (from ``reward_kwargs``) names the rules file."""
    settings = load_spec(spec)
    rules, rm_weight = settings["rules"], settings["rm_weight"]
    rm_model, rm_engine = settings["rm_model"], settings["rm_engine"]
    rm = None
    if rm_model is not None:
        if reward_router_address is None or reward_model_tokenizer is None:
            raise RuntimeError("the reward model is enabled but verl passed no reward-model router")
        messages = list((extra_info or {}).get("messages") or [])
        text = reward_model_input(reward_model_tokenizer, messages, solution_str)
        rm = await _rm_score(reward_router_address, rm_engine, rm_model, text)
    score = total_reward(rm, rm_weight, list(rules or []), solution_str)
    return {"score": score, **({"rm_score": rm} if rm is not None else {})}
