"""The database extension: one engine per app and one session per request.
Requests that may write (not GET/HEAD/OPTIONS) take SQLite's write lock when
their transaction begins, so concurrent writers queue instead of failing;
requests that only read run in autocommit mode on PostgreSQL
(:func:`store.db.reader_engine`)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from store.db import WRITE_LOCK, make_engine, reader_engine, session_factory

_EXTENSION = "meshplan.database"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Database:
    engine: Engine
    readers: sessionmaker[Session]
    writers: sessionmaker[Session]


def init_app(app: Flask) -> None:
    """Create the app's engine from ``DATABASE_URL``; close each request's
    session (rolling back anything uncommitted) when the request ends."""
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions[_EXTENSION] = Database(
        engine,
        session_factory(reader_engine(engine)),
        session_factory(engine.execution_options(**WRITE_LOCK)),
    )
    app.teardown_appcontext(_close)


def database(app: Flask | None = None) -> Database:
    """The database of ``app`` (default: the current app)."""
    database: Database = (app or current_app).extensions[_EXTENSION]
    return database


def session() -> Session:
    """This request's (or app context's) session."""
    if "db_session" not in g:
        db = database()
        writes = not has_request_context() or request.method not in _SAFE_METHODS
        g.db_session = (db.writers if writes else db.readers)()
    current: Session = g.db_session
    return current


def _close(_error: BaseException | None) -> None:
    current = g.pop("db_session", None)
    if current is not None:
        current.close()
