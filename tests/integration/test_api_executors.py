"""Executor agents: registration, heartbeats with the plan version they
applied, health, and the contract the JAX agent relies on."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select, update

from store.db import session_factory
from store.enums import ExecutorState
from store.models import Executor


def register(client: FlaskClient, headers: dict[str, str], cluster_id: int, **fields: Any) -> Any:
    body = {
        "name": "agent-0",
        "cluster_id": cluster_id,
        "devices": [0, 1],
        "url": "http://127.0.0.1:9100",
        **fields,
    }
    return client.post("/v1/executors", json=body, headers=headers)


def executors(engine: Engine) -> int:
    with session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(Executor)) or 0


def test_register_then_reregister_after_a_restart(
    client: FlaskClient, engine: Engine, auth: dict[str, dict[str, str]], seeded: dict[str, Any]
) -> None:
    executor = auth["executor"]
    first = register(client, executor, seeded["cluster_id"])
    assert first.status_code == 201
    data = first.get_json()
    assert first.headers["Location"] == f"/v1/executors/{data['id']}"
    assert (data["name"], data["devices"], data["state"]) == ("agent-0", [0, 1], "registered")
    assert data["healthy"] is False and data["last_heartbeat_at"] is None
    beat: dict[str, Any] = {
        "applied_version": None,
        "state": "serving",
        "groups": [],
        "latency_s": {},
    }
    client.post(f"/v1/executors/{data['id']}/heartbeat", json=beat, headers=executor)
    again = register(client, executor, seeded["cluster_id"], devices=[2, 3], url="http://h:1")
    assert again.status_code == 200
    assert again.get_json()["id"] == data["id"]
    assert (again.get_json()["devices"], again.get_json()["url"]) == ([2, 3], "http://h:1")
    assert again.get_json()["state"] == "registered"
    assert executors(engine) == 1


@pytest.mark.parametrize(
    ("change", "field", "detail"),
    [
        ({"devices": [0, 4]}, "devices[1]", "devices[1]: must be in 0..3, got 4"),
        ({"devices": [1, 1]}, "devices", "devices: lists a device twice"),
        ({"devices": []}, "devices", None),
        ({"cluster_id": 42}, "cluster_id", "cluster_id: cluster 42 does not exist"),
        ({"url": 7}, "url", None),
    ],
    ids=["outside", "twice", "none", "cluster", "url"],
)
def test_bad_registrations_store_nothing(
    client: FlaskClient,
    engine: Engine,
    auth: dict[str, dict[str, str]],
    seeded: dict[str, Any],
    change: dict[str, Any],
    field: str,
    detail: str | None,
) -> None:
    fields = {"cluster_id": seeded["cluster_id"], **change}
    response = register(client, auth["executor"], **fields)
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.get_json()["field"] == field
    if detail is not None:
        assert response.get_json()["detail"] == detail
    assert executors(engine) == 0


def test_heartbeats_report_state_version_and_latency(
    client: FlaskClient, engine: Engine, auth: dict[str, dict[str, str]], seeded: dict[str, Any]
) -> None:
    executor, admin = auth["executor"], auth["admin"]
    cluster_id = seeded["cluster_id"]
    executor_id = register(client, executor, cluster_id).get_json()["id"]
    url = f"/v1/executors/{executor_id}/heartbeat"
    beat: dict[str, Any] = {
        "applied_version": None,
        "state": "starting",
        "groups": [],
        "latency_s": {},
    }
    first = client.post(url, json=beat, headers=executor)
    assert first.status_code == 200
    assert first.get_json() == {"id": executor_id, "plan_version": None}

    placement = {"groups": [{"devices": [0], "config": {"op": 1, "pp": 1}, "models": ["m0"]}]}
    body = {"cluster_id": cluster_id, "placement": placement, "activate": True}
    assert client.post("/v1/plans", json=body, headers=admin).status_code == 201
    # What executor.agent.Agent.status() sends.
    groups = [{"devices": [0], "config": {"op": 1, "pp": 1}, "models": ["m0"]}]
    latency = {"m0": {"p50": 0.012, "p99": 0.03, "count": 120}}
    serving = {
        "applied_version": 1,
        "state": "serving",
        "groups": groups,
        "latency_s": latency,
        "errors": {},
        "loads": [{"model": "m0", "group": 0, "seconds": 1.5, "bytes": 4096, "version": 1}],
    }
    second = client.post(url, json=serving, headers=executor)
    assert second.get_json() == {"id": executor_id, "plan_version": 1}

    shown = client.get(f"/v1/executors/{executor_id}", headers=auth["reader"]).get_json()
    assert (shown["state"], shown["applied_version"], shown["healthy"]) == ("serving", 1, True)
    assert shown["groups"] == groups and shown["latency_s"] == latency
    assert shown["errors"] == {}
    failing = {**serving, "state": "degraded", "errors": {"m1": "out of memory"}}
    client.post(url, json=failing, headers=executor)
    shown = client.get(f"/v1/executors/{executor_id}", headers=auth["reader"]).get_json()
    assert (shown["state"], shown["errors"], shown["healthy"]) == (
        "degraded",
        {"m1": "out of memory"},
        False,
    )
    with session_factory(engine)() as session:
        row = session.get_one(Executor, executor_id)
        assert row.state == ExecutorState.DEGRADED and row.applied_version == 1
        stale = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
        session.execute(update(Executor).values(last_heartbeat_at=stale))
        session.commit()
    assert client.get(f"/v1/executors/{executor_id}", headers=admin).get_json()["healthy"] is False
    listed = client.get(f"/v1/executors?cluster_id={cluster_id}", headers=admin).get_json()
    assert [e["id"] for e in listed["items"]] == [executor_id]
    assert client.get("/v1/executors?cluster_id=99", headers=admin).get_json()["items"] == []


LOAD = {"model": "m0", "group": 0, "seconds": 1.5, "bytes": 4096, "version": 1}


@pytest.mark.parametrize(
    ("beat", "field"),
    [
        ({"state": "dancing"}, "state"),
        ({"state": "serving", "applied_version": -1}, "applied_version"),
        (
            {"state": "serving", "latency_s": {"m0": {"p50": 0.1, "p99": -1, "count": 1}}},
            "latency_s.m0.p99",
        ),
        ({"state": "serving", "latency_s": {"m0": {"p50": 0.1}}}, "latency_s.m0.p99"),
        ({"state": "serving", "loads": [{**LOAD, "seconds": -1.0}]}, "loads[0].seconds"),
        ({"state": "serving", "loads": [LOAD, {**LOAD, "bytes": 0}]}, "loads[1].bytes"),
        ({"state": "serving", "loads": [{**LOAD, "version": None}]}, "loads[0].version"),
    ],
    ids=[
        "state",
        "version",
        "negative-latency",
        "missing-percentile",
        "negative-load-time",
        "no-weights",
        "no-version",
    ],
)
def test_bad_heartbeats_change_nothing(
    client: FlaskClient,
    engine: Engine,
    auth: dict[str, dict[str, str]],
    seeded: dict[str, Any],
    beat: dict[str, Any],
    field: str,
) -> None:
    executor_id = register(client, auth["executor"], seeded["cluster_id"]).get_json()["id"]
    url = f"/v1/executors/{executor_id}/heartbeat"
    response = client.post(url, json=beat, headers=auth["executor"])
    assert response.status_code == 422
    assert response.get_json()["field"] == field
    with session_factory(engine)() as session:
        row = session.get_one(Executor, executor_id)
        assert row.state == ExecutorState.REGISTERED and row.last_heartbeat_at is None


def test_deregister(
    client: FlaskClient, engine: Engine, auth: dict[str, dict[str, str]], seeded: dict[str, Any]
) -> None:
    executor_id = register(client, auth["executor"], seeded["cluster_id"]).get_json()["id"]
    response = client.delete(f"/v1/executors/{executor_id}", headers=auth["executor"])
    assert response.status_code == 204 and response.data == b""
    assert executors(engine) == 0
    assert client.get(f"/v1/executors/{executor_id}", headers=auth["admin"]).status_code == 404
