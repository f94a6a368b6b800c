"""Small builders shared by the simulator tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from planner.domain import (
    Cluster,
    Group,
    ModelSpec,
    ParallelConfig,
    Placement,
    Profile,
    StageProfile,
    Workload,
)

SERIAL = ParallelConfig(1, 1)
PIPE = ParallelConfig(1, 2)
GB = 10**9
CLUSTER = Cluster(num_devices=4, device_mem_bytes=100 * GB, load_bw_bytes_per_s=1e9)


def model(
    name: str,
    slo_s: float,
    latency_s: Sequence[Sequence[float]],
    config: ParallelConfig = SERIAL,
    weight_bytes: int = 2 * GB,
) -> ModelSpec:
    """A model profiled for one config: ``latency_s[b - 1][s]``."""
    return multi_config_model(name, slo_s, {config: latency_s}, weight_bytes)


def multi_config_model(
    name: str,
    slo_s: float,
    latency_s: Mapping[ParallelConfig, Sequence[Sequence[float]]],
    weight_bytes: int = 2 * GB,
) -> ModelSpec:
    """A model profiled for several configs, ``latency_s[config][b - 1][s]``."""
    profile = {
        config: StageProfile(tuple(tuple(row) for row in rows), (weight_bytes,) * config.pp)
        for config, rows in latency_s.items()
    }
    return ModelSpec(name, slo_s, Profile(profile))


def group(devices: Sequence[int], *models: str, config: ParallelConfig = SERIAL) -> Group:
    return Group(tuple(devices), config, models)


def placement(*groups: Group) -> Placement:
    return Placement(tuple(groups))


def workload(
    requests: Sequence[tuple[float, str]], names: Sequence[str], duration_s: float = 100.0
) -> Workload:
    """Requests as ``(arrival_s, model)`` in arrival order."""
    arrivals = np.array([t for t, _ in requests], dtype=np.float64)
    ids = np.array([list(names).index(m) for _, m in requests], dtype=np.int32)
    return Workload(arrivals, ids, tuple(names), duration_s)
