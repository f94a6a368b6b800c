"""Which enumeration blocks are solved: the triage bound holds for every
plan of a block, pruning by bound changes no plan and is logged, and the
plan does not depend on the number of worker processes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.domain import Cluster, ParallelConfig
from planner.placement.enumeration import Block, enumerate_placements
from planner.placement.greedy import ReplicaTable
from planner.placement.options import SolveOptions, available_cores, split_options
from planner.placement.scoring import Layout, Scorer
from planner.placement.selection import Selection
from planner.placement.triage import BlockTriage, Triage, _cheapest_first
from planner.sim import Instance, SimOptions
from tests.unit.placement_cases import GB, model, workload


def two_sizes() -> Scorer:
    """Four small busy models and two big ones on 16 devices: device splits
    that give either bucket one node are bounded below the best plan."""
    small = [model(f"s{i}", latency_s=0.02, weight_bytes=1 * GB) for i in range(4)]
    big = [model(f"b{i}", latency_s=0.1, weight_bytes=6 * GB) for i in range(2)]
    models = small + big
    rates = {m.name: (90.0 if m.name.startswith("s") else 25.0) for m in models}
    traffic = workload(rates, cv=2.0, duration_s=10)
    cluster = Cluster(16, 16 * GB, devices_per_node=4)
    return Scorer(Instance(cluster, models, traffic, SimOptions()))


def test_pruning_by_bound_changes_no_plan_and_is_logged() -> None:
    scorer = two_sizes()
    every = SolveOptions(screen_keep=100, workers=1)  # nothing ranked out
    pruned = enumerate_placements(scorer, every)
    solved = enumerate_placements(scorer, every, prune=False)
    assert pruned.placement == solved.placement
    assert pruned.served.tolist() == solved.served.tolist()
    assert solved.blocks_solved == solved.blocks_total == pruned.blocks_total
    assert pruned.blocks_pruned_by_bound > 0 and pruned.blocks_ranked_out == 0
    assert pruned.blocks_solved + pruned.blocks_pruned_by_bound == pruned.blocks_total
    lines = [line for line in pruned.log if "pruned by bound" in line]
    named = sum(line.split(": ", 2)[2].count(" x op") for line in lines)
    assert named == pruned.blocks_pruned_by_bound
    best = int(pruned.served.sum())
    assert all(f"bounded below the {best} served" in line for line in lines)


def test_every_block_not_solved_is_logged_with_why() -> None:
    scorer = two_sizes()
    found = enumerate_placements(scorer, SolveOptions(screen_keep=1, workers=1))
    assert found.blocks_ranked_out > 0
    logged = " ".join(line for line in found.log if line.startswith("enumeration: "))
    ranked = logged.count("ranked below the 1 solved by estimate")
    assert ranked > 0
    unsolved = found.blocks_total - found.blocks_solved
    assert unsolved == found.blocks_pruned_by_bound + found.blocks_ranked_out


def test_workers_give_the_same_plan_log_and_counts() -> None:
    scorer = two_sizes()
    alone = enumerate_placements(scorer, SolveOptions(workers=1))
    pooled = enumerate_placements(scorer, SolveOptions(workers=3))
    assert pooled.placement == alone.placement
    assert pooled.served.tolist() == alone.served.tolist()
    assert pooled.log == alone.log
    assert (pooled.blocks_solved, pooled.blocks_pruned_by_bound, pooled.blocks_ranked_out) == (
        alone.blocks_solved,
        alone.blocks_pruned_by_bound,
        alone.blocks_ranked_out,
    )


def test_workers_default_to_the_cores_available() -> None:
    assert SolveOptions().workers == available_cores() >= 1
    assert split_options({})[1].workers == available_cores()
    assert split_options({"workers": 1})[1].workers == 1


def test_cheapest_requests_fill_the_budget_first() -> None:
    bins = np.array([[3, 2], [0, 5], [1, 0]])
    work = np.array([1.0, 2.0])
    # bin 0: 3 x 1 s, then 1 of 2 s (6 s); bin 1: 3 of 2 s; bin 2: its 1
    assert _cheapest_first(bins, work, 6.0) == 4 + 3 + 1
    assert _cheapest_first(bins, work, 0.5) == 0
    assert _cheapest_first(bins, work, 100.0) == 11


def test_a_block_too_small_for_its_models_is_bounded_by_memory() -> None:
    models = [model(f"m{i}", latency_s=0.01, weight_bytes=6 * GB) for i in range(3)]
    rates = {"m0": 30.0, "m1": 20.0, "m2": 10.0}
    traffic = workload(rates, cv=1.0, duration_s=10)
    scorer = Scorer(Instance(Cluster(1, 16 * GB, 1), models, traffic, SimOptions()))
    triage = BlockTriage(scorer).examine((0, 1, 2), 1, ParallelConfig(1, 1))
    # two 6 GB models fit 16 GB, so at most the two most requested are served
    assert triage.bound == int(scorer.demand[[0, 1]].sum())
    assert 0 < triage.estimate <= triage.bound


CONFIGS = [ParallelConfig(1, 1), ParallelConfig(1, 2), ParallelConfig(2, 1)]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(5.0, 80.0), min_size=2, max_size=4),
    st.sampled_from(CONFIGS),
    st.integers(1, 3),
    st.integers(0, 2**16),
    st.integers(1, 2),
)
def test_the_bound_holds_for_every_plan_of_a_block(
    rates: list[float], config: ParallelConfig, groups: int, seed: int, max_batch: int
) -> None:
    models = [
        model(f"m{i}", latency_s=0.03 * (1 + i % 2), weight_bytes=3 * GB, max_batch=max_batch)
        for i in range(len(rates))
    ]
    traffic = workload({m.name: r for m, r in zip(models, rates, strict=True)}, 3.0, 6.0, seed)
    cluster = Cluster(8, 8 * GB, devices_per_node=8)
    scorer = Scorer(Instance(cluster, models, traffic, SimOptions(max_batch=max_batch)))
    bucket = tuple(range(len(models)))
    bound = BlockTriage(scorer).examine(bucket, groups, config).bound
    table = ReplicaTable(scorer, [config])
    rng = np.random.default_rng(seed)
    hosted: list[list[int]] = [[] for _ in range(groups)]
    for j in rng.permutation(len(models) * groups) % len(models):
        g = int(rng.integers(groups))
        if table.fitting(config, hosted[g])[j]:
            hosted[g].append(int(j))
    layout = Layout((config,) * groups, tuple(tuple(sorted(h)) for h in hosted))
    assert int(scorer.served(layout).sum()) <= bound


def test_degrees_take_turns_in_order_of_estimate() -> None:
    estimates = {(1, 4): 100.0, (1, 8): 99.0, (2, 2): 98.0, (2, 4): 97.0, (4, 1): 50.0}
    blocks = [Block((0,), 1, ParallelConfig(op, pp)) for op, pp in estimates]
    examined = {b: Triage(estimates[(b.config.op, b.config.pp)], 1000) for b in blocks}
    selection = Selection([[blocks]], examined, keep=2)
    (slot,) = selection.slots.values()
    # the two best degrees take turns, then the rest
    assert [(b.config.op, b.config.pp) for b in slot.blocks] == [
        (1, 4),
        (2, 2),
        (1, 8),
        (2, 4),
        (4, 1),
    ]
    assert selection.next_pass({}, None) == slot.blocks[:2]
    assert selection.next_pass({}, None) == []
