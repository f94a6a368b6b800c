"""Keys presented as ``Authorization: Bearer <key>`` (RFC 6750)."""

from __future__ import annotations

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="meshplan"'}
"""The header a 401 answer carries."""


def bearer_key(authorization: str) -> str | None:
    """The key in an ``Authorization`` header value (scheme matched without
    regard to case, the key stripped), or None when it holds no bearer key."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None
