"""The one id rule (alignment_ci.ids), with ``git check-ref-format`` as the reference, and its
use by validate, ingest, the forge and the rater bridge (findings 7 and 8 of issue 10)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from alignment_ci.config import Config
from alignment_ci.data.validate import validate_file
from alignment_ci.errors import InputError
from alignment_ci.forge.base import ForgeError, check_branch
from alignment_ci.ids import ID_PATTERN, check_id, check_ref_name, id_problem, is_id, ref_name_problem
from alignment_ci.synth import make_pairwise_batch, write_jsonl
from rater_bridge.auth import add_vendor

from .test_cli import run_cli

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")

TRICKY = [
    "b-001", "B_1.v2", "x.lock", "x.LOCK", "x.", "x..y", "..", ".x", "-x", "x y", "x\x00y", "x\ty", "x~1", "x^",
    "x:y", "x?", "x*", "x[1]", "x\\y", "x@{1}", "x@y", "@", "x/y", "../etc/passwd", "é", "x\x7f", "a" * 128, "a" * 129,
    "x.lock.y", "x-", "x_", "1", "x.l0ck",
]


def git_accepts_branch(name: str) -> bool:
    if "\x00" in name:
        return False  # cannot even be passed as an argument
    # outside any repository, so that --branch cannot expand @{-1} and the like against one
    done = subprocess.run([GIT, "check-ref-format", "--branch", name], capture_output=True, cwd="/")
    return done.returncode == 0


@needs_git
@pytest.mark.parametrize("value", TRICKY)
def test_every_accepted_id_makes_a_branch_git_accepts(value: str) -> None:
    if is_id(value):
        assert git_accepts_branch(f"labels/{value}/{value}"), value
    if not git_accepts_branch(f"labels/acme/{value}"):
        assert not is_id(value), value


@needs_git
@pytest.mark.parametrize("name", TRICKY + ["labels/acme/b-001", "labels//x", "labels/x/", "/x", "labels/.x/y",
                                           "labels/x.lock/y", "a/b.", "main"])
def test_ref_name_rule_agrees_with_git_check_ref_format(name: str) -> None:
    if name == "@":
        pytest.skip("--branch reads '@' as HEAD; our rule refuses it as a branch name, as `git branch @` does")
    assert (ref_name_problem(name) is None) == git_accepts_branch(name), name


@needs_git
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("aZ09._-/@{}~^:?*[\\ .lock") + ["\x01", "\x7f"]), min_size=1, max_size=12))
def test_ref_name_rule_agrees_with_git_on_generated_names(name: str) -> None:
    assume(name != "@")
    assert (ref_name_problem(name) is None) == git_accepts_branch(name), name


def test_id_pattern_and_is_id_agree_except_what_a_regex_cannot_say() -> None:
    import re

    for value in TRICKY:
        if is_id(value):
            assert re.fullmatch(ID_PATTERN, value), value
    assert not re.fullmatch(ID_PATTERN, "x.")
    assert re.fullmatch(ID_PATTERN, "x..y") and not is_id("x..y")


@pytest.mark.parametrize(("value", "words"), [("x.lock", ".lock"), ("x.", "trailing"), ("a..b", ".."), ("x y", "letters"),
                                              ("a" * 129, "longer than 128")])
def test_check_id_says_which_rule_is_broken(value: str, words: str) -> None:
    with pytest.raises(InputError, match="invalid batch id") as info:
        check_id(value, "batch id")
    assert words in str(info.value)


def test_forge_refuses_a_branch_git_refuses() -> None:
    assert check_branch("labels/acme/b-001") == "labels/acme/b-001"
    for bad in ("labels/acme/x.", "labels/acme/x.lock", "labels/acme/a@{1}", "labels//x"):
        with pytest.raises(ForgeError, match="invalid branch name"):
            check_branch(bad)
    with pytest.raises(InputError):
        check_ref_name("labels/acme/x.")


# ------------------------------------------------------------------ validate / ingest (finding 8)
@pytest.fixture
def config(tmp_path: Path) -> Config:
    cfg = Config()
    cfg._root = tmp_path
    return cfg


@pytest.mark.parametrize("batch_id", ["../escape", "b\x00nul", "b with space", "b.lock", "b."])
def test_validate_reports_a_bad_batch_id_as_a_row_error(config: Config, tmp_path: Path, batch_id: str) -> None:
    path = write_jsonl(make_pairwise_batch(batch_id=batch_id, n_items=4, seed=1), tmp_path / "b.jsonl")
    report = validate_file(path, config)
    assert not report.accepted
    bad = [e for e in report.errors if e.kind == "invalid_batch_id"]
    assert len(bad) == 1
    assert (bad[0].line, bad[0].column) == (1, "batch_id")
    assert id_problem(batch_id) in bad[0].message


@pytest.mark.parametrize("batch_id", ["../escape"])
def test_validate_and_ingest_exit_1_for_a_bad_batch_id(tmp_path: Path, batch_id: str) -> None:
    path = write_jsonl(make_pairwise_batch(batch_id=batch_id, n_items=4, seed=1), tmp_path / "in" / "b.jsonl")
    validated = run_cli("validate", str(path), "--format", "json", cwd=tmp_path)
    assert validated.returncode == 1, validated.stderr
    errors = json.loads(validated.stdout)["errors"]
    assert any(e["kind"] == "invalid_batch_id" and e["line"] == 1 and e["column"] == "batch_id" for e in errors)
    ingested = run_cli("ingest", str(path), "--vendor", "acme", cwd=tmp_path)
    assert ingested.returncode == 1, ingested.stderr
    assert not (tmp_path / "datasets_manifest" / "batches").exists()


# ------------------------------------------------------------------ vendors (finding 7)
def test_vendor_names_are_unique_regardless_of_case(tmp_path: Path) -> None:
    from sqlalchemy.exc import IntegrityError

    from rater_bridge.db import Vendor, create_tables, make_engine, session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    create_tables(engine)
    with session_factory(engine)() as s:
        add_vendor(s, "acme")
        with pytest.raises(InputError, match="already exists as 'acme'"):
            add_vendor(s, "ACME")
        for bad in ("acme.lock", "acme."):
            with pytest.raises(InputError, match="invalid vendor"):
                add_vendor(s, bad)
    with session_factory(engine)() as s:  # the database itself refuses it too (two processes racing)
        s.add(Vendor(name="Acme"))
        with pytest.raises(IntegrityError):
            s.commit()
    engine.dispose()
