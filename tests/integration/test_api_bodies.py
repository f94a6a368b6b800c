"""Request bodies over their caps: 413 ``application/problem+json`` naming
the body, whether the size is declared (Content-Length) or only found out
while reading a chunked body, on every route that takes a JSON body and on
the trace upload; a body of exactly the cap is read whole."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from api.routing import Operation
from store.db import session_factory
from store.models import Base, Cluster, Workload
from tests.integration.builders import cluster_json, model_json, problem

CAP = 200


def chunked(client: FlaskClient, method: str, path: str, body: bytes, **kwargs: Any) -> Any:
    """Send ``body`` with ``Transfer-Encoding: chunked`` and no length, as
    gunicorn and Flask's server present it (``wsgi.input_terminated``)."""
    headers = {"Transfer-Encoding": "chunked", **kwargs.pop("headers", {})}
    return client.open(
        path,
        method=method,
        input_stream=io.BytesIO(body),
        headers=headers,
        environ_overrides={"wsgi.input_terminated": True},
        **kwargs,
    )


def json_routes(app: Flask) -> list[tuple[str, str]]:
    """``(method, path)`` of every operation that takes a JSON body; paths
    as the OpenAPI document writes them (``/v1/clusters/{cluster_id}``)."""
    routes = []
    for rule in app.url_map.iter_rules():
        op = getattr(app.view_functions[rule.endpoint], "operation", None)
        if isinstance(op, Operation) and op.body is not None:
            routes.append((op.method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)))
    return sorted(routes)


def with_ids(path: str) -> str:
    return re.sub(r"{\w+}", "999", path)


def stored_rows(engine: Engine) -> int:
    with session_factory(engine)() as session:
        return sum(
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
            if table.name != "api_keys"
        )


def test_a_chunked_json_body_over_the_cap_is_413_on_every_json_route(
    make_app: Callable[..., Flask], engine: Engine, admin: dict[str, str]
) -> None:
    app = make_app(MAX_CONTENT_LENGTH=CAP)
    client = app.test_client()
    routes = json_routes(app)
    assert ("POST", "/v1/clusters") in routes and len(routes) >= 8
    body = json.dumps({"name": "x" * CAP}).encode()
    for method, path in routes:
        response = chunked(
            client, method, with_ids(path), body, content_type="application/json", headers=admin
        )
        data = problem(response, 413, "body")
        assert data["detail"] == f"body: larger than {CAP} bytes", (method, path)
    assert stored_rows(engine) == 0


def test_every_json_route_documents_the_body_problems(app: Flask) -> None:
    spec = app.test_client().get("/openapi.json").get_json()
    for method, path in json_routes(app):
        responses = spec["paths"][path][method.lower()]["responses"]
        assert set(responses) >= {"400", "413", "415", "422"}, (method, path)
        assert "application/problem+json" in responses["413"]["content"]


def test_a_chunked_json_body_of_exactly_the_cap_is_read_whole(
    make_app: Callable[..., Flask], engine: Engine, admin: dict[str, str]
) -> None:
    client = make_app(MAX_CONTENT_LENGTH=CAP).test_client()
    body = json.dumps(cluster_json()).encode()
    body = body[:-1] + b" " * (CAP - len(body)) + b"}"
    assert len(body) == CAP
    response = chunked(
        client, "POST", "/v1/clusters", body, content_type="application/json", headers=admin
    )
    assert response.status_code == 201, response.get_json()
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Cluster)) == 1


def test_a_declared_json_body_over_the_cap_names_the_body(
    make_app: Callable[..., Flask], admin: dict[str, str]
) -> None:
    client = make_app(MAX_CONTENT_LENGTH=CAP).test_client()
    body = {**cluster_json(), "name": "x" * CAP}
    data = problem(client.post("/v1/clusters", json=body, headers=admin), 413, "body")
    assert data["detail"] == f"body: larger than {CAP} bytes"


@pytest.mark.parametrize("size", [CAP + 1, 10 * CAP])
def test_a_chunked_upload_over_its_cap_is_413(
    make_app: Callable[..., Flask], engine: Engine, admin: dict[str, str], size: int
) -> None:
    app = make_app(MAX_UPLOAD_BYTES=CAP)
    client = app.test_client()
    assert client.post("/v1/models", json=model_json("m0"), headers=admin).status_code == 201
    header = b"app,func,end_timestamp,duration\n"
    rows = b"".join(b"a,f,%d,0\n" % i for i in range(1, size))
    text = (header + rows)[:size]
    query = {"name": "t", "format": "azure2021", "models": "m0", "end": "0.1.0"}
    response = chunked(
        client,
        "POST",
        "/v1/workloads/upload",
        text,
        query_string=query,
        content_type="text/csv",
        headers=admin,
    )
    data = problem(response, 413, "body")
    assert data["detail"] == f"body: larger than {CAP} bytes"
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Workload)) == 0
