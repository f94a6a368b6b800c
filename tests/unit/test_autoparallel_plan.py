"""Parallel plans: stages, memory, hand-offs, measured timings, config
enumeration and the conversion to profiles."""

from __future__ import annotations

import itertools

import pytest

from planner.autoparallel import (
    BERT_1_3B,
    BERT_6_7B,
    GB,
    MOE_2_4B,
    REPLICATED,
    TINY_BERT,
    DeviceModel,
    DoesNotFit,
    LayerTimings,
    ShardingRules,
    enumerate_configs,
    handoff_s,
    layer_costs,
    layer_names,
    plan_configs,
    plan_parallel,
    to_profile,
)
from planner.domain import ParallelConfig
from tests.unit.autoparallel_cases import SLOW, TINY


def test_stages_cover_the_layer_sequence_in_order() -> None:
    plan = plan_parallel(MOE_2_4B, ParallelConfig(2, 4))
    assert plan.stages[0].start == 0
    assert plan.stages[-1].end == MOE_2_4B.num_layers + 1
    for before, after in itertools.pairwise(plan.stages):
        assert before.end == after.start
    assert sum((plan.stage_layers(s) for s in range(4)), ()) == layer_names(MOE_2_4B)
    assert plan.max_batch == 8


def test_stage_latency_is_its_layers_plus_the_handoff() -> None:
    device = DeviceModel()
    config = ParallelConfig(4, 4)
    plan = plan_parallel(BERT_1_3B, config, device, max_batch=3)
    for batch in (1, 2, 3):
        costs = layer_costs(BERT_1_3B, plan.rules, 4, batch, device)
        hand = handoff_s(BERT_1_3B, config, batch, device)
        for k, stage in enumerate(plan.stages):
            expected = sum(c.latency_s for c in costs[stage.start : stage.end])
            expected += hand[k] if k < 3 else 0.0
            assert stage.latency_s[batch - 1] == pytest.approx(expected)
            assert stage.weight_bytes == sum(c.weight_bytes for c in costs[stage.start : stage.end])
            assert stage.act_bytes == max(c.act_bytes for c in costs[stage.start : stage.end])
    assert plan.latency_s(2) == pytest.approx(sum(s.latency_s[1] for s in plan.stages))


def test_handoff_crosses_nodes_only_at_node_boundaries() -> None:
    device = DeviceModel()
    nbytes = 2 * 3 * 512 * 2048
    intra = 2e-6 + nbytes / 150e9
    inter = 10e-6 + nbytes / 12.5e9
    # 16 devices: stages 0-1 on node 0, stages 2-3 on node 1.
    assert handoff_s(BERT_1_3B, ParallelConfig(4, 4), 3, device) == pytest.approx(
        (intra, inter, intra)
    )
    assert handoff_s(BERT_1_3B, ParallelConfig(2, 4), 3, device) == pytest.approx((intra,) * 3)


def test_split_balances_the_bottleneck() -> None:
    plan = plan_parallel(BERT_6_7B, ParallelConfig(1, 4))
    slowest = max(s.latency_s[0] for s in plan.stages)
    block = layer_costs(BERT_6_7B, plan.rules, 1, 1, DeviceModel())[1].latency_s
    # 33 layers on 4 stages: no stage can be more than one block above the ideal.
    assert slowest <= plan.latency_s(1) / 4 + block


def test_every_stage_fits_the_budget() -> None:
    budget = 5 * GB
    for config, plan in plan_configs(BERT_6_7B, mem_budget_bytes=budget).items():
        for stage in plan.stages:
            assert stage.weight_bytes + 8 * stage.act_bytes <= budget, config


def test_enumerate_configs_drops_what_does_not_fit() -> None:
    # 13.1 GB of weights in 5 GB per device: a quarter fits, a half does not.
    configs = set(enumerate_configs(BERT_6_7B, 16, mem_budget_bytes=5 * GB))
    for fits in [(1, 4), (4, 1), (2, 2), (2, 8), (8, 2)]:
        assert ParallelConfig(*fits) in configs
    for too_big in [(1, 1), (1, 2), (2, 1)]:
        assert ParallelConfig(*too_big) not in configs
    assert all(c.size <= 16 for c in configs)


def test_enumerate_configs_respects_layer_count_and_node() -> None:
    # tiny-bert has 3 layers, so pp stops at 2; op stops at 4 on 4-device nodes.
    configs = enumerate_configs(TINY_BERT, 64, DeviceModel(devices_per_node=4))
    assert configs == tuple(ParallelConfig(op, pp) for op in (1, 2, 4) for pp in (1, 2))


def test_does_not_fit_names_the_budget() -> None:
    with pytest.raises(DoesNotFit, match=r"^mem_budget_bytes: bert-6.7b on op2xpp1 does not fit"):
        plan_parallel(BERT_6_7B, ParallelConfig(2, 1), mem_budget_bytes=5 * GB)


def test_a_block_too_big_for_a_device_is_named() -> None:
    # BERT-6.7B's embedding alone needs its weights (vocab + positions + norm,
    # fp16) and 8 workspaces of 2 x seq x hidden, fp16; blocks need more.
    h = 4096
    need = 2 * ((30528 + 512) * h + 2 * h) + 8 * 2 * 2 * 512 * h
    message = rf"replicated: layers\[0\] \(embed\): needs {need} bytes per device"
    with pytest.raises(DoesNotFit, match=message):
        plan_parallel(BERT_6_7B, ParallelConfig(1, 8), mem_budget_bytes=3 * GB // 10)


def test_config_limits() -> None:
    with pytest.raises(ValueError, match=r"^config.pp: cannot split 3 layers into 4 stages"):
        plan_parallel(TINY_BERT, ParallelConfig(1, 4))
    with pytest.raises(ValueError, match=r"^config.op: 16 devices exceed one node"):
        plan_parallel(BERT_1_3B, ParallelConfig(16, 1))
    with pytest.raises(ValueError, match=r"^ref_batch: must be in 1..8, got 9"):
        plan_parallel(BERT_1_3B, ParallelConfig(1, 1), ref_batch=9)


def tiny_timings() -> LayerTimings:
    # The last block is five times slower than the others, twice that at batch 2.
    return LayerTimings(
        ("embed", "block0", "block1"),
        {1: ((1e-3, 1e-3, 5e-3), (2e-3, 2e-3, 10e-3))},
    )


def test_measured_timings_replace_the_cost_model() -> None:
    config = ParallelConfig(1, 2)
    device = DeviceModel()
    plan = plan_parallel(TINY_BERT, config, device, max_batch=2, timings=tiny_timings())
    assert [(s.start, s.end) for s in plan.stages] == [(0, 2), (2, 3)]
    for batch in (1, 2):
        hand = handoff_s(TINY_BERT, config, batch, device)[0]
        assert plan.stages[0].latency_s[batch - 1] == pytest.approx(batch * 2e-3 + hand)
        assert plan.stages[1].latency_s[batch - 1] == pytest.approx(batch * 5e-3)


def test_measured_timings_must_cover_the_plan() -> None:
    with pytest.raises(ValueError, match=r"^timings.latency_s: no measurements for op=2"):
        plan_parallel(TINY_BERT, ParallelConfig(2, 1), max_batch=2, timings=tiny_timings())
    with pytest.raises(
        ValueError, match=r"^timings.latency_s\[1\]: has batch sizes 1..2, need 1..8"
    ):
        plan_parallel(TINY_BERT, ParallelConfig(1, 1), timings=tiny_timings())
    wrong = LayerTimings(("embed", "block0"), {1: ((1e-3, 1e-3),)})
    with pytest.raises(
        ValueError, match=r"^timings.layers: must be \['embed', 'block0', 'block1'\]"
    ):
        plan_parallel(TINY_BERT, ParallelConfig(1, 1), max_batch=1, timings=wrong)


def test_timings_json_round_trip_and_errors() -> None:
    timings = tiny_timings()
    assert LayerTimings.from_json(timings.to_json()) == timings
    data = timings.to_json()
    with pytest.raises(ValueError, match=r"^timings.latency_s\[1\]\[1\]\[2\]: must be > 0"):
        LayerTimings.from_json({**data, "latency_s": {"1": [[1, 1, 1], [1, 1, -1]]}})
    with pytest.raises(ValueError, match=r"^timings.latency_s\[1\]\[0\]: has 2 layers"):
        LayerTimings.from_json({**data, "latency_s": {"1": [[1, 1]]}})
    with pytest.raises(ValueError, match=r"^timings.latency_s: key 'x' is not an op degree"):
        LayerTimings.from_json({**data, "latency_s": {"x": []}})
    with pytest.raises(ValueError, match=r"^timings.layers: is required"):
        LayerTimings.from_json({"latency_s": {}})


def test_to_profile_carries_every_plan() -> None:
    plans = plan_configs(BERT_1_3B, 8)
    profile = to_profile(plans.values())
    assert profile.configs == tuple(plans)
    for config, plan in plans.items():
        stage = profile[config]
        assert stage.num_stages == config.pp
        assert stage.max_batch == 8
        assert stage.latency_s[4] == tuple(s.latency_s[4] for s in plan.stages)
        assert stage.stage_weight_bytes == tuple(s.weight_bytes for s in plan.stages)
        assert stage.act_bytes == max(s.act_bytes for s in plan.stages)
    with pytest.raises(ValueError, match=r"^plans: op1xpp1 appears twice"):
        to_profile([plans[ParallelConfig(1, 1)]] * 2)


def test_plan_json_names_stage_layers() -> None:
    data = plan_parallel(TINY_BERT, ParallelConfig(2, 2), max_batch=2).to_json()
    assert data["config"] == {"op": 2, "pp": 2}
    assert [s["layers"] for s in data["stages"]] == [["embed", "embed"], ["block0", "block1"]]
    assert set(data["rules"]) == {
        "batch",
        "seq",
        "embed",
        "heads",
        "head_dim",
        "mlp",
        "experts",
        "vocab",
    }


def test_fastest_sharding_that_fits_the_budget_wins() -> None:
    # On SLOW links every all-reduce costs 0.13 s, so replicating TINY is
    # fastest: 608 + 1200 bytes of weights and a 512-byte workspace.
    config = ParallelConfig(2, 1)
    assert plan_parallel(TINY, config, SLOW, 10_000, max_batch=1).rules == REPLICATED
    # Within 2000 bytes only splits that save enough fit; splitting the heads
    # alone (one all-reduce) leaves 608 + 920 bytes and a 384-byte workspace.
    plan = plan_parallel(TINY, config, SLOW, 2000, max_batch=1)
    assert plan.rules == ShardingRules(heads="op")
    assert plan.stages[0].weight_bytes + plan.stages[0].act_bytes == 608 + 920 + 384


def test_a_given_split_is_kept_with_the_stages_it_implies() -> None:
    """``split`` fixes the stage ranges; each stage's latency, weights and
    workspace follow from its layers as for the optimal split, and a split
    that is not adjacent ranges covering the layers, or that overflows a
    device, does not fit."""
    config = ParallelConfig(2, 4)  # BERT-1.3B: 24 layers (embed, 23 blocks)
    best = plan_parallel(BERT_1_3B, config, max_batch=2)
    assert plan_parallel(BERT_1_3B, config, max_batch=2, split=best.bounds()) == best
    given = ((0, 1), (1, 2), (2, 3), (3, 24))
    plan = plan_parallel(BERT_1_3B, config, max_batch=2, split=given)
    assert plan.bounds() == given and plan.rules == best.rules
    costs = layer_costs(BERT_1_3B, plan.rules, 2, 1, DeviceModel())
    hand = handoff_s(BERT_1_3B, config, 1, DeviceModel())
    for k, (start, end) in enumerate(given):
        expected = sum(c.latency_s for c in costs[start:end]) + (hand[k] if k < 3 else 0.0)
        assert plan.stages[k].latency_s[0] == pytest.approx(expected)
        assert plan.stages[k].weight_bytes == sum(c.weight_bytes for c in costs[start:end])
    for wrong, why in (
        (((0, 1), (2, 3), (3, 10), (10, 24)), r"are not adjacent ranges covering layers \[0, 24\)"),
        (((0, 5), (5, 10), (10, 24)), "bounds: has 3 stages, expected 4"),
        (((0, 5), (5, 10), (10, 20), (20, 23)), r"are not adjacent ranges covering layers"),
        (((1, 5), (5, 10), (10, 20), (20, 24)), r"bounds\[0\]: \(1, 5\) must be a non-empty range"),
    ):
        with pytest.raises(DoesNotFit, match=why):
            plan_parallel(BERT_1_3B, config, max_batch=2, split=wrong)
    with pytest.raises(DoesNotFit, match=r"bounds\[3\]: stage needs"):
        plan_parallel(BERT_1_3B, config, mem_budget_bytes=GB, max_batch=2, split=given)
