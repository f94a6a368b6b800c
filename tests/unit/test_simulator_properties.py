"""Property tests on random small cases with batching and plan switches: the
fast engine equals the reference request by request, and invariants of the
schedule hold."""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.domain import (
    Cluster,
    Group,
    ModelSpec,
    ParallelConfig,
    Placement,
    TimedPlan,
    Workload,
)
from planner.sim import POLICIES, Instance, Outcome, SimOptions, number_groups, simulate
from planner.sim.reference import ReferenceSimulator
from tests.unit.simulator_cases import GB, PIPE, SERIAL, multi_config_model

WIDE = ParallelConfig(2, 1)
# Groups a step may use; the last entries share devices 2 and 3.
MENU = (
    ((0,), SERIAL),
    ((1,), SERIAL),
    ((2, 3), PIPE),
    ((2, 3), WIDE),
    ((2,), SERIAL),
)
DURATION_S = 12.0


@dataclass(frozen=True)
class Case:
    cluster: Cluster
    models: list[ModelSpec]
    plan: TimedPlan
    workload: Workload
    options: SimOptions


# Quarter seconds make ties frequent; arbitrary floats exercise rounding.
times = st.one_of(st.integers(1, 8).map(lambda k: k / 4), st.floats(0.05, 2.0))


@st.composite
def latency_tables(draw: st.DrawFn, pp: int) -> list[list[float]]:
    """Per-stage latency, non-decreasing in batch size."""
    rows = [[draw(times) for _ in range(pp)]]
    for _ in range(draw(st.integers(0, 3))):
        rows.append([value + draw(st.sampled_from([0.0, 0.25, 0.1])) for value in rows[-1]])
    return rows


@st.composite
def cases(draw: st.DrawFn) -> Case:
    names = [f"m{j}" for j in range(draw(st.integers(1, 3)))]
    models = [
        multi_config_model(
            name,
            draw(st.one_of(st.sampled_from([0.5, 1.0, 2.0, 4.0]), st.floats(0.3, 6.0))),
            {config: draw(latency_tables(config.pp)) for config in (SERIAL, PIPE, WIDE)},
            weight_bytes=draw(st.integers(0, 3)) * GB,
        )
        for name in names
    ]
    starts = draw(st.lists(st.integers(1, 44).map(lambda k: k / 4), max_size=2, unique=True))
    steps = []
    for start in [0.0, *sorted(starts)]:
        groups: list[Group] = []
        used: set[int] = set()
        for devices, config in draw(st.permutations(MENU)):
            if used.isdisjoint(devices) and draw(st.booleans()):
                hosted = draw(st.lists(st.sampled_from(names), unique=True))
                groups.append(Group(devices, config, tuple(hosted)))
                used.update(devices)
        steps.append((start, Placement(tuple(groups))))
    arrivals = sorted(
        draw(
            st.lists(
                st.one_of(st.integers(0, 47).map(lambda k: k / 4), st.floats(0, 11.9)), max_size=40
            )
        )
    )
    ids = draw(
        st.lists(st.integers(0, len(names) - 1), min_size=len(arrivals), max_size=len(arrivals))
    )
    cluster = Cluster(
        4,
        1000 * GB,
        devices_per_node=4,
        load_bw_bytes_per_s=1e9,
        load_overhead_s=draw(st.sampled_from([0.0, 0.25])),
    )
    return Case(
        cluster,
        models,
        TimedPlan(tuple(steps)),
        Workload(np.array(arrivals), np.array(ids, np.int32), tuple(names), DURATION_S),
        SimOptions(
            max_batch=draw(st.integers(1, 4)),
            warmup_s=draw(st.sampled_from([0.0, 1.0])),
            policy=draw(st.sampled_from(POLICIES)),
        ),
    )


@settings(max_examples=200, deadline=None)
@given(cases())
def test_fast_engine_equals_reference(case: Case) -> None:
    args = (case.cluster, case.models, case.plan, case.workload, case.options)
    reference = simulate(*args, engine="reference")
    fast = simulate(*args, engine="fast")
    np.testing.assert_array_equal(fast.finish_s, reference.finish_s)  # nan == nan, bit-equal
    for name in ("outcome", "group", "batch_size", "group_busy_s"):
        assert getattr(fast, name).tolist() == getattr(reference, name).tolist(), name
    assert fast.attainment == reference.attainment


@settings(max_examples=100, deadline=None)
@given(cases())
def test_schedule_invariants(case: Case) -> None:
    instance = Instance(case.cluster, tuple(case.models), case.workload, case.options)
    run = ReferenceSimulator(instance, case.plan).run()
    result = simulate(case.cluster, case.models, case.plan, case.workload, case.options)
    assert 0.0 <= result.attainment <= 1.0
    slots, step_slots = number_groups(case.plan)
    starts = [start for start, _ in case.plan.steps]
    slos = {model.name: model for model in case.models}
    served = result.outcome == Outcome.SERVED
    assert np.all(np.isnan(result.finish_s[~served])) and np.all(result.group[~served] == -1)
    for i in np.flatnonzero(served):
        arrival = float(result.arrival_s[i])
        spec = slos[case.workload.model_names[case.workload.model_ids[i]]]
        g = int(result.group[i])
        single = spec.profile[slots[g].config].latency(1)
        # (the sum of latencies may round differently from the schedule's running sum)
        assert arrival + single <= result.finish_s[i] + 1e-9
        assert result.finish_s[i] <= arrival + spec.slo_s
        # the serving group hosts the model in the step in force at arrival
        step = bisect.bisect_right(starts, arrival) - 1
        position = step_slots[step].index(g)
        assert spec.name in case.plan.steps[step][1].groups[position].models
    for group in run.groups:
        for batch in group.batches:
            assert 1 <= batch.size <= min(case.options.max_batch, len(batch.replica.latency_s))
            for s in range(1, group.config.pp):
                assert batch.stage_start_s[s] >= batch.stage_end_s[s - 1]
        for s in range(group.config.pp):
            spans = sorted((b.stage_start_s[s], b.stage_end_s[s]) for b in group.batches)
            for (_, end), (start, _) in itertools.pairwise(spans):
                assert start >= end, f"group {group.index} stage {s} overlaps"
