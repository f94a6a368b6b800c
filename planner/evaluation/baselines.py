"""Clockwork++ as the re-placement evaluations run it (the experiment and
the re-placement report): windows solved with the instance's batching only,
since a warm-up would apply to each window's own solve."""

from __future__ import annotations

import dataclasses

from planner.replan.clockwork import ClockworkOptions
from planner.replan.solvecache import SolveCache
from planner.replan.timed import TimedResult, plan_over_time
from planner.sim import Instance, SimOptions


def clockwork_run(
    scored: Instance, window_s: float, time_limit_s: float, cache: SolveCache | None = None
) -> TimedResult:
    """Clockwork++ on the workload of ``scored`` with windows of
    ``window_s`` seconds and ``time_limit_s`` seconds in all (module
    docstring): its timed plan and status; ``cache`` shares runs."""
    per_window = SimOptions(max_batch=scored.options.max_batch)
    options = ClockworkOptions(window_s=window_s, time_limit_s=time_limit_s)
    return plan_over_time(dataclasses.replace(scored, options=per_window), options, cache=cache)
