"""Every error leaves the API as ``application/problem+json`` (RFC 9457,
:mod:`wire.problems`): ``type``, ``title``, ``status``, ``detail``,
``instance``, and for bad input ``field`` (the first offending field) and
``errors`` (all of them). A database that cannot serve now
(:data:`store.db.UNAVAILABLE`) gives 503 with ``Retry-After``, on every
endpoint."""

from __future__ import annotations

import http
import logging
from collections.abc import Mapping, Sequence

from flask import Flask, Response, request
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from api.fields import JSON_PATH
from store.db import UNAVAILABLE, error_summary
from wire.problems import problem_response

RETRY_AFTER_S = 5
"""What ``Retry-After`` asks of clients while the database is unavailable (s)."""

log = logging.getLogger(__name__)


class Problem(Exception):
    """An error answer. ``errors`` lists ``{"field", "message"}`` items."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[Mapping[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = [dict(e) for e in errors]
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return problem_response(
            self.status,
            self.detail,
            headers=self.headers,
            field=self.errors[0]["field"] if self.errors else None,
            errors=self.errors or None,
        )


def invalid(field: str, message: str, status: int = 422) -> Problem:
    """Bad input in one field: ``"<field>: <message>"``."""
    return Problem(status, f"{field}: {message}", errors=[{"field": field, "message": message}])


def from_value_error(error: ValueError, status: int = 422) -> Problem:
    """A domain ``ValueError`` (``"<field>: <message>"``) as a problem."""
    text = str(error)
    field, sep, message = text.partition(": ")
    if not sep or " " in field:
        return invalid("body", text, status)
    return invalid(field, message, status)


def location(loc: Sequence[int | str]) -> str:
    """``("models", 0, "name")`` as ``"models[0].name"``; empty is ``"body"``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def from_validation_error(error: ValidationError, prefix: Sequence[int | str] = ()) -> Problem:
    """A pydantic validation error as a problem naming every field: a bad
    key names its mapping, a flaw inside a free-form JSON member the path
    to it (:data:`api.fields.JSON_PATH`)."""
    errors = [_item(item, prefix) for item in error.errors(include_url=False)]
    first = errors[0]
    return Problem(422, f"{first['field']}: {first['message']}", errors=errors)


def _item(item: ErrorDetails, prefix: Sequence[int | str]) -> dict[str, str]:
    loc, message = list(item["loc"]), item["msg"]
    if len(loc) >= 2 and loc[-1] == "[key]" and loc[-2] == item["input"]:
        loc, message = loc[:-2], f"key {loc[-2]!r} {message}"
    loc += item.get("ctx", {}).get(JSON_PATH, ())
    return {"field": location([*prefix, *loc]), "message": message}


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    return Problem(
        status, error.description or http.HTTPStatus(status).phrase, headers=headers
    ).response()


def _unexpected(error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return Problem(500, "internal error").response()


def database_unavailable(error: SQLAlchemyError) -> Problem:
    """503 with ``Retry-After`` naming only the error's class: never the
    driver's message, which may hold the server's address."""
    return Problem(
        503,
        f"the database is unavailable ({type(error).__name__}); retry later",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def _unavailable(error: SQLAlchemyError) -> Response:
    log.warning(
        "database unavailable on %s %s: %s", request.method, request.path, error_summary(error)
    )
    return database_unavailable(error).response()


def _conflict(error: IntegrityError) -> Response:
    log.info("integrity error on %s %s: %s", request.method, request.path, error.orig)
    return Problem(409, "conflicts with stored data (a concurrent change?)").response()


def init_app(app: Flask) -> None:
    """Answer every error with problem+json."""
    app.register_error_handler(Problem, lambda error: error.response())
    app.register_error_handler(IntegrityError, _conflict)
    for family in UNAVAILABLE:
        app.register_error_handler(family, _unavailable)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
