"""Reusable column types: a UTC datetime, JSON (JSONB on PostgreSQL) and
``Annotated`` shorthands for the columns most tables share, plus the naming
convention every constraint follows."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from sqlalchemy import JSON, DateTime, Dialect, String
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

INT_MAX = 2**31 - 1
"""The largest value every backend stores in an ``Integer`` column (ids,
counts, versions): PostgreSQL's INTEGER is 32-bit, SQLite's 64-bit."""

BIGINT_MAX = 2**63 - 1
"""The largest value of a ``BigInteger`` column (byte sizes) on every backend."""

JSONType = JSON().with_variant(postgresql.JSONB(), "postgresql")
"""JSON documents; JSONB on PostgreSQL."""


def utcnow() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    Naive datetimes are refused on the way in: they are ambiguous. SQLite
    keeps no zone, so values read from it are tagged UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use a timezone-aware value")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


intpk = Annotated[int, mapped_column(primary_key=True)]
name128 = Annotated[str, mapped_column(String(128))]
created_at = Annotated[dt.datetime, mapped_column(UTCDateTime(), default=utcnow)]
json_doc = Annotated[Any, mapped_column(JSONType)]
