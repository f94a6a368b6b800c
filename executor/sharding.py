"""Meshes of a device group and the logical-axis → mesh-axis mapping of one
pipeline stage.

A group of ``op * pp`` devices (in stage order, as ``planner.domain.Group``
lists them) is ``pp`` one-dimensional meshes of ``op`` devices each, with the
single mesh axis ``"op"``. Logical axes (``"batch"``, ``"heads"``, ...) map
to ``"op"`` or to nothing through the planner's sharding rules; every
NamedSharding and activation constraint of a stage comes from that mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from executor.zoo import Axes
from planner.autoparallel import MESH_AXIS, ShardingRules
from planner.domain import ParallelConfig


def stage_meshes(devices: Sequence[jax.Device], config: ParallelConfig) -> tuple[Mesh, ...]:
    """Split ``devices`` (stage order) into ``config.pp`` meshes of
    ``config.op`` devices, each with the one axis ``"op"``."""
    if len(devices) != config.size:
        raise ValueError(
            f"devices: {len(devices)} devices given, config {config} needs {config.size}"
        )
    if len({d.id for d in devices}) != len(devices):
        raise ValueError(f"devices: a device appears twice in {[d.id for d in devices]}")
    op = config.op
    return tuple(
        Mesh(np.array(devices[s * op : (s + 1) * op]), (MESH_AXIS,)) for s in range(config.pp)
    )


@dataclass(frozen=True)
class StageSharding:
    """How one stage lays arrays out on its mesh, by the planner's rules
    (:meth:`ShardingRules.spec`: the first logical axis of an array that the
    rules map to ``"op"`` is split, the rest replicated)."""

    mesh: Mesh
    rules: ShardingRules

    @property
    def size(self) -> int:
        return int(self.mesh.devices.size)

    def spec(self, axes: Axes) -> PartitionSpec:
        return PartitionSpec(*self.rules.spec(axes))

    def sharding(self, axes: Axes) -> NamedSharding:
        return NamedSharding(self.mesh, self.spec(axes))

    def constrain(self, x: jax.Array, axes: Axes) -> jax.Array:
        """Pin an activation's layout inside a jitted stage function."""
        return jax.lax.with_sharding_constraint(x, self.sharding(axes))

    def check_divisible(self, sizes: Mapping[str, int]) -> None:
        """Every logical axis split across the mesh must divide evenly;
        raises ValueError naming the axis otherwise."""
        for axis in self.rules.sharded:
            if axis in sizes and sizes[axis] % self.size:
                raise ValueError(
                    f"rules.{axis}: size {sizes[axis]} is not divisible by op={self.size}"
                )

    def is_split(self, axis: str) -> bool:
        return axis in self.rules.sharded
