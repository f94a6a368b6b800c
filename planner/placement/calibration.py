"""Served-fraction curves fitted on the simulator: the calibrated part of the
partition master's proxy (:mod:`planner.placement.master`).

For each model ``m`` the simulator serves ``m``'s own requests (the
instance's workload, bursts included) on one dedicated group of every
usable config, and on ``k = 2, 3, ...`` groups of its *reference* config
``c`` (the one whose single replica serves the most per device); the capacity ratio of ``k``
replicas is ``rho = k * throughput(m, c) / rate(m)`` (throughput: requests
per second of the bottleneck stage at the best SLO-meeting batch, rate:
scored requests per second). The curve is the upper concave hull of the
measured points ``(rho, served fraction)`` and ``(0, 0)``, flat after the
last point; as a minimum of lines it is linear in an ILP.

Other configs serve the same throughput with different latency (a deeper
pipeline adds hand-offs, which matters when a burst queues requests). So
the *efficiency* of every other usable config ``c'`` is the capacity ratio at which the curve reaches
the fraction that replica served, over its nominal ratio (clipped to
``[MIN_EFFICIENCY, MAX_EFFICIENCY]``; a replica serving more than the
curve ever reaches gets the curve's last measured ratio, and one serving
as much as the curve's top at least 1: a saturated replica shows no
inefficiency): a replica of
``c'`` counts as that multiple of its throughput, in the curve and in the
windows' budgets (:func:`calibrated_costs`). It says how much
of a model's traffic its replicas can serve *at best* (they may also serve
other models), so the master bounds each model's service by
``demand * curve(sum of its replicas' throughput / rate)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from planner.deadline import NEVER, Deadline
from planner.domain import ParallelConfig
from planner.placement.proxy import request_cost_s
from planner.placement.scoring import Layout, Scorer

MAX_REPLICAS = 6
"""Most dedicated replicas a curve is measured with."""

SATURATED = 0.999
"""A served fraction from which more replicas are not measured."""


MIN_EFFICIENCY = 0.05
"""Least efficiency a config is given (module docstring)."""

MAX_EFFICIENCY = 4.0
"""Most efficiency a config is given: a config with less latency than the
reference serves more within the SLO than its throughput says."""


@dataclass(frozen=True)
class ServedCurve:
    """``fraction(rho) = min(1, min_j intercept_j + slope_j * rho)``;
    ``points`` are the measured ``(rho, fraction)`` the hull was fitted on;
    ``efficiency`` the share of nominal throughput a replica of each config
    counts for (module docstring; 1 for configs not listed)."""

    segments: tuple[tuple[float, float], ...]
    points: tuple[tuple[float, float], ...]
    efficiency: Mapping[ParallelConfig, float] = field(default_factory=dict)

    def fraction(self, rho: float) -> float:
        return min(1.0, *(a + b * rho for a, b in self.segments))

    def inverse(self, fraction: float) -> float | None:
        """The least ``rho`` where the curve reaches ``fraction``; None
        when it never does."""
        best = None
        for a, b in self.segments:
            if b > 0:
                rho = (fraction - a) / b
                if self.fraction(rho) >= fraction - 1e-12:
                    best = rho if best is None else min(best, rho)
            elif a >= fraction:
                best = 0.0 if best is None else best
        if best is None:
            return None
        return max(0.0, best)


FLUID = ServedCurve(((0.0, 1.0), (1.0, 0.0)), ())
"""The uncalibrated curve: a model is served in proportion to its
capacity, fully from a capacity equal to its rate."""


def upper_hull(points: Sequence[tuple[float, float]]) -> ServedCurve:
    """The concave curve through ``(0, 0)`` and above every point: the
    upper hull's segments, then a flat line at the highest fraction."""
    ordered = sorted({(0.0, 0.0), *points})
    hull: list[tuple[float, float]] = []
    for point in ordered:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (point[1] - y1) - (y2 - y1) * (point[0] - x1) >= 0:
                hull.pop()  # the middle point lies on or under the chord
            else:
                break
        hull.append(point)
    top = max(y for _, y in hull)
    segments = []
    for (x1, y1), (x2, y2) in itertools.pairwise(hull):
        if y2 <= y1:
            break
        slope = (y2 - y1) / (x2 - x1)
        segments.append((y1 - slope * x1, slope))
    segments.append((top, 0.0))
    return ServedCurve(tuple(segments), tuple(sorted(points)))


def rate_rps(scorer: Scorer, model: int) -> float:
    """Scored requests per second of ``model`` (at least a tiny positive)."""
    return max(float(scorer.demand[model]) / max(scorer.case.work.scored_span_s, 1e-9), 1e-9)


def nominal_ratio(scorer: Scorer, model: int, config: ParallelConfig) -> float:
    """One replica's throughput over the model's rate."""
    cost = request_cost_s(scorer, model, config)
    assert cost is not None, "takes a usable config"
    return 1.0 / cost / rate_rps(scorer, model)


def served_fraction(scorer: Scorer, model: int, config: ParallelConfig, replicas: int) -> float:
    """Simulated served fraction of the model alone on dedicated replicas."""
    layout = Layout((config,) * replicas, ((model,),) * replicas)
    return float(scorer.served(layout)[model]) / int(scorer.demand[model])


def fit_curve(
    scorer: Scorer,
    model: int,
    configs: Sequence[ParallelConfig],
    deadline: Deadline = NEVER,
) -> ServedCurve:
    """The model's curve measured on dedicated replicas of its reference
    config (of ``configs``, usable ones: the one whose single replica
    serves the most per device; ties: fewer devices) and the others'
    efficiencies."""
    if int(scorer.demand[model]) == 0:
        return ServedCurve(((1.0, 0.0),), ())
    alone = {config: served_fraction(scorer, model, config, 1) for config in configs}
    best = min(configs, key=lambda c: (-alone[c] / c.size, c.size, c.pp))
    step = nominal_ratio(scorer, model, best)
    points = [(step, alone[best])]
    for k in range(2, MAX_REPLICAS + 1):
        if points[-1][1] >= SATURATED or deadline.expired():
            break
        points.append((k * step, served_fraction(scorer, model, best, k)))
    curve = upper_hull(points)
    top = curve.fraction(math.inf)
    efficiency = {}
    for config in configs:
        if config != best:
            rho = curve.inverse(alone[config])
            share = (points[-1][0] if rho is None else rho) / nominal_ratio(scorer, model, config)
            if alone[config] >= top:
                share = max(1.0, share)  # saturated: no sign of inefficiency
            efficiency[config] = min(MAX_EFFICIENCY, max(MIN_EFFICIENCY, share))
    return ServedCurve(curve.segments, curve.points, efficiency)


def fit_curves(
    scorer: Scorer,
    usable: Mapping[int, Sequence[ParallelConfig]],
    deadline: Deadline = NEVER,
    tick: Callable[[], None] = lambda: None,
) -> dict[int, ServedCurve]:
    """A curve per model of ``usable`` (model → its usable configs);
    ``tick()`` is called after each (it may raise to stop). Past the
    deadline the remaining models get :data:`FLUID` uncalibrated."""
    curves = {}
    for m, configs in usable.items():
        if configs:
            curves[m] = FLUID if deadline.expired() else fit_curve(scorer, m, configs, deadline)
            tick()
    return curves


def calibrated_costs(
    cost_us: Mapping[tuple[int, ParallelConfig], int], curves: Mapping[int, ServedCurve]
) -> dict[tuple[int, ParallelConfig], int]:
    """Request costs (microseconds) divided by the config's efficiency."""
    out = {}
    for (m, config), cost in cost_us.items():
        curve = curves.get(m)
        share = 1.0 if curve is None else curve.efficiency.get(config, 1.0)
        out[m, config] = max(1, round(cost / share))
    return out
