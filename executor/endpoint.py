"""What the agent's and the router's HTTP apps share: every error is
answered as problem details (:mod:`wire.problems`) with a ``kind`` naming
it (``bad-input``, ``unknown-model``, ``not-found``, ...; ``field`` too for
bad input), retryable ones with ``Retry-After``; ``GET /healthz`` answers
while the process does."""

from __future__ import annotations

import http
import logging
import math

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from executor.request import ServeError
from wire.problems import problem_response

log = logging.getLogger(__name__)

HTTP_KINDS = {404: "not-found", 405: "method-not-allowed"}
"""Kinds of the errors Flask raises itself (others: ``http-<status>``)."""


def problem(error: ServeError, headers: dict[str, str] | None = None) -> Response:
    """``error`` as a problem answer (``Retry-After`` in whole seconds, at least 1)."""
    headers = dict(headers or {})
    if error.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after_s)))
    return problem_response(
        error.status, error.detail, headers=headers, kind=error.kind, field=error.field
    )


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    kind = HTTP_KINDS.get(status, f"http-{status}")
    detail = error.description or http.HTTPStatus(status).phrase
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    return problem(ServeError(status, kind, detail), headers)


def _unexpected(error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem(ServeError(500, "internal", "internal error"))


def endpoint_app(name: str) -> Flask:
    """A Flask app that answers every error as a problem, with ``/healthz``."""
    app = Flask(name, static_folder=None)
    app.register_error_handler(ServeError, problem)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
