"""API-key authentication. A key is presented as ``Authorization: Bearer
<key>`` (or ``X-API-Key: <key>``); its role grants permissions:
admin → read, write, execute; executor → read, execute; reader → read.

Valid keys are remembered per process for ``AUTH_CACHE_S`` seconds (by
digest, never the key itself), so that executors polling several times a
second cost no key lookup each; a key revoked through this process is
forgotten at once, one revoked elsewhere within ``AUTH_CACHE_S``."""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable

from flask import Flask, current_app, request

from api.database import session
from api.errors import Problem
from store.enums import Role
from store.repositories import keys
from wire.bearer import CHALLENGE, bearer_key

_EXTENSION = "meshplan.keys"
_CACHE_ENTRIES_MAX = 4096


class Permission(enum.StrEnum):
    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.EXECUTOR: frozenset({Permission.READ, Permission.EXECUTE}),
    Role.READER: frozenset({Permission.READ}),
}


class KeyCache:
    """Roles of recently seen valid keys, by key digest, for ``ttl_s``."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._roles: dict[str, tuple[float, Role]] = {}
        self._lock = threading.Lock()

    def role(self, key: str) -> Role | None:
        """The key's role, from memory or the database; None if invalid."""
        digest = keys.digest(key)
        now = self.clock()
        with self._lock:
            cached = self._roles.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        row = keys.authenticate(session(), key)
        if row is None:
            self.forget(digest)
            return None
        if self.ttl_s > 0:
            with self._lock:
                if len(self._roles) >= _CACHE_ENTRIES_MAX:
                    self._roles.clear()
                self._roles[digest] = (now + self.ttl_s, row.role)
        return row.role

    def forget(self, digest: str) -> None:
        with self._lock:
            self._roles.pop(digest, None)


def init_app(app: Flask) -> None:
    app.extensions[_EXTENSION] = KeyCache(float(app.config["AUTH_CACHE_S"]))


def key_cache() -> KeyCache:
    cache: KeyCache = current_app.extensions[_EXTENSION]
    return cache


def presented_key() -> str | None:
    """The key sent with this request, if any."""
    key = bearer_key(request.headers.get("Authorization", ""))
    return key or request.headers.get("X-API-Key") or None


def require(permission: Permission) -> Role:
    """The caller's role, which must grant ``permission``: 401 without a
    valid key, 403 when the role lacks the permission."""
    key = presented_key()
    if key is None:
        raise Problem(
            401, "an API key is required (Authorization: Bearer <key>)", headers=CHALLENGE
        )
    role = key_cache().role(key)
    if role is None:
        raise Problem(401, "the API key is not valid", headers=CHALLENGE)
    if permission not in GRANTS[role]:
        raise Problem(403, f"role {role.value!r} may not {permission.value}")
    return role
