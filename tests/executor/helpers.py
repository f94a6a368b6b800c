"""Shared test helpers for the executor."""

from __future__ import annotations

import http
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jax
import numpy as np
import pytest

from executor import agent as agent_module
from executor.runtime import ModelRuntime


def held_warm_up(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Hold every replica an agent builds before its warm-up until the
    event returned is set (or 60 s pass)."""
    release = threading.Event()
    warm_up = ModelRuntime.warm_up

    def held(self: ModelRuntime, *args: Any, **kwargs: Any) -> None:
        release.wait(60)
        warm_up(self, *args, **kwargs)

    monkeypatch.setattr(agent_module.ModelRuntime, "warm_up", held)
    return release


@contextmanager
def gated(runtime: ModelRuntime) -> Iterator[threading.Event]:
    """Hold the first stage-0 run of ``runtime`` until the block exits; the
    event yielded is set once a batch is held."""
    entered, release = threading.Event(), threading.Event()
    original = runtime.replica.run_stage

    def run_stage(k: int, x: jax.Array | np.ndarray) -> jax.Array:
        if k == 0 and not release.is_set():
            entered.set()
            release.wait(10)
        return original(k, x)

    runtime.replica.run_stage = run_stage  # type: ignore[method-assign]
    try:
        yield entered
    finally:
        release.set()
        del runtime.replica.run_stage


def assert_problem(
    status: int, content_type: str, raw: bytes, expected: int, kind: str, field: str | None = None
) -> dict[str, Any]:
    """Check an error answer: problem details (RFC 9457) of status
    ``expected`` with this ``kind``, naming ``field`` (None: no field) first
    in its detail; returns the body."""
    assert status == expected, raw
    assert content_type.split(";")[0] == "application/problem+json"
    body: dict[str, Any] = json.loads(raw)
    assert body["type"] == "about:blank"
    assert body["title"] == http.HTTPStatus(expected).phrase
    assert (body["status"], body["kind"], body.get("field")) == (expected, kind, field)
    assert body["detail"].startswith(f"{field}: " if field else "")
    assert body["instance"].startswith("/")
    return body
