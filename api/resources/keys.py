"""API keys: ``/v1/keys`` (admin only). The key itself is shown once, when
it is created; only its hash is stored."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, url_for
from pydantic import Field

from api.auth import Permission, key_cache
from api.database import session
from api.errors import Problem
from api.fields import Text
from api.routing import Body, Out, found, operation, render, reply
from api.views import list_view, show_view
from store.enums import Role
from store.models import ApiKey
from store.repositories import keys
from store.types import utcnow

bp = Blueprint("keys", __name__)


class KeyIn(Body):
    name: Text = Field(min_length=1, max_length=128)
    role: Role = Field(strict=False)


class KeyOut(Out):
    id: int
    name: str
    role: Role
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class NewKeyOut(KeyOut):
    key: str = Field(description="the secret; shown only now")


@operation(
    bp,
    "/keys",
    "POST",
    summary="Create an API key",
    permission=Permission.WRITE,
    body=KeyIn,
    response=NewKeyOut,
    status=201,
)
def create_key(body: KeyIn) -> Response:
    db = session()
    row, secret = keys.create_key(db, body.name, body.role)
    db.commit()
    location = url_for("keys.get_key", key_id=row.id)
    return reply(
        render(NewKeyOut, {**render(KeyOut, row), "key": secret}), 201, {"Location": location}
    )


list_view(
    bp,
    "/keys",
    "list_keys",
    ApiKey,
    KeyOut,
    summary="List API keys (without secrets)",
    response=KeyOut,
    permission=Permission.WRITE,
)
show_view(
    bp,
    "/keys/<int:key_id>",
    "get_key",
    ApiKey,
    KeyOut,
    label="key",
    summary="Show an API key (without its secret)",
    response=KeyOut,
    permission=Permission.WRITE,
)


@operation(
    bp,
    "/keys/<int:key_id>",
    "DELETE",
    summary="Revoke an API key",
    permission=Permission.WRITE,
    status=204,
    errors=(409,),
)
def revoke_key(key_id: int) -> Response:
    db = session()
    row = found(db, ApiKey, key_id, "key")
    if row.revoked_at is not None:
        raise Problem(409, f"key {key_id} is already revoked")
    row.revoked_at = utcnow()
    db.commit()
    key_cache().forget(row.key_hash)
    return Response(status=204)
