"""Shared test helpers for the executor."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import jax
import numpy as np

from executor.runtime import ModelRuntime


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
