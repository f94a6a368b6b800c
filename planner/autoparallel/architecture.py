"""Model architectures of the BERT and MoE encoder families, their layer
sequence and the weights each layer holds.

A model is the layer sequence ``["embed", "block0", ..., "block{L-1}"]``:
an embedding, then ``L`` post-LayerNorm encoder blocks (attention, then a
feed-forward network); there is no output head. In the ``"moe"`` family the
feed-forward network of every ``moe_every``-th block (blocks
``moe_every - 1, 2 * moe_every - 1, ...``) is a mixture of ``num_experts``
experts with top-``top_k`` routing.

Every weight is declared once by :func:`layer_params` with its shape and its
logical axes (``"vocab"``, ``"seq"``, ``"embed"``, ``"heads"``,
``"head_dim"``, ``"mlp"``, ``"experts"``); the cost model derives bytes per
device from these declarations and the executor declares the same arrays.

Sizes are quoted in decimal gigabytes: 1 GB = 10**9 bytes. Weight bytes are
``parameters * dtype_bytes`` (2 for fp16/bf16).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

GB = 10**9
"""Bytes in a (decimal) gigabyte, the unit of every size quoted here."""

Axes = tuple[str | None, ...]
"""Logical axis names of an array, one per dimension (None: never sharded)."""

FAMILIES = ("bert", "moe")


@dataclass(frozen=True)
class ParamSpec:
    """One weight array: its shape and the logical axis of each dimension."""

    shape: tuple[int, ...]
    axes: Axes

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Architecture:
    """An encoder of the BERT or MoE family.

    ``ffn`` = 0 means ``4 * hidden``. ``num_experts`` is 0 for ``"bert"`` and
    >= 2 for ``"moe"``. ``vocab`` defaults to BERT's 30522 padded to a
    multiple of 64 (30528), so that it divides evenly across 1..64 devices.
    """

    family: str
    num_layers: int
    hidden: int
    heads: int
    ffn: int = 0
    num_experts: int = 0
    top_k: int = 2
    moe_every: int = 2
    vocab: int = 30528
    seq_len: int = 512
    dtype_bytes: int = 2
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family: must be one of {FAMILIES}, got {self.family!r}")
        for name in ("num_layers", "hidden", "heads", "vocab", "seq_len", "dtype_bytes"):
            _check_positive(name, getattr(self, name))
        _check_non_negative("ffn", self.ffn)
        _check_non_negative("num_experts", self.num_experts)
        if self.hidden % self.heads:
            raise ValueError(f"heads: hidden={self.hidden} is not divisible by heads={self.heads}")
        if self.ffn == 0:
            object.__setattr__(self, "ffn", 4 * self.hidden)
        if self.family == "bert" and self.num_experts != 0:
            raise ValueError(f"num_experts: must be 0 for family 'bert', got {self.num_experts}")
        if self.family == "moe":
            if self.num_experts < 2:
                raise ValueError(
                    f"num_experts: must be >= 2 for family 'moe', got {self.num_experts}"
                )
            if not 1 <= self.top_k <= self.num_experts:
                raise ValueError(f"top_k: must be in 1..{self.num_experts}, got {self.top_k}")
            _check_positive("moe_every", self.moe_every)

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def num_moe_blocks(self) -> int:
        return sum(is_moe_block(self, b) for b in range(self.num_layers))

    def dims(self) -> dict[str, int]:
        """Size of every logical axis."""
        return {
            "vocab": self.vocab,
            "seq": self.seq_len,
            "embed": self.hidden,
            "heads": self.heads,
            "head_dim": self.head_dim,
            "mlp": self.ffn,
            "experts": self.num_experts,
        }

    @property
    def weight_bytes(self) -> int:
        """Bytes of all weights of the model (unsharded)."""
        return sum(
            spec.size * self.dtype_bytes
            for layer in layer_names(self)
            for spec in layer_params(self, layer).values()
        )


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}: must be a positive integer, got {value!r}")


def _check_non_negative(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}: must be a non-negative integer, got {value!r}")


def layer_names(arch: Architecture) -> tuple[str, ...]:
    """``("embed", "block0", ..., "block{L-1}")``; stage splits are ranges
    over this sequence."""
    return ("embed", *(f"block{i}" for i in range(arch.num_layers)))


def is_moe_block(arch: Architecture, block: int) -> bool:
    """Whether encoder block ``block`` (0-based) has an MoE feed-forward."""
    return arch.family == "moe" and (block + 1) % arch.moe_every == 0


def layer_kind(arch: Architecture, layer: str) -> str:
    """``"embed"``, ``"dense"`` (attention + MLP) or ``"moe"`` (attention +
    mixture of experts). Layers of one kind cost the same."""
    if layer == "embed":
        return "embed"
    if not layer.startswith("block") or not layer[5:].isdigit():
        raise ValueError(f"layer: {layer!r} is not 'embed' or 'block<i>'")
    block = int(layer[5:])
    if block >= arch.num_layers:
        raise ValueError(f"layer: {layer!r} is outside block0..block{arch.num_layers - 1}")
    return "moe" if is_moe_block(arch, block) else "dense"


_NORM = {"scale": ("embed",), "bias": ("embed",)}
_EMBED = {"tokens": ("vocab", "embed"), "positions": ("seq", "embed")}
_ATTENTION = {
    "wq": ("embed", "heads", "head_dim"),
    "bq": ("heads", "head_dim"),
    "wk": ("embed", "heads", "head_dim"),
    "bk": ("heads", "head_dim"),
    "wv": ("embed", "heads", "head_dim"),
    "bv": ("heads", "head_dim"),
    "wo": ("heads", "head_dim", "embed"),
    "bo": ("embed",),
}
_MLP = {
    "w_in": ("embed", "mlp"),
    "b_in": ("mlp",),
    "w_out": ("mlp", "embed"),
    "b_out": ("embed",),
}
_MOE = {
    "router": ("embed", "experts"),
    "w_in": ("experts", "embed", "mlp"),
    "b_in": ("experts", "mlp"),
    "w_out": ("experts", "mlp", "embed"),
    "b_out": ("experts", "embed"),
}


def _group(prefix: str, table: Mapping[str, Axes]) -> dict[str, Axes]:
    return {f"{prefix}.{name}": axes for name, axes in table.items()}


def layer_params(arch: Architecture, layer: str) -> dict[str, ParamSpec]:
    """The weights of ``layer`` by dotted name (``"attention.wq"``,
    ``"ffn.w_in"``, ``"norm1.scale"``, ...). Names starting with
    ``attention.`` / ``norm1.`` belong to the attention sub-layer, ``ffn.`` /
    ``norm2.`` to the feed-forward sub-layer."""
    kind = layer_kind(arch, layer)
    if kind == "embed":
        axes = {**_EMBED, **_group("norm", _NORM)}
    else:
        axes = {
            **_group("attention", _ATTENTION),
            **_group("norm1", _NORM),
            **_group("ffn", _MOE if kind == "moe" else _MLP),
            **_group("norm2", _NORM),
        }
    sizes = arch.dims()
    return {
        name: ParamSpec(tuple(sizes[a] for a in ax if a is not None), ax)
        for name, ax in axes.items()
    }


BERT_1_3B = Architecture("bert", num_layers=23, hidden=2048, heads=32, name="bert-1.3b")
BERT_2_6B = Architecture("bert", num_layers=33, hidden=2560, heads=32, name="bert-2.6b")
BERT_6_7B = Architecture("bert", num_layers=32, hidden=4096, heads=32, name="bert-6.7b")
MOE_1_3B = Architecture(
    "moe", num_layers=30, hidden=1024, heads=16, num_experts=8, top_k=2, name="moe-1.3b"
)
MOE_2_4B = Architecture(
    "moe", num_layers=32, hidden=1024, heads=16, num_experts=16, top_k=2, name="moe-2.4b"
)
TINY_BERT = Architecture(
    "bert", num_layers=2, hidden=64, heads=4, vocab=128, seq_len=16, dtype_bytes=4, name="tiny-bert"
)
TINY_MOE = Architecture(
    "moe",
    num_layers=4,
    hidden=64,
    heads=4,
    num_experts=4,
    top_k=2,
    vocab=128,
    seq_len=16,
    dtype_bytes=4,
    name="tiny-moe",
)

PRESETS: dict[str, Architecture] = {
    arch.name: arch
    for arch in (BERT_1_3B, BERT_2_6B, BERT_6_7B, MOE_1_3B, MOE_2_4B, TINY_BERT, TINY_MOE)
}
"""Named architectures. Weight sizes (fp16, 1 GB = 10**9 bytes): bert-1.3b
~2.4 GB, bert-2.6b ~5.4 GB, bert-6.7b ~13.4 GB, moe-1.3b ~2.6 GB, moe-2.4b
~4.8 GB, the figures of the AlpaServe evaluation. The tiny ones (fp32,
hidden 64) run on a CPU."""


def preset(name: str) -> Architecture:
    """The preset called ``name`` (case-insensitive, e.g. ``"BERT-1.3B"``)."""
    key = name.strip().lower()
    if key not in PRESETS:
        raise ValueError(f"model: unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[key]
