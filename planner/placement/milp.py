"""The placement proxy as a MILP through PuLP: CBC by default, HiGHS (the
``highspy`` library, no binary needed) with ``milp_backend="highs"``.

Same model as CP-SAT (the partition master, :mod:`planner.placement.master`,
or with ``partition="seed"`` :mod:`planner.placement.formulation` on the seed's
groups), with the same integer variables, so the three solvers' proxy optima
agree. Both backends start from the greedy seed (CBC ``warmStart``; HiGHS
``setSolution``) and run in a child process
(:mod:`planner.placement.pulprun`) while progress is reported every
quarter second: when the progress callback raises (a cancel), the solver
is killed at once and the exception passes on; otherwise it stops at the
deadline. The seed is returned with status ``seed_only`` when the solver
runs a second past the deadline (it is then killed) or when its process
fails (the log gives the exit code and the last error line).

PuLP reports a time-limited HiGHS run as "integer feasible" even when no
integer solution was found. The result is therefore trusted only when the
solver itself holds a feasible solution (HiGHS ``primal_solution_status``,
CBC's solution status) and every binary is within 1e-6 of 0 or 1; otherwise the greedy seed is
returned with status ``seed_only``: an unfinished relaxation is never
rounded into a plan. The solution found is simulated and kept only when it
serves more requests than the seed. When the time limit passed while the
model was prepared, the solver is not started (status ``seed_only``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pulp

from planner.deadline import Deadline
from planner.placement.enumeration import EnumerationResult
from planner.placement.options import SolveOptions
from planner.placement.proxymodel import build_proxy_model
from planner.placement.pulprun import Outcome, solve_in_child
from planner.placement.scoring import Scorer
from planner.placement.seeded import SEED_SHARE, Run, finish, unsearched
from planner.placement.solution import SolveResult

Progress = Callable[[float, str], None]

INTEGRALITY_TOLERANCE = 1e-6


class PulpBackend:
    """:class:`planner.placement.formulation.Backend` over a maximising ``LpProblem``."""

    def __init__(self) -> None:
        self.problem = pulp.LpProblem("meshplan", pulp.LpMaximize)

    def bool_var(self, name: str) -> Any:
        return self.problem.add_variable(name, 0, 1, cat=pulp.LpBinary)

    def int_var(self, low: int, high: int, name: str) -> Any:
        return self.problem.add_variable(name, low, high, cat=pulp.LpInteger)

    def add(self, constraint: Any) -> None:
        self.problem += constraint

    def total(self, terms: Iterable[Any]) -> Any:
        return pulp.lpSum(terms)

    def maximize(self, objective: Any) -> None:
        self.problem.setObjective(objective)


def _integral(variables: Iterable[Any]) -> bool:
    for var in variables:
        value = var.varValue
        if value is None or abs(value - round(value)) > INTEGRALITY_TOLERANCE:
            return False
    return True


def _run(
    backend: PulpBackend, options: SolveOptions, run: Run, progress: Progress | None
) -> Outcome:
    """Solve in a child process, reporting progress meanwhile; the
    outcome's values are assigned to the problem."""
    name = f"milp({options.milp_backend})"

    def report() -> None:
        if progress is not None:
            progress(run.fraction(), f"{name}: solving, {run.elapsed()}")

    if progress is not None:
        progress(SEED_SHARE, f"{name}: solving")
    return solve_in_child(
        backend.problem, options.milp_backend, options.workers, run.deadline, report
    )


def solve_milp(
    scorer: Scorer,
    options: SolveOptions,
    deadline: Deadline,
    progress: Progress | None = None,
    *,
    seed: EnumerationResult | None = None,
) -> SolveResult:
    """MILP placement (module docstring): the partition master, or with
    ``partition="seed"`` the formulation on the seed's groups. Starts from ``seed`` when
    given (a greedy result the caller computed), else from the best greedy
    (:func:`planner.placement.seeded.seed_run`)."""
    backend = PulpBackend()
    run, model = build_proxy_model(backend, scorer, options, deadline, progress, seed)
    if model is None:
        return unsearched("milp", run)
    for var, value in model.hint.items():
        var.setInitialValue(value)
    outcome = _run(backend, options, run, progress)
    found = outcome.has_solution and _integral(model.decisions)
    objective = None
    if found:
        objective = pulp.value(model.objective)
        model.offer(lambda var: var.varValue, objective)
        status = "optimal" if outcome.sol_status == pulp.LpSolutionOptimal else "feasible"
    else:
        status = "seed_only"
    return finish(
        "milp",
        run,
        status=status,
        objective=objective,
        bound=outcome.bound,
        scale=model.scale,
        log=(outcome.line,),
        stats={
            **model.sizes,
            "backend": options.milp_backend,
            "variables": len(backend.problem.variables()),
        },
    )
