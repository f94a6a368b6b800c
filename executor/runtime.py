"""A served model on a group: its replica, the padded batch sizes it is
compiled for, and per-stage latencies measured when it loads and updated by
every batch it runs.

Batches are padded to the next *bucket* (powers of two up to the model's
max batch, and the max batch itself, each rounded up to a multiple of the
replica's batch multiple), so a model compiles once per bucket and stage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Protocol

import jax
import numpy as np

from planner.autoparallel import ParallelPlan

EWMA_WEIGHT = 0.2
"""Weight of a new measurement in a stage latency estimate."""


def buckets(max_batch: int, multiple: int = 1) -> tuple[int, ...]:
    """Padded batch sizes for batches of 1..``max_batch`` rows."""
    sizes = {1 << i for i in range(max_batch.bit_length()) if 1 << i <= max_batch} | {max_batch}
    return tuple(sorted({-(-size // multiple) * multiple for size in sizes}))


def pad_rows(ids: np.ndarray, rows: int) -> np.ndarray:
    """``ids`` with zero rows appended up to ``rows``."""
    extra = rows - len(ids)
    return np.concatenate([ids, np.zeros((extra, ids.shape[1]), ids.dtype)]) if extra else ids


class Staged(Protocol):
    """What a runtime needs of a replica: its layout, its stages and its
    batch padding (:class:`executor.replica.Replica`, or
    :class:`executor.crosshost.SplitReplica` for a group over two hosts)."""

    plan: ParallelPlan

    @property
    def num_stages(self) -> int: ...

    def batch_multiple(self) -> int: ...

    def run_stage(self, k: int, x: jax.Array | np.ndarray) -> jax.Array: ...


def time_stages(replica: Staged, token_ids: np.ndarray) -> tuple[tuple[float, ...], jax.Array]:
    """Run ``token_ids`` through every stage, waiting for each; returns the
    seconds of each stage (hand-off to its mesh included) and the output."""
    seconds = []
    x: jax.Array | np.ndarray = token_ids
    for k in range(replica.num_stages):
        start = time.perf_counter()
        x = replica.run_stage(k, x).block_until_ready()
        seconds.append(time.perf_counter() - start)
    assert isinstance(x, jax.Array)
    return tuple(seconds), x


def random_tokens(rng: np.random.Generator, rows: int, seq_len: int, vocab: int) -> np.ndarray:
    return rng.integers(0, vocab, (rows, seq_len), dtype=np.int32)


class ModelRuntime:
    """A model loaded on a group, ready to serve batches of 1..``max_batch`` rows."""

    def __init__(self, name: str, replica: Staged, max_batch: int, slo_s: float) -> None:
        self.name = name
        self.replica = replica
        self.max_batch = max_batch
        self.slo_s = slo_s
        self.buckets = buckets(max_batch, replica.batch_multiple())
        self._latency: dict[int, list[float]] = {}
        self._lock = threading.Lock()

    def bucket(self, rows: int) -> int:
        """The padded size a batch of ``rows`` runs at."""
        for size in self.buckets:
            if size >= rows:
                return size
        raise ValueError(f"rows: {rows} exceeds max_batch={self.max_batch}")

    def warm_up(self, repeats: int = 3, seed: int = 0) -> None:
        """Compile every bucket and measure its stage latencies (per stage,
        the median of ``repeats`` timed runs after the compiling one)."""
        rng = np.random.default_rng(seed)
        arch = self.replica.plan.arch
        for size in self.buckets:
            ids = random_tokens(rng, size, arch.seq_len, arch.vocab)
            time_stages(self.replica, ids)
            runs = [time_stages(self.replica, ids)[0] for _ in range(repeats)]
            with self._lock:
                self._latency[size] = [float(x) for x in np.median(runs, axis=0)]

    def latency_s(self, rows: int) -> Sequence[float]:
        """Estimated seconds of each stage for a batch of ``rows``."""
        with self._lock:
            return tuple(self._latency[self.bucket(rows)])

    def observe(self, rows: int, stage: int, seconds: float) -> None:
        """Fold a measured stage time into the estimate."""
        with self._lock:
            row = self._latency[self.bucket(rows)]
            row[stage] = (1 - EWMA_WEIGHT) * row[stage] + EWMA_WEIGHT * seconds
