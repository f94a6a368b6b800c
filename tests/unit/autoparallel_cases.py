"""Tiny architectures and device models whose costs add up by hand, shared
by the autoparallel tests."""

from __future__ import annotations

from planner.autoparallel import Architecture, DeviceModel

# hidden 8, 2 heads, ffn 16, seq 4, vocab 32, fp16.
TINY = Architecture("bert", num_layers=1, hidden=8, heads=2, ffn=16, vocab=32, seq_len=4)

# The same sizes with every block a top-1 mixture of 4 experts; 2 heads
# cannot split 4 ways.
TINY_MOE = Architecture(
    "moe",
    num_layers=2,
    hidden=8,
    heads=2,
    ffn=16,
    num_experts=4,
    top_k=1,
    moe_every=1,
    vocab=32,
    seq_len=4,
)

# 5e5 FLOP/s achievable, 1e6 B/s memory, 1e3 B/s links with 1 ms latency.
SLOW = DeviceModel(
    peak_flops=1e6,
    efficiency=0.5,
    mem_bw_bytes_per_s=1e6,
    intra_bw_bytes_per_s=1e3,
    intra_latency_s=1e-3,
)


def slow_compute(link_bw_bytes_per_s: float, link_latency_s: float) -> DeviceModel:
    """2000 FLOP/s and free memory traffic: splitting TINY_MOE's experts 4
    ways saves 0.75 * 2048 FLOPs = 0.768 s per block, more than the links
    cost either way."""
    return DeviceModel(
        peak_flops=2e3,
        efficiency=1.0,
        mem_bw_bytes_per_s=1e18,
        intra_bw_bytes_per_s=link_bw_bytes_per_s,
        intra_latency_s=link_latency_s,
    )
