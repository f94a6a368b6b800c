"""Served-fraction curves fitted on the simulator: the calibrated part of the
partition master's proxy (:mod:`planner.placement.master`).

For each model ``m`` the simulator serves ``m``'s own requests (the
instance's workload, bursts included) on ``k = 1, 2, ...`` dedicated
groups of its highest-throughput config ``c``; the capacity ratio of ``k``
replicas is ``rho = k * throughput(m, c) / rate(m)`` (throughput: requests
per second of the bottleneck stage at the best SLO-meeting batch, rate:
scored requests per second). The curve is the upper concave hull of the
measured points ``(rho, served fraction)`` and ``(0, 0)``, flat after the
last point; as a minimum of lines it is linear in an ILP. It says how much
of a model's traffic its replicas can serve *at best* (they may also serve
other models), so the master bounds each model's service by
``demand * curve(sum of its replicas' throughput / rate)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from planner.deadline import NEVER, Deadline
from planner.domain import ParallelConfig
from planner.placement.proxy import request_cost_s
from planner.placement.scoring import Layout, Scorer

MAX_REPLICAS = 6
"""Most dedicated replicas a curve is measured with."""

SATURATED = 0.999
"""A served fraction from which more replicas are not measured."""


@dataclass(frozen=True)
class ServedCurve:
    """``fraction(rho) = min(1, min_j intercept_j + slope_j * rho)``;
    ``points`` are the measured ``(rho, fraction)`` the hull was fitted on."""

    segments: tuple[tuple[float, float], ...]
    points: tuple[tuple[float, float], ...]

    def fraction(self, rho: float) -> float:
        return min(1.0, *(a + b * rho for a, b in self.segments))


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
    for (x1, y1), (x2, y2) in zip(hull, hull[1:], strict=False):
        if y2 <= y1:
            break
        slope = (y2 - y1) / (x2 - x1)
        segments.append((y1 - slope * x1, slope))
    segments.append((top, 0.0))
    return ServedCurve(tuple(segments), tuple(sorted(points)))


def best_config(scorer: Scorer, model: int, configs: Sequence[ParallelConfig]) -> ParallelConfig:
    """The config of ``configs`` with the most requests per second per
    device for ``model`` (ties: fewer devices); the caller passes usable ones."""

    def key(config: ParallelConfig) -> tuple[float, int]:
        cost = request_cost_s(scorer, model, config)
        assert cost is not None
        return (cost * config.size, config.size)

    return min(configs, key=key)


def rate_rps(scorer: Scorer, model: int) -> float:
    """Scored requests per second of ``model`` (at least a tiny positive)."""
    return max(float(scorer.demand[model]) / max(scorer.case.work.scored_span_s, 1e-9), 1e-9)


def fit_curve(
    scorer: Scorer, model: int, config: ParallelConfig, deadline: Deadline = NEVER
) -> ServedCurve:
    """The model's curve measured on dedicated replicas of ``config``."""
    demand = int(scorer.demand[model])
    if demand == 0:
        return ServedCurve(((1.0, 0.0),), ())
    cost = request_cost_s(scorer, model, config)
    assert cost is not None, "fit_curve takes a usable config"
    step = 1.0 / cost / rate_rps(scorer, model)
    points = []
    for k in range(1, MAX_REPLICAS + 1):
        layout = Layout((config,) * k, ((model,),) * k)
        fraction = float(scorer.served(layout)[model]) / demand
        points.append((k * step, fraction))
        if fraction >= SATURATED or deadline.expired():
            break
    return upper_hull(points)


def fit_curves(
    scorer: Scorer,
    usable: dict[int, Sequence[ParallelConfig]],
    deadline: Deadline = NEVER,
) -> dict[int, ServedCurve]:
    """A curve per model of ``usable`` (model → its usable configs)."""
    return {
        m: fit_curve(scorer, m, best_config(scorer, m, configs), deadline)
        for m, configs in usable.items()
        if configs
    }
