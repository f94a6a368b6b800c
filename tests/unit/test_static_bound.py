"""The certified bound on any static placement's attainment: hand-computed
cases (memory, SLO, device time), brute force over every placement of tiny
random instances (hypothesis), and ``auto`` stopping once the bound is met."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.deadline import Deadline
from planner.domain import Cluster, ParallelConfig, Workload
from planner.placement import bound as bound_module
from planner.placement import greedyseed
from planner.placement import solve as solve_module
from planner.placement.bound import attainment_bound, knapsack_served, static_bound
from planner.placement.options import SolveOptions, split_options
from planner.placement.solve import solve
from planner.sim import Instance, SimOptions, compile_case
from tests.unit.placement_cases import GB, every_placement, model, workload

SINGLE = (ParallelConfig(1, 1),)
ONE = Cluster(1, 10 * GB, devices_per_node=1)


def _spaced(counts: dict[str, int], duration_s: float) -> Workload:
    """``counts[name]`` requests of each model spread evenly over the
    duration (at most one in flight at a time: the device keeps up)."""
    arrivals, ids = [], []
    names = sorted(counts)
    for i, name in enumerate(names):
        times = np.linspace(0.0, duration_s, counts[name], endpoint=False) + 0.01 * i
        arrivals.extend(times)
        ids.extend([i] * counts[name])
    order = np.argsort(arrivals, kind="stable")
    return Workload(
        np.asarray(arrivals)[order], np.asarray(ids, np.int32)[order], tuple(names), duration_s
    )


def test_memory_for_one_of_two_models_bounds_by_the_busier_one() -> None:
    # 6 GB each on a 10 GB device: one model at a time. The device keeps up
    # with all 40 requests (0.1 s each, 1 s apart), so time alone says 1.0;
    # memory says at most a's 30 of 40.
    models = [model(n, 0.1, 6 * GB, slo_s=0.5, configs=SINGLE) for n in ("a", "b")]
    instance = Instance(ONE, tuple(models), _spaced({"a": 30, "b": 10}, 30.0))
    bound = static_bound(instance)
    assert bound.device_time == 1.0
    assert bound.attainment == pytest.approx(0.75, abs=1e-5)
    assert bound.attainment >= 0.75
    assert bound.method == "milp"  # the relaxation hosted b in part: the integer programme ran
    best = max(compile_case(instance).attainment(p) for p in every_placement(ONE, models))
    assert best == 0.75


def test_a_model_that_fits_no_device_is_never_served() -> None:
    small = model("a", 0.1, 2 * GB, slo_s=0.5, configs=SINGLE)
    huge = model("b", 0.1, 12 * GB, slo_s=0.5, configs=SINGLE)
    instance = Instance(ONE, (small, huge), _spaced({"a": 30, "b": 10}, 30.0))
    bound = static_bound(instance)
    assert bound.hostable == 1
    assert bound.attainment == pytest.approx(0.75, abs=1e-5)
    # without memory the device-time bound would allow everything
    assert attainment_bound(instance) == 1.0


def test_a_model_whose_fastest_config_misses_its_slo_is_never_served() -> None:
    fast = model("a", 0.1, 2 * GB, slo_s=0.5, configs=SINGLE)
    slow = model("b", 0.4, 2 * GB, slo_s=0.3, configs=SINGLE)
    bound = static_bound(Instance(ONE, (fast, slow), _spaced({"a": 20, "b": 20}, 30.0)))
    assert bound.hostable == 1
    assert bound.attainment == pytest.approx(0.5, abs=1e-5)


def test_device_time_bounds_a_burst() -> None:
    # 20 requests of 0.1 s within 0.1 s on two devices, SLO 0.3 s: all
    # arrive in the first bin (half the SLO, 0.15 s) and run within 0.15 +
    # 0.3 s, so at most 2 x 0.45 / 0.1 = 9 are served; a placement serves 6
    # (three per device: the fourth would end at 10.4 s, after every deadline)
    cluster = Cluster(2, 10 * GB, devices_per_node=2)
    a = model("a", 0.1, 2 * GB, slo_s=0.3, configs=SINGLE)
    arrivals = np.linspace(10.0, 10.1, 20, endpoint=False)
    instance = Instance(cluster, (a,), Workload(arrivals, np.zeros(20, np.int32), ("a",), 40.0))
    bound = static_bound(instance)
    assert bound.attainment == pytest.approx(9 / 20, abs=1e-5)
    assert bound.device_time == 12 / 20  # the time-only bound's narrowest bin is 0.3 s
    best = max(compile_case(instance).attainment(p) for p in every_placement(cluster, [a]))
    assert best == 6 / 20


def test_the_fractional_knapsack_without_highs() -> None:
    models = [model(n, 0.1, 6 * GB, slo_s=0.5, configs=SINGLE) for n in ("a", "b")]
    from planner.placement.bound import model_capacity

    capacities = [model_capacity(ONE, m, 1) for m in models]
    # 10 GB for two 6 GB models: all of a (30) and 4/6 of b's 10
    served = knapsack_served(capacities, np.array([30.0, 10.0]), 10.0 * GB)
    assert served == pytest.approx(30 + 10 * 4 / 6)


def test_nothing_scored_bounds_at_one() -> None:
    a = model("a", 0.1, 2 * GB, slo_s=0.5, configs=SINGLE)
    traffic = Workload(np.array([1.0]), np.zeros(1, np.int32), ("a",), 10.0)
    bound = static_bound(Instance(ONE, (a,), traffic, SimOptions(warmup_s=5.0)))
    assert (bound.attainment, bound.method) == (1.0, "none")


def test_without_highs_the_knapsack_still_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bound_module, "milp_served", lambda *args: None)
    models = [model(n, 0.1, 6 * GB, slo_s=0.5, configs=SINGLE) for n in ("a", "b")]
    bound = static_bound(Instance(ONE, tuple(models), _spaced({"a": 30, "b": 10}, 30.0)))
    # a's 30 and 4/6 of b's 10 of 40
    assert bound.method == "knapsack"
    assert bound.attainment == pytest.approx((30 + 10 * 4 / 6) / 40, rel=1e-5)


MAX_MODELS_BY_DEVICES = {1: 4, 2: 4, 3: 3, 4: 2}
"""Brute force stays at a few thousand placements per example."""


@st.composite
def tiny_instances(draw: st.DrawFn) -> Instance:
    devices = draw(st.integers(1, 4))
    count = draw(st.integers(1, MAX_MODELS_BY_DEVICES[devices]))
    models = [
        model(
            f"m{i}",
            latency_s=draw(st.sampled_from([0.05, 0.1, 0.2])),
            weight_bytes=draw(st.sampled_from([2, 4, 6, 9, 14])) * GB,
            slo_s=draw(st.sampled_from([0.08, 0.15, 0.3, 0.6])),
            max_batch=draw(st.integers(1, 2)),
        )
        for i in range(count)
    ]
    rates = {m.name: draw(st.floats(1.0, 25.0)) for m in models}
    traffic = workload(
        rates, cv=draw(st.sampled_from([1.0, 4.0])), duration_s=8.0, seed=draw(st.integers(0, 99))
    )
    cluster = Cluster(devices, 10 * GB, devices_per_node=draw(st.sampled_from([1, 2, 4])))
    options = SimOptions(
        max_batch=draw(st.integers(1, 2)), policy=draw(st.sampled_from(["fcfs", "slack"]))
    )
    return Instance(cluster, tuple(models), traffic, options)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=tiny_instances())
def test_no_placement_beats_the_bound(instance: Instance) -> None:
    """Every partition, config and replica set, simulated: the best is at
    most the bound, and so is the greedy's plan."""
    case = compile_case(instance)
    best = max(
        (case.attainment(p) for p in every_placement(instance.cluster, instance.models)),
        default=0.0,
    )
    bound = static_bound(instance)
    assert best <= bound.attainment + 1e-12
    assert bound.attainment <= attainment_bound(instance)
    if bound.hostable:
        try:
            result = solve(instance, solver="greedy", deadline=Deadline.after(30))
        except ValueError:  # no model fits any group (InfeasibleError)
            return
        assert result.attainment <= result.upper_bound  # type: ignore[operator]
        assert result.upper_bound == bound.attainment


@pytest.mark.parametrize("solver", ["cpsat", "milp"])
def test_exact_solvers_stay_below_the_bound(solver: str) -> None:
    models = [model(f"m{i}", 0.1, w * GB) for i, w in enumerate((3, 4, 6))]
    traffic = workload({"m0": 12.0, "m1": 8.0, "m2": 5.0}, cv=3.0, duration_s=20)
    instance = Instance(Cluster(3, 10 * GB, devices_per_node=4), tuple(models), traffic)
    result = solve(instance, solver=solver, deadline=Deadline.after(30))
    assert result.upper_bound is not None and result.gap_points is not None
    assert result.attainment <= result.upper_bound
    assert result.gap_points == pytest.approx(100 * (result.upper_bound - result.attainment))


def test_auto_stops_at_the_greedy_when_the_bound_is_met() -> None:
    # light load on plenty of memory: the greedy serves everything it can
    models = [model(f"m{i}", 0.05, 2 * GB) for i in range(3)]
    traffic = workload({"m0": 2.0, "m1": 1.0, "m2": 1.0}, duration_s=20)
    instance = Instance(Cluster(4, 10 * GB, devices_per_node=4), tuple(models), traffic)
    result = solve(instance, solver="auto", deadline=Deadline.after(30))
    assert result.gap_points is not None and result.gap_points <= 0.5
    assert result.stats["auto"] == {"ran": ["greedy"], "greedy_mode": "auto", "stopped": "bound"}
    assert any("stopped: bound" in line for line in result.log)


def test_auto_goes_on_to_the_exact_solvers_while_the_bound_leaves_room() -> None:
    # heavy bursty load on 2 devices: the bound stays above the greedy plan
    models = [model(f"m{i}", 0.1, w * GB) for i, w in enumerate((3, 4, 6))]
    traffic = workload({"m0": 30.0, "m1": 20.0, "m2": 15.0}, cv=4.0, duration_s=20)
    instance = Instance(Cluster(2, 10 * GB, devices_per_node=2), tuple(models), traffic)
    options = SolveOptions(auto_tolerance_points=0.0)
    result = solve(instance, solver="auto", deadline=Deadline.after(30), options=options)
    auto = result.stats["auto"]
    assert auto["ran"][0] == "greedy" and "cpsat" in auto["ran"]
    assert auto["stopped"] in ("done", "bound")
    assert result.attainment <= result.upper_bound  # type: ignore[operator]


def test_certify_false_skips_the_bound_and_keeps_the_plan() -> None:
    instance = _busy_instance()
    certified = solve(instance, solver="greedy", deadline=Deadline.after(30))
    _, options = split_options({"certify": False})
    skipped = solve(instance, solver="greedy", deadline=Deadline.after(30), options=options)
    assert certified.upper_bound is not None and certified.gap_points is not None
    assert skipped.upper_bound is None and skipped.gap_points is None
    assert "bound_method" not in skipped.stats and "bound_s" not in skipped.stats
    assert skipped.placement == certified.placement
    assert skipped.attainment == certified.attainment


def test_auto_without_the_bound_never_stops_by_it() -> None:
    # the light load where the bound stops auto at the greedy (test above)
    models = [model(f"m{i}", 0.05, 2 * GB) for i in range(3)]
    traffic = workload({"m0": 2.0, "m1": 1.0, "m2": 1.0}, duration_s=20)
    instance = Instance(Cluster(4, 10 * GB, devices_per_node=4), tuple(models), traffic)
    options = SolveOptions(certify=False)
    result = solve(instance, solver="auto", deadline=Deadline.after(30), options=options)
    assert result.upper_bound is None
    assert result.stats["auto"]["stopped"] == "done"
    assert result.stats["auto"]["ran"][:2] == ["greedy", "cpsat"]  # probed, not stopped
    assert any("bound not computed" in line for line in result.log)


@pytest.mark.parametrize("value", ["false", 0, 1, None])
def test_a_bad_certify_names_the_option(value: object) -> None:
    with pytest.raises(ValueError, match=r"^options\.certify: must be true or false"):
        split_options({"certify": value})


def _busy_instance() -> Instance:
    """6 models on 4 devices under a bursty load the bound stays above."""
    models = [model(f"m{i}", 0.1, (2 + i) * GB) for i in range(6)]
    traffic = workload({m.name: 12.0 for m in models}, cv=4.0, duration_s=10)
    return Instance(Cluster(4, 10 * GB, devices_per_node=4), tuple(models), traffic)


def test_auto_runs_the_full_greedy_when_its_estimate_fits() -> None:
    options = SolveOptions(auto_tolerance_points=0.0)
    result = solve(_busy_instance(), solver="auto", deadline=Deadline.after(60), options=options)
    auto = result.stats["auto"]
    assert auto["ran"][:4] == ["greedy", "greedy-lazy", "greedy-regroup", "greedy-full"]
    # the log says which greedy plan won, and the stats name its mode
    mode = auto["greedy_mode"]
    assert mode in ("auto", "lazy", "regroup", "full")
    assert any(
        line.startswith(f"auto: greedy {mode}: full greedy (estimated") for line in result.log
    )


def test_auto_skips_the_full_greedy_when_it_would_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(greedyseed, "FULL_GREEDY_REFERENCE", (1e-9, 4.0))
    options = SolveOptions(auto_tolerance_points=0.0)
    result = solve(_busy_instance(), solver="auto", deadline=Deadline.after(20), options=options)
    assert "greedy-full" not in result.stats["auto"]["ran"]
    assert any("estimated" in line and "s left" in line for line in result.log)


@pytest.mark.parametrize(
    ("value", "message"),
    [(-1, "must be >= 0"), ("1", "must be a finite number"), (float("inf"), "finite")],
)
def test_a_bad_auto_tolerance_names_the_option(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=rf"^options\.auto_tolerance_points: .*{message}"):
        split_options({"auto_tolerance_points": value})


def test_auto_probes_each_exact_solver_briefly_when_it_cannot_gain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given: list[tuple[str, float]] = []
    greedy = solve_module.solve_greedy

    def runner(name: str) -> Any:
        def run(
            scorer: Any, options: Any, deadline: Deadline, progress: Any, *, seed: Any = None
        ) -> Any:
            assert seed is not None  # auto hands over its greedy plan
            given.append((name, deadline.remaining_s()))
            return greedy(scorer, options, deadline, progress)  # no gain over the greedy

        return run

    monkeypatch.setattr(solve_module, "_seeded_runner", runner)
    options = SolveOptions(auto_tolerance_points=0.0, greedy_mode="fast")
    result = solve(_busy_instance(), solver="auto", deadline=Deadline.after(60), options=options)
    assert result.stats["auto"]["ran"] == ["greedy", "cpsat", "lns"]
    # one probe each, a quarter of the time spent so far (at least 0.1 s),
    # and no run with the time left
    assert [name for name, _ in given] == ["cpsat", "lns"]
    most_s = max(solve_module.AUTO_PROBE_MIN_S, solve_module.AUTO_PROBE_SHARE * result.wall_s)
    assert all(seconds <= most_s + 1e-3 for _, seconds in given)
    assert any(line.startswith("auto: cpsat probe of ") for line in result.log)


def test_auto_skips_the_probes_once_their_time_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    greedy = solve_module.solve_greedy

    def runner(name: str) -> Any:
        def run(
            scorer: Any, options: Any, deadline: Deadline, progress: Any, *, seed: Any = None
        ) -> Any:
            time.sleep(deadline.remaining_s() + 0.2)  # overruns its probe
            return greedy(scorer, options, deadline, progress)

        return run

    monkeypatch.setattr(solve_module, "_seeded_runner", runner)
    options = SolveOptions(auto_tolerance_points=0.0, greedy_mode="fast")
    result = solve(_busy_instance(), solver="auto", deadline=Deadline.after(60), options=options)
    assert result.stats["auto"]["ran"] == ["greedy", "cpsat"]
    assert any(line.startswith("auto: no lns probe: the probes took") for line in result.log)


def test_auto_skips_short_probes_on_large_instances(monkeypatch: pytest.MonkeyPatch) -> None:
    # the busy instance (24 models x devices) made "large": its fast greedy
    # leaves a quarter of its time, under the 0.1 s floor, for the probes
    monkeypatch.setattr(solve_module, "AUTO_PROBE_FLOOR_PAIRS", 0)
    options = SolveOptions(auto_tolerance_points=0.0, greedy_mode="fast")
    result = solve(_busy_instance(), solver="auto", deadline=Deadline.after(60), options=options)
    assert result.stats["auto"]["ran"] == ["greedy"]
    assert any(
        line.startswith("auto: no cpsat probe: ")
        and "is less than 0.1 s on 24 models x devices" in line
        for line in result.log
    )
