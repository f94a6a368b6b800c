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
  simulator) in CP-SAT, started from the best greedy plan (the default
  greedy's or the full greedy's when its estimated time fits the seed's
  share of the time, :mod:`planner.placement.greedyseed`); the simulator
  picks the returned plan, never worse than that seed
  (:mod:`planner.placement.cpsat`).
  Option ``partition="seed"`` keeps the greedy's groups instead.
- ``milp``: the same model through PuLP, CBC or HiGHS (:mod:`planner.placement.milp`).
- ``lns``: large-neighbourhood search from the best greedy plan, re-solving a
  few groups at a time with the master in CP-SAT; a move is kept only when
  the simulator agrees (:mod:`planner.placement.lns`).
- ``sr``: Selective Replication baseline (:mod:`planner.placement.baselines`).
- ``auto``: decides by measured value (:func:`solve_auto`): the greedy;
  on instances of at most :data:`AUTO_PROBE_FLOOR_PAIRS` models × devices
  the lazy full greedy and the full greedy on the best plan's groups; the full greedy when its estimated time
  fits (:func:`planner.placement.greedyseed.best_greedy`); stops as soon as the
  certified bound is within ``auto_tolerance_points`` of the best plan;
  otherwise each exact solver of :data:`AUTO_EXACT_SOLVERS` in turn gets a
  probe (together :data:`AUTO_PROBE_SHARE` of the greedy's time, each at
  least :data:`AUTO_PROBE_MIN_S` on instances up to
  :data:`AUTO_PROBE_FLOOR_PAIRS` models × devices and skipped when shorter
  on larger ones; none once that time is used), and only a solver whose
  probe gained more than the tolerance gets the time left. The exact solvers start from
  the greedy plan auto already has (``seed``), never running the greedy
  again.

Every result carries the certified upper bound on the attainment of any
static placement (``upper_bound``, :func:`planner.placement.bound.static_bound`)
and its gap to the plan's attainment in points (``gap_points``); the
bound is computed first, with at most :data:`BOUND_SHARE` of the time.
With option ``certify=False`` the bound is skipped (both are None, and
``auto`` never stops by it): for callers that never report it, such as
the re-placement loop's windows and the live re-planner.

Strategies that change the placement over time (Clockwork++, re-placement)
are not solvers: see :mod:`planner.replan.timed`.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import time
from collections.abc import Callable
from typing import Protocol, cast

from planner.deadline import Deadline
from planner.placement.bound import STATIC_BOUND_TIME_S, static_bound
from planner.placement.enumeration import EnumerationResult, enumerate_placements
from planner.placement.feasibility import check_some_fit
from planner.placement.greedyseed import best_greedy, progress_stage
from planner.placement.options import SolveOptions
from planner.placement.scoring import Scorer
from planner.placement.solution import SolveResult
from planner.sim import Instance

SOLVERS = ("greedy", "cpsat", "milp", "lns", "sr", "auto")

AUTO_EXACT_SOLVERS = ("cpsat", "lns")
"""The solvers ``solver="auto"`` runs after the greedy, in this order, while
the bound leaves room and time is left; a name not in :data:`SEEDED_SOLVERS`
is skipped, so adding a seeded solver to auto is adding its name here."""

AUTO_PROBE_SHARE = 0.25
"""The exact solvers' probes in ``auto`` share this share of the seconds
auto spent on the greedy, in order: each probe gets what its predecessors
left (at least :data:`AUTO_PROBE_MIN_S`), and once they used it all the
rest are skipped, so a solve that cannot improve on the greedy costs
little more than the greedy. A probe may overrun its time (the exact
solvers' set-up is not interrupted: on S1, 64 models × 32 devices, a CP-SAT
probe of 0.1 s takes 0.12–0.5 s on a loaded machine); the overrun comes
out of the later probes' time."""

AUTO_PROBE_MIN_S = 0.1
"""The shortest probe (s). On instances of at most
:data:`AUTO_PROBE_FLOOR_PAIRS` models × devices a probe gets at least this
long; on larger ones a probe that would get less is skipped. Measured in
``bench.solvers``: with 0.05 s the CP-SAT probe on S3 × 4 devices, CV 4,
ran out while preparing its model and lost its 1.2-point gain; on S1, 64
models × 32 devices (bound 0.07 s, greedy 0.15 s: its blocks are triaged)
a 0.1 s probe took 0.12–0.19 s with its set-up and never gained, putting
auto at 1.6–1.8 times the greedy's time."""

AUTO_PROBE_FLOOR_PAIRS = 512
"""Largest models × devices on which a probe gets at least
:data:`AUTO_PROBE_MIN_S` (S3 × 32 devices, where a probe gained 2 points,
has 512), and on which ``auto`` runs the lazy full greedy and the full
greedy on the best plan's groups (on S1, 64 models × 32 devices, the
latter took 4 s against the default's 0.2 s and gained nothing)."""

BOUND_SHARE = 0.1
"""Most of the remaining time the certified bound may take (and at most
:data:`planner.placement.bound.STATIC_BOUND_TIME_S`)."""

RUNNERS = {
    "greedy": "planner.placement.solve:solve_greedy",
    "cpsat": "planner.placement.cpsat:solve_cpsat",
    "milp": "planner.placement.milp:solve_milp",
    "lns": "planner.placement.lns:solve_lns",
    "sr": "planner.placement.baselines:solve_selective_replication",
}
"""Solver name → ``module:function`` taking ``(scorer, options, deadline,
progress)`` (a :class:`Runner`); imported on first use, so that the
optional solver libraries (OR-Tools, PuLP) load only when asked for."""

SEEDED_SOLVERS = ("cpsat", "milp", "lns")
"""The runners that start from a greedy plan: they also take the keyword
``seed`` (a :class:`SeededRunner`), a greedy result the caller already
computed; without it they run the best greedy themselves
(:func:`planner.placement.seeded.seed_run`)."""

Progress = Callable[[float, str], None]


class Runner(Protocol):
    """A solver of :data:`RUNNERS`."""

    def __call__(
        self,
        scorer: Scorer,
        options: SolveOptions,
        deadline: Deadline,
        progress: Progress | None = None,
        /,
    ) -> SolveResult: ...


class SeededRunner(Protocol):
    """A solver of :data:`SEEDED_SOLVERS`."""

    def __call__(
        self,
        scorer: Scorer,
        options: SolveOptions,
        deadline: Deadline,
        progress: Progress | None = None,
        /,
        *,
        seed: EnumerationResult | None = None,
    ) -> SolveResult: ...


DEFAULT_SOLVE_OPTIONS = SolveOptions()


def greedy_result(scorer: Scorer, found: EnumerationResult, wall_s: float) -> SolveResult:
    """The greedy's result for an enumeration that took ``wall_s`` seconds."""
    return SolveResult(
        placement=found.placement,
        attainment=scorer.attainment(found.served),
        solver="greedy",
        status="timeout" if found.timed_out else "heuristic",
        wall_s=wall_s,
        log=found.log,
        stats={
            "blocks_solved": found.blocks_solved,
            "blocks_pruned_by_bound": found.blocks_pruned_by_bound,
            "blocks_ranked_out": found.blocks_ranked_out,
            "blocks_total": found.blocks_total,
            "candidates": found.candidates,
            "replicas": found.placement.num_replicas,
        },
    )


def solve_greedy(
    scorer: Scorer,
    options: SolveOptions,
    deadline: Deadline,
    progress: Progress | None = None,
) -> SolveResult:
    """Enumeration + greedy (see :mod:`planner.placement.enumeration`)."""
    start = time.monotonic()
    found = enumerate_placements(scorer, options, deadline=deadline, progress=progress)
    return greedy_result(scorer, found, time.monotonic() - start)


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
    bound = (
        static_bound(
            instance, time_limit_s=min(STATIC_BOUND_TIME_S, BOUND_SHARE * deadline.remaining_s())
        )
        if options.certify
        else None
    )
    upper_bound = None if bound is None else bound.attainment
    if solver == "auto":
        result = solve_auto(scorer, options, deadline, progress, upper_bound)
    else:
        result = _runner(solver)(scorer, options, deadline, progress)
    result = dataclasses.replace(
        result,
        unplaced=unplaced,
        upper_bound=upper_bound,
        stats={
            **result.stats,
            **({} if bound is None else {"bound_method": bound.method, "bound_s": bound.wall_s}),
        },
    )
    _check(scorer, result)
    if progress is not None:
        left_out = (
            f"; {len(unplaced)} of {len(instance.models)} models fit nowhere" if unplaced else ""
        )
        progress(
            1.0,
            f"{result.solver}: attainment {result.attainment:.4f} ({result.status}), "
            + ("bound not computed" if upper_bound is None else f"bound {upper_bound:.4f}")
            + left_out,
        )
    return result


def _runner(solver: str) -> Runner:
    module, function = RUNNERS[solver].split(":")
    return cast(Runner, getattr(importlib.import_module(module), function))


def _seeded_runner(solver: str) -> SeededRunner:
    if solver not in SEEDED_SOLVERS:
        raise ValueError(f"solver: {solver!r} does not start from a greedy seed")
    module, function = RUNNERS[solver].split(":")
    return cast(SeededRunner, getattr(importlib.import_module(module), function))


def solve_auto(
    scorer: Scorer,
    options: SolveOptions,
    deadline: Deadline,
    progress: Progress | None,
    bound: float | None,
) -> SolveResult:
    """The ``auto`` policy (module docstring). ``bound`` is the certified
    bound on attainment (None: not computed, auto never stops by it); the
    result is the best plan by the simulator, its ``stats["auto"]`` says
    what ran (``ran``), the greedy mode of the best greedy plan and why it
    stopped (``stopped``: ``"bound"``, ``"time"`` or ``"done"``)."""
    start = time.monotonic()
    tolerance = options.auto_tolerance_points / 100

    def settled(attainment: float) -> bool:
        return bound is not None and bound - attainment <= tolerance

    pairs = scorer.num_models * scorer.instance.cluster.num_devices
    greedy = best_greedy(
        scorer,
        options,
        deadline,
        progress_stage(progress, 0.0, 0.5),
        enough=1.0 if bound is None else bound - tolerance,
        refine=pairs <= AUTO_PROBE_FLOOR_PAIRS,
    )
    best = greedy_result(scorer, greedy.result, greedy.wall_s)
    ran, log = list(greedy.ran), [*greedy.result.log, f"auto: {greedy.why}"]
    stopped = "done"
    allowance_s = AUTO_PROBE_SHARE * greedy.wall_s
    probes_s = 0.0
    for name in (name for name in AUTO_EXACT_SOLVERS if name in SEEDED_SOLVERS):
        if settled(best.attainment):
            break
        if deadline.expired():
            stopped = "time"
            break
        if probes_s >= allowance_s and probes_s > 0:
            log.append(
                f"auto: no {name} probe: the probes took {probes_s:.2f} s of their "
                f"{allowance_s:.2f} s"
            )
            continue
        probe_s = allowance_s - probes_s
        if probe_s < AUTO_PROBE_MIN_S and pairs > AUTO_PROBE_FLOOR_PAIRS:
            log.append(
                f"auto: no {name} probe: {probe_s:.2f} s is less than {AUTO_PROBE_MIN_S} s "
                f"on {pairs} models x devices"
            )
            continue
        probe_s = max(AUTO_PROBE_MIN_S, probe_s)
        probe = Deadline.after(min(probe_s, deadline.remaining_s()))
        runner = _seeded_runner(name)
        probe_start = time.monotonic()
        result = runner(
            scorer, options, probe, progress_stage(progress, 0.5, 0.6), seed=greedy.result
        )
        probes_s += time.monotonic() - probe_start
        ran.append(name)
        gained = result.attainment - best.attainment
        log.append(
            f"auto: {name} probe of {probe_s:.2f} s {result.attainment:.4f} ({result.status})"
        )
        best = result if gained > 0 else best
        if gained > tolerance and result.status != "optimal" and not deadline.expired():
            result = runner(
                scorer, options, deadline, progress_stage(progress, 0.6, 1.0), seed=greedy.result
            )
            log.append(f"auto: {name} with the time left {result.attainment:.4f} ({result.status})")
            best = result if result.attainment > best.attainment else best
    if settled(best.attainment):
        stopped = "bound"
    log.append(
        f"auto: ran {', '.join(ran)}; best {best.solver} {best.attainment:.4f}, bound "
        + ("not computed" if bound is None else f"{bound:.4f}")
        + f", stopped: {stopped}"
    )
    return dataclasses.replace(
        best,
        wall_s=time.monotonic() - start,
        log=tuple(log) if best.solver == "greedy" else (*log, *best.log),
        stats={
            **best.stats,
            "auto": {"ran": ran, "greedy_mode": greedy.mode, "stopped": stopped},
        },
    )


def _check(scorer: Scorer, result: SolveResult) -> None:
    """Every returned placement is validated, and its reported attainment
    must be the simulator's (a mismatch is a solver bug)."""
    simulated = scorer.case.run(result.placement, check=True).attainment
    if not math.isclose(simulated, result.attainment, rel_tol=0, abs_tol=1e-12):
        raise RuntimeError(
            f"{result.solver}: reported attainment {result.attainment} but the simulator "
            f"gives {simulated}"
        )
    if result.upper_bound is not None and simulated > result.upper_bound + 1e-9:
        raise RuntimeError(
            f"{result.solver}: attainment {simulated} beats the certified bound "
            f"{result.upper_bound} (a bound bug)"
        )
