"""Model zoo: BERT and MoE encoders in pure JAX with seeded random weights.

The architecture, the layer sequence ``["embed", "block0", ...]`` and every
weight's shape and logical axes are those of :mod:`planner.autoparallel`
(:func:`layer_params`, declared once there); this module gives them a JAX
structure (registered dataclass pytrees) and a forward pass. A pipeline
stage runs a contiguous range of layers, layer index 0 being the embedding.

Layer ``i``'s weights depend only on the model seed and ``i``: any stage
split builds exactly the weights of the unsplit model.

Blocks are post-LayerNorm BERT blocks (attention, then a feed-forward
network). In an MoE block the feed-forward network is a mixture of experts
with top-k routing and GShard-style expert capacity, routed per sequence so
that a request's output does not depend on what it is batched with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from planner.autoparallel import Architecture, ParamSpec, layer_kind, layer_names, layer_params

Axes = tuple[str | None, ...]
"""Logical axis names of an array, one per dimension (None: never sharded)."""

Constrain = Callable[[jax.Array, Axes], jax.Array]
"""Pins an activation's sharding by its logical axes (identity on one device)."""

ACTIVATION: Axes = ("batch", "seq", "embed")
CAPACITY_FACTOR = 2.0
"""Expert capacity per sequence is ``ceil(CAPACITY_FACTOR * top_k * seq / experts)``."""
LAYER_NORM_EPS = 1e-12
INIT_STD = 0.02


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class LayerNorm:
    scale: jax.Array
    bias: jax.Array


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Embed:
    tokens: jax.Array
    positions: jax.Array
    norm: LayerNorm


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Attention:
    wq: jax.Array
    bq: jax.Array
    wk: jax.Array
    bk: jax.Array
    wv: jax.Array
    bv: jax.Array
    wo: jax.Array
    bo: jax.Array


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Mlp:
    w_in: jax.Array
    b_in: jax.Array
    w_out: jax.Array
    b_out: jax.Array


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Moe:
    router: jax.Array
    w_in: jax.Array
    b_in: jax.Array
    w_out: jax.Array
    b_out: jax.Array


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Block:
    attention: Attention
    norm1: LayerNorm
    ffn: Mlp | Moe
    norm2: LayerNorm


Layer = Embed | Block
T = TypeVar("T")
Leaf = Callable[[str, ParamSpec], Any]
"""Builds one weight from its dotted name (``"attention.wq"``) and spec."""


def dtype(arch: Architecture) -> np.dtype[Any]:
    """float32 for 4-byte weights, bfloat16 for 2-byte ones."""
    table = {4: jnp.float32, 2: jnp.bfloat16}
    if arch.dtype_bytes not in table:
        raise ValueError(f"dtype_bytes: must be 2 or 4, got {arch.dtype_bytes}")
    return np.dtype(table[arch.dtype_bytes])


def build_layer(arch: Architecture, index: int, leaf: Leaf) -> Layer:
    """The pytree of layer ``index`` with every weight built by ``leaf``.
    Every weight :func:`layer_params` declares is used exactly once."""
    names = layer_names(arch)
    if not 0 <= index < len(names):
        raise ValueError(f"layer: index {index} is outside 0..{len(names) - 1}")
    specs = layer_params(arch, names[index])
    used: set[str] = set()

    def make(cls: type[T], prefix: str, **children: Any) -> T:
        arrays = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name not in children:
                name = prefix + f.name
                used.add(name)
                arrays[f.name] = leaf(name, specs[name])
        return cls(**arrays, **children)

    layer: Layer
    if index == 0:
        layer = make(Embed, "", norm=make(LayerNorm, "norm."))
    else:
        ffn_class = Moe if layer_kind(arch, names[index]) == "moe" else Mlp
        layer = make(
            Block,
            "",
            attention=make(Attention, "attention."),
            norm1=make(LayerNorm, "norm1."),
            ffn=make(ffn_class, "ffn."),
            norm2=make(LayerNorm, "norm2."),
        )
    if used != set(specs):
        raise ValueError(f"layer: {names[index]} leaves {sorted(set(specs) - used)} unbuilt")
    return layer


def layer_axes(arch: Architecture, index: int, to_leaf: Callable[[Axes], Any]) -> Layer:
    """Layer ``index`` with every weight replaced by ``to_leaf(axes)`` (for
    example its NamedSharding)."""
    return build_layer(arch, index, lambda _name, spec: to_leaf(spec.axes))


def init_layer(arch: Architecture, index: int, seed: int) -> Layer:
    """Random weights of layer ``index`` of a model seeded with ``seed``, as
    host (numpy) arrays to ``jax.device_put`` with the layer's shardings.
    LayerNorm scales are 1; everything else is N(0, INIT_STD²), drawn in
    declaration order."""
    kind = dtype(arch)
    rng = np.random.default_rng([seed, index])

    def leaf(name: str, spec: ParamSpec) -> np.ndarray:
        if name.endswith(".scale"):
            return np.ones(spec.shape, kind)
        return (INIT_STD * rng.standard_normal(spec.shape, np.float32)).astype(kind)

    return build_layer(arch, index, leaf)


def no_constraint(x: jax.Array, _axes: Axes) -> jax.Array:
    """The :data:`Constrain` of an unsharded run."""
    return x


def apply_layer(
    arch: Architecture, layer: Layer, x: jax.Array, constrain: Constrain = no_constraint
) -> jax.Array:
    """Run one layer: token ids ``[batch, seq]`` → activations for the
    embedding, activations ``[batch, seq, hidden]`` → activations for a block."""
    if isinstance(layer, Embed):
        return embed(arch, layer, x, constrain)
    return block(arch, layer, x, constrain)


def embed(arch: Architecture, p: Embed, ids: jax.Array, constrain: Constrain) -> jax.Array:
    """Token plus position embeddings, layer-normalised: ``[b, s]`` → ``[b, s, h]``."""
    x = p.tokens[ids] + p.positions[None, : ids.shape[1]]
    return constrain(layer_norm(p.norm, x).astype(dtype(arch)), ACTIVATION)


def block(arch: Architecture, p: Block, x: jax.Array, constrain: Constrain) -> jax.Array:
    """A post-LayerNorm encoder block: attention, then MLP or MoE, each with a residual."""
    x = constrain(layer_norm(p.norm1, x + attention(p.attention, x, constrain)), ACTIVATION)
    if isinstance(p.ffn, Moe):
        update = moe(p.ffn, x, arch.top_k, constrain)
    else:
        update = mlp(p.ffn, x, constrain)
    return constrain(layer_norm(p.norm2, x + update), ACTIVATION)


def layer_norm(p: LayerNorm, x: jax.Array) -> jax.Array:
    """LayerNorm over the last axis, computed in float32."""
    x32 = x.astype(jnp.float32)
    mean = x32.mean(-1, keepdims=True)
    var = jnp.square(x32 - mean).mean(-1, keepdims=True)
    normed = (x32 - mean) * jax.lax.rsqrt(var + LAYER_NORM_EPS)
    return (normed * p.scale + p.bias).astype(x.dtype)


def attention(p: Attention, x: jax.Array, constrain: Constrain) -> jax.Array:
    """Bidirectional multi-head self-attention (no mask: sequences are full length)."""
    heads: Axes = ("batch", "seq", "heads", "head_dim")
    q = constrain(jnp.einsum("bse,ehd->bshd", x, p.wq) + p.bq, heads)
    k = constrain(jnp.einsum("bse,ehd->bshd", x, p.wk) + p.bk, heads)
    v = constrain(jnp.einsum("bse,ehd->bshd", x, p.wv) + p.bv, heads)
    scores = jnp.einsum("bshd,bthd->bhst", q, k).astype(jnp.float32)
    probs = jax.nn.softmax(scores / math.sqrt(q.shape[-1]), axis=-1).astype(x.dtype)
    context = constrain(jnp.einsum("bhst,bthd->bshd", probs, v), heads)
    return jnp.einsum("bshd,hde->bse", context, p.wo) + p.bo


def mlp(p: Mlp, x: jax.Array, constrain: Constrain) -> jax.Array:
    """The dense feed-forward network: GELU between two projections."""
    hidden = jax.nn.gelu(jnp.einsum("bse,ef->bsf", x, p.w_in) + p.b_in)
    hidden = constrain(hidden, ("batch", "seq", "mlp"))
    return jnp.einsum("bsf,fe->bse", hidden, p.w_out) + p.b_out


def expert_capacity(seq: int, num_experts: int, top_k: int) -> int:
    """Slots per expert per sequence."""
    return max(1, math.ceil(CAPACITY_FACTOR * top_k * seq / num_experts))


def route(router_logits: jax.Array, top_k: int, capacity: int) -> tuple[jax.Array, jax.Array]:
    """Top-k routing with capacity, per sequence. ``router_logits`` is
    ``[batch, seq, experts]``; returns ``(dispatch, combine)``, both
    ``[batch, seq, experts, capacity]``: ``dispatch`` is 1 where a token takes
    a slot, ``combine`` holds its gate (top-k probabilities renormalised to sum
    to 1). Slots go to first choices before second choices, then in token
    order; a token whose expert is full is dropped for that choice."""
    batch, seq, experts = router_logits.shape
    probs = jax.nn.softmax(router_logits.astype(jnp.float32), axis=-1)
    gates, chosen = jax.lax.top_k(probs, top_k)  # [b, s, k]
    gates = gates / gates.sum(-1, keepdims=True)
    mask = jax.nn.one_hot(chosen, experts, dtype=jnp.int32)  # [b, s, k, e]
    by_rank = mask.transpose(0, 2, 1, 3).reshape(batch, top_k * seq, experts)
    slot = (jnp.cumsum(by_rank, axis=1) - 1) * by_rank
    slot = slot.reshape(batch, top_k, seq, experts).transpose(0, 2, 1, 3)
    kept = mask * (slot < capacity)
    slots = jax.nn.one_hot(slot, capacity, dtype=jnp.float32) * kept[..., None]
    dispatch = slots.sum(2)  # [b, s, e, c]
    combine = (slots * gates[..., None, None]).sum(2)
    return dispatch, combine


def moe(p: Moe, x: jax.Array, top_k: int, constrain: Constrain) -> jax.Array:
    """Mixture of experts: tokens dispatched to expert slots by :func:`route`,
    each expert an MLP, outputs combined with the gates (dropped tokens: 0)."""
    _, seq, _ = x.shape
    experts = p.router.shape[1]
    logits = jnp.einsum("bse,ex->bsx", x, p.router)
    dispatch, combine = route(logits, top_k, expert_capacity(seq, experts, top_k))
    expert_axes: Axes = ("batch", "experts", None, "embed")
    tokens = constrain(jnp.einsum("bsxc,bse->bxce", dispatch.astype(x.dtype), x), expert_axes)
    hidden = jnp.einsum("bxce,xef->bxcf", tokens, p.w_in) + p.b_in[None, :, None, :]
    hidden = constrain(jax.nn.gelu(hidden), ("batch", "experts", None, "mlp"))
    out = jnp.einsum("bxcf,xfe->bxce", hidden, p.w_out) + p.b_out[None, :, None, :]
    out = constrain(out, expert_axes)
    return jnp.einsum("bsxc,bxce->bse", combine.astype(x.dtype), out)


def forward(
    arch: Architecture, layers: list[Layer], x: jax.Array, constrain: Constrain = no_constraint
) -> jax.Array:
    """Run consecutive layers on ``x``."""
    for layer in layers:
        x = apply_layer(arch, layer, x, constrain)
    return x
