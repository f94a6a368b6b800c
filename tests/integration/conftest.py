"""Fixtures for tests against real databases, on SQLite and on the
PostgreSQL server at ``MESHPLAN_TEST_POSTGRES_URL`` (default 127.0.0.1:5432,
database ``test``). Schemas are only ever built by migrating (never
``create_all``):

- ``empty_database_url``: a database with nothing in it (a new SQLite file;
  a new PostgreSQL schema, dropped afterwards), for migration tests;
- ``database_url`` / ``engine``: a migrated database with no rows: a copy
  of a SQLite file migrated once per test run, or this test run's own
  PostgreSQL schema (migrated once, dropped at the end) emptied before
  every test.

PostgreSQL tests are skipped, with the reason, only when no server answers."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, text

from api.app import create_app
from api.database import database
from harness.scratch import postgres_schema, unreachable
from store import migrate
from store.db import make_engine, session_factory, transaction
from store.enums import Role
from store.models import Base
from store.repositories.keys import create_key
from tests.integration.builders import seed_api

POSTGRES_URL = os.environ.get(
    "MESHPLAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@functools.cache
def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it answers."""
    return unreachable(POSTGRES_URL)


@contextmanager
def _postgres_schema() -> Iterator[str]:
    reason = postgres_unavailable()
    if reason is not None:
        pytest.skip(reason)
    with postgres_schema(POSTGRES_URL, "meshplan_test") as url:
        yield url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/empty.db"
        return
    with _postgres_schema() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the newest revision, once per test run."""
    path = tmp_path_factory.mktemp("template") / "meshplan.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> Iterator[str]:
    """This test run's PostgreSQL schema, migrated once."""
    with _postgres_schema() as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


def _empty_tables(url: str) -> None:
    """Delete every row and restart the id sequences (much faster than
    TRUNCATE on tables this small)."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL lock_timeout = '10s'"))
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
        sequences = connection.execute(
            text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
        )
        for sequence in sequences.scalars().all():
            connection.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
    engine.dispose()


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A migrated database without rows."""
    if backend == "sqlite":
        path = tmp_path / "meshplan.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_migrated")
    _empty_tables(url)
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def make_app(database_url: str) -> Iterator[Callable[..., Flask]]:
    """Apps on the test database with settings of the test's choosing;
    their engines are disposed afterwards."""
    made: list[Flask] = []

    def make(**settings: Any) -> Flask:
        app = create_app({"DATABASE_URL": database_url, "TESTING": True, **settings})
        made.append(app)
        return app

    yield make
    for app in made:
        database(app).engine.dispose()


@pytest.fixture
def app(engine: Engine, make_app: Callable[..., Flask]) -> Flask:
    """A fresh app on the freshly migrated database."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def keys(engine: Engine) -> dict[str, str]:
    """One API key per role, by role name."""
    with transaction(session_factory(engine), write=True) as session:
        return {role.value: create_key(session, f"{role.value} key", role)[1] for role in Role}


@pytest.fixture
def auth(keys: dict[str, str]) -> dict[str, dict[str, str]]:
    """Authorization headers per role."""
    return {role: {"Authorization": f"Bearer {key}"} for role, key in keys.items()}


@pytest.fixture
def admin(auth: dict[str, dict[str, str]]) -> dict[str, str]:
    """Headers with the admin key."""
    return auth["admin"]


@pytest.fixture
def seeded(client: FlaskClient, admin: dict[str, str]) -> dict[str, Any]:
    """Cluster ``c1``, models ``m0`` and ``m1`` and workload ``w1``, stored
    through the API (see :func:`tests.integration.builders.seed_api`)."""
    return seed_api(client, admin)
