"""Generic read views: a paged list of a table's rows (optionally filtered
by query fields) and one row by id, registered as documented operations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm.interfaces import ORMOption

from api.auth import Permission
from api.database import session
from api.routing import PageQuery, found, operation, render, reply
from store.repositories.pages import Page, page

Renderer = type[BaseModel] | Callable[[Any], dict[str, Any]]
"""How a row becomes JSON: a response model, or a function."""


def _render(item: Renderer, row: Any) -> dict[str, Any]:
    if isinstance(item, type):
        return render(item, row)
    return item(row)


def page_limit(query: PageQuery) -> int:
    """The requested page size, capped by ``PAGE_LIMIT_MAX``."""
    return min(query.limit, int(current_app.config["PAGE_LIMIT_MAX"]))


def paged(result: Page[Any], item: Renderer, query: PageQuery, **filters: Any) -> Response:
    """A page as ``{"items", "next"}`` with a ``Link: rel="next"`` header."""
    items = [_render(item, row) for row in result.items]
    if result.next_after is None:
        return reply({"items": items, "next": None})
    assert request.endpoint is not None
    args = {k: v for k, v in filters.items() if v is not None}
    link = url_for(request.endpoint, limit=page_limit(query), after=result.next_after, **args)
    return reply({"items": items, "next": link}, headers={"Link": f'<{link}>; rel="next"'})


def list_view(
    blueprint: Blueprint,
    rule: str,
    endpoint: str,
    table: Any,
    item: Renderer,
    *,
    summary: str,
    response: type[BaseModel],
    query: type[PageQuery] = PageQuery,
    filters: Sequence[str] = (),
    options: Sequence[ORMOption] = (),
    permission: Permission = Permission.READ,
) -> None:
    """``GET rule``: rows of ``table`` in id order, a page at a time; each
    name in ``filters`` is a query field that, when given, must equal the
    column of that name."""

    def view(query: PageQuery) -> Response:
        statement = select(table).options(*options)
        given = {name: getattr(query, name) for name in filters}
        for name, value in given.items():
            if value is not None:
                statement = statement.where(getattr(table, name) == value)
        result = page(session(), statement, table.id, limit=page_limit(query), after=query.after)
        return paged(result, item, query, **given)

    view.__name__ = endpoint
    operation(
        blueprint,
        rule,
        "GET",
        summary=summary,
        permission=permission,
        query=query,
        response=response,
    )(view)


def show_view(
    blueprint: Blueprint,
    rule: str,
    endpoint: str,
    table: Any,
    item: Renderer,
    *,
    label: str,
    summary: str,
    response: type[BaseModel],
    permission: Permission = Permission.READ,
) -> None:
    """``GET rule``: the row of ``table`` whose id is the rule's one path
    parameter; 404 naming ``label`` when there is none."""

    def view(**path: int) -> Response:
        (ident,) = path.values()
        return reply(_render(item, found(session(), table, ident, label)))

    view.__name__ = endpoint
    operation(
        blueprint,
        rule,
        "GET",
        summary=summary,
        permission=permission,
        response=response,
        errors=(404,),
    )(view)
