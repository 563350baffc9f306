"""Models and data the gating tests share, built once per session on the tiny model
(see tests/train_support.py): a second healthy reward model, a reward model trained on
flipped labels (the planted regression), a polite SFT policy, and a gold-pairs file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from alignment_ci.evals.policy_eval import DEFAULT_EVAL_PROMPTS
from alignment_ci.train.synthetic import PROMPT_FRAMING, make_preference_pairs
from tests.train_support import _cached

ROOT = Path(__file__).resolve().parents[1]
GATES = ROOT / "gates"
N_GOLD = 32


def _framed(source: Path, target: Path) -> Path:
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    target.write_text(yaml.safe_dump(dict(data, prompt_template=PROMPT_FRAMING), sort_keys=False), encoding="utf-8")
    return target


@pytest.fixture(scope="session")
def framed_eval(tmp_path_factory) -> Path:
    """The shipped eval prompts, framed as the synthetic training pairs are."""
    return _framed(DEFAULT_EVAL_PROMPTS, tmp_path_factory.mktemp("framed") / "eval_prompts.yaml")


@pytest.fixture(scope="session")
def framed_red_team(tmp_path_factory) -> Path:
    """The shipped red-team set, framed as the synthetic training pairs are."""
    return _framed(ROOT / "datasets_manifest" / "eval" / "red_team.yaml",
                   tmp_path_factory.mktemp("framed") / "red_team.yaml")


def _flip(rows: list[dict]) -> list[dict]:
    return [dict(r, chosen=r["rejected"], rejected=r["chosen"]) for r in rows]


def _train(tmp_path_factory, name: str, stage: str, rows: list[dict], base: Path) -> Path:
    from alignment_ci.train.specs import TrainingSettings
    from alignment_ci.train.stages import run_stage

    return _cached(tmp_path_factory, name,
                   lambda d: run_stage(TrainingSettings().job(stage), rows, d / name, {"base": base}).model_dir)


@pytest.fixture(scope="session")
def healthy_rm(tmp_path_factory, tiny_model) -> Path:
    """A second healthy reward model, trained on other pairs (seed 3) than the baseline."""
    return _train(tmp_path_factory, "gating-rm-healthy", "reward", make_preference_pairs(64, seed=3), tiny_model)


@pytest.fixture(scope="session")
def flipped_rm(tmp_path_factory, tiny_model) -> Path:
    """The planted regression: the same pairs as the baseline, every label flipped."""
    return _train(tmp_path_factory, "gating-rm-flipped", "reward", _flip(make_preference_pairs(64, seed=0)), tiny_model)


@pytest.fixture(scope="session")
def polite_policy(tmp_path_factory, tiny_model) -> Path:
    return _train(tmp_path_factory, "gating-sft-polite", "sft", make_preference_pairs(64, seed=0), tiny_model)


@pytest.fixture(scope="session")
def gold_file(tmp_path_factory) -> Path:
    """32 held-out gold pairs (seed 7: none of them trained on), in two sampling buckets."""
    rows = make_preference_pairs(N_GOLD, seed=7)
    for i, row in enumerate(rows):
        row["sampling_bucket"] = ("random", "uncertain")[i % 2]
    path = tmp_path_factory.mktemp("gating-gold") / "gold.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no alignment.yaml, an empty store: only what the test passes
    return tmp_path


@pytest.fixture(scope="session")
def curt_policy(tmp_path_factory, tiny_model) -> Path:
    """A policy made worse on purpose: SFT on the same pairs as the polite one, every pair
    flipped (it imitates the curt answers raters rejected)."""
    return _train(tmp_path_factory, "gating-sft-curt", "sft", _flip(make_preference_pairs(64, seed=0)), tiny_model)


@pytest.fixture(scope="session")
def collapsed_policy(tmp_path_factory, tiny_model) -> Path:
    """A collapsed policy: it learned to answer every prompt with one token repeated."""
    rows = [dict(r, chosen=" cl" * 16) for r in make_preference_pairs(64, seed=0)]
    return _train(tmp_path_factory, "gating-sft-collapsed", "sft", rows, tiny_model)
