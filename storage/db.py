"""Engine, unit of work and schema migrations for SQLite (embedded) and PostgreSQL (several replicas)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseError(Exception):
    """The database cannot be used; the message is one line that says what to do."""


class SchemaState(StrEnum):
    EMPTY = "empty"
    BEHIND = "behind"
    CURRENT = "current"
    AHEAD = "ahead"


@dataclass(frozen=True)
class SchemaStatus:
    state: SchemaState
    current: str | None
    head: str


SQLITE_FILE_POOL = {"pool_size": 32, "max_overflow": 32}

READ_ONLY_OPTION = "smc_read_only"
"""Execution option of `Database.read()` connections."""


def _sqlite_immediate(engine: Engine, *, wal: bool) -> None:
    """SQLite: take the write lock at BEGIN so compare-and-set never fails on a lock upgrade."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # `Database.read()` units begin deferred: in WAL mode they read a snapshot without the write lock.
        deferred = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN DEFERRED" if deferred else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """Build the engine; SQLite gets a thread-safe, lock-upfront setup, PostgreSQL a pinging pool."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        # A file database keeps up to 32 connections open: a new SQLite connection reads the whole schema
        # before its first statement, which cost more than the query when a burst of Slack requests went
        # past the default pool of 5 and the extra connections were opened and closed each time.
        pooling: dict[str, Any] = {"poolclass": StaticPool} if memory else SQLITE_FILE_POOL
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pooling)
        _sqlite_immediate(engine, wal=not memory)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


class Database:
    """The one engine of the process, handed to services; nothing module-global."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = make_engine(url)
        except (SQLAlchemyError, ValueError) as exc:
            raise DatabaseError(f"DATABASE_URL cannot be used ({type(exc).__name__}): {exc}") from None
        self._reader = self.engine.execution_options(**{READ_ONLY_OPTION: True})

    @property
    def display_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """The only place that commits: commit on success, roll back on any exception."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A unit that only reads and never commits. On SQLite it does not take the write lock, so reads in
        a Slack request's ack path do not queue behind writers (every other unit begins IMMEDIATE)."""
        with Session(self._reader, expire_on_commit=False) as session:
            try:
                yield session
            finally:
                session.rollback()

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:
            reason = (
                str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
            )
            raise DatabaseError(
                f"cannot reach the database at {self.display_url}: {reason} — "
                "check DATABASE_URL and that the server is running"
            ) from None

    @property
    def missing_sqlite_file(self) -> bool:
        """A SQLite file that does not exist yet: reading its schema must not create it."""
        database = self.engine.url.database
        return self.is_sqlite and database not in (None, "", ":memory:") and not Path(database).exists()

    def schema_status(self) -> SchemaStatus:
        script = ScriptDirectory.from_config(alembic_config(self.engine))
        head = script.get_current_head()
        assert head is not None, "the migrations folder has no head revision"
        if self.missing_sqlite_file:
            return SchemaStatus(SchemaState.EMPTY, None, head)
        self.ping()
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if current is None:
            return SchemaStatus(SchemaState.EMPTY, None, head)
        if current == head:
            return SchemaStatus(SchemaState.CURRENT, current, head)
        known = {rev.revision for rev in script.walk_revisions()}
        state = SchemaState.BEHIND if current in known else SchemaState.AHEAD
        return SchemaStatus(state, current, head)

    def upgrade(self) -> SchemaStatus:
        """Apply pending migrations; refuse a schema newer than this code without touching it."""
        status = self.schema_status()
        if self.missing_sqlite_file:
            Path(self.engine.url.database or "").parent.mkdir(parents=True, exist_ok=True)
        if status.state is SchemaState.AHEAD:
            raise DatabaseError(
                f"the database at {self.display_url} has schema revision {status.current}, newer than this "
                f"smc-bot knows (head {status.head}) — upgrade smc-bot, or point DATABASE_URL elsewhere"
            )
        if status.state is not SchemaState.CURRENT:
            log.info("migrating database from=%s to=%s", status.current or "empty", status.head)
            command.upgrade(alembic_config(self.engine), "head")
        return self.schema_status()

    def require_current(self) -> None:
        """Refuse to run on a schema that is not exactly the code's head, with the command that fixes it."""
        status = self.schema_status()
        if status.state is SchemaState.AHEAD:
            self.upgrade()  # raises the 'newer than this code' error
        if status.state is not SchemaState.CURRENT:
            raise DatabaseError(
                f"the database at {self.display_url} is at schema {status.current or 'empty'}, "
                f"this smc-bot needs {status.head} — run `smc-bot db upgrade`"
            )

    def dispose(self) -> None:
        self.engine.dispose()
