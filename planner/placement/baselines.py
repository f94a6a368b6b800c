"""Selective Replication (``sr``), the static baseline of the AlpaServe
evaluation: every device is its own group with ``op = pp = 1`` (no model
parallelism); replicas are chosen by the same simulator-guided greedy as
meshplan's (:mod:`planner.placement.greedy`). Its time-varying sibling,
Clockwork++, is in :mod:`planner.replan.clockwork`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from planner.deadline import Deadline
from planner.domain import ParallelConfig, Placement
from planner.placement.enumeration import FULL_GREEDY_PAIRS
from planner.placement.greedy import run_greedy
from planner.placement.options import SolveOptions
from planner.placement.scoring import Counts, Scorer, layout_placement
from planner.placement.solution import SolveResult

Progress = Callable[[float, str], None]

SINGLE = ParallelConfig(1, 1)


def replicate(
    scorer: Scorer, options: SolveOptions, deadline: Deadline
) -> tuple[Placement, Counts, bool]:
    """Selective Replication on the scorer's instance: the placement, its
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
    placement, served, timed_out = replicate(scorer, options, deadline)
    return SolveResult(
        placement=placement,
        attainment=scorer.attainment(served),
        solver="sr",
        status="timeout" if timed_out else "heuristic",
        wall_s=time.monotonic() - start,
        stats={"replicas": placement.num_replicas},
    )
