"""The profiler: real forward passes of a model for each parallel config and
batch size, turned into the planner's :class:`Profile`.

For each config the model is laid out as :func:`plan_parallel` plans it (the
stages and shardings the agents will run), loaded on the first ``op * pp``
local devices and warmed up exactly as an agent warms it up; the latency of
stage ``s`` for a batch of ``b`` is the measured latency of ``b``'s padded
bucket (what serving ``b`` requests costs). Weight bytes per device are read
from the placed arrays; activation bytes per item from XLA's temporary
buffer size of each stage at the largest bucket, divided by its rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import numpy as np

from executor import zoo
from executor.replica import Replica, Stage, model_seed
from executor.runtime import ModelRuntime
from executor.sharding import stage_meshes
from planner.autoparallel import Architecture, plan_parallel
from planner.domain import ParallelConfig, Profile, StageProfile

Progress = Callable[[ParallelConfig], None]


def stage_act_bytes(arch: Architecture, stage: Stage, rows: int) -> int:
    """Temporary bytes XLA allocates per device for one run of ``stage`` on
    ``rows`` rows, per row (0 when the backend does not say)."""
    first = stage.start == 0
    shape = (rows, arch.seq_len) if first else (rows, arch.seq_len, arch.hidden)
    dtype = np.int32 if first else zoo.dtype(arch)
    x = jax.ShapeDtypeStruct(shape, dtype, sharding=stage.sharding.sharding(stage.input_axes))
    analysis = stage.run.lower(stage.weights, x).compile().memory_analysis()
    if analysis is None:
        return 0
    return math.ceil(analysis.temp_size_in_bytes / rows)


def measure_config(
    arch: Architecture,
    config: ParallelConfig,
    devices: Sequence[jax.Device],
    max_batch: int,
    repeats: int,
    seed: int,
) -> StageProfile:
    """One config's measured :class:`StageProfile` on ``devices[:op * pp]``."""
    if config.size > len(devices):
        raise ValueError(f"configs: {config} needs {config.size} devices, {len(devices)} here")
    plan = plan_parallel(arch, config, max_batch=max_batch)
    replica = Replica(plan, stage_meshes(devices[: config.size], config), seed)
    runtime = ModelRuntime("profiled", replica, max_batch, slo_s=1.0)
    runtime.warm_up(repeats)
    rows = runtime.buckets[-1]
    act = max(stage_act_bytes(arch, stage, rows) for stage in replica.stages)
    return StageProfile(
        latency_s=tuple(tuple(runtime.latency_s(b)) for b in range(1, max_batch + 1)),
        stage_weight_bytes=replica.weight_bytes_per_device(),
        act_bytes=act,
    )


def measure_profile(
    name: str,
    arch: Architecture,
    configs: Sequence[ParallelConfig],
    max_batch: int,
    *,
    repeats: int = 3,
    devices: Sequence[jax.Device] | None = None,
    progress: Progress | None = None,
) -> Profile:
    """Measure model ``name`` (weights seeded from its name, as agents do)
    under every config in ``configs``."""
    if not configs:
        raise ValueError("configs: needs at least one parallel config")
    local = list(devices if devices is not None else jax.devices())
    measured = {}
    for config in configs:
        measured[config] = measure_config(arch, config, local, max_batch, repeats, model_seed(name))
        if progress is not None:
            progress(config)
    return Profile(measured)
