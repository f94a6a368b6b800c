"""Declaring operations: :func:`operation` registers a view on a blueprint,
enforces its permission, parses and validates its JSON body and query
string with pydantic models (of the bounded types of :mod:`api.fields`),
and records what the OpenAPI document says about it (:mod:`api.openapi`),
every status it can answer included."""

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
from api.fields import Count, Positive

M = TypeVar("M", bound=BaseModel)
View = Callable[..., Any]

"""What any JSON body may get: malformed, too large, not JSON, invalid."""


class Body(BaseModel):
    """Base of request bodies: strict types (no "1" for 1; enum fields opt
    out with ``Field(strict=False)`` to take their values), finite numbers,
    unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Query(BaseModel):
    """Base of query strings (values arrive as text and are converted;
    numbers must be finite)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PageQuery(Query):
    limit: Positive = Field(50, description="items per page (capped by PAGE_LIMIT_MAX)")
    after: Count | None = Field(None, description="continue after this id")


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


def error_statuses(
    rule: str,
    permission: Permission | None,
    query: type[BaseModel] | None,
    body: type[BaseModel] | None,
    body_media: str | None,
    database: bool,
) -> set[int]:
    """The error statuses an operation declared so can answer: 401/403 with
    a permission, 404 for a path id, 422 for a query or a body, 400/415 for
    a JSON body, 413 for any body, 503 when it needs the database."""
    statuses: set[int] = set()
    if permission is not None:
        statuses |= {401, 403}
    if "<" in rule:
        statuses.add(404)
    if query is not None or body is not None or body_media is not None:
        statuses.add(422)
    if body is not None:
        statuses |= {400, 415}
    if body is not None or body_media is not None:
        statuses.add(413)
    if database:
        statuses.add(503)
    return statuses


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
    database: bool = True,
) -> Callable[[View], View]:
    """Register ``view`` for ``method rule``. The view receives the path
    parameters, plus ``body`` and ``query`` (validated models) if declared.
    It answers ``status`` with ``response``, or another success status with
    the model ``alternatives`` gives for it; ``other_media`` are media types
    (with what they hold) it may answer ``status`` with instead of JSON.
    ``errors`` names the statuses the declaration does not imply
    (:func:`error_statuses`), such as 304, 406 or 409; ``database`` is False
    for a view that never reads it."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(**kwargs: Any) -> Any:
            if permission is not None:
                require(permission)
            if query is not None:
                kwargs["query"] = parse(query, query_args(), "query")
            if body is not None:
                kwargs["body"] = parse(body, json_body(), "body")
            return view(**kwargs)

        implied = error_statuses(rule, permission, query, body, body_media, database)
        media = body_media or ("application/json" if body is not None else None)
        wrapper.operation = Operation(  # type: ignore[attr-defined]
            method,
            summary,
            permission,
            body,
            query,
            response,
            status,
            tuple(sorted({*errors, *implied})),
            media,
            dict(alternatives or {}),
            dict(other_media or {}),
        )
        blueprint.add_url_rule(rule, view.__name__, wrapper, methods=[method])
        return wrapper

    return decorator


def json_body() -> Any:
    """The request body parsed as JSON: 415 unless it is JSON, 413 over
    ``MAX_CONTENT_LENGTH`` bytes, 400 when malformed (with line and column) or beyond the parser (integers of
    thousands of digits, nesting deeper than the recursion limit). NaN and
    Infinity are parsed; the fields refuse them (:mod:`api.fields`)."""
    if not request.is_json:
        raise Problem(415, "body: send JSON with Content-Type: application/json")
    raw = read_body(int(current_app.config["MAX_CONTENT_LENGTH"]))
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        message = f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
    except UnicodeDecodeError:
        message = "invalid JSON: not UTF-8"
    except ValueError:
        message = "invalid JSON: a number has too many digits"
    except RecursionError:
        message = "invalid JSON: nested too deeply"
    raise invalid("body", message, status=400) from None


def query_args() -> dict[str, str]:
    """The query string's parameters; 422 naming one given more than once
    (the document gives each parameter one value)."""
    args = request.args.to_dict(flat=False)
    for name, values in args.items():
        if len(values) > 1:
            raise invalid(f"query.{name}", f"is given {len(values)} times; give it once")
    return {name: values[0] for name, values in args.items()}


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
