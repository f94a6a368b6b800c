"""Keyset pagination: pages ordered by id, continued after the last id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """Up to ``limit`` rows; ``next_after`` is the id to continue after, or
    None on the last page."""

    items: Sequence[T]
    next_after: int | None


def page(
    session: Session,
    statement: Select[Any],
    id_column: InstrumentedAttribute[Any],
    *,
    limit: int,
    after: int | None = None,
) -> Page[Any]:
    """Rows of ``statement`` with id greater than ``after``, in id order."""
    if after is not None:
        statement = statement.where(id_column > after)
    rows = list(session.scalars(statement.order_by(id_column).limit(limit + 1)))
    if len(rows) > limit:
        return Page(rows[:limit], getattr(rows[limit - 1], id_column.key))
    return Page(rows, None)
