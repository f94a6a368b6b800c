"""Small inputs for service tests: a profile JSON, model and cluster
payloads, and stored rows made through the repositories."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from planner import domain
from planner.codec import decode
from store.db import session_factory
from store.models import Cluster, Model, PlanJob, Workload
from store.repositories import catalog, jobs, workloads

GIB = 1024**3


def profile_json(weight_bytes: int = GIB, latency_s: float = 0.01) -> dict[str, Any]:
    """One model's profile: op1xpp1 with batch 1 and 2, and op1xpp2."""
    return {
        "configs": [
            {
                "config": {"op": 1, "pp": 1},
                "latency_s": [[latency_s], [1.5 * latency_s]],
                "stage_weight_bytes": [weight_bytes],
                "act_bytes": 0,
            },
            {
                "config": {"op": 1, "pp": 2},
                "latency_s": [[latency_s / 2, latency_s / 2]],
                "stage_weight_bytes": [weight_bytes // 2, weight_bytes // 2],
                "act_bytes": 0,
            },
        ]
    }


def model_json(name: str, slo_s: float = 0.1, **extra: Any) -> dict[str, Any]:
    return {"name": name, "slo_s": slo_s, "family": "bert", "profile": profile_json(), **extra}


def cluster_json(name: str = "c1", num_devices: int = 4) -> dict[str, Any]:
    return {
        "name": name,
        "num_devices": num_devices,
        "device_mem_bytes": 4 * GIB,
        "devices_per_node": 4,
        "load_bw_bytes_per_s": 1e9,
    }


def add_cluster(session: Session, name: str = "c1", num_devices: int = 4) -> Cluster:
    fields = cluster_json(name, num_devices)
    del fields["name"]
    return catalog.add_cluster(session, name, domain.Cluster(**fields))


def add_model(session: Session, name: str) -> Model:
    data = model_json(name)
    profile = decode(domain.Profile, data["profile"], "profile")
    return catalog.add_model(session, domain.ModelSpec(name, data["slo_s"], profile, "bert"))


def add_workload(session: Session, names: list[str], name: str = "w1") -> Workload:
    per_model = {n: [0.1 * (i + 1) + 0.01 * k for k in range(5)] for i, n in enumerate(names)}
    value = domain.Workload.merge(per_model, 2.0)
    return workloads.add_workload(session, name, value, source="json", window_s=1.0)


def add_jobs(session: Session, count: int, *, time_limit_s: float = 5.0) -> list[PlanJob]:
    """``count`` queued jobs on one cluster, model and workload."""
    cluster = add_cluster(session)
    model = add_model(session, "m0")
    workload = add_workload(session, ["m0"])
    return [
        jobs.enqueue(
            session,
            cluster_id=cluster.id,
            workload_id=workload.id,
            models=[model],
            solver="greedy",
            time_limit_s=time_limit_s,
            options={},
            activate=False,
        )
        for _ in range(count)
    ]


def seed_api(client: FlaskClient, headers: dict[str, str], models: int = 2) -> dict[str, Any]:
    """Through the API: cluster ``c1`` (4 devices), models ``m0..``, and a
    workload ``w1`` over them. Returns their ids."""
    cluster = client.post("/v1/clusters", json=cluster_json(), headers=headers)
    names = [f"m{i}" for i in range(models)]
    model_ids = [
        client.post("/v1/models", json=model_json(name), headers=headers).get_json()["id"]
        for name in names
    ]
    arrivals = {name: [0.1 * (i + 1) + 0.05 * k for k in range(20)] for i, name in enumerate(names)}
    body = {"name": "w1", "duration_s": 2.0, "window_s": 1.0, "arrivals_s": arrivals}
    workload = client.post("/v1/workloads", json=body, headers=headers)
    assert cluster.status_code == workload.status_code == 201
    return {
        "cluster_id": cluster.get_json()["id"],
        "model_ids": model_ids,
        "workload_id": workload.get_json()["id"],
    }


def post_job(
    client: FlaskClient, headers: dict[str, str], seeded: dict[str, Any], **fields: Any
) -> int:
    """Queue a plan job for the seeded cluster and workload; its id."""
    body = {
        "cluster_id": seeded["cluster_id"],
        "workload_id": seeded["workload_id"],
        "solver": "greedy",
        "time_limit_s": 5.0,
        **fields,
    }
    response = client.post("/v1/plans", json=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    job_id: int = response.get_json()["id"]
    return job_id


def rows(engine: Engine, table: Any) -> int:
    """How many rows ``table`` holds."""
    with session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """Assert ``response`` is an ``application/problem+json`` answer with
    ``status`` (and naming ``field`` first, when given); its body."""
    assert response.status_code == status, response.get_json()
    assert response.headers["Content-Type"] == "application/problem+json"
    data: dict[str, Any] = response.get_json()
    assert data["status"] == status
    if field is not None:
        assert data["field"] == field
        assert data["detail"].startswith(f"{field}: ")
    return data


def samples(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples of ``GET /metrics``, keyed by name and sorted labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.data.decode())
        for sample in family.samples
    }
