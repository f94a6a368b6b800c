"""A tiny BERT, model ``m``, on two emulated devices, as the serving tests
load it."""

from __future__ import annotations

import jax
import numpy as np

from executor.group import GroupServer
from executor.replica import Replica
from executor.runtime import ModelRuntime
from planner.autoparallel import Architecture, plan_parallel
from planner.domain import ParallelConfig

ARCH = Architecture("bert", num_layers=1, hidden=32, heads=4, vocab=64, seq_len=8, dtype_bytes=4)
CONFIG = ParallelConfig(1, 2)
SEED = 11
DEVICES = (0, 1)


def tiny_runtime() -> ModelRuntime:
    """Model ``m`` (max_batch 4, SLO 30 s), compiled and timed."""
    meshes = GroupServer(DEVICES, jax.devices()[:2], CONFIG).meshes
    plan = plan_parallel(ARCH, CONFIG, max_batch=4)
    loaded = ModelRuntime("m", Replica(plan, meshes, SEED), max_batch=4, slo_s=30.0)
    loaded.warm_up(repeats=1)
    return loaded


def tiny_group(runtime: ModelRuntime) -> GroupServer:
    """A running group serving ``runtime`` (stop and join it after use)."""
    group = GroupServer(DEVICES, jax.devices()[:2], CONFIG)
    group.add(runtime)
    return group


def tokens(rows: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, ARCH.vocab, (rows, ARCH.seq_len), np.int32)
