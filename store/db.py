"""Engines and sessions. SQLite gets WAL, foreign keys and a busy timeout;
its transactions begin ``DEFERRED`` (readers never block) unless a
connection asks for the write lock up front with :data:`WRITE_LOCK`, which
is how SQLite's single writer stands in for PostgreSQL's row locks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from store.settings import database_url

WRITE_LOCK: dict[str, Any] = {"sqlite_begin": "IMMEDIATE"}
"""Execution options for a transaction that will write: on SQLite it begins
``IMMEDIATE`` (takes the write lock at once, so its reads are never stale);
elsewhere it changes nothing."""

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default: :func:`store.settings.database_url`)."""
    url = url or database_url()
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # No pre-ping: it would cost a round trip per request; a connection the
    # server dropped fails one request and the pool is then refreshed.
    return create_engine(url, **kwargs)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own
    # implicit transactions cannot take the write lock up front).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def reader_engine(engine: Engine) -> Engine:
    """``engine`` for work that only reads: on PostgreSQL in autocommit mode,
    which saves the BEGIN and ROLLBACK round trips (each statement then sees
    the data committed when it starts); elsewhere ``engine`` itself."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session], *, write: bool = False) -> Iterator[Session]:
    """A session in one transaction, committed on success and rolled back on
    error. ``write=True`` takes SQLite's write lock at the start."""
    with factory() as session:
        if write:
            session.connection(execution_options=WRITE_LOCK)
        yield session
        session.commit()
