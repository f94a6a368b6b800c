"""Baselines of the AlpaServe evaluation, for reports.

- **Selective Replication** (``sr``): every device is its own group with
  ``op = pp = 1`` (no model parallelism); replicas are chosen by the same
  simulator-guided greedy as meshplan's (:mod:`planner.placement.greedy`).
- **Clockwork++** (``clockwork``): the workload is cut into windows of
  ``clockwork_window_s`` seconds and Selective Replication is re-solved on
  each window's own requests, giving one placement per window (a
  :class:`TimedPlan`). As in the AlpaServe evaluation, switching between
  window placements is free: the plan is simulated on a copy of the cluster
  whose loads take no time (an unbounded load bandwidth). Real switching
  costs are the business of :mod:`planner.replan`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from planner.deadline import Deadline
from planner.domain import Cluster, ParallelConfig, Placement, TimedPlan
from planner.placement.enumeration import FULL_GREEDY_PAIRS
from planner.placement.greedy import run_greedy
from planner.placement.options import SolveOptions
from planner.placement.scoring import Counts, Scorer, layout_placement
from planner.placement.solution import SolveResult
from planner.sim import compile_case
from planner.workloads.windows import window_workload

Progress = Callable[[float, str], None]

SINGLE = ParallelConfig(1, 1)
INSTANT_LOAD_BW = 1e300
"""Load bandwidth (bytes/s) that makes every load take no time in float64."""


def _replicate(
    scorer: Scorer, options: SolveOptions, deadline: Deadline
) -> tuple[Placement, Counts, bool]:
    """Selective Replication on the scorer's workload: the placement, its
    served counts per model and whether the deadline stopped it."""
    devices = scorer.instance.cluster.num_devices
    mode = options.greedy_mode
    if mode == "auto":
        mode = "full" if scorer.num_models * devices <= FULL_GREEDY_PAIRS else "fast"
    result = run_greedy(
        scorer,
        [SINGLE] * devices,
        mode=mode,
        beam_width=options.beam_width,
        top_models=options.top_models,
        seed=options.seed,
        deadline=deadline,
    )
    groups = tuple((d,) for d in range(devices))
    placement = layout_placement(result.layout, groups, scorer.instance.models)
    return placement, result.served, result.timed_out


def solve_selective_replication(
    scorer: Scorer, options: SolveOptions, deadline: Deadline, progress: Progress | None = None
) -> SolveResult:
    """Selective Replication baseline (module docstring)."""
    start = time.monotonic()
    placement, served, timed_out = _replicate(scorer, options, deadline)
    return SolveResult(
        placement=placement,
        attainment=scorer.attainment(served),
        solver="sr",
        status="timeout" if timed_out else "heuristic",
        wall_s=time.monotonic() - start,
        stats={"replicas": placement.num_replicas},
    )


def instant_load(cluster: Cluster) -> Cluster:
    """The cluster with loads that take no time."""
    return dataclasses.replace(cluster, load_bw_bytes_per_s=INSTANT_LOAD_BW, load_overhead_s=0.0)


def solve_clockwork(
    scorer: Scorer, options: SolveOptions, deadline: Deadline, progress: Progress | None = None
) -> SolveResult:
    """Clockwork++ baseline (module docstring)."""
    start = time.monotonic()
    workload = scorer.instance.workload
    window_s = options.clockwork_window_s or workload.duration_s / 6
    starts = np.arange(0.0, workload.duration_s, window_s)
    steps = []
    timed_out = False
    for k, window_start in enumerate(starts):
        part = window_workload(
            workload, window_start, min(window_start + window_s, workload.duration_s)
        )
        window_scorer = Scorer(dataclasses.replace(scorer.instance, workload=part))
        # the windows left share the time left evenly
        window_deadline = deadline.share(1 / (len(starts) - k))
        placement, _, late = _replicate(window_scorer, options, window_deadline)
        timed_out |= late
        steps.append((float(window_start), placement))
        if progress is not None:
            progress((k + 1) / len(starts), f"window {k + 1}/{len(starts)} placed")
    plan = TimedPlan(tuple(steps))
    free = dataclasses.replace(scorer.instance, cluster=instant_load(scorer.instance.cluster))
    result = compile_case(free).run(plan)
    return SolveResult(
        placement=steps[0][1],
        timed_plan=plan,
        attainment=result.attainment,
        solver="clockwork",
        status="timeout" if timed_out else "heuristic",
        wall_s=time.monotonic() - start,
        log=(f"clockwork: {len(steps)} windows of {window_s:g} s, switching at no cost",),
        stats={"windows": len(steps), "window_s": window_s},
    )
