"""Solve results remembered by instance, so that strategies that plan the
same window on the same traffic (periodic and triggered re-placement, with
and without preemption, in one experiment) solve it once; Clockwork++ runs
are remembered the same way."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from planner.deadline import Deadline
from planner.domain import Workload
from planner.placement.options import SolveOptions
from planner.placement.solution import SolveResult
from planner.placement.solve import solve
from planner.replan.clockwork import ClockworkOptions, ClockworkResult, clockwork
from planner.sim import Instance

Progress = Callable[[float, str], None]
T = TypeVar("T")


def workload_fingerprint(workload: Workload) -> str:
    """A digest of the arrivals, model ids, model names and duration."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(workload.arrivals_s.tobytes())
    digest.update(workload.model_ids.tobytes())
    digest.update(json.dumps([list(workload.model_names), workload.duration_s]).encode())
    return digest.hexdigest()


def instance_key(instance: Instance) -> tuple[Any, ...]:
    """What identifies an instance to the cache: the cluster, the models'
    names and SLOs, the workload's fingerprint and the simulator options."""
    return (
        instance.cluster,
        tuple((m.name, m.slo_s) for m in instance.models),
        workload_fingerprint(instance.workload),
        instance.options,
    )


class SolveCache:
    """Calls :func:`planner.placement.solve.solve` once per distinct instance
    (:func:`instance_key`), solver, time limit and options, and
    :func:`planner.replan.clockwork.clockwork` once per instance and
    options. ``solves``, ``hits`` and ``solve_s`` (wall seconds spent
    solving) count the work."""

    def __init__(self) -> None:
        self._results: dict[tuple[Any, ...], Any] = {}
        self.solves = 0
        self.hits = 0
        self.solve_s = 0.0

    def _remember(self, key: tuple[Any, ...], run: Callable[[], T]) -> T:
        """The result remembered under ``key``, or ``run()``'s (remembered)."""
        if key in self._results:
            self.hits += 1
            found: T = self._results[key]
            return found
        started = time.monotonic()
        result = run()
        self.solve_s += time.monotonic() - started
        self.solves += 1
        self._results[key] = result
        return result

    def solve(
        self,
        instance: Instance,
        *,
        solver: str,
        time_limit_s: float,
        options: SolveOptions,
        progress: Progress | None = None,
    ) -> SolveResult:
        """The cached result, or :func:`planner.placement.solve.solve`'s with
        ``time_limit_s`` (validated by the caller) from now."""
        return self._remember(
            (*instance_key(instance), solver, time_limit_s, options),
            lambda: solve(
                instance,
                solver=solver,
                deadline=Deadline.after(time_limit_s),
                options=options,
                progress=progress,
            ),
        )

    def clockwork(
        self, instance: Instance, options: ClockworkOptions, progress: Progress | None = None
    ) -> ClockworkResult:
        """The cached result, or :func:`planner.replan.clockwork.clockwork`'s."""
        return self._remember(
            (*instance_key(instance), options), lambda: clockwork(instance, options, progress)
        )
