"""Shared, built-once training fixtures for the tests/test_train_*.py files.

Import the fixtures into a test module (``from tests.train_support import tiny_model``).
Each artifact is built once per test run even when several modules import the fixture:
the builders cache on the session's base temp directory, and under pytest-xdist (`make
test` runs two workers) the first worker to ask builds it where every worker finds it.
"""

from __future__ import annotations

import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from alignment_ci.train.specs import TrainingSettings
from alignment_ci.train.synthetic import make_preference_pairs

_CACHE: dict[tuple[str, str], Any] = {}


def _cached(tmp_path_factory: pytest.TempPathFactory, name: str, build) -> Any:  # noqa: ANN001
    key = (str(tmp_path_factory.getbasetemp()), name)
    if key not in _CACHE:
        _CACHE[key] = _build_once(tmp_path_factory, name, build)
    return _CACHE[key]


def _build_once(tmp_path_factory: pytest.TempPathFactory, name: str, build) -> Any:  # noqa: ANN001
    """``build(directory)``, once per test run. Each pytest-xdist worker is a process of its
    own with a base temp directory under one shared parent (pytest-xdist's recipe for
    session fixtures): the first worker builds the artifact there under a file lock and
    pickles the result; the others wait for the lock and read it."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent / "shared-artifacts"
    shared.mkdir(exist_ok=True)
    result_file = shared / f"{name}.pickle"
    with FileLock(str(shared / f"{name}.lock")):
        if result_file.is_file():
            return pickle.loads(result_file.read_bytes())
        directory = shared / name
        shutil.rmtree(directory, ignore_errors=True)  # a build that failed half-way
        directory.mkdir()
        result = build(directory)
        result_file.write_bytes(pickle.dumps(result))
        return result


@pytest.fixture(scope="session", autouse=False)
def one_thread() -> None:
    """Tiny models train 3-5x faster on one intra-op thread than on two contended ones."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def pairs() -> list[dict[str, Any]]:
    """64 synthetic pairs: 52 train / 12 held out at seed 0."""
    return make_preference_pairs(64, seed=0)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    from alignment_ci.train.tiny import build_tiny_model

    return _cached(tmp_path_factory, "tiny", lambda d: build_tiny_model(d / "model", seed=0))


@pytest.fixture(scope="session")
def trained_reward(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, pairs: list[dict]):  # noqa: ANN201
    """The reward stage with its defaults (30 steps), trained once: (StageResult, model dir)."""
    from alignment_ci.train.stages import run_stage

    def build(d: Path):  # noqa: ANN202
        job = TrainingSettings().job("reward")
        return run_stage(job, pairs, d / "rm", {"base": tiny_model})

    return _cached(tmp_path_factory, "reward", build)


@pytest.fixture(scope="session")
def style_agnostic_policy(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """An SFT policy that answers politely or curtly at random (half the targets swapped).

    Online RL can only choose among behaviours the policy already has; this starting
    point has both, so a reward model that prefers courtesy has something to push.
    """
    from alignment_ci.train.stages import run_stage

    def build(d: Path) -> Path:
        rng = random.Random(1)
        rows = [
            dict(r, chosen=r["rejected"], rejected=r["chosen"]) if rng.random() < 0.5 else r
            for r in make_preference_pairs(128, seed=5)
        ]
        result = run_stage(TrainingSettings().job("sft"), rows, d / "sft-mixed", {"base": tiny_model})
        return result.model_dir

    return _cached(tmp_path_factory, "sft-mixed", build)
