"""What every placement solver returns and how it fails.

- :class:`SolveResult`: one frozen result type for greedy, enumeration,
  CP-SAT, MILP and Selective Replication: the placement, its simulated SLO
  attainment, the solver's proxy objective, best bound and gap (when the
  solver has them), wall time, status, a log, and the models no placement
  on the cluster can host, with why.
- :class:`InfeasibleError`: the input admits no placement at all (no model
  fits a group under any config). A ``ValueError`` so callers that treat
  bad input uniformly keep working.
- :class:`SolveTimeoutError`: the time limit ran out before any placement
  was found (CP-SAT and MILP never raise it: they fall back to their greedy
  seed with status ``"seed_only"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from planner.domain import Placement

STATUSES = ("optimal", "feasible", "seed_only", "timeout", "heuristic")
"""``optimal``/``feasible``: the exact solver proved optimality of its proxy
or found an integer solution; ``seed_only``: it found none and the greedy
seed is returned (with the partition free: the simulated best of the seed
and the probe plans, one per config, that the solver starts from); ``timeout``: a heuristic stopped at the time limit with the
best plan so far; ``heuristic``: a heuristic ran to completion."""


class InfeasibleError(ValueError):
    """No placement can host any model (or, for Clockwork++, every model):
    a one-line message naming a model and why."""


class SolveTimeoutError(RuntimeError):
    """The time limit ran out before any placement was found."""


@dataclass(frozen=True)
class SolveResult:
    """A solver's answer.

    ``attainment`` is the simulated SLO attainment (fraction in [0, 1]) of
    ``placement`` on the instance it was solved for: the requests of every
    model, placed or not, count. ``unplaced`` maps each model that fits no
    group of the cluster under any config to why (one line, e.g. ``needs
    41.2 GB per device at best (op=8, pp=1), the device has 16 GB``); the
    placement hosts none of them. ``proxy_objective`` and
    ``bound`` are in the solver's own proxy units (an estimated attainment
    for CP-SAT and MILP); ``gap = (bound - proxy_objective) / max(|bound|,
    1e-9)``.
    ``upper_bound`` is the certified upper bound on the simulated attainment
    of any static placement of the instance
    (:func:`planner.placement.bound.static_bound`, a fraction; every
    :func:`planner.placement.solve.solve` sets it) and ``gap_points`` is
    ``100 x (upper_bound - attainment)``: the attainment no placement can
    beat this one's by more than, in percentage points (derived, set
    whenever ``upper_bound`` is).
    ``stats`` holds solver-specific numbers (candidates tried, simulations
    run, ...)."""

    placement: Placement
    attainment: float
    solver: str
    status: str
    wall_s: float
    proxy_objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    log: tuple[str, ...] = ()
    stats: Mapping[str, Any] = field(default_factory=dict)
    unplaced: Mapping[str, str] = field(default_factory=dict)
    upper_bound: float | None = None
    gap_points: float | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status: must be one of {STATUSES}, got {self.status!r}")
        if not 0.0 <= self.attainment <= 1.0:
            raise ValueError(f"attainment: must be in [0, 1], got {self.attainment!r}")
        if self.wall_s < 0 or not math.isfinite(self.wall_s):
            raise ValueError(f"wall_s: must be finite and >= 0, got {self.wall_s!r}")
        if self.upper_bound is not None:
            if not 0.0 <= self.upper_bound <= 1.0:
                raise ValueError(f"upper_bound: must be in [0, 1], got {self.upper_bound!r}")
            object.__setattr__(self, "gap_points", 100 * (self.upper_bound - self.attainment))
        else:
            object.__setattr__(self, "gap_points", None)
        object.__setattr__(self, "log", tuple(self.log))
        object.__setattr__(self, "stats", dict(self.stats))
        object.__setattr__(self, "unplaced", dict(self.unplaced))
        hosted = sorted(self.placement.model_names & set(self.unplaced))
        if hosted:
            raise ValueError(f"unplaced.{hosted[0]}: the placement hosts this model")


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """``(bound - objective) / max(|bound|, 1e-9)``, clipped at 0; None if
    either is unknown."""
    if objective is None or bound is None:
        return None
    return max(0.0, (bound - objective) / max(abs(bound), 1e-9))


def certificate(result: SolveResult) -> str:
    """What the certified bound proves about ``result``, one sentence for
    people: "within X points of optimal" when its gap is known."""
    if result.gap_points is None:
        return "no certified bound (not computed)"
    return (
        f"{result.solver} is within {max(result.gap_points, 0.0):.2f} points of optimal "
        f"(no static placement exceeds {100 * (result.upper_bound or 0.0):.2f}% attainment)"
    )
