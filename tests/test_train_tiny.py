"""The tiny offline model and the synthetic preference data."""

from __future__ import annotations

import hashlib
import os

import pytest

from alignment_ci.errors import InputError
from alignment_ci.train.synthetic import is_polite, make_preference_pairs
from alignment_ci.train.tiny import build_tiny_model, corpus_text
from tests.train_support import one_thread, tiny_model  # noqa: F401 (fixtures)


def test_hub_is_off_for_these_tests():
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_tiny_model_loads_as_causal_lm_and_as_reward_model(tiny_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    assert sorted(p.name for p in tiny_model.iterdir()) == [
        "chat_template.jinja", "config.json", "generation_config.json", "model.safetensors",
        "tokenizer.json", "tokenizer_config.json",
    ]
    tok = AutoTokenizer.from_pretrained(tiny_model)
    assert (tok.pad_token, tok.bos_token, tok.eos_token) == ("<pad>", "<s>", "</s>")
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    lm = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert (lm.config.num_hidden_layers, lm.config.hidden_size, lm.config.vocab_size) == (2, 64, len(tok))
    ids = tok("User: How do I bake bread?\nAssistant:", return_tensors="pt")
    with torch.no_grad():
        assert lm(**ids).logits.shape == (1, ids["input_ids"].shape[1], len(tok))
    rm = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=1)
    with torch.no_grad():
        assert rm(**ids).logits.shape == (1, 1)


def test_tokenizer_round_trips_the_corpus_and_learned_merges(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    text = corpus_text()
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert len(ids) < len(text.encode()) / 2.5  # BPE merges, not bytes


def test_same_seed_same_weights_and_other_seed_other_weights(tmp_path, tiny_model):
    digest = lambda p: hashlib.sha256((p / "model.safetensors").read_bytes()).hexdigest()  # noqa: E731
    again = build_tiny_model(tmp_path / "again", seed=0)
    other = build_tiny_model(tmp_path / "other", seed=1)
    assert digest(again) == digest(tiny_model)
    assert (again / "tokenizer.json").read_bytes() == (tiny_model / "tokenizer.json").read_bytes()
    assert digest(other) != digest(tiny_model)


def test_build_refuses_a_non_empty_target_and_leaves_no_temp_dir(tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="already exists and is not empty"):
        build_tiny_model(target)
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    assert (target / "keep.txt").read_text() == "mine"


def test_synthetic_pairs_follow_the_rule_and_are_deterministic():
    rows = make_preference_pairs(200, seed=3)
    assert rows == make_preference_pairs(200, seed=3)
    assert rows != make_preference_pairs(200, seed=4)
    assert all(is_polite(r["chosen"]) and not is_polite(r["rejected"]) for r in rows)
    assert set(rows[0]) == {"prompt", "chosen", "rejected", "weight", "item_id", "dimension", "batch_id"}
    assert len({r["item_id"] for r in rows}) == 200
    assert rows[0]["prompt"].startswith("User: ") and rows[0]["prompt"].endswith("\nAssistant:")
