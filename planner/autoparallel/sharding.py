"""Sharding rules: which logical axis is split across the ``op`` devices of
a pipeline stage, and the candidate rules the intra-op pass chooses from.

A stage's devices form a one-dimensional mesh with the axis ``"op"``. A
:class:`ShardingRules` maps each logical axis to ``"op"`` or None
(replicated). An array with logical axes ``(a0, a1, ...)`` is laid out by
:meth:`ShardingRules.spec`: the first of its axes mapped to ``"op"`` is
split, every other dimension is replicated (one mesh axis can split one
dimension of an array). The executor turns ``spec`` into a JAX
``PartitionSpec``.

Candidates (only for ``op > 1``; an axis is a candidate only when ``op``
divides its size):

- ``vocab`` -> op: vocab-parallel embedding (each device looks up its rows;
  the partial embeddings are all-reduced);
- ``heads`` -> op: head-parallel attention (Megatron: ``wq/wk/wv``
  column-parallel by heads, ``wo`` row-parallel, one all-reduce);
- ``mlp`` -> op: Megatron MLP (``w_in`` column-parallel, ``w_out``
  row-parallel, one all-reduce); in an MoE block with ``experts`` not split,
  tensor-parallel experts the same way;
- ``experts`` -> op (MoE only): expert parallelism (each device holds
  ``num_experts / op`` experts; tokens move by all-to-all).

``batch``, ``seq``, ``embed`` and ``head_dim`` stay replicated: activations
between sub-layers are whole on every device of a stage.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from planner.autoparallel.architecture import Architecture, Axes

MESH_AXIS = "op"
"""The one mesh axis of a stage's devices."""

LOGICAL_AXES = ("batch", "seq", "embed", "heads", "head_dim", "mlp", "experts", "vocab")


@dataclass(frozen=True)
class ShardingRules:
    """Logical axis -> ``"op"`` (split across the stage's devices) or None."""

    batch: str | None = None
    seq: str | None = None
    embed: str | None = None
    heads: str | None = None
    head_dim: str | None = None
    mlp: str | None = None
    experts: str | None = None
    vocab: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) not in (None, MESH_AXIS):
                raise ValueError(
                    f"{f.name}: must map to {MESH_AXIS!r} or None, got {getattr(self, f.name)!r}"
                )

    def mapping(self) -> dict[str, str | None]:
        """Every logical axis with its mesh axis (or None)."""
        return {axis: getattr(self, axis) for axis in LOGICAL_AXES}

    @property
    def sharded(self) -> tuple[str, ...]:
        """The logical axes mapped to ``"op"``, in :data:`LOGICAL_AXES` order."""
        return tuple(axis for axis, mesh in self.mapping().items() if mesh is not None)

    def split_dim(self, axes: Axes) -> int | None:
        """Index of the dimension of an array with logical ``axes`` that is
        split across ``"op"`` (the first mapped one), or None."""
        for i, axis in enumerate(axes):
            if axis is not None and getattr(self, axis) is not None:
                return i
        return None

    def spec(self, axes: Axes) -> tuple[str | None, ...]:
        """Mesh axis per dimension of an array with logical ``axes``: the
        :meth:`split_dim` dimension gets ``"op"``, every other one None."""
        split = self.split_dim(axes)
        return tuple(MESH_AXIS if i == split else None for i in range(len(axes)))

    def to_json(self) -> dict[str, Any]:
        return self.mapping()


REPLICATED = ShardingRules()


def candidate_rules(arch: Architecture, op: int) -> tuple[ShardingRules, ...]:
    """Every combination of the candidate splits for ``op`` devices (only
    :data:`REPLICATED` for ``op = 1``)."""
    if op == 1:
        return (REPLICATED,)
    sizes = arch.dims()
    axes = ["vocab", "heads", "mlp"] + (["experts"] if arch.family == "moe" else [])
    choices: list[Sequence[str | None]] = [
        (None, MESH_AXIS) if sizes[axis] % op == 0 else (None,) for axis in axes
    ]
    return tuple(
        ShardingRules(**dict(zip(axes, combo, strict=True)))
        for combo in itertools.product(*choices)
    )


def strategies(arch: Architecture, rules: ShardingRules) -> dict[str, str]:
    """Human-readable strategy per layer type the architecture has:
    ``embed``, ``attention``, ``mlp`` (dense blocks), ``moe``."""
    named = {
        "embed": "vocab-parallel" if rules.vocab else "replicated",
        "attention": "head-parallel" if rules.heads else "replicated",
    }
    if arch.num_moe_blocks < arch.num_layers:
        named["mlp"] = "megatron" if rules.mlp else "replicated"
    if arch.num_moe_blocks:
        if rules.experts:
            named["moe"] = "expert-parallel"
        else:
            named["moe"] = "tensor-parallel" if rules.mlp else "replicated"
    return named
