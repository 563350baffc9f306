"""The rater queue: SQLAlchemy 2 tables and the functions the rater bridge calls.

One schema serves SQLite (the embedded default, ``bridge.database_url`` resolved against
the directory of alignment.yaml) and PostgreSQL (by URL, driver psycopg 3). Every
function takes a :class:`~sqlalchemy.orm.Session` and **does not commit**: wrap each call
in :func:`session_scope` (commit on success, roll back on error) or in
``with session.begin():``, so a claim and its assignment are written together or not at all.

Tables (all prefixed ``queue_`` so they share a database with the bridge's own)::

    queue_items              one labeling task: prompt, responses, dimension, bucket, reason,
                             priority, severity, expedited, sensitive_category, is_gold and the
                             gold answer (server-side only), status queued|assigned|done|released
    queue_raters             (vendor, rater_id), opted-out sensitive categories, daily quota
    queue_rater_dimensions   per rater and dimension: calibrating|passed|failed, attempts, accuracy
    queue_assignments        who holds what: task, kind (task|gold|calibration), vendor, rater,
                             assigned_at, released_at, completed_at, exposure date and category
    queue_calibration_items  onboarding (shown with the answer) and calibration (graded) items
                             per dimension

API (``now`` defaults to the current UTC time everywhere)::

    engine = open_queue(config)                      # or make_engine(url); create_schema(engine)
    with session_scope(engine) as s:
        enqueue(s, items)                            -> EnqueueResult(ids, skipped)
        register_rater(s, vendor, rater_id, opt_outs=[...], daily_sensitive_quota=N)
        add_calibration_items(s, dimension, items, phase="calibration"|"onboarding")
        next_tasks(s, vendor, rater_id, n, gold_rate, now)   -> list of task payloads
        record_calibration_result(s, vendor, rater_id, dimension, answers)
        complete_task(s, vendor, task_id, answer=...)        -> {"kind", "gold_correct", ...}
        release_task(s, vendor, task_id)                      # only the owning vendor
        expire_assignments(s, ttl_minutes)                    # stale assignments back to the pool
        export_queue(s, status=..., ...)                      -> list of rows
        queue_stats(s)

Guarantees:

* **No double assignment.** A task is claimed with a conditional ``UPDATE queue_items SET
  status='assigned' WHERE id=:id AND status IN ('queued','released')`` whose row count
  must be 1; on PostgreSQL the candidate ``SELECT`` also takes ``FOR UPDATE SKIP LOCKED``
  so concurrent callers skip each other's rows instead of waiting. On SQLite,
  :func:`make_engine` starts every transaction with ``BEGIN IMMEDIATE``.
* **Gold is indistinguishable.** A payload has the same keys for real and gold tasks
  (``task_id, dimension, task_type, prompt, responses, content_warning, phase``); task ids
  are opaque random hex; ``is_gold``, the gold answer, bucket, reason and priority never
  leave the server. Gold is mixed in so that each rater's running count of gold is
  ``floor(gold_rate * tasks served)`` (a call of ``n`` reserves ``floor(gold_rate *
  (served + n)) - gold served`` slots, capped so that an empty queue does not hand out
  gold alone), and the payload order is shuffled.
* **Onboarding first.** A rater new to a dimension that has a calibration set gets its
  onboarding and calibration items (``phase`` says which) and real tasks of that
  dimension only after :func:`record_calibration_result` records a pass. Dimensions
  without a calibration set need none.
* **Sensitive content.** A task with a ``sensitive_category`` carries a content warning,
  is never given to a rater who opted out of the category, and counts against the
  rater's per-day exposure quota (released tasks still count: they were seen).
* A rater never gets two copies of the same source item.
"""

from __future__ import annotations

import itertools
import math
import random
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    case,
    create_engine,
    event,
    exists,
    func,
    insert,
    inspect,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from ..config import TASK_TYPES, Config
from ..data.contract import CHOICES
from ..errors import AlignmentCIError, InputError
from .settings import QueueSettings

STATUSES = ("queued", "assigned", "done", "released")
CLAIMABLE = ("queued", "released")
KINDS = ("task", "gold", "calibration")
PHASES = ("onboarding", "calibration")
GENERIC_WARNING = "This task contains sensitive content ({category})."


class QueueError(AlignmentCIError):
    """A queue operation cannot be done as asked."""


class TaskNotFound(QueueError):
    """No open assignment of that task exists (never assigned, already completed or released)."""


class NotTaskOwner(QueueError):
    """The task is assigned to another vendor."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything stored is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _new_id() -> str:
    return secrets.token_hex(16)


class Base(DeclarativeBase):
    pass


metadata = Base.metadata


class QueueItem(Base):
    __tablename__ = "queue_items"
    __table_args__ = (
        Index("ix_queue_items_claim", "status", "is_gold", "dimension", "expedited", "priority"),
        # The claim walks this index in its ORDER BY for one (status, dimension) at a time and
        # stops after LIMIT rows: no sort of the whole queue per request (see _claim_real).
        Index("ix_queue_items_claim_order", "status", "is_gold", "dimension", text("expedited DESC"),
              text("priority DESC"), "created_at", "id"),
        Index("ix_queue_items_gold", "is_gold", "dimension"),  # the gold sample reads gold rows only
        Index("ix_queue_items_source", "source_id", "dimension"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_new_id)
    source_id: Mapped[str] = mapped_column(String(200))
    copy: Mapped[int] = mapped_column(Integer, default=0)
    prompt: Mapped[str] = mapped_column(Text)
    responses: Mapped[list[Any]] = mapped_column(JSON)
    dimension: Mapped[str] = mapped_column(String(64))
    task_type: Mapped[str] = mapped_column(String(16), default="pairwise")
    bucket: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    severity: Mapped[float] = mapped_column(Float, default=0.0)
    expedited: Mapped[bool] = mapped_column(Boolean, default=False)
    sensitive_category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cohort: Mapped[str | None] = mapped_column(String(128), nullable=True)
    language: Mapped[str | None] = mapped_column(String(32), nullable=True)
    is_gold: Mapped[bool] = mapped_column(Boolean, default=False)
    gold_answer: Mapped[Any] = mapped_column(JSON, nullable=True)
    # A critic's prefilled suggestion {answer, score, model_version} or a text {hint} on a critical
    # dimension; shown only when the vendor asks for suggestions (GET /v1/tasks?suggestions=true).
    suggestion: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="queued")


class Rater(Base):
    __tablename__ = "queue_raters"
    __table_args__ = (UniqueConstraint("vendor", "rater_id", name="uq_queue_raters_vendor_rater"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vendor: Mapped[str] = mapped_column(String(128))
    rater_id: Mapped[str] = mapped_column(String(128))
    opt_outs: Mapped[list[str]] = mapped_column(JSON, default=list)
    daily_sensitive_quota: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Running counts of the real and gold tasks served (for the gold rate), kept with each claim so
    # that a request does not count the rater's whole history; None until first computed.
    served_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    served_gold: Mapped[int | None] = mapped_column(Integer, nullable=True)


class RaterDimension(Base):
    __tablename__ = "queue_rater_dimensions"
    __table_args__ = (UniqueConstraint("rater_pk", "dimension", name="uq_queue_rater_dimension"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rater_pk: Mapped[int] = mapped_column(ForeignKey("queue_raters.id", ondelete="CASCADE"))
    dimension: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="calibrating")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Assignment(Base):
    __tablename__ = "queue_assignments"
    __table_args__ = (
        Index("ix_queue_assignments_rater", "vendor", "rater_id", "exposure_date"),
        # the "already had a task of this source item" EXISTS probe, once per candidate row
        Index("ix_queue_assignments_source", "vendor", "rater_id", "source_id"),
        Index("ix_queue_assignments_task", "task_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    vendor: Mapped[str] = mapped_column(String(128))
    rater_id: Mapped[str] = mapped_column(String(128))
    dimension: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    exposure_date: Mapped[date] = mapped_column(Date)
    sensitive_category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    answer: Mapped[Any] = mapped_column(JSON, nullable=True)
    rationale: Mapped[str | None] = mapped_column(Text, nullable=True)
    gold_correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class CalibrationItem(Base):
    __tablename__ = "queue_calibration_items"
    __table_args__ = (Index("ix_queue_calibration_dimension", "dimension", "phase", "position"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_new_id)
    dimension: Mapped[str] = mapped_column(String(64))
    phase: Mapped[str] = mapped_column(String(16))
    task_type: Mapped[str] = mapped_column(String(16), default="pairwise")
    prompt: Mapped[str] = mapped_column(Text)
    responses: Mapped[list[Any]] = mapped_column(JSON)
    answer: Mapped[Any] = mapped_column(JSON)
    explanation: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --------------------------------------------------------------------------- engines


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``. ``postgresql://`` means psycopg 3; SQLite gets WAL, a 30 s busy
    timeout and ``BEGIN IMMEDIATE`` (SQLAlchemy's recipe for pysqlite), so writers queue
    instead of failing on a lock upgrade."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(parsed, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            if parsed.database not in (None, "", ":memory:"):
                cur.execute("PRAGMA journal_mode=WAL")
                # In WAL mode NORMAL syncs at checkpoints, not at every commit: a crash of the
                # process loses nothing and the database never corrupts; a power loss can undo
                # the last commits (SQLite's recommended setting for WAL). Every task claim is a
                # commit: with FULL each one waited for an fsync while holding the write lock.
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def create_schema(engine: Engine) -> None:
    """Create the queue's tables (idempotent); add the columns that later versions introduced
    (``queue_assignments.rationale``) to a database created before them."""
    metadata.create_all(engine)
    for table, column, kind in (("queue_assignments", "rationale", "TEXT"), ("queue_raters", "served_total", "INTEGER"),
                                ("queue_raters", "served_gold", "INTEGER"), ("queue_items", "suggestion", "JSON")):
        if column not in {c["name"] for c in inspect(engine).get_columns(table)}:
            with engine.begin() as conn:
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))
    existing = {i["name"] for i in inspect(engine).get_indexes("queue_items")}
    for index in QueueItem.__table__.indexes:  # indexes added since a database was created
        if index.name not in existing:
            index.create(engine, checkfirst=False)


def database_url(config: Config) -> str:
    """``bridge.database_url`` with a relative SQLite path resolved against ``config.root``."""
    url = make_url(config.bridge.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database)
        if not path.is_absolute():
            path = config.resolve(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        url = url.set(database=str(path))
    return url.render_as_string(hide_password=False)


def open_queue(config: Config) -> Engine:
    """The configured queue database, with its tables created."""
    engine = make_engine(database_url(config))
    create_schema(engine)
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits when the block ends and rolls back on an error."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# --------------------------------------------------------------------------- enqueue


@dataclass
class EnqueueResult:
    ids: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"enqueued": len(self.ids), "ids": self.ids, "skipped": self.skipped}


def _responses_of(item: Mapping[str, Any], where: str) -> tuple[list[Any], str]:
    task_type = item.get("task_type")
    if item.get("responses") is not None:
        responses = list(item["responses"])
    elif item.get("response_a") is not None and item.get("response_b") is not None:
        responses = [item["response_a"], item["response_b"]]
    elif item.get("response") is not None:
        responses = [item["response"]]
    else:
        raise InputError(f"{where}: no responses: give `responses` (a list), `response_a`/`response_b` or `response`")
    if not all(isinstance(r, str) for r in responses) or not responses:
        raise InputError(f"{where}: responses must be a non-empty list of strings")
    if task_type is None:
        task_type = "likert" if len(responses) == 1 else "pairwise" if len(responses) == 2 else "ranking"
    if task_type not in TASK_TYPES:
        raise InputError(f"{where}: task_type {task_type!r} is not one of {', '.join(TASK_TYPES)}")
    if task_type == "pairwise" and len(responses) != 2:
        raise InputError(f"{where}: a pairwise task has exactly two responses, got {len(responses)}")
    return responses, task_type


def enqueue(
    session: Session,
    items: Iterable[Mapping[str, Any]],
    *,
    copies: int = 1,
    default_dimension: str = "helpfulness",
    now: datetime | None = None,
) -> EnqueueResult:
    """Add labeling tasks; each item becomes ``copies`` tasks (one judgment each).

    An item needs ``prompt`` and responses (``responses`` list, ``response_a``/``response_b``
    or ``response``); optional: ``item_id`` (kept server-side as ``source_id``),
    ``dimension``, ``task_type``, ``bucket``, ``reason``, ``priority``, ``severity``,
    ``expedited``, ``sensitive_category``, ``cohort``, ``language``, ``is_gold`` and
    ``gold_answer`` (required for gold) and ``suggestion`` (a critic's ``{answer, score,
    model_version}``, or ``{hint}`` on a critical dimension). An item whose ``(item_id, dimension)`` is already
    in the queue is skipped (listed in ``skipped``), so re-running a plan is harmless.
    """
    if copies < 1:
        raise InputError(f"copies must be at least 1, got {copies}")
    now = now or utcnow()
    result = EnqueueResult()
    for index, item in enumerate(items):
        where = f"item {index + 1}" + (f" ({item.get('item_id')})" if item.get("item_id") else "")
        prompt = item.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError(f"{where}: prompt must be a non-empty string")
        responses, task_type = _responses_of(item, where)
        dimension = item.get("dimension") or default_dimension
        is_gold = bool(item.get("is_gold", False))
        if is_gold and item.get("gold_answer") is None:
            raise InputError(f"{where}: a gold item needs its gold_answer")
        suggestion = item.get("suggestion")
        if suggestion is not None and (not isinstance(suggestion, Mapping) or not ({"answer", "hint"} & set(suggestion))
                                       or set(suggestion) - {"answer", "score", "model_version", "hint"}):
            raise InputError(f"{where}: suggestion must be an object with answer (and score, model_version) or hint")
        source_id = str(item.get("item_id") or _new_id())
        already = session.scalar(
            select(func.count()).select_from(QueueItem).where(QueueItem.source_id == source_id, QueueItem.dimension == dimension)
        )
        if already:
            result.skipped.append(source_id)
            continue
        for copy in range(1 if is_gold else copies):
            row = QueueItem(
                id=_new_id(),
                source_id=source_id,
                copy=copy,
                prompt=prompt,
                responses=responses,
                dimension=dimension,
                task_type=task_type,
                bucket=str(item.get("bucket") or ("gold" if is_gold else "")),
                reason=str(item.get("reason") or ""),
                priority=float(item.get("priority") or 0.0),
                severity=float(item.get("severity") or 0.0),
                expedited=bool(item.get("expedited", False)),
                sensitive_category=item.get("sensitive_category") or None,
                cohort=item.get("cohort"),
                language=item.get("language"),
                is_gold=is_gold,
                gold_answer=item.get("gold_answer") if is_gold else None,
                suggestion=dict(suggestion) if suggestion is not None else None,
                created_at=now,
                status="queued",
            )
            session.add(row)
            result.ids.append(row.id)
    session.flush()
    return result


# --------------------------------------------------------------------------- raters and calibration


def register_rater(
    session: Session,
    vendor: str,
    rater_id: str,
    *,
    opt_outs: Sequence[str] | None = None,
    daily_sensitive_quota: int | None = None,
    now: datetime | None = None,
) -> Rater:
    """Create the rater or update its opt-outs / quota (``None`` leaves a value as it is)."""
    rater = session.scalar(select(Rater).where(Rater.vendor == vendor, Rater.rater_id == rater_id))
    if rater is None:
        rater = Rater(vendor=vendor, rater_id=rater_id, opt_outs=sorted(set(opt_outs or [])),
                      daily_sensitive_quota=daily_sensitive_quota, created_at=now or utcnow(), served_total=0, served_gold=0)
        session.add(rater)
    else:
        if opt_outs is not None:
            rater.opt_outs = sorted(set(opt_outs))
        if daily_sensitive_quota is not None:
            rater.daily_sensitive_quota = daily_sensitive_quota
    if daily_sensitive_quota is not None and daily_sensitive_quota < 0:
        raise InputError("daily_sensitive_quota must be >= 0")
    session.flush()
    return rater


def add_calibration_items(
    session: Session, dimension: str, items: Iterable[Mapping[str, Any]], *, phase: str = "calibration"
) -> list[str]:
    """Add onboarding (``phase="onboarding"``: shown with answer and explanation) or graded
    calibration items for ``dimension``; each needs ``prompt``, responses and ``answer``."""
    if phase not in PHASES:
        raise InputError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
    start = session.scalar(select(func.coalesce(func.max(CalibrationItem.position), -1)).where(CalibrationItem.dimension == dimension)) + 1
    ids = []
    for offset, item in enumerate(items):
        where = f"{phase} item {offset + 1}"
        prompt = item.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError(f"{where}: prompt must be a non-empty string")
        responses, task_type = _responses_of(item, where)
        if item.get("answer") is None:
            raise InputError(f"{where}: needs its answer")
        row = CalibrationItem(id=_new_id(), dimension=dimension, phase=phase, task_type=task_type, prompt=prompt,
                              responses=responses, answer=item["answer"], explanation=str(item.get("explanation") or ""),
                              position=start + offset)
        session.add(row)
        ids.append(row.id)
    session.flush()
    return ids


def _rater_dimension(session: Session, rater: Rater, dimension: str) -> RaterDimension | None:
    return session.scalar(select(RaterDimension).where(RaterDimension.rater_pk == rater.id, RaterDimension.dimension == dimension))


def _has_calibration(session: Session, dimension: str) -> bool:
    return bool(session.scalar(select(func.count()).select_from(CalibrationItem).where(CalibrationItem.dimension == dimension)))


def calibration_status(session: Session, vendor: str, rater_id: str) -> dict[str, dict[str, Any]]:
    """Per dimension with a record: ``{status, attempts, accuracy}``."""
    rater = session.scalar(select(Rater).where(Rater.vendor == vendor, Rater.rater_id == rater_id))
    if rater is None:
        return {}
    rows = session.scalars(select(RaterDimension).where(RaterDimension.rater_pk == rater.id).order_by(RaterDimension.dimension))
    return {r.dimension: {"status": r.status, "attempts": r.attempts, "accuracy": r.accuracy} for r in rows}


def answers_match(task_type: str, expected: Any, given: Any) -> bool:
    """Does ``given`` equal the reference answer (choice string, integer rating, ranking list)?"""
    if given is None:
        return False
    if task_type == "likert":
        try:
            return int(given) == int(expected) and not isinstance(given, bool)
        except (TypeError, ValueError):
            return False
    if task_type == "ranking":
        return list(given) == list(expected) if isinstance(given, (list, tuple)) else False
    return given == expected


@dataclass(frozen=True)
class CalibrationResult:
    dimension: str
    passed: bool
    accuracy: float
    correct: int
    graded: int
    attempts: int
    status: str

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def record_calibration_result(
    session: Session,
    vendor: str,
    rater_id: str,
    dimension: str,
    answers: Mapping[str, Any],
    *,
    pass_accuracy: float | None = None,
    settings: QueueSettings | None = None,
    now: datetime | None = None,
) -> CalibrationResult:
    """Grade a rater's answers to the calibration items of ``dimension`` (task id -> answer).

    Every calibration item of the dimension must be answered. The rater passes when the
    share right is at least ``pass_accuracy`` (default ``queue.calibration_pass_accuracy``);
    a failed rater gets the set again until ``queue.calibration_attempts`` are used up.
    """
    settings = settings or QueueSettings()
    threshold = settings.calibration_pass_accuracy if pass_accuracy is None else pass_accuracy
    now = now or utcnow()
    rater = register_rater(session, vendor, rater_id, now=now)
    items = list(session.scalars(select(CalibrationItem).where(CalibrationItem.dimension == dimension, CalibrationItem.phase == "calibration")))
    if not items:
        raise QueueError(f"dimension {dimension!r} has no calibration items: add them with add_calibration_items")
    missing = [i.id for i in items if i.id not in answers]
    if missing:
        raise InputError(f"answers lack {len(missing)} of the {len(items)} calibration items of {dimension!r} (e.g. task {missing[0]})")
    record = _rater_dimension(session, rater, dimension)
    if record is None:
        record = RaterDimension(rater_pk=rater.id, dimension=dimension, status="calibrating", attempts=0, updated_at=now)
        session.add(record)
    if record.status == "passed":
        raise QueueError(f"rater {rater_id!r} of {vendor!r} already passed calibration for {dimension!r}")
    if record.attempts >= settings.calibration_attempts:
        raise QueueError(f"rater {rater_id!r} of {vendor!r} used all {settings.calibration_attempts} calibration attempts for {dimension!r}")
    correct = sum(answers_match(i.task_type, i.answer, answers[i.id]) for i in items)
    accuracy = correct / len(items)
    passed = accuracy >= threshold
    record.attempts += 1
    record.accuracy = accuracy
    record.status = "passed" if passed else "failed"
    record.updated_at = now
    session.execute(
        update(Assignment)
        .where(Assignment.vendor == vendor, Assignment.rater_id == rater_id, Assignment.kind == "calibration",
               Assignment.dimension == dimension, Assignment.completed_at.is_(None), Assignment.released_at.is_(None))
        .values(completed_at=now)
    )
    session.flush()
    return CalibrationResult(dimension, passed, accuracy, correct, len(items), record.attempts, record.status)


# --------------------------------------------------------------------------- next_tasks


def _warning(category: str | None, settings: QueueSettings) -> str | None:
    if not category:
        return None
    return settings.content_warnings.get(category, GENERIC_WARNING.format(category=category))


def _payload(item: Any, settings: QueueSettings, suggestions: bool = False) -> dict[str, Any]:
    # The same keys and types for real and gold tasks: nothing tells them apart.
    payload = {
        "task_id": item.id,
        "phase": "task",
        "dimension": item.dimension,
        "task_type": item.task_type,
        "prompt": item.prompt,
        "responses": list(item.responses),
        "content_warning": _warning(item.sensitive_category, settings),
    }
    if suggestions:
        payload["suggestion"] = item.suggestion
    return payload


def _calibration_payload(item: CalibrationItem) -> dict[str, Any]:
    data = {
        "task_id": item.id,
        "phase": item.phase,
        "dimension": item.dimension,
        "task_type": item.task_type,
        "prompt": item.prompt,
        "responses": list(item.responses),
        "content_warning": None,
    }
    if item.phase == "onboarding":
        data["answer"] = item.answer
        data["explanation"] = item.explanation
    return data


def _exposure_today(session: Session, vendor: str, rater_id: str, today: date) -> int:
    return int(session.scalar(
        select(func.count()).select_from(Assignment).where(
            Assignment.vendor == vendor, Assignment.rater_id == rater_id, Assignment.exposure_date == today,
            Assignment.sensitive_category.is_not(None),
        )
    ) or 0)


# The claim's hot path speaks SQLAlchemy Core on the tables: no ORM identity map, unit of work
# or per-call aliasing for rows that are read once and turned into payloads.
_ITEMS = QueueItem.__table__
_ASSIGNMENTS = Assignment.__table__
_EARLIER = _ASSIGNMENTS.alias("earlier")
_CANDIDATE_COLUMNS = [_ITEMS.c[name] for name in ("id", "source_id", "dimension", "task_type", "prompt", "responses",
                                                  "sensitive_category", "suggestion", "expedited", "priority", "created_at")]


def _seen_source(vendor: Any, rater_id: Any) -> Any:
    """A correlated EXISTS: the rater already had a task of the same source item."""
    return exists().where(_EARLIER.c.vendor == vendor, _EARLIER.c.rater_id == rater_id,
                          _EARLIER.c.source_id == _ITEMS.c.source_id)


def _candidate_query(postgres: bool, passed_over: bool, opt_outs: bool, no_sensitive: bool) -> Any:
    """The claim's candidate SELECT for one (status, dimension), with bound parameters ``vendor,
    rater_id, status, dimension, window`` (and ``passed_over``, ``opt_outs`` when asked for).
    Built once per shape (:data:`_CANDIDATE_QUERIES`): a request binds values, it builds nothing."""
    query = (
        select(*_CANDIDATE_COLUMNS)
        .where(_ITEMS.c.status == bindparam("status"), _ITEMS.c.is_gold.is_(False), _ITEMS.c.dimension == bindparam("dimension"))
        .where(~_seen_source(bindparam("vendor"), bindparam("rater_id")))
        .order_by(_ITEMS.c.expedited.desc(), _ITEMS.c.priority.desc(), _ITEMS.c.created_at, _ITEMS.c.id)
        .limit(bindparam("window", type_=Integer))
    )
    if passed_over:
        query = query.where(_ITEMS.c.id.not_in(bindparam("passed_over", expanding=True)))
    if opt_outs:
        query = query.where(or_(_ITEMS.c.sensitive_category.is_(None),
                                _ITEMS.c.sensitive_category.not_in(bindparam("opt_outs", expanding=True))))
    if no_sensitive:
        query = query.where(_ITEMS.c.sensitive_category.is_(None))
    if postgres:
        query = query.with_for_update(skip_locked=True, of=_ITEMS)
    return query


_CANDIDATE_QUERIES = {shape: _candidate_query(*shape) for shape in itertools.product((False, True), repeat=4)}
_TAKE_ROWS = (update(_ITEMS).where(_ITEMS.c.id.in_(bindparam("ids", expanding=True)), _ITEMS.c.status.in_(CLAIMABLE))
              .values(status="assigned").returning(_ITEMS.c.id))
# On SQLite the unary + keeps the planner off the status indexes: with them it ran the two IN
# lists about a hundred times slower (measured 1.7 ms against 0.02 ms for 5 rows).
_TAKE_ROWS_SQLITE = (update(_ITEMS).where(_ITEMS.c.id.in_(bindparam("ids", expanding=True)),
                                          literal_column("+queue_items.status").in_(CLAIMABLE))
                     .values(status="assigned").returning(_ITEMS.c.id))
_TAKE_ONE = update(_ITEMS).where(_ITEMS.c.id == bindparam("claim_id"), _ITEMS.c.status.in_(CLAIMABLE)).values(status="assigned")


def _assignment_row(item: Any, kind: str, rater: Rater, now: datetime) -> dict[str, Any]:
    return {"task_id": item.id, "kind": kind, "vendor": rater.vendor, "rater_id": rater.rater_id,
            "dimension": item.dimension, "source_id": item.source_id, "assigned_at": now,
            "exposure_date": now.date(), "sensitive_category": item.sensitive_category}


def _take(session: Session, ids: list[str]) -> set[str]:
    """Move the rows ``ids`` out of a claimable status in one UPDATE; the ids this call moved
    (exactly one caller can move a row: the UPDATE is conditional on the status)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return set(conn.execute(_TAKE_ROWS, {"ids": ids}).scalars())
    if conn.dialect.update_returning:  # SQLite from 3.35
        return set(conn.execute(_TAKE_ROWS_SQLITE, {"ids": ids}).scalars())
    return {i for i in ids if conn.execute(_TAKE_ONE, {"claim_id": i}).rowcount == 1}


def _calibration_tasks(session: Session, rater: Rater, dimension: str, limit: int, settings: QueueSettings, now: datetime) -> tuple[list[dict[str, Any]], bool]:
    """Calibration items to serve for ``dimension`` and whether real tasks of it are allowed."""
    if not _has_calibration(session, dimension):
        return [], True
    record = _rater_dimension(session, rater, dimension)
    if record is not None and record.status == "passed":
        return [], True
    if record is not None and record.status == "failed" and record.attempts >= settings.calibration_attempts:
        return [], False
    if limit <= 0:
        return [], False
    open_ids = select(Assignment.task_id).where(
        Assignment.vendor == rater.vendor, Assignment.rater_id == rater.rater_id, Assignment.kind == "calibration",
        Assignment.completed_at.is_(None), Assignment.released_at.is_(None),
    )
    items = list(session.scalars(
        select(CalibrationItem)
        .where(CalibrationItem.dimension == dimension, CalibrationItem.id.not_in(open_ids))
        .order_by(CalibrationItem.phase.desc(), CalibrationItem.position)  # "onboarding" > "calibration": onboarding first
        .limit(limit)
    ))
    if record is None:
        session.add(RaterDimension(rater_pk=rater.id, dimension=dimension, status="calibrating", attempts=0, updated_at=now))
    out = []
    for item in items:
        session.add(Assignment(task_id=item.id, kind="calibration", vendor=rater.vendor, rater_id=rater.rater_id,
                               dimension=dimension, source_id=None, assigned_at=now, exposure_date=now.date()))
        out.append(_calibration_payload(item))
    return out, False


def _claim_real(
    session: Session, rater: Rater, dimensions: list[str], n: int, quota_left: int, settings: QueueSettings, now: datetime
) -> list[Any]:
    """Claim up to ``n`` real tasks, best first (expedited, priority, age); returns their rows.

    One candidate query per (status, dimension) walks ``ix_queue_items_claim_order`` in the
    ORDER BY and stops at its LIMIT, so a request costs O(n) index entries whatever the queue
    size; the candidates are merged in the same order, and the chosen ones are claimed with one
    conditional UPDATE and their assignments written with one INSERT. On PostgreSQL each
    candidate query takes ``FOR UPDATE SKIP LOCKED`` (concurrent callers skip each other's
    rows instead of waiting); on SQLite the transaction holds the write lock (``BEGIN IMMEDIATE``)."""
    claimed: list[Any] = []
    passed_over: set[str] = set()
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    opt_outs = list(rater.opt_outs or [])
    while len(claimed) < n and dimensions:
        need = n - len(claimed)
        # PostgreSQL locks every row returned (SKIP LOCKED hides them from other callers until
        # commit): take only what is needed. SQLite holds the write lock anyway: a little spare
        # saves a round when some candidates are passed over (same source item, quota).
        window = need if postgres else min(settings.candidate_window, 2 * need + 2)
        candidates: list[Any] = []
        query = _CANDIDATE_QUERIES[(postgres, bool(passed_over), bool(opt_outs), quota_left <= 0)]
        params: dict[str, Any] = {"vendor": rater.vendor, "rater_id": rater.rater_id, "window": window}
        if passed_over:
            params["passed_over"] = list(passed_over)
        if opt_outs:
            params["opt_outs"] = opt_outs
        for status in CLAIMABLE:
            for dim in dimensions:
                candidates.extend(conn.execute(query, {**params, "status": status, "dimension": dim}).all())
        if not candidates:
            break
        candidates.sort(key=lambda i: (not i.expedited, -i.priority, _utc(i.created_at), i.id))
        taken_sources = {c.source_id for c in claimed}
        picked: list[Any] = []
        quota = quota_left
        for item in candidates:
            if len(claimed) + len(picked) >= n:
                break
            passed_over.add(item.id)
            if item.source_id in taken_sources or (item.sensitive_category and quota <= 0):
                continue
            picked.append(item)
            taken_sources.add(item.source_id)
            if item.sensitive_category:
                quota -= 1
        if not picked:
            continue
        won = _take(session, [item.id for item in picked])
        rows = [item for item in picked if item.id in won]
        if rows:
            conn.execute(insert(_ASSIGNMENTS), [_assignment_row(item, "task", rater, now) for item in rows])
        claimed.extend(rows)
        quota_left -= sum(1 for item in rows if item.sensitive_category)
    return claimed


_CLAIMABLE_DIMENSIONS = text(
    # A loose index scan over ix_queue_items_claim: one index seek per distinct dimension
    # instead of reading every queued row (SELECT DISTINCT would) on each request.
    "WITH RECURSIVE dims(status, d) AS ("
    " SELECT s.status, (SELECT MIN(dimension) FROM queue_items WHERE status = s.status AND is_gold = :gold)"
    " FROM (SELECT :queued AS status UNION ALL SELECT :released) AS s"
    " UNION ALL"
    " SELECT status, (SELECT MIN(dimension) FROM queue_items WHERE status = dims.status AND is_gold = :gold"
    " AND dimension > dims.d) FROM dims WHERE d IS NOT NULL)"
    " SELECT DISTINCT d FROM dims WHERE d IS NOT NULL ORDER BY d"
)


def _claimable_dimensions(session: Session) -> list[str]:
    """Dimensions with claimable real tasks, sorted."""
    params = {"gold": False, "queued": CLAIMABLE[0], "released": CLAIMABLE[1]}
    return list(session.scalars(_CLAIMABLE_DIMENSIONS, params))


def _gold_target(served_total: int, served_gold: int, n: int, gold_rate: float) -> int:
    """Gold slots in a call of ``n`` so that gold reaches ``floor(gold_rate * served)``."""
    if gold_rate <= 0:
        return 0
    return max(0, min(n, math.floor(gold_rate * (served_total + n) - served_gold + 1e-9)))


def _gold_cap(served_total: int, served_gold: int, real: int, gold_rate: float) -> int:
    """Most gold items ``g`` with ``gold + g <= gold_rate * (served + real + g)``: when the
    queue runs dry, a rater is not handed a stream of gold only."""
    if gold_rate >= 1:
        return 1 << 30
    return max(0, math.floor((gold_rate * (served_total + real) - served_gold) / (1 - gold_rate) + 1e-9))


def _pick_gold(session: Session, rater: Rater, dimensions: list[str], k: int, quota_left: int, now: datetime, rng: random.Random) -> list[Any]:
    if k <= 0:
        return []
    # A random sample drawn by the database (random() on SQLite and PostgreSQL), a few
    # times more than needed so sensitive items skipped for the quota leave enough.
    query = (
        select(*_CANDIDATE_COLUMNS)
        .where(_ITEMS.c.is_gold.is_(True), _ITEMS.c.dimension.in_(dimensions))
        .where(~_seen_source(rater.vendor, rater.rater_id))
        .order_by(func.random())
        .limit(4 * k + 8)
    )
    opt_outs = list(rater.opt_outs or [])
    if opt_outs:
        query = query.where(or_(_ITEMS.c.sensitive_category.is_(None), _ITEMS.c.sensitive_category.not_in(opt_outs)))
    if quota_left <= 0:
        query = query.where(_ITEMS.c.sensitive_category.is_(None))
    conn = session.connection()
    pool = conn.execute(query).all()
    rng.shuffle(pool)
    chosen = []
    for item in pool:
        if len(chosen) >= k:
            break
        if item.sensitive_category:
            if quota_left <= 0:
                continue
            quota_left -= 1
        chosen.append(item)
    if chosen:
        conn.execute(insert(_ASSIGNMENTS), [_assignment_row(item, "gold", rater, now) for item in chosen])
    return chosen


def next_tasks(
    session: Session,
    vendor: str,
    rater_id: str,
    n: int,
    gold_rate: float,
    now: datetime | None = None,
    *,
    dimension: str | None = None,
    settings: QueueSettings | None = None,
    rng: random.Random | None = None,
    suggestions: bool = False,
) -> list[dict[str, Any]]:
    """Up to ``n`` task payloads for one rater, claimed for ``vendor`` (with each task's
    ``suggestion`` when ``suggestions``: the critic's prefill, or a hint on a critical dimension).

    Order of business: onboarding/calibration items of dimensions the rater has not
    passed (for dimensions with queued work, or ``dimension``); then real tasks of
    eligible dimensions by expedited, priority, age; then gold at ``gold_rate`` of the
    rater's running total; the list is shuffled. See the module docstring for the
    guarantees. An unknown rater is registered with the default quota and no opt-outs.
    """
    if n < 1:
        return []
    if not 0 <= gold_rate <= 1:
        raise InputError(f"gold_rate must be within [0, 1], got {gold_rate}")
    settings = settings or QueueSettings()
    now = _utc(now) or utcnow()
    rng = rng or random.Random(secrets.randbits(64))
    rater = None
    if _is_postgres(session):  # one claim at a time per rater: its served counters are read-modify-write
        rater = session.scalar(select(Rater).where(Rater.vendor == vendor, Rater.rater_id == rater_id).with_for_update())
    if rater is None:  # unknown until now (a row this transaction inserts is locked by it)
        rater = register_rater(session, vendor, rater_id, now=now)

    if dimension is not None:
        dimensions = [dimension]
    else:
        dimensions = _claimable_dimensions(session)
    out: list[dict[str, Any]] = []
    eligible: list[str] = []
    for dim in dimensions:
        calibration, allowed = _calibration_tasks(session, rater, dim, n - len(out), settings, now)
        out.extend(calibration)
        if allowed:
            eligible.append(dim)
    if out:
        session.flush()
        return out  # onboarding first: real work follows once the calibration result is in

    if rater.served_total is None or rater.served_gold is None:  # once per rater (older databases)
        counted = session.execute(
            select(func.count(), func.coalesce(func.sum(case((Assignment.kind == "gold", 1), else_=0)), 0)).where(
                Assignment.vendor == vendor, Assignment.rater_id == rater_id, Assignment.kind.in_(("task", "gold"))
            )
        ).one()
        rater.served_total, rater.served_gold = int(counted[0]), int(counted[1])
    served_total, served_gold = rater.served_total, rater.served_gold
    quota = rater.daily_sensitive_quota if rater.daily_sensitive_quota is not None else settings.daily_sensitive_quota
    quota_left = quota - _exposure_today(session, vendor, rater_id, now.date())
    reserved = _gold_target(int(served_total), int(served_gold), n, gold_rate) if eligible else 0
    real = _claim_real(session, rater, eligible, n - reserved, quota_left, settings, now)
    quota_left -= sum(1 for item in real if item.sensitive_category)
    k = min(reserved, _gold_cap(int(served_total), int(served_gold), len(real), gold_rate))
    gold = _pick_gold(session, rater, eligible, k, quota_left, now, rng)
    if len(gold) < reserved and len(real) == n - reserved:
        # Fewer gold items than slots reserved for them: fill the rest with real work.
        quota_left -= sum(1 for item in gold if item.sensitive_category)
        real += _claim_real(session, rater, eligible, reserved - len(gold), quota_left, settings, now)
    rater.served_total = served_total + len(real) + len(gold)
    rater.served_gold = served_gold + len(gold)
    payloads = [_payload(item, settings, suggestions) for item in real + gold]
    rng.shuffle(payloads)
    session.flush()
    return payloads


# --------------------------------------------------------------------------- completion and release


def _open_assignment(session: Session, task_id: str, vendor: str) -> Assignment:
    rows = list(session.scalars(
        select(Assignment).where(Assignment.task_id == task_id, Assignment.completed_at.is_(None), Assignment.released_at.is_(None))
    ))
    if not rows:
        raise TaskNotFound(f"task {task_id!r} has no open assignment (never assigned, or already completed or released)")
    mine = [a for a in rows if a.vendor == vendor]
    if not mine:
        raise NotTaskOwner(f"task {task_id!r} is not assigned to vendor {vendor!r}")
    return mine[0]


def _open_assignment_of(session: Session, task_id: str, vendor: str, rater_id: str | None) -> Assignment:
    """The open assignment of ``task_id`` to ``rater_id`` of ``vendor``: only the rater who holds a
    task can complete it (a gold task is held by several raters at once). Without ``rater_id``,
    the vendor's one open assignment of the task; several is an error."""
    if rater_id is None:
        rows = list(session.scalars(
            select(Assignment).where(Assignment.task_id == task_id, Assignment.vendor == vendor,
                                     Assignment.completed_at.is_(None), Assignment.released_at.is_(None))
        ))
        if len(rows) > 1:
            raise QueueError(f"task {task_id!r} is held by {len(rows)} raters of {vendor!r}: say which rater answers")
        return rows[0] if rows else _open_assignment(session, task_id, vendor)  # raises the precise error
    row = session.scalar(
        select(Assignment).where(Assignment.task_id == task_id, Assignment.vendor == vendor, Assignment.rater_id == rater_id,
                                 Assignment.completed_at.is_(None), Assignment.released_at.is_(None))
    )
    if row is None:
        raise TaskNotFound(f"task {task_id!r} has no open assignment to rater {rater_id!r} of this vendor")
    return row


def task_dimension(session: Session, task_id: str) -> str | None:
    """The dimension of queue task ``task_id`` (None when there is no such task)."""
    return session.scalar(select(QueueItem.dimension).where(QueueItem.id == task_id))


class InvalidAnswer(QueueError):
    """An answer that does not fit its task; ``field`` names the part of the request that is wrong."""

    def __init__(self, message: str, field: str = "answer") -> None:
        super().__init__(message)
        self.field = field


def answer_problem(task_type: str, answer: Any, n_responses: int, scale: tuple[int, int] | None = None) -> str | None:
    """Why ``answer`` does not fit a task of ``task_type`` with ``n_responses`` responses, or None.

    pairwise: one of ``a``, ``b``, ``tie``, ``skip`` (the data contract's choices); likert: an
    integer on the dimension's scale; ranking: a permutation of ``0..n_responses-1``, best first."""
    if task_type == "pairwise":
        if isinstance(answer, str) and answer in CHOICES:
            return None
        return f"a pairwise answer is one of {', '.join(CHOICES)}"
    if task_type == "likert":
        low, high = scale or (1, 5)
        if isinstance(answer, int) and not isinstance(answer, bool) and low <= answer <= high:
            return None
        return f"a likert answer is an integer from {low} to {high}"
    if task_type == "ranking":
        if (isinstance(answer, list) and len(answer) == n_responses
                and all(isinstance(i, int) and not isinstance(i, bool) for i in answer)
                and sorted(answer) == list(range(n_responses))):
            return None
        return f"a ranking answer is a permutation of 0..{n_responses - 1} (one index per response, best first)"
    return f"unknown task type {task_type!r}"


def complete_task(
    session: Session,
    vendor: str,
    task_id: str,
    *,
    rater_id: str | None = None,
    answer: Any = None,
    rationale: str | None = None,
    scale: tuple[int, int] | None = None,
    max_rationale_chars: int = 8192,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Mark the open assignment of ``task_id`` to ``rater_id`` done. ``answer`` must fit the task
    (:func:`answer_problem`; ``scale`` is the dimension's likert scale) and ``rationale`` be at most
    ``max_rationale_chars``, else :class:`InvalidAnswer`. For a gold task, ``answer`` is checked
    against the gold answer server-side: ``gold_correct`` is True/False (None for other tasks).
    Returns ``{task_id, kind, dimension, rater_id, gold_correct}``."""
    now = now or utcnow()
    assignment = _open_assignment_of(session, task_id, vendor, rater_id)
    if assignment.kind == "calibration":
        raise QueueError(f"task {task_id!r} is a calibration item: submit it with record_calibration_result")
    item = session.get(QueueItem, task_id)
    if item is not None:
        problem = answer_problem(item.task_type, answer, len(item.responses), scale)
        if problem is not None:
            raise InvalidAnswer(f"answer does not fit this {item.task_type} task: {problem}")
    if rationale is not None and (not isinstance(rationale, str) or len(rationale) > max_rationale_chars):
        raise InvalidAnswer(f"rationale is longer than {max_rationale_chars} characters (bridge.max_rationale_chars)",
                            field="rationale")
    gold_correct = None
    if assignment.kind == "gold" and item is not None:
        gold_correct = answers_match(item.task_type, item.gold_answer, answer)
        assignment.gold_correct = gold_correct
    assignment.completed_at = now
    assignment.answer = answer
    assignment.rationale = rationale
    if assignment.kind == "task":
        session.execute(update(QueueItem).where(QueueItem.id == task_id, QueueItem.status == "assigned").values(status="done")
                        .execution_options(synchronize_session=False))
    session.flush()
    return {"task_id": task_id, "kind": assignment.kind, "dimension": assignment.dimension,
            "rater_id": assignment.rater_id, "gold_correct": gold_correct}


def release_task(session: Session, vendor: str, task_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Give a task back: only the vendor holding it may. A real task returns to the pool
    (status ``released``, claimable again, though not by the same rater)."""
    now = now or utcnow()
    assignment = _open_assignment(session, task_id, vendor)
    assignment.released_at = now
    if assignment.kind == "task":
        session.execute(update(QueueItem).where(QueueItem.id == task_id, QueueItem.status == "assigned").values(status="released")
                        .execution_options(synchronize_session=False))
    session.flush()
    return {"task_id": task_id, "released": True, "rater_id": assignment.rater_id}


def expire_assignments(session: Session, ttl_minutes: int | None = None, *, now: datetime | None = None,
                       settings: QueueSettings | None = None) -> int:
    """Release every real-task assignment open longer than the TTL; returns how many."""
    settings = settings or QueueSettings()
    now = now or utcnow()
    cutoff = now - timedelta(minutes=ttl_minutes if ttl_minutes is not None else settings.assignment_ttl_minutes)
    stale = list(session.scalars(
        select(Assignment).where(Assignment.kind == "task", Assignment.completed_at.is_(None),
                                 Assignment.released_at.is_(None), Assignment.assigned_at < cutoff)
    ))
    for assignment in stale:
        release_task(session, assignment.vendor, assignment.task_id, now=now)
    return len(stale)


# --------------------------------------------------------------------------- export


EXPORT_COLUMNS = ("task_id", "item_id", "dimension", "task_type", "prompt", "responses", "bucket", "reason", "priority",
                  "severity", "expedited", "sensitive_category", "cohort", "language", "status", "created_at")


def export_queue(
    session: Session,
    *,
    status: Sequence[str] | None = ("queued", "released"),
    dimension: str | None = None,
    bucket: str | None = None,
    limit: int | None = None,
    include_gold: bool = False,
) -> list[dict[str, Any]]:
    """Queue items as rows (``EXPORT_COLUMNS``; ``is_gold`` added with ``include_gold``),
    expedited first, then by priority. Gold answers are never exported."""
    query = select(QueueItem).order_by(QueueItem.expedited.desc(), QueueItem.priority.desc(), QueueItem.created_at, QueueItem.id)
    if status:
        unknown = sorted(set(status) - set(STATUSES))
        if unknown:
            raise InputError(f"unknown status {', '.join(unknown)}: use {', '.join(STATUSES)}")
        query = query.where(QueueItem.status.in_(list(status)))
    if not include_gold:
        query = query.where(QueueItem.is_gold.is_(False))
    if dimension:
        query = query.where(QueueItem.dimension == dimension)
    if bucket:
        query = query.where(QueueItem.bucket == bucket)
    if limit is not None:
        query = query.limit(limit)
    rows = []
    for item in session.scalars(query):
        row = {
            "task_id": item.id, "item_id": item.source_id, "dimension": item.dimension, "task_type": item.task_type,
            "prompt": item.prompt, "responses": list(item.responses), "bucket": item.bucket, "reason": item.reason,
            "priority": item.priority, "severity": item.severity, "expedited": item.expedited,
            "sensitive_category": item.sensitive_category, "cohort": item.cohort, "language": item.language,
            "status": item.status, "created_at": _utc(item.created_at).isoformat(),
        }
        if include_gold:
            row["is_gold"] = item.is_gold
        rows.append(row)
    return rows


def queue_stats(session: Session) -> dict[str, Any]:
    """Counts of real tasks by status and by bucket, and of gold items."""
    by_status = dict(session.execute(
        select(QueueItem.status, func.count()).where(QueueItem.is_gold.is_(False)).group_by(QueueItem.status)
    ).all())
    by_bucket = dict(session.execute(
        select(QueueItem.bucket, func.count()).where(QueueItem.is_gold.is_(False)).group_by(QueueItem.bucket)
    ).all())
    gold = session.scalar(select(func.count()).select_from(QueueItem).where(QueueItem.is_gold.is_(True)))
    return {"status": {s: int(by_status.get(s, 0)) for s in STATUSES}, "buckets": {k: int(v) for k, v in sorted(by_bucket.items())},
            "gold_items": int(gold or 0)}
