"""Group/config enumeration: buckets, device shares, configs, device
layout, and the search end to end."""

from __future__ import annotations

import time

import pytest

from planner.deadline import Deadline
from planner.domain import Cluster, ParallelConfig
from planner.placement.enumeration import (
    Block,
    assign_devices,
    block_configs,
    bucket_models,
    device_shares,
    enumerate_placements,
    share_quantum,
)
from planner.placement.options import SolveOptions
from planner.placement.scoring import Scorer
from planner.placement.solution import SolveTimeoutError
from planner.sim import Instance, SimOptions, simulate
from planner.validation import validate
from tests.unit.placement_cases import GB, model, workload


def test_buckets_split_sizes_and_latencies_that_differ() -> None:
    models = [
        model("small-a", latency_s=0.10, weight_bytes=2 * GB),
        model("big-a", latency_s=0.25, weight_bytes=5 * GB),
        model("small-b", latency_s=0.11, weight_bytes=2 * GB + GB // 10),
        model("big-b", latency_s=0.22, weight_bytes=5 * GB + GB // 2),
    ]
    assert bucket_models(models, 2) == ((0, 2), (1, 3))
    assert bucket_models(models, 1) == ((0, 1, 2, 3),)
    same = [model(f"m{i}") for i in range(3)]
    assert bucket_models(same, 4) == ((0, 1, 2),)


def test_bucket_merging_joins_the_closest_neighbours() -> None:
    sizes = [1, 4, 5 * 4, 5 * 4 * 1.6]  # gaps: x4, x5, x1.6 (all above 1.5)
    models = [model(f"m{i}", weight_bytes=int(s * GB)) for i, s in enumerate(sizes)]
    assert bucket_models(models, 4) == ((0,), (1,), (2,), (3,))
    assert bucket_models(models, 3) == ((0,), (1,), (2, 3))
    assert bucket_models(models, 2) == ((0, 1), (2, 3))


@pytest.mark.parametrize(
    ("devices", "per_node", "quantum"),
    [(32, 8, 8), (16, 8, 8), (8, 8, 4), (4, 8, 2), (6, 8, 2), (1, 8, 1)],
)
def test_share_quantum(devices: int, per_node: int, quantum: int) -> None:
    assert share_quantum(Cluster(devices, GB, per_node)) == quantum


def test_device_shares() -> None:
    assert device_shares(32, 8, 2) == [(8, 24), (16, 16), (24, 8)]
    assert device_shares(32, 8, 3) == [(8, 8, 16), (8, 16, 8), (16, 8, 8)]
    assert device_shares(6, 4, 1) == [(6,)]
    assert device_shares(10, 4, 2) == [(4, 6)]  # the uncovered 2 devices go last
    assert device_shares(4, 4, 2) == []


def test_block_configs_respect_nodes_and_limits() -> None:
    cluster = Cluster(8, 20 * GB, devices_per_node=4)
    models = [model("a")]
    configs = block_configs(cluster, 8, models, SolveOptions())
    sizes = {c.size for c in configs}
    assert sizes == {1, 2, 4, 8}  # divisors of 8 within a node or whole nodes
    assert ParallelConfig(4, 2) in configs  # op = 4 fits a node
    assert ParallelConfig(8, 1) not in configs  # op = 8 would cross nodes
    assert ParallelConfig(1, 8) not in configs  # not profiled (CONFIGS has pp <= 4)
    limited = block_configs(cluster, 8, models, SolveOptions(max_op=1, group_sizes=(2, 4)))
    assert limited == [ParallelConfig(1, 2), ParallelConfig(1, 4)]
    huge = [model("huge", weight_bytes=30 * GB)]  # needs >= 2 devices per replica
    assert {c.size for c in block_configs(cluster, 8, huge, SolveOptions())} == {2, 4, 8}


def test_assign_devices_lays_largest_groups_first() -> None:
    blocks = [
        Block((0,), 2, ParallelConfig(1, 1)),
        Block((1,), 1, ParallelConfig(2, 2)),
    ]
    configs, devices, owners = assign_devices(blocks)
    assert configs == [ParallelConfig(2, 2), ParallelConfig(1, 1), ParallelConfig(1, 1)]
    assert devices == [(0, 1, 2, 3), (4,), (5,)]
    assert owners == [1, 0, 0]


def small_case(devices: int = 4) -> Scorer:
    models = [
        model("a", latency_s=0.1, weight_bytes=6 * GB),
        model("b", latency_s=0.1, weight_bytes=6 * GB),
        model("c", latency_s=0.3, weight_bytes=14 * GB),
    ]
    traffic = workload({"a": 8.0, "b": 4.0, "c": 2.0}, cv=3.0, duration_s=20)
    return Scorer(
        Instance(Cluster(devices, 16 * GB, devices_per_node=4), models, traffic, SimOptions())
    )


def test_enumeration_returns_a_valid_placement_scored_exactly() -> None:
    scorer = small_case()
    calls: list[tuple[float, str]] = []
    found = enumerate_placements(scorer, SolveOptions(), progress=lambda f, m: calls.append((f, m)))
    validate(scorer.instance.cluster, scorer.instance.models, found.placement)
    result = simulate(
        scorer.instance.cluster, scorer.instance.models, found.placement, scorer.instance.workload
    )
    assert scorer.attainment(found.served) == result.attainment
    # a first report before any block, one per block solved, the last at 1.0
    assert calls[0] == (
        0.0,
        f"enumeration: {found.candidates} device splits, {found.blocks_total} blocks",
    )
    solving = [m for _, m in calls if m.startswith("solving block ")]
    assert len(solving) == found.blocks_solved > 0
    assert found.blocks_total == (
        found.blocks_solved + found.blocks_pruned_by_bound + found.blocks_ranked_out
    )
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and 0 < fractions[1] < 1 and fractions[-1] == 1.0
    # once the search is done, the best so far is the answer
    assert calls[-1][1].endswith(f"{result.attainment:.4f}")
    assert not found.timed_out


def test_process_pool_gives_the_same_placement() -> None:
    scorer = small_case()
    alone = enumerate_placements(scorer, SolveOptions(workers=1))
    pooled = enumerate_placements(scorer, SolveOptions(workers=2))
    assert pooled.placement == alone.placement


def test_nothing_solved_before_the_deadline_is_a_timeout() -> None:
    scorer = small_case()
    with pytest.raises(SolveTimeoutError, match=r"^time limit: no complete candidate"):
        enumerate_placements(scorer, SolveOptions(), deadline=Deadline(time.monotonic() - 1))
