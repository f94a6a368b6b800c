"""One PuLP problem solved to its deadline in a child process that can be
stopped at any moment: CBC (PuLP's ``COIN_CMD``) or HiGHS (``highspy``).

Why a child process: CBC runs as a program PuLP starts and waits for with
no way to interrupt it, and HiGHS runs inside PuLP's call. highspy's
interrupt callback could stop HiGHS in process, but CBC would still need a
process of its own; one mechanism for both keeps one path. The parent
pickles the problem (with the variables' starting values) to a private
folder and runs ``python -m planner.placement.pulprun TASK OUTCOME`` in a
new session; under :func:`planner.placement.watch.watch` it reports
progress every :data:`planner.placement.watch.POLL_S`, and when a report
raises it kills the session's process group (the child and CBC) before
passing the exception on; a solver still running :data:`OVERRUN_S` past
the deadline is killed the same way, and a child that fails by itself
gives an outcome without a solution that says why. The child writes the
solver's answer (:class:`Outcome`: every variable's value, the statuses,
the best bound) for the parent to assign to its own problem. Solving in slices of the time
left was rejected: each restart would throw away the search tree.

Both solvers are told to stop at the deadline by the wall clock (CBC's
``timeMode elapsed``: its default counts CPU seconds, and a 30 s limit ran
72 s on a busy machine); CBC may still overrun while it checks no clock,
hence the kill. Measured: a cancel stops CBC or HiGHS 0.1 to 0.3 s after
the progress callback starts raising.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulp
from pulp.apis import coin_api

from planner.deadline import Deadline
from planner.placement.watch import watch

FEASIBLE_SOLUTION = 2
"""HiGHS ``primal_solution_status`` of a feasible solution."""


@dataclass(frozen=True)
class Task:
    """What the child solves: ``problem`` (a maximisation) with ``backend``
    on ``threads`` threads until ``deadline``; CBC logs to ``log_path``."""

    problem: pulp.LpProblem
    backend: str
    threads: int
    deadline: Deadline
    log_path: Path


@dataclass(frozen=True)
class Outcome:
    """The solver's answer: ``values`` by variable name (None: no value),
    PuLP's ``status`` and ``sol_status``, whether the solver itself holds a
    feasible solution, its best bound (None when unknown) and a log line."""

    values: Mapping[str, float | None]
    status: int
    sol_status: int
    has_solution: bool
    bound: float | None
    line: str


OVERRUN_S = 1.0
"""Seconds past the deadline a solver may take to stop by itself and write
its answer (CBC checks its clock only between steps that can take many
seconds); then it is killed and its answer is "no solution"."""


class _Overrun(Exception):
    """The solver ran :data:`OVERRUN_S` past the deadline."""


def solve_in_child(
    problem: pulp.LpProblem,
    backend: str,
    threads: int,
    deadline: Deadline,
    report: Callable[[], None],
) -> Outcome:
    """Solve ``problem`` in a child process (module docstring), calling
    ``report()`` while it runs; when ``report`` raises, the child and its
    solver are killed and the exception passes on. A solver still running
    :data:`OVERRUN_S` past ``deadline`` is killed too, and the outcome has
    no solution. The outcome is also assigned to ``problem`` (values and
    statuses)."""

    def check() -> None:
        if time.monotonic() > deadline.at_s + OVERRUN_S:
            raise _Overrun
        report()

    with tempfile.TemporaryDirectory(prefix="meshplan-milp-") as name:
        folder = Path(name)
        child = _start(Task(problem, backend, threads, deadline, folder / "cbc.log"), folder)
        try:
            watch(lambda timeout_s: _exited(child, timeout_s), check, lambda: _kill(child))
        except _Overrun:
            outcome = _no_solution(
                f"milp({backend}): killed, still running {OVERRUN_S:g} s past the deadline"
            )
        else:
            outcome = _read(child, folder, backend)
    problem.assignVarsVals(dict(outcome.values))
    problem.assignStatus(outcome.status, outcome.sol_status)
    return outcome


def _start(task: Task, folder: Path) -> subprocess.Popen[bytes]:
    """The child solving ``task`` (pickled into ``folder``), in a session
    of its own; its errors go to ``folder/errors.txt``."""
    (folder / "task.pickle").write_bytes(pickle.dumps(task))
    command = [
        sys.executable,
        "-m",
        __name__,
        str(folder / "task.pickle"),
        str(folder / "outcome.pickle"),
    ]
    with open(folder / "errors.txt", "w") as errors:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # solver banners
            stderr=errors,
            start_new_session=True,
            env=_child_env(),
        )


def _read(child: subprocess.Popen[bytes], folder: Path, backend: str) -> Outcome:
    """The outcome the child wrote; when it failed (a solver that crashed:
    CBC exited with an error on 3 of about 170 runs in ``bench.solvers``,
    cause unknown), an outcome without a solution whose line gives the exit
    code, the child's last error line and the end of CBC's log."""
    if child.returncode == 0:
        outcome: Outcome = pickle.loads((folder / "outcome.pickle").read_bytes())
        return outcome
    said = [
        lines[-1] for lines in (_lines(folder / "errors.txt"), _lines(folder / "cbc.log")) if lines
    ]
    return _no_solution(
        f"milp({backend}): the solver process failed with exit code {child.returncode}"
        + "".join(f"; {line}" for line in said)
    )


def _no_solution(line: str) -> Outcome:
    """An outcome without a solution (the problem is left unsolved), saying ``line``."""
    return Outcome(
        {},
        pulp.LpStatusNotSolved,
        pulp.LpSolutionNoSolutionFound,
        has_solution=False,
        bound=None,
        line=line,
    )


def _lines(path: Path) -> list[str]:
    """The non-blank lines of ``path`` (none when it does not exist)."""
    if not path.exists():
        return []
    return [line for line in path.read_text(errors="replace").splitlines() if line.strip()]


def _child_env() -> dict[str, str]:
    """The environment with this planner's source root first on the module
    path, so that the child imports the same code."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root if not path else f"{root}{os.pathsep}{path}"}


def _exited(child: subprocess.Popen[bytes], timeout_s: float) -> bool:
    try:
        child.wait(timeout_s)
    except subprocess.TimeoutExpired:
        return False
    return True


def _kill(child: subprocess.Popen[bytes]) -> None:
    """Kill the child's process group (it and CBC) and reap the child."""
    with contextlib.suppress(ProcessLookupError):  # it has just exited
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


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
    """CBC through PuLP's ``COIN_CMD`` on wall-clock time: the ``cbc`` on
    ``PATH``, else the binary that ships with PuLP."""
    solver = pulp.COIN_CMD(timeMode="elapsed", **options)
    if not solver.available():
        solver = pulp.COIN_CMD(path=coin_api.pulp_cbc_path, timeMode="elapsed", **options)
    return solver


def _cbc_bound(log_text: str) -> float | None:
    """The best bound CBC printed in its final summary (maximisation)."""
    match = re.search(r"^Upper bound:\s*(-?[\d.eE+-]+)", log_text, re.MULTILINE)
    return float(match.group(1)) if match else None


def run(task: Task) -> Outcome:
    """Solve the task in this process (the child's work)."""
    problem = task.problem
    seconds = max(1.0, task.deadline.remaining_s())
    if task.backend == "highs":
        problem.solve(_HighsFromStart(msg=False, timeLimit=seconds, threads=task.threads))
        highs = problem.solverModel
        info = highs.getInfo()
        bound = -info.mip_dual_bound  # PuLP hands HiGHS the negated (minimised) objective
        status = highs.modelStatusToString(highs.getModelStatus())
        has_solution = info.primal_solution_status == FEASIBLE_SOLUTION
        bound_or_none = bound if math.isfinite(bound) else None
        line = f"milp(highs): {status}"
    else:
        solver = cbc_solver(
            msg=False,
            timeLimit=seconds,
            threads=task.threads,
            warmStart=True,
            logPath=str(task.log_path),
        )
        problem.solve(solver)
        text = task.log_path.read_text() if task.log_path.exists() else ""
        result = re.search(r"^Result - (.*)$", text, re.MULTILINE)
        bound_or_none = _cbc_bound(text)
        if bound_or_none is None and problem.sol_status == pulp.LpSolutionOptimal:
            bound_or_none = pulp.value(problem.objective)
        has_solution = problem.sol_status in (
            pulp.LpSolutionOptimal,
            pulp.LpSolutionIntegerFeasible,
        )
        line = f"milp(cbc): {result.group(1) if result else 'no result line'}"
    return Outcome(
        values={var.name: var.varValue for var in problem.variables()},
        status=problem.status,
        sol_status=problem.sol_status,
        has_solution=has_solution,
        bound=bound_or_none,
        line=line,
    )


def main(argv: list[str]) -> None:
    """``TASK OUTCOME``: solve the pickled task, pickle the outcome."""
    task_path, outcome_path = (Path(arg) for arg in argv)
    task: Task = pickle.loads(task_path.read_bytes())
    outcome_path.write_bytes(pickle.dumps(run(task)))


if __name__ == "__main__":
    # run the module's own copy, so that the pickled outcome names
    # planner.placement.pulprun.Outcome rather than __main__.Outcome
    from planner.placement import pulprun

    pulprun.main(sys.argv[1:])
