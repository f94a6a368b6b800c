"""Routing by the plan: which agents host a model, queue-aware order,
retries on another replica, forwarding over HTTP, and the router's own
errors as problems."""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from executor.api_client import ModelInfo, ServedPlan
from executor.request import ServeError
from executor.router import Agent, Answer, Router, http_forward, routes
from executor.server import create_router_app
from executor.traffic import TrafficCounter, TrafficReport
from planner.domain import Group, ParallelConfig, Placement
from tests.executor.helpers import assert_problem
from tests.loopback_http import http_server

A, B = "http://a", "http://b"
AGENTS = [Agent(A, frozenset({0, 1, 2, 3})), Agent(B, frozenset({4, 5, 6, 7}))]
ONE, TWO = ParallelConfig(1, 1), ParallelConfig(2, 1)
INFO = ModelInfo(1.0, "bert", None, 2)
PLAN = ServedPlan(
    1,
    3,
    Placement(
        (
            Group((0,), ONE, ("x", "y")),
            Group((1,), ONE, ("x",)),
            Group((4, 5), TWO, ("x",)),
            Group((3, 6), TWO, ("y",)),  # spans both agents: nobody serves it
        )
    ),
    {"x": INFO, "y": INFO},
    etag="1-v3",
)


def ok(url: str) -> Answer:
    return 200, {"Content-Type": "application/json"}, json.dumps({"agent": url}).encode()


class Agents:
    """A fake network: per agent, an answer status or ``"down"``."""

    def __init__(self, **behaviour: object) -> None:
        self.behaviour = behaviour
        self.calls: list[str] = []

    def __call__(self, url: str, model: str, body: bytes) -> Answer:
        self.calls.append(url)
        what = self.behaviour.get(url.removeprefix("http://"), 200)
        if what == "down":
            raise ConnectionRefusedError("refused")
        if what == 200:
            return ok(url)
        assert isinstance(what, int)
        return what, {"Retry-After": "1"}, b"{}"


def router(network: Agents) -> Router:
    r = Router(network, down_for_s=60.0)
    r.update(PLAN, AGENTS)
    return r


def test_routes_follow_the_groups_each_agent_covers() -> None:
    assert routes(PLAN, AGENTS) == {"x": {A: 2, B: 1}, "y": {A: 1}}


def test_a_pipeline_group_across_two_agents_is_routed_to_the_one_holding_stage_0() -> None:
    pp2 = ParallelConfig(1, 2)
    spanning = Placement((Group((6, 2), pp2, ("x",)), Group((7,), ONE, ("y",))))
    plan = dataclasses.replace(PLAN, placement=spanning)
    assert routes(plan, AGENTS) == {"x": {B: 1}, "y": {B: 1}}
    only_b = [AGENTS[1], Agent("http://c", frozenset({3}))]
    assert routes(plan, only_b) == {"y": {B: 1}}  # nobody holds stage 1


def test_order_prefers_fewer_outstanding_per_replica_then_rotates() -> None:
    r = router(Agents())
    firsts = {r.order("x", 0.0)[0] for _ in range(4)}
    assert firsts == {A, B}  # idle: turns alternate
    r.outstanding[A] = 2  # 2 per 2 replicas = 1 > 0 at B
    assert r.order("x", 0.0) == [B, A]
    r.outstanding[B] = 2  # 2 per 1 replica = 2 > 1 at A
    assert r.order("x", 0.0) == [A, B]


def test_an_agent_that_is_down_is_skipped_and_tried_last_afterwards() -> None:
    network = Agents(a="down")
    r = router(network)
    for _ in range(3):
        status, _, body = r.handle("x", b"{}")
        assert (status, json.loads(body)) == (200, {"agent": B})
    assert network.calls.count(A) == 1  # marked down after the first failure
    assert r.order("x", 0.0) == [B, A]
    assert r.outstanding == {A: 0, B: 0}


def test_retryable_refusals_move_on_and_the_last_answer_wins_when_all_refuse() -> None:
    r = router(Agents(a=503))
    assert r.handle("x", b"{}")[0] == 200
    r = router(Agents(a=429, b=503))
    status, headers, _ = r.handle("x", b"{}")
    assert status in (429, 503) and headers["Retry-After"] == "1"
    r = router(Agents(a=400))
    assert r.handle("y", b"{}")[0] == 400  # a client error is not retried
    network = Agents(a=404)  # a no longer hosts x: its plan is newer than the table
    r = router(network)
    r.outstanding[B] = 10  # a is tried first
    assert r.handle("x", b"{}")[0] == 200 and network.calls == [A, B]
    assert router(Agents(a=404, b=404)).handle("x", b"{}")[0] == 404


def test_an_agent_refusing_the_routers_key_is_passed_over_and_never_reported_as_401() -> None:
    assert router(Agents(a=401)).handle("x", b"{}")[0] == 200
    with pytest.raises(ServeError) as caught:
        router(Agents(a=401, b=401)).handle("x", b"{}")
    assert (caught.value.status, caught.value.kind) == (502, "key-refused")


def test_unknown_model_and_no_reachable_agent() -> None:
    r = router(Agents(a="down", b="down"))
    with pytest.raises(ServeError) as unknown:
        r.handle("nope", b"{}")
    assert (unknown.value.status, unknown.value.kind) == (404, "unknown-model")
    with pytest.raises(ServeError) as unreachable:
        r.handle("x", b"{}")
    assert (unreachable.value.status, unreachable.value.kind) == (503, "unavailable")
    assert unreachable.value.retry_after_s is not None


def test_router_errors_are_problems() -> None:
    client = create_router_app(router(Agents(a="down", b="down"))).test_client()
    unknown = client.post("/v1/infer/nope", data=b"{}")
    body = assert_problem(
        unknown.status_code, unknown.content_type, unknown.data, 404, "unknown-model"
    )
    assert (body["detail"], body["instance"]) == ("no agent hosts model 'nope'", "/v1/infer/nope")
    down = client.post("/v1/infer/x", data=b"{}")
    assert_problem(down.status_code, down.content_type, down.data, 503, "unavailable")
    assert down.headers["Retry-After"] == "1"
    wrong = client.get("/v1/infer/x")
    assert_problem(wrong.status_code, wrong.content_type, wrong.data, 405, "method-not-allowed")
    missing = client.get("/v1/nothing")
    assert_problem(missing.status_code, missing.content_type, missing.data, 404, "not-found")


@contextmanager
def raw_agent(answer: bytes) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server that reads each request and writes ``answer`` verbatim;
    yields its URL and the paths it was asked for."""
    paths: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            paths.append(self.path)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.wfile.write(answer)
            self.close_connection = True

    with http_server(Handler) as url:
        yield url, paths


def test_an_answer_that_breaks_off_counts_as_an_unreachable_agent() -> None:
    with raw_agent(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}") as (url, _):
        with pytest.raises(ConnectionError, match="broken answer"):
            http_forward(url, "x", b"{}")
        r = Router(down_for_s=60.0)
        r.update(PLAN, [Agent(url, frozenset(range(8)))])
        with pytest.raises(ServeError) as caught:
            r.handle("x", b"{}")
    assert caught.value.status == 503
    assert r.down_until[url] > time.monotonic()  # marked down, not a 500


def test_model_names_are_quoted_in_the_forwarded_path() -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    with raw_agent(ok) as (url, paths):
        assert http_forward(url, "bert base?ü", b"{}")[0] == 200
    assert paths == ["/v1/infer/bert%20base%3F%C3%BC"]


def test_router_app_forwards_body_and_status() -> None:
    seen: list[bytes] = []
    lock = threading.Lock()

    def forward(url: str, model: str, body: bytes) -> Answer:
        with lock:
            seen.append(body)
        return 429, {"Retry-After": "2", "Content-Type": "application/problem+json"}, b"{}"

    r = Router(forward)
    r.update(PLAN, AGENTS)
    client = create_router_app(r).test_client()
    answer = client.post("/v1/infer/y", data=b'{"num_sequences": 1}')
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "2"
    assert seen == [b'{"num_sequences": 1}']
    assert client.get("/v1/routes").json == {
        "plan_version": 3,
        "routes": {"x": {A: 2, B: 1}, "y": {A: 1}},
        "outstanding": {A: 0},
    }


def test_the_counter_takes_every_model_the_plan_names_also_one_no_agent_hosts() -> None:
    """Demand for a model the plan names but no agent serves (``z``) is
    counted (the re-planner places it back from that); a name outside the
    plan is not (the API would refuse the report)."""
    plan = ServedPlan(
        1, 4, Placement((Group((0,), ONE, ("x",)),)), {"x": INFO, "z": INFO}, etag="1-v4"
    )
    clock = [1000.5]
    counter = TrafficCounter("router", clock=lambda: clock[0])
    router = Router(Agents(), counter=counter)
    router.update(plan, AGENTS)
    assert router.handle("x", b"{}")[0] == 200
    for model in ("z", "z", "nope"):
        with pytest.raises(ServeError) as raised:
            router.handle(model, b"{}")
        assert raised.value.status == 404
    clock[0] = 1001.0  # the bin [1000, 1001) has ended
    assert counter.take_completed() == [TrafficReport("router", 1, 1000, {"x": (1,), "z": (2,)})]
