"""Exact, hand-computed traces: every request's outcome, finish, group and
batch size, on both engines. Times are multiples of 1/8 so sums are exact."""

from __future__ import annotations

import math

import numpy as np
import pytest

from planner.domain import Cluster, TimedPlan
from planner.sim import Instance, Outcome, SimOptions, SimResult, simulate
from planner.sim.reference import EventKind, ReferenceSimulator
from tests.unit.simulator_cases import (
    CLUSTER,
    PIPE,
    SERIAL,
    group,
    model,
    multi_config_model,
    placement,
    workload,
)

S, D, N, U = Outcome.SERVED, Outcome.DROPPED_SLO, Outcome.NO_REPLICA, Outcome.UNAVAILABLE
NAN = math.nan


@pytest.fixture(params=["reference", "fast"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def assert_trace(
    result: SimResult,
    outcome: list[Outcome],
    finish_s: list[float],
    group_index: list[int] | None = None,
    batch_size: list[int] | None = None,
) -> None:
    assert result.outcome.tolist() == [int(o) for o in outcome]
    np.testing.assert_array_equal(result.finish_s, np.array(finish_s))
    if group_index is not None:
        assert result.group.tolist() == group_index
    if batch_size is not None:
        assert result.batch_size.tolist() == batch_size


def test_one_group_one_stage_queues_fcfs(engine: str) -> None:
    models = [model("a", 10.0, [[1.0]])]
    work = workload([(0.0, "a"), (0.5, "a"), (3.0, "a")], ["a"])
    result = simulate(CLUSTER, models, placement(group([0], "a")), work, engine=engine)
    assert_trace(result, [S, S, S], [1.0, 2.0, 4.0], [0, 0, 0], [1, 1, 1])
    assert result.group_busy_s.tolist() == [3.0]


def test_two_stage_pipeline_overlaps_stages(engine: str) -> None:
    # stage 0 takes 1 s, stage 1 takes 2 s: stage 1 is the bottleneck.
    models = [model("a", 100.0, [[1.0, 2.0]], config=PIPE)]
    work = workload([(0.0, "a")] * 3, ["a"], duration_s=10.0)
    plan = placement(group([0, 1], "a", config=PIPE))
    result = simulate(CLUSTER, models, plan, work, engine=engine)
    assert_trace(result, [S, S, S], [3.0, 5.0, 7.0], [0, 0, 0], [1, 1, 1])
    assert result.group_utilisation.tolist() == [9.0 / (2 * 10.0)]


def test_pipeline_stage_times_in_the_reference_trace() -> None:
    models = [model("a", 100.0, [[1.0, 2.0]], config=PIPE)]
    work = workload([(0.0, "a")] * 3, ["a"])
    plan = TimedPlan.static(placement(group([0, 1], "a", config=PIPE)))
    run = ReferenceSimulator(Instance(CLUSTER, tuple(models), work), plan).run()
    batches = run.groups[0].batches
    assert [b.stage_start_s for b in batches] == [[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]]
    assert [b.stage_end_s for b in batches] == [[1.0, 3.0], [2.0, 5.0], [3.0, 7.0]]


def test_burst_joins_open_batch_and_refuses_a_join_that_breaks_a_deadline(engine: str) -> None:
    # batch latency 1, 1.5, 2.25 s; SLO 3 s.
    models = [model("a", 3.0, [[1.0], [1.5], [2.25]])]
    work = workload([(0.0, "a"), (0.0, "a"), (0.5, "a"), (0.5, "a"), (0.75, "a")], ["a"])
    options = SimOptions(max_batch=8)
    result = simulate(CLUSTER, models, placement(group([0], "a")), work, options, engine=engine)
    # r0 starts at 0, so it is not open when r1 comes at 0: r1 waits, [1, 2].
    # r2 joins r1 (start 1 > 0.5): 1 + 1.5 = 2.5 <= r1's deadline 3.
    # r3 joining would give 1 + 2.25 = 3.25 > 3: new batch [2.5, 3.5], deadline 3.5 (kept).
    # r4 joining r3 gives 2.5 + 1.5 = 4 > 3.5, alone 3.5 + 1 = 4.5 > 3.75: dropped.
    assert_trace(
        result,
        [S, S, S, S, D],
        [1.0, 2.5, 2.5, 3.5, NAN],
        [0, 0, 0, 0, -1],
        [1, 2, 2, 1, 0],
    )
    assert result.group_busy_s.tolist() == [1.0 + 1.5 + 1.0]


@pytest.mark.parametrize(
    ("max_batch", "profile_batches"), [(2, 3), (8, 2)], ids=["option-cap", "profile-cap"]
)
def test_batch_cap_from_options_or_profile(
    engine: str, max_batch: int, profile_batches: int
) -> None:
    models = [model("a", 10.0, [[1.0], [1.5], [2.25]][:profile_batches])]
    work = workload([(0.0, "a"), (0.25, "a"), (0.5, "a"), (0.5, "a"), (0.75, "a")], ["a"])
    options = SimOptions(max_batch=max_batch)
    result = simulate(CLUSTER, models, placement(group([0], "a")), work, options, engine=engine)
    # r1 waits for r0 ([1, 2]); r2 joins it (2.5); r3 finds it full: [2.5, 3.5]; r4 joins r3.
    assert_trace(result, [S] * 5, [1.0, 2.5, 2.5, 4.0, 4.0], [0] * 5, [1, 2, 2, 2, 2])


def test_slo_drops_change_no_state(engine: str) -> None:
    models = [model("a", 1.5, [[1.0]])]
    work = workload([(0.0, "a"), (0.0, "a"), (0.75, "a"), (1.0, "a")], ["a"])
    result = simulate(CLUSTER, models, placement(group([0], "a")), work, engine=engine)
    # r1 would finish at 2 > 1.5; r2 then starts at 1 (not 2) and makes 2 <= 2.25.
    assert_trace(result, [S, D, S, D], [1.0, NAN, 2.0, NAN], [0, -1, 0, -1])


def test_model_hosted_nowhere_is_no_replica(engine: str) -> None:
    models = [model("a", 10.0, [[1.0]]), model("b", 10.0, [[1.0]])]
    work = workload([(0.0, "b"), (0.0, "a")], ["a", "b"])
    result = simulate(CLUSTER, models, placement(group([0], "a")), work, engine=engine)
    assert_trace(result, [N, S], [NAN, 1.0], [-1, 0], [0, 1])


def test_switch_loads_new_models_in_order_and_keeps_state(engine: str) -> None:
    # Load time = 2e9 bytes / 1e9 B/s = 2 s per replica.
    models = [model(name, 10.0, [[1.0]]) for name in "abc"]
    step0 = placement(group([0], "a"))
    step1 = placement(group([0], "a", "b", "c"), group([1], "b"))
    plan = TimedPlan(((0.0, step0), (10.0, step1)))
    work = workload(
        [
            (9.0, "b"),  # step 0 hosts no b: no replica
            (9.5, "a"),  # [9.5, 10.5]
            (10.0, "a"),  # after the switch, group 0 kept its queue: [10.5, 11.5]
            (11.0, "b"),  # b loads on both groups until 12: unavailable
            (12.0, "b"),  # both finish at 13: the tie goes to group 0
            (13.0, "c"),  # c loads after b on group 0, until 14
            (14.0, "c"),  # [14, 15] on group 0
        ],
        ["a", "b", "c"],
    )
    result = simulate(CLUSTER, models, plan, work, engine=engine)
    assert_trace(
        result,
        [N, S, S, U, S, U, S],
        [NAN, 10.5, 11.5, NAN, 13.0, NAN, 15.0],
        [-1, 0, 0, -1, 0, -1, 0],
    )
    assert [(slot.devices, slot.first_step, slot.last_step) for slot in result.groups] == [
        ((0,), 0, 1),
        ((1,), 1, 1),
    ]


def test_load_time_includes_overhead(engine: str) -> None:
    cluster = Cluster(2, CLUSTER.device_mem_bytes, load_bw_bytes_per_s=1e9, load_overhead_s=0.5)
    models = [model("a", 10.0, [[1.0]])]
    plan = TimedPlan(((0.0, placement()), (4.0, placement(group([1], "a")))))
    work = workload([(6.0, "a"), (6.5, "a")], ["a"])
    result = simulate(cluster, models, plan, work, engine=engine)
    assert_trace(result, [U, S], [NAN, 7.5])


def test_removed_model_finishes_as_scheduled_and_switch_precedes_arrival(engine: str) -> None:
    models = [model("a", 10.0, [[1.0]])]
    plan = TimedPlan(((0.0, placement(group([0], "a"))), (5.0, placement(group([0])))))
    work = workload([(4.5, "a"), (5.0, "a")], ["a"])
    result = simulate(CLUSTER, models, plan, work, engine=engine)
    assert_trace(result, [S, N], [5.5, NAN], [0, -1])


def test_dispatch_to_earliest_finish_ties_to_lowest_group(engine: str) -> None:
    models = [model("a", 10.0, [[1.0]])]
    # Group 0 is on device 3, group 1 on device 0: numbering follows placement order.
    plan = placement(group([3], "a"), group([0], "a"))
    work = workload([(0.0, "a")] * 5, ["a"])
    result = simulate(CLUSTER, models, plan, work, engine=engine)
    assert_trace(result, [S] * 5, [1.0, 1.0, 2.0, 2.0, 3.0], [0, 1, 0, 1, 0])


def test_faster_group_wins_even_when_numbered_later(engine: str) -> None:
    both = multi_config_model("a", 10.0, {SERIAL: [[1.0]], PIPE: [[0.25, 0.25]]})
    plan = placement(group([0], "a"), group([2, 3], "a", config=PIPE))
    work = workload([(0.0, "a")] * 3, ["a"])
    result = simulate(CLUSTER, [both], plan, work, engine=engine)
    # pipe: 0.5, then 0.75 (stage 0 frees at 0.25), then 1.0 ties serial's 1.0 -> group 0.
    assert_trace(result, [S, S, S], [0.5, 0.75, 1.0], [1, 1, 0])


def test_simultaneous_arrivals_run_in_index_order(engine: str) -> None:
    models = [model("a", 10.0, [[1.0]]), model("b", 10.0, [[2.0]])]
    work = workload([(0.0, "b"), (0.0, "a"), (0.0, "a")], ["a", "b"])
    result = simulate(CLUSTER, models, placement(group([0], "a", "b")), work, engine=engine)
    assert_trace(result, [S, S, S], [2.0, 3.0, 4.0])


def test_event_order_key_is_time_then_switch_then_sequence() -> None:
    events = [(1.0, EventKind.ARRIVAL, 0), (1.0, EventKind.SWITCH, 1), (0.5, EventKind.ARRIVAL, 2)]
    assert sorted(events) == [
        (0.5, EventKind.ARRIVAL, 2),
        (1.0, EventKind.SWITCH, 1),
        (1.0, EventKind.ARRIVAL, 0),
    ]
