"""Who may call what: every /v1 operation without a key or with a bad one
(401), with each role lacking its permission (403) and with each role that
has it, on an id that does not exist (404); none of it stores anything."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from store.db import session_factory
from store.models import Base
from tests.integration.builders import problem

READ, WRITE, EXECUTE = "read", "write", "execute"
ALLOWED = {
    READ: {"admin", "executor", "reader"},
    WRITE: {"admin"},
    EXECUTE: {"admin", "executor"},
}
PROFILE = {
    "configs": [{"config": {"op": 1, "pp": 1}, "latency_s": [[0.01]], "stage_weight_bytes": [1]}]
}
TRAFFIC = {"source": "router", "bin_s": 10, "start": 0, "counts": {"m0": [1]}}
# (method, path, permission, body that passes validation, what is missing)
ENDPOINTS: list[tuple[str, str, str, Any, str | None]] = [
    ("GET", "/v1/clusters", READ, None, None),
    ("POST", "/v1/clusters", WRITE, None, None),
    ("GET", "/v1/clusters/999", READ, None, "cluster 999"),
    ("GET", "/v1/clusters/999/plan", READ, None, "cluster 999"),
    ("POST", "/v1/clusters/999/active-plan", WRITE, {"plan_id": 1}, "cluster 999"),
    ("GET", "/v1/clusters/999/traffic", READ, None, "cluster 999"),
    ("POST", "/v1/clusters/999/traffic", EXECUTE, TRAFFIC, "cluster 999"),
    ("GET", "/v1/clusters/999/replanner", READ, None, "cluster 999"),
    ("PUT", "/v1/clusters/999/replanner", WRITE, {}, "cluster 999"),
    ("GET", "/v1/clusters/999/decisions", READ, None, "cluster 999"),
    ("GET", "/v1/models", READ, None, None),
    ("POST", "/v1/models", WRITE, None, None),
    ("GET", "/v1/models/999", READ, None, "model 999"),
    ("PUT", "/v1/models/999/profile", EXECUTE, PROFILE, "model 999"),
    ("GET", "/v1/workloads", READ, None, None),
    ("POST", "/v1/workloads", WRITE, None, None),
    ("POST", "/v1/workloads/upload", WRITE, None, None),
    ("GET", "/v1/workloads/999", READ, None, "workload 999"),
    ("GET", "/v1/workloads/999/arrivals", READ, None, "workload 999"),
    ("GET", "/v1/plans", READ, None, None),
    ("POST", "/v1/plans", WRITE, None, None),
    ("POST", "/v1/capacity", WRITE, None, None),
    ("GET", "/v1/plans/999", READ, None, "plan 999"),
    ("GET", "/v1/jobs", READ, None, None),
    ("GET", "/v1/jobs/999", READ, None, "job 999"),
    ("POST", "/v1/jobs/999/cancel", WRITE, None, "job 999"),
    ("GET", "/v1/executors", READ, None, None),
    ("POST", "/v1/executors", EXECUTE, None, None),
    ("GET", "/v1/executors/999", READ, None, "executor 999"),
    ("DELETE", "/v1/executors/999", EXECUTE, None, "executor 999"),
    ("POST", "/v1/executors/999/heartbeat", EXECUTE, {"state": "serving"}, "executor 999"),
    ("GET", "/v1/keys", WRITE, None, None),
    ("POST", "/v1/keys", WRITE, None, None),
    ("GET", "/v1/keys/999", WRITE, None, "key 999"),
    ("DELETE", "/v1/keys/999", WRITE, None, "key 999"),
    ("GET", "/v1/reports", READ, None, None),
    ("POST", "/v1/reports", WRITE, None, None),
    ("GET", "/v1/reports/999", READ, None, "report 999"),
]
IDS = [f"{method} {path}" for method, path, *_ in ENDPOINTS]


@pytest.fixture
def backend() -> str:
    """Authorisation does not depend on the database: SQLite only here."""
    return "sqlite"


def row_counts(engine: Engine) -> dict[str, int]:
    with session_factory(engine)() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def call(client: FlaskClient, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.open(path, method=method, json=body, headers=headers)


def test_the_matrix_covers_every_operation(app: Flask) -> None:
    declared = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/v1/"):
            path = re.sub(r"<[^>]+>", "999", rule.rule)
            declared |= {(m, path) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    assert declared == {(method, path) for method, path, *_ in ENDPOINTS}


BAD_CREDENTIALS = [
    {},
    {"Authorization": "Bearer mp_000000000000_not-a-key"},
    {"Authorization": "Bearer garbage"},
    {"X-API-Key": "mp_000000000000_not-a-key"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
]


@pytest.mark.parametrize(("method", "path", "permission", "body", "missing"), ENDPOINTS, ids=IDS)
def test_access_matrix(
    client: FlaskClient,
    engine: Engine,
    auth: dict[str, dict[str, str]],
    method: str,
    path: str,
    permission: str,
    body: Any,
    missing: str | None,
) -> None:
    """401 without a valid key; 403 for each role lacking the permission;
    404 for each role having it when the id does not exist; nothing stored."""
    before = row_counts(engine)
    for headers in BAD_CREDENTIALS:
        response = call(client, method, path, body, headers)
        data = problem(response, 401)
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="meshplan"'
        assert data["instance"] == path
    for role in sorted(set(auth) - ALLOWED[permission]):
        data = problem(call(client, method, path, body, auth[role]), 403)
        assert data["detail"] == f"role {role!r} may not {permission}"
    if missing is not None:
        for role in sorted(ALLOWED[permission]):
            data = problem(call(client, method, path, body, auth[role]), 404)
            assert data["detail"] == f"{missing} does not exist"
    assert row_counts(engine) == before


def test_public_endpoints_need_no_key(client: FlaskClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert client.get(path).status_code == 200, path


def test_unknown_paths_and_methods_are_problems(
    client: FlaskClient, auth: dict[str, dict[str, str]]
) -> None:
    problem(client.get("/v1/nothing", headers=auth["admin"]), 404)
    response = client.delete("/v1/clusters", headers=auth["admin"])
    problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
