"""CP-SAT (OR-Tools) on the placement proxy, hinted by the greedy plan.

The formulation is :mod:`planner.placement.formulation` on the seed's groups
(:mod:`planner.placement.seeded`). Every improving solution is decoded and simulated
in a solution callback; the simulator, not the proxy, picks the returned
plan, so it is never worse than the greedy seed. Status: ``optimal`` when
CP-SAT proved the proxy optimum, ``feasible`` when it stopped at the time
limit with a solution, ``seed_only`` when it found none.

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
from planner.placement.formulation import ProxyVars, build, decode, hint
from planner.placement.options import SolveOptions
from planner.placement.scoring import Scorer
from planner.placement.seeded import Prepared, finish, prepare
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
    """Simulates every solution CP-SAT reports (they arrive improving) and
    keeps the latest proxy objective and bound for progress messages."""

    def __init__(self, prepared: Prepared, variables: ProxyVars) -> None:
        super().__init__()
        self.prepared = prepared
        self.variables = variables
        self.solutions = 0
        self.latest = "no solution yet"

    def on_solution_callback(self) -> None:
        self.solutions += 1
        self.latest = (
            f"solution {self.solutions}, proxy {self.objective_value:.0f}, "
            f"bound {self.best_objective_bound:.0f}"
        )
        layout = decode(self.prepared.data, self.variables, self.value)
        self.prepared.referee.offer(layout)


STATUS = {
    cp_model.OPTIMAL: "optimal",
    cp_model.FEASIBLE: "feasible",
    cp_model.UNKNOWN: "seed_only",
}


def solve_cpsat(
    scorer: Scorer, options: SolveOptions, deadline: Deadline, progress: Progress | None = None
) -> SolveResult:
    """CP-SAT placement (module docstring)."""
    prepared = prepare(scorer, options, deadline, progress)
    backend = CpSatBackend()
    variables = build(backend, prepared.data)
    for var, value in hint(prepared.data, variables, prepared.seed.layout).items():
        backend.model.add_hint(var, value)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.1, deadline.remaining_s())
    solver.parameters.num_workers = options.workers
    solver.parameters.random_seed = options.seed
    callback = _Rescore(prepared, variables)

    def report() -> None:
        if progress is not None:
            progress(prepared.fraction(), f"cpsat: {callback.latest}; {prepared.elapsed()}")

    code = in_thread(lambda: solver.solve(backend.model, callback), report, solver.stop_search)
    if code not in STATUS:
        raise RuntimeError(f"cpsat: solver returned {solver.status_name(code)} on the proxy model")
    found = callback.solutions > 0
    status = STATUS[code] if found else "seed_only"
    return finish(
        "cpsat",
        prepared,
        status=status,
        objective=solver.objective_value if found else None,
        bound=solver.best_objective_bound,
        log=(f"cpsat: {solver.status_name(code)} after {solver.wall_time:.2f} s",),
        stats={
            "solutions": callback.solutions,
            "variables": len(backend.model.proto.variables),
            "constraints": len(backend.model.proto.constraints),
        },
    )
