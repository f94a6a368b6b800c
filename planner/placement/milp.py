"""The placement proxy as a MILP through PuLP: CBC by default, HiGHS (the
``highspy`` library, no binary needed) with ``milp_backend="highs"``.

Same formulation as CP-SAT (:mod:`planner.placement.formulation`), on the same seeded
groups, with the same integer variables, so the three solvers' proxy optima
agree. Both backends start from the greedy seed (CBC ``warmStart``; HiGHS
``setSolution``).

PuLP reports a time-limited HiGHS run as "integer feasible" even when no
integer solution was found. The result is therefore trusted only when the
solver itself holds a feasible solution (HiGHS ``primal_solution_status``,
CBC's solution status) and every binary is within 1e-6 of 0 or 1; otherwise the greedy seed is
returned with status ``seed_only``: an unfinished relaxation is never
rounded into a plan. The solution found is simulated and kept only when it
serves more requests than the seed.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pulp
from pulp.apis import coin_api

from planner.deadline import Deadline
from planner.placement.formulation import ProxyVars, build, decode, hint
from planner.placement.options import SolveOptions
from planner.placement.scoring import Scorer
from planner.placement.seeded import SEED_SHARE, Prepared, finish, prepare
from planner.placement.solution import SolveResult

Progress = Callable[[float, str], None]

INTEGRALITY_TOLERANCE = 1e-6
FEASIBLE_SOLUTION = 2
"""HiGHS ``primal_solution_status`` of a feasible solution."""


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


class _HighsFromStart(pulp.HiGHS):
    """PuLP's HiGHS interface, handing the variables' initial values to
    HiGHS as a starting solution."""

    def callSolver(self, lp: Any) -> None:
        start = [var.varValue if var.varValue is not None else 0.0 for var in lp.variables()]
        lp.solverModel.setSolution(_highs_solution(start))
        lp.solverModel.run()


def _highs_solution(values: list[float]) -> Any:
    import highspy

    solution = highspy.HighsSolution()
    solution.col_value = values
    solution.value_valid = True
    return solution


def cbc_solver(**options: Any) -> Any:
    """CBC through PuLP's ``COIN_CMD``: the ``cbc`` on ``PATH``, else the
    binary that ships with PuLP."""
    solver = pulp.COIN_CMD(**options)
    if not solver.available():
        solver = pulp.COIN_CMD(path=coin_api.pulp_cbc_path, **options)
    return solver


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send what native code writes to file descriptor 1 to descriptor 2,
    so that machine-readable standard output stays clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _cbc_bound(log_text: str) -> float | None:
    """The best bound CBC printed in its final summary (maximisation)."""
    match = re.search(r"^Upper bound:\s*(-?[\d.eE+-]+)", log_text, re.MULTILINE)
    return float(match.group(1)) if match else None


def _integral(variables: ProxyVars) -> bool:
    for var in (*variables.config.values(), *variables.replica.values()):
        value = var.varValue
        if value is None or abs(value - round(value)) > INTEGRALITY_TOLERANCE:
            return False
    return True


def _run(
    backend: PulpBackend, options: SolveOptions, seconds: float, log_path: Path
) -> tuple[bool, float | None, str]:
    """Solve; returns whether the solver claims a feasible solution, the
    best bound (None when unknown) and a log line."""
    problem = backend.problem
    if options.milp_backend == "highs":
        solver: Any = _HighsFromStart(msg=False, timeLimit=seconds, threads=options.workers)
        with _stdout_to_stderr():  # HiGHS prints a banner before PuLP can silence it
            problem.solve(solver)
        highs = problem.solverModel
        info = highs.getInfo()
        bound = -info.mip_dual_bound  # PuLP hands HiGHS the negated (minimised) objective
        status = highs.modelStatusToString(highs.getModelStatus())
        has_solution = info.primal_solution_status == FEASIBLE_SOLUTION
        return has_solution, (bound if math.isfinite(bound) else None), f"milp(highs): {status}"
    solver = cbc_solver(
        msg=False,
        timeLimit=seconds,
        threads=options.workers,
        warmStart=True,
        logPath=str(log_path),
    )
    problem.solve(solver)
    text = log_path.read_text() if log_path.exists() else ""
    result = re.search(r"^Result - (.*)$", text, re.MULTILINE)
    bound = _cbc_bound(text)
    if bound is None and problem.sol_status == pulp.LpSolutionOptimal:
        bound = pulp.value(problem.objective)
    has_solution = problem.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    return has_solution, bound, f"milp(cbc): {result.group(1) if result else 'no result line'}"


def solve_milp(
    scorer: Scorer, options: SolveOptions, deadline: Deadline, progress: Progress | None = None
) -> SolveResult:
    """MILP placement (module docstring)."""
    prepared: Prepared = prepare(scorer, options, deadline, progress)
    backend = PulpBackend()
    variables = build(backend, prepared.data)
    for var, value in hint(prepared.data, variables, prepared.seed.layout).items():
        var.setInitialValue(value)
    if progress is not None:
        progress(SEED_SHARE, f"milp({options.milp_backend}): solving")
    seconds = max(1.0, deadline.remaining_s())
    with tempfile.TemporaryDirectory() as folder:
        claimed, bound, line = _run(backend, options, seconds, Path(folder) / "cbc.log")
    found = claimed and _integral(variables)
    objective = None
    if found:
        objective = pulp.value(variables.objective)
        prepared.referee.offer(decode(prepared.data, variables, lambda var: var.varValue))
        status = "optimal" if backend.problem.sol_status == pulp.LpSolutionOptimal else "feasible"
    else:
        status = "seed_only"
    return finish(
        "milp",
        prepared,
        status=status,
        objective=objective,
        bound=bound,
        log=(line,),
        stats={"backend": options.milp_backend, "variables": len(backend.problem.variables())},
    )
