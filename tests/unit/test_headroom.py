"""The memory-aware headroom bound: a hand-computed two-window case that a
free-switching plan reaches exactly, and no simulated strategy ever beats
it on random small memory-bound instances (hypothesis)."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.domain import Cluster, TimedPlan, Workload
from planner.evaluation.headroom import headroom_bound, replica_kinds
from planner.placement.options import SolveOptions
from planner.replan.clockwork import ClockworkOptions, instant_load
from planner.replan.options import ReplanOptions
from planner.replan.solvecache import SolveCache
from planner.replan.timed import plan_over_time
from planner.sim import Instance, SimOptions, compile_case
from tests.unit.simulator_cases import GB, group, model, placement, workload

ONE_FITS = Cluster(1, 3 * GB, devices_per_node=1, load_bw_bytes_per_s=1e9)
"""One device that holds one of two 2 GB models at a time."""


def two_windows() -> Workload:
    """Window [0, 10): a 6 requests, b 2; window [10, 20): a 1, b 5; none
    in a window's last second (its tail)."""
    requests = [(1.0 + i, "a") for i in range(6)] + [(1.5, "b"), (2.5, "b")]
    requests += [(11.0, "a")] + [(12.0 + i, "b") for i in range(5)]
    return workload(sorted(requests), ["a", "b"], duration_s=20.0)


def test_two_windows_two_models_by_hand() -> None:
    models = [model("a", 1.0, [[0.01]]), model("b", 1.0, [[0.01]])]
    instance = Instance(ONE_FITS, models, two_windows())
    bound = headroom_bound(instance, 10.0)
    # memory holds a or b: best is a in window 0 (6 of 8), b in window 1 (5 of 6)
    assert [w.scored for w in bound.windows] == [8, 6]
    assert [round(w.served, 9) for w in bound.windows] == [6.0, 5.0]
    assert round(bound.goodput_rps, 9) == 11 / 20
    # the plan that does exactly that, switching for free, serves 11
    plan = TimedPlan(((0.0, placement(group([0], "a"))), (10.0, placement(group([0], "b")))))
    free = dataclasses.replace(instance, cluster=instant_load(ONE_FITS))
    served = compile_case(free).run(plan)
    assert served.attainment * 14 == 11


def test_a_model_that_cannot_meet_its_slo_is_never_hosted() -> None:
    slow = model("a", 0.005, [[0.01]])
    assert replica_kinds(slow, ONE_FITS) == []
    # only b's 7 requests can be served; a's 7 cannot
    bound = headroom_bound(
        Instance(ONE_FITS, [slow, model("b", 1.0, [[0.01]])], two_windows()), 10.0
    )
    assert round(bound.served, 9) == 7.0


@st.composite
def instances(draw: st.DrawFn) -> tuple[Instance, float]:
    count = draw(st.integers(2, 4))
    latency = draw(st.floats(0.02, 0.1))
    models = [
        model(f"m{i}", latency * draw(st.floats(1.5, 4.0)), [[latency], [latency * 1.5]])
        for i in range(count)
    ]
    devices = draw(st.integers(1, 2))
    fits = draw(st.integers(1, count - 1))  # per device: fewer models than the set
    cluster = Cluster(
        devices, fits * 2 * GB + GB, devices_per_node=devices, load_bw_bytes_per_s=8e9
    )
    window_s, windows = 10.0, 4
    rates = draw(
        st.lists(
            st.lists(st.floats(0.0, 12.0), min_size=windows, max_size=windows),
            min_size=count,
            max_size=count,
        )
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    arrivals, ids = [], []
    for m, per_window in enumerate(rates):
        for k, rate in enumerate(per_window):
            n = rng.poisson(rate * window_s)
            arrivals.extend((k + rng.random(n)) * window_s)
            ids.extend([m] * n)
    order = np.argsort(arrivals, kind="stable")
    drawn = Workload(
        np.asarray(arrivals, dtype=np.float64)[order],
        np.asarray(ids, dtype=np.int32)[order],
        tuple(m.name for m in models),
        window_s * windows,
    )
    max_batch = draw(st.integers(1, 2))
    return Instance(
        cluster, models, drawn, SimOptions(max_batch=max_batch, warmup_s=window_s)
    ), window_s


@settings(max_examples=25, deadline=None)
@given(instances())
def test_no_strategy_beats_the_bound(case: tuple[Instance, float]) -> None:
    instance, window_s = case
    bound = headroom_bound(instance, window_s)
    scored = bound.scored
    cache = SolveCache()
    solver = {"max_batch": instance.options.max_batch}
    static = cache.solve(
        dataclasses.replace(instance, options=SimOptions(max_batch=instance.options.max_batch)),
        solver="greedy",
        time_limit_s=10.0,
        options=SolveOptions(),
    )
    served = [compile_case(instance).run(static.placement).attainment * scored]
    free = dataclasses.replace(instance, cluster=instant_load(instance.cluster))
    oracle = ReplanOptions(window_s, solver_options=solver, time_limit_s=10.0)
    forecast = dataclasses.replace(oracle, information="forecast")
    # the oracle placed at will (loads take no time) is one of the bound's plans
    for placed, options in (
        (instance, oracle),
        (instance, forecast),
        (instance, dataclasses.replace(forecast, trust_windows=2)),
        (free, oracle),
    ):
        served.append(plan_over_time(placed, options, cache=cache).attainment * scored)
    clockwork = plan_over_time(
        dataclasses.replace(instance, options=SimOptions(max_batch=instance.options.max_batch)),
        ClockworkOptions(window_s=window_s, time_limit_s=10.0),
        cache=cache,
    )
    served.append(compile_case(free).run(clockwork.plan).attainment * scored)
    assert max(served) <= bound.served + 1e-6
