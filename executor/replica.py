"""A model replica loaded on a device group: pipeline stages on sub-meshes,
weights drawn on the host and placed shard by shard, one jitted function
per stage.

Stage functions are shared within a process (:func:`stage_function`): every
replica of one architecture laid out by the same rules on the same mesh
runs the same jitted function, so JAX compiles each (stage split, batch
bucket) once for all of them. A mesh of other devices gets its own function
and compiles again: an XLA executable is bound to its devices.

Stage ``k`` runs layers ``[start, end)`` of ``["embed", "block0", ...]`` (as
the :class:`ParallelPlan` from :func:`planner.autoparallel.plan_parallel`
says) on mesh ``k``; its output moves to mesh ``k + 1`` (replicated there, or split as
the rules say) before stage ``k + 1`` runs. Outputs equal the single-device
model's within float tolerance for any stage split and any rules.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.stages
import numpy as np
from jax.sharding import Mesh

from executor import zoo
from executor.sharding import StageSharding
from executor.zoo import ACTIVATION, Layer
from planner.autoparallel import Architecture, ParallelPlan

TOKENS: zoo.Axes = ("batch", "seq")


def model_seed(name: str) -> int:
    """A stable seed from a model name: every replica of a model, on any
    agent, has the same weights."""
    return zlib.crc32(name.encode())


@dataclass(frozen=True)
class Stage:
    """One pipeline stage of a loaded replica."""

    start: int
    end: int
    sharding: StageSharding
    weights: list[Layer]
    run: jax.stages.Wrapped

    @property
    def input_axes(self) -> zoo.Axes:
        return TOKENS if self.start == 0 else ACTIVATION

    def weight_bytes_per_device(self) -> int:
        """Largest number of weight bytes this stage holds on one device."""
        per_device: dict[int, int] = {}
        for leaf in jax.tree.leaves(self.weights):
            for shard in leaf.addressable_shards:
                per_device[shard.device.id] = per_device.get(shard.device.id, 0) + shard.data.nbytes
        return max(per_device.values(), default=0)


class Replica:
    """A model's weights and stage functions on a group's meshes, laid out
    as ``plan`` says (its stage ranges and sharding rules)."""

    def __init__(self, plan: ParallelPlan, meshes: Sequence[Mesh], seed: int) -> None:
        if len(plan.stages) != len(meshes):
            raise ValueError(f"meshes: {len(meshes)} meshes for {len(plan.stages)} stages")
        self.plan = plan
        self.stages = tuple(
            load_stage(plan.arch, stage.start, stage.end, StageSharding(mesh, plan.rules), seed)
            for stage, mesh in zip(plan.stages, meshes, strict=True)
        )

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def batch_multiple(self) -> int:
        """Batches are padded to a multiple of this (the op degree when the
        rules split the batch axis, else 1)."""
        return max(s.sharding.size if s.sharding.is_split("batch") else 1 for s in self.stages)

    def run_stage(self, k: int, x: jax.Array | np.ndarray) -> jax.Array:
        """Move ``x`` onto stage ``k``'s mesh and run the stage (dispatch is
        asynchronous: block on the result to time it)."""
        stage = self.stages[k]
        placed = jax.device_put(x, stage.sharding.sharding(stage.input_axes))
        return stage.run(stage.weights, placed)

    def forward(self, token_ids: np.ndarray) -> jax.Array:
        """Token ids ``[batch, seq_len]`` → final activations
        ``[batch, seq_len, hidden]`` through every stage."""
        x = self.run_stage(0, self.pad(np.asarray(token_ids, dtype=np.int32)))
        for k in range(1, self.num_stages):
            x = self.run_stage(k, x)
        return x[: len(token_ids)]

    def pad(self, ids: np.ndarray) -> np.ndarray:
        """Pad the batch with zero rows up to :meth:`batch_multiple`."""
        extra = -len(ids) % self.batch_multiple()
        return np.concatenate([ids, np.zeros((extra, ids.shape[1]), ids.dtype)]) if extra else ids

    def weight_bytes_per_device(self) -> tuple[int, ...]:
        """Weight bytes on each device of each stage (largest over the stage's devices)."""
        return tuple(stage.weight_bytes_per_device() for stage in self.stages)


def load_stage(
    arch: Architecture, start: int, end: int, sharding: StageSharding, seed: int
) -> Stage:
    sharding.check_divisible(arch.dims())
    weights = []
    for index in range(start, end):
        layout = zoo.layer_axes(arch, index, sharding.sharding)
        weights.append(jax.device_put(zoo.init_layer(arch, index, seed), layout))
    return Stage(start, end, sharding, weights, stage_function(arch, sharding))


@functools.cache
def stage_function(arch: Architecture, sharding: StageSharding) -> jax.stages.Wrapped:
    """The jitted forward of any consecutive layers of ``arch`` on
    ``sharding``'s mesh and rules, one per process: JAX caches its compiled
    executables per input shapes and layouts, which every replica of this
    shape shares."""
    return jax.jit(
        functools.partial(zoo.forward, arch, constrain=sharding.constrain),
        out_shardings=sharding.sharding(ACTIVATION),
    )


def reference_forward(arch: Architecture, seed: int, token_ids: np.ndarray) -> jax.Array:
    """The whole model on one device, without sharding or stages: the
    reference every sharded and pipelined run must match."""
    device = jax.devices()[0]
    weights = [
        jax.device_put(zoo.init_layer(arch, index, seed), device)
        for index in range(arch.num_layers + 1)
    ]
    ids = jax.device_put(np.asarray(token_ids, dtype=np.int32), device)
    return jax.jit(functools.partial(zoo.forward, arch))(weights, ids)
