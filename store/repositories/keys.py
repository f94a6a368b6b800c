"""API keys. A key reads ``mp_<prefix>_<secret>``; only its SHA-256 is
stored. The prefix finds the row and the digest is compared in constant
time. Keys are long random strings, so a fast hash is enough."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.enums import Role
from store.models import ApiKey

_PREFIX_BYTES = 6
_HEX = frozenset(string.hexdigits)
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


def digest(key: str) -> str:
    """Hex SHA-256 of a presented key."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, name: str, role: Role) -> tuple[ApiKey, str]:
    """Store a new key; returns the row and the key itself, which is shown
    once and never stored."""
    prefix = secrets.token_hex(_PREFIX_BYTES)
    key = f"mp_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(name=name, role=role, prefix=prefix, key_hash=digest(key))
    session.add(row)
    session.flush()
    return row, key


def prefix_of(key: str) -> str | None:
    """The lookup prefix (hex digits) of a well-formed key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "mp" or len(parts[1]) != 2 * _PREFIX_BYTES:
        return None
    return parts[1] if set(parts[1]) <= _HEX else None


def authenticate(session: Session, key: str) -> ApiKey | None:
    """The live (not revoked) key row matching ``key``, else None."""
    prefix = prefix_of(key)
    row = None
    if prefix is not None:
        row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    expected = row.key_hash if row is not None else _DUMMY_HASH
    if not hmac.compare_digest(digest(key), expected) or row is None:
        return None
    return None if row.revoked_at is not None else row
