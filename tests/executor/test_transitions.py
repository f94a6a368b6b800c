"""An agent moving between plans while it serves: the replicas a transition
keeps answer every request during the switch, a moving model is loaded at
its new place before it leaves the old one when the steps say so, the
order follows the steps only when they start from the applied version, the
measured loads are reported, and a model whose only replica is loading is
answered with 503 + Retry-After, through the router too."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np
import pytest

from executor.agent import Agent, architecture_for
from executor.api_client import ModelInfo, ServedPlan, Step, Transition
from executor.group import GroupServer
from executor.request import ServeError
from executor.router import Agent as Routed
from executor.router import Answer, Router
from executor.runtime import ModelRuntime
from executor.server import create_app, create_router_app
from planner.domain import Group, ParallelConfig, Placement
from tests.executor.helpers import assert_problem, held_warm_up
from tests.executor.test_agent import FakeSource

ONE = ParallelConfig(1, 1)
MODELS = {name: ModelInfo(30.0, "bert", None, 1) for name in ("m1", "m2", "m3")}
V1 = ServedPlan(
    1,
    1,
    Placement((Group((0,), ONE, ("m1",)), Group((1,), ONE, ("m2",)))),
    MODELS,
    etag="1-v1",
)
V2_GROUPS = (Group((0,), ONE, ("m1",)), Group((1,), ONE, ("m3",)), Group((2,), ONE, ("m2",)))
STEPS = (Step(2, "load", "m2"), Step(1, "load", "m3"), Step(1, "evict", "m2"))


def v2(from_version: int) -> ServedPlan:
    return ServedPlan(
        2, 2, Placement(V2_GROUPS), MODELS, etag="2-v2", transition=Transition(from_version, STEPS)
    )


@pytest.fixture
def agent() -> Iterator[Agent]:
    running = Agent(FakeSource(), [0, 1, 2, 3], local_devices=jax.devices()[4:8])
    yield running
    running.shutdown()


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, tuple[int, ...]]]:
    """Every replica swapped into or out of a group: (add/remove, model, devices)."""
    seen: list[tuple[str, str, tuple[int, ...]]] = []
    add, remove = GroupServer.add, GroupServer.remove

    def spy_add(self: GroupServer, runtime: ModelRuntime) -> None:
        seen.append(("add", runtime.name, self.key[0]))
        add(self, runtime)

    def spy_remove(self: GroupServer, name: str) -> None:
        seen.append(("remove", name, self.key[0]))
        remove(self, name)

    monkeypatch.setattr(GroupServer, "add", spy_add)
    monkeypatch.setattr(GroupServer, "remove", spy_remove)
    return seen


def tokens(model: str) -> np.ndarray:
    arch = architecture_for(model, MODELS[model], "tiny")
    return np.zeros((1, arch.seq_len), np.int32)


@dataclasses.dataclass
class Client:
    """Sends requests for ``model`` one after another from a thread until
    stopped; keeps (monotonic time answered, error status or None)."""

    agent: Agent
    model: str
    answers: list[tuple[float, int | None]] = dataclasses.field(default_factory=list)
    stop: threading.Event = dataclasses.field(default_factory=threading.Event)

    def run(self) -> None:
        ids = tokens(self.model)
        while not self.stop.is_set():
            try:
                self.agent.host.serve(self.model, ids)
                status = None
            except ServeError as error:
                status = error.status
            self.answers.append((time.monotonic(), status))

    def served_within(self, start: float, end: float) -> tuple[int, list[int | None]]:
        """Requests answered in ``[start, end]``: how many succeeded, and the failures."""
        within = [status for at, status in self.answers if start <= at <= end]
        return within.count(None), [s for s in within if s is not None]


def test_kept_and_moving_replicas_serve_throughout_a_transition(
    agent: Agent, events: list[Any]
) -> None:
    agent.apply(V1)
    first = dict(agent.loads)
    clients = [Client(agent, "m1"), Client(agent, "m2")]
    threads = [threading.Thread(target=c.run) for c in clients]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.2)
        events.clear()
        began = time.monotonic()
        agent.apply(v2(from_version=1))
        ended = time.monotonic()
        time.sleep(0.2)
    finally:
        for client in clients:
            client.stop.set()
        for thread in threads:
            thread.join(60)
    # the steps' order: m2 loads at its new place before leaving the old one
    assert events == [("add", "m2", (2,)), ("add", "m3", (1,)), ("remove", "m2", (1,))]
    # both models answered in each half of the transition, never an error
    # (a count would depend on how loaded the machine is; a stall would not)
    middle = (began + ended) / 2
    for client in clients:
        for start, end in ((began, middle), (middle, ended)):
            served, failed = client.served_within(start, end)
            assert failed == [] and served >= 1, (client.model, start - began, served, failed)
    status = agent.status()
    assert (status["applied_version"], status["state"]) == (2, "serving")
    assert [g["models"] for g in status["groups"]] == [["m1"], ["m3"], ["m2"]]
    # m1 was loaded for version 1 and kept; m2 and m3 for version 2
    loads = {(r["model"], r["group"], r["version"]) for r in status["loads"]}
    assert loads == {("m1", 0, 1), ("m3", 1, 2), ("m2", 2, 2)}
    kept = ((0,), ONE), "m1"
    assert agent.loads[kept] is first[kept]
    for (key, name), record in agent.loads.items():
        runtime = agent.host.groups[key].models[name]
        layout = runtime.replica.plan
        assert record.model == name
        assert 0 < record.seconds < ended - began + 60
        # one device holds all the weights: the planner's count of them
        assert (
            record.bytes
            == layout.stages[0].weight_bytes
            == sum(runtime.replica.weight_bytes_per_device())
        )


def test_a_transition_from_another_version_is_replaced_by_the_difference(
    agent: Agent, events: list[Any]
) -> None:
    agent.apply(V1)
    events.clear()
    agent.apply(v2(from_version=7))
    # evict before load on the group that changes; the free group loads first
    assert events == [("add", "m2", (2,)), ("remove", "m2", (1,)), ("add", "m3", (1,))]
    assert agent.status()["applied_version"] == 2


def test_an_evict_step_names_its_group_in_the_previous_plan(
    agent: Agent, events: list[Any]
) -> None:
    agent.apply(V1)
    events.clear()
    # Device 1 keeps its place but moves from index 1 to 0; the evict of m2
    # names index 1 of version 1 (device 1), not of version 2 (device 0).
    groups = (Group((1,), ONE, ("m3",)), Group((0,), ONE, ("m1",)), Group((2,), ONE, ("m2",)))
    steps = (Step(2, "load", "m2"), Step(1, "evict", "m2"), Step(0, "load", "m3"))
    moved = ServedPlan(
        2, 2, Placement(groups), MODELS, etag="2-v2", transition=Transition(1, steps)
    )
    agent.apply(moved)
    assert events == [("add", "m2", (2,)), ("remove", "m2", (1,)), ("add", "m3", (1,))]
    assert agent.status()["applied_version"] == 2


def test_the_router_passes_on_503_with_retry_after_while_the_only_replica_loads(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = held_warm_up(monkeypatch)
    only = ServedPlan(3, 1, Placement((Group((0,), ONE, ("m1", "m2")),)), MODELS, etag="3-v1")
    loading = threading.Thread(target=agent.apply, args=(only,))
    loading.start()
    try:
        agent_app = create_app(agent.host, agent.status).test_client()
        elsewhere: list[str] = []

        def forward(url: str, model: str, body: bytes) -> Answer:
            if url == "http://b":
                elsewhere.append(model)
                return 200, {"Content-Type": "application/json"}, b'{"from": "b"}'
            answer = agent_app.post(f"/v1/infer/{model}", data=body)
            return answer.status_code, dict(answer.headers), answer.data

        router = Router(forward)
        router.update(only, [Routed("http://a", frozenset({0, 1, 2, 3}))])
        front = create_router_app(router).test_client()
        deadline = time.monotonic() + 30
        while "m1" not in agent.host.loading:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        answer = front.post("/v1/infer/m1", json={"num_sequences": 1})
        body = assert_problem(
            answer.status_code, answer.content_type, answer.data, 503, "unavailable"
        )
        assert answer.headers["Retry-After"] == "2"
        assert body["detail"] == "model 'm1' is loading here"
        queued = agent_app.post("/v1/infer/m2", json={"num_sequences": 1})  # not started yet
        assert (queued.status_code, queued.headers["Retry-After"]) == (503, "2")
        assert agent_app.post("/v1/infer/m3", json={"num_sequences": 1}).status_code == 404

        both = dataclasses.replace(
            only,
            placement=Placement((Group((0,), ONE, ("m1",)), Group((4,), ONE, ("m1",)))),
        )
        router.update(
            both, [Routed("http://a", frozenset({0})), Routed("http://b", frozenset({4}))]
        )
        for _ in range(3):  # whichever agent comes first, b answers
            answer = front.post("/v1/infer/m1", json={"num_sequences": 1})
            assert (answer.status_code, answer.json) == (200, {"from": "b"})
        assert elsewhere == ["m1"] * 3
    finally:
        release.set()
        loading.join(120)
    router.update(only, [Routed("http://a", frozenset({0, 1, 2, 3}))])
    answer = front.post("/v1/infer/m1", json={"num_sequences": 1})
    assert answer.status_code == 200 and answer.json is not None and answer.json["model"] == "m1"
