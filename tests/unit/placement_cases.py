"""Small hand-built placement instances for the solver tests.

A model of single-device latency ``L`` (s) and weight ``W`` (bytes) gets,
for each config ``(op, pp)``, ``pp`` equal stages of latency
``L / (op * pp) * (1 + OP_OVERHEAD * (op - 1)) + PP_HANDOFF_S * (pp > 1)``
and ``W / (op * pp)`` bytes per device (rounded up); batch ``b`` costs
``b ** 0.5`` times batch 1. Numbers are round so tests can reason about
them by hand. :func:`hard_instance` is the exception: one on which the
exact solvers search for seconds to minutes, for the cancel tests.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence

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
from planner.profiles import model_set, reference_latency_s
from planner.sim import Instance
from planner.validation import validate
from planner.workloads import ProcessSpec, process_workload

GB = 1 << 30
OP_OVERHEAD = 0.1
PP_HANDOFF_S = 0.001
CONFIGS = tuple(ParallelConfig(op, pp) for op in (1, 2, 4) for pp in (1, 2, 4))


def stage_profile(
    latency_s: float, weight_bytes: int, config: ParallelConfig, max_batch: int = 1
) -> StageProfile:
    per_device = config.op * config.pp
    stage_s = latency_s / per_device * (1 + OP_OVERHEAD * (config.op - 1))
    stage_s += PP_HANDOFF_S if config.pp > 1 else 0.0
    rows = tuple((stage_s * b**0.5,) * config.pp for b in range(1, max_batch + 1))
    return StageProfile(rows, (math.ceil(weight_bytes / per_device),) * config.pp)


def model(
    name: str,
    latency_s: float = 0.1,
    weight_bytes: int = 2 * GB,
    slo_s: float | None = None,
    configs: Sequence[ParallelConfig] = CONFIGS,
    max_batch: int = 1,
) -> ModelSpec:
    """A model with profiles for ``configs``; SLO defaults to 5 × latency."""
    profile = Profile({c: stage_profile(latency_s, weight_bytes, c, max_batch) for c in configs})
    return ModelSpec(name, slo_s if slo_s is not None else 5 * latency_s, profile)


def workload(
    rates_rps: dict[str, float], cv: float = 1.0, duration_s: float = 30.0, seed: int = 0
) -> Workload:
    """Gamma arrivals per model (``planner.workloads.process_workload``)."""
    specs = {name: ProcessSpec(rate, cv) for name, rate in rates_rps.items()}
    return process_workload(specs, duration_s, seed)


def partitions(devices: Sequence[int]) -> Iterator[list[tuple[int, ...]]]:
    """Every way to split ``devices`` into consecutive groups."""
    if not devices:
        yield []
        return
    for size in range(1, len(devices) + 1):
        for rest in partitions(devices[size:]):
            yield [tuple(devices[:size]), *rest]


def every_placement(cluster: Cluster, models: Sequence[ModelSpec]) -> Iterator[Placement]:
    """Every valid placement with groups of consecutive devices covering the
    cluster: each partition, each config per group, each set of hosted
    models (brute force; tiny instances only)."""
    names = [m.name for m in models]
    subsets = [combo for r in range(len(names) + 1) for combo in itertools.combinations(names, r)]
    for parts in partitions(list(range(cluster.num_devices))):
        per_group = []
        for devices in parts:
            options = []
            for config in CONFIGS:
                if config.size != len(devices):
                    continue
                for hosted in subsets:
                    group = Group(devices, config, hosted)
                    try:
                        validate(cluster, models, Placement((group,)))
                    except ValueError:
                        continue
                    options.append(group)
            per_group.append(options)
        for groups in itertools.product(*per_group):
            yield Placement(tuple(groups))


def hard_instance() -> Instance:
    """32 BERT-1.3B models on 32 devices of 20 GB, Gamma traffic (CV 3) at
    80 % of the devices' capacity, popularity ~ rank ** -0.5: with one
    device per group and 24 demand windows, CBC takes minutes and HiGHS
    and CP-SAT several seconds to settle the proxy optimum."""
    models = model_set("s1", 2.5)[:32]
    shares = 1.0 / np.arange(1, len(models) + 1) ** 0.5
    capacity_rps = 32 / float(np.mean([reference_latency_s(m.profile) for m in models]))
    specs = {
        m.name: ProcessSpec(float(0.8 * capacity_rps * share / shares.sum()), 3.0)
        for m, share in zip(models, shares, strict=True)
    }
    cluster = Cluster(32, 20 * 10**9, devices_per_node=8)
    return Instance(cluster, tuple(models), process_workload(specs, 5.0, 0))
