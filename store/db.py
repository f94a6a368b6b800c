"""Engines and sessions. SQLite gets WAL, foreign keys and a busy timeout;
its transactions begin ``DEFERRED`` (readers never block) unless a
connection asks for the write lock up front with :data:`WRITE_LOCK`, which
is how SQLite's single writer stands in for PostgreSQL's row locks.
PostgreSQL connections give up connecting after :data:`CONNECT_TIMEOUT_S`
and cancel any statement that runs longer than :data:`STATEMENT_TIMEOUT_S`
(a query stuck behind a lock then fails like an outage instead of holding
its request forever).
:data:`UNAVAILABLE` are the errors that say the database cannot serve now."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, exc, make_url
from sqlalchemy.orm import Session, sessionmaker

from store.settings import database_url

WRITE_LOCK: dict[str, Any] = {"sqlite_begin": "IMMEDIATE"}
"""Execution options for a transaction that will write: on SQLite it begins
``IMMEDIATE`` (takes the write lock at once, so its reads are never stale);
elsewhere it changes nothing."""

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite statement waits for another connection's lock before
it fails with "database is locked" (s); ``?timeout=`` in the URL overrides it."""

CONNECT_TIMEOUT_S = 5
"""How long opening a PostgreSQL connection may take before it fails (s,
at least 2); ``?connect_timeout=`` in the URL overrides it."""

STATEMENT_TIMEOUT_S = 30.0
"""How long one PostgreSQL statement may run before the server cancels it
(s); a ``statement_timeout`` in the URL's ``?options=`` overrides it, and
migrations run without it.
A cancelled statement raises an :data:`UNAVAILABLE` error."""

UNAVAILABLE: tuple[type[exc.SQLAlchemyError], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.DisconnectionError,
    exc.TimeoutError,
)
"""Errors that say the database cannot serve now (connection refused, lost
or timed out, the pool exhausted, SQLite's lock held past the busy
timeout): the same work may succeed later."""


def error_summary(error: exc.SQLAlchemyError) -> str:
    """The driver's error class and the first line of its message, for logs
    (no SQL, no parameters)."""
    cause = getattr(error, "orig", None) or error
    first_line = next(iter(str(cause).splitlines()), "")
    return f"{type(cause).__name__}: {first_line}"


def make_engine(
    url: str | None = None,
    *,
    statement_timeout_s: float | None = STATEMENT_TIMEOUT_S,
    **kwargs: Any,
) -> Engine:
    """An engine for ``url`` (default: :func:`store.settings.database_url`);
    on PostgreSQL with ``statement_timeout_s`` (None: no limit).

    No pre-ping (it would cost a round trip per request): when the server
    drops connections, the first statement that meets one fails with an
    :data:`UNAVAILABLE` error and the whole pool is invalidated, so once the
    server is back new connections are made."""
    parsed = make_url(url or database_url())
    if parsed.get_backend_name() == "sqlite":
        connect_args = {
            "check_same_thread": False,
            **_unless_set(parsed, "timeout", SQLITE_BUSY_TIMEOUT_S),
        }
        engine = create_engine(parsed, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    postgres_args: dict[str, Any] = _unless_set(parsed, "connect_timeout", CONNECT_TIMEOUT_S)
    options = str(parsed.query.get("options", ""))
    if statement_timeout_s is not None and "statement_timeout" not in options:
        limit = f"-c statement_timeout={round(statement_timeout_s * 1000)}"
        postgres_args["options"] = f"{options} {limit}".strip()
    return create_engine(parsed, connect_args=postgres_args, **kwargs)


def _unless_set(url: URL, name: str, value: float) -> dict[str, float]:
    """``{name: value}``, or nothing when ``url``'s query sets ``name``."""
    return {} if name in url.query else {name: value}


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own
    # implicit transactions cannot take the write lock up front).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
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
