"""The greedy's incremental move evaluation (only the component a move
touches is re-simulated, cached components are reused) gives exactly the
full simulation's served counts after every move of a random sequence."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.domain import Cluster, ParallelConfig
from planner.placement.greedy import ReplicaTable, _ComponentCache, _move, _resimulate
from planner.placement.scoring import Layout, Scorer, layout_placement, stand_in_devices
from planner.sim import Instance, Outcome, SimOptions, simulate
from tests.unit.placement_cases import GB, model, workload

CONFIGS = [ParallelConfig(1, 1), ParallelConfig(1, 2), ParallelConfig(2, 1)]
CLUSTER = Cluster(num_devices=16, device_mem_bytes=8 * GB, devices_per_node=16)


def instance(rates: list[float], latencies: list[float], max_batch: int, seed: int) -> Instance:
    models = [
        model(f"m{i}", latency_s=latency, weight_bytes=2 * GB, max_batch=max_batch)
        for i, latency in enumerate(latencies)
    ]
    traffic = workload(
        {m.name: rate for m, rate in zip(models, rates, strict=True)}, 3.0, 8.0, seed
    )
    return Instance(CLUSTER, models, traffic, SimOptions(max_batch=max_batch))


def full_counts(problem: Instance, layout: Layout) -> list[int]:
    """Served counts per model from one simulation of the whole placement."""
    placement = layout_placement(layout, stand_in_devices(layout.configs), problem.models)
    result = simulate(problem.cluster, problem.models, placement, problem.workload, problem.options)
    good = result.scored & (result.outcome == Outcome.SERVED)
    counts: list[int] = np.bincount(result.model[good], minlength=len(problem.models)).tolist()
    return counts


cases = st.tuples(
    st.lists(st.floats(2.0, 30.0), min_size=2, max_size=5),
    st.integers(1, 3),
    st.integers(0, 2**16),
    st.lists(st.sampled_from(CONFIGS), min_size=1, max_size=5),
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=12),
    st.integers(1, 4),
)


@settings(max_examples=30, deadline=None)
@given(cases)
def test_every_move_of_a_sequence_matches_the_full_simulation(case: tuple) -> None:
    rates, max_batch, seed, configs, moves, per_round = case
    latencies = [0.02 + 0.03 * (i % 3) for i in range(len(rates))]
    problem = instance(rates, latencies, max_batch, seed)
    scorer = Scorer(problem)
    table = ReplicaTable(scorer, configs)
    cache = _ComponentCache(scorer)
    layout = Layout.empty(configs)
    served = np.zeros(len(rates), dtype=np.int64)
    pending: list[tuple[int, int]] = []
    for raw_model, raw_group in moves:
        j, g = raw_model % len(rates), raw_group % len(configs)
        if not table.fitting(configs[g], layout.hosted[g])[j]:
            continue
        if per_round == 1:
            layout, served = _move(cache, layout, served, j, g)
        else:  # a fast-greedy round: several additions, one re-simulation
            layout = layout.add(j, g)
            pending.append((j, g))
            if len(pending) < per_round:
                continue
            served = _resimulate(cache, layout, served, [g for _, g in pending])
            pending = []
        assert served.tolist() == full_counts(problem, layout)
        assert served.tolist() == scorer.served(layout).tolist()
    if pending:
        served = _resimulate(cache, layout, served, [g for _, g in pending])
        assert served.tolist() == full_counts(problem, layout)


def test_a_move_re_simulates_only_its_component() -> None:
    problem = instance([10.0, 10.0, 10.0], [0.05, 0.05, 0.05], 1, 3)
    scorer = Scorer(problem)
    one = ParallelConfig(1, 1)
    cache = _ComponentCache(scorer)
    layout, served = Layout.empty([one, one, one]), np.zeros(3, dtype=np.int64)
    layout, served = _move(cache, layout, served, 0, 0)
    layout, served = _move(cache, layout, served, 1, 1)
    before = scorer.simulated_requests
    layout, served = _move(cache, layout, served, 2, 2)  # a component of its own
    assert scorer.simulated_requests - before == int(scorer.demand[2])
    before = scorer.simulated_requests
    layout, served = _move(cache, layout, served, 0, 1)  # joins groups 0 and 1
    assert scorer.simulated_requests - before == int(scorer.demand[[0, 1]].sum())
    assert served.tolist() == full_counts(problem, layout)
