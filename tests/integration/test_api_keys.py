"""API keys on both databases: only hashes are stored, revoked keys stop
working, keys made through the API work at once."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select, update

from api.auth import key_cache
from store.db import session_factory
from store.models import ApiKey
from store.types import utcnow


def test_keys_are_stored_hashed(engine: Engine, keys: dict[str, str]) -> None:
    with session_factory(engine)() as session:
        rows = {row.role.value: row for row in session.scalars(select(ApiKey))}
    for role, key in keys.items():
        row = rows[role]
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert key.startswith(f"mp_{row.prefix}_")
        assert key not in (row.key_hash, row.prefix, row.name)


def test_create_use_and_revoke_a_key(
    client: FlaskClient, engine: Engine, auth: dict[str, dict[str, str]]
) -> None:
    created = client.post("/v1/keys", json={"name": "ci", "role": "reader"}, headers=auth["admin"])
    assert created.status_code == 201
    data = created.get_json()
    assert created.headers["Location"] == f"/v1/keys/{data['id']}"
    assert data["role"] == "reader" and data["revoked_at"] is None
    key = data["key"]
    reader = {"X-API-Key": key}
    assert client.get("/v1/clusters", headers=reader).status_code == 200
    assert client.post("/v1/clusters", json={}, headers=reader).status_code == 403
    shown = client.get(f"/v1/keys/{data['id']}", headers=auth["admin"]).get_json()
    assert "key" not in shown
    assert client.delete(f"/v1/keys/{data['id']}", headers=auth["admin"]).status_code == 204
    assert client.get("/v1/clusters", headers=reader).status_code == 401
    again = client.delete(f"/v1/keys/{data['id']}", headers=auth["admin"])
    assert again.status_code == 409
    with session_factory(engine)() as session:
        row = session.get_one(ApiKey, data["id"])
        assert row.revoked_at is not None


def test_a_bad_role_is_422_and_stores_nothing(
    client: FlaskClient, engine: Engine, auth: dict[str, dict[str, str]]
) -> None:
    response = client.post("/v1/keys", json={"name": "x", "role": "root"}, headers=auth["admin"])
    assert response.status_code == 422
    assert response.get_json()["field"] == "role"
    with session_factory(engine)() as session:
        assert len(session.scalars(select(ApiKey)).all()) == 3


def test_a_key_revoked_by_another_process_stops_working_within_auth_cache_s(
    make_app: Callable[..., Flask], engine: Engine, keys: dict[str, str]
) -> None:
    app = make_app(AUTH_CACHE_S=5.0)
    now = [100.0]
    with app.app_context():
        key_cache().clock = lambda: now[0]
    client = app.test_client()
    reader = {"X-API-Key": keys["reader"]}
    assert client.get("/v1/clusters", headers=reader).status_code == 200
    with session_factory(engine).begin() as session:
        session.execute(update(ApiKey).where(ApiKey.role == "reader").values(revoked_at=utcnow()))
    now[0] = 104.9
    assert client.get("/v1/clusters", headers=reader).status_code == 200
    now[0] = 105.1
    assert client.get("/v1/clusters", headers=reader).status_code == 401
