"""The hash-chained lineage log, on the file and the S3 (moto) backends."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from alignment_ci.errors import InputError, IntegrityError
from alignment_ci.lineage import (
    GENESIS,
    LineageLog,
    Problem,
    entry_hash,
    open_lineage,
    seq_key,
    verify_jsonl,
)
from alignment_ci.config import parse_config
from alignment_ci.store import canonical_json
from tests.s3server import (  # noqa: F401  (fixtures)
    artifact_store,
    moto_endpoint,
    raw_delete,
    raw_keys,
    raw_read,
    raw_write,
    s3_target,
)


def entry_key(seq: int) -> str:
    return f"records/lineage/{seq_key(seq)}.json"


def read_entry(store: Any, seq: int) -> dict[str, Any]:
    return json.loads(raw_read(store, entry_key(seq)))


def write_entry(store: Any, seq: int, obj: dict[str, Any]) -> None:
    raw_write(store, entry_key(seq), canonical_json(obj))


@pytest.fixture
def log5(artifact_store: Any) -> LineageLog:
    """A log of five ingest entries."""
    log = LineageLog(artifact_store)
    for i in range(1, 6):
        log.append("ingest", f"batch-{i}", data={"vendor": "acme", "n": i})
    return log


def test_append_builds_a_chain(artifact_store: Any) -> None:
    log = LineageLog(artifact_store)
    e1 = log.append("ingest", "a" * 64, data={"vendor": "acme", "raters": ["r1", "r2"]})
    e2 = log.append("train", "b" * 64, inputs=["a" * 64], data={"stage": "reward"})
    assert (e1.seq, e1.prev) == (1, GENESIS)
    assert (e2.seq, e2.prev) == (2, e1.hash)
    assert e1.hash == entry_hash(e1.to_dict())
    assert log.entries() == [e1, e2]
    assert log.head() == e2
    assert raw_keys(artifact_store) == [entry_key(1), entry_key(2)]
    result = log.verify()
    assert result.ok and result.entries == 2 and result.head == e2.hash
    assert result.summary() == f"lineage log OK: 2 entries, head {e2.hash}"
    # A fresh reader (another process) continues the same chain.
    e3 = LineageLog(artifact_store).append("ingest", "c" * 64)
    assert (e3.seq, e3.prev) == (3, e2.hash)


def test_empty_log_verifies(artifact_store: Any) -> None:
    log = LineageLog(artifact_store)
    assert log.verify().ok and log.verify().entries == 0 and log.head() is None


def test_verify_catches_an_edited_entry(log5: LineageLog) -> None:
    entry = read_entry(log5.store, 3)
    entry["data"]["vendor"] = "evil"
    write_entry(log5.store, 3, entry)
    result = log5.verify()
    assert result.problems == [Problem(3, "entry 3 was edited: its content does not match its hash")]
    assert result.first_bad_seq == 3
    with pytest.raises(IntegrityError, match="first bad entry: seq 3"):
        result.raise_for_problems()


def test_verify_catches_an_edit_with_a_recomputed_hash(log5: LineageLog) -> None:
    entry = read_entry(log5.store, 3)
    entry["data"]["vendor"] = "evil"
    entry["hash"] = entry_hash(entry)
    write_entry(log5.store, 3, entry)
    assert [p.seq for p in log5.verify().problems] == [4]
    assert "entry 4's prev does not match the hash of the entry before it" in log5.verify().problems[0].message


def test_verify_catches_a_dropped_middle_entry(log5: LineageLog) -> None:
    raw_delete(log5.store, entry_key(3))
    result = log5.verify()
    assert result.problems == [Problem(3, "entry 3 is missing: the log goes from entry 2 to entry 4")]
    assert result.entries == 4


def test_verify_catches_a_dropped_entry_hidden_by_renumbering(log5: LineageLog) -> None:
    store = log5.store
    later = [read_entry(store, s) for s in (4, 5)]
    raw_delete(store, entry_key(5))
    for new_seq, entry in zip((3, 4), later):
        entry["seq"] = new_seq
        entry["hash"] = entry_hash(entry)
        write_entry(store, new_seq, entry)
    assert [p.seq for p in log5.verify().problems] == [3, 4]


def test_verify_catches_two_swapped_entries(log5: LineageLog) -> None:
    store = log5.store
    e2, e3 = read_entry(store, 2), read_entry(store, 3)
    write_entry(store, 2, e3)
    write_entry(store, 3, e2)
    result = log5.verify()
    assert result.first_bad_seq == 2
    assert result.problems[0] == Problem(2, "the record for entry 2 holds entry 3: entries were moved or swapped")
    assert {p.seq for p in result.problems} == {2, 3, 4}


def test_verify_catches_swapped_entries_renumbered_and_rehashed(log5: LineageLog) -> None:
    store = log5.store
    e2, e3 = read_entry(store, 2), read_entry(store, 3)
    for seq, entry in ((2, e3), (3, e2)):
        entry["seq"] = seq
        entry["hash"] = entry_hash(entry)
        write_entry(store, seq, entry)
    assert log5.verify().first_bad_seq == 2


def test_tail_truncation_needs_an_anchor(log5: LineageLog) -> None:
    head = log5.head()
    assert head is not None and head.seq == 5
    raw_delete(log5.store, entry_key(5))
    assert LineageLog(log5.store).verify().ok  # documented limitation
    result = LineageLog(log5.store).verify(expected_head=head.hash)
    assert result.problems == [
        Problem(5, f"the anchored entry {head.hash} is not in the log: the log was truncated or rewritten")
    ]


def test_unreadable_and_stray_records_are_reported(log5: LineageLog) -> None:
    raw_write(log5.store, entry_key(2), b"\xff\xfe garbage")
    raw_write(log5.store, "records/lineage/notes.json", b"{}")
    result = log5.verify()
    assert [p.seq for p in result.problems] == [2, None]
    assert result.problems[0].message.startswith("entry 2 cannot be read: record lineage/000000000002 is not valid JSON")
    assert "stray record 'notes'" in result.problems[1].message
    with pytest.raises(IntegrityError, match="lineage entry 2"):
        log5.entries()


def test_concurrent_appends_lose_nothing(artifact_store: Any) -> None:
    threads, per_thread = 4, 8
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def appender(t: int) -> None:
        log = LineageLog(artifact_store)  # one log object per writer, as separate processes would have
        barrier.wait()
        try:
            for i in range(per_thread):
                log.append("ingest", f"batch-{t}-{i}", data={"thread": t, "i": i})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    workers = [threading.Thread(target=appender, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert errors == []
    log = LineageLog(artifact_store)
    result = log.verify()
    assert result.ok, result.summary()
    entries = log.entries()
    assert [e.seq for e in entries] == list(range(1, threads * per_thread + 1))
    assert sorted(e.subject for e in entries) == sorted(f"batch-{t}-{i}" for t in range(threads) for i in range(per_thread))
    for t in range(threads):  # each writer's own entries stay in its order
        mine = [e.data["i"] for e in entries if e.data["thread"] == t]
        assert mine == list(range(per_thread))


def test_walk_goes_back_from_a_model_to_batches_and_raters(artifact_store: Any) -> None:
    log = LineageLog(artifact_store)
    b1 = log.append("ingest", "sha-b1", data={"vendor": "acme", "raters": ["r1", "r2"]})
    b2 = log.append("ingest", "sha-b2", data={"vendor": "beta", "raters": ["r3"]})
    log.append("ingest", "sha-b3", data={"vendor": "acme", "raters": ["r9"]})
    ds = log.append("dataset", "sha-ds", inputs=["sha-b1", "sha-b2"])
    rm = log.append("train", "sha-rm", inputs=["sha-ds"], data={"stage": "reward"})
    policy = log.append("train", "sha-policy", inputs=["sha-rm", "sha-ds"], data={"stage": "dpo"})
    chain = log.walk("sha-policy")
    assert [e.seq for e in chain] == [policy.seq, rm.seq, ds.seq, b1.seq, b2.seq]
    raters = sorted(r for e in chain for r in e.data.get("raters", []))
    assert raters == ["r1", "r2", "r3"]
    assert log.walk("sha-b1") == [b1]
    assert log.walk("unknown") == []


def test_append_rejects_bad_input_and_writes_nothing(artifact_store: Any) -> None:
    log = LineageLog(artifact_store)
    with pytest.raises(InputError, match="not plain JSON"):
        log.append("ingest", "s", data={"x": float("inf")})
    with pytest.raises(InputError, match="list of hash strings"):
        log.append("train", "s", inputs="abc")
    with pytest.raises(InputError, match="non-empty subject"):
        log.append("train", "")
    assert raw_keys(artifact_store) == []


def test_jsonl_export_verifies_and_catches_tampering(log5: LineageLog, tmp_path: Path) -> None:
    path = log5.export_jsonl(tmp_path / "lineage.jsonl")
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["seq"] == 1
    assert verify_jsonl(path).ok

    swapped = tmp_path / "swapped.jsonl"
    swapped.write_text("\n".join([lines[0], lines[2], lines[1], *lines[3:]]) + "\n")
    result = verify_jsonl(swapped)
    assert result.problems[0] == Problem(
        2, "expected entry 2 here but found entry 3: entries were dropped or reordered"
    )

    dropped = tmp_path / "dropped.jsonl"
    dropped.write_text("\n".join([*lines[:2], *lines[3:]]) + "\n")
    assert verify_jsonl(dropped).first_bad_seq == 3

    edited = tmp_path / "edited.jsonl"
    entry = json.loads(lines[3])
    entry["subject"] = "other"
    edited.write_text("\n".join([*lines[:3], json.dumps(entry), lines[4]]) + "\n")
    assert verify_jsonl(edited).problems == [Problem(4, "entry 4 was edited: its content does not match its hash")]


def test_open_lineage_uses_the_configured_store(tmp_path: Path) -> None:
    config = parse_config("stores:\n  artifacts:\n    path: st\n", root=tmp_path)
    entry = open_lineage(config).append("ingest", "sha-x")
    assert json.loads((tmp_path / "st" / entry_key(1)).read_text())["hash"] == entry.hash
