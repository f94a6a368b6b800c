"""The HTTP endpoints of an agent and of the router. The agent's:
``POST /v1/infer/<model>`` plus status and health. Errors are problem
details with a ``kind`` (:mod:`executor.endpoint`); retryable ones (503,
and 429 for a request that cannot meet its SLO here) carry ``Retry-After``.

Request body (JSON, whatever its Content-Type says): ``{"input_ids":
[[token, ...], ...]}`` (rows of ``seq_len`` tokens) or ``{"num_sequences":
n, "seed": s}`` for random tokens. The answer: ``{"model", "output":
{"shape", "sum", "first_token"}, "timings": {...}}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
from flask import Flask, Response

from executor.endpoint import Guard, body, endpoint_app
from executor.host import Host
from executor.request import bad_input, too_many_rows
from executor.router import Router
from executor.runtime import random_tokens
from executor.traffic import TrafficCounter


def json_body(raw: bytes) -> Any:
    """``raw`` parsed as JSON; 400 saying why it is not JSON."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}: {error.msg}"
        raise bad_input("body", f"invalid JSON at {where}") from None
    except UnicodeDecodeError:
        raise bad_input("body", "invalid JSON: not UTF-8") from None
    except RecursionError:
        raise bad_input("body", "invalid JSON: nested too deeply") from None


def parse_tokens(host: Host, model: str, body: Any) -> np.ndarray:
    """The token ids of an inference body; 400 when malformed, 413 when
    ``num_sequences`` exceeds the model's max_batch (nothing is drawn then)."""
    if not isinstance(body, dict):
        raise bad_input("body", "must be a JSON object")
    if "input_ids" in body:
        try:
            ids = np.asarray(body["input_ids"])
        except ValueError:
            raise bad_input("input_ids", "rows must all have the same length") from None
        if ids.dtype == object or not (ids.size == 0 or np.issubdtype(ids.dtype, np.integer)):
            raise bad_input("input_ids", "must be a list of rows of integer token ids")
        return ids
    if "num_sequences" not in body:
        raise bad_input("input_ids", "is required (or num_sequences)")
    count = body["num_sequences"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise bad_input("num_sequences", f"must be a positive integer, got {count!r}")
    seed = body.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise bad_input("seed", f"must be a non-negative integer, got {seed!r}")
    runtime = host.runtime(model)
    if count > runtime.max_batch:
        raise too_many_rows("num_sequences", count, runtime.max_batch)
    arch = runtime.replica.plan.arch
    return random_tokens(np.random.default_rng(seed), count, arch.seq_len, arch.vocab)


def create_app(
    host: Host,
    status: Callable[[], dict[str, Any]],
    guard: Guard | None = None,
    counter: TrafficCounter | None = None,
) -> Flask:
    """The agent's Flask app; ``status`` gives the body of ``GET /v1/status``;
    ``guard`` (default: no key, the default body cap) as in :mod:`executor.endpoint`;
    ``counter`` (when clients call the agent directly) counts each request
    for a model served or loading here as it arrives."""
    app = endpoint_app("meshplan.agent", guard or Guard())

    @app.post("/v1/infer/<model>")
    def infer(model: str) -> Response:
        if counter is not None and host.knows(model):
            counter.count(model)
        ids = parse_tokens(host, model, json_body(body()))
        done = host.serve(model, ids)
        return Response(
            json.dumps({"model": model, "output": done.output, "timings": done.timings()}),
            200,
            mimetype="application/json",
        )

    @app.get("/v1/status")
    def show_status() -> dict[str, Any]:
        return status()

    return app


def create_router_app(router: Router, guard: Guard | None = None) -> Flask:
    """The router's Flask app: ``POST /v1/infer/<model>`` forwarded to an
    agent (see :mod:`executor.router`), ``GET /v1/routes``, ``/healthz``;
    ``guard`` as for :func:`create_app`."""
    app = endpoint_app("meshplan.router", guard or Guard())

    @app.post("/v1/infer/<model>")
    def infer(model: str) -> Response:
        status, headers, answer = router.handle(model, body())
        response = Response(answer, status, mimetype=headers.get("Content-Type"))
        if "Retry-After" in headers:
            response.headers["Retry-After"] = headers["Retry-After"]
        return response

    @app.get("/v1/routes")
    def show_routes() -> dict[str, Any]:
        return router.describe()

    return app
