"""The solve() interface with the greedy: brute-force optimum on tiny
instances, invariants, bad and infeasible inputs, the AlpaServe effect."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.codec import decode, encode
from planner.deadline import Deadline
from planner.domain import Cluster, Group, ModelSpec, ParallelConfig, Placement, Workload
from planner.placement.feasibility import why_unfit
from planner.placement.options import SolveOptions, split_options
from planner.placement.solution import InfeasibleError, SolveResult, SolveTimeoutError
from planner.placement.solve import solve
from planner.sim import Instance, SimOptions, compile_case, simulate
from planner.validation import validate
from tests.unit.placement_cases import GB, every_placement, model, workload

BRUTE_FORCE_TOLERANCE = 0.05
"""Attainment the greedy may lose against the true optimum on the tiny
instances below (largest loss seen: 0.033)."""


def tiny_instance(seed: int) -> tuple[Cluster, list[ModelSpec], Workload]:
    rng = np.random.default_rng(seed)
    devices = int(rng.integers(2, 5))
    count = int(rng.integers(2, 4))
    models = [
        model(
            f"m{i}",
            latency_s=float(rng.choice([0.05, 0.1, 0.2])),
            weight_bytes=int(rng.choice([3, 4, 6, 8])) * GB,
        )
        for i in range(count)
    ]
    rates = {m.name: float(rng.uniform(2, 15)) for m in models}
    traffic = workload(rates, cv=float(rng.choice([1.0, 3.0])), duration_s=20, seed=seed)
    return Cluster(devices, 10 * GB, devices_per_node=4), models, traffic


def brute_force_optimum(cluster: Cluster, models: list[ModelSpec], traffic: Workload) -> float:
    case = compile_case(Instance(cluster, tuple(models), traffic))
    return max(case.attainment(p) for p in every_placement(cluster, models))


@pytest.mark.parametrize("seed", [1, 3, 4, 6])
def test_greedy_is_within_tolerance_of_the_brute_force_optimum(seed: int) -> None:
    cluster, models, traffic = tiny_instance(seed)
    best = brute_force_optimum(cluster, models, traffic)
    result = solve(Instance(cluster, models, traffic), solver="greedy", deadline=Deadline.after(30))
    assert best - BRUTE_FORCE_TOLERANCE <= result.attainment <= best + 1e-12


instances = st.builds(
    lambda seed, devices, sizes, rates, cv: (
        Cluster(devices, 10 * GB, devices_per_node=2),
        [model(f"m{i}", weight_bytes=s * GB) for i, s in enumerate(sizes)],
        workload({f"m{i}": r for i, r in enumerate(rates)}, cv=cv, duration_s=10, seed=seed),
    ),
    st.integers(0, 1000),
    st.integers(1, 4),
    st.lists(st.integers(2, 9), min_size=1, max_size=4),
    st.lists(st.floats(0.5, 20), min_size=4, max_size=4),
    st.sampled_from([1.0, 4.0]),
).map(lambda case: (case[0], case[1], _restrict(case[2], case[1])))


def _restrict(traffic: Workload, models: list[ModelSpec]) -> Workload:
    names = {m.name for m in models}
    per_model = {n: traffic.for_model(n) for n in traffic.model_names if n in names}
    return Workload.merge(per_model, traffic.duration_s)


@settings(max_examples=15, deadline=None)
@given(instances, st.integers(0, 3))
def test_placements_fit_and_repeat_for_a_seed(
    case: tuple[Cluster, list[ModelSpec], Workload], seed: int
) -> None:
    cluster, models, traffic = case
    problem, options = Instance(cluster, models, traffic), SolveOptions(seed=seed)
    result = solve(problem, solver="greedy", deadline=Deadline.after(60), options=options)
    validate(cluster, models, result.placement)  # memory per device, devices, configs, models
    devices = [d for g in result.placement.groups for d in g.devices]
    assert len(devices) == len(set(devices)) <= cluster.num_devices
    assert result.placement.model_names <= {m.name for m in models}
    again = solve(problem, solver="greedy", deadline=Deadline.after(60), options=options)
    assert again.placement == result.placement
    assert again.attainment == result.attainment


def test_result_round_trips_through_json_and_matches_the_simulator() -> None:
    cluster, models, traffic = tiny_instance(3)
    result = solve(Instance(cluster, models, traffic), solver="greedy", deadline=Deadline.after(60))
    assert decode(SolveResult, encode(result), "result") == result
    assert result.attainment == simulate(cluster, models, result.placement, traffic).attainment
    assert result.solver == "greedy" and result.status == "heuristic"


@pytest.mark.parametrize("solver", ["greedy", "cpsat"])
def test_progress_rises_names_the_best_so_far_and_ends_at_one(solver: str) -> None:
    cluster, models, traffic = tiny_instance(3)
    calls: list[tuple[float, str]] = []
    result = solve(
        Instance(cluster, models, traffic),
        solver=solver,
        deadline=Deadline.after(30),
        progress=lambda fraction, message: calls.append((fraction, message)),
    )
    fractions = [fraction for fraction, _ in calls]
    assert fractions == sorted(fractions)
    assert any(0 < fraction < 1 for fraction in fractions)
    assert any(
        re.search(r"block \d+/\d+: .*; best attainment so far \d\.\d{4}$", m) for _, m in calls
    )
    assert result.upper_bound is not None
    assert calls[-1] == (
        1.0,
        f"{solver}: attainment {result.attainment:.4f} ({result.status}), "
        f"bound {result.upper_bound:.4f}",
    )


HUGE = model("huge", weight_bytes=100 * GB)
"""50 GiB (53.7 GB) per device on the two devices of a group: fits no group
of a 2-device, 20 GiB (21.47 GB) cluster."""
HUGE_WHY = "needs 53.7 GB per device at best (op=2, pp=1), the device has 21.4 GB"


@pytest.mark.parametrize("solver", ["greedy", "cpsat", "milp", "sr"])
def test_models_that_fit_nowhere_are_left_out_and_their_requests_missed(solver: str) -> None:
    cluster = Cluster(2, 20 * GB, devices_per_node=2)
    models = [model("ok"), HUGE]
    traffic = workload({"ok": 4.0, "huge": 2.0}, duration_s=20)
    result = solve(Instance(cluster, models, traffic), solver=solver, deadline=Deadline.after(30))
    assert result.unplaced == {"huge": HUGE_WHY}
    assert result.placement.model_names == {"ok"}
    validate(cluster, models, result.placement)
    # every request of "huge" is a miss: the attainment of "ok" alone, scaled
    # by its share of the requests
    ok_only = _restrict(traffic, models[:1])
    served_ok = simulate(cluster, [models[0]], result.placement, ok_only).attainment
    share = ok_only.num_requests / traffic.num_requests
    assert 0 < result.attainment == pytest.approx(served_ok * share, abs=1e-12)
    assert decode(SolveResult, encode(result), "result") == result


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (
            [HUGE],
            f"models: 'huge' fits no group of the cluster under any config: it {HUGE_WHY}",
        ),
        (
            [HUGE, model("wide", weight_bytes=GB, configs=[ParallelConfig(4, 1)])],
            "models: none of the 2 models fits a group of the cluster under any config; "
            f"the first, 'huge', {HUGE_WHY}",
        ),
    ],
)
def test_no_model_fitting_is_one_short_line(models: list[ModelSpec], message: str) -> None:
    cluster = Cluster(2, 20 * GB, devices_per_node=2)
    traffic = workload({m.name: 1.0 for m in models})
    with pytest.raises(InfeasibleError) as caught:
        solve(Instance(cluster, models, traffic), solver="greedy", deadline=Deadline.after(60))
    assert str(caught.value) == message


def test_a_model_whose_configs_need_more_devices_says_which_group() -> None:
    cluster = Cluster(8, 20 * GB, devices_per_node=4)
    wide = model("wide", weight_bytes=GB, configs=[ParallelConfig(8, 1), ParallelConfig(8, 2)])
    assert why_unfit(cluster, wide) == (
        "needs a group of 8 devices with 8 in one node at least (op=8, pp=1), "
        "the cluster has 8 devices, 4 per node"
    )


def test_a_result_never_lists_a_hosted_model_as_unplaced() -> None:
    group = Group((0,), ParallelConfig(1, 1), ("a",))
    with pytest.raises(ValueError, match=r"^unplaced\.a: the placement hosts this model$"):
        SolveResult(Placement((group,)), 0.5, "greedy", "heuristic", 0.1, unplaced={"a": "why"})


def test_zero_devices_is_refused_by_the_cluster() -> None:
    with pytest.raises(ValueError, match=r"^num_devices: must be a positive integer"):
        Cluster(0, 20 * GB)


def test_an_unknown_solver_is_refused() -> None:
    cluster, models, traffic = tiny_instance(1)
    with pytest.raises(ValueError, match=r"^solver: must be one of greedy, cpsat"):
        solve(Instance(cluster, models, traffic), solver="magic", deadline=Deadline.after(60))


def test_a_deadline_already_past_finds_no_placement() -> None:
    cluster, models, traffic = tiny_instance(1)
    with pytest.raises(SolveTimeoutError, match=r"^time limit: no complete candidate solved"):
        solve(Instance(cluster, models, traffic), solver="greedy", deadline=Deadline(0.0))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"beam": 2},
            r"^options\.beam: unknown option; known: auto_tolerance_points, backend, beam_width, .*max_batch",
        ),
        ({"beam_width": 0}, r"^options\.beam_width: must be an integer >= 1"),
        ({"milp_backend": "gurobi"}, r"^options\.milp_backend: must be one of"),
        ({"max_batch": 0}, r"^options\.max_batch: must be an integer >= 1"),
        ({"warmup_s": -1.0}, r"^options\.warmup_s: must be >= 0"),
    ],
)
def test_bad_options_name_the_option(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_options(options)


def test_options_split_into_the_simulators_and_the_solvers() -> None:
    sim, solving = split_options({"max_batch": 4, "warmup_s": 2.5, "seed": 7})
    assert sim == SimOptions(max_batch=4, warmup_s=2.5)
    assert solving == SolveOptions(seed=7)
    assert split_options(None) == (SimOptions(), SolveOptions())


def test_workload_model_outside_the_set_is_refused() -> None:
    cluster, models, _ = tiny_instance(1)
    with pytest.raises(ValueError, match=r"^workload\.model_names: model 'ghost'"):
        Instance(cluster, models, workload({"ghost": 1.0}))


def test_model_parallelism_beats_replication_under_bursts() -> None:
    # Two 12 GB models, two 20 GB devices: replication can hold one model
    # per device; a two-stage pipeline holds both on both devices.
    models = [model("a", weight_bytes=12 * GB), model("b", weight_bytes=12 * GB)]
    cluster = Cluster(2, 20 * GB, devices_per_node=2)
    traffic = workload({"a": 4.0, "b": 4.0}, cv=4.0, duration_s=60, seed=1)
    parallel = solve(
        Instance(cluster, models, traffic), solver="greedy", deadline=Deadline.after(60)
    )
    replicated = solve(Instance(cluster, models, traffic), solver="sr", deadline=Deadline.after(60))
    assert [g.config.size for g in parallel.placement.groups] == [2]
    assert parallel.placement.groups[0].models == ("a", "b")
    assert all(len(g.models) == 1 for g in replicated.placement.groups)
    assert parallel.attainment > replicated.attainment + 0.1
