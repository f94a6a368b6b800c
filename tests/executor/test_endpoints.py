"""An agent and a router in front of it, each on its real server (cheroot)
with an inference key and a small body cap: keys, body sizes (declared and
chunked) and problem answers, seen by an HTTP client."""

from __future__ import annotations

import functools
import http.client
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pytest

from executor.api_client import ModelInfo, ServedPlan
from executor.endpoint import Guard
from executor.host import Host
from executor.router import Agent, Router, http_forward
from executor.server import create_app, create_router_app
from executor.wsgi import HttpServer
from planner.domain import Group, Placement
from tests.executor.helpers import assert_problem
from tests.executor.tiny import CONFIG, DEVICES, tiny_group, tiny_runtime

KEY = "inference-key-0123456789"
CAP = 1024
"""Body cap in bytes of both endpoints."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def problem(self, status: int, kind: str, field: str | None = None) -> dict[str, object]:
        content_type = self.headers.get("Content-Type", "")
        return assert_problem(self.status, content_type, self.body, status, kind, field)


@pytest.fixture(scope="module")
def ports() -> Iterator[dict[str, int]]:
    """Ports of the agent (serving model ``m``) and of the router."""
    group = tiny_group(tiny_runtime())
    host = Host()
    host.add_group(group)
    agent = HttpServer(create_app(host, dict, Guard(KEY, CAP)), "127.0.0.1")
    url = f"http://127.0.0.1:{agent.port}"
    info = ModelInfo(30.0, "bert", None, 4)
    plan = ServedPlan(1, 1, Placement((Group(DEVICES, CONFIG, ("m",)),)), {"m": info})
    router = Router(functools.partial(http_forward, key=KEY))
    router.update(plan, [Agent(url, frozenset(DEVICES))])
    front = HttpServer(create_router_app(router, Guard(KEY, CAP)), "127.0.0.1")
    yield {"agent": agent.port, "router": front.port}
    front.stop()
    agent.stop()
    group.stop()
    group.join(10)


ENDPOINTS = ["agent", "router"]
BEARER = f"Bearer {KEY}"


def call(
    target: int | http.client.HTTPConnection,
    path: str,
    body: bytes | Iterable[bytes] | None = None,
    authorization: str | None = BEARER,
) -> Answer:
    """GET ``path``, or POST ``body`` to it (chunked when given as pieces),
    on a new connection to port ``target`` or on the connection ``target``."""
    if isinstance(target, int):
        target = http.client.HTTPConnection("127.0.0.1", target, timeout=30)
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    chunked = body is not None and not isinstance(body, bytes)
    method = "GET" if body is None else "POST"
    target.request(method, path, body, headers, encode_chunked=chunked)
    response = target.getresponse()
    return Answer(response.status, response.headers, response.read())


def padded(size: int) -> bytes:
    """A valid inference body of exactly ``size`` bytes."""
    head = b'{"num_sequences": 1, "pad": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


def pieces(body: bytes, size: int = 100) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "an inference key is required (Authorization: Bearer <key>)"),
        (f"{BEARER}x", "the inference key is not valid"),
        (BEARER[:-1], "the inference key is not valid"),
        (f"Basic {KEY}", "an inference key is required (Authorization: Bearer <key>)"),
    ],
)
def test_without_the_key_a_request_gets_401(
    ports: dict[str, int], endpoint: str, authorization: str | None, detail: str
) -> None:
    for path, body in (("/v1/infer/m", b'{"num_sequences": 1}'), ("/v1/nothing", None)):
        answer = call(ports[endpoint], path, body, authorization)
        assert answer.problem(401, "unauthorized")["detail"] == detail
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="meshplan"'


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_with_the_key_a_request_is_served_and_health_needs_none(
    ports: dict[str, int], endpoint: str
) -> None:
    port = ports[endpoint]
    for authorization in (BEARER, f"bearer {KEY}"):
        answer = call(port, "/v1/infer/m", b'{"num_sequences": 2}', authorization)
        assert answer.status == 200
        assert json.loads(answer.body)["output"]["shape"][0] == 2
    health = call(port, "/healthz", authorization=None)
    assert (health.status, json.loads(health.body)) == (200, {"status": "ok"})


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_body_over_the_cap_gets_413_declared_or_chunked(
    ports: dict[str, int], endpoint: str
) -> None:
    port = ports[endpoint]
    assert call(port, "/v1/infer/m", padded(CAP)).status == 200
    assert call(port, "/v1/infer/m", pieces(padded(CAP))).status == 200  # read whole
    for body in (padded(CAP + 1), pieces(padded(CAP + 1)), pieces(padded(2 * CAP))):
        problem = call(port, "/v1/infer/m", body).problem(413, "body-too-large", "body")
        assert problem["detail"] == f"body: longer than {CAP} bytes"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_early_answer_leaves_the_connection_usable(ports: dict[str, int], endpoint: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", ports[endpoint], timeout=30)
    assert call(connection, "/v1/infer/m", pieces(padded(CAP)), None).status == 401
    again = call(connection, "/v1/infer/m", b'{"num_sequences": 1}')
    assert again.status == 200  # the refused body was not taken for a request


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("path", "body", "status", "kind", "field"),
    [
        ("/v1/infer/m", b'{"input_ids": [[1, 2]]}', 400, "bad-input", "input_ids"),
        ("/v1/infer/m", b'{"num_sequences": 1', 400, "bad-input", "body"),
        ("/v1/infer/m", b'{"num_sequences": 9}', 413, "batch-too-large", "num_sequences"),
        ("/v1/infer/gone", b'{"num_sequences": 1}', 404, "unknown-model", None),
    ],
)
def test_errors_are_problems(
    ports: dict[str, int],
    endpoint: str,
    path: str,
    body: bytes,
    status: int,
    kind: str,
    field: str | None,
) -> None:
    problem = call(ports[endpoint], path, body).problem(status, kind, field)
    assert problem["instance"] == path


@pytest.mark.parametrize("key", ["", " key", "a key", "clé", "key\n"])
def test_a_key_is_one_word_of_printable_ascii(key: str) -> None:
    with pytest.raises(ValueError, match=r"^key: "):
        Guard(key)


def test_a_guard_caps_bodies_at_one_byte_or_more_and_keeps_its_key_out_of_its_repr() -> None:
    with pytest.raises(ValueError, match=r"^max_body_bytes: must be at least 1, got 0$"):
        Guard(None, 0)
    assert KEY not in repr(Guard(KEY))
