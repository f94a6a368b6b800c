"""How many devices a model set needs: the smallest device count at which a
strategy's simulated SLO attainment on a workload reaches a target.

The cluster is a template: memory per device, devices per node and load
bandwidth are kept, only ``num_devices`` varies. Counts tried
(:func:`device_counts`) are every count within one node (1, 2, ...,
``devices_per_node``) and whole nodes above that (2, 3, ... nodes), up to
``max_devices``: an operator buys nodes, and groups never straddle a
partial node.

Each strategy is searched on its own (:func:`search`): the largest count is
tried first; when it fails the answer is "above that many devices"
(``devices`` None). Otherwise bisection over the counts keeps a failing
count below a passing one, so the answer's neighbour below was evaluated
and failed; then the counts two below and one above the answer are
evaluated too (when not already), so the curve around the answer is seen.
Attainment is not guaranteed to grow with devices (a heuristic on a larger
cluster may score lower), so the answer is the smallest passing count
bisection found, not necessarily the smallest of all; every evaluated count
on the wrong side of the answer (failing above it, passing below it) is
reported in ``non_monotone``.

Strategies: any static solver of :func:`planner.placement.solve.solve`
(``sr`` is Selective Replication) and ``clockwork`` (Clockwork++ through
:func:`planner.replan.timed.plan_over_time`). A point whose solve finds no
placement (a model fits no group on so few devices, or time ran out)
scores attainment 0.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from planner.deadline import Deadline
from planner.domain import Cluster, ModelSpec, Placement, TimedPlan, Workload
from planner.placement.solution import InfeasibleError, SolveTimeoutError
from planner.placement.solve import SOLVERS, solve
from planner.replan.clockwork import ClockworkOptions
from planner.replan.timed import plan_over_time
from planner.sim import Instance, SimOptions

Progress = Callable[[float, str], None]

CLOCKWORK = "clockwork"
STRATEGIES = (*SOLVERS, CLOCKWORK)
"""Names :func:`search` accepts."""

NO_DEADLINE_LIMIT_S = 3600.0
"""Clockwork++ takes a finite time limit: its share of an endless deadline."""


@dataclass(frozen=True)
class Point:
    """One evaluated count: ``devices``, the simulated ``attainment`` (0..1)
    and the solve's ``status`` (``heuristic``, ``optimal``, ``timeout``,
    ``infeasible`` or ``no plan``)."""

    devices: int
    attainment: float
    status: str


@dataclass(frozen=True)
class Answer:
    """One strategy's answer. ``devices``: the smallest passing count found
    (None: even ``largest_tried`` failed, the need is above it);
    ``points``: every evaluated count, sorted by devices; ``non_monotone``:
    evaluated counts failing above the answer or passing below it;
    the plan at the answer, ``placement`` for a static solver or
    ``timed_plan`` for Clockwork++ (both None without an answer)."""

    strategy: str
    devices: int | None
    largest_tried: int
    points: tuple[Point, ...]
    non_monotone: tuple[int, ...] = ()
    placement: Placement | None = None
    timed_plan: TimedPlan | None = None

    @property
    def attainment(self) -> float | None:
        """Attainment at the answer (None without one)."""
        return next((p.attainment for p in self.points if p.devices == self.devices), None)

    def describe(self) -> str:
        """``"12 devices"`` or ``"above 64 devices"``."""
        if self.devices is None:
            return f"above {_devices(self.largest_tried)}"
        return _devices(self.devices)


def _devices(count: int) -> str:
    return f"{count} device" if count == 1 else f"{count} devices"


@dataclass(frozen=True)
class DeviceNeed:
    """The answers of several strategies for one target attainment on one
    template cluster, model set and workload."""

    target: float
    cluster: Cluster
    max_devices: int
    answers: tuple[Answer, ...]


@dataclass(frozen=True)
class Outcome:
    """What one strategy achieved on one cluster size."""

    attainment: float
    status: str
    placement: Placement | None = None
    timed_plan: TimedPlan | None = None


Evaluate = Callable[[Instance, Deadline, Progress | None], Outcome]


def device_counts(devices_per_node: int, max_devices: int) -> tuple[int, ...]:
    """1..``devices_per_node``, then whole nodes, up to ``max_devices``
    (module docstring). ValueError naming ``max_devices`` when below 1."""
    if max_devices < 1:
        raise ValueError(f"max_devices: must be >= 1, got {max_devices}")
    within = range(1, min(devices_per_node, max_devices) + 1)
    nodes = range(2 * devices_per_node, max_devices + 1, devices_per_node)
    return (*within, *nodes)


def static_evaluator(solver: str) -> Evaluate:
    """Score ``solver``'s placement; no placement scores 0."""

    def evaluate(instance: Instance, deadline: Deadline, progress: Progress | None) -> Outcome:
        try:
            result = solve(instance, solver=solver, deadline=deadline, progress=progress)
        except InfeasibleError:
            return Outcome(0.0, "infeasible")
        except SolveTimeoutError:
            return Outcome(0.0, "no plan")
        return Outcome(result.attainment, result.status, placement=result.placement)

    return evaluate


def clockwork_evaluator(
    instance: Instance, deadline: Deadline, progress: Progress | None
) -> Outcome:
    """Score Clockwork++ with the deadline's remaining time as its limit;
    no placement in some window scores 0."""
    remaining = deadline.remaining_s()
    limit = remaining if math.isfinite(remaining) else NO_DEADLINE_LIMIT_S
    options = ClockworkOptions(time_limit_s=max(limit, 1e-3))
    try:
        result = plan_over_time(instance, options, progress=progress)
    except InfeasibleError:
        return Outcome(0.0, "infeasible")
    except SolveTimeoutError:
        return Outcome(0.0, "no plan")
    return Outcome(result.attainment, result.status, timed_plan=result.plan)


def evaluator(strategy: str) -> Evaluate:
    """The evaluator of a strategy name (ValueError naming ``strategy``)."""
    if strategy == CLOCKWORK:
        return clockwork_evaluator
    if strategy in SOLVERS:
        return static_evaluator(strategy)
    raise ValueError(f"strategy: must be one of {', '.join(STRATEGIES)}; got {strategy!r}")


def _steps(count: int) -> int:
    """Evaluations a search needs over ``count`` counts at most: the
    largest, ``ceil(log2(count))`` bisection steps and two around the answer."""
    return 3 + math.ceil(math.log2(count)) if count > 1 else 1


def search(
    strategy: str,
    cluster: Cluster,
    models: Sequence[ModelSpec],
    workload: Workload,
    *,
    target: float,
    max_devices: int,
    deadline: Deadline,
    options: SimOptions | None = None,
    progress: Progress | None = None,
) -> Answer:
    """The smallest count of :func:`device_counts` at which ``strategy``
    reaches ``target`` (module docstring). Each evaluation gets an even
    share of the time left for the ones still to come. ValueError naming
    ``strategy``, ``target`` or ``max_devices`` for bad arguments."""
    if not 0 < target <= 1:
        raise ValueError(f"target: must be in (0, 1], got {target!r}")
    evaluate = evaluator(strategy)
    counts = device_counts(cluster.devices_per_node, max_devices)
    budget = _steps(len(counts))
    outcomes: dict[int, Outcome] = {}

    def passes(index: int) -> bool:
        devices = counts[index]
        sized = Instance(
            dataclasses.replace(cluster, num_devices=devices),
            tuple(models),
            workload,
            options or SimOptions(),
        )
        share = deadline.share(1 / max(budget - len(outcomes), 1))
        report = _within(
            progress, len(outcomes) / budget, 1 / budget, f"{strategy} on {devices} devices"
        )
        outcomes[devices] = evaluate(sized, share, report)
        return outcomes[devices].attainment >= target

    low, high = -1, len(counts) - 1
    if passes(high):
        while high - low > 1:
            middle = (low + high) // 2
            if passes(middle):
                high = middle
            else:
                low = middle
        answer: int | None = counts[high]
        for index in (high - 2, high + 1):
            if 0 <= index < len(counts) and counts[index] not in outcomes:
                passes(index)
    else:
        answer = None
    points = tuple(
        Point(devices, outcome.attainment, outcome.status)
        for devices, outcome in sorted(outcomes.items())
    )
    chosen = outcomes.get(answer) if answer is not None else None
    found = Answer(
        strategy,
        answer,
        counts[-1],
        points,
        non_monotone=_non_monotone(points, answer, target),
        placement=chosen.placement if chosen else None,
        timed_plan=chosen.timed_plan if chosen else None,
    )
    if progress is not None:
        progress(1.0, f"{strategy}: {found.describe()}")
    return found


def _within(
    progress: Progress | None, start: float, span: float, label: str | None = None
) -> Progress | None:
    """``progress`` for a part of the work: fraction ``f`` of the part is
    ``start + f * span`` of the whole; messages prefixed by ``label``."""
    if progress is None:
        return None
    say = progress

    def report(fraction: float, message: str) -> None:
        say(start + fraction * span, f"{label}: {message}" if label else message)

    return report


def _non_monotone(points: Sequence[Point], answer: int | None, target: float) -> tuple[int, ...]:
    """Counts on the wrong side of ``answer``: failing above it or passing
    below it (none without an answer)."""
    if answer is None:
        return ()
    return tuple(p.devices for p in points if (p.attainment >= target) != (p.devices >= answer))


def device_need(
    strategies: Sequence[str],
    cluster: Cluster,
    models: Sequence[ModelSpec],
    workload: Workload,
    *,
    target: float,
    max_devices: int,
    deadline: Deadline,
    options: SimOptions | None = None,
    progress: Progress | None = None,
) -> DeviceNeed:
    """:func:`search` for each of ``strategies`` (repeats dropped), side by
    side; each strategy gets an even share of the time left."""
    names = tuple(dict.fromkeys(strategies))
    if not names:
        raise ValueError("strategies: needs at least one strategy")
    for name in names:
        evaluator(name)
    answers = []
    for i, name in enumerate(names):
        answers.append(
            search(
                name,
                cluster,
                models,
                workload,
                target=target,
                max_devices=max_devices,
                deadline=deadline.share(1 / (len(names) - i)),
                options=options,
                progress=_within(progress, i / len(names), 1 / len(names)),
            )
        )
    return DeviceNeed(target, cluster, max_devices, tuple(answers))
