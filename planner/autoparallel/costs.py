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


def _weights(
    params: Mapping[str, ParamSpec],
    prefixes: tuple[str, ...],
    rules: ShardingRules,
    op: int,
    p: int,
) -> int:
    return sum(
        shard_bytes(spec, rules, op, p)
        for name, spec in params.items()
        if name.startswith(prefixes)
    )


def _embed(arch: Architecture, rules: ShardingRules, op: int, b: int, device: DeviceModel) -> _Part:
    p, s, h = arch.dtype_bytes, arch.seq_len, arch.hidden
    n = op if rules.vocab else 1
    return _Part(
        flops=0.0,
        weight_bytes=_weights(layer_params(arch, "embed"), ("",), rules, op, p),
        act_bytes=p * 2 * s * h,
        read_bytes=p * h * (b * s / n + s + 2),
        comm_s=device.all_reduce_s(p * b * s * h, op) if rules.vocab else 0.0,
    )


def _attention(
    arch: Architecture,
    params: Mapping[str, ParamSpec],
    rules: ShardingRules,
    op: int,
    b: int,
    device: DeviceModel,
) -> _Part:
    p, s, h, a = arch.dtype_bytes, arch.seq_len, arch.hidden, arch.heads
    n = op if rules.heads else 1
    weights = _weights(params, _SUBLAYER_PREFIXES["attention"], rules, op, p)
    return _Part(
        flops=b * (8 * s * h * h + 4 * s * s * h) / n,
        weight_bytes=weights,
        act_bytes=p * (2 * s * h + (4 * s * h + 2 * a * s * s) // n),
        read_bytes=weights,
        comm_s=device.all_reduce_s(p * b * s * h, op) if rules.heads else 0.0,
    )


def _ffn(
    arch: Architecture,
    params: Mapping[str, ParamSpec],
    rules: ShardingRules,
    op: int,
    b: int,
    device: DeviceModel,
) -> _Part:
    p, s, h, f = arch.dtype_bytes, arch.seq_len, arch.hidden, arch.ffn
    weights = _weights(params, _SUBLAYER_PREFIXES["ffn"], rules, op, p)
    activation = p * b * s * h
    if "ffn.router" not in params:
        n = op if rules.mlp else 1
        return _Part(
            flops=b * 4 * s * h * f / n,
            weight_bytes=weights,
            act_bytes=p * (2 * s * h + 2 * s * f // n),
            read_bytes=weights,
            comm_s=device.all_reduce_s(activation, op) if rules.mlp else 0.0,
        )
    e, k = arch.num_experts, arch.top_k
    if rules.experts:
        comm = 2 * device.all_to_all_s(k * activation / op, op) + device.all_gather_s(
            activation, op
        )
    else:
        comm = device.all_reduce_s(activation, op) if rules.mlp else 0.0
    n = op if rules.experts or rules.mlp else 1
    return _Part(
        flops=b * (2 * s * h * e + 4 * k * s * h * f / n),
        weight_bytes=weights,
        act_bytes=p * (2 * s * h + s * e + 2 * k * s * (h + f) // n),
        read_bytes=weights,
        comm_s=comm,
    )


def _combine(name: str, b: int, parts: list[_Part], device: DeviceModel) -> LayerCost:
    latency = sum(
        max(
            part.flops / device.flops_per_s,
            (part.read_bytes + 2 * b * part.act_bytes) / device.mem_bw_bytes_per_s,
        )
        + part.comm_s
        for part in parts
    )
    return LayerCost(
        name=name,
        batch=b,
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
    if layer == "embed":
        return _combine(layer, batch, [_embed(arch, rules, op, batch, device)], device)
    params = layer_params(arch, layer)
    parts = [
        _attention(arch, params, rules, op, batch, device),
        _ffn(arch, params, rules, op, batch, device),
    ]
    return _combine(layer, batch, parts, device)


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
