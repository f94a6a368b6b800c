"""One interface to every placement solver.

``solve(instance, solver=..., deadline=..., options=...)`` sets aside the
models that fit no group of the cluster under any config (the result's
``unplaced``, with why; their requests count as misses, so attainments stay
comparable; :class:`planner.placement.solution.InfeasibleError` when no model
fits), runs the solver on the rest, validates the placement with
:func:`planner.validation.validate`, scores it with the simulator and
returns a :class:`planner.placement.solution.SolveResult`.

Solvers:

- ``greedy``: group/config enumeration with the simulator-guided greedy
  (:mod:`planner.placement.enumeration`, :mod:`planner.placement.greedy`).
- ``cpsat``: the partition master (group partition, configs and replicas
  decided together; :mod:`planner.placement.master`, calibrated on the
  simulator) in CP-SAT, started from the greedy plan; the simulator picks
  the returned plan, never worse than greedy (:mod:`planner.placement.cpsat`).
  Option ``partition="seed"`` keeps the greedy's groups instead.
- ``milp``: the same model through PuLP, CBC or HiGHS (:mod:`planner.placement.milp`).
- ``lns``: large-neighbourhood search from the greedy plan, re-solving a
  few groups at a time with the master in CP-SAT; a move is kept only when
  the simulator agrees (:mod:`planner.placement.lns`).
- ``sr``: Selective Replication baseline (:mod:`planner.placement.baselines`).
- ``auto``: ``cpsat`` on instances of at most :data:`AUTO_CPSAT_PAIRS`
  models × devices, ``greedy`` otherwise.

Strategies that change the placement over time (Clockwork++, re-placement)
are not solvers: see :mod:`planner.replan.timed`.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import time
from collections.abc import Callable

from planner.deadline import Deadline
from planner.placement.enumeration import enumerate_placements
from planner.placement.feasibility import check_some_fit
from planner.placement.options import SolveOptions
from planner.placement.scoring import Scorer
from planner.placement.solution import SolveResult
from planner.sim import Instance

SOLVERS = ("greedy", "cpsat", "milp", "lns", "sr", "auto")

AUTO_CPSAT_PAIRS = 2048
"""``solver="auto"`` uses CP-SAT up to this many models × devices."""

RUNNERS = {
    "greedy": "planner.placement.solve:solve_greedy",
    "cpsat": "planner.placement.cpsat:solve_cpsat",
    "milp": "planner.placement.milp:solve_milp",
    "lns": "planner.placement.lns:solve_lns",
    "sr": "planner.placement.baselines:solve_selective_replication",
}
"""Solver name → ``module:function`` taking ``(scorer, options, deadline,
progress)``; imported on first use, so that the optional solver libraries
(OR-Tools, PuLP) load only when asked for."""

Progress = Callable[[float, str], None]

DEFAULT_SOLVE_OPTIONS = SolveOptions()


def solve_greedy(
    scorer: Scorer,
    options: SolveOptions,
    deadline: Deadline,
    progress: Progress | None = None,
) -> SolveResult:
    """Enumeration + greedy (see :mod:`planner.placement.enumeration`)."""
    start = time.monotonic()
    found = enumerate_placements(scorer, options, deadline=deadline, progress=progress)
    return SolveResult(
        placement=found.placement,
        attainment=scorer.attainment(found.served),
        solver="greedy",
        status="timeout" if found.timed_out else "heuristic",
        wall_s=time.monotonic() - start,
        log=found.log,
        stats={
            "blocks_solved": found.blocks_solved,
            "blocks_screened": found.blocks_screened,
            "blocks_total": found.blocks_total,
            "candidates": found.candidates,
            "replicas": found.placement.num_replicas,
        },
    )


def solve(
    instance: Instance,
    *,
    solver: str = "auto",
    deadline: Deadline,
    options: SolveOptions = DEFAULT_SOLVE_OPTIONS,
    progress: Progress | None = None,
) -> SolveResult:
    """Choose a placement of the instance's models on its cluster maximising
    simulated SLO attainment on its workload; the solver stops searching at
    ``deadline``. ``progress(fraction, message)`` is called as work
    completes (at least every quarter second while CP-SAT or the MILP
    searches; fractions rise to 1). An exception raised by ``progress``
    stops the solve and passes on, the solver's search or process stopped
    first (how callers cancel). Raises ``ValueError`` for bad arguments
    (naming them), :class:`InfeasibleError` when no model fits a group under
    any config, and :class:`SolveTimeoutError` when no placement was found
    in time. The returned placement passes :func:`planner.validation.validate`
    and its ``attainment`` is the simulator's; the models that fit nowhere
    are its ``unplaced``."""
    if solver not in SOLVERS:
        raise ValueError(f"solver: must be one of {', '.join(SOLVERS)}; got {solver!r}")
    unplaced = check_some_fit(instance.cluster, instance.models)
    scorer = Scorer(instance)
    if solver == "auto":
        small = len(instance.models) * instance.cluster.num_devices <= AUTO_CPSAT_PAIRS
        solver = "cpsat" if small else "greedy"
    module, function = RUNNERS[solver].split(":")
    runner = getattr(importlib.import_module(module), function)
    result: SolveResult = runner(scorer, options, deadline, progress)
    result = dataclasses.replace(result, unplaced=unplaced)
    _check(scorer, result)
    if progress is not None:
        left_out = (
            f"; {len(unplaced)} of {len(instance.models)} models fit nowhere" if unplaced else ""
        )
        progress(
            1.0, f"{result.solver}: attainment {result.attainment:.4f} ({result.status}){left_out}"
        )
    return result


def _check(scorer: Scorer, result: SolveResult) -> None:
    """Every returned placement is validated, and its reported attainment
    must be the simulator's (a mismatch is a solver bug)."""
    simulated = scorer.case.run(result.placement, check=True).attainment
    if not math.isclose(simulated, result.attainment, rel_tol=0, abs_tol=1e-12):
        raise RuntimeError(
            f"{result.solver}: reported attainment {result.attainment} but the simulator "
            f"gives {simulated}"
        )
