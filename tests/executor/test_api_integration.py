"""An agent and a router against the real planning API over loopback HTTP:
registration, plan pull with ETag, reconcile v1 -> v2, heartbeats stored,
serving through the router, and the API going down and coming back."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jax
import pytest

from executor.agent import Agent
from executor.api_client import ApiClient, ApiPlanSource
from executor.router import Router, refresh
from executor.server import create_app, create_router_app
from executor.traffic import TrafficCounter
from executor.wsgi import HttpServer
from planner.autoparallel import TINY_BERT
from planner.codec import encode
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


def test_an_agent_moves_to_a_new_plan_while_the_router_serves_the_kept_model(
    stack: Stack,
) -> None:
    """v1 -> v2 through the API: ``keep`` stays on its group and answers
    every request sent through the router meanwhile; ``new`` is built with
    the stage ranges the API served; the heartbeat with the measured loads
    is accepted; the router counted every request it took."""
    body = {"name": "c", "num_devices": 4, "device_mem_bytes": 10**9, "devices_per_node": 4}
    cluster = stack.post("/v1/clusters", body)["id"]
    arch = encode(dataclasses.replace(TINY_BERT, num_layers=3))
    profile = single_config_profile(0.05)
    profile["configs"] += single_config_profile(0.05, 2)["configs"]
    for name in ("keep", "move", "new"):
        model = {"name": name, "slo_s": 30.0, "family": "bert", "max_batch": 2}
        stack.post("/v1/models", {**model, "architecture": arch, "profile": profile})
    v1 = placement(([0], 1, ["keep"]), ([1, 2], 2, ["move"]))
    v2 = placement(([0], 1, ["keep"]), ([1, 2], 2, ["new"]), ([3], 1, ["move"]))
    stack.post("/v1/plans", {"cluster_id": cluster, "placement": v1, "activate": True})

    source = ApiPlanSource(ApiClient(stack.url, stack.executor_key), cluster, "a0", [0, 1, 2, 3])
    agent = Agent(source, [0, 1, 2, 3], scale="full", local_devices=jax.devices()[:4])
    server = HttpServer(create_app(agent.host, agent.status), "127.0.0.1")
    source.url = f"http://127.0.0.1:{server.port}"
    sent: list[tuple[float, int]] = []
    done = threading.Event()
    try:
        assert agent.poll()
        router = Router(counter=TrafficCounter("router"))
        assert refresh(router, stack.admin, cluster)
        front = create_router_app(router).test_client()

        def client() -> None:
            while not done.is_set():
                answer = front.post("/v1/infer/keep", json={"num_sequences": 1})
                sent.append((time.monotonic(), answer.status_code))

        thread = threading.Thread(target=client)
        thread.start()
        time.sleep(0.2)
        stack.post("/v1/plans", {"cluster_id": cluster, "placement": v2, "activate": True})
        began = time.monotonic()
        assert agent.poll()
        ended = time.monotonic()
        time.sleep(0.2)
        done.set()
        thread.join(60)
        during = [status for at, status in sent if began <= at <= ended]
        assert len(during) >= 5 and set(during) == {200}
        assert {status for _, status in sent} == {200}

        served = stack.admin.call("GET", f"/v1/clusters/{cluster}/plan")[2]
        new = served["stages"][1]["new"]
        assert served["stages"][0::2] == [{"keep": [[0, 4]]}, {"move": [[0, 4]]}]
        assert len(new) == 2 and new[0][0] == 0 and new[0][1] == new[1][0] and new[1][1] == 4
        built = agent.host.groups[((1, 2), ParallelConfig(1, 2))].models["new"].replica.plan
        assert [[s.start, s.end] for s in built.stages] == new
        assert agent.report()  # the heartbeat with its loads is accepted
        loads = {(r["model"], r["group"], r["version"]) for r in agent.status()["loads"]}
        assert loads == {("keep", 0, 1), ("new", 1, 2), ("move", 2, 2)}
        executor = stack.admin.call("GET", f"/v1/executors/{source.executor_id}")[2]
        assert (executor["applied_version"], executor["state"]) == (2, "serving")

        time.sleep(1.0 - time.time() % 1.0 + 0.01)  # the bin of the last request ends
        counted = router.counter.take_completed() if router.counter else []
        assert sum(sum(r.counts.get("keep", ())) for r in counted) == len(sent)
    finally:
        done.set()
        server.stop()
        agent.shutdown()
