"""Stopping the exact solvers: a progress callback that raises (a cancel)
stops CP-SAT, the MILP (CBC, HiGHS) and LNS within seconds, not at their time
limit, and leaves no solver process behind; the MILP's time limit is
wall-clock time."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from ortools.sat.python import cp_model

from planner.deadline import Deadline
from planner.placement.options import SolveOptions
from planner.placement.pulprun import cbc_solver
from planner.placement.solve import solve
from tests.unit.placement_cases import hard_instance

CANCEL_AFTER_S = 1.0
STOP_WITHIN_S = 3.0
SEED_MODE = "fast"
"""The greedy seeding the exact solvers here: the full greedy may take half
the time limit, and these tests are about the solvers it seeds."""


class Cancelled(Exception):
    """What the test's progress callback raises once cancelled."""


def processes() -> dict[int, tuple[int, int]]:
    """Live (not zombie) processes: pid → (parent pid, process group)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, parent, group = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if state != "Z":
            found[int(entry.name)] = (int(parent), int(group))
    return found


def left_in(groups: set[int], within_s: float = 2.0) -> list[int]:
    """Live processes of ``groups`` still there after ``within_s`` seconds
    (a SIGKILL takes effect asynchronously: the killed solver may be seen
    running for a moment after the kill returns)."""
    until = time.monotonic() + within_s
    while True:
        left = [pid for pid, (_, group) in processes().items() if group in groups]
        if not left or time.monotonic() > until:
            return left
        time.sleep(0.05)


def cancel_after_a_second(solver: str, options: SolveOptions) -> tuple[float, set[int]]:
    """Solve the hard instance with a 120 s limit and cancel 1 s after the
    exact solver starts (its progress callback raises from then on).
    Returns how long after the cancel the solve raised, and the process
    groups of this process's children at the cancel."""
    cancel = threading.Event()
    cancelled_at: list[float] = []
    groups: set[int] = set()

    def fire() -> None:
        cancelled_at.append(time.monotonic())
        cancel.set()

    timer = threading.Timer(CANCEL_AFTER_S, fire)

    def progress(fraction: float, message: str) -> None:
        if (
            message.startswith(("milp(", "cpsat: ", "lns: "))
            and not timer.is_alive()
            and not cancel.is_set()
        ):
            timer.start()  # the exact solver has started
        if cancel.is_set():
            groups.update(g for p, g in processes().values() if p == os.getpid())
            raise Cancelled

    with pytest.raises(Cancelled):
        solve(
            hard_instance(),
            solver=solver,
            deadline=Deadline.after(120),
            options=options,
            progress=progress,
        )
    return time.monotonic() - cancelled_at[0], groups


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("backend", ["cbc", "highs"])
def test_a_cancel_stops_the_milp_and_its_solver_process(backend: str) -> None:
    # one worker: the only child process group is the solver's
    options = SolveOptions(
        group_sizes=(1,), proxy_windows=24, greedy_mode=SEED_MODE, milp_backend=backend, workers=1
    )
    stopped_s, groups = cancel_after_a_second("milp", options)
    assert stopped_s < STOP_WITHIN_S
    # the solver ran in a process group of its own (with CBC), now gone
    assert groups
    assert not left_in(groups)


@pytest.mark.parametrize("finds_solutions", [True, False])
def test_a_cancel_stops_cp_sat_even_between_solutions(
    monkeypatch: pytest.MonkeyPatch, finds_solutions: bool
) -> None:
    if not finds_solutions:
        real_solve = cp_model.CpSolver.solve

        def silent(self: cp_model.CpSolver, model: Any, callback: Any = None) -> Any:
            return real_solve(self, model)  # no callback: a search that reports nothing

        monkeypatch.setattr(cp_model.CpSolver, "solve", silent)
    options = SolveOptions(group_sizes=(1,), proxy_windows=24, greedy_mode=SEED_MODE)
    stopped_s, _ = cancel_after_a_second("cpsat", options)
    assert stopped_s < STOP_WITHIN_S


@pytest.mark.parametrize("workers", [1, 2])
def test_a_cancel_stops_lns_within_a_poll(workers: int) -> None:
    # one sub-problem on a thread, or a round of two in a process pool
    options = SolveOptions(
        group_sizes=(1,), lns_move_s=60.0, greedy_mode=SEED_MODE, workers=workers
    )
    stopped_s, _ = cancel_after_a_second("lns", options)
    assert stopped_s < STOP_WITHIN_S


@pytest.mark.parametrize("backend", ["cbc", "highs"])
def test_the_milp_stops_at_its_deadline(backend: str) -> None:
    # one worker: the only child process group is the solver's
    options = SolveOptions(
        group_sizes=(1,), proxy_windows=24, greedy_mode=SEED_MODE, milp_backend=backend, workers=1
    )
    start = time.monotonic()
    result = solve(hard_instance(), solver="milp", deadline=Deadline.after(5.0), options=options)
    assert time.monotonic() - start < 5.0 + STOP_WITHIN_S
    assert result.status in ("optimal", "feasible", "seed_only")


def test_cbc_counts_wall_clock_seconds() -> None:
    # CBC's default counts CPU seconds: on a busy machine a 30 s limit ran 72 s
    assert cbc_solver(timeLimit=30).optionsDict["timeMode"] == "elapsed"
