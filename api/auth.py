"""API-key authentication. A key is presented as ``Authorization: Bearer
<key>`` (or ``X-API-Key: <key>``); its role grants permissions:
admin → read, write, execute; executor → read, execute; reader → read."""

from __future__ import annotations

import enum

from flask import g, request

from api.database import session
from api.errors import Problem
from store.enums import Role
from store.models import ApiKey
from store.repositories import keys


class Permission(enum.StrEnum):
    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.EXECUTOR: frozenset({Permission.READ, Permission.EXECUTE}),
    Role.READER: frozenset({Permission.READ}),
}

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="meshplan"'}


def presented_key() -> str | None:
    """The key sent with this request, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-API-Key") or None


def require(permission: Permission) -> ApiKey:
    """The caller's key, which must grant ``permission``: 401 without a
    valid key, 403 when its role lacks the permission."""
    key = presented_key()
    if key is None:
        raise Problem(
            401, "an API key is required (Authorization: Bearer <key>)", headers=_CHALLENGE
        )
    row = keys.authenticate(session(), key)
    if row is None:
        raise Problem(401, "the API key is not valid", headers=_CHALLENGE)
    if permission not in GRANTS[row.role]:
        raise Problem(403, f"role {row.role.value!r} may not {permission.value}")
    g.api_key = row
    return row
