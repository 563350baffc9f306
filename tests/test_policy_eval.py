"""The policy judged on what it says, piece by piece: policy-health measures, the paired win
rate and its tests, batched generation on the real tiny model, the shipped eval prompts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from alignment_ci.errors import InputError
from alignment_ci.evals.policy_eval import (
    DEFAULT_EVAL_PROMPTS,
    judge_answers,
    load_prompt_set,
    paired_win_rate,
    same_model,
    side_by_side,
)
from alignment_ci.evals.policy_health import (
    degenerate_flags,
    distinct_n,
    health_stats,
    is_empty,
    repeated_ngram_share,
    words,
)
from alignment_ci.evals.safety import RuleClassifier, summarize_safety
from alignment_ci.train.synthetic import PROMPT_FRAMING
from tests.train_support import one_thread, tiny_model  # noqa: F401

# ------------------------------------------------------------------ policy health


def test_repeated_ngram_share_of_one_token_repeated_and_of_prose():
    assert repeated_ngram_share(["cl"] * 12, 3) == pytest.approx(9 / 10)  # (k - n) / (k - n + 1)
    assert repeated_ngram_share(words("Open the settings page and choose the option to reset it."), 3) == 0.0
    assert repeated_ngram_share(["a", "b"], 3) == 0.0  # shorter than n: nothing repeated
    assert repeated_ngram_share(list("abcabc"), 3) == pytest.approx(1 / 4)  # abc bca cab [abc]


def test_distinct_n_counts_unique_ngrams_over_all_answers():
    answers = [["a", "b", "c"], ["a", "b", "d"]]
    assert distinct_n(answers, 1) == pytest.approx(4 / 6)
    assert distinct_n(answers, 2) == pytest.approx(3 / 4)  # ab bc ab bd
    assert math.isnan(distinct_n([[], ["x"]], 2))


def test_empty_and_degenerate_answers():
    assert is_empty("") and is_empty("  ... !! ") and not is_empty(" ok")
    texts = ["", " cl cl cl cl cl cl cl cl", " Sure, open the settings page and reset it. Thanks!"]
    assert degenerate_flags(texts) == [True, True, False]


def test_health_stats_length_ratio_and_kl():
    stats = health_stats(["a b c d", "e f"], [[1, 2, 3, 4], [5, 6]], baseline_tokens=[[1, 2], [3]],
                         log_ratios=[[0.5, 0.5, 1.0, 0.0], [2.0, 0.0]])
    assert stats.mean_tokens == 3.0 and stats.baseline_mean_tokens == 1.5 and stats.length_ratio == 2.0
    assert stats.kl_per_token == pytest.approx(4.0 / 6) and stats.kl_tokens == 6
    assert (stats.empty, stats.degenerate) == (0, 0)


def test_a_degenerate_answer_never_counts_as_safe_even_with_refusal_words():
    responses = [" cl cl cl cl cl cl cl cl cl", "I can't I can't I can't I can't I can't I can't", "I can't help with that."]
    plain = summarize_safety(["a", "b", "c"], responses, RuleClassifier())
    assert plain.passed == 3  # keywords alone find nothing wrong
    checked = summarize_safety(["a", "b", "c"], responses, RuleClassifier(), degenerate=degenerate_flags(responses))
    assert checked.passed == 1 and checked.hits == {"degenerate": 2}
    assert [f["id"] for f in checked.failures] == ["a", "b"]


# ------------------------------------------------------------------ paired win rate


def test_paired_win_rate_counts_ties_half_and_matches_the_exact_sign_test():
    cand = [1.0] * 5 + [0.0] * 12 + [0.5] * 3
    base = [0.0] * 5 + [1.0] * 12 + [0.5] * 3
    res = paired_win_rate(cand, base)
    assert (res.wins, res.losses, res.ties, res.n) == (5, 12, 3, 20)
    assert res.win_rate == pytest.approx((5 + 1.5) / 20)
    # one-sided exact sign test: P(X >= 12 | n = 17, p = 1/2)
    expected = sum(math.comb(17, k) for k in range(12, 18)) / 2**17
    assert res.sign_test_p == pytest.approx(expected)
    scores = np.array([1.0] * 5 + [0.0] * 12 + [0.5] * 3)
    se = scores.std(ddof=1) / math.sqrt(20)
    assert res.lower_bound == pytest.approx(scores.mean() - 1.6448536 * se, abs=1e-6)
    assert res.wilcoxon_p < 0.1


def test_identical_answers_tie_and_an_all_tie_comparison_is_exactly_one_half():
    res = paired_win_rate([1.0, 2.0, 3.0], [0.0, 5.0, 3.0], identical=[True, True, True])
    assert (res.win_rate, res.lower_bound, res.ties, res.sign_test_p) == (0.5, 0.5, 3, 1.0)


def test_side_by_side_orders_by_the_primary_judge_and_keeps_both_scores():
    class Judge:
        def __init__(self, path, bonus):
            self.path, self.bonus = path, bonus

        def score(self, prompts, answers):
            return np.array([len(a) + (self.bonus if "please" in a else 0.0) for a in answers])

    rows = [{"prompt": "p1"}, {"prompt": "p2"}, {"prompt": "p3"}]
    judged = judge_answers(rows, ["short", "a much longer answer", "please"], ["medium one", "tiny", "please"],
                           {"independent": Judge("ind", 0.0), "candidate": Judge("cand", 10.0)})
    out = side_by_side(judged, "independent")
    assert [e["prompt"] for e in out] == ["p1", "p3", "p2"]
    assert out[0]["delta"] == len("short") - len("medium one")
    assert out[0]["scores"] == {"independent": {"candidate": 5.0, "baseline": 10.0},
                                "candidate": {"candidate": 5.0, "baseline": 10.0}}
    assert out[1]["scores"]["candidate"] == {"candidate": 16.0, "baseline": 16.0}
    assert [e["prompt"] for e in side_by_side(judged, "independent", limit=2)] == ["p1", "p2"]


def test_same_model_compares_paths_and_weights(tmp_path):
    a, b, c = (tmp_path / n for n in "abc")
    for d, data in ((a, b"w1"), (b, b"w1"), (c, b"w2")):
        d.mkdir()
        (d / "model.safetensors").write_bytes(data)
    assert same_model(a, a) and same_model(a, b) and not same_model(a, c) and not same_model(a, None)


def test_shipped_eval_prompts_load_as_the_pipeline_trains_with_slices(tmp_path):
    rows = load_prompt_set()
    assert len(rows) == 48 and DEFAULT_EVAL_PROMPTS.is_file()
    assert rows[0]["prompt"] == "How do I change a car tire?"  # the pipeline trains on prompts as written
    framed = tmp_path / "framed.yaml"
    framed.write_text(yaml.safe_dump({"prompt_template": PROMPT_FRAMING, "items": [{"slice": "a", "prompt": "Hi?"}]}))
    assert load_prompt_set(framed)[0]["prompt"] == "User: Hi?\nAssistant:"
    assert {r["slice"] for r in rows} == {"how_to", "advice", "writing", "explain"}


def test_prompt_template_without_placeholder_is_an_input_error(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("prompt_template: 'User:'\nitems:\n  - {prompt: hi}\n")
    with pytest.raises(InputError, match="prompt_template"):
        load_prompt_set(bad)


# ------------------------------------------------------------------ batched generation


def test_generation_is_batched_left_padded_and_in_prompt_order(tiny_model):
    from alignment_ci.evals.generation import Policy

    policy = Policy(tiny_model)
    calls = []
    real_generate = policy.model.generate

    def counting_generate(*args, **kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        return real_generate(*args, **kwargs)

    policy.model.generate = counting_generate
    prompts = [r["prompt"] for r in load_prompt_set()][:10] + ["User: Hi\nAssistant:"]
    out = policy.generate_batched(prompts, max_new_tokens=6, batch_size=4)
    assert calls == [4, 4, 3]  # one call per batch, never one per prompt
    assert out.stats.calls == 3 and out.stats.prompts == 11
    assert policy.tokenizer.padding_side == "left"
    one_by_one = [policy.generate_batched([p], max_new_tokens=6).texts[0] for p in prompts]
    assert out.texts == one_by_one  # padding does not change any answer, and the order is the prompts'
    assert all(0 < n <= 6 for n in out.token_counts) and out.stats.new_tokens == sum(out.token_counts)
    again = policy.generate_batched(prompts, max_new_tokens=6, batch_size=4)
    assert again.texts == out.texts  # fixed decoding: same answers


def test_token_logprobs_score_the_generated_tokens(tiny_model):
    from alignment_ci.evals.generation import Policy

    policy = Policy(tiny_model)
    prompts = ["User: How do I bake bread?\nAssistant:", "User: Hi\nAssistant:"]
    out = policy.generate_batched(prompts, max_new_tokens=5)
    logps = policy.token_logprobs(prompts, out.token_ids)
    assert [len(x) for x in logps] == out.token_counts
    assert all(v <= 0 for row in logps for v in row)
    # greedy decoding picks the most likely token: each log-prob is the max over the vocabulary
    import torch

    ids = policy.tokenizer(prompts[1], add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        first = torch.log_softmax(policy.model(input_ids=ids).logits[0, -1], -1)
    assert logps[1][0] == pytest.approx(float(first.max()), abs=1e-4)
    # a model against itself: log-ratio 0 on every token
    assert policy.token_logprobs(prompts, out.token_ids) == logps


def test_identical_answers_are_scored_once_per_judge():
    class Judge:
        path = "counting"

        def __init__(self):
            self.texts = 0

        def score(self, prompts, answers):
            self.texts += len(answers)
            return np.array([float(len(a)) for a in answers])

    judge = Judge()
    rows = [{"prompt": "p1"}, {"prompt": "p2"}, {"prompt": "p3"}]
    judged = judge_answers(rows, ["same", "x", "same"], ["same", "yy", "other"], {"independent": judge})
    assert judge.texts == 5  # (p1, same) once for both policies
    assert judged.scores["independent"][0].tolist() == [4.0, 1.0, 4.0]
    assert judged.scores["independent"][1].tolist() == [4.0, 2.0, 5.0]


def test_models_by_hugging_face_name_come_from_the_local_cache_only(tmp_path, tiny_model, monkeypatch):
    """`gates.policy_winrate.judge` and `gates.safety.classifier` take a name (offline, from the
    local Hugging Face cache) or a directory; a name not in the cache is a clear input error."""
    import shutil

    import huggingface_hub.constants

    from alignment_ci.evals.scoring import resolve_model_dir

    snapshot = tmp_path / "hub" / "models--acme--tiny-judge" / "snapshots" / ("a" * 40)
    shutil.copytree(tiny_model, snapshot)
    (tmp_path / "hub" / "models--acme--tiny-judge" / "refs").mkdir()
    (tmp_path / "hub" / "models--acme--tiny-judge" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_model_dir("acme/tiny-judge", "judge model") == snapshot
    assert resolve_model_dir(str(tiny_model), "judge model") == tiny_model
    with pytest.raises(InputError, match="not in the local Hugging Face cache"):
        resolve_model_dir("acme/missing", "judge model")
    with pytest.raises(InputError, match="no such directory"):
        resolve_model_dir(str(tmp_path / "nope"), "judge model")
