"""CP-SAT (OR-Tools) on the placement proxy, hinted by the greedy plan.

By default the model is the partition master (:mod:`planner.placement.master`,
:mod:`planner.placement.partition`): the partition, configs and replicas are
decided together, starting from the greedy plan. With option
``partition="seed"`` it is :mod:`planner.placement.formulation` on the seed's
groups (:mod:`planner.placement.seeded`). Every improving solution is decoded and simulated
in a solution callback; the simulator, not the proxy, picks the returned
plan, so it is never worse than the greedy seed. Status: ``optimal`` when
CP-SAT proved the proxy optimum, ``feasible`` when it stopped at the time
limit with a solution, ``seed_only`` when it found none (or when the time
limit passed while the model was prepared: then it is not searched).

CP-SAT calls back only when it finds a solution, and may search for many
seconds without one; so it searches on a background thread while the
calling thread reports progress every quarter second
(:func:`planner.placement.watch.in_thread`): when the progress callback
raises (a cancel), the search is stopped (``stop_search``) and the
exception passes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ortools.sat.python import cp_model

from planner.deadline import Deadline
from planner.placement.enumeration import EnumerationResult
from planner.placement.options import SolveOptions
from planner.placement.proxymodel import Value, build_proxy_model
from planner.placement.scoring import Scorer
from planner.placement.seeded import finish, unsearched
from planner.placement.solution import SolveResult
from planner.placement.watch import in_thread

Progress = Callable[[float, str], None]


class CpSatBackend:
    """:class:`planner.placement.formulation.Backend` over a ``CpModel``."""

    def __init__(self) -> None:
        self.model = cp_model.CpModel()

    def bool_var(self, name: str) -> Any:
        return self.model.new_bool_var(name)

    def int_var(self, low: int, high: int, name: str) -> Any:
        return self.model.new_int_var(low, high, name)

    def add(self, constraint: Any) -> None:
        self.model.add(constraint)

    def total(self, terms: Iterable[Any]) -> Any:
        return cp_model.LinearExpr.Sum(list(terms))

    def maximize(self, objective: Any) -> None:
        self.model.maximize(objective)


class _Rescore(cp_model.CpSolverSolutionCallback):
    """Simulates every solution CP-SAT reports (they arrive improving)
    through ``offer(value, objective)`` and keeps the latest proxy
    objective and bound for progress messages."""

    def __init__(self, offer: Callable[[Value, float], None]) -> None:
        super().__init__()
        self.offer = offer
        self.solutions = 0
        self.latest = "no solution yet"

    def on_solution_callback(self) -> None:
        self.solutions += 1
        self.latest = (
            f"solution {self.solutions}, proxy {self.objective_value:.0f}, "
            f"bound {self.best_objective_bound:.0f}"
        )
        self.offer(self.value, self.objective_value)


PRESOLVE_VARIABLES = 2000
"""Above this many variables CP-SAT starts searching without presolve:
measured on S1 × 16 devices (12.3k variables, one worker, a loaded
machine), presolve alone took over 7 s and the greedy hint was reported
only after it; without it the hint is the first solution in 0.05 s. On
S1 × 16 devices at CV 4 (4.0k variables) presolve outlasted a 10 s
search; without it the hint came at once."""

STATUS: dict[Any, str] = {
    cp_model.OPTIMAL: "optimal",
    cp_model.FEASIBLE: "feasible",
    cp_model.UNKNOWN: "seed_only",
}


def run_cpsat(
    backend: CpSatBackend,
    callback: _Rescore,
    options: SolveOptions,
    deadline: Deadline,
    report: Callable[[], None],
) -> tuple[cp_model.CpSolver, Any]:
    """Solve ``backend``'s model until ``deadline`` on a background thread
    (reporting meanwhile, stopped when a report raises); returns the
    solver and its status code (never INFEASIBLE or MODEL_INVALID: the
    proxy models always admit the empty plan)."""
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.1, deadline.remaining_s())
    solver.parameters.num_workers = options.workers
    solver.parameters.random_seed = options.seed
    if len(backend.model.proto.variables) > PRESOLVE_VARIABLES:
        solver.parameters.cp_model_presolve = False
    code = in_thread(lambda: solver.solve(backend.model, callback), report, solver.stop_search)
    if code not in STATUS:
        raise RuntimeError(f"cpsat: solver returned {solver.status_name(code)} on the proxy model")
    return solver, code


def solve_cpsat(
    scorer: Scorer,
    options: SolveOptions,
    deadline: Deadline,
    progress: Progress | None = None,
    *,
    seed: EnumerationResult | None = None,
) -> SolveResult:
    """CP-SAT placement (module docstring): the partition master, or with
    ``partition="seed"`` the formulation on the seed's groups. Starts from ``seed`` when
    given (a greedy result the caller computed), else from the best greedy
    (:func:`planner.placement.seeded.seed_run`)."""
    backend = CpSatBackend()
    run, model = build_proxy_model(backend, scorer, options, deadline, progress, seed)
    if model is None:
        return unsearched("cpsat", run)
    for var, value in model.hint.items():
        backend.model.add_hint(var, value)
    callback = _Rescore(model.offer)

    def report() -> None:
        if progress is not None:
            progress(run.fraction(), f"cpsat: {callback.latest}; {run.elapsed()}")

    solver, code = run_cpsat(backend, callback, options, deadline, report)
    found = callback.solutions > 0
    return finish(
        "cpsat",
        run,
        status=STATUS[code] if found else "seed_only",
        objective=solver.objective_value if found else None,
        bound=solver.best_objective_bound,
        scale=model.scale,
        log=(f"cpsat: {solver.status_name(code)} after {solver.wall_time:.2f} s",),
        stats={
            **model.sizes,
            "solutions": callback.solutions,
            "variables": len(backend.model.proto.variables),
            "constraints": len(backend.model.proto.constraints),
        },
    )
