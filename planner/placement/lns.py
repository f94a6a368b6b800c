"""Large-neighbourhood search (solver ``lns``): the greedy plan improved
by re-solving a few groups at a time with the partition master in CP-SAT.

1. Start: the best greedy seed (at most
   :data:`planner.placement.seeded.SEED_SHARE` of the time,
   :func:`planner.placement.seeded.seed_run`) or the caller's, and the
   calibrated context (:func:`planner.placement.partition.build_context`).
2. A round frees ``lns_groups`` groups per sub-problem, chosen in turn by
   :data:`NEIGHBOURHOODS`: the most loaded groups (estimated
   bottleneck-stage utilisation), the groups hosting the worst-served
   models (most requests missed by the simulator), or at random (seeded).
   A round holds ``lns_round`` sub-problems on disjoint groups, solved on
   the fan-out backend (:mod:`planner.fanout`: ``backend``, ``workers``,
   ``ray_address``) in parallel, or here one after another with one local
   worker; the plan depends on the seed and ``lns_round``, not on where
   the sub-problems ran.
3. A sub-problem is the master (:mod:`planner.placement.master`) on the
   freed devices, over the models the freed groups host and the
   :data:`WORST_MODELS` worst-served ones, with every other group fixed;
   it decides the freed devices' partition, configs and replicas, hinted
   with the current groups. CP-SAT runs on one thread with a deterministic
   time limit of ``lns_move_s`` (so a seed gives one result on any
   machine, however loaded, unless the solve's deadline, sent on the wall
   clock, cuts it short).
4. A sub-problem's solutions (every distinct one CP-SAT reported, best by
   the proxy first) replace the freed groups only if the simulator serves
   more requests than the current plan with them (as solved, with the
   fast-greedy polish, or with the new groups' replicas chosen again by the
   greedy, :func:`planner.placement.partition.refill`); the first accepted
   is the move: the result is never worse than the seed.

Stops at the deadline (status ``timeout``), or (``heuristic``) after
:data:`STALL_ROUNDS` rounds without improvement or when every
neighbourhood's groups were already re-solved as they stand. A progress
report that raises stops the running sub-problems (CP-SAT's
``stop_search`` here; on the fan-out, the pool terminated or the Ray tasks
cancelled) and passes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from planner.deadline import Deadline
from planner.fanout import as_is, fan_out
from planner.placement import master as master_model
from planner.placement.calibration import rate_rps
from planner.placement.columns import layout_columns
from planner.placement.cpsat import PRESOLVE_VARIABLES, CpSatBackend
from planner.placement.enumeration import EnumerationResult
from planner.placement.master import MasterData, Windows
from planner.placement.options import SolveOptions
from planner.placement.partition import (
    CALIBRATION_SHARE,
    Context,
    build_context,
    build_master,
    calibrating,
    layout_value,
    refill,
)
from planner.placement.scoring import Layout, Scorer
from planner.placement.seeded import Run, finish, seed_run
from planner.placement.solution import SolveResult
from planner.placement.watch import POLL_S, in_thread

Progress = Callable[[float, str], None]

NEIGHBOURHOODS = ("loaded", "worst", "random")
"""How a round's groups are chosen, in turn."""

WORST_MODELS = 4
"""Worst-served models added to every sub-problem."""

SUB_SERVED_VARIABLES = 4000
"""Most service variables of a sub-problem (fewer demand windows on large
pools): measured on S3 × 32 devices, a three-group sub-problem with an
exhaustive pool of 650 columns and 12 windows had 23k variables and took
17 s to build and stop, far past its 2 s."""

STALL_ROUNDS = 9
"""Rounds without an improvement after which the search stops."""


@dataclass(frozen=True)
class SubProblem:
    """The master on freed devices (``data``), its starting counts and
    the devices; ``fixed`` is the rest of the plan."""

    data: MasterData
    start: tuple[int, ...]
    devices: tuple[int, ...]
    fixed: Layout
    fixed_devices: tuple[tuple[int, ...], ...]
    label: str


class _Collect(cp_model.CpSolverSolutionCallback):
    """Keeps the column counts of every solution CP-SAT reports."""

    def __init__(self, problem: SubProblem, variables: master_model.MasterVars) -> None:
        super().__init__()
        self.problem = problem
        self.variables = variables
        self.found: list[list[int]] = []

    def on_solution_callback(self) -> None:
        counts = master_model.decode(self.problem.data, self.variables, self.value)
        if counts != list(self.problem.start) and counts not in self.found:
            self.found.append(counts)


def solve_sub(
    problem: SubProblem,
    seed: int,
    move_s: float,
    wall_s: float,
    register: Callable[[Any], None] | None = None,
) -> list[list[int]]:
    """CP-SAT on a sub-problem for ``move_s`` deterministic seconds (at
    most ``wall_s`` seconds): the column counts of every distinct solution
    it reported that differs from the start, best (last) first.
    ``register`` receives the solver (so that it can be stopped)."""
    backend = CpSatBackend()
    variables = master_model.build(backend, problem.data)
    for var, value in master_model.hint(problem.data, variables, problem.start).items():
        backend.model.add_hint(var, value)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_deterministic_time = move_s
    solver.parameters.max_time_in_seconds = wall_s
    if len(backend.model.proto.variables) > PRESOLVE_VARIABLES:
        solver.parameters.cp_model_presolve = False
    if register is not None:
        register(solver)
    collect = _Collect(problem, variables)
    solver.solve(backend.model, collect)
    return collect.found[::-1]


@dataclass(frozen=True)
class MoveLimits:
    """A round's search limits: ``move_s`` deterministic seconds per
    sub-problem with random seed ``seed`` (these fix a sub-problem's
    answer), stopped early only at ``until_wall_s`` (the solve's deadline
    on the wall clock, :meth:`planner.deadline.Deadline.wall_s`, the form
    in which it crosses to another host). No cap on a move's own wall
    time: a loaded host takes longer (0.5 deterministic seconds took 1.7 s
    on a busy two-core machine) but gives the same answer."""

    seed: int
    move_s: float
    until_wall_s: float

    def wall_s(self) -> float:
        """Seconds a sub-problem starting now may take (at least 0.1)."""
        return max(0.1, Deadline.from_wall_s(self.until_wall_s).remaining_s())


def _solve_task(limits: MoveLimits, problem: SubProblem) -> list[list[int]]:
    """One sub-problem in a fan-out process, maybe on another host."""
    return solve_sub(problem, limits.seed, limits.move_s, limits.wall_s())


class Search:
    """The search state: the referee's plan is the current plan."""

    def __init__(self, run: Run, context: Context, options: SolveOptions) -> None:
        self.run = run
        self.context = context
        self.options = options
        self.scorer: Scorer = run.referee.scorer
        self.windows: Windows = context.windows(options.proxy_windows)
        self.rng = np.random.default_rng(options.seed)
        self.rounds = 0
        self.tried = 0
        self.accepted = 0
        self.seen: set[tuple[object, ...]] = set()

    # -- choosing neighbourhoods -------------------------------------------------

    def _load(self, layout: Layout) -> list[float]:
        """Estimated bottleneck utilisation per group: each hosted model's
        rate, split evenly over its replicas, times its request cost."""
        replicas = np.zeros(self.scorer.num_models)
        for hosted in layout.hosted:
            replicas[list(hosted)] += 1
        return [
            sum(
                rate_rps(self.scorer, m) / replicas[m] * self.context.cost_us[m, c] / 1e6
                for m in hosted
                if (m, c) in self.context.cost_us
            )
            for c, hosted in zip(layout.configs, layout.hosted, strict=True)
        ]

    def _worst_models(self) -> list[int]:
        missed = self.scorer.demand - self.run.referee.served
        order = np.lexsort((np.arange(missed.size), -missed))
        return [int(m) for m in order if missed[m] > 0 and m in self.context.curves]

    def _ranked_groups(self, strategy: str, layout: Layout) -> list[int]:
        groups = list(range(len(layout.configs)))
        if strategy == "loaded":
            load = self._load(layout)
            return sorted(groups, key=lambda g: (-load[g], g))
        if strategy == "worst":
            worst = self._worst_models()
            rank = {m: r for r, m in enumerate(worst)}
            load = self._load(layout)

            def key(g: int) -> tuple[float, float, int]:
                best = min((rank.get(m, len(rank)) for m in layout.hosted[g]), default=len(rank))
                return (best, load[g], g)

            return sorted(groups, key=key)
        return [int(g) for g in self.rng.permutation(len(groups))]

    def neighbourhoods(self) -> list[tuple[str, list[int]]]:
        """This round's disjoint sets of groups to free, at most ``lns_round``."""
        layout = self.run.referee.layout
        size = min(self.options.lns_groups, len(layout.configs))
        taken: set[int] = set()
        chosen = []
        for k in range(self.options.lns_round):
            strategy = NEIGHBOURHOODS[(self.rounds + k) % len(NEIGHBOURHOODS)]
            ranked = [g for g in self._ranked_groups(strategy, layout) if g not in taken]
            for head in ranked:
                # the first group by the strategy not tried in this plan yet,
                # the rest drawn from the next few
                pool = [g for g in ranked if g != head][: 2 * size]
                rest = [int(g) for g in self.rng.permutation(pool)[: size - 1]]
                picked = sorted([head, *rest])
                key = self._key(picked)
                if key not in self.seen:
                    self.seen.add(key)
                    taken.update(picked)
                    chosen.append((strategy, picked))
                    break
        return chosen

    def _key(self, groups: Sequence[int]) -> tuple[object, ...]:
        """Identifies freed groups by what they are, so that a neighbourhood
        is not re-solved while those groups stay unchanged."""
        referee = self.run.referee
        layout = referee.layout
        return tuple(
            sorted((referee.devices[g], layout.configs[g], layout.hosted[g]) for g in groups)
        )

    # -- sub-problems ---------------------------------------------------------------

    def sub_problem(self, strategy: str, freed: Sequence[int]) -> SubProblem:
        referee = self.run.referee
        layout, devices = referee.layout, referee.devices
        keep = [g for g in range(len(layout.configs)) if g not in freed]
        fixed = Layout(
            tuple(layout.configs[g] for g in keep), tuple(layout.hosted[g] for g in keep)
        )
        freed_layout = Layout(
            tuple(layout.configs[g] for g in freed), tuple(layout.hosted[g] for g in freed)
        )
        models = sorted(
            {m for g in freed for m in layout.hosted[g]} | set(self._worst_models()[:WORST_MODELS])
        )
        free_devices = tuple(sorted(d for g in freed for d in devices[g]))
        data, _ = build_master(
            self.context,
            models,
            len(free_devices),
            layout_columns(freed_layout),
            len(self.windows.demand),
            fixed,
            SUB_SERVED_VARIABLES,
        )
        return SubProblem(
            data=data,
            start=tuple(master_model.counts_of(data, freed_layout)),
            devices=free_devices,
            fixed=fixed,
            fixed_devices=tuple(devices[g] for g in keep),
            label=f"{strategy} groups {list(freed)}",
        )

    def apply(self, problem: SubProblem, counts: Sequence[int]) -> bool:
        """Offer the plan with the freed groups replaced; True if kept."""
        placed, new = master_model.place(problem.data, counts, problem.devices)
        layout = Layout(problem.fixed.configs + new.configs, problem.fixed.hosted + new.hosted)
        devices = (*problem.fixed_devices, *placed)
        referee = self.run.referee
        kept = referee.offer(layout, devices)
        again = refill(self.scorer, layout, self.run.deadline, keep=len(problem.fixed.configs))
        return referee.consider(again, devices, None) or kept


def _solve_here(
    problem: SubProblem, limits: MoveLimits, report: Callable[[], None]
) -> list[list[int]]:
    """One sub-problem on a background thread, stopped when ``report``
    raises: ``stop_search`` is repeated until the search has returned (a
    stop that comes before CP-SAT starts would otherwise be lost)."""
    solvers: list[Any] = []
    done = threading.Event()

    def work() -> list[list[int]]:
        try:
            return solve_sub(problem, limits.seed, limits.move_s, limits.wall_s(), solvers.append)
        finally:
            done.set()

    def stop() -> None:
        while not done.wait(POLL_S / 5):
            for solver in solvers:
                solver.stop_search()

    return in_thread(work, report, stop)


def solve_round(
    problems: Sequence[SubProblem],
    options: SolveOptions,
    deadline: Deadline,
    report: Callable[[], None],
) -> list[list[list[int]]]:
    """Every sub-problem's solutions, in order: here, one after another,
    with one local worker (or one sub-problem on the local backend), else
    on the fan-out ``options.backend`` names, reporting every
    :data:`POLL_S` meanwhile. When ``report`` raises the sub-problems are
    stopped and the exception passes on."""
    move_s = min(options.lns_move_s, max(0.1, deadline.remaining_s()))
    limits = MoveLimits(options.seed, move_s, deadline.wall_s())
    local = options.backend == "local"
    if local and (options.workers <= 1 or len(problems) <= 1):
        return [_solve_here(problem, limits, report) for problem in problems]
    # a local pool needs no more processes than sub-problems; a Ray started
    # for this process is sized once, by the first map, for every later one
    workers = min(options.workers, len(problems)) if local else options.workers
    runner = fan_out(options.backend, workers=workers, address=options.ray_address)
    answers: list[list[list[int]]] = [[] for _ in problems]
    for index, solutions in runner.map_unordered(
        as_is, _solve_task, limits, problems, idle=report, idle_s=POLL_S
    ):
        answers[index] = solutions
    return answers


def search_until(search: Search, deadline: Deadline, report: Callable[[], None]) -> int:
    """Rounds until the deadline, :data:`STALL_ROUNDS` rounds without a
    kept move, or no untried neighbourhood; returns the idle rounds."""
    referee = search.run.referee
    stalls = 0
    while not deadline.expired() and stalls < STALL_ROUNDS:
        chosen = search.neighbourhoods()
        if not chosen:
            break
        problems = [search.sub_problem(strategy, freed) for strategy, freed in chosen]
        answers = solve_round(problems, search.options, deadline, report)
        improved = False
        for problem, solutions in zip(problems, answers, strict=True):
            search.tried += 1
            # the sub-problem's solutions, best by the proxy first; the first
            # the simulator accepts is the move
            if any(search.apply(problem, counts) for counts in solutions):
                search.accepted += 1
                improved = True
                referee.log.append(
                    f"lns: round {search.rounds} {problem.label}: attainment "
                    f"{search.scorer.attainment(referee.served):.4f}"
                )
        search.rounds += 1
        stalls = 0 if improved else stalls + 1
    return stalls


def solve_lns(
    scorer: Scorer,
    options: SolveOptions,
    deadline: Deadline,
    progress: Progress | None = None,
    *,
    seed: EnumerationResult | None = None,
) -> SolveResult:
    """LNS placement (module docstring). Starts from ``seed`` when
    given (a greedy result the caller computed), else from the best greedy
    (:func:`planner.placement.seeded.seed_run`)."""
    run = seed_run(scorer, options, deadline, progress, seed)
    context = build_context(
        scorer,
        options,
        run.seed.layout.configs,
        deadline.share(CALIBRATION_SHARE),
        calibrating(progress),
    )
    search = Search(run, context, options)
    referee = run.referee
    referee.value = lambda layout: layout_value(context, search.windows, layout)
    referee.visited.append((referee.value(referee.layout), scorer.attainment(referee.served)))
    start_s = time.monotonic()

    def report() -> None:
        if progress is not None:
            progress(
                run.fraction(),
                f"lns: round {search.rounds}, {search.accepted} of {search.tried} moves kept, "
                f"attainment {scorer.attainment(referee.served):.4f}; {run.elapsed()}",
            )

    stalls = search_until(search, deadline, report)
    timed_out = deadline.expired()
    return finish(
        "lns",
        run,
        status="timeout" if timed_out else "heuristic",
        objective=None,
        bound=None,
        scale=1,
        log=(
            f"lns: {search.rounds} rounds, {search.accepted} of {search.tried} moves kept in "
            f"{time.monotonic() - start_s:.1f} s"
            + (" (time limit)" if timed_out else f" (stopped after {stalls} idle rounds)"),
        ),
        stats={
            "rounds": search.rounds,
            "moves_tried": search.tried,
            "moves_kept": search.accepted,
            "windows": len(search.windows.demand),
        },
    )
