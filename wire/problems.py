"""Error answers as ``application/problem+json`` (RFC 9457): ``type``
(always ``about:blank``), ``title`` (the status phrase), ``status``,
``detail``, ``instance`` (the request path), then extension members: the
API adds ``field`` (the first offending field) and ``errors`` for bad input,
the inference endpoints ``kind`` (and ``field`` for bad input)."""

from __future__ import annotations

import http
from collections.abc import Mapping
from typing import Any

from flask import Response, json, request

PROBLEM_JSON = "application/problem+json"


def problem_response(
    status: int, detail: str, *, headers: Mapping[str, str] | None = None, **members: Any
) -> Response:
    """The problem answer to the current request; ``members`` whose value is
    None are left out."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": http.HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    body.update({name: value for name, value in members.items() if value is not None})
    response = Response(json.dumps(body), status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response
