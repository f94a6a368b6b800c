"""Plans through the API: solve requests become queued jobs (202), given
placements become plans (201) once they fit, activation bumps the cluster's
plan version, and executors poll the active plan with ETags."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from planner.autoparallel import BERT_6_7B, TINY_BERT, DeviceModel, plan_parallel
from planner.codec import encode
from planner.domain import ParallelConfig
from store.db import session_factory
from store.enums import JobStatus
from store.models import ActivePlan, Plan, PlanJob, plan_job_models
from tests.integration.builders import (
    GIB,
    cluster_json,
    model_json,
    problem,
    profile_json,
    rows,
)


def group(devices: list[int], models: list[str], op: int = 1, pp: int = 1) -> dict[str, Any]:
    return {"devices": devices, "config": {"op": op, "pp": pp}, "models": models}


def test_a_solve_request_is_queued(
    client: FlaskClient, engine: Engine, admin: dict[str, str], seeded: dict[str, Any]
) -> None:
    body = {
        "cluster_id": seeded["cluster_id"],
        "workload_id": seeded["workload_id"],
        "solver": "cpsat",
        "time_limit_s": 12.5,
        "options": {"max_batch": 2},
    }
    response = client.post("/v1/plans", json=body, headers=admin)
    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued" and job["progress"] == 0.0 and job["attempts"] == 0
    assert [m["name"] for m in job["models"]] == ["m0", "m1"]
    assert (job["solver"], job["time_limit_s"], job["options"]) == ("cpsat", 12.5, {"max_batch": 2})
    with session_factory(engine)() as session:
        row = session.get_one(PlanJob, job["id"])
        assert row.status == JobStatus.QUEUED and row.lease_token is None
        linked = session.scalars(select(plan_job_models.c.model_id)).all()
        assert sorted(linked) == seeded["model_ids"]
    listed = client.get("/v1/jobs?status=queued", headers=admin).get_json()["items"]
    assert [j["id"] for j in listed] == [job["id"]]
    assert client.get("/v1/jobs?status=running", headers=admin).get_json()["items"] == []
    problem(client.get("/v1/jobs?status=lost", headers=admin), 422, "query.status")


@pytest.mark.parametrize(
    ("change", "field", "detail"),
    [
        ({"cluster_id": 99}, "cluster_id", "cluster_id: cluster 99 does not exist"),
        ({"workload_id": 99}, "workload_id", "workload_id: workload 99 does not exist"),
        ({"model_ids": [1, 99]}, "model_ids[1]", "model_ids[1]: model 99 does not exist"),
        ({"model_names": ["m0", "x"]}, "model_names[1]", "model_names[1]: unknown model 'x'"),
        (
            {"model_names": ["m0"]},
            "model_names",
            "model_names: model 'm1' is not in the model set",
        ),
        ({"model_ids": []}, "model_ids", None),
        ({"cluster_id": 2**31}, "cluster_id", None),
        ({"model_ids": [1, 2**31]}, "model_ids[1]", None),
        ({"model_names": ["m0", "m1\x00"]}, "model_names[1]", None),
        ({"options": {"seed\x00": 1}}, "options", None),
        ({"options": {"a": [1, {"b": "\x00"}]}}, "options.a[1].b", None),
        ({"solver": "magic"}, "solver", None),
        (
            {"time_limit_s": 7200.0},
            "time_limit_s",
            "time_limit_s: must be at most 3600.0, got 7200.0",
        ),
        ({"time_limit_s": -1.0}, "time_limit_s", None),
        ({"time_limit_s": float("nan")}, "time_limit_s", None),
        ({"time_limit_s": "60"}, "time_limit_s", None),
        ({"options": {"beam": 2}}, "options.beam", None),
        ({"placement": {"groups": []}}, "body", None),
        ({"model_ids": [1], "model_names": ["m0"]}, "body", None),
    ],
    ids=[
        "cluster",
        "workload",
        "model-id",
        "model-name",
        "workload-model-left-out",
        "no-models",
        "cluster-id-beyond-integer",
        "model-id-beyond-integer",
        "nul-in-model-name",
        "nul-in-option-key",
        "nul-in-option-value",
        "solver",
        "time-limit-cap",
        "time-limit-negative",
        "time-limit-nan",
        "time-limit-string",
        "option",
        "placement-and-workload",
        "ids-and-names",
    ],
)
def test_bad_solve_requests_queue_nothing(
    client: FlaskClient,
    engine: Engine,
    admin: dict[str, str],
    seeded: dict[str, Any],
    change: dict[str, Any],
    field: str,
    detail: str | None,
) -> None:
    body = {"cluster_id": seeded["cluster_id"], "workload_id": seeded["workload_id"], **change}
    message = problem(client.post("/v1/plans", json=body, headers=admin), 422, field)["detail"]
    if detail is not None:
        assert message == detail
    assert rows(engine, PlanJob) == 0


def test_a_time_varying_strategy_is_not_a_solver(
    client: FlaskClient, engine: Engine, admin: dict[str, str], seeded: dict[str, Any]
) -> None:
    body = {"cluster_id": seeded["cluster_id"], "workload_id": seeded["workload_id"]}
    response = client.post("/v1/plans", json={**body, "solver": "clockwork"}, headers=admin)
    assert problem(response, 422, "solver")["detail"] == (
        "solver: 'clockwork' is a time-varying strategy, not a static solver; "
        "choose one of greedy, cpsat, milp, sr, auto"
    )
    assert rows(engine, PlanJob) == 0


def test_a_milp_backend_is_an_option_not_a_solver(
    client: FlaskClient, engine: Engine, admin: dict[str, str], seeded: dict[str, Any]
) -> None:
    body = {"cluster_id": seeded["cluster_id"], "workload_id": seeded["workload_id"]}
    response = client.post("/v1/plans", json={**body, "solver": "milp-highs"}, headers=admin)
    assert problem(response, 422, "solver")["detail"] == (
        "solver: must be one of greedy, cpsat, milp, sr, auto; got 'milp-highs' "
        "('milp-highs' is solver 'milp' with option milp_backend=highs)"
    )
    assert rows(engine, PlanJob) == 0


def test_a_solve_is_refused_only_when_no_model_fits(
    client: FlaskClient, engine: Engine, admin: dict[str, str], seeded: dict[str, Any]
) -> None:
    big = {**model_json("big"), "profile": profile_json(weight_bytes=10 * GIB)}
    big_id = client.post("/v1/models", json=big, headers=admin).get_json()["id"]
    workload_ids = [
        client.post("/v1/workloads", json=workload, headers=admin).get_json()["id"]
        for workload in (
            {"name": "w-big", "duration_s": 1.0, "arrivals_s": {"big": [0.5]}},
            {"name": "w-both", "duration_s": 1.0, "arrivals_s": {"big": [0.5], "m0": [0.5]}},
        )
    ]
    body = {
        "cluster_id": seeded["cluster_id"],
        "workload_id": workload_ids[0],
        "model_ids": [big_id],
    }
    message = problem(client.post("/v1/plans", json=body, headers=admin), 422, "model_ids")[
        "detail"
    ]
    # 5 GiB per device on two stages, 4 GiB devices
    assert message == (
        "model_ids: 'big' fits no group of the cluster under any config: it needs 5.4 GB "
        "per device at best (op=1, pp=2), the device has 4.2 GB"
    )
    assert rows(engine, PlanJob) == 0
    both = {"cluster_id": seeded["cluster_id"], "workload_id": workload_ids[1]}  # big and m0
    assert client.post("/v1/plans", json=both, headers=admin).status_code == 202
    assert rows(engine, PlanJob) == 1


def test_given_placements_activation_and_etags(
    client: FlaskClient, engine: Engine, auth: dict[str, dict[str, str]], seeded: dict[str, Any]
) -> None:
    admin, reader = auth["admin"], auth["reader"]
    cluster_id = seeded["cluster_id"]
    served_url = f"/v1/clusters/{cluster_id}/plan"
    assert problem(client.get(served_url, headers=reader), 404)["detail"] == (
        f"cluster {cluster_id} has no active plan"
    )
    first = {"cluster_id": cluster_id, "placement": {"groups": [group([0, 1], ["m0", "m1"], pp=2)]}}
    created = client.post("/v1/plans", json={**first, "activate": True}, headers=admin)
    assert created.status_code == 201
    plan1 = created.get_json()
    assert created.headers["Location"] == f"/v1/plans/{plan1['id']}"
    assert plan1["job_id"] is None
    assert set(plan1["models"]) == {"m0", "m1"}

    served = client.get(served_url, headers=reader)
    assert served.status_code == 200
    assert served.headers["ETag"] == f'"{plan1["id"]}-v1"'
    assert served.headers["Cache-Control"] == "no-cache"
    assert served.get_json() == {
        "cluster_id": cluster_id,
        "plan_id": plan1["id"],
        "version": 1,
        "placement": first["placement"],
        "models": plan1["models"],
        "transition": None,  # activated by hand
        "stages": [{}],  # the models have no architecture: agents lay them out
    }
    for tag in (served.headers["ETag"], "*", f'"other", {served.headers["ETag"]}'):
        cached = client.get(served_url, headers={**reader, "If-None-Match": tag})
        assert cached.status_code == 304
        assert cached.data == b""
        assert cached.headers["ETag"] == served.headers["ETag"]
    stale = client.get(served_url, headers={**reader, "If-None-Match": '"0-v0"'})
    assert stale.status_code == 200

    second = {"cluster_id": cluster_id, "placement": {"groups": [group([2], ["m0"])]}}
    plan2 = client.post("/v1/plans", json=second, headers=admin).get_json()
    assert client.get(served_url, headers=reader).headers["ETag"] == f'"{plan1["id"]}-v1"'
    activate_url = f"/v1/clusters/{cluster_id}/active-plan"
    activated = client.post(activate_url, json={"plan_id": plan2["id"]}, headers=admin)
    assert activated.status_code == 200
    assert (activated.get_json()["plan_id"], activated.get_json()["version"]) == (plan2["id"], 2)
    again = client.post(activate_url, json={"plan_id": plan1["id"]}, headers=admin)
    assert again.get_json()["version"] == 3
    now = client.get(served_url, headers={**reader, "If-None-Match": served.headers["ETag"]})
    assert now.status_code == 200
    assert now.headers["ETag"] == f'"{plan1["id"]}-v3"'
    cluster = client.get(f"/v1/clusters/{cluster_id}", headers=reader).get_json()
    assert (cluster["active"]["plan_id"], cluster["active"]["version"]) == (plan1["id"], 3)
    with session_factory(engine)() as session:
        active = session.get_one(ActivePlan, cluster_id)
        assert (active.plan_id, active.version) == (plan1["id"], 3)
    listed = client.get(f"/v1/plans?cluster_id={cluster_id}", headers=reader).get_json()
    assert [p["id"] for p in listed["items"]] == [plan1["id"], plan2["id"]]


@pytest.mark.parametrize(
    ("placement", "field", "detail"),
    [
        (
            # 4 GiB of "heavy" and 1 GiB of m0 on one 4 GiB device.
            {"groups": [group([0], ["heavy", "m0"])]},
            "placement.groups[0].models",
            "placement.groups[0].models: stage 0 needs 5368709120 bytes per device, "
            "more than device_mem_bytes=4294967296",
        ),
        (
            {"groups": [group([7], ["m0"])]},
            "placement.groups[0].devices",
            "placement.groups[0].devices: device 7 is outside the cluster (0..3)",
        ),
        (
            {"groups": [group([0], ["m0"]), group([0], ["m1"])]},
            "placement.groups[1].devices",
            None,
        ),
        (
            {"groups": [group([0], ["ghost"])]},
            "placement.groups[0].models",
            "placement.groups[0].models: unknown model 'ghost'",
        ),
        ({"groups": [group([0, 1], ["m0"], op=2)]}, "placement.groups[0].config", None),
        ({"group": []}, "placement.groups", "placement.groups: is required"),
    ],
    ids=["memory", "outside", "overlap", "unknown-model", "unprofiled-config", "malformed"],
)
def test_placements_that_do_not_fit_are_refused(
    client: FlaskClient,
    engine: Engine,
    admin: dict[str, str],
    seeded: dict[str, Any],
    placement: dict[str, Any],
    field: str,
    detail: str | None,
) -> None:
    heavy = {**model_json("heavy"), "profile": profile_json(weight_bytes=4 * GIB)}
    assert client.post("/v1/models", json=heavy, headers=admin).status_code == 201
    body = {"cluster_id": seeded["cluster_id"], "placement": placement, "activate": True}
    message = problem(client.post("/v1/plans", json=body, headers=admin), 422, field)["detail"]
    if detail is not None:
        assert message == detail
    assert rows(engine, Plan) == 0
    assert rows(engine, ActivePlan) == 0


def test_activation_needs_a_plan_of_that_cluster(
    client: FlaskClient, engine: Engine, admin: dict[str, str], seeded: dict[str, Any]
) -> None:
    other = client.post("/v1/clusters", json=cluster_json("c2"), headers=admin).get_json()
    body = {"cluster_id": other["id"], "placement": {"groups": [group([0], ["m0"])]}}
    plan = client.post("/v1/plans", json=body, headers=admin).get_json()
    url = f"/v1/clusters/{seeded['cluster_id']}/active-plan"
    message = problem(
        client.post(url, json={"plan_id": plan["id"]}, headers=admin), 422, "plan_id"
    )["detail"]
    assert message == f"plan_id: plan {plan['id']} is for cluster {other['id']}"
    message = problem(client.post(url, json={"plan_id": 99}, headers=admin), 422, "plan_id")[
        "detail"
    ]
    assert message == "plan_id: plan 99 does not exist"
    assert rows(engine, ActivePlan) == 0


def test_the_served_plan_carries_each_groups_stage_ranges(
    client: FlaskClient, admin: dict[str, str], seeded: dict[str, Any]
) -> None:
    """Per group and model with an architecture, the stages of its parallel
    plan for the cluster's memory and node size; a model without an
    architecture, or one that fits no split, is left out."""
    small = dataclasses.replace(TINY_BERT, num_layers=5)
    for name, arch in (("small", small), ("huge", BERT_6_7B)):
        body = model_json(name, architecture=encode(arch), max_batch=2)
        assert client.post("/v1/models", json=body, headers=admin).status_code == 201
    groups = [group([0, 1], ["small", "m0"], pp=2), group([2], ["huge", "small"])]
    body = {"cluster_id": seeded["cluster_id"], "placement": {"groups": groups}, "activate": True}
    assert client.post("/v1/plans", json=body, headers=admin).status_code == 201
    served = client.get(f"/v1/clusters/{seeded['cluster_id']}/plan", headers=admin).get_json()
    device = DeviceModel(devices_per_node=4)  # the seeded cluster: 4 GiB devices, 4 per node
    on_two = plan_parallel(small, ParallelConfig(1, 2), device, 4 * GIB, 2)
    on_one = plan_parallel(small, ParallelConfig(1, 1), device, 4 * GIB, 2)
    assert served["stages"] == [
        {"small": [[s.start, s.end] for s in on_two.stages]},
        {"small": [[0, 6]]},  # 6.7B parameters fit no 4 GiB device
    ]
    assert [[s.start, s.end] for s in on_one.stages] == [[0, 6]]
    assert len(on_two.stages) == 2 and on_two.stages[0].start == 0 and on_two.stages[1].end == 6
