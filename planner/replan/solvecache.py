"""Solve results remembered by instance, so that strategies that plan the
same window on the same traffic (periodic and triggered re-placement, with
and without preemption, in one experiment) solve it once."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from planner.domain import Cluster, ModelSpec, Workload
from planner.placement.solution import SolveResult
from planner.placement.solve import solve

Progress = Callable[[float, str], None]


def workload_fingerprint(workload: Workload) -> str:
    """A digest of the arrivals, model ids, model names and duration."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(workload.arrivals_s.tobytes())
    digest.update(workload.model_ids.tobytes())
    digest.update(json.dumps([list(workload.model_names), workload.duration_s]).encode())
    return digest.hexdigest()


class SolveCache:
    """Calls :func:`planner.placement.solve.solve` once per distinct instance: the
    cluster, the models' names and SLOs, the workload's fingerprint, the
    solver, its time limit and options. ``solves``, ``hits`` and
    ``solve_s`` (wall seconds spent solving) count the work."""

    def __init__(self) -> None:
        self._results: dict[tuple[Any, ...], SolveResult] = {}
        self.solves = 0
        self.hits = 0
        self.solve_s = 0.0

    def solve(
        self,
        cluster: Cluster,
        models: Sequence[ModelSpec],
        workload: Workload,
        *,
        solver: str,
        time_limit_s: float,
        options: Mapping[str, Any],
        progress: Progress | None = None,
    ) -> SolveResult:
        """The cached result, or :func:`planner.placement.solve.solve`'s."""
        key = (
            cluster,
            tuple((m.name, m.slo_s) for m in models),
            workload_fingerprint(workload),
            solver,
            time_limit_s,
            json.dumps(dict(options), sort_keys=True, default=str),
        )
        found = self._results.get(key)
        if found is not None:
            self.hits += 1
            return found
        started = time.monotonic()
        result = solve(
            cluster,
            models,
            workload,
            solver=solver,
            time_limit_s=time_limit_s,
            options=options,
            progress=progress,
        )
        self.solve_s += time.monotonic() - started
        self.solves += 1
        self._results[key] = result
        return result
