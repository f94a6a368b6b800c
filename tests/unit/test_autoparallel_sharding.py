"""Sharding rules and the intra-op choice: Megatron for BERT blocks, expert
parallelism for MoE when its all-to-alls are cheaper."""

from __future__ import annotations

import pytest

from planner.autoparallel import (
    BERT_1_3B,
    BERT_6_7B,
    REPLICATED,
    Architecture,
    ShardingRules,
    candidate_rules,
    layer_params,
    plan_parallel,
    rank_rules,
    strategies,
)
from planner.domain import ParallelConfig
from tests.unit.autoparallel_cases import TINY_MOE, slow_compute

MEGATRON = ShardingRules(heads="op", mlp="op")


@pytest.mark.parametrize("arch", [BERT_1_3B, BERT_6_7B])
@pytest.mark.parametrize("op", [2, 4, 8])
def test_bert_blocks_get_megatron(arch: Architecture, op: int) -> None:
    plan = plan_parallel(arch, ParallelConfig(op, 1))
    assert plan.rules == MEGATRON
    assert plan.strategies() == {
        "embed": "replicated",
        "attention": "head-parallel",
        "mlp": "megatron",
    }
    params = layer_params(arch, "block0")
    # Column-parallel first matmul, row-parallel second, heads split in attention.
    assert plan.rules.spec(params["ffn.w_in"].axes) == (None, "op")
    assert plan.rules.spec(params["ffn.b_in"].axes) == ("op",)
    assert plan.rules.spec(params["ffn.w_out"].axes) == ("op", None)
    assert plan.rules.spec(params["ffn.b_out"].axes) == (None,)
    assert plan.rules.spec(params["attention.wq"].axes) == (None, "op", None)
    assert plan.rules.spec(params["attention.wo"].axes) == ("op", None, None)
    assert plan.rules.spec(params["norm1.scale"].axes) == (None,)


def test_one_device_is_replicated() -> None:
    assert candidate_rules(BERT_1_3B, 1) == (REPLICATED,)
    assert plan_parallel(BERT_1_3B, ParallelConfig(1, 2)).rules == REPLICATED


def test_moe_uses_expert_parallelism_when_all_to_all_is_cheaper() -> None:
    # B = 64 bytes over 4 devices at 1000 B/s, no latency: expert parallel
    # moves 2 * 0.75 * 16 + 0.75 * 64 = 72 bytes' time, an all-reduce 96.
    device = slow_compute(1e3, 0.0)
    best = rank_rules(TINY_MOE, 4, device)[0]
    assert best == ShardingRules(experts="op")
    assert strategies(TINY_MOE, best) == {
        "embed": "replicated",
        "attention": "replicated",
        "moe": "expert-parallel",
    }


def test_moe_uses_tensor_parallel_experts_when_latency_dominates() -> None:
    # With 1 ms per message and fast links: 9 messages for expert parallel
    # (3 per collective) against 6 for one ring all-reduce.
    device = slow_compute(1e12, 1e-3)
    best = rank_rules(TINY_MOE, 4, device)[0]
    assert best == ShardingRules(mlp="op")
    assert strategies(TINY_MOE, best)["moe"] == "tensor-parallel"


def test_candidates_only_split_divisible_axes() -> None:
    # 2 heads cannot split over 4 devices; vocab 32, ffn 16 and 4 experts can.
    axes = {rules.sharded for rules in candidate_rules(TINY_MOE, 4)}
    assert all("heads" not in sharded for sharded in axes)
    assert len(axes) == 8
    assert ("mlp", "experts", "vocab") in axes


def test_spec_splits_the_first_mapped_axis_only() -> None:
    both = ShardingRules(experts="op", mlp="op")
    assert both.spec(("experts", "embed", "mlp")) == ("op", None, None)
    assert both.spec(("embed", "mlp")) == (None, "op")
    assert both.split_dim(("embed", None)) is None
    assert both.sharded == ("mlp", "experts")
    assert both.mapping()["experts"] == "op"
    assert both.mapping()["batch"] is None


def test_rules_reject_other_mesh_axes() -> None:
    with pytest.raises(ValueError, match=r"^heads: must map to 'op' or None, got 'tp'"):
        ShardingRules(heads="tp")
