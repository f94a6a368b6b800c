"""Build a :class:`ReplanReport`: run static placement and re-placement
strategies on one or more cases (model set × workload), record each one's
attainment over time with its switches, and find each one's capacity (the
largest rate scale at the target attainment, :mod:`planner.evaluation.capacity`).

Strategies (:data:`STRATEGIES`):

- ``static``: one plan for the whole workload (``solver``);
- ``periodic/oracle``, ``periodic/forecast``, ``triggered/oracle``,
  ``triggered/forecast``: re-placement (:mod:`planner.replan.timed`) with
  that trigger and information mode (forecasts by ``forecaster``);
- ``clockwork``: the Clockwork++ baseline's per-window Selective
  Replication (:mod:`planner.replan.timed`), simulated with the real
  switching cost;
  ``clockwork-free``: the same plan with switches at no cost, as the
  reference evaluation counts it.

Every run is scored with the first window left out (``warmup_s =
window_s``: re-placement bootstraps on it). A case at rate scale ``s`` uses
the workload itself for ``s = 1`` and otherwise fresh Gamma arrivals fitted
per window with every rate times ``s`` (:func:`planner.workloads.redraw`).
Each strategy's capacity search starts at the timelines' rate scale with
the timeline's own run, so the capacity row and the case table rest on one
measurement there (plans solved under a wall-clock deadline differ from
run to run when a solve is cut short).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.codec import encode
from planner.deadline import Deadline
from planner.domain import Cluster, ModelSpec, TimedPlan, Workload
from planner.evaluation.baselines import clockwork_run
from planner.evaluation.capacity import MaxScale, max_rate_scale
from planner.evaluation.reports.names import DEFAULT_STRATEGIES, STRATEGIES
from planner.evaluation.reports.replan_data import (
    CapacityRow,
    ReplanReport,
    StrategyTimeline,
    SwitchLoss,
)
from planner.placement.solve import SOLVERS, solve
from planner.replan.clockwork import instant_load
from planner.replan.forecast import make_forecaster
from planner.replan.options import ReplanOptions
from planner.replan.timed import plan_over_time
from planner.replan.transition import switch_cost
from planner.sim import Instance, Outcome, SimOptions, SimResult, as_timed_plan, compile_case
from planner.workloads import redraw

Progress = Callable[[int, int, str], None]
"""``progress(done, total, message)``; ``done`` may repeat with new messages."""

MIN_RATE_SCALE = 1 / 16
MAX_RATE_SCALE = 64.0
"""The capacity search tries rate scales in this range (a strategy that
fails at the lowest gets no max rate: it lies below the lowest tried)."""

NOTES = {
    "clockwork": "real switching cost",
    "clockwork-free": "switches at no cost (as published)",
}
CUT_SHORT = "a solve stopped at its time limit"


@dataclass(frozen=True)
class ReplanSettings:
    """What :func:`build_replan` runs: ``strategies`` (names of
    :data:`STRATEGIES`, ``static`` first when present), windows of
    ``window_s`` seconds, ``solver`` with ``time_limit_s`` per solve,
    timelines at ``rate_scale``, capacities at ``target_attainment`` found
    to a relative tolerance ``rel_tol`` (skipped when ``capacity`` is
    false)."""

    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    window_s: float = 60.0
    solver: str = "greedy"
    time_limit_s: float = 10.0
    rate_scale: float = 1.0
    target_attainment: float = 0.99
    rel_tol: float = 0.1
    capacity: bool = True
    forecaster: str = "ewma"
    max_batch: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.strategies:
            raise ValueError("strategies: needs at least one strategy")
        for name in self.strategies:
            if name not in STRATEGIES:
                raise ValueError(
                    f"strategies: unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}"
                )
        if len(set(self.strategies)) != len(self.strategies):
            raise ValueError(f"strategies: lists a strategy twice: {', '.join(self.strategies)}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver: must be one of {', '.join(SOLVERS)}; got {self.solver!r}")
        for name in ("window_s", "time_limit_s", "rate_scale", "rel_tol"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 < value < float("inf")):
                raise ValueError(f"{name}: must be a finite number > 0, got {value!r}")
        if not 0 < self.target_attainment <= 1:
            raise ValueError(
                f"target_attainment: must be in (0, 1], got {self.target_attainment!r}"
            )
        make_forecaster(self.forecaster)
        SimOptions(max_batch=self.max_batch)

    @classmethod
    def quick(cls, **changes: Any) -> ReplanSettings:
        """Shorter solves and a coarser capacity search."""
        return dataclasses.replace(cls(time_limit_s=3.0, rel_tol=0.25), **changes)

    @property
    def sim(self) -> SimOptions:
        """How every run is scored: the first window is the warm-up."""
        return SimOptions(max_batch=self.max_batch, warmup_s=self.window_s)


@dataclass(frozen=True)
class ReplanCase:
    """One cluster, model set and workload to compare strategies on;
    ``model_set`` and ``workload_name`` label it in the report."""

    model_set: str
    workload_name: str
    cluster: Cluster
    models: tuple[ModelSpec, ...]
    workload: Workload

    def label(self, rate_scale: float) -> str:
        return f"{self.model_set} / {self.workload_name} @ rate x{rate_scale:g}"


@dataclass(frozen=True)
class Run:
    """A strategy's plan and its simulation; ``cluster`` is the one it was
    simulated on (instant loads for ``clockwork-free``); ``cut_short``: a
    solve stopped at its time limit, so the plan is what it had by then."""

    plan: TimedPlan
    sim: SimResult
    cluster: Cluster
    cut_short: bool = False

    def note(self, strategy: str) -> str:
        """How the strategy's switching was counted, and whether a solve
        was cut short (the report's ``note`` column)."""
        notes = [NOTES.get(strategy, ""), CUT_SHORT if self.cut_short else ""]
        return "; ".join(note for note in notes if note)


def scaled(workload: Workload, rate_scale: float, window_s: float, seed: int) -> Workload:
    """The workload at ``rate_scale`` (module docstring)."""
    if rate_scale == 1.0:
        return workload
    return redraw(workload, min(window_s, workload.duration_s), seed, rate_scale=rate_scale)


def case_instance(case: ReplanCase, settings: ReplanSettings, rate_scale: float) -> Instance:
    """The case at ``rate_scale``, scored as every run is (``settings.sim``)."""
    workload = scaled(case.workload, rate_scale, settings.window_s, settings.seed)
    return Instance(case.cluster, case.models, workload, settings.sim)


def run_strategy(strategy: str, instance: Instance, settings: ReplanSettings) -> Run:
    """Plan the instance's workload with ``strategy`` and simulate the plan
    on it (``instance.options`` is ``settings.sim``)."""
    if strategy == "static":
        # solved as it is scored: max_batch, and the first window as warm-up
        deadline = Deadline.after(settings.time_limit_s)
        found = solve(instance, solver=settings.solver, deadline=deadline)
        plan = as_timed_plan(found.placement)
        sim = compile_case(instance).run(plan)
        return Run(plan, sim, instance.cluster, found.status == "timeout")
    if strategy.startswith("clockwork"):
        timed = clockwork_run(instance, settings.window_s, settings.time_limit_s)
        if strategy == "clockwork-free":
            instance = dataclasses.replace(instance, cluster=instant_load(instance.cluster))
        sim = compile_case(instance).run(timed.plan)
        return Run(timed.plan, sim, instance.cluster, timed.status == "timeout")
    trigger, information = strategy.split("/")
    options = ReplanOptions(
        window_s=settings.window_s,
        information=information,
        forecaster=make_forecaster(settings.forecaster),
        trigger=trigger,
        solver=settings.solver,
        time_limit_s=settings.time_limit_s,
        seed=settings.seed,
    )
    result = plan_over_time(instance, options)
    return Run(result.plan, result.result, instance.cluster, result.status == "timeout")


def switch_losses(run: Run, models: Sequence[ModelSpec], window_s: float) -> tuple[SwitchLoss, ...]:
    """Every step of the run's plan that changes the placement, with its
    load cost and the scored requests that found no loaded replica until
    the next step."""
    sim = run.sim
    unavailable = sim.scored & (sim.outcome == Outcome.UNAVAILABLE)
    steps = run.plan.steps
    losses = []
    for k in range(1, len(steps)):
        start, placement = steps[k]
        if placement == steps[k - 1][1]:
            continue
        end = steps[k + 1][0] if k + 1 < len(steps) else sim.duration_s
        cost = switch_cost(run.cluster, models, steps[k - 1][1], placement)
        during = unavailable & (sim.arrival_s >= start) & (sim.arrival_s < end)
        losses.append(
            SwitchLoss(
                window=int(start // window_s),
                start_s=start,
                replicas_loaded=cost.replicas_loaded,
                load_s=cost.load_s,
                lost_replica_s=cost.lost_replica_s,
                lost_requests=int(np.count_nonzero(during)),
            )
        )
    return tuple(losses)


def timeline(
    case: str,
    strategy: str,
    run: Run,
    models: Sequence[ModelSpec],
    window_s: float,
    rate_scale: float = 1.0,
) -> StrategyTimeline:
    """The run's attainment per window and its switches; the run was on
    the case's traffic at ``rate_scale``."""
    per_window = run.sim.per_window_attainment(window_s)
    return StrategyTimeline(
        case=case,
        strategy=strategy,
        attainment=run.sim.attainment,
        window_s=window_s,
        window_attainment=tuple(None if np.isnan(a) else float(a) for a in per_window),
        switches=switch_losses(run, models, window_s),
        note=run.note(strategy),
        rate_scale=rate_scale,
    )


class _Steps:
    def __init__(self, total: int, progress: Progress | None) -> None:
        self.done, self.total, self.progress = 0, total, progress

    def say(self, message: str, advance: bool = False) -> None:
        self.done += int(advance)
        if self.progress is not None:
            self.progress(self.done, self.total, message)


def capacity_rows(
    case: ReplanCase,
    label: str,
    shared: Mapping[str, Run],
    settings: ReplanSettings,
    steps: _Steps,
) -> tuple[CapacityRow, ...]:
    """Each strategy's largest rate scale at the target attainment. The
    search starts at ``settings.rate_scale`` with the run ``shared`` holds
    for the strategy, the one of the timeline on ``label``: measured once,
    a strategy meets the target at that scale in both tables or in neither
    (a solve stopped by its wall-clock deadline need not repeat its plan)."""
    found: dict[str, tuple[MaxScale, Run | None]] = {}
    for strategy in settings.strategies:
        runs = {settings.rate_scale: shared[strategy]}

        def evaluate(
            scale: float, strategy: str = strategy, runs: dict[float, Run] = runs
        ) -> float:
            if scale not in runs:
                instance = case_instance(case, settings, scale)
                runs[scale] = run_strategy(strategy, instance, settings)
            steps.say(f"{case.model_set}/{case.workload_name} {strategy}: rate x{scale:.3g}")
            return runs[scale].sim.attainment

        search = max_rate_scale(
            evaluate,
            target=settings.target_attainment,
            start=settings.rate_scale,
            rel_tol=settings.rel_tol,
            min_scale=min(MIN_RATE_SCALE, settings.rate_scale),
            max_scale=max(MAX_RATE_SCALE, settings.rate_scale),
        )
        found[strategy] = (search, None if search.scale is None else runs[search.scale])
        steps.say(f"{strategy}: max rate {rate_words(search)}", advance=True)
    static = found["static"][0].scale if "static" in found else None
    rows = []
    for strategy, (search, run) in found.items():
        losses = () if run is None else switch_losses(run, case.models, settings.window_s)
        scale = search.scale
        rows.append(
            CapacityRow(
                model_set=case.model_set,
                workload=case.workload_name,
                strategy=strategy,
                max_rate=scale,
                ratio_to_static=None if scale is None or static is None else scale / static,
                switches=len(losses),
                lost_replica_s=sum((loss.lost_replica_s for loss in losses), 0.0),
                note=NOTES.get(strategy, "") if run is None else run.note(strategy),
                lowest_rate_tried=search.lowest_tried,
                case=label,
            )
        )
    return tuple(rows)


def rate_words(search: MaxScale) -> str:
    """The search's answer for a progress line: ``x1.41``, or that even
    the lowest scale tried failed."""
    if search.scale is None:
        return f"below the lowest rate tried (x{search.lowest_tried:.3g})"
    return f"x{search.scale:.3g}"


def build_replan(
    cases: Sequence[ReplanCase],
    settings: ReplanSettings,
    *,
    title: str = "Static vs re-placement",
    progress: Progress | None = None,
) -> ReplanReport:
    """Timelines of every strategy on every case at ``settings.rate_scale``
    and, unless ``settings.capacity`` is false, the capacity table."""
    if not cases:
        raise ValueError("cases: needs at least one model set and workload")
    per_case = len(settings.strategies) * (2 if settings.capacity else 1)
    steps = _Steps(per_case * len(cases), progress)
    timelines = []
    capacity: list[CapacityRow] = []
    for case in cases:
        instance = case_instance(case, settings, settings.rate_scale)
        label = case.label(settings.rate_scale)
        runs: dict[str, Run] = {}
        for strategy in settings.strategies:
            runs[strategy] = run = run_strategy(strategy, instance, settings)
            timelines.append(
                timeline(label, strategy, run, case.models, settings.window_s, settings.rate_scale)
            )
            steps.say(f"{label}: {strategy} {run.sim.attainment:.4f}", advance=True)
        if settings.capacity:
            capacity += capacity_rows(case, label, runs, settings, steps)
    inputs = {
        "cases": [
            {
                "model_set": c.model_set,
                "workload": c.workload_name,
                "cluster": encode(c.cluster),
                "models": len(c.models),
                "requests": c.workload.num_requests,
                "duration_s": c.workload.duration_s,
            }
            for c in cases
        ],
        "settings": encode(settings),
    }
    return ReplanReport(
        title=title,
        inputs=inputs,
        target_attainment=settings.target_attainment,
        capacity=tuple(capacity),
        timelines=tuple(timelines),
    )
