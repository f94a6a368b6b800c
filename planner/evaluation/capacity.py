"""The largest load a strategy sustains: bisection on a rate scale for the
largest value at which SLO attainment stays at or above a target.

``evaluate(scale)`` returns the attainment at ``scale`` (the strategy plans
for and is scored on the workload with every rate times ``scale``). From
``start`` the search multiplies (or divides) the scale by ``factor`` (2 by
default; less when ``start`` is already a good guess) until it brackets the
target, then
bisects geometrically until ``high / low <= 1 + rel_tol``. Attainment is
assumed to fall as the scale grows; where noise breaks that, the result is
a scale that passed with a failing one at most ``rel_tol`` above it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    """One evaluation: the scale tried and the attainment measured."""

    scale: float
    attainment: float


@dataclass(frozen=True)
class MaxScale:
    """The largest passing scale found (None when even the lowest scale
    tried failed: the capacity lies below :attr:`lowest_tried`, not at 0),
    the smallest failing one (``inf`` when ``max_scale`` passes), and every
    probe in order."""

    scale: float | None
    failing_scale: float
    target: float
    probes: tuple[Probe, ...]

    @property
    def lowest_tried(self) -> float:
        """The smallest scale evaluated."""
        return min(p.scale for p in self.probes)

    @property
    def attainment(self) -> float | None:
        """Attainment measured at :attr:`scale` (None when nothing passed)."""
        for probe in self.probes:
            if probe.scale == self.scale:
                return probe.attainment
        return None

    def to_json(self) -> dict[str, object]:
        return {
            "scale": self.scale,
            "failing_scale": None if math.isinf(self.failing_scale) else self.failing_scale,
            "target": self.target,
            "probes": [[p.scale, p.attainment] for p in self.probes],
        }


def max_rate_scale(
    evaluate: Callable[[float], float],
    *,
    target: float = 0.99,
    start: float = 1.0,
    rel_tol: float = 0.05,
    factor: float = 2.0,
    min_scale: float = 1e-3,
    max_scale: float = 1e6,
) -> MaxScale:
    """Bisect for the largest scale with ``evaluate(scale) >= target``
    (module docstring). Raises ValueError naming the bad argument."""
    if not 0 < target <= 1:
        raise ValueError(f"target: must be in (0, 1], got {target!r}")
    if not 0 < min_scale <= start <= max_scale:
        raise ValueError(
            f"start: must satisfy 0 < min_scale <= start <= max_scale, got "
            f"{min_scale!r} <= {start!r} <= {max_scale!r}"
        )
    if not rel_tol > 0:
        raise ValueError(f"rel_tol: must be > 0, got {rel_tol!r}")
    if not factor > 1:
        raise ValueError(f"factor: must be > 1, got {factor!r}")
    probes: list[Probe] = []

    def passes(scale: float) -> bool:
        attainment = evaluate(scale)
        probes.append(Probe(scale, attainment))
        return attainment >= target

    low: float | None = None
    high = math.inf
    scale = start
    if passes(scale):
        low = scale
        while math.isinf(high) and scale < max_scale:
            scale = min(factor * scale, max_scale)
            if passes(scale):
                low = scale
            else:
                high = scale
    else:
        high = scale
        while low is None and scale > min_scale:
            scale = max(scale / factor, min_scale)
            if passes(scale):
                low = scale
            else:
                high = scale
    while low is not None and not math.isinf(high) and high > low * (1 + rel_tol):
        middle = math.sqrt(low * high)
        if passes(middle):
            low = middle
        else:
            high = middle
    return MaxScale(low, high, target, tuple(probes))
