"""Incremental scoring: components simulated alone give exactly what one
full simulation gives, model by model."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.domain import Cluster, ParallelConfig, TimedPlan
from planner.placement.scoring import Layout, Scorer, layout_placement, stand_in_devices
from planner.sim import CompiledPlan, Instance, Outcome, SimOptions, compile_plan, simulate
from tests.unit.placement_cases import GB, model, workload

MODELS = [
    model(f"m{i}", latency_s=0.05 * (i + 1), weight_bytes=2 * GB, max_batch=1 + i % 3)
    for i in range(4)
]
WORKLOAD = workload({m.name: 6.0 + 3 * i for i, m in enumerate(MODELS)}, cv=3.0, duration_s=20)
CLUSTER = Cluster(num_devices=8, device_mem_bytes=16 * GB, devices_per_node=8)
SCORER = Scorer(Instance(CLUSTER, MODELS, WORKLOAD, SimOptions(max_batch=1)))
CONFIGS = [ParallelConfig(1, 1), ParallelConfig(1, 2), ParallelConfig(2, 1)]


def full_counts(layout: Layout) -> np.ndarray:
    placement = layout_placement(layout, stand_in_devices(layout.configs), MODELS)
    result = simulate(CLUSTER, MODELS, placement, WORKLOAD)
    good = result.scored & (result.outcome == Outcome.SERVED)
    return np.bincount(result.model[good], minlength=len(MODELS))


layouts = st.lists(
    st.tuples(st.sampled_from(CONFIGS), st.sets(st.integers(0, 3), max_size=3)),
    min_size=1,
    max_size=4,
).map(
    lambda groups: Layout(tuple(c for c, _ in groups), tuple(tuple(sorted(h)) for _, h in groups))
)


@settings(max_examples=25, deadline=None)
@given(layouts)
def test_components_add_up_to_the_full_simulation(layout: Layout) -> None:
    expected = full_counts(layout)
    assert SCORER.served(layout).tolist() == expected.tolist()
    total = np.zeros(len(MODELS), dtype=np.int64)
    remaining = set(range(len(layout.configs)))
    while remaining:
        component = layout.component([min(remaining)])
        remaining -= set(component)
        total += SCORER.served(layout, component)
    assert total.tolist() == expected.tolist()


@settings(max_examples=25, deadline=None)
@given(layouts, st.integers(1, 3))
def test_compiled_layout_equals_the_simulator_compilation(layout: Layout, max_batch: int) -> None:
    scorer = Scorer(Instance(CLUSTER, MODELS, WORKLOAD, SimOptions(max_batch=max_batch)))
    placement = layout_placement(layout, stand_in_devices(layout.configs), MODELS)
    expected = compile_plan(CLUSTER, MODELS, TimedPlan.static(placement), max_batch)
    compiled = scorer.compile_layout(layout)
    for name in [f.name for f in fields(CompiledPlan) if f.name != "slots"]:
        assert np.array_equal(getattr(compiled, name), getattr(expected, name)), name
        assert getattr(compiled, name).dtype == getattr(expected, name).dtype, name


def test_component_follows_shared_models() -> None:
    one = ParallelConfig(1, 1)
    layout = Layout((one,) * 4, ((0,), (1, 2), (2,), (3,)))
    assert layout.component([1]) == (1, 2)
    assert layout.component([2]) == (1, 2)
    assert layout.component([0, 3]) == (0, 3)
    assert layout.add(3, 1).component([0]) == (0,)
    assert layout.add(3, 1).component([2]) == (1, 2, 3)


def test_demand_counts_scored_requests_per_model() -> None:
    expected = [WORKLOAD.for_model(m.name).size for m in MODELS]
    assert SCORER.demand.tolist() == expected
    assert SCORER.total_demand == WORKLOAD.num_requests
    empty = Layout((ParallelConfig(1, 1),), ((),))
    assert SCORER.served(empty).tolist() == [0, 0, 0, 0]
    assert SCORER.attainment(np.zeros(4, dtype=np.int64)) == 0.0
