"""Throw-away PostgreSQL schemas, for tests and benchmarks that need a
database of their own on a shared server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError


def unreachable(url: str, timeout_s: int = 3) -> str | None:
    """Why the database at ``url`` cannot be used, or None when it answers."""
    engine = create_engine(url, connect_args={"connect_timeout": timeout_s})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        return f"no PostgreSQL server at {url}: {error.orig}"
    finally:
        engine.dispose()
    return None


@contextmanager
def postgres_schema(url: str, prefix: str) -> Iterator[str]:
    """Create an empty schema ``<prefix>_<random>`` on the server at ``url``
    and yield a URL whose connections use it; drop it (with everything in
    it) on exit."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
