"""Request bodies under a byte cap: a body longer than the cap is a 413
problem naming ``body``, whether its ``Content-Length`` says so or a
chunked body (no length; ``wsgi.input_terminated``) turns out longer
while it is read. A body of exactly the cap is read whole."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from api.errors import Problem, invalid


def too_large(limit: int) -> Problem:
    return invalid("body", f"larger than {limit} bytes", status=413)


READ_BYTES = 1 << 16


@contextmanager
def body_stream(limit: int) -> Iterator[io.BufferedReader]:
    """The body as a buffered binary stream that ends after at most
    ``limit + 1`` bytes; reading past them, or a declared length over
    ``limit``, raises :func:`too_large` (inside the ``with`` block)."""
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    raw = get_input_stream(request.environ, max_content_length=limit + 1)
    try:
        yield io.BufferedReader(cast(io.RawIOBase, raw), READ_BYTES)
    except RequestEntityTooLarge:
        raise too_large(limit) from None


def read_body(limit: int) -> bytes:
    """The whole body; :func:`too_large` when it is over ``limit`` bytes."""
    with body_stream(limit) as stream:
        data = stream.read()
    if len(data) > limit:
        raise too_large(limit)
    return data
