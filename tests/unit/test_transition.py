"""Switching cost, alignment, blocks and the keep-or-move decision, on
hand-made cases with hand-computed outcomes."""

from __future__ import annotations

import numpy as np

from planner.domain import Cluster, Placement, TimedPlan, Workload
from planner.replan.transition import (
    LEAD_S,
    Block,
    SwitchCost,
    TransitionJudge,
    align,
    choose_transition,
    mix,
    swap_in,
    switch_blocks,
    switch_cost,
)
from planner.sim import Instance, Outcome, SimOptions, simulate
from tests.unit.simulator_cases import GB, PIPE, group, model, placement


def every(step_s: float, count: int, offset_s: float = 0.0) -> list[float]:
    """``count`` arrivals ``step_s`` apart from ``offset_s``."""
    return [offset_s + step_s * k for k in range(count)]


# Loads take 0.5 s + 1 s per GB.
CLUSTER = Cluster(4, 100 * GB, devices_per_node=4, load_bw_bytes_per_s=1e9, load_overhead_s=0.5)
MODELS = [
    model("a", 1.0, [[0.1]], weight_bytes=2 * GB),
    model("b", 1.0, [[0.1]], weight_bytes=1 * GB),
    model("c", 1.0, [[0.1]], weight_bytes=3 * GB),
]


def test_switch_cost_by_hand() -> None:
    before = placement(group([0], "a"), group([1], "b"))
    after = placement(
        group([0], "a", "c"),  # kept group: c loads in 0.5 + 3 = 3.5 s
        group([2], "b", "a"),  # new group: b 1.5 s, then a 2.5 s (ready 4.0 s in)
    )
    cost = switch_cost(CLUSTER, MODELS, before, after)
    assert cost == SwitchCost(replicas_loaded=3, load_s=7.5, lost_replica_s=3.5 + 1.5 + 4.0)
    assert switch_cost(CLUSTER, MODELS, after, after) == SwitchCost()
    assert cost + cost == SwitchCost(6, 15.0, 18.0)


def test_simulated_loss_during_a_load_matches_the_load_time() -> None:
    # Device 0 hosts a, then b from t = 10; b's 1 GB loads in 1.5 s, so b's
    # requests every 0.25 s from t = 10 find it unavailable until 11.5:
    # 1.5 / 0.25 = 6 requests (10.0 .. 11.25), and the one at 11.5 is served.
    before = placement(group([0], "a"))
    after = placement(group([0], "b"))
    cost = switch_cost(CLUSTER, MODELS, before, after)
    assert cost.lost_replica_s == 1.5
    arrivals = every(0.25, 20, 10.0)
    work = Workload.merge({"b": arrivals}, 20.0)
    plan = TimedPlan(((0.0, before), (10.0, after)))
    result = simulate(CLUSTER, MODELS, plan, work, SimOptions())
    unavailable = result.outcome == Outcome.UNAVAILABLE
    assert int(unavailable.sum()) == round(cost.lost_replica_s / 0.25) == 6
    assert result.arrival_s[unavailable].tolist() == arrivals[:6]
    assert np.all(result.outcome[6:] == Outcome.SERVED)


def test_align_keeps_replicas_where_they_are_and_loads_the_busiest_first() -> None:
    before = placement(group([0], "a"), group([1], "b"))
    solved = placement(group([0], "b"), group([1], "a"))
    assert align(before, solved, {}) == before
    assert switch_cost(CLUSTER, MODELS, before, align(before, solved, {})) == SwitchCost()
    fresh = placement(group([0], "a"), group([1], "c", "b", "a"))
    aligned = align(placement(group([0], "a")), fresh, {"b": 5.0, "a": 1.0, "c": 2.0})
    assert aligned == placement(group([0], "a"), group([1], "b", "c", "a"))


def test_switch_blocks_and_mix() -> None:
    before = placement(group([0], "a"), group([1], "b"), group([2, 3], "c", config=PIPE))
    after = placement(group([0], "a"), group([1], "c"), group([2], "b"), group([3], "a"))
    blocks = switch_blocks(before, after)
    assert blocks == (Block((1,), (1,)), Block((2,), (2, 3)))
    assert mix(before, after, blocks, frozenset()) == before
    assert mix(before, after, blocks, frozenset({1})) == placement(
        group([0], "a"), group([1], "b"), group([2], "b"), group([3], "a")
    )
    assert mix(before, after, blocks, frozenset({0, 1})) == after


# One device that holds one model at a time; the judged window is 10 s:
# a has a request every second (10), b one every 0.25 s in [0, 4) (16).
ONE = Cluster(1, 6 * GB, devices_per_node=1, load_bw_bytes_per_s=1e9)
JUDGED = Workload.merge({"a": every(1.0, 10), "b": every(0.25, 16)}, 10.0)


def _one_device_models(b_gb: int) -> list:
    return [
        model("a", 1.0, [[0.1]], weight_bytes=4 * GB),
        model("b", 1.0, [[0.1]], weight_bytes=b_gb * GB),
    ]


def test_moving_pays_when_the_load_is_short() -> None:
    # b loads in 1 s: 4 of its requests are lost, 12 served > a's 10.
    models = _one_device_models(1)
    judge = TransitionJudge(Instance(ONE, models, JUDGED))
    keep, target = placement(group([0], "a")), placement(group([0], "b"))
    chosen = choose_transition(judge, keep, target)
    assert chosen.switched and chosen.placement == target
    assert (chosen.keep_attainment, chosen.attainment) == (10 / 26, 12 / 26)
    # a required gain above the judged one keeps the current placement
    assert not choose_transition(judge, keep, target, min_gain=2 / 26 + 1e-9).switched


def test_keeping_wins_when_the_load_costs_more_than_the_move_gains() -> None:
    # b loads in 2 s: 8 lost, 8 served < a's 10 although b has more requests.
    models = _one_device_models(2)
    judge = TransitionJudge(Instance(ONE, models, JUDGED))
    keep, target = placement(group([0], "a")), placement(group([0], "b"))
    chosen = choose_transition(judge, keep, target)
    assert not chosen.switched and chosen.placement == keep
    assert (chosen.keep_attainment, chosen.target_attainment) == (10 / 26, 8 / 26)


def test_only_the_blocks_that_pay_are_moved() -> None:
    # Device 0 gains by moving a -> b (as above, 1 s load); device 1 would
    # move c -> d, but d's 2 s load costs more than its extra requests.
    cluster = Cluster(2, 6 * GB, devices_per_node=2, load_bw_bytes_per_s=1e9)
    models = [
        *_one_device_models(1),
        model("c", 1.0, [[0.1]], weight_bytes=4 * GB),
        model("d", 1.0, [[0.1]], weight_bytes=2 * GB),
    ]
    judged = Workload.merge(
        {
            "a": every(1.0, 10),
            "b": every(0.25, 16),
            "c": every(1.0, 10, 0.5),
            "d": every(0.25, 16, 0.125),
        },
        10.0,
    )
    judge = TransitionJudge(Instance(cluster, models, judged))
    before = placement(group([0], "a"), group([1], "c"))
    target = placement(group([0], "b"), group([1], "d"))
    chosen = choose_transition(judge, before, target)
    assert chosen.placement == placement(group([0], "b"), group([1], "c"))
    assert (chosen.blocks, chosen.switched_blocks) == (2, 1)
    assert chosen.keep_attainment == 20 / 52
    assert chosen.attainment == 22 / 52
    assert chosen.target_attainment == 20 / 52  # 12 + 8


def test_no_blocks_means_no_switch() -> None:
    judge = TransitionJudge(Instance(ONE, _one_device_models(1), JUDGED))
    same = placement(group([0], "a"))
    chosen = choose_transition(judge, same, Placement((group([0], "a"),)))
    assert (chosen.blocks, chosen.switched) == (0, False)


def test_swap_in_evicts_the_least_requested_models_until_the_newcomer_fits() -> None:
    cluster = Cluster(3, 4 * GB, devices_per_node=3, load_bw_bytes_per_s=1e9)
    models = [
        model("x", 1.0, [[0.1]], weight_bytes=2 * GB),
        model("y", 1.0, [[0.1]], weight_bytes=1 * GB),
        model("w", 1.0, [[0.1]], weight_bytes=1 * GB),
        model("z", 1.0, [[0.1]], weight_bytes=2 * GB),
        model("p", 1.0, [[0.05, 0.05]], PIPE, weight_bytes=1 * GB),
    ]
    before = placement(group([0], "x", "y", "w"), group([1, 2], "p", config=PIPE))
    rates = {"x": 3.0, "y": 1.0, "w": 2.0, "z": 5.0}
    # group 0 holds 4 GB; z (2 GB) fits once y then w (the least requested)
    # are evicted; x stays loaded and first. Group 1's config is not in z's
    # profile.
    assert swap_in(cluster, models, before, "z", rates) == (
        (0, placement(group([0], "x", "z"), group([1, 2], "p", config=PIPE))),
    )
    # a model that fits nowhere, even alone, gives nothing
    huge = [*models[:3], model("z", 1.0, [[0.1]], weight_bytes=5 * GB), models[4]]
    assert swap_in(cluster, huge, before, "z", rates) == ()
    # a model already in the group is not added again
    assert swap_in(cluster, models, before, "x", rates) == ()


def test_the_judge_keeps_an_arrival_that_the_lead_in_rounds_onto_the_end() -> None:
    last = float(np.nextafter(16.0, 0.0))
    assert last + LEAD_S == 16.0 + LEAD_S  # float rounding
    work = Workload.merge({"a": [0.5, last]}, 16.0)
    judge = TransitionJudge(Instance(ONE, tuple(_one_device_models(1)), work))
    serving = placement(group([0], "a"))
    assert judge.attainment(serving, serving) == 1.0
