"""An agent and a router against the real planning API over loopback HTTP:
registration, plan pull with ETag, reconcile v1 -> v2, heartbeats stored,
serving through the router, and the API going down and coming back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jax
import pytest

from executor.agent import Agent
from executor.api_client import ApiClient, ApiPlanSource
from executor.router import Router, refresh
from executor.server import create_app, create_router_app
from executor.wsgi import HttpServer
from planner.domain import ParallelConfig
from tests.executor.api_stack import Stack, running_api, single_config_profile


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_api(tmp_path) as running:
        yield running


def placement(*groups: tuple[list[int], int, list[str]]) -> dict[str, object]:
    return {
        "groups": [
            {"devices": d, "config": {"op": 1, "pp": pp}, "models": m} for d, pp, m in groups
        ]
    }


def test_agent_and_router_follow_the_active_plan(stack: Stack) -> None:
    cluster = stack.post(
        "/v1/clusters",
        {"name": "c", "num_devices": 4, "device_mem_bytes": 10**9, "devices_per_node": 4},
    )["id"]
    for name, family, stages in (("bert-a", "bert", 2), ("moe-b", "moe", 1), ("odd", "custom", 1)):
        profile = single_config_profile(0.05, stages)
        if stages == 2:
            profile["configs"] += single_config_profile(0.05)["configs"]
        stack.post(
            "/v1/models",
            {"name": name, "slo_s": 30.0, "family": family, "profile": profile, "max_batch": 2},
        )
    v1 = stack.post(
        "/v1/plans",
        {"cluster_id": cluster, "placement": placement(([0, 1], 2, ["bert-a"])), "activate": True},
    )["id"]

    source = ApiPlanSource(ApiClient(stack.url, stack.executor_key), cluster, "a0", [0, 1, 2, 3])
    agent = Agent(source, [0, 1, 2, 3], local_devices=jax.devices()[:4])
    server = HttpServer(create_app(agent.host, agent.status), "127.0.0.1")
    source.url = f"http://127.0.0.1:{server.port}"
    try:
        assert agent.poll() and agent.report()
        executor = stack.admin.call("GET", f"/v1/executors/{source.executor_id}")[2]
        assert (executor["applied_version"], executor["state"]) == (1, "serving")
        assert executor["url"] == source.url and executor["devices"] == [0, 1, 2, 3]
        assert agent.applied is not None and agent.applied.plan_id == v1

        router = Router()
        assert refresh(router, stack.admin, cluster)
        front = create_router_app(router).test_client()
        answer = front.post("/v1/infer/bert-a", json={"num_sequences": 2})
        assert answer.status_code == 200 and answer.json is not None
        assert answer.json["output"]["shape"] == [2, 16, 64]
        assert front.post("/v1/infer/moe-b", json={"num_sequences": 1}).status_code == 404

        stack.post(
            "/v1/plans",
            {
                "cluster_id": cluster,
                "placement": placement(([0], 1, ["bert-a"]), ([2], 1, ["moe-b", "odd"])),
                "activate": True,
            },
        )["id"]
        assert agent.poll() and agent.report()
        assert {key: sorted(g.models) for key, g in agent.host.groups.items()} == {
            ((0,), ParallelConfig(1, 1)): ["bert-a"],
            ((2,), ParallelConfig(1, 1)): ["moe-b"],
        }
        executor = stack.admin.call("GET", f"/v1/executors/{source.executor_id}")[2]
        assert (executor["applied_version"], executor["state"]) == (2, "degraded")
        assert executor["errors"] == {
            "odd": "cannot build: models.odd.family: no tiny version of 'custom'"
        }
        assert [g["models"] for g in executor["groups"]] == [["bert-a"], ["moe-b"]]
        assert executor["latency_s"]["bert-a"]["count"] == 1
        assert refresh(router, stack.admin, cluster) and router.describe()["plan_version"] == 2
        assert front.post("/v1/infer/moe-b", json={"num_sequences": 1}).status_code == 200

        stack.stop()  # the API goes down: the agent keeps serving plan v2
        assert not agent.poll() and not agent.report()
        assert not refresh(router, stack.admin, cluster)
        assert front.post("/v1/infer/bert-a", json={"num_sequences": 1}).status_code == 200

        stack.restart()  # and comes back with plan v1 active again (version 3)
        stack.post(f"/v1/clusters/{cluster}/active-plan", {"plan_id": v1})
        assert agent.poll()
        assert agent.applied is not None and (agent.applied.plan_id, agent.applied.version) == (
            v1,
            3,
        )
        assert list(agent.host.groups) == [((0, 1), ParallelConfig(1, 2))]
        assert agent.status()["state"] == "serving" and agent.status()["errors"] == {}
    finally:
        server.stop()
        agent.shutdown()
