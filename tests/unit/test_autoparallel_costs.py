"""Architectures, the device model and the per-layer cost model against
numbers worked out by hand for a tiny architecture."""

from __future__ import annotations

import pytest

from planner.autoparallel import (
    BERT_1_3B,
    BERT_2_6B,
    BERT_6_7B,
    GB,
    MOE_1_3B,
    MOE_2_4B,
    REPLICATED,
    TINY_BERT,
    Architecture,
    DeviceModel,
    ShardingRules,
    layer_cost,
    layer_costs,
    layer_kind,
    layer_names,
    layer_params,
    preset,
)
from planner.codec import decode, encode
from tests.unit.autoparallel_cases import SLOW, TINY, TINY_MOE

MEGATRON = ShardingRules(heads="op", mlp="op")


@pytest.mark.parametrize(
    ("arch", "gigabytes"),
    [(BERT_1_3B, 2.4), (BERT_2_6B, 5.4), (BERT_6_7B, 13.4), (MOE_1_3B, 2.6), (MOE_2_4B, 4.8)],
)
def test_preset_weight_sizes_match_the_evaluation(arch: Architecture, gigabytes: float) -> None:
    assert arch.weight_bytes == pytest.approx(gigabytes * GB, rel=0.05)


def test_bert_block_has_twelve_h_squared_plus_thirteen_h_parameters() -> None:
    h = BERT_1_3B.hidden
    params = layer_params(BERT_1_3B, "block0")
    assert sum(p.size for p in params.values()) == 12 * h * h + 13 * h
    embed = layer_params(BERT_1_3B, "embed")
    assert sum(p.size for p in embed.values()) == (30528 + 512) * h + 2 * h


def test_layer_sequence_and_kinds() -> None:
    moe = Architecture("moe", num_layers=4, hidden=8, heads=2, num_experts=4, moe_every=2)
    assert layer_names(moe) == ("embed", "block0", "block1", "block2", "block3")
    assert [layer_kind(moe, n) for n in layer_names(moe)] == [
        "embed",
        "dense",
        "moe",
        "dense",
        "moe",
    ]
    assert layer_params(moe, "block1")["ffn.w_in"].shape == (4, 8, 32)
    assert layer_params(moe, "block1")["ffn.w_in"].axes == ("experts", "embed", "mlp")
    with pytest.raises(ValueError, match=r"^layer: 'block4' is outside block0..block3"):
        layer_kind(moe, "block4")


def test_presets_by_name() -> None:
    assert preset(" BERT-1.3B ") is BERT_1_3B
    assert preset("tiny-bert") is TINY_BERT
    with pytest.raises(ValueError, match=r"^model: unknown preset 'gpt'; choose from bert-1.3b"):
        preset("gpt")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"family": "gpt"}, r"^family: must be one of"),
        ({"heads": 3}, r"^heads: hidden=8 is not divisible by heads=3"),
        ({"num_layers": 0}, r"^num_layers: must be a positive integer"),
        ({"num_experts": 2}, r"^num_experts: must be 0 for family 'bert'"),
        ({"family": "moe"}, r"^num_experts: must be >= 2 for family 'moe'"),
        ({"family": "moe", "num_experts": 4, "top_k": 5}, r"^top_k: must be in 1..4"),
    ],
)
def test_architecture_rejects(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"family": "bert", "num_layers": 2, "hidden": 8, "heads": 2}
    with pytest.raises(ValueError, match=message):
        Architecture(**{**base, **kwargs})  # type: ignore[arg-type]


def test_architecture_json_round_trip_and_errors() -> None:
    assert decode(Architecture, encode(MOE_1_3B), "arch") == MOE_1_3B
    assert BERT_1_3B.ffn == 4 * BERT_1_3B.hidden
    with pytest.raises(ValueError, match=r"^arch.layers: is not a field of Architecture"):
        decode(Architecture, {**encode(TINY), "layers": 3}, "arch")
    with pytest.raises(ValueError, match=r"^arch.hidden: is required"):
        decode(Architecture, {"family": "bert", "num_layers": 1, "heads": 1}, "arch")
    with pytest.raises(ValueError, match=r"^arch.heads: hidden=8"):
        decode(Architecture, {**encode(TINY), "heads": 3}, "arch")


def test_collectives_by_hand() -> None:
    # n = 4, B = 800 bytes, 1 ms latency, 1000 B/s.
    assert SLOW.all_reduce_s(800, 4) == pytest.approx(6e-3 + 2 * 0.75 * 0.8)
    assert SLOW.all_gather_s(800, 4) == pytest.approx(3e-3 + 0.75 * 0.8)
    assert SLOW.all_to_all_s(800, 4) == pytest.approx(3e-3 + 0.75 * 0.8)
    assert SLOW.all_reduce_s(800, 1) == 0.0
    assert SLOW.send_s(800, inter_node=False) == pytest.approx(1e-3 + 0.8)
    assert SLOW.send_s(800, inter_node=True) == pytest.approx(10e-6 + 800 / 12.5e9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"peak_flops": 0}, r"^peak_flops: must be > 0"),
        ({"intra_latency_s": -1e-6}, r"^intra_latency_s: must be >= 0"),
        ({"efficiency": 1.5}, r"^efficiency: must be in \(0, 1\]"),
        ({"devices_per_node": 2.5}, r"^devices_per_node: must be an integer"),
    ],
)
def test_device_model_rejects(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DeviceModel(**kwargs)  # type: ignore[arg-type]


def test_replicated_block_by_hand() -> None:
    cost = layer_cost(TINY, "block0", REPLICATED, 1, 2, SLOW)
    # FLOPs per item: attention 8*4*64 + 4*16*8 = 2560, MLP 4*4*8*16 = 2048.
    assert cost.flops == 2 * (2560 + 2048)
    # 4h^2 + 2hf + 9h + f = 256 + 256 + 72 + 16 = 600 parameters, fp16.
    assert cost.weight_bytes == 1200
    # Attention workspace 2 * (2*4*8 + 4*4*8 + 2*2*16) = 512 beats the MLP's 2 * (64 + 128).
    assert cost.act_bytes == 512
    assert cost.comm_s == 0.0
    # Attention: compute 5120/5e5 = 10.24 ms vs memory (weights 2*(280+8+16) + 2*2*512)/1e6;
    # MLP: compute 4096/5e5 = 8.192 ms vs memory (2*(272+8+16) + 2*2*384)/1e6.
    assert cost.latency_s == pytest.approx(10.24e-3 + 8.192e-3)


def test_megatron_block_by_hand() -> None:
    cost = layer_cost(TINY, "block0", MEGATRON, 2, 2, SLOW)
    assert cost.flops == (2 * 2560 + 2 * 2048) / 2
    # Split: wq/wk/wv with biases (216) and wo (64) -> 140; w_in, b_in, w_out (272) -> 136;
    # replicated: bo, b_out (16) and both norms (32) -> 48; 324 parameters.
    assert cost.weight_bytes == 2 * 324
    # Attention 2 * (64 + (128 + 64) / 2) = 320 beats the MLP's 2 * (64 + 128 / 2) = 256.
    assert cost.act_bytes == 320
    # Two all-reduces of B = 2 * 2 * 4 * 8 = 128 bytes over 2 devices: 2 ms + 128 / 1000 s each.
    all_reduce = 2e-3 + 0.128
    assert cost.comm_s == pytest.approx(2 * all_reduce)
    # Attention: compute 2560/5e5 = 5.12 ms beats memory (328 + 1280)/1e6 = 1.608 ms;
    # MLP: compute 2048/5e5 = 4.096 ms beats memory (320 + 1024)/1e6 = 1.344 ms.
    assert cost.latency_s == pytest.approx(5.12e-3 + 4.096e-3 + 2 * all_reduce)


def test_embedding_is_memory_bound_by_hand() -> None:
    cost = layer_cost(TINY, "embed", REPLICATED, 1, 2, SLOW)
    assert cost.flops == 0.0
    assert cost.weight_bytes == 2 * ((32 + 4) * 8 + 16)
    assert cost.act_bytes == 2 * 2 * 4 * 8
    # Reads 2 * 8 * (8 rows + 4 positions + 2 norm) = 224 bytes of weights, moves 2 * 2 * 128.
    assert cost.latency_s == pytest.approx((224 + 512) / 1e6)
    split = layer_cost(TINY, "embed", ShardingRules(vocab="op"), 2, 2, SLOW)
    assert split.weight_bytes == 2 * (16 * 8 + 4 * 8 + 16)
    assert split.comm_s == pytest.approx(2e-3 + 0.128)


def test_moe_expert_parallel_communication_by_hand() -> None:
    expert = layer_cost(TINY_MOE, "block0", ShardingRules(experts="op"), 4, 1, SLOW)
    # B = 64 bytes: two all-to-alls of B/4 (3 ms + 0.75 * 16 / 1000 s each) and an all-gather of B.
    assert expert.comm_s == pytest.approx(2 * (3e-3 + 0.012) + (3e-3 + 0.048))
    tensor = layer_cost(TINY_MOE, "block0", ShardingRules(mlp="op"), 4, 1, SLOW)
    assert tensor.comm_s == pytest.approx(6e-3 + 1.5 * 0.064)
    # Router 2*4*8*4 = 256 FLOPs stays whole; experts 4*1*4*8*16 = 2048 split 4 ways.
    assert expert.flops - layer_cost(
        TINY_MOE, "block0", REPLICATED, 4, 1, SLOW
    ).flops == pytest.approx(-2048 * 0.75)


def test_layers_of_one_kind_cost_the_same() -> None:
    costs = layer_costs(MOE_1_3B, MEGATRON, 2, 3, DeviceModel())
    assert [c.name for c in costs] == list(layer_names(MOE_1_3B))
    assert costs[1].latency_s == costs[3].latency_s
    assert costs[2].latency_s == costs[4].latency_s
    assert costs[1].weight_bytes < costs[2].weight_bytes
