"""Reconciling an agent with plans from a fake source: replicas move, the
applied version is reported, in-flight requests finish or get a retryable
error, and the last plan keeps serving while the source is down."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np
import pytest

from executor.agent import Agent, architecture_for, my_groups
from executor.api_client import ApiUnavailable, ModelInfo, ServedPlan
from executor.request import ServeError
from planner.autoparallel import TINY_BERT, TINY_MOE
from planner.codec import encode
from planner.domain import Group, ParallelConfig, Placement
from tests.executor.helpers import gated

OP1PP2, OP2PP1, OP1PP1 = ParallelConfig(1, 2), ParallelConfig(2, 1), ParallelConfig(1, 1)
MODELS = {
    "m1": ModelInfo(30.0, "bert", None, 1),
    "m2": ModelInfo(30.0, "moe", None, 1),
    "odd": ModelInfo(30.0, "custom", None, 1),
}


def plan(version: int, *groups: Group) -> ServedPlan:
    return ServedPlan(1, version, Placement(groups), MODELS, etag=f"1-v{version}")


V1 = plan(1, Group((0, 1), OP1PP2, ("m1",)), Group((2, 3), OP2PP1, ("m2",)))
V2 = plan(
    2,
    Group((0, 1), OP1PP2, ("m2",)),
    Group((2,), OP1PP1, ("m1",)),
    Group((3,), OP1PP1, ("m1",)),
    Group((4, 5), OP2PP1, ("m2",)),  # another agent's devices
)


class FakeSource:
    """Serves ``plan`` (304 when the tag matches) and keeps heartbeats."""

    def __init__(self) -> None:
        self.plan: ServedPlan | ValueError | None = None
        self.down = False
        self.beats: list[dict[str, Any]] = []

    def fetch_plan(self, etag: str | None) -> ServedPlan | None:
        if self.down:
            raise ApiUnavailable("connection refused")
        if isinstance(self.plan, ValueError):
            raise self.plan
        return None if self.plan is None or self.plan.etag == etag else self.plan

    def heartbeat(self, report: dict[str, Any]) -> None:
        if self.down:
            raise ApiUnavailable("connection refused")
        self.beats.append(report)


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def agent(source: FakeSource) -> Iterator[Agent]:
    running = Agent(source, [0, 1, 2, 3], local_devices=jax.devices()[4:8])
    yield running
    running.shutdown()


def placed(agent: Agent) -> dict[tuple[tuple[int, ...], str], list[str]]:
    return {
        (devices, str(config)): sorted(group.models)
        for (devices, config), group in agent.host.groups.items()
    }


def ask(agent: Agent, model: str) -> dict[str, Any]:
    arch = architecture_for(model, MODELS[model], "tiny")
    ids = np.zeros((1, arch.seq_len), np.int32)
    request = agent.host.serve(model, ids)
    assert request.output is not None
    return request.output


def test_plan_v1_to_v2_ends_with_exactly_v2s_replicas(agent: Agent, source: FakeSource) -> None:
    source.plan = V1
    assert agent.poll()
    assert placed(agent) == {((0, 1), "op1xpp2"): ["m1"], ((2, 3), "op2xpp1"): ["m2"]}
    first = ask(agent, "m1")
    # global device 2 is local device index 2, i.e. jax.devices()[6] here
    assert agent.host.groups[((2, 3), OP2PP1)].meshes[0].devices.tolist() == jax.devices()[6:8]

    source.plan = V2
    with gated(agent.host.groups[((2, 3), OP2PP1)].models["m2"]) as held:
        running = agent.host.submit("m2", np.zeros((1, TINY_MOE.seq_len), np.int32))
        assert held.wait(10)
        waiting = agent.host.submit("m2", np.zeros((1, TINY_MOE.seq_len), np.int32))
        switch = threading.Thread(target=agent.poll)
        switch.start()
        # group (2, 3) goes away: its waiting request is told to retry while
        # its running batch still holds stage 0
        assert waiting.done.wait(120) and waiting.error is not None
        assert (waiting.error.status, waiting.error.retry_after_s) == (503, 1.0)
        assert not running.done.is_set()
    switch.join(120)
    assert running.done.is_set() and running.error is None
    assert placed(agent) == {
        ((0, 1), "op1xpp2"): ["m2"],
        ((2,), "op1xpp1"): ["m1"],
        ((3,), "op1xpp1"): ["m1"],
    }
    assert agent.status()["applied_version"] == 2 and agent.status()["state"] == "serving"
    assert agent.report() and source.beats[-1]["applied_version"] == 2
    again = ask(agent, "m1")  # same seed: same weights on any group
    np.testing.assert_allclose(again["first_token"], first["first_token"], rtol=1e-5)
    ask(agent, "m2")


def test_source_down_keeps_the_last_plan_serving(agent: Agent, source: FakeSource) -> None:
    source.plan = plan(1, Group((0,), OP1PP1, ("m1",)))
    assert agent.poll()
    source.down = True
    assert not agent.poll() and not agent.report()
    ask(agent, "m1")
    source.plan = ValueError("plan: malformed")
    source.down = False
    assert not agent.poll()  # a malformed plan changes nothing
    ask(agent, "m1")
    source.plan = plan(2, Group((1,), OP1PP1, ("m1",)))
    assert agent.poll()
    assert placed(agent) == {((1,), "op1xpp1"): ["m1"]}
    assert agent.status()["applied_version"] == 2


def test_unchanged_plan_is_not_reapplied(agent: Agent, source: FakeSource) -> None:
    source.plan = plan(1, Group((0,), OP1PP1, ("m1",)))
    agent.poll()
    group = agent.host.groups[((0,), OP1PP1)]
    runtime = group.models["m1"]
    agent.poll()
    assert agent.host.groups[((0,), OP1PP1)] is group and group.models["m1"] is runtime


def test_a_model_that_cannot_be_built_degrades_and_the_rest_serves(
    agent: Agent, source: FakeSource
) -> None:
    source.plan = plan(1, Group((0,), OP1PP1, ("m1", "odd")))
    agent.poll()
    status = agent.status()
    assert status["state"] == "degraded" and status["applied_version"] == 1
    assert status["errors"] == {
        "odd": "cannot build: models.odd.family: no tiny version of 'custom'"
    }
    ask(agent, "m1")
    with pytest.raises(ServeError) as caught:
        agent.host.serve("odd", np.zeros((1, 16), np.int32))
    assert caught.value.status == 404


def test_architecture_and_group_selection() -> None:
    assert architecture_for("m", MODELS["m1"], "tiny") == TINY_BERT.__class__(
        **{**encode(TINY_BERT), "num_layers": 3}
    )
    full = ModelInfo(1.0, "bert", encode(TINY_MOE), 4)
    assert architecture_for("m", full, "full") == TINY_MOE
    with pytest.raises(ValueError, match=r"^models.m.architecture: is required"):
        architecture_for("m", MODELS["m1"], "full")
    assert set(my_groups(V2, [0, 1, 2, 3])) == {
        ((0, 1), OP1PP2),
        ((2,), OP1PP1),
        ((3,), OP1PP1),
    }
    assert set(my_groups(V2, [4, 5, 6])) == {((4, 5), OP2PP1)}


def test_a_stopped_agent_loads_nothing_more_and_applies_no_plan(agent: Agent) -> None:
    agent.stop()
    agent.apply(V1)
    assert agent.applied is None and agent.state == "loading"
    assert all(not group.models for group in agent.host.groups.values())
