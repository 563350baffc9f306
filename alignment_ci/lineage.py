"""The lineage log: an append-only, hash-chained audit log kept in the artifact store.

Each entry records one event (``kind``: ``ingest``, ``train``, ...) about a ``subject``
(a batch's sha256, a model artifact's hash, ...) and the ``inputs`` it came from
(hashes of other subjects), with free-form ``data``, a UTC ``timestamp``, its ``seq``
(1, 2, 3, ...), ``prev`` (the previous entry's hash; 64 zeros for the first) and its
own ``hash``: the sha256 of the entry's canonical JSON without the ``hash`` field
(sorted keys, compact separators, UTF-8; see :func:`alignment_ci.store.canonical_json`).
This is the hash chain of Haber & Stornetta (1991), "How to time-stamp a digital
document", as used by append-only logs such as Certificate Transparency.

Storage: every entry is a write-once store record ``records/lineage/<seq, 12 digits>.json``.
Appending is safe under concurrency on both backends: a writer reads the head, tries
to create the next seq's record, and when another writer created it first (the store
refuses the second write, atomically) it re-reads the head and retries with the next
seq. :meth:`LineageLog.to_jsonl` produces the JSONL view, one entry per line, and
:func:`verify_jsonl` checks an exported copy.

:meth:`LineageLog.verify` detects, and names the seq of:

* an edited entry (its content no longer matches its hash);
* an edited entry whose hash was recomputed (the next entry's ``prev`` breaks);
* a dropped entry, in the middle (a gap in seq, or a broken ``prev`` if renumbered);
* reordered entries (a record holding another seq, or a broken ``prev``);
* unreadable records and stray records in the log.

What it cannot detect without an anchor kept somewhere else: removal of the *last*
entries (truncation of the tail) and a wholesale rewrite of the chain from some entry
on with every hash recomputed. Pass ``expected_head`` (an entry hash recorded
elsewhere earlier, e.g. in a PR report or a git commit) to catch both: the log must
still contain that entry. Two appends of byte-identical entries (same event, same
microsecond, same head) collapse into one entry.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError, IntegrityError, StoreError
from .store import open_store
from .ids import check_id
from .store.base import ArtifactStore, WriteConflict, canonical_json, sha256_hex

if TYPE_CHECKING:
    from .config import Config

GENESIS = "0" * 64
"""``prev`` of the first entry."""

LOG_NAME = "lineage"
"""Record kind under which the entries are stored."""

SEQ_WIDTH = 12
_FIELDS = ("seq", "kind", "subject", "inputs", "data", "timestamp", "prev", "hash")


def entry_hash(entry: dict[str, Any]) -> str:
    """sha256 of the entry's canonical JSON, the ``hash`` field left out."""
    return sha256_hex(canonical_json({k: v for k, v in entry.items() if k != "hash"}))


def seq_key(seq: int) -> str:
    """Record key of entry ``seq``: zero-padded so that key order is seq order."""
    return f"{seq:0{SEQ_WIDTH}d}"


@dataclass(frozen=True)
class LineageEntry:
    """One event in the log."""

    seq: int
    kind: str
    subject: str
    inputs: tuple[str, ...]
    data: dict[str, Any]
    timestamp: str
    prev: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "subject": self.subject,
            "inputs": list(self.inputs),
            "data": self.data,
            "timestamp": self.timestamp,
            "prev": self.prev,
            "hash": self.hash,
        }

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "LineageEntry":
        problem = _shape_problem(obj)
        if problem:
            raise IntegrityError(f"lineage entry {obj.get('seq', '?')!r}: {problem}; run `alignment-ci lineage verify`")
        return cls(
            seq=obj["seq"],
            kind=obj["kind"],
            subject=obj["subject"],
            inputs=tuple(obj["inputs"]),
            data=obj["data"],
            timestamp=obj["timestamp"],
            prev=obj["prev"],
            hash=obj["hash"],
        )


@dataclass(frozen=True)
class Problem:
    """One defect found by verification, at entry ``seq`` (None: not tied to an entry)."""

    seq: int | None
    message: str


@dataclass
class VerifyResult:
    """Outcome of :meth:`LineageLog.verify` / :func:`verify_entries`."""

    entries: int
    head: str | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        return min((p.seq for p in self.problems if p.seq is not None), default=None)

    def summary(self) -> str:
        if self.ok:
            return f"lineage log OK: {self.entries} entries, head {self.head or '(empty)'}"
        lines = [f"lineage log is BROKEN ({len(self.problems)} problems; first bad entry: seq {self.first_bad_seq}):"]
        lines += [f"  seq {p.seq}: {p.message}" if p.seq is not None else f"  {p.message}" for p in self.problems]
        return "\n".join(lines)

    def raise_for_problems(self) -> None:
        """Raise :class:`IntegrityError` with :meth:`summary` when a problem was found."""
        if self.problems:
            raise IntegrityError(self.summary())

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "checked": self.entries,
            "head": self.head,
            "first_bad_seq": self.first_bad_seq,
            "problems": [{"seq": p.seq, "message": p.message} for p in self.problems],
        }


def _shape_problem(obj: Any) -> str | None:
    """Why ``obj`` is not a well-formed entry, or None."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    missing = [f for f in _FIELDS if f not in obj]
    if missing:
        return f"missing fields {', '.join(missing)}"
    extra = sorted(set(obj) - set(_FIELDS))
    if extra:
        return f"unexpected fields {', '.join(extra)}"
    if not isinstance(obj["seq"], int) or isinstance(obj["seq"], bool) or obj["seq"] < 1:
        return "seq is not a positive integer"
    for name in ("kind", "subject", "timestamp", "prev", "hash"):
        if not isinstance(obj[name], str):
            return f"{name} is not a string"
    if not isinstance(obj["inputs"], list) or not all(isinstance(i, str) for i in obj["inputs"]):
        return "inputs is not a list of strings"
    if not isinstance(obj["data"], dict):
        return "data is not an object"
    return None


def verify_entries(
    items: Iterable[tuple[int | None, Any]],
    expected_head: str | None = None,
) -> VerifyResult:
    """Check a sequence of entries, in log order, for edits, gaps, reordering and a missing anchor.

    ``items`` yields ``(stored_seq, entry)``: ``stored_seq`` is the seq that the storage
    location claims (the record key) or None where there is none (a JSONL line);
    ``entry`` is the parsed object, or an exception when it could not be read.
    """
    problems: list[Problem] = []
    expected = 1
    prev_hash: str | None = GENESIS
    hashes: set[str] = set()
    count = 0
    head: str | None = None
    for stored_seq, obj in items:
        count += 1
        position = stored_seq if stored_seq is not None else expected
        if isinstance(obj, BaseException):
            problems.append(Problem(position, f"entry {position} cannot be read: {obj}"))
            prev_hash, expected, head = None, position + 1, None
            continue
        shape = _shape_problem(obj)
        if shape:
            problems.append(Problem(position, f"entry {position} is malformed: {shape}"))
            prev_hash, expected, head = None, position + 1, None
            continue
        seq = obj["seq"]
        gap = False
        if stored_seq is not None:
            if stored_seq > expected:
                missing = f"entry {expected} is" if stored_seq == expected + 1 else f"entries {expected}..{stored_seq - 1} are"
                problems.append(
                    Problem(expected, f"{missing} missing: the log goes from entry {expected - 1} to entry {stored_seq}")
                )
                gap = True
            if seq != stored_seq:
                problems.append(
                    Problem(stored_seq, f"the record for entry {stored_seq} holds entry {seq}: entries were moved or swapped")
                )
            position = stored_seq
        elif seq != expected:
            problems.append(
                Problem(expected, f"expected entry {expected} here but found entry {seq}: entries were dropped or reordered")
            )
            position = seq
        if entry_hash(obj) != obj["hash"]:
            problems.append(Problem(position, f"entry {position} was edited: its content does not match its hash"))
        if prev_hash is not None and not gap and obj["prev"] != prev_hash:
            problems.append(
                Problem(
                    position,
                    f"entry {position}'s prev does not match the hash of the entry before it: "
                    f"an earlier entry was edited, removed or reordered",
                )
            )
        prev_hash = obj["hash"]
        hashes.add(obj["hash"])
        head = obj["hash"]
        expected = position + 1
    if expected_head is not None and expected_head not in hashes:
        problems.append(
            Problem(
                expected,
                f"the anchored entry {expected_head} is not in the log: the log was truncated or rewritten",
            )
        )
    return VerifyResult(entries=count, head=head, problems=problems)


class LineageLog:
    """The append-only lineage log of one artifact store."""

    def __init__(self, store: ArtifactStore, name: str = LOG_NAME) -> None:
        self.store = store
        self.name = name
        self._hint: tuple[int, str] | None = None  # last (seq, hash) known to exist

    # ---------------------------------------------------------------- append
    def append(
        self,
        kind: str,
        subject: str,
        inputs: Sequence[str] = (),
        data: dict[str, Any] | None = None,
        *,
        once: str | None = None,
        max_attempts: int = 200,
    ) -> LineageEntry:
        """Append one entry and return it. Safe with concurrent appenders (processes or threads).

        ``once`` makes the append idempotent: a second append with the same key (the same
        event retried, e.g. a publish resumed after a crash) returns the first entry instead
        of logging the event twice. The key is kept in the entry's ``data["once"]`` and in two
        write-once records (``<log>-once/<key>.intent`` before, ``.done`` after); only when a
        crash fell between the two is the log's tail searched for the entry.
        """
        if once is not None:
            return self._append_once(once, kind, subject, inputs, data, max_attempts)
        if not isinstance(kind, str) or not kind:
            raise InputError("a lineage entry needs a non-empty kind (e.g. 'ingest', 'train')")
        if not isinstance(subject, str) or not subject:
            raise InputError("a lineage entry needs a non-empty subject (e.g. a batch sha256 or an artifact hash)")
        if isinstance(inputs, str) or not all(isinstance(i, str) for i in inputs):
            raise InputError("lineage inputs must be a list of hash strings")
        data = dict(data or {})
        canonical_json(data)  # refuse non-JSON data before touching the store
        for attempt in range(max_attempts):
            seq, prev = self._head()
            body: dict[str, Any] = {
                "seq": seq + 1,
                "kind": kind,
                "subject": subject,
                "inputs": list(inputs),
                "data": data,
                "timestamp": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
                "prev": prev,
            }
            body["hash"] = entry_hash(body)
            try:
                self.store.put_record(self.name, seq_key(seq + 1), body)
            except WriteConflict:
                # Another appender took this seq; re-read the head and try the next one.
                if attempt >= 3:
                    time.sleep(random.uniform(0, min(0.2, 0.005 * attempt)))
                continue
            self._hint = (seq + 1, body["hash"])
            return LineageEntry.from_dict(body)
        raise StoreError(f"could not append to the lineage log after {max_attempts} attempts (heavy contention); retry")

    def _append_once(self, once: str, kind: str, subject: str, inputs: Sequence[str], data: dict[str, Any] | None,
                     max_attempts: int) -> LineageEntry:
        marks = f"{self.name}-once"
        key = check_id(once, "lineage once-key", max_len=128)
        done = self.store.get_record(marks, f"{key}.done")
        if done is not None:
            found = self.store.get_record(self.name, seq_key(int(done["seq"])))
            if found is not None:
                return LineageEntry.from_dict(found)
        if self.store.get_record(marks, f"{key}.intent") is not None:
            entry = self._find_once(key)  # a crash between the append and its .done mark
            if entry is not None:
                self.store.put_record(marks, f"{key}.done", {"seq": entry.seq})
                return entry
        self.store.put_record(marks, f"{key}.intent", {"once": key})
        entry = self.append(kind, subject, inputs, {**(data or {}), "once": key}, max_attempts=max_attempts)
        self.store.put_record(marks, f"{key}.done", {"seq": entry.seq})
        return entry

    def _find_once(self, key: str, lookback: int = 10_000) -> LineageEntry | None:
        """The entry with ``data["once"] == key`` among the last ``lookback`` entries, newest first."""
        seq, _ = self._head()
        for s in range(seq, max(0, seq - lookback), -1):
            obj = self.store.get_record(self.name, seq_key(s))
            if isinstance(obj, dict) and isinstance(obj.get("data"), dict) and obj["data"].get("once") == key:
                return LineageEntry.from_dict(obj)
        return None

    def _head(self) -> tuple[int, str]:
        """(seq, hash) of the last entry, (0, GENESIS) for an empty log."""
        if self._hint is not None:
            seq, prev = self._hint
        else:
            seq, prev = 0, GENESIS
            keys = self._keys()[0]
            if keys:
                seq = int(keys[-1])
                prev = self._hash_of(seq)
        while True:
            nxt = self.store.get_record(self.name, seq_key(seq + 1))
            if nxt is None:
                return seq, prev
            seq += 1
            prev = self._hash_from(seq, nxt)

    def _hash_of(self, seq: int) -> str:
        obj = self.store.get_record(self.name, seq_key(seq))
        if obj is None:
            raise IntegrityError(f"lineage entry {seq} vanished while appending; run `alignment-ci lineage verify`")
        return self._hash_from(seq, obj)

    @staticmethod
    def _hash_from(seq: int, obj: dict[str, Any]) -> str:
        h = obj.get("hash")
        if not isinstance(h, str) or len(h) != 64:
            raise IntegrityError(
                f"lineage entry {seq} has no valid hash, so nothing can be chained after it; "
                "run `alignment-ci lineage verify`"
            )
        return h

    # ------------------------------------------------------------------ read
    def _keys(self) -> tuple[list[str], list[str]]:
        """(entry keys in order, stray keys that are not seq numbers)."""
        keys = self.store.list_records(self.name)
        entries = [k for k in keys if k.isdigit() and len(k) == SEQ_WIDTH]
        return entries, [k for k in keys if k not in set(entries)]

    def _items(self) -> Iterator[tuple[int | None, Any]]:
        for key in self._keys()[0]:
            try:
                obj: Any = self.store.get_record(self.name, key)
            except IntegrityError as exc:
                obj = exc
            yield int(key), obj

    def entries(self) -> list[LineageEntry]:
        """All entries in seq order (IntegrityError on a malformed one: run :meth:`verify`)."""
        out = []
        for stored_seq, obj in self._items():
            if isinstance(obj, BaseException):
                raise IntegrityError(f"lineage entry {stored_seq}: {obj}; run `alignment-ci lineage verify`")
            out.append(LineageEntry.from_dict(obj))
        return out

    def head(self) -> LineageEntry | None:
        """The last entry, or None for an empty log."""
        seq, _ = self._head()
        if seq == 0:
            return None
        obj = self.store.get_record(self.name, seq_key(seq))
        return LineageEntry.from_dict(obj) if obj is not None else None

    def verify(self, expected_head: str | None = None) -> VerifyResult:
        """Check the whole chain; see the module docstring for what is and is not detected."""
        result = verify_entries(self._items(), expected_head=expected_head)
        for key in self._keys()[1]:
            result.problems.append(
                Problem(None, f"stray record {key!r} in the lineage log: entry keys are {SEQ_WIDTH}-digit seq numbers")
            )
        return result

    def walk(self, subject: str) -> list[LineageEntry]:
        """Entries about ``subject`` and, transitively through ``inputs``, what it came from.

        Breadth-first from ``subject``: a model artifact's ``train`` entry, then the
        entries of its inputs (datasets, batches and their ``ingest`` entries, which
        name vendors and raters), and so on. Each entry appears once; an empty list
        means the log knows nothing about ``subject``.
        """
        by_subject: dict[str, list[LineageEntry]] = defaultdict(list)
        for entry in self.entries():
            by_subject[entry.subject].append(entry)
        out: list[LineageEntry] = []
        seen_subjects = {subject}
        queue = [subject]
        while queue:
            current = queue.pop(0)
            for entry in by_subject.get(current, []):
                out.append(entry)
                for parent in entry.inputs:
                    if parent not in seen_subjects:
                        seen_subjects.add(parent)
                        queue.append(parent)
        return out

    def to_jsonl(self) -> str:
        """The log as JSONL: one canonical JSON entry per line, in seq order."""
        lines = []
        for _, obj in self._items():
            if isinstance(obj, BaseException):
                raise IntegrityError(f"cannot export the lineage log: {obj}; run `alignment-ci lineage verify`")
            lines.append(canonical_json(obj).decode("utf-8"))
        return "".join(line + "\n" for line in lines)

    def export_jsonl(self, path: str | Path) -> Path:
        """Write :meth:`to_jsonl` to ``path``."""
        path = Path(path)
        path.write_text(self.to_jsonl(), encoding="utf-8")
        return path


def read_jsonl_entries(path: str | Path) -> list[tuple[int | None, Any]]:
    """Parse an exported log for :func:`verify_entries` (unparseable lines become exceptions)."""
    items: list[tuple[int | None, Any]] = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the lineage export ({exc})") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((None, json.loads(line)))
        except json.JSONDecodeError as exc:
            items.append((None, ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})")))
    return items


def verify_jsonl(path: str | Path, expected_head: str | None = None) -> VerifyResult:
    """Verify an exported JSONL copy of the log."""
    return verify_entries(read_jsonl_entries(path), expected_head=expected_head)


def open_lineage(config: "Config") -> LineageLog:
    """The lineage log of the configured artifact store."""

    return LineageLog(open_store(config))
