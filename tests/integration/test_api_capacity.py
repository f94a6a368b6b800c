"""Capacity jobs through the API: ``POST /v1/capacity`` queues a job of
kind capacity, the worker searches it, ``GET /v1/jobs/{id}`` shows the
answer per strategy; bad input is a 4xx naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from api.worker import Worker, WorkerSettings
from planner.codec import decode
from planner.evaluation.devices import DeviceNeed
from store.db import session_factory
from tests.integration.builders import problem

FAST = WorkerSettings(lease_s=2.0, heartbeat_s=0.2, poll_s=0.05, grace_s=5.0)


def post(client: FlaskClient, admin: dict[str, str], body: dict[str, Any]) -> Any:
    return client.post("/v1/capacity", json=body, headers=admin)


def test_a_capacity_job_end_to_end(
    client: FlaskClient, engine: Engine, admin: dict[str, str], seeded: dict[str, Any]
) -> None:
    body = {
        "cluster_id": seeded["cluster_id"],
        "workload_id": seeded["workload_id"],
        "target": 0.99,
        "time_limit_s": 30.0,
    }
    response = post(client, admin, body)
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert (job["kind"], job["status"], job["solver"]) == ("capacity", "queued", "greedy")
    assert job["options"] == {"target": 0.99, "max_devices": 4}
    assert Worker(session_factory(engine), settings=FAST).run_once()
    done = client.get(f"/v1/jobs/{job['id']}", headers=admin).get_json()
    assert done["status"] == "succeeded", done
    assert done["progress"] == 1.0 and done["plan_id"] is None
    need = decode(DeviceNeed, done["result"], "result")
    assert [a.strategy for a in need.answers] == ["greedy", "sr", "clockwork"]
    for answer in need.answers:
        # two light models on a 4-device template: at most 4, and the
        # count below the answer (when there is one) was evaluated and failed
        assert answer.devices is not None and answer.devices <= 4
        assert answer.attainment is not None and answer.attainment >= 0.99
        assert all(p.attainment < 0.99 for p in answer.points if p.devices < answer.devices)
        assert f"{answer.strategy}: {answer.describe()}" in done["message"]
    plans = client.get("/v1/jobs?status=succeeded", headers=admin).get_json()["items"]
    assert [j["kind"] for j in plans] == ["capacity"]


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"cluster_id": 99}, 422, "cluster_id"),
        ({"workload_id": 99}, 422, "workload_id"),
        ({"target": 0}, 422, "target"),
        ({"target": 1.01}, 422, "target"),
        ({"max_devices": 0}, 422, "max_devices"),
        ({"max_devices": 4097}, 422, "max_devices"),
        ({"solver": "clockwork"}, 422, "solver"),
        ({"model_names": ["nope"]}, 422, "model_names[0]"),
        ({"time_limit_s": 1e9}, 422, "time_limit_s"),
    ],
)
def test_bad_input_names_the_field(
    client: FlaskClient,
    admin: dict[str, str],
    seeded: dict[str, Any],
    change: dict[str, Any],
    status: int,
    field: str,
) -> None:
    body = {"cluster_id": seeded["cluster_id"], "workload_id": seeded["workload_id"], **change}
    problem(post(client, admin, body), status, field)
    assert client.get("/v1/jobs", headers=admin).get_json()["items"] == []
