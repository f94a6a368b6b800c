"""What the agent's and the router's HTTP apps share.

- Every error is answered as problem details (:mod:`wire.problems`) with a
  ``kind`` naming it (``bad-input``, ``unknown-model``, ``unauthorized``,
  ``body-too-large``, ``not-found``, ...; ``field`` too for bad input),
  retryable ones with ``Retry-After``.
- A request body longer than :attr:`Guard.max_body_bytes` gets 413,
  whether it declares its length or arrives chunked (:func:`read_body`).
  The body is read before anything else, so that no answer but a 413,
  after which the server closes the connection, leaves part of it unread
  there to be taken for the next request.
- With a :attr:`Guard.key`, every ``/v1/`` route needs ``Authorization:
  Bearer <key>`` (401 otherwise; keys compared in constant time).
  ``GET /healthz`` stays open: it answers while the process does.
"""

from __future__ import annotations

import hashlib
import hmac
import http
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from executor.request import ServeError, bad_input
from wire.bearer import CHALLENGE, bearer_key
from wire.problems import problem_response

log = logging.getLogger(__name__)

HTTP_KINDS = {404: "not-found", 405: "method-not-allowed"}
"""Kinds of the errors Flask raises itself (others: ``http-<status>``)."""
KEY_ENV = "MESHPLAN_INFERENCE_KEY"
"""The environment variable ``meshplan agent`` and ``router`` read the key from."""
MAX_BODY_BYTES = 4 * 1024 * 1024
"""Default body cap: room for 64 rows of 8192 token ids in JSON."""
READ_PIECE_BYTES = 64 * 1024
_KEY = re.compile(r"[!-~]+")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class Guard:
    """Who may call an endpoint and how much they may send: ``key`` is the
    one bearer key accepted (None: no key is asked for; else printable ASCII
    without spaces, as a header carries it); bodies over ``max_body_bytes``
    (>= 1) get 413."""

    key: str | None = field(default=None, repr=False)
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if self.key is not None and not _KEY.fullmatch(self.key):
            raise ValueError("key: must be printable ASCII without spaces, and not empty")
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes: must be at least 1, got {self.max_body_bytes}")

    def admits(self, authorization: str) -> bool:
        """Whether an ``Authorization`` header value carries the key (always
        true without one). Digests are compared, in constant time, so that
        neither the key's contents nor its length shows in the timing."""
        if self.key is None:
            return True
        presented = bearer_key(authorization)
        return presented is not None and hmac.compare_digest(_digest(presented), _digest(self.key))


def problem(error: ServeError, headers: dict[str, str] | None = None) -> Response:
    """``error`` as a problem answer (``Retry-After`` in whole seconds, at least 1)."""
    headers = dict(headers or {})
    if error.status == 401:
        headers.update(CHALLENGE)
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


def too_large(max_bytes: int) -> ServeError:
    return ServeError(413, "body-too-large", f"body: longer than {max_bytes} bytes", field="body")


def read_body(max_bytes: int) -> bytes:
    """The current request's body; 400 when its stream breaks off or its
    chunked framing is malformed, 413 when it is longer than ``max_bytes``.
    A body up to twice that long is read to its end first, so that a client
    done sending reads the 413 on a connection closed cleanly; of a longer
    one no more than that is read (a client still sending when the server
    closes the connection sees it reset)."""
    declared = request.content_length
    if declared is not None and declared > 2 * max_bytes:
        raise too_large(max_bytes)
    try:
        data = b"".join(_pieces(request.stream, max_bytes + 1))
        if len(data) > max_bytes:
            for _ in _pieces(request.stream, max_bytes):
                pass
    except (OSError, ValueError) as error:
        raise bad_input("body", f"unreadable: {error}") from None
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    return data


def _pieces(stream: IO[bytes], limit: int) -> Iterator[bytes]:
    """What ``stream`` holds, in pieces, up to its end or ``limit`` bytes."""
    while limit > 0:
        piece = stream.read(min(limit, READ_PIECE_BYTES))
        if not piece:
            return
        limit -= len(piece)
        yield piece


def body() -> bytes:
    """The body of the current request, as read before dispatch."""
    read: bytes = g.body
    return read


def endpoint_app(name: str, guard: Guard) -> Flask:
    """A Flask app that reads bodies and checks keys as ``guard`` says,
    answers every error as a problem, and serves ``/healthz``."""
    app = Flask(name, static_folder=None)
    app.register_error_handler(ServeError, problem)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)

    @app.before_request
    def admit() -> None:
        g.body = read_body(guard.max_body_bytes)
        authorization = request.headers.get("Authorization", "")
        if request.path.startswith("/v1/") and not guard.admits(authorization):
            if bearer_key(authorization) is None:
                detail = "an inference key is required (Authorization: Bearer <key>)"
            else:
                detail = "the inference key is not valid"
            raise ServeError(401, "unauthorized", detail)

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
