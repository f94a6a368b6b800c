"""The analytic per-layer cost model: FLOPs, weight bytes, activation bytes
and latency of a layer on one device of an ``op``-device stage, and the
ranking of sharding rules by it.

Per batch item (``p`` dtype bytes, ``s`` seq_len, ``h`` hidden, ``a``
heads, ``f`` ffn, ``E`` experts, ``k`` top_k; ``n`` is ``op`` where the
sub-layer is split by the rules and 1 where it is replicated):

=============  =============================  =====================================
sub-layer      FLOPs per device               activation bytes per device
=============  =============================  =====================================
embedding      0 (a gather)                   ``p (2 s h)``
attention      ``(8 s h^2 + 4 s^2 h) / n``    ``p (2 s h + (4 s h + 2 a s^2) / n)``
dense MLP      ``4 s h f / n``                ``p (2 s h + 2 s f / n)``
MoE            ``2 s h E + 4 k s h f / n``    ``p (2 s h + s E + 2 k s (h + f) / n)``
=============  =============================  =====================================

A block is attention then its feed-forward sub-layer (dense MLP or MoE).
Weight bytes per device are summed from :func:`layer_params` declarations:
an array whose :meth:`ShardingRules.split_dim` is set holds
``ceil(dim / op)`` of that dimension. The activation bytes of a layer (its
workspace per batch item) are the largest of its sub-layers'.

Latency of a sub-layer for a batch of ``b`` (roofline, no overlap of
communication with computation)::

    max(b * FLOPs / (peak_flops * efficiency),
        (weights read + 2 * b * activation bytes) / mem_bw) + communication

where the weights read are all the sub-layer's weight bytes per device,
except for the embedding, which reads ``p h (b s / n + s + 2)`` (its
gathered rows, positions and norm). Activations are written once and read
once. Communication per sub-layer, with ``B = p b s h`` (one activation):

- vocab-parallel embedding, head-parallel attention, Megatron MLP,
  tensor-parallel experts: one all-reduce of ``B``;
- expert-parallel MoE: each device routes its ``1/op`` slice of the tokens,
  two all-to-alls (dispatch and combine) of ``k B / op`` per device, then an
  all-gather of ``B`` to make the output whole again.

Routing is assumed balanced. A layer's latency is the sum of its
sub-layers'. The pipeline hand-off between stages is in :mod:`.plan`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from planner.autoparallel.architecture import (
    Architecture,
    ParamSpec,
    layer_kind,
    layer_names,
    layer_params,
)
from planner.autoparallel.device import DeviceModel
from planner.autoparallel.sharding import ShardingRules, candidate_rules

_SUBLAYER_PREFIXES = {"attention": ("attention.", "norm1."), "ffn": ("ffn.", "norm2.")}


@dataclass(frozen=True)
class LayerCost:
    """One layer on one device of its stage, for a batch of ``batch``.

    ``flops`` and ``latency_s`` are for the whole batch; ``weight_bytes``
    per device; ``act_bytes`` per device per batch item; ``comm_s`` is the
    part of ``latency_s`` spent in collectives."""

    name: str
    batch: int
    flops: float
    weight_bytes: int
    act_bytes: int
    comm_s: float
    latency_s: float


@dataclass(frozen=True)
class _Part:
    """A sub-layer: FLOPs, weight and activation bytes per device, weight
    bytes it reads, seconds of collectives."""

    flops: float
    weight_bytes: int
    act_bytes: int
    read_bytes: float
    comm_s: float


def shard_bytes(spec: ParamSpec, rules: ShardingRules, op: int, dtype_bytes: int) -> int:
    """Bytes of one device's shard of an array."""
    split = rules.split_dim(spec.axes)
    shape = [math.ceil(d / op) if i == split else d for i, d in enumerate(spec.shape)]
    return math.prod(shape) * dtype_bytes


@dataclass(frozen=True)
class _Setting:
    """One layer's surroundings: architecture, rules, stage width, batch, device."""

    arch: Architecture
    rules: ShardingRules
    op: int
    batch: int
    device: DeviceModel

    @property
    def activation_bytes(self) -> int:
        """``B = p b s h``: one activation of the whole batch."""
        arch = self.arch
        return arch.dtype_bytes * self.batch * arch.seq_len * arch.hidden

    def ways(self, split: bool) -> int:
        """How many ways a sub-layer is divided: ``op`` if split, else 1."""
        return self.op if split else 1

    def all_reduce_s(self, split: bool) -> float:
        """One all-reduce of an activation when the sub-layer is split."""
        return self.device.all_reduce_s(self.activation_bytes, self.op) if split else 0.0

    def weights(self, params: Mapping[str, ParamSpec], prefixes: tuple[str, ...]) -> int:
        return sum(
            shard_bytes(spec, self.rules, self.op, self.arch.dtype_bytes)
            for name, spec in params.items()
            if name.startswith(prefixes)
        )


def _embed(at: _Setting) -> _Part:
    p, s, h = at.arch.dtype_bytes, at.arch.seq_len, at.arch.hidden
    return _Part(
        flops=0.0,
        weight_bytes=at.weights(layer_params(at.arch, "embed"), ("",)),
        act_bytes=p * 2 * s * h,
        read_bytes=p * h * (at.batch * s / at.ways(bool(at.rules.vocab)) + s + 2),
        comm_s=at.all_reduce_s(bool(at.rules.vocab)),
    )


def _attention(at: _Setting, params: Mapping[str, ParamSpec]) -> _Part:
    p, s, h, a = at.arch.dtype_bytes, at.arch.seq_len, at.arch.hidden, at.arch.heads
    n = at.ways(bool(at.rules.heads))
    weights = at.weights(params, _SUBLAYER_PREFIXES["attention"])
    return _Part(
        flops=at.batch * (8 * s * h * h + 4 * s * s * h) / n,
        weight_bytes=weights,
        act_bytes=p * (2 * s * h + (4 * s * h + 2 * a * s * s) // n),
        read_bytes=weights,
        comm_s=at.all_reduce_s(bool(at.rules.heads)),
    )


def _ffn(at: _Setting, params: Mapping[str, ParamSpec]) -> _Part:
    p, s, h, f = at.arch.dtype_bytes, at.arch.seq_len, at.arch.hidden, at.arch.ffn
    weights = at.weights(params, _SUBLAYER_PREFIXES["ffn"])
    if "ffn.router" not in params:
        n = at.ways(bool(at.rules.mlp))
        return _Part(
            flops=at.batch * 4 * s * h * f / n,
            weight_bytes=weights,
            act_bytes=p * (2 * s * h + 2 * s * f // n),
            read_bytes=weights,
            comm_s=at.all_reduce_s(bool(at.rules.mlp)),
        )
    e, k, op = at.arch.num_experts, at.arch.top_k, at.op
    if at.rules.experts:
        dispatch = at.device.all_to_all_s(k * at.activation_bytes / op, op)
        comm = 2 * dispatch + at.device.all_gather_s(at.activation_bytes, op)
    else:
        comm = at.all_reduce_s(bool(at.rules.mlp))
    n = at.ways(bool(at.rules.experts or at.rules.mlp))
    return _Part(
        flops=at.batch * (2 * s * h * e + 4 * k * s * h * f / n),
        weight_bytes=weights,
        act_bytes=p * (2 * s * h + s * e + 2 * k * s * (h + f) // n),
        read_bytes=weights,
        comm_s=comm,
    )


def _combine(name: str, at: _Setting, parts: list[_Part]) -> LayerCost:
    device = at.device
    latency = sum(
        max(
            part.flops / device.flops_per_s,
            (part.read_bytes + 2 * at.batch * part.act_bytes) / device.mem_bw_bytes_per_s,
        )
        + part.comm_s
        for part in parts
    )
    return LayerCost(
        name=name,
        batch=at.batch,
        flops=sum(part.flops for part in parts),
        weight_bytes=sum(part.weight_bytes for part in parts),
        act_bytes=max(part.act_bytes for part in parts),
        comm_s=sum(part.comm_s for part in parts),
        latency_s=latency,
    )


def layer_cost(
    arch: Architecture, layer: str, rules: ShardingRules, op: int, batch: int, device: DeviceModel
) -> LayerCost:
    """Cost of ``layer`` (a name of :func:`layer_names`) on one device of an
    ``op``-device stage sharded by ``rules``, for a batch of ``batch``."""
    at = _Setting(arch, rules, op, batch, device)
    if layer == "embed":
        return _combine(layer, at, [_embed(at)])
    params = layer_params(arch, layer)
    return _combine(layer, at, [_attention(at, params), _ffn(at, params)])


def layer_costs(
    arch: Architecture, rules: ShardingRules, op: int, batch: int, device: DeviceModel
) -> tuple[LayerCost, ...]:
    """:func:`layer_cost` of every layer, in :func:`layer_names` order
    (layers of one kind are computed once)."""
    by_kind: dict[str, LayerCost] = {}
    costs = []
    for name in layer_names(arch):
        kind = layer_kind(arch, name)
        if kind not in by_kind:
            by_kind[kind] = layer_cost(arch, name, rules, op, batch, device)
        costs.append(replace(by_kind[kind], name=name))
    return tuple(costs)


def rank_rules(
    arch: Architecture, op: int, device: DeviceModel, batch: int = 1
) -> tuple[ShardingRules, ...]:
    """Candidate rules for ``op`` devices, best first: by the summed layer
    latency at ``batch``, then by the weight bytes per device, then by fewer
    split axes."""

    def key(rules: ShardingRules) -> tuple[float, int, int]:
        costs = layer_costs(arch, rules, op, batch, device)
        return (
            sum(c.latency_s for c in costs),
            sum(c.weight_bytes for c in costs),
            len(rules.sharded),
        )

    return tuple(sorted(candidate_rules(arch, op), key=key))
