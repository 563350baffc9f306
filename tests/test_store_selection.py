"""Which store a command uses, what manifests record about it, and the getting-started store.

Backend precedence: --store flag > ALIGNMENT_CI_STORE / ALIGNMENT_CI_S3_BUCKET > alignment.yaml
> file. Manifests record the blob's place relative to the store; old manifests with an
absolute `file:///` URI still verify. With `stores.commit_batches`, a batch's data is
committed beside its manifest and a fresh clone (no working store) reads it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from alignment_ci.config import Config, parse_config
from alignment_ci.data.manifest import ingest_batch, verify_manifests
from alignment_ci.errors import StoreError
from alignment_ci.store import open_store, select_backend
from alignment_ci.synth import make_pairwise_batch, write_jsonl

from tests.s3server import moto_endpoint  # noqa: F401  (fixture)

from .test_cli import run_cli as _run


def run_cli(args: list[str], cwd: Path) -> tuple[int, str, str]:
    proc = _run(*args, cwd=cwd)
    return proc.returncode, proc.stdout, proc.stderr


def _config(root: Path, text: str = "") -> Config:
    return parse_config(text, root=root)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("ALIGNMENT_CI_STORE", "ALIGNMENT_CI_S3_BUCKET", "ALIGNMENT_CI_S3_PREFIX", "ALIGNMENT_CI_S3_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


def test_default_is_file(tmp_path):
    assert select_backend(_config(tmp_path), env={}) == ("file", "the default")


def test_bucket_in_environment_switches_to_s3(tmp_path):
    backend, why = select_backend(_config(tmp_path), env={"ALIGNMENT_CI_S3_BUCKET": "labels"})
    assert backend == "s3" and "ALIGNMENT_CI_S3_BUCKET" in why


def test_empty_bucket_variable_keeps_file(tmp_path):
    # A workflow passes `${{ vars.ALIGNMENT_CI_S3_BUCKET }}`, which is "" when unset.
    assert select_backend(_config(tmp_path), env={"ALIGNMENT_CI_S3_BUCKET": ""})[0] == "file"


def test_environment_beats_config_and_store_variable_beats_bucket(tmp_path):
    cfg = _config(tmp_path, "stores:\n  artifacts:\n    backend: s3\n    bucket: b\n")
    assert select_backend(cfg, env={})[0] == "s3"
    assert select_backend(cfg, env={"ALIGNMENT_CI_STORE": "file"})[0] == "file"
    assert select_backend(_config(tmp_path), env={"ALIGNMENT_CI_STORE": "file", "ALIGNMENT_CI_S3_BUCKET": "b"})[0] == "file"


def test_unknown_backend_in_environment_is_an_error(tmp_path):
    with pytest.raises(StoreError, match="ALIGNMENT_CI_STORE='gcs' is not a store backend"):
        select_backend(_config(tmp_path), env={"ALIGNMENT_CI_STORE": "gcs"})


def test_bucket_variable_opens_the_s3_store(tmp_path, monkeypatch, moto_endpoint):
    import boto3

    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket="from-env")
    monkeypatch.setenv("ALIGNMENT_CI_S3_BUCKET", "from-env")
    monkeypatch.setenv("ALIGNMENT_CI_S3_ENDPOINT", moto_endpoint)
    store = open_store(_config(tmp_path))  # alignment.yaml says nothing about S3
    assert store.backend == "s3" and store.bucket == "from-env"
    digest = store.put_blob(b"hello")
    assert store.get_blob(digest) == b"hello"


def test_store_flag_beats_the_environment(tmp_path, monkeypatch):
    batch = write_jsonl(make_pairwise_batch(batch_id="b-flag", n_items=10, seed=1), tmp_path / "b.jsonl")
    monkeypatch.setenv("ALIGNMENT_CI_S3_BUCKET", "no-such-bucket")
    monkeypatch.setenv("ALIGNMENT_CI_S3_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: S3 would fail
    code, _, stderr = run_cli(["--store", "file", "ingest", str(batch), "--vendor", "acme"], cwd=tmp_path)
    assert code == 0, stderr
    assert any((tmp_path / ".alignment-ci" / "store" / "blobs").rglob("*"))


def test_manifest_records_the_blob_relative_to_the_store(tmp_path):
    cfg = _config(tmp_path)
    batch = write_jsonl(make_pairwise_batch(batch_id="b-rel", n_items=10, seed=1), tmp_path / "b.jsonl")
    result = ingest_batch(batch, "acme", cfg)
    digest = result.manifest["sha256"]
    assert result.manifest["store_uri"] == f"blobs/{digest[:2]}/{digest}"
    assert str(tmp_path) not in result.manifest_path.read_text()


def test_old_manifest_with_an_absolute_uri_still_verifies(tmp_path):
    cfg = _config(tmp_path)
    batch = write_jsonl(make_pairwise_batch(batch_id="b-old", n_items=10, seed=1), tmp_path / "b.jsonl")
    result = ingest_batch(batch, "acme", cfg)
    old = yaml.safe_load(result.manifest_path.read_text())
    old["store_uri"] = f"file:///home/someone-else/repo/.alignment-ci/store/blobs/{old['sha256'][:2]}/{old['sha256']}"
    result.manifest_path.write_text(yaml.safe_dump(old, sort_keys=False))
    assert verify_manifests(cfg) == {"ok": True, "checked": 1, "problems": []}


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=cwd, check=True,
                   capture_output=True)


def test_committed_batches_verify_in_a_fresh_clone(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "alignment.yaml").write_text("stores:\n  commit_batches: true\n")
    (repo / ".gitignore").write_text(".alignment-ci/\n")
    batch = write_jsonl(make_pairwise_batch(batch_id="b-git", n_items=10, seed=1), tmp_path / "b.jsonl")
    code, _, stderr = run_cli(["ingest", str(batch), "--vendor", "acme"], cwd=repo)
    assert code == 0, stderr
    manifest = yaml.safe_load((repo / "datasets_manifest" / "batches" / "acme" / "b-git.yaml").read_text())
    digest = manifest["sha256"]
    assert (repo / "datasets_manifest" / "blobs" / digest[:2] / digest).is_file()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "batch")
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert not (clone / ".alignment-ci").exists()
    code, stdout, stderr = run_cli(["manifest", "verify", "--format", "json"], cwd=clone)
    assert code == 0, stdout + stderr
    assert '"checked": 1' in stdout


def test_fresh_clone_without_committed_batches_names_the_fix(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    batch = write_jsonl(make_pairwise_batch(batch_id="b-lost", n_items=10, seed=1), tmp_path / "b.jsonl")
    assert run_cli(["ingest", str(batch), "--vendor", "acme"], cwd=repo)[0] == 0
    shutil.rmtree(repo / ".alignment-ci")
    (repo / "datasets_manifest" / "blobs").mkdir()  # committed-blob directory exists but lacks this batch
    result = verify_manifests(_config(repo))
    assert not result["ok"]
    assert "nor in" in result["problems"][0] and "ALIGNMENT_CI_S3_BUCKET" in result["problems"][0]
