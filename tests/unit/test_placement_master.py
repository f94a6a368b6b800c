"""The partition master: with the partition free it finds the brute-force
optimum of its proxy over every partition, config and replica set; its
calibration, its columns and its rank agreement; the exact solvers and LNS
against greedy and their statuses."""

from __future__ import annotations

import itertools
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ortools.sat.python import cp_model

from planner.deadline import Deadline
from planner.domain import Cluster, ParallelConfig
from planner.placement import master
from planner.placement.agreement import kendall, rank_agreement, spearman
from planner.placement.calibration import (
    FLUID,
    ServedCurve,
    calibrated_costs,
    fit_curves,
    nominal_ratio,
    served_fraction,
    upper_hull,
)
from planner.placement.columns import (
    EXHAUSTIVE_COLUMNS,
    Column,
    alternating,
    column_pool,
    exhaustive,
    fits,
    packed,
    surely_fitting,
)
from planner.placement.cpsat import CpSatBackend
from planner.placement.greedy import ReplicaTable
from planner.placement.options import SolveOptions
from planner.placement.partition import Context, build_context, build_master
from planner.placement.scoring import Layout, Scorer, layout_placement
from planner.placement.solution import InfeasibleError, SolveTimeoutError
from planner.placement.solve import solve
from planner.sim import Instance, simulate
from planner.validation import validate
from tests.unit.placement_cases import GB, every_placement, model, workload

ONE = ParallelConfig(1, 1)
TWO = ParallelConfig(1, 2)


# -- calibration ---------------------------------------------------------------------


def test_upper_hull_is_the_concave_envelope_then_flat() -> None:
    # (1, 0.4) lies under the chord from (0, 0) to (2, 0.9) (0.45 at 1), so
    # the hull is (0, 0)-(2, 0.9)-(3, 0.95), then flat
    curve = upper_hull([(1.0, 0.4), (2.0, 0.9), (3.0, 0.95), (4.0, 0.95)])
    flat = [v for segment in curve.segments for v in segment]
    assert flat == pytest.approx([0.0, 0.45, 0.8, 0.05, 0.95, 0.0])
    assert curve.fraction(1.0) == pytest.approx(0.45)
    assert curve.fraction(2.5) == pytest.approx(0.925)
    assert curve.fraction(10.0) == pytest.approx(0.95)
    assert curve.inverse(0.45) == pytest.approx(1.0)
    assert curve.inverse(0.925) == pytest.approx(2.5)
    assert curve.inverse(0.96) is None


@given(st.lists(st.tuples(st.floats(0.01, 10), st.floats(0, 1)), min_size=1, max_size=8))
def test_the_hull_is_concave_and_above_every_point(points: list[tuple[float, float]]) -> None:
    curve = upper_hull(points)
    for rho, fraction in points:
        assert curve.fraction(rho) >= min(1.0, fraction) - 1e-9
    slopes = [b for _, b in curve.segments]
    assert slopes == sorted(slopes, reverse=True)  # concave
    assert curve.fraction(0.0) == pytest.approx(0.0, abs=1e-9) or curve.segments[0][1] == 0


def test_costs_are_divided_by_the_calibrated_efficiency() -> None:
    curve = ServedCurve(((0.0, 1.0),), (), {TWO: 0.5})
    costs = calibrated_costs({(0, ONE): 1000, (0, TWO): 600, (1, ONE): 7}, {0: curve})
    assert costs == {(0, ONE): 1000, (0, TWO): 1200, (1, ONE): 7}


def test_curves_measure_the_simulator_and_rate_other_configs_by_it() -> None:
    scorer = three_model_scorer()
    curve = fit_curves(scorer, {0: [ONE, TWO]}, Deadline.after(60))[0]
    (other,) = curve.efficiency
    reference = ONE if other == TWO else TWO
    alone = {c: served_fraction(scorer, 0, c, 1) for c in (ONE, TWO)}
    # the reference serves the most per device with one replica
    assert alone[reference] / reference.size >= alone[other] / other.size
    # its points are the simulator's fractions on 1, 2, ... replicas
    for k, (rho, fraction) in enumerate(curve.points, start=1):
        assert rho == pytest.approx(k * nominal_ratio(scorer, 0, reference))
        assert fraction == served_fraction(scorer, 0, reference, k)
        assert curve.fraction(rho) >= fraction - 1e-12
    # the other config counts as the capacity at which the curve serves
    # what its one replica served
    rho = curve.inverse(alone[other])
    assert rho is not None and alone[other] < curve.fraction(math.inf)
    assert curve.efficiency[other] == pytest.approx(rho / nominal_ratio(scorer, 0, other))
    # no time: the fluid curve, uncalibrated
    assert fit_curves(scorer, {0: [ONE]}, Deadline.after(0)) == {0: FLUID}


# -- agreement -----------------------------------------------------------------------


def test_rank_correlations_against_hand_computed_values() -> None:
    proxy = [1.0, 2.0, 3.0, 4.0]
    assert spearman(proxy, [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman(proxy, [40, 30, 20, 10]) == pytest.approx(-1.0)
    # one swapped pair of four: d^2 = 2, rho = 1 - 6 * 2 / (4 * 15) = 0.8;
    # 5 concordant and 1 discordant pair of 6: tau = 4 / 6
    assert spearman(proxy, [10, 30, 20, 40]) == pytest.approx(0.8)
    assert kendall(proxy, [10, 30, 20, 40]) == pytest.approx(4 / 6)
    assert spearman([1.0, 1.0], [1.0, 2.0]) is None
    assert rank_agreement([1.0], [0.5]) == {
        "proxy_rank_correlation": None,
        "proxy_kendall_tau": None,
        "proxy_plans_compared": 1,
    }


# -- columns -------------------------------------------------------------------------


def three_model_scorer(devices: int = 2) -> Scorer:
    models = [
        model("a", latency_s=0.1, weight_bytes=5 * GB),
        model("b", latency_s=0.1, weight_bytes=5 * GB),
        model("c", latency_s=0.2, weight_bytes=8 * GB),
    ]
    traffic = workload({"a": 6.0, "b": 3.0, "c": 2.0}, cv=3.0, duration_s=6, seed=2)
    return Scorer(Instance(Cluster(devices, 10 * GB, devices_per_node=2), models, traffic))


def test_packed_columns_fill_memory_in_order() -> None:
    scorer = three_model_scorer()
    table = ReplicaTable(scorer, [ONE, TWO])
    # a device of 10 GB holds both 5 GB models (no workspace), not c's 8 GB too
    assert packed(table, ONE, [0, 1, 2]) == [Column(ONE, (0, 1)), Column(ONE, (2,))]
    assert packed(table, ONE, [0, 2, 1]) == [
        Column(ONE, (0,)),
        Column(ONE, (2,)),
        Column(ONE, (1,)),
    ]
    # two pipeline stages hold 2.5 + 2.5 + 4 GB per device
    assert packed(table, TWO, [0, 1, 2]) == [Column(TWO, (0, 1, 2))]
    assert alternating([5, 4, 3, 2, 1]) == [5, 1, 4, 2, 3]


@given(st.permutations([0, 1, 2]), st.sampled_from([ONE, TWO]))
@settings(max_examples=12, deadline=None)
def test_packed_cuts_where_fits_says(order: list[int], config: ParallelConfig) -> None:
    table = ReplicaTable(three_model_scorer(), [ONE, TWO])
    expected: list[Column] = []
    current: list[int] = []
    for m in order:  # the definition: grow the group while fits() holds
        if fits(table, config, [*current, m]):
            current.append(m)
        else:
            expected.append(Column(config, tuple(sorted(current))))
            current = [m]
    expected.append(Column(config, tuple(sorted(current))))
    assert packed(table, config, order) == expected


def test_surely_fitting_counts_sets_that_fit_without_enumerating() -> None:
    table = ReplicaTable(three_model_scorer(), [ONE, TWO])
    # one device of 10 GB, c weighs 8 GB: only single models are sure (a, b, c;
    # a + b fits too, which the count leaves out)
    assert surely_fitting(table, ONE, [0, 1, 2]) == 3
    # two stages, 4 GB at most per stage: any two models fit (3 + 3 sets)
    assert surely_fitting(table, TWO, [0, 1, 2]) == 6
    every = [s for r in (1, 2, 3) for s in itertools.combinations((0, 1, 2), r)]
    for config in (ONE, TWO):
        assert surely_fitting(table, config, [0, 1, 2]) <= sum(
            fits(table, config, s) for s in every
        )


def test_many_small_models_skip_the_exhaustive_pool_at_once() -> None:
    models = [model(f"m{i}", latency_s=0.1, weight_bytes=GB) for i in range(40)]
    traffic = workload({m.name: 1.0 for m in models}, duration_s=2)
    scorer = Scorer(Instance(Cluster(2, 10 * GB, devices_per_node=2), models, traffic))
    table = ReplicaTable(scorer, [ONE])
    # any 10 of 40 fit a device: far more than EXHAUSTIVE_COLUMNS sets
    assert surely_fitting(table, ONE, range(40)) > EXHAUSTIVE_COLUMNS
    started = time.monotonic()
    assert exhaustive(table, [ONE], range(40)) is None
    assert time.monotonic() - started < 0.05


def test_a_small_pool_is_every_fitting_model_set() -> None:
    scorer = three_model_scorer()
    table = ReplicaTable(scorer, [ONE, TWO])
    pool, exhaustive = column_pool(table, [ONE, TWO], [0, 1, 2], [6.0, 3.0, 2.0])
    assert exhaustive
    # c (8 GB) shares no device; on two stages (4.5 GB a device at most) all fit
    subsets = [s for r in (1, 2, 3) for s in itertools.combinations((0, 1, 2), r)]
    alone = [Column(ONE, s) for s in ((0,), (1,), (2,), (0, 1))]
    assert pool == sorted(alone + [Column(TWO, s) for s in subsets])


# -- the master against brute force ------------------------------------------------------


def master_optimum(
    data: master.MasterData, counts: list[int] | None = None
) -> tuple[int, list[int]]:
    """CP-SAT's optimum of the master (with the column counts fixed when given)."""
    backend = CpSatBackend()
    variables = master.build(backend, data)
    if counts is not None:
        for var, value in zip(variables.count, counts, strict=True):
            backend.model.add(var == value)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    assert solver.solve(backend.model) == cp_model.OPTIMAL
    return round(solver.objective_value), master.decode(data, variables, solver.value)


def whole_master(scorer: Scorer, windows: int = 2) -> tuple[Context, master.MasterData]:
    context = build_context(scorer, SolveOptions(), (), Deadline.after(60))
    data, exhaustive = build_master(
        context, range(scorer.num_models), scorer.instance.cluster.num_devices, (), windows
    )
    assert exhaustive
    return context, data


def brute_force(context: Context, data: master.MasterData) -> int:
    """The best fixed-partition optimum over every placement of the cluster
    (each partition into consecutive groups, config and model set; a model
    without requests is not placed by the master and is left out here)."""
    instance = context.scorer.instance
    index = {m.name: j for j, m in enumerate(instance.models)}
    seen: dict[tuple[int, ...], int] = {}
    for placement in every_placement(instance.cluster, instance.models):
        if any(g.models and g.config not in context.configs for g in placement.groups):
            continue
        layout = Layout(
            tuple(g.config for g in placement.groups),
            tuple(
                tuple(sorted(index[n] for n in g.models if index[n] in context.curves))
                for g in placement.groups
            ),
        )
        counts = tuple(master.counts_of(data, layout))
        if counts not in seen:
            seen[counts] = master_optimum(data, list(counts))[0]
    return max(seen.values())


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    devices=st.sampled_from([2, 3, 4]),
    sizes_gb=st.lists(st.sampled_from([3, 5, 8, 12]), min_size=1, max_size=3),
    rates=st.lists(st.floats(0.5, 12.0), min_size=3, max_size=3),
    cv=st.sampled_from([1.0, 4.0]),
)
def test_the_free_partition_master_finds_the_brute_force_optimum(
    devices: int, sizes_gb: list[int], rates: list[float], cv: float
) -> None:
    names = [f"m{j}" for j in range(len(sizes_gb))]
    configs = (ONE, TWO, ParallelConfig(2, 1), ParallelConfig(1, 4), ParallelConfig(2, 2))
    models = [
        model(n, latency_s=0.05 * (1 + j), weight_bytes=gb * GB, configs=configs)
        for j, (n, gb) in enumerate(zip(names, sizes_gb, strict=True))
    ]
    traffic = workload(dict(zip(names, rates, strict=False)), cv=cv, duration_s=4, seed=devices)
    cluster = Cluster(devices, 10 * GB, devices_per_node=2)
    scorer = Scorer(Instance(cluster, models, traffic))
    context, data = whole_master(scorer)
    best, counts = master_optimum(data)
    assert best == brute_force(context, data)
    devices_of, layout = master.place(data, counts, range(devices))
    validate(cluster, models, layout_placement(layout, devices_of, models))


def test_the_master_chooses_a_partition_the_seed_lacks() -> None:
    # Two devices; a (1 rps) and b (1 rps) of 5 GB: the best proxy plan
    # hosts each on its own device, or both on a two-stage pipeline; the
    # empty plan is worse. The optimum uses every request the proxy can serve.
    scorer = three_model_scorer()
    _, data = whole_master(scorer, windows=3)
    best, counts = master_optimum(data)
    value = master.evaluate(data, counts).objective
    assert value <= best  # evaluate is a feasible solution: a lower bound
    assert sum(data.columns[k].config.size * n for k, n in enumerate(counts)) <= 2
    assert best > 0


# -- solvers against greedy ------------------------------------------------------------


def four_device_instance() -> Instance:
    models = [
        model("a", latency_s=0.05, weight_bytes=3 * GB),
        model("b", latency_s=0.05, weight_bytes=3 * GB),
        model("c", latency_s=0.1, weight_bytes=6 * GB),
        model("d", latency_s=0.1, weight_bytes=6 * GB),
    ]
    traffic = workload({"a": 20.0, "b": 5.0, "c": 8.0, "d": 2.0}, cv=4.0, duration_s=8, seed=5)
    return Instance(Cluster(4, 10 * GB, devices_per_node=4), models, traffic)


@pytest.mark.parametrize(
    ("solver", "options"),
    [
        ("cpsat", {}),
        ("milp", {}),
        ("milp", {"milp_backend": "highs"}),
        ("lns", {}),
        ("lns", {"workers": 2}),
    ],
)
def test_exact_solvers_and_lns_are_valid_and_never_below_greedy(
    solver: str, options: dict[str, object]
) -> None:
    problem = four_device_instance()
    greedy = solve(problem, solver="greedy", deadline=Deadline.after(60))
    result = solve(
        problem, solver=solver, deadline=Deadline.after(20), options=SolveOptions(**options)
    )
    validate(problem.cluster, problem.models, result.placement)
    simulated = simulate(problem.cluster, problem.models, result.placement, problem.workload)
    assert result.attainment == simulated.attainment >= greedy.attainment
    assert result.stats["seed_attainment"] == pytest.approx(greedy.attainment)
    correlation = result.stats["proxy_rank_correlation"]
    assert correlation is None or -1.0 <= correlation <= 1.0
    assert result.stats["proxy_plans_compared"] >= 1
    same = sorted(
        (g.config.op, g.config.pp) for g in greedy.placement.groups if g.models
    ) == sorted((g.config.op, g.config.pp) for g in result.placement.groups if g.models)
    assert result.stats["partition_changed"] is not same


def test_lns_is_deterministic_for_a_seed() -> None:
    problem = four_device_instance()
    options = SolveOptions(seed=3, lns_groups=1)
    first = solve(problem, solver="lns", deadline=Deadline.after(30), options=options)
    second = solve(problem, solver="lns", deadline=Deadline.after(30), options=options)
    assert first.status == second.status == "heuristic"
    assert first.placement == second.placement
    assert first.stats["moves_tried"] == second.stats["moves_tried"] >= 1


def test_lns_plans_do_not_depend_on_the_workers() -> None:
    # a round's sub-problems run here one after another, or in a pool of two
    problem = four_device_instance()
    first, second = (
        solve(
            problem,
            solver="lns",
            deadline=Deadline.after(30),
            options=SolveOptions(seed=3, lns_groups=1, workers=workers),
        )
        for workers in (1, 2)
    )
    assert first.status == second.status == "heuristic"
    assert first.placement == second.placement
    assert first.attainment == second.attainment
    tried = first.stats["moves_tried"]
    assert tried == second.stats["moves_tried"] > first.stats["rounds"]  # rounds of several


def test_lns_keeps_only_moves_the_simulator_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every sub-problem answers "no groups at all": the simulator rejects
    # every such move, and the seed is returned.
    from planner.placement import lns

    monkeypatch.setattr(lns, "solve_sub", lambda problem, *args: [[0] * len(problem.data.columns)])
    problem = four_device_instance()
    result = solve(problem, solver="lns", deadline=Deadline.after(20))
    assert result.stats["moves_kept"] == 0 and result.stats["moves_tried"] >= 1
    assert result.attainment == result.stats["seed_attainment"]


# -- statuses --------------------------------------------------------------------------


def test_lns_stops_at_the_deadline_with_status_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    from planner.placement import lns

    def slow(*args: object) -> list[list[int]]:
        time.sleep(2.5)  # the first round ends past the deadline
        return []

    monkeypatch.setattr(lns, "solve_sub", slow)
    problem = four_device_instance()
    start = time.monotonic()
    result = solve(
        problem,
        solver="lns",
        deadline=Deadline.after(3),
        options=SolveOptions(lns_groups=1, workers=1),
    )
    assert result.status == "timeout"
    assert time.monotonic() - start < 3 + 2.5 + 1  # no round starts after the deadline
    validate(problem.cluster, problem.models, result.placement)


@pytest.mark.parametrize("solver", ["cpsat", "milp", "lns"])
def test_no_time_for_the_seed_is_a_timeout_error(solver: str) -> None:
    with pytest.raises(SolveTimeoutError, match=r"^time limit"):
        solve(four_device_instance(), solver=solver, deadline=Deadline.after(0))


@pytest.mark.parametrize("solver", ["cpsat", "milp", "lns"])
def test_an_instance_where_nothing_fits_is_infeasible(solver: str) -> None:
    problem = four_device_instance()
    huge = [model("huge", weight_bytes=200 * GB)]
    traffic = workload({"huge": 1.0}, duration_s=2)
    with pytest.raises(InfeasibleError, match=r"^models: 'huge' fits no group"):
        solve(Instance(problem.cluster, huge, traffic), solver=solver, deadline=Deadline.after(5))


# -- scale -----------------------------------------------------------------------------


def test_128_models_on_64_devices_build_and_solve_within_the_limit() -> None:
    # S1-like: 128 copies of BERT-1.3B (two of each S1 model), Gamma CV 3 at
    # 80 % of the devices' capacity; the seed's groups are many identical
    # ones, which the master holds as one column with a count
    import dataclasses

    from bench.placement import SLO_SCALE, cluster, traffic
    from planner.profiles import model_set

    base = model_set("s1", SLO_SCALE)
    models = tuple(dataclasses.replace(m, name=f"{m.name}-{k}") for k in range(2) for m in base)
    problem = Instance(cluster(64), models, traffic(models, 64, 3.0, 10.0))
    limit_s = 20.0
    start = time.monotonic()
    result = solve(problem, solver="cpsat", deadline=Deadline.after(limit_s))
    assert time.monotonic() - start < limit_s + 2.0
    assert result.status in ("optimal", "feasible")  # CP-SAT found a solution in time
    assert result.stats["solutions"] >= 1 and result.stats["exhaustive_pool"] is False
    validate(problem.cluster, problem.models, result.placement)
    assert result.attainment >= result.stats["seed_attainment"]
