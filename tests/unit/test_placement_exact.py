"""CP-SAT and MILP: the proxy optimum against brute force and across
solvers, the simulator as referee, and the fall-backs to the seed."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import pytest
from ortools.sat.python import cp_model

from planner.codec import decode, encode
from planner.deadline import Deadline
from planner.domain import Cluster, ModelSpec, Workload
from planner.placement import milp
from planner.placement.cpsat import CpSatBackend
from planner.placement.formulation import build
from planner.placement.options import SolveOptions
from planner.placement.proxy import ProxyData
from planner.placement.pulprun import Outcome
from planner.placement.scoring import Scorer
from planner.placement.seeded import Referee, prepare
from planner.placement.solution import SolveResult
from planner.placement.solve import solve
from planner.sim import Instance, SimOptions, simulate
from planner.validation import validate
from tests.unit.placement_cases import GB, model, workload


def instance() -> tuple[Cluster, list[ModelSpec], Workload]:
    models = [
        model("a", latency_s=0.1, weight_bytes=5 * GB),
        model("b", latency_s=0.1, weight_bytes=5 * GB),
        model("c", latency_s=0.2, weight_bytes=8 * GB),
    ]
    traffic = workload({"a": 6.0, "b": 3.0, "c": 2.0}, cv=3.0, duration_s=6, seed=2)
    return Cluster(2, 10 * GB, devices_per_node=2), models, traffic


def proxy_data(windows: int = 3) -> ProxyData:
    cluster, models, traffic = instance()
    scorer = Scorer(Instance(cluster, models, traffic, SimOptions()))
    return prepare(scorer, SolveOptions(proxy_windows=windows), Deadline.after(30), None).data


def window_optimum(data: ProxyData, configs: tuple, hosted: tuple, window: int) -> int:
    """Most requests one window can serve with these replicas (exhaustive
    over integer flows)."""
    demand = data.demand[window]
    pairs = [(m, g) for g, models in enumerate(hosted) for m in models if demand[m] > 0]
    best = 0

    def search(k: int, left: list[int], budget: list[int], total: int) -> None:
        nonlocal best
        if k == len(pairs):
            best = max(best, total)
            return
        m, g = pairs[k]
        cost = data.cost_us[m, configs[g]]
        for amount in range(min(left[m], budget[g] // cost) + 1):
            left[m] -= amount
            budget[g] -= amount * cost
            search(k + 1, left, budget, total + amount)
            left[m] += amount
            budget[g] += amount * cost

    search(0, list(demand), [data.window_us] * len(hosted), 0)
    return best


def fits(data: ProxyData, config: Any, models: tuple[int, ...]) -> bool:
    if any(not data.usable(m, config) for m in models):
        return False
    reserve = max((data.workspace_units[m, config] for m in models), default=0)
    return all(
        sum(data.weight_units[m, config][s] for m in models) + reserve <= data.memory_units
        for s in range(config.pp)
    )


def brute_force_proxy(data: ProxyData) -> int:
    """The proxy optimum by enumerating configs, replica sets and flows."""
    subsets = [
        c
        for r in range(data.num_models + 1)
        for c in itertools.combinations(range(data.num_models), r)
    ]
    best = 0
    for configs in itertools.product(*(g.configs for g in data.groups)):
        choices = [[s for s in subsets if fits(data, c, s)] for c in configs]
        for hosted in itertools.product(*choices):
            value = sum(
                data.window_weight[w] * window_optimum(data, configs, hosted, w)
                for w in range(len(data.demand))
            )
            best = max(best, value)
    return best


def cpsat_optimum(data: ProxyData) -> int:
    backend = CpSatBackend()
    variables = build(backend, data)
    solver = cp_model.CpSolver()
    assert solver.solve(backend.model) == cp_model.OPTIMAL
    return int(solver.value(variables.objective))


def test_cpsat_reaches_the_brute_force_proxy_optimum() -> None:
    data = proxy_data()
    assert sum(len(g.configs) for g in data.groups) >= 2  # a config choice exists
    assert cpsat_optimum(data) == brute_force_proxy(data)


@pytest.mark.parametrize("backend", ["cbc", "highs"])
def test_milp_backends_find_the_cpsat_proxy_optimum(backend: str) -> None:
    cluster, models, traffic = instance()
    problem = Instance(cluster, models, traffic)
    options = SolveOptions(milp_backend=backend, proxy_windows=3)
    milp_result = solve(problem, solver="milp", deadline=Deadline.after(30), options=options)
    cpsat_result = solve(
        problem, solver="cpsat", deadline=Deadline.after(30), options=SolveOptions(proxy_windows=3)
    )
    assert milp_result.status == cpsat_result.status == "optimal"
    assert milp_result.proxy_objective == pytest.approx(cpsat_result.proxy_objective, abs=1e-9)
    assert milp_result.bound == pytest.approx(milp_result.proxy_objective, abs=1e-6)
    assert milp_result.gap == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("solver", ["cpsat", "milp"])
def test_exact_solvers_never_return_worse_than_their_seed(solver: str) -> None:
    cluster, models, traffic = instance()
    result = solve(Instance(cluster, models, traffic), solver=solver, deadline=Deadline.after(30))
    validate(cluster, models, result.placement)
    assert result.attainment >= result.stats["seed_attainment"]
    assert result.attainment == simulate(cluster, models, result.placement, traffic).attainment
    assert result.bound is not None and result.proxy_objective is not None
    assert result.bound >= result.proxy_objective - 1e-9
    assert decode(SolveResult, encode(result), "result") == result


def test_cpsat_without_a_solution_returns_the_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster, models, traffic = instance()
    greedy = solve(Instance(cluster, models, traffic), solver="greedy", deadline=Deadline.after(60))
    real_solve = cp_model.CpSolver.solve

    def no_solution(self: cp_model.CpSolver, model: Any, callback: Any = None) -> Any:
        real_solve(self, model)  # without the callback: no solution is reported
        return cp_model.UNKNOWN

    monkeypatch.setattr(cp_model.CpSolver, "solve", no_solution)
    result = solve(Instance(cluster, models, traffic), solver="cpsat", deadline=Deadline.after(5))
    assert result.status == "seed_only"
    assert result.placement == greedy.placement
    assert result.proxy_objective is None and result.gap is None


def test_milp_never_rounds_an_unfinished_relaxation(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster, models, traffic = instance()
    greedy = solve(Instance(cluster, models, traffic), solver="greedy", deadline=Deadline.after(60))

    def relaxed(backend: milp.PulpBackend, *args: Any) -> Outcome:
        # What PuLP reports for a HiGHS run stopped at the time limit in the
        # middle of its relaxation: a "solution" of fractional replicas that,
        # rounded up, would put every model everywhere.
        values = {var.name: 0.6 for var in backend.problem.variables()}
        backend.problem.assignVarsVals(values)
        return Outcome(values, 1, 2, True, None, "milp: stopped")

    monkeypatch.setattr(milp, "_run", relaxed)
    result = solve(Instance(cluster, models, traffic), solver="milp", deadline=Deadline.after(5))
    assert result.status == "seed_only"
    assert result.placement == greedy.placement
    validate(cluster, models, result.placement)


@pytest.mark.parametrize("backend", ["cbc", "highs"])
def test_a_failed_solver_process_returns_the_seed_and_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, backend: str
) -> None:
    cluster, models, traffic = instance()
    greedy = solve(Instance(cluster, models, traffic), solver="greedy", deadline=Deadline.after(60))
    # the child process is started with this "interpreter", which fails at once
    failing = tmp_path / "python"
    failing.write_text("#!/bin/sh\necho 'CoinError: solver crashed' >&2\nexit 3\n")
    failing.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(failing))
    result = solve(
        Instance(cluster, models, traffic),
        solver="milp",
        deadline=Deadline.after(10),
        options=SolveOptions(milp_backend=backend),
    )
    assert result.status == "seed_only"
    assert result.placement == greedy.placement
    assert (
        f"milp({backend}): the solver process failed with exit code 3; CoinError: solver crashed"
        in result.log
    )


def test_solution_callback_simulates_every_solution(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster, models, traffic = instance()
    offered: list[object] = []
    real_offer = Referee.offer

    def spy(self: Referee, layout: Any, *args: Any) -> bool:
        offered.append(layout)
        return real_offer(self, layout, *args)

    monkeypatch.setattr(Referee, "offer", spy)
    result = solve(Instance(cluster, models, traffic), solver="cpsat", deadline=Deadline.after(30))
    # every solution is simulated as found and once more after the greedy polish
    assert result.stats["solutions"] == len(offered) >= 1
    # and with its replicas chosen again by the greedy; so is every probe
    # plan (one per config dividing the cluster)
    probes = result.stats["probes"]
    assert probes >= 2
    assert result.stats["solutions_simulated"] == 3 * len(offered) + probes
