"""The bridge's tables (SQLAlchemy 2): vendors, their hashed API tokens, pushed batches,
Label Studio annotations received by webhook (latest state and every revision), and the
Label Studio projects bound to vendors.

One schema serves SQLite (the embedded default: WAL, a busy timeout, and ``BEGIN
IMMEDIATE`` so that concurrent writers queue instead of deadlocking on a lock upgrade)
and PostgreSQL (by URL); the rater queue's tables (:mod:`alignment_ci.monitor.queue`)
live in the same database. Idempotency of pushes rests on two unique constraints on
``bridge_batches``: ``(vendor_id, upload_key)`` (the same content again) and
``(vendor_id, batch_id)`` (one batch id per vendor).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from alignment_ci.monitor.queue import create_schema, make_engine as queue_engine, metadata as queue_metadata

BATCH_STATUSES = ("received", "rejected", "pr_open", "gates_passed", "gates_failed", "merged", "failed")
"""``received``: accepted and being published; ``failed``: publishing failed (push again, it is
idempotent); the rest follow the pull request."""
FINAL_PUSH_STATUSES = frozenset({"pr_open", "gates_passed", "gates_failed", "merged"})


VENDOR_NAME_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS uq_bridge_vendors_name_lower ON bridge_vendors (lower(name))"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Vendor(Base):
    __tablename__ = "bridge_vendors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Token(Base):
    """An API token, stored as the sha256 of the token (tokens are 256-bit random, so a
    plain hash is enough: there is nothing to brute-force); ``prefix`` identifies it to people."""

    __tablename__ = "bridge_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("bridge_vendors.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Batch(Base):
    __tablename__ = "bridge_batches"
    __table_args__ = (
        UniqueConstraint("vendor_id", "upload_key", name="uq_bridge_batches_vendor_upload"),
        UniqueConstraint("vendor_id", "batch_id", name="uq_bridge_batches_vendor_batch"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("bridge_vendors.id", ondelete="CASCADE"), index=True)
    batch_id: Mapped[str] = mapped_column(String(128))
    upload_key: Mapped[str] = mapped_column(String(64))
    content_sha256: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    blob_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    manifest_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    pr_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pr_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    report_json: Mapped[str] = mapped_column(Text, default="{}")
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    merged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LabelStudioAnnotation(Base):
    """The latest state of one Label Studio annotation, as its webhook delivered it."""

    __tablename__ = "bridge_labelstudio_annotations"
    __table_args__ = (UniqueConstraint("vendor_id", "annotation_id", name="uq_bridge_ls_vendor_annotation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("bridge_vendors.id", ondelete="CASCADE"), index=True)
    annotation_id: Mapped[int] = mapped_column(BigInteger)
    task_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    project_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    revisions: Mapped[int] = mapped_column(Integer, default=1)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LabelStudioRevision(Base):
    """One revision of a Label Studio annotation as delivered: ``revision`` is the annotation's
    ``updated_at`` (``deleted`` for ANNOTATIONS_DELETED), so a replayed delivery hits the unique
    constraint and changes nothing. ``queue`` is what completing the rater-queue task gave (JSON)."""

    __tablename__ = "bridge_labelstudio_revisions"
    __table_args__ = (UniqueConstraint("vendor_id", "annotation_id", "revision", name="uq_bridge_ls_revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("bridge_vendors.id", ondelete="CASCADE"), index=True)
    annotation_id: Mapped[int] = mapped_column(BigInteger)
    revision: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    queue: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LabelStudioProject(Base):
    """A Label Studio project bound to the one vendor whose webhook credentials may write to it."""

    __tablename__ = "bridge_labelstudio_projects"

    project_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("bridge_vendors.id", ondelete="CASCADE"), index=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` (the rater queue's :func:`~alignment_ci.monitor.queue.make_engine`:
    psycopg 3 for ``postgresql://``; SQLite with WAL, a busy timeout and ``BEGIN IMMEDIATE``),
    with a connection pool large enough for the service's worker threads."""
    from sqlalchemy.engine import make_url


    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database not in (None, "", ":memory:"):
        kwargs.setdefault("pool_size", 32)
        kwargs.setdefault("max_overflow", 32)
    return queue_engine(url, **kwargs)


def make_read_engine(url: str, write_engine: Engine) -> Engine:
    """An engine for read-only work. On SQLite it opens ordinary deferred transactions, which in
    WAL mode read a snapshot without waiting for the write lock that ``BEGIN IMMEDIATE`` takes
    (authentication and status reads then never queue behind task claims); elsewhere it is
    ``write_engine`` itself."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return write_engine
    engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=32, max_overflow=32)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA query_only=ON")
        cur.close()

    return engine


def create_tables(engine: Engine) -> None:
    """Create the bridge's tables and the rater queue's (idempotent)."""

    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        # Vendor names are unique regardless of case (alignment_ci.ids.vendor_key; ids are ASCII, so
        # lower() is exact). Plain DDL: SQLAlchemy cannot reflect an expression index to check first.
        conn.execute(text(VENDOR_NAME_INDEX))
    create_schema(engine)


def drop_tables(engine: Engine) -> None:
    """Drop the bridge's and the queue's tables (tests start PostgreSQL databases afresh)."""

    queue_metadata.drop_all(engine)
    Base.metadata.drop_all(engine)


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)
