"""The bridge's application state: configuration, database engines and sessions, store and forge.

One :class:`Bridge` lives on ``app.state.bridge``; routes receive it through
:data:`rater_bridge.deps.BridgeDep`. The CLI (``alignment-ci bridge ...``) opens the same
object with :func:`rater_bridge.app.open_bridge`.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from alignment_ci.config import BridgeSettings, Config
from alignment_ci.forge import open_forge
from alignment_ci.store import open_store

from .db import make_read_engine, session_factory


@dataclass
class Bridge:
    """What every request needs: config (its ``bridge`` section is :attr:`settings`), database; store and
    forge opened once, lazily."""

    config: Config
    engine: Engine
    workspace: Path
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    _sessions: sessionmaker = field(init=False)
    read_sessions: sessionmaker = field(init=False)
    _store: Any = field(default=None, init=False)
    _forge: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        # SQLite has one writer at a time; letting 40 worker threads contend for it through
        # its busy handler (sleep and poll) starves some past the busy timeout. Queue them
        # here instead, in this process (other processes still wait in the busy handler).
        self.write_lock: Any = threading.RLock() if self.engine.dialect.name == "sqlite" else contextlib.nullcontext()
        self._sessions = session_factory(self.engine)
        self.read_engine = make_read_engine(self.engine.url.render_as_string(hide_password=False), self.engine)
        self.read_sessions = session_factory(self.read_engine)

    @contextlib.contextmanager
    def sessions(self) -> Iterator[Session]:
        """A session for writing, holding the in-process write lock (SQLite) while it lives."""
        with self.write_lock, self._sessions() as session:
            yield session

    @property
    def settings(self) -> BridgeSettings:
        """The ``bridge:`` section of alignment.yaml."""
        return self.config.bridge

    def dispose(self) -> None:
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
        self.engine.dispose()

    @property
    def store(self) -> Any:
        if self._store is None:
            self._store = open_store(self.config)
        return self._store

    @property
    def forge(self) -> Any:
        if self._forge is None:
            self._forge = open_forge(self.config, self.workspace, environ=self.environ)
        return self._forge
