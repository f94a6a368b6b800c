"""Property: the reactions inside a window (a model with no replica, and
the drift watch) read only arrivals up to their instant. On random traces,
replacing every arrival after a reaction with other arrivals leaves every
decision up to and including it, and the plan up to it, unchanged."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.codec import encode
from planner.domain import Workload
from planner.replan.forecast import LastWindow
from tests.unit.test_replan import SHIFT_CLUSTER, SHIFT_MODELS, W, options, replan_on

WINDOWS = 3
RATES_RPS = (0.0, 2.0, 8.0, 15.0)


def arrivals(rng: np.random.Generator, start_s: float) -> dict[str, list[float]]:
    """Per model, uniform arrivals in each window from ``start_s`` on, at a
    rate drawn per window from :data:`RATES_RPS`."""
    times: dict[str, list[float]] = {}
    for name in ("a", "b"):
        series: list[float] = []
        for k in range(WINDOWS):
            low, high = max(k * W, start_s), (k + 1) * W
            if high <= low:
                continue
            count = rng.poisson(rng.choice(RATES_RPS) * (high - low))
            series += sorted(rng.uniform(low, high, count).tolist())
        times[name] = series
    return times


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_reactions_never_read_past_their_instant(seed: int, other: int) -> None:
    watching = options(
        information="forecast",
        forecaster=LastWindow(),
        react_after=4,
        nowcast_s=1.0,
        react_replan=True,
        react_drift=0.2,
    )
    base = arrivals(np.random.default_rng(seed), 0.0)
    result = replan_on(SHIFT_CLUSTER, SHIFT_MODELS, Workload.merge(base, WINDOWS * W), watching)
    decisions = [encode(w) for w in result.windows]
    for i, decision in enumerate(result.windows):
        if decision.start_s % W == 0:
            continue  # a window's own decision: test_forecast_mode_never_reads_the_future
        cut_s = decision.start_s
        later = arrivals(np.random.default_rng(other), cut_s)
        mixed = {
            name: [t for t in base[name] if t <= cut_s] + [t for t in later[name] if t > cut_s]
            for name in base
        }
        again = replan_on(SHIFT_CLUSTER, SHIFT_MODELS, Workload.merge(mixed, WINDOWS * W), watching)
        assert [encode(w) for w in again.windows[: i + 1]] == decisions[: i + 1]
        assert [s for s in again.plan.steps if s[0] <= cut_s] == [
            s for s in result.plan.steps if s[0] <= cut_s
        ]
