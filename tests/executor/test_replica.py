"""Sharded and pipelined replicas against the single-device model."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
from collections.abc import Iterator

import jax
import numpy as np
import pytest

from executor.replica import Replica, reference_forward
from executor.sharding import StageSharding, stage_meshes
from executor.zoo import Block, init_layer, route
from planner.autoparallel import REPLICATED, Architecture, ShardingRules, plan_parallel
from planner.domain import ParallelConfig

# Small enough to compile fast, with 4 layers so that pp = 4 has one per stage.
SMALL = {
    "bert": Architecture(
        "bert", num_layers=3, hidden=32, heads=4, vocab=64, seq_len=8, dtype_bytes=4
    ),
    "moe": Architecture(
        "moe",
        num_layers=3,
        hidden=32,
        heads=4,
        num_experts=4,
        top_k=2,
        vocab=64,
        seq_len=8,
        dtype_bytes=4,
    ),
}
GRID = [
    ParallelConfig(op, pp) for op, pp in itertools.product((1, 2, 4), (1, 2, 4)) if op * pp <= 8
]
ALL_SPLIT = ShardingRules(vocab="op", heads="op", mlp="op", experts="op")
TOLERANCE = 2e-5


def token_ids(arch: Architecture, batch: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, arch.vocab, (batch, arch.seq_len))


def load(
    arch: Architecture, config: ParallelConfig, rules: ShardingRules, seed: int = 7
) -> Replica:
    """The planner's stage split for ``config`` with ``rules`` forced (for
    models this small the cost model prefers replicating everything)."""
    plan = dataclasses.replace(plan_parallel(arch, config, max_batch=4), rules=rules)
    return Replica(plan, stage_meshes(jax.devices()[: config.size], config), seed)


@pytest.mark.parametrize("family", ["bert", "moe"])
def test_every_config_matches_single_device(family: str) -> None:
    arch = SMALL[family]
    ids = token_ids(arch, 3)
    expected = np.asarray(reference_forward(arch, 7, ids))
    for config in GRID:
        replica = load(arch, config, ALL_SPLIT if config.op > 1 else REPLICATED)
        assert [s.sharding.size for s in replica.stages] == [config.op] * config.pp
        got = np.asarray(replica.forward(ids))
        np.testing.assert_allclose(
            got, expected, rtol=TOLERANCE, atol=TOLERANCE, err_msg=str(config)
        )


@pytest.mark.parametrize(
    "rules",
    [
        ShardingRules(experts="op"),  # expert parallel
        ShardingRules(mlp="op"),  # tensor-parallel experts and Megatron MLP
        ShardingRules(vocab="op", heads="op"),
        ShardingRules(batch="op", heads="op"),  # 3 rows are padded to 4
    ],
    ids=["experts", "mlp", "vocab+heads", "batch+heads"],
)
def test_each_sharding_strategy_matches_single_device(rules: ShardingRules) -> None:
    arch = SMALL["moe"]
    ids = token_ids(arch, 3)
    replica = load(arch, ParallelConfig(4, 1), rules)
    expected = np.asarray(reference_forward(arch, 7, ids))
    np.testing.assert_allclose(
        np.asarray(replica.forward(ids)), expected, rtol=TOLERANCE, atol=TOLERANCE
    )


def test_weights_are_split_as_the_rules_say() -> None:
    # hidden 32, heads 4, ffn 128, vocab 64, seq 8, float32; split across 2.
    # embed: tokens 64*32/2 + positions 8*32 + norm 2*32 = 1344 floats.
    # block: attention (4*32*32 + 3*32)/2 + bo 32 = 2128; norms 4*32 = 128;
    #        mlp (2*32*128 + 128)/2 + b_out 32 = 4192  -> 6448 floats.
    arch = SMALL["bert"]
    replica = load(arch, ParallelConfig(2, 2), ShardingRules(vocab="op", heads="op", mlp="op"))
    assert [(s.start, s.end) for s in replica.stages] == [(0, 1), (1, 4)]
    assert replica.weight_bytes_per_device() == (1344 * 4, 3 * 6448 * 4)
    block = replica.stages[1].weights[0]
    assert isinstance(block, Block)
    wq = block.attention.wq
    assert {shard.data.shape for shard in wq.addressable_shards} == {(32, 2, 8)}
    unsplit = load(arch, ParallelConfig(1, 2), REPLICATED)
    assert unsplit.weight_bytes_per_device() == tuple(s.weight_bytes for s in unsplit.plan.stages)


def test_weights_depend_on_seed_and_layer_only() -> None:
    arch = SMALL["moe"]
    first, again, other = (init_layer(arch, 2, seed) for seed in (3, 3, 4))
    assert isinstance(first, Block) and isinstance(other, Block)
    pairs = zip(jax.tree.leaves(first), jax.tree.leaves(again), strict=True)
    assert all(np.array_equal(a, b) for a, b in pairs)
    assert not np.array_equal(first.ffn.w_in, other.ffn.w_in)
    assert np.array_equal(first.norm1.scale, np.ones(32, np.float32))
    assert first.ffn.w_in.shape == (4, 32, 128)  # an MoE block: experts, embed, mlp


def test_route_fills_first_choices_first_and_drops_over_capacity() -> None:
    # Token 0 prefers experts 0 > 1 > 2, token 1 prefers 0 > 2 > 1; top-2
    # gates renormalise to sigmoid(1) and 1 - sigmoid(1). With one slot per
    # expert, token 1's first choice (expert 0) finds it taken by token 0.
    logits = np.array([[[2.0, 1.0, 0.0], [2.0, 0.0, 1.0]]], np.float32)
    dispatch, combine = jax.jit(route, static_argnums=(1, 2))(logits, 2, 1)
    high = 1 / (1 + math.exp(-1))
    expected = np.zeros((1, 2, 3, 1))
    expected[0, 0, 0, 0], expected[0, 0, 1, 0], expected[0, 1, 2, 0] = high, 1 - high, 1 - high
    np.testing.assert_allclose(np.asarray(combine), expected, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(dispatch), expected > 0)


def test_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"^devices: 3 devices given, config op2xpp2 needs 4"):
        stage_meshes(jax.devices()[:3], ParallelConfig(2, 2))
    with pytest.raises(ValueError, match=r"^devices: a device appears twice"):
        stage_meshes([jax.devices()[0]] * 2, ParallelConfig(2, 1))
    (mesh,) = stage_meshes(jax.devices()[:4], ParallelConfig(4, 1))
    with pytest.raises(ValueError, match=r"^rules.experts: size 6 is not divisible by op=4"):
        StageSharding(mesh, ShardingRules(experts="op")).check_divisible({"experts": 6})
    with pytest.raises(ValueError, match=r"^layer: index 4 is outside 0..3"):
        init_layer(SMALL["bert"], 4, seed=0)


@contextlib.contextmanager
def counted_compiles() -> Iterator[list[str]]:
    """The XLA compilations started inside the block (one entry each)."""
    compiles: list[str] = []

    def listen(event: str, duration_secs: float, **kwargs: str | int) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield compiles
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


def test_identical_replicas_compile_once_per_mesh() -> None:
    arch = dataclasses.replace(SMALL["bert"], vocab=96)  # compiled by no other test
    config = ParallelConfig(2, 2)
    plan = plan_parallel(arch, config, max_batch=2)
    here, there = stage_meshes(jax.devices()[:4], config), stage_meshes(jax.devices()[4:], config)
    ids = np.random.default_rng(0).integers(0, arch.vocab, (2, arch.seq_len))
    with counted_compiles() as first:
        first_out = Replica(plan, here, seed=1).forward(ids)
    with counted_compiles() as same_mesh:
        second_out = Replica(plan, here, seed=2).forward(ids)
    with counted_compiles() as other_devices:
        Replica(plan, there, seed=3).forward(ids)
    assert len(first) >= config.pp and same_mesh == []
    assert len(other_devices) >= config.pp  # an executable is bound to its devices
    assert not np.allclose(first_out, second_out)  # the weights are each model's own
