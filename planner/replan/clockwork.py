"""Clockwork++, the time-varying baseline of the AlpaServe evaluation: the
workload is cut into windows of ``window_s`` seconds and Selective
Replication (:mod:`planner.placement.baselines`) is re-solved on each
window's own requests, giving one placement per window. As in that
evaluation, switching between window placements is free: the plan's
attainment is simulated on a copy of the cluster whose loads take no time
(:func:`instant_load`). Real switching costs are the business of
:mod:`planner.replan.loop`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.deadline import Deadline
from planner.domain import Cluster, TimedPlan
from planner.placement.baselines import replicate
from planner.placement.feasibility import check_some_fit
from planner.placement.options import SolveOptions
from planner.placement.scoring import Scorer
from planner.replan.options import check_seconds
from planner.sim import Instance, compile_case
from planner.workloads.windows import window_workload

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class InstantLoadCluster(Cluster):
    """A cluster whose loads take no time: :meth:`load_time_s` is exactly
    0.0 s, so switches cost nothing and lose no service (no float residue
    from a finite bandwidth). Never equal to a :class:`Cluster`."""

    def load_time_s(self, weight_bytes_per_device: int) -> float:
        return 0.0


def instant_load(cluster: Cluster) -> Cluster:
    """The cluster with loads that take no time."""
    fields = {f.name: getattr(cluster, f.name) for f in dataclasses.fields(Cluster)}
    return InstantLoadCluster(**fields)


@dataclass(frozen=True)
class ClockworkOptions:
    """How to run Clockwork++ (checked when built, ValueError naming the field).

    - ``window_s``: re-placement period (s), finite and > 0; None: a sixth
      of the workload.
    - ``time_limit_s``: seconds for the whole run, finite and > 0; each
      window's solve may use an even share of what is left when it starts.
    - ``solver``: knobs of each window's Selective Replication (``seed``,
      ``greedy_mode``, ``beam_width``, ``top_models``).
    """

    window_s: float | None = None
    time_limit_s: float = 60.0
    solver: SolveOptions = field(default_factory=SolveOptions)

    def __post_init__(self) -> None:
        if self.window_s is not None:
            check_seconds("window_s", self.window_s)
        check_seconds("time_limit_s", self.time_limit_s)


@dataclass(frozen=True)
class ClockworkResult:
    """A Clockwork++ run: the timed plan (one step per window), its
    attainment simulated on the instance with switches at no cost, wall
    seconds, ``status`` (``timeout`` when a window's solve stopped at its
    deadline, else ``heuristic``), a log, ``stats`` (windows, window_s) and
    ``unplaced``: model name → why it fits no group (its requests are
    misses), as in a static solve's result."""

    plan: TimedPlan
    attainment: float
    status: str
    wall_s: float
    log: tuple[str, ...]
    stats: Mapping[str, Any]
    unplaced: Mapping[str, str] = field(default_factory=dict)

    @property
    def strategy(self) -> str:
        return "clockwork"


def clockwork(
    instance: Instance, options: ClockworkOptions, progress: Progress | None = None
) -> ClockworkResult:
    """Clockwork++ on ``instance`` (module docstring); ``progress(fraction,
    message)`` is called after every window. The models that fit no group
    of the cluster under any config are left out and listed in
    ``unplaced``; :class:`planner.placement.solution.InfeasibleError` when
    none fits."""
    unplaced = check_some_fit(instance.cluster, instance.models)
    start = time.monotonic()
    deadline = Deadline.after(options.time_limit_s)
    workload = instance.workload
    window_s = options.window_s or workload.duration_s / 6
    starts = np.arange(0.0, workload.duration_s, window_s)
    steps = []
    timed_out = False
    for k, window_start in enumerate(starts):
        part = window_workload(
            workload, window_start, min(window_start + window_s, workload.duration_s)
        )
        scorer = Scorer(dataclasses.replace(instance, workload=part))
        # the windows left share the time left evenly
        share = deadline.share(1 / (len(starts) - k))
        placement, _, late = replicate(scorer, options.solver, share)
        timed_out |= late
        steps.append((float(window_start), placement))
        if progress is not None:
            progress((k + 1) / len(starts), f"window {k + 1}/{len(starts)} placed")
    plan = TimedPlan(tuple(steps))
    log = [f"clockwork: {len(steps)} windows of {window_s:g} s, switching at no cost"]
    log += [f"{name}: fits nowhere, not placed: it {why}" for name, why in unplaced.items()]
    free = dataclasses.replace(instance, cluster=instant_load(instance.cluster))
    return ClockworkResult(
        plan=plan,
        attainment=compile_case(free).run(plan).attainment,
        status="timeout" if timed_out else "heuristic",
        wall_s=time.monotonic() - start,
        log=tuple(log),
        stats={"windows": len(steps), "window_s": window_s},
        unplaced=unplaced,
    )
