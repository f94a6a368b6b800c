"""Operational endpoints: health, readiness (database reachable and
migrated), Prometheus metrics, the OpenAPI document (valid, complete, and
describing what the API really answers) and the docs page."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec

from api.app import create_app
from api.database import database
from api.fields import MAX_REQUEST_LINE
from store import migrate
from tests.integration.builders import cluster_json, post_job, samples, seed_api


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readyz_needs_a_migrated_database(empty_database_url: str) -> None:
    app = create_app({"DATABASE_URL": empty_database_url})
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    head = migrate.head_revision(database(app).engine)
    assert response.get_json()["detail"] == (
        f"database at revision None, expected {head}: run meshplan db upgrade"
    )
    migrate.upgrade(database(app).engine, "0001")
    behind = client.get("/readyz")
    assert behind.status_code == 503
    assert behind.get_json()["detail"].startswith("database at revision 0001, expected")
    migrate.upgrade(database(app).engine)
    ready = client.get("/readyz")
    assert (ready.status_code, ready.get_json()) == (200, {"status": "ready", "revision": head})
    database(app).engine.dispose()


def test_readyz_reports_an_unreachable_database() -> None:
    app = create_app({"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["detail"] == (
        "the database is unavailable (OperationalError); retry later"
    )
    database(app).engine.dispose()


def test_metrics_count_requests_and_read_the_queue(
    client: FlaskClient, auth: dict[str, dict[str, str]]
) -> None:
    seeded = seed_api(client, auth["admin"])
    post_job(client, auth["admin"], seeded)
    client.get("/v1/clusters/999", headers=auth["reader"])
    found = samples(client)
    requests = "meshplan_http_requests_total"
    assert (
        found[(requests, (("endpoint", "/v1/models"), ("method", "POST"), ("status", "201")))] == 2
    )
    assert (
        found[(requests, (("endpoint", "/v1/plans"), ("method", "POST"), ("status", "202")))] == 1
    )
    key = (("endpoint", "/v1/clusters/<int:cluster_id>"), ("method", "GET"), ("status", "404"))
    assert found[(requests, key)] == 1
    assert found[("meshplan_database_up", ())] == 1
    assert found[("meshplan_jobs", (("status", "queued"),))] == 1
    assert found[("meshplan_jobs", (("status", "succeeded"),))] == 0
    latency = "meshplan_http_request_duration_seconds_count"
    assert found[(latency, (("endpoint", "/v1/plans"), ("method", "POST")))] == 1


@pytest.fixture
def spec(app: Flask) -> dict[str, Any]:
    document: dict[str, Any] = app.test_client().get("/openapi.json").get_json()
    return document


def test_the_openapi_document_is_valid_and_complete(app: Flask, spec: dict[str, Any]) -> None:
    validate_spec(spec)
    assert spec["openapi"] == "3.1.0"
    rules = {
        (rule.rule.replace("<int:", "{").replace(">", "}"), method.lower())
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith(("/openapi.json", "/docs"))  # the document and its page
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert documented == rules
    assert {"/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
    assert "security" not in spec["paths"]["/healthz"]["get"]
    assert "503" in spec["paths"]["/readyz"]["get"]["responses"]
    metrics_answer = spec["paths"]["/metrics"]["get"]["responses"]["200"]
    assert list(metrics_answer["content"]) == ["text/plain"]
    assert metrics_answer["content"]["text/plain"]["schema"]["type"] == "string"
    plans = spec["paths"]["/v1/plans"]["post"]
    assert plans["x-permission"] == "write"
    assert plans["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PlanIn"
    }
    assert set(plans["responses"]) >= {"202", "401", "403", "422"}
    solver = spec["components"]["schemas"]["PlanIn"]["properties"]["solver"]
    assert solver["enum"] == ["greedy", "cpsat", "milp", "lns", "sr", "auto"]
    served = spec["paths"]["/v1/clusters/{cluster_id}/plan"]["get"]
    assert served["parameters"][0] == {
        "name": "cluster_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    }
    assert "304" in served["responses"]
    upload = spec["paths"]["/v1/workloads/upload"]["post"]
    assert "text/csv" in upload["requestBody"]["content"]
    assert {p["name"] for p in upload["parameters"]} >= {"name", "format", "models", "end"}


def implied_statuses(path: str, operation: dict[str, Any]) -> set[str]:
    """What every operation of its kind can answer besides success."""
    statuses = {"503"} if path != "/healthz" else set()
    if "security" in operation:
        statuses |= {"401", "403"}
    if "{" in path:
        statuses.add("404")
    if operation["parameters"] and any(p["in"] == "query" for p in operation["parameters"]):
        statuses.add("422")
    media = operation.get("requestBody", {}).get("content", {})
    if "application/json" in media:
        statuses |= {"400", "413", "415", "422"}
    elif media:
        statuses |= {"413", "422"}
    return statuses


def test_every_operation_documents_what_it_can_answer(spec: dict[str, Any]) -> None:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            missing = implied_statuses(path, operation) - documented
            assert not missing, f"{method.upper()} {path} leaves out {sorted(missing)}"
            # gunicorn answers an over-long request line before the API sees it.
            assert str(MAX_REQUEST_LINE) in operation["responses"]["414"]["description"]
            if "503" in operation["responses"]:
                retry = operation["responses"]["503"]["headers"]["Retry-After"]
                assert retry["schema"] == {"type": "integer", "minimum": 1}
    assert set(spec["paths"]["/healthz"]["get"]["responses"]) == {"200", "414"}
    assert set(spec["paths"]["/v1/reports/{report_id}"]["get"]["responses"]) >= {"406"}
    assert set(spec["paths"]["/v1/keys/{key_id}"]["delete"]["responses"]) >= {"409"}


def test_the_document_states_the_bounds_the_api_enforces(make_app: Any) -> None:
    spec = make_app(TIME_LIMIT_MAX_S=90.0).test_client().get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    assert schemas["PlanIn"]["properties"]["time_limit_s"]["maximum"] == 90.0
    cluster = schemas["ClusterIn"]["properties"]
    assert cluster["num_devices"]["maximum"] == 2**31 - 1
    assert cluster["device_mem_bytes"]["maximum"] == 2**63 - 1
    assert cluster["name"]["pattern"] == r"^[^\x00]*$"
    workload = schemas["WorkloadIn"]
    assert workload["properties"]["processes"]["anyOf"][0]["propertyNames"] == {
        "pattern": r"^[^\x00]*$"
    }
    assert len(workload["oneOf"]) == 2
    assert schemas["ProcessIn"]["properties"]["cv"]["maximum"] == 100.0
    jobs = {p["name"]: p["schema"] for p in spec["paths"]["/v1/jobs"]["get"]["parameters"]}
    assert jobs["cluster_id"] == {
        "maximum": 2**31 - 1,
        "minimum": 1,
        "type": "integer",
        "title": "Cluster Id",
    }


def conforms(spec: dict[str, Any], path: str, method: str, response: Any) -> None:
    """The response body matches the schema the document gives for it."""
    answer = spec["paths"][path][method]["responses"][str(response.status_code)]
    media = response.headers["Content-Type"].split(";")[0]
    schema = {**answer["content"][media]["schema"], "components": spec["components"]}
    Draft202012Validator(schema).validate(response.get_json())


def test_answers_match_the_document(
    client: FlaskClient, auth: dict[str, dict[str, str]], spec: dict[str, Any]
) -> None:
    admin = auth["admin"]
    created = client.post("/v1/clusters", json=cluster_json("c0"), headers=admin)
    conforms(spec, "/v1/clusters", "post", created)
    conforms(
        spec,
        "/v1/clusters",
        "post",
        client.post("/v1/clusters", json=cluster_json("c0"), headers=admin),
    )
    seeded = seed_api(client, admin)
    conforms(spec, "/v1/clusters", "get", client.get("/v1/clusters?limit=1", headers=admin))
    conforms(spec, "/v1/models/{model_id}", "get", client.get("/v1/models/1", headers=admin))
    conforms(
        spec, "/v1/workloads/{workload_id}", "get", client.get("/v1/workloads/1", headers=admin)
    )
    body = {"cluster_id": seeded["cluster_id"], "workload_id": seeded["workload_id"]}
    queued = client.post("/v1/plans", json=body, headers=admin)
    conforms(spec, "/v1/plans", "post", queued)
    conforms(spec, "/v1/jobs", "get", client.get("/v1/jobs", headers=admin))
    placement = {"groups": [{"devices": [0], "config": {"op": 1, "pp": 1}, "models": ["m0"]}]}
    given = {"cluster_id": seeded["cluster_id"], "placement": placement, "activate": True}
    conforms(spec, "/v1/plans", "post", client.post("/v1/plans", json=given, headers=admin))
    served = client.get(f"/v1/clusters/{seeded['cluster_id']}/plan", headers=admin)
    conforms(spec, "/v1/clusters/{cluster_id}/plan", "get", served)
    cancelled = client.post(f"/v1/jobs/{queued.get_json()['id']}/cancel", headers=admin)
    conforms(spec, "/v1/jobs/{job_id}/cancel", "post", cancelled)
    conforms(spec, "/v1/jobs/{job_id}", "get", client.get("/v1/jobs/99", headers=admin))
    agent = {"name": "a", "cluster_id": seeded["cluster_id"], "devices": [0], "url": "http://a"}
    registered = client.post("/v1/executors", json=agent, headers=auth["executor"])
    conforms(spec, "/v1/executors", "post", registered)
    beat = {"state": "serving", "applied_version": 1}
    url = f"/v1/executors/{registered.get_json()['id']}/heartbeat"
    conforms(
        spec,
        "/v1/executors/{executor_id}/heartbeat",
        "post",
        client.post(url, json=beat, headers=auth["executor"]),
    )


class Resources(HTMLParser):
    """The URLs of the scripts, style sheets and images a page loads, and
    whether it has inline script."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_script = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("script", "img", "iframe") and found.get("src"):
            self.urls.append(str(found["src"]))
        elif tag == "link" and found.get("href"):
            self.urls.append(str(found["href"]))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        self.inline_script |= self._in_script and bool(data.strip())


MEDIA = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}


def test_the_docs_page_loads_swagger_ui_from_its_own_origin(client: FlaskClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    page = response.data.decode()
    assert 'data-spec="/openapi.json"' in page
    found = Resources()
    found.feed(page)
    assert not found.inline_script
    assert {url.rsplit("/", 1)[-1] for url in found.urls} >= {
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "init.js",
    }
    for url in found.urls:
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("", ""), url  # same origin
        assert url.startswith("/docs/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.mimetype == MEDIA[PurePosixPath(parts.path).suffix], url
        assert len(asset.data) > 0
    bundle = client.get("/docs/assets/swagger-ui-bundle.js").data
    assert b"SwaggerUIBundle" in bundle


@pytest.mark.parametrize("name", ["index.css", "LICENSE", "..%2Fflask_swagger_ui.py", "nope.js"])
def test_only_the_pages_assets_are_served(client: FlaskClient, name: str) -> None:
    response = client.get(f"/docs/assets/{name}")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
