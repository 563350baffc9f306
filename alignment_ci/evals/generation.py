"""Policy generation for the gates: batched, left-padded, greedy or seeded sampling.

Prompts are used verbatim (the pipeline's prompts already carry their chat framing, e.g.
``User: ...\\nAssistant:``); completions are the new tokens only, decoded without special
tokens. Prompts are grouped into batches of similar length (one ``model.generate`` call
per batch, never one per prompt) and the answers come back in the prompts' order. Same
inputs, same seed, same decoding settings: same outputs.

:meth:`Policy.token_logprobs` scores given completions under a model (teacher forcing):
the policy-health gate's KL estimate is the per-token difference of the candidate's and
the reference's log-probabilities on the candidate's own samples.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..lazy import heavy_module
from .scoring import check_model_dir


@dataclass
class GenerationStats:
    """What the generation of one policy cost: calls to ``model.generate``, prompts,
    new tokens (up to and without the end-of-sequence token) and seconds."""

    calls: int = 0
    prompts: int = 0
    new_tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, float]:
        return {"calls": self.calls, "prompts": self.prompts, "new_tokens": self.new_tokens,
                "seconds": self.seconds, "tokens_per_s": self.tokens_per_s}


@dataclass
class Generations:
    """Answers in the prompts' order, with their new-token counts."""

    texts: list[str]
    token_counts: list[int] = field(default_factory=list)
    token_ids: list[list[int]] = field(default_factory=list)
    stats: GenerationStats = field(default_factory=GenerationStats)


class Policy:
    """A causal language model loaded from a directory, for batched generation."""

    def __init__(self, path: str | Path, *, device: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer


        self.path = check_model_dir(path, "policy")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        with heavy_module("stages.common").quiet_transformers():
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, padding_side="left")
            self.model = AutoModelForCausalLM.from_pretrained(self.path)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        self.model.to(self.device).eval()
        self.stats = GenerationStats()

    def _window(self) -> int | None:
        return getattr(self.model.config, "max_position_embeddings", None)

    def generate_batched(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int = 24,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int = 0,
        batch_size: int = 16,
    ) -> Generations:
        """One completion per prompt, ``batch_size`` prompts per ``model.generate`` call.

        Greedy with ``do_sample=False``; sampled under ``seed`` otherwise (the RNG is forked,
        so the caller's random state is untouched). Prompts are sorted by length before
        batching (less padding), and the answers returned in the original order.
        """
        import torch

        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        prompts = list(prompts)
        texts: list[str] = [""] * len(prompts)
        counts: list[int] = [0] * len(prompts)
        token_ids: list[list[int]] = [[] for _ in prompts]
        stats = GenerationStats(prompts=len(prompts))
        if not prompts:
            return Generations(texts, counts, token_ids, stats)
        lengths = [len(ids) for ids in self.tokenizer(prompts, add_special_tokens=False)["input_ids"]]
        order = sorted(range(len(prompts)), key=lambda i: (lengths[i], i))
        limit = self._window()
        stop_ids = {t for t in (self.tokenizer.eos_token_id, self.tokenizer.pad_token_id) if t is not None}
        kwargs = {"do_sample": do_sample, "max_new_tokens": max_new_tokens,
                  "pad_token_id": self.tokenizer.pad_token_id}
        if do_sample:
            kwargs.update(temperature=temperature, top_p=top_p)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        started = time.perf_counter()
        with torch.no_grad(), torch.random.fork_rng(devices=[] if self.device == "cpu" else None):
            torch.manual_seed(seed)
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                enc = self.tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True,
                                     add_special_tokens=False)
                if limit and enc["input_ids"].shape[1] + max_new_tokens > limit:
                    # Keep the end of over-long prompts: the model's window is fixed.
                    keep = max(1, limit - max_new_tokens)
                    enc = {k: v[:, -keep:] for k, v in enc.items()}
                enc = {k: v.to(self.device) for k, v in enc.items()}
                ids = self.model.generate(**enc, **kwargs)
                stats.calls += 1
                new = ids[:, enc["input_ids"].shape[1]:].tolist()
                for i, row in zip(idx, new):
                    n = next((k for k, t in enumerate(row) if t in stop_ids), len(row))
                    counts[i] = n
                    token_ids[i] = row[:n]
                    texts[i] = self.tokenizer.decode(row[:n], skip_special_tokens=True)
        stats.seconds = time.perf_counter() - started
        stats.new_tokens = sum(counts)
        for name in ("calls", "prompts", "new_tokens", "seconds"):
            setattr(self.stats, name, getattr(self.stats, name) + getattr(stats, name))
        return Generations(texts, counts, token_ids, stats)

    def generate(self, prompts: Sequence[str], **kwargs: object) -> list[str]:
        """The answers of :meth:`generate_batched`, as strings."""
        return self.generate_batched(prompts, **kwargs).texts  # type: ignore[arg-type]

    def token_logprobs(self, prompts: Sequence[str], completions: Sequence[str | Sequence[int]], *,
                       batch_size: int = 16) -> list[list[float]]:
        """Log-probability of each completion token given the prompt and the tokens before it.

        A completion is a string (tokenized on its own and appended to the prompt's tokens)
        or the token ids a policy generated (``Generations.token_ids``: exactly the sampled
        sequence). Two models with the same tokenizer score the same token sequence. An
        empty completion has no tokens (an empty list).
        """
        import torch

        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        tok = self.tokenizer
        limit = self._window()
        seqs = []
        for p, c in zip(prompts, completions):
            p_ids = tok(p, add_special_tokens=False)["input_ids"]
            if isinstance(c, str):
                c_ids = tok(c, add_special_tokens=False)["input_ids"] if c else []
            else:
                c_ids = [int(t) for t in c]
            if limit and len(p_ids) + len(c_ids) > limit:
                c_ids = c_ids[: limit - 1]
                p_ids = p_ids[-max(1, limit - len(c_ids)):]
            seqs.append((p_ids, c_ids))
        out: list[list[float]] = [[] for _ in seqs]
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        with torch.no_grad():
            for start in range(0, len(seqs), batch_size):
                chunk = seqs[start : start + batch_size]
                width = max(len(p) + len(c) for p, c in chunk)
                ids = torch.full((len(chunk), width), pad, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, (p, c) in enumerate(chunk):  # left padding, as in generation
                    seq = p + c
                    ids[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
                    mask[row, width - len(seq):] = 1
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
                logp = torch.log_softmax(logits.float(), dim=-1).cpu()
                for row, (p, c) in enumerate(chunk):
                    if not c:
                        continue
                    # the token at position t is predicted by the logits at t - 1
                    first = width - len(c)
                    positions = torch.arange(first - 1, width - 1)
                    out[start + row] = logp[row, positions, torch.tensor(c)].tolist()
        return out


def generate(policy_dir: str | Path, prompts: Sequence[str], **kwargs: object) -> list[str]:
    """Load the policy in ``policy_dir`` and complete ``prompts`` (see :meth:`Policy.generate_batched`)."""
    return Policy(policy_dir).generate(prompts, **kwargs)
