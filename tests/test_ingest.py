from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from alignment_ci.config import Config
from alignment_ci.data.manifest import ingest_batch, snapshot, verify_manifests
from alignment_ci.errors import InputError
from alignment_ci.lineage import LineageLog
from alignment_ci.store import open_store
from alignment_ci.jsonl import write_jsonl
from alignment_ci.synth import make_bad_batch_lines, make_pairwise_batch

from .test_cli import run_cli


@pytest.fixture
def config(tmp_path: Path) -> Config:
    cfg = Config()
    cfg._root = tmp_path
    return cfg


@pytest.fixture
def good_batch(tmp_path: Path) -> Path:
    return write_jsonl(make_pairwise_batch(batch_id="b-001", n_items=30, seed=3), tmp_path / "in" / "b-001.jsonl")


def _store_files(config: Config) -> list[Path]:
    root = config.resolve(config.stores.artifacts.path)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_ingest_writes_manifest_blob_and_lineage(config, good_batch):
    result = ingest_batch(good_batch, "acme", config)
    assert result.accepted and not result.already_ingested
    path = config.root / "datasets_manifest" / "batches" / "acme" / "b-001.yaml"
    assert result.manifest_path == path
    manifest = yaml.safe_load(path.read_text())
    assert manifest["batch_id"] == "b-001" and manifest["vendor"] == "acme"
    assert manifest["task_type"] == "pairwise"
    assert manifest["rows"] == 150 and manifest["items"] == 30
    assert set(manifest["dimensions"]) == {"helpfulness", "factual_accuracy"}
    assert sum(d["rows"] for d in manifest["dimensions"].values()) == 150
    assert manifest["source"]["sha256"] == hashlib.sha256(good_batch.read_bytes()).hexdigest()
    store = open_store(config)
    assert store.has_blob(manifest["sha256"])
    assert manifest["sampling"]["buckets"]["production_failure"] > 0
    entries = LineageLog(store).entries()
    assert [e.kind for e in entries] == ["ingest"]
    assert entries[0].subject == manifest["sha256"]


def test_rejected_batch_writes_nothing(config, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(make_bad_batch_lines("b-002")) + "\n")
    result = ingest_batch(bad, "acme", config)
    assert not result.accepted
    assert not (config.root / "datasets_manifest").exists()
    assert _store_files(config) == []


def test_reingest_identical_is_noop(config, good_batch):
    first = ingest_batch(good_batch, "acme", config)
    second = ingest_batch(good_batch, "acme", config)
    assert second.accepted and second.already_ingested
    assert second.manifest["sha256"] == first.manifest["sha256"]
    assert len(LineageLog(open_store(config)).entries()) == 1


def test_different_content_under_existing_batch_id_is_an_error(config, good_batch, tmp_path):
    ingest_batch(good_batch, "acme", config)
    other = write_jsonl(make_pairwise_batch(batch_id="b-001", n_items=31, seed=4), tmp_path / "other.jsonl")
    with pytest.raises(InputError, match="already exists"):
        ingest_batch(other, "acme", config)


@pytest.mark.parametrize("vendor", ["../evil", "a/b", "", ".hidden", "x" * 200])
def test_vendor_id_cannot_escape_the_manifest_dir(config, good_batch, vendor):
    with pytest.raises(InputError, match="invalid vendor"):
        ingest_batch(good_batch, vendor, config)


def test_manifest_verify_catches_tampered_blob(config, good_batch):
    result = ingest_batch(good_batch, "acme", config)
    assert verify_manifests(config)["ok"]
    digest = result.manifest["sha256"]
    (blob,) = [p for p in _store_files(config) if p.name == digest or p.name.startswith(digest)]
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    report = verify_manifests(config)
    assert not report["ok"]
    assert "corrupt" in report["problems"][0] and "b-001.yaml" in report["problems"][0]


def test_manifest_verify_catches_edited_row_count(config, good_batch):
    result = ingest_batch(good_batch, "acme", config)
    manifest = yaml.safe_load(result.manifest_path.read_text())
    manifest["rows"] = 149
    result.manifest_path.write_text(yaml.safe_dump(manifest))
    report = verify_manifests(config)
    assert report["problems"] == [f"{result.manifest_path}: manifest says 149 rows, stored batch has 150"]


def test_snapshot_is_hash_of_sorted_batch_hashes(config, good_batch, tmp_path):
    a = ingest_batch(good_batch, "acme", config).manifest["sha256"]
    second = write_jsonl(make_pairwise_batch(batch_id="b-003", n_items=10, seed=9), tmp_path / "b3.jsonl")
    b = ingest_batch(second, "globex", config).manifest["sha256"]
    expected = hashlib.sha256("\n".join(sorted([a, b])).encode()).hexdigest()
    assert snapshot(config)["snapshot"] == expected


def test_cli_ingest_and_verify(tmp_path, good_batch):
    (tmp_path / "alignment.yaml").write_text("project: t\n")
    ok = run_cli("ingest", str(good_batch), "--vendor", "acme", "--format", "json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["accepted"] is True and data["manifest"]["rows"] == 150
    verify = run_cli("manifest", "verify", "--format", "json", cwd=tmp_path)
    assert verify.returncode == 0 and json.loads(verify.stdout)["checked"] == 1
    lineage = run_cli("lineage", "verify", "--format", "json", cwd=tmp_path)
    assert lineage.returncode == 0, lineage.stdout + lineage.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(make_bad_batch_lines("b-009")) + "\n")
    rejected = run_cli("ingest", str(bad), "--vendor", "acme", "--format", "json", cwd=tmp_path)
    assert rejected.returncode == 1
    assert json.loads(rejected.stdout)["accepted"] is False
    traversal = run_cli("ingest", str(good_batch), "--vendor", "../x", cwd=tmp_path)
    assert traversal.returncode == 2 and "invalid vendor" in traversal.stderr
