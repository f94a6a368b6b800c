"""Time-varying strategies: one entry point and the result they share.

A strategy is named by its options: :class:`ReplanOptions` re-places window
by window with the cost of moving weights counted
(:mod:`planner.replan.loop`); :class:`ClockworkOptions` is the Clockwork++
baseline (:mod:`planner.replan.clockwork`). :func:`plan_over_time` runs
either on an instance and returns a :class:`TimedResult`. One static
placement is :func:`planner.placement.solve.solve`'s business.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, overload

from planner.domain import TimedPlan
from planner.replan.clockwork import ClockworkOptions, ClockworkResult
from planner.replan.loop import replan
from planner.replan.options import ReplanOptions, ReplanResult
from planner.replan.solvecache import SolveCache
from planner.sim import Instance

Progress = Callable[[float, str], None]

TIMED_STRATEGIES = ("replan", "clockwork")
"""Names of the time-varying strategies, for front ends that must tell them
from static solvers."""

TimedStrategy = ReplanOptions | ClockworkOptions


class TimedResult(Protocol):
    """What every time-varying strategy returns: ``plan``, its SLO
    attainment simulated on the instance under the strategy's switching
    model, wall seconds, ``status`` (``timeout`` when some solve stopped at
    its deadline, else ``heuristic``), ``strategy`` (its name) and a log and
    strategy-specific ``stats``."""

    @property
    def plan(self) -> TimedPlan: ...

    @property
    def attainment(self) -> float: ...

    @property
    def wall_s(self) -> float: ...

    @property
    def status(self) -> str: ...

    @property
    def strategy(self) -> str: ...

    @property
    def log(self) -> tuple[str, ...]: ...

    @property
    def stats(self) -> Mapping[str, Any]: ...


@overload
def plan_over_time(
    instance: Instance,
    strategy: ReplanOptions,
    *,
    cache: SolveCache | None = None,
    progress: Progress | None = None,
) -> ReplanResult: ...


@overload
def plan_over_time(
    instance: Instance,
    strategy: ClockworkOptions,
    *,
    cache: SolveCache | None = None,
    progress: Progress | None = None,
) -> ClockworkResult: ...


def plan_over_time(
    instance: Instance,
    strategy: TimedStrategy,
    *,
    cache: SolveCache | None = None,
    progress: Progress | None = None,
) -> TimedResult:
    """Run ``strategy`` on ``instance``. ``cache`` shares solves (and whole
    Clockwork++ runs) between calls; ``progress(fraction, message)`` is
    called as windows are done. Raises what the strategy raises (ValueError
    naming the field for bad input)."""
    cache = cache or SolveCache()
    if isinstance(strategy, ClockworkOptions):
        return cache.clockwork(instance, strategy, progress)
    return replan(instance, strategy, cache=cache, progress=progress)
