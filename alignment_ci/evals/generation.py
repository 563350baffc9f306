"""Policy generation for the gates: greedy or seeded sampling, a small token budget.

Prompts are used verbatim (the pipeline's prompts already carry their chat framing, e.g.
``User: ...\\nAssistant:``); completions are the new tokens only, decoded without special
tokens. Same inputs, same seed, same outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..lazy import heavy_module
from .scoring import check_model_dir


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
        self.model.to(self.device).eval()

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int = 24,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int = 0,
        batch_size: int = 16,
    ) -> list[str]:
        """One completion per prompt: greedy (``do_sample=False``) or sampled under ``seed``."""
        import torch

        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        out: list[str] = []
        limit = getattr(self.model.config, "max_position_embeddings", None)
        with torch.no_grad(), torch.random.fork_rng(devices=[] if self.device == "cpu" else None):
            torch.manual_seed(seed)
            for start in range(0, len(prompts), batch_size):
                chunk = list(prompts[start : start + batch_size])
                enc = self.tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
                if limit and enc["input_ids"].shape[1] + max_new_tokens > limit:
                    # Keep the end of over-long prompts: the model's window is fixed.
                    keep = max(1, limit - max_new_tokens)
                    enc = {k: v[:, -keep:] for k, v in enc.items()}
                enc = {k: v.to(self.device) for k, v in enc.items()}
                kwargs = {"do_sample": do_sample, "max_new_tokens": max_new_tokens,
                          "pad_token_id": self.tokenizer.pad_token_id}
                if do_sample:
                    kwargs.update(temperature=temperature, top_p=top_p)
                else:
                    kwargs.update(temperature=None, top_p=None, top_k=None)
                ids = self.model.generate(**enc, **kwargs)
                new = ids[:, enc["input_ids"].shape[1]:]
                out.extend(self.tokenizer.batch_decode(new, skip_special_tokens=True))
        return out


def generate(policy_dir: str | Path, prompts: Sequence[str], **kwargs: object) -> list[str]:
    """Load the policy in ``policy_dir`` and complete ``prompts`` (see :meth:`Policy.generate`)."""
    return Policy(policy_dir).generate(prompts, **kwargs)  # type: ignore[arg-type]
