"""Input bounded at the edge, on both backends: integers beyond the columns
they land in, NUL characters, non-finite numbers, JSON beyond the parser
and workloads whose arrival processes would draw too many arrivals are
refused with problems naming the field as it was sent (404 for a path id),
and nothing is stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from store.models import Cluster, Executor, Model, Report, Workload
from tests.integration.builders import cluster_json, model_json, problem, rows, seed_api

BEYOND_INTEGER = 2**31
BEYOND_BIGINT = 2**63


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/v1/jobs/{BEYOND_INTEGER}"),
        ("GET", f"/v1/clusters/{BEYOND_BIGINT}"),
        ("GET", f"/v1/workloads/{BEYOND_INTEGER}/arrivals"),
        ("GET", f"/v1/reports/{10**30}"),
        ("DELETE", f"/v1/keys/{BEYOND_INTEGER}"),
        ("DELETE", f"/v1/executors/{BEYOND_BIGINT}"),
        ("POST", f"/v1/jobs/{BEYOND_INTEGER}/cancel"),
        ("GET", "/v1/models/0"),
        ("GET", "/v1/models/007"),
    ],
)
def test_path_ids_beyond_the_columns_are_not_found(
    client: FlaskClient, admin: dict[str, str], method: str, path: str
) -> None:
    problem(client.open(path, method=method, headers=admin), 404)


@pytest.mark.parametrize(
    "query",
    [
        f"after={BEYOND_BIGINT}",
        f"cluster_id={BEYOND_INTEGER}",
        "after=-1",
        "limit=0",
        "cluster_id=1&cluster_id=2",
        "[key]=1",
    ],
)
def test_bad_query_parameters_are_named(
    client: FlaskClient, admin: dict[str, str], query: str
) -> None:
    name = query.partition("=")[0]
    problem(client.get(f"/v1/jobs?{query}", headers=admin), 422, f"query.{name}")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"num_devices": 10**23}, "num_devices"),
        ({"devices_per_node": BEYOND_INTEGER}, "devices_per_node"),
        ({"device_mem_bytes": BEYOND_BIGINT}, "device_mem_bytes"),
        ({"name": "c\x00"}, "name"),
    ],
)
def test_bad_clusters_name_the_field_and_store_nothing(
    client: FlaskClient, engine: Engine, admin: dict[str, str], change: dict[str, Any], field: str
) -> None:
    body = {**cluster_json(), **change}
    problem(client.post("/v1/clusters", json=body, headers=admin), 422, field)
    assert rows(engine, Cluster) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"max_batch": BEYOND_INTEGER}, "max_batch"),
        ({"family": "\x00"}, "family"),
        ({"architecture": {"layers": ["dense", "re\x00lu"]}}, "architecture.layers[1]"),
        ({"architecture": {"width": float("nan")}}, "architecture.width"),
        ({"architecture": {"width": float("inf")}}, "architecture.width"),
        ({"architecture": {"name": "\ud800"}}, "architecture.name"),
    ],
)
def test_bad_models_name_the_field_and_store_nothing(
    client: FlaskClient, engine: Engine, admin: dict[str, str], change: dict[str, Any], field: str
) -> None:
    body = json.dumps({**model_json("m0"), **change})  # NaN and Infinity as Python writes them
    headers = {**admin, "Content-Type": "application/json"}
    problem(client.post("/v1/models", data=body, headers=headers), 422, field)
    assert rows(engine, Model) == 0


def test_bad_reports_name_the_member_and_store_nothing(
    client: FlaskClient, engine: Engine, admin: dict[str, str]
) -> None:
    body = {"data": {"kind": "compare", "rows": [{"solver": "gree\x00dy"}]}}
    problem(client.post("/v1/reports", json=body, headers=admin), 422, "data.rows[0].solver")
    assert rows(engine, Report) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cluster_id": BEYOND_INTEGER}, "cluster_id"),
        ({"devices": [0, BEYOND_BIGINT]}, "devices[1]"),
        ({"url": "http://e\x00"}, "url"),
    ],
)
def test_bad_executors_name_the_field_and_store_nothing(
    client: FlaskClient,
    engine: Engine,
    admin: dict[str, str],
    seeded: dict[str, Any],
    change: dict[str, Any],
    field: str,
) -> None:
    body = {"name": "e1", "cluster_id": seeded["cluster_id"], "devices": [0], "url": "u", **change}
    problem(client.post("/v1/executors", json=body, headers=admin), 422, field)
    assert rows(engine, Executor) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"applied_version": BEYOND_INTEGER}, "applied_version"),
        ({"errors": {"m0": "out of \x00memory"}}, "errors.m0"),
        ({"groups": [{"models": ["m\x00"]}]}, "groups[0].models[0]"),
        ({"latency_s": {"m0": {"p50": 0.1, "p99": 0.2, "count": BEYOND_INTEGER}}}, None),
    ],
)
def test_bad_heartbeats_name_the_field(
    client: FlaskClient,
    admin: dict[str, str],
    seeded: dict[str, Any],
    change: dict[str, Any],
    field: str | None,
) -> None:
    executor = {"name": "e1", "cluster_id": seeded["cluster_id"], "devices": [0], "url": "u"}
    ident = client.post("/v1/executors", json=executor, headers=admin).get_json()["id"]
    body = {"state": "serving", **change}
    response = client.post(f"/v1/executors/{ident}/heartbeat", json=body, headers=admin)
    problem(response, 422, field or "latency_s.m0.count")
    shown = client.get(f"/v1/executors/{ident}", headers=admin).get_json()
    assert shown["last_heartbeat_at"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"name": 1' + "0" * 5000 + "}", "invalid JSON: a number has too many digits"),
        ("[" * 100_000 + "]" * 100_000, "invalid JSON: nested too deeply"),
    ],
    ids=["digits", "nesting"],
)
def test_json_beyond_the_parser_is_a_bad_request(
    client: FlaskClient, engine: Engine, admin: dict[str, str], body: str, message: str
) -> None:
    headers = {**admin, "Content-Type": "application/json"}
    answer = problem(client.post("/v1/clusters", data=body, headers=headers), 400, "body")
    assert answer["errors"][0]["message"] == message
    assert rows(engine, Cluster) == 0


def test_integers_may_be_written_as_integral_numbers(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    body = {**cluster_json(), "num_devices": 4.0, "device_mem_bytes": 2.0**32}
    created = client.post("/v1/clusters", json=body, headers=admin)
    assert created.status_code == 201, created.get_json()
    assert (created.get_json()["num_devices"], created.get_json()["device_mem_bytes"]) == (4, 2**32)
    problem(client.post("/v1/clusters", json={**body, "num_devices": 4.5}, headers=admin), 422)


def test_keys_that_are_not_well_formed_are_refused_unseen(client: FlaskClient) -> None:
    for key in ("mp_" + "\x00" * 12 + "_secret", "mp_0123456789zz_secret"):
        response = client.get("/v1/clusters", headers={"Authorization": f"Bearer {key}"})
        problem(response, 401)


def test_a_nul_in_a_model_name_of_arrivals_names_the_mapping(
    client: FlaskClient, engine: Engine, admin: dict[str, str], seeded: dict[str, Any]
) -> None:
    body = {"name": "w2", "duration_s": 1.0, "arrivals_s": {"m\x00": [0.5]}}
    answer = problem(client.post("/v1/workloads", json=body, headers=admin), 422, "arrivals_s")
    assert answer["detail"] == "arrivals_s: key 'm\\x00' must not contain NUL characters"
    assert rows(engine, Workload) == 1


def test_windows_too_many_to_count_name_the_window(
    client: FlaskClient, engine: Engine, admin: dict[str, str], seeded: dict[str, Any]
) -> None:
    body = {"name": "w2", "duration_s": 1e308, "window_s": 1e-300, "arrivals_s": {"m0": [0.5]}}
    answer = problem(client.post("/v1/workloads", json=body, headers=admin), 422, "window_s")
    assert answer["detail"] == "window_s: gives more than 10000 windows over 1e+308 s"
    assert rows(engine, Workload) == 1


def processes(**rates_rps: float) -> dict[str, Any]:
    return {name: {"rate_rps": rate} for name, rate in rates_rps.items()}


def test_arrival_processes_beyond_the_budget_are_refused(
    client: FlaskClient, engine: Engine, admin: dict[str, str], seeded: dict[str, Any]
) -> None:
    body = {"name": "huge", "duration_s": 1e5, "processes": processes(m0=1e6, m1=1.0)}
    answer = problem(client.post("/v1/workloads", json=body, headers=admin), 422, "processes")
    assert answer["detail"] == (
        "processes: would generate about 1e+11 arrivals (rate_rps × duration_s), "
        "more than MAX_GENERATED_ARRIVALS = 10000000"
    )
    assert rows(engine, Workload) == 1


def test_the_arrivals_budget_is_a_setting(
    make_app: Callable[..., Flask], engine: Engine, admin: dict[str, str]
) -> None:
    client = make_app(MAX_GENERATED_ARRIVALS=100).test_client()
    seed_api(client, admin)
    over = {"name": "over", "duration_s": 20.0, "processes": processes(m0=3.0, m1=2.1)}
    problem(client.post("/v1/workloads", json=over, headers=admin), 422, "processes")
    within = {"name": "within", "duration_s": 20.0, "processes": processes(m0=3.0, m1=2.0)}
    assert client.post("/v1/workloads", json=within, headers=admin).status_code == 201
    assert rows(engine, Workload) == 2


@pytest.mark.parametrize(
    ("process", "field", "message"),
    [
        (
            {"rate_rps": 1.0, "cv": 1e308},
            "processes.m0.cv",
            "Input should be less than or equal to 100",
        ),
        ({"rate_rps": -1.0}, "processes.m0.rate_rps", None),
        ({"rate_rps": float("inf")}, "processes.m0.rate_rps", "Input should be a finite number"),
    ],
)
def test_bad_processes_name_the_field(
    client: FlaskClient,
    engine: Engine,
    admin: dict[str, str],
    seeded: dict[str, Any],
    process: dict[str, float],
    field: str,
    message: str | None,
) -> None:
    body = json.dumps({"name": "w2", "duration_s": 10.0, "processes": {"m0": process}})
    headers = {**admin, "Content-Type": "application/json"}
    answer = problem(client.post("/v1/workloads", data=body, headers=headers), 422, field)
    if message is not None:
        assert answer["errors"][0]["message"] == message
    assert rows(engine, Workload) == 1
