"""Declaring operations: :func:`operation` registers a view on a blueprint,
enforces its permission, parses and validates its JSON body and query
string with pydantic models, and records what the OpenAPI document says
about it (:mod:`api.openapi`)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from api.auth import Permission, require
from api.bodies import read_body
from api.errors import Problem, from_validation_error, invalid

M = TypeVar("M", bound=BaseModel)
View = Callable[..., Any]

BODY_ERRORS = (400, 413, 415, 422)
"""What any JSON body may get: malformed, too large, not JSON, invalid."""


class Body(BaseModel):
    """Base of request bodies: strict types (no "1" for 1; enum fields opt
    out with ``Field(strict=False)`` to take their values), unknown fields
    refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Base of query strings (values arrive as text and are converted)."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(Query):
    limit: int = Field(50, ge=1, description="items per page (capped by PAGE_LIMIT_MAX)")
    after: int | None = Field(None, ge=0, description="continue after this id")


class Out(BaseModel):
    """Base of response bodies, read from ORM rows or dicts."""

    model_config = ConfigDict(from_attributes=True)


@dataclass(frozen=True)
class Operation:
    """What the OpenAPI document says about one view."""

    method: str
    summary: str
    permission: Permission | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    errors: tuple[int, ...]
    body_media: str | None
    alternatives: Mapping[int, type[BaseModel]]
    other_media: Mapping[str, str]


def operation(
    blueprint: Blueprint,
    rule: str,
    method: str,
    *,
    summary: str,
    permission: Permission | None,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    errors: Sequence[int] = (),
    body_media: str | None = None,
    alternatives: Mapping[int, type[BaseModel]] | None = None,
    other_media: Mapping[str, str] | None = None,
) -> Callable[[View], View]:
    """Register ``view`` for ``method rule``. The view receives the path
    parameters, plus ``body`` and ``query`` (validated models) if declared.
    It answers ``status`` with ``response``, or another success status with
    the model ``alternatives`` gives for it; ``other_media`` are media types
    (with what they hold) it may answer ``status`` with instead of JSON."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(**kwargs: Any) -> Any:
            if permission is not None:
                require(permission)
            if query is not None:
                kwargs["query"] = parse(query, request.args.to_dict(), "query")
            if body is not None:
                kwargs["body"] = parse(body, json_body(), "body")
            return view(**kwargs)

        implied = {*((401, 403) if permission else ()), *(BODY_ERRORS if body else ())}
        documented = tuple(sorted({*errors, *implied}))
        media = body_media or ("application/json" if body is not None else None)
        wrapper.operation = Operation(  # type: ignore[attr-defined]
            method,
            summary,
            permission,
            body,
            query,
            response,
            status,
            documented,
            media,
            dict(alternatives or {}),
            dict(other_media or {}),
        )
        blueprint.add_url_rule(rule, view.__name__, wrapper, methods=[method])
        return wrapper

    return decorator


def json_body() -> Any:
    """The request body parsed as JSON: 415 unless it is JSON, 413 over
    ``MAX_CONTENT_LENGTH`` bytes, 400 when malformed (with line and column)."""
    if not request.is_json:
        raise Problem(415, "body: send JSON with Content-Type: application/json")
    raw = read_body(int(current_app.config["MAX_CONTENT_LENGTH"]))
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        if isinstance(error, json.JSONDecodeError):
            where = f"line {error.lineno} column {error.colno}: {error.msg}"
        else:
            where = "not UTF-8"
        raise invalid("body", f"invalid JSON at {where}", status=400) from None


def parse(model: type[M], data: Any, where: str) -> M:
    """Validate ``data`` as ``model``; 422 naming every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise from_validation_error(error, () if where == "body" else (where,)) from None


def render(model: type[BaseModel], value: Any) -> dict[str, Any]:
    """``value`` (an ORM row or a mapping) as JSON data through ``model``."""
    return model.model_validate(value).model_dump(mode="json")


def reply(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    response = jsonify(data)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def found(session: Any, model: type[Any], ident: int, label: str) -> Any:
    """The row of ``model`` with primary key ``ident``, else 404."""
    row = session.get(model, ident)
    if row is None:
        raise Problem(404, f"{label} {ident} does not exist")
    return row


def name_free(session: Any, model: type[Any], name: str, label: str) -> None:
    """409 naming ``name`` when a row of ``model`` already has that name."""
    if session.scalar(select(model.id).where(model.name == name)) is not None:
        raise invalid("name", f"{label} {name!r} already exists", status=409)
