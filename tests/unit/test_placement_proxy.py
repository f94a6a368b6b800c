"""Proxy data: demand windows, per-request cost, memory units."""

from __future__ import annotations

import numpy as np
import pytest

from planner.domain import Cluster, ParallelConfig, Workload
from planner.placement.proxy import (
    ProxyGroup,
    build_proxy,
    demand_windows,
    memory_unit,
    request_cost_s,
)
from planner.placement.scoring import Scorer
from planner.sim import Instance, SimOptions
from tests.unit.placement_cases import GB, model

ONE = ParallelConfig(1, 1)


def scorer(max_batch: int = 1, slo_s: float = 0.5) -> Scorer:
    models = [
        model("a", latency_s=0.1, slo_s=slo_s, max_batch=2),
        model("b", latency_s=0.1, slo_s=slo_s, max_batch=2),
    ]
    traffic = Workload.merge({"a": [0.1, 0.2, 0.3, 2.5], "b": [1.5, 3.1, 3.2]}, 4.0)
    return Scorer(Instance(Cluster(2, 20 * GB), models, traffic, SimOptions(max_batch=max_batch)))


def test_demand_windows_are_stratified_by_total_demand() -> None:
    # Windows of 1 s hold (a, b) = (3, 0), (0, 1), (1, 0), (0, 2): totals 3, 1, 1, 2.
    demand, weight = demand_windows(scorer(), 1.0, 4)
    assert demand == ((0, 1), (1, 0), (0, 2), (3, 0))
    assert weight == (1, 1, 1, 1)
    # Two strata: windows {1, 2} (totals 1, 1) and {3, 0} (totals 2, 3);
    # each is represented by its upper-middle window.
    demand, weight = demand_windows(scorer(), 1.0, 2)
    assert demand == ((1, 0), (3, 0))
    assert weight == (2, 2)
    # More samples than windows: one per window; 2 s windows hold (3, 1)
    # and (1, 2), the quieter first.
    assert demand_windows(scorer(), 2.0, 8) == (((1, 2), (3, 1)), (1, 1))


def test_request_cost_uses_the_cheapest_batch_within_the_slo() -> None:
    # Batch 2 takes 0.1 * sqrt(2) s: 0.0707 s per request.
    assert request_cost_s(scorer(max_batch=2), 0, ONE) == pytest.approx(0.1 * 2**0.5 / 2)
    assert request_cost_s(scorer(max_batch=1), 0, ONE) == pytest.approx(0.1)
    assert request_cost_s(scorer(max_batch=2, slo_s=0.12), 0, ONE) == pytest.approx(0.1)
    assert request_cost_s(scorer(max_batch=2, slo_s=0.05), 0, ONE) is None


def test_build_proxy_rounds_memory_conservatively() -> None:
    data = build_proxy(scorer(), [ProxyGroup((0,), (ONE,))], window_s=1.0, windows=4)
    unit = memory_unit(Cluster(2, 20 * GB))
    assert unit == 20 * GB >> 20
    assert data.memory_units == 20 * GB // unit
    assert data.weight_units[0, ONE] == (-(-2 * GB // unit),)
    assert data.cost_us[0, ONE] == 100_000
    assert data.window_us == 1_000_000
    assert data.weighted_demand == 7
    # default window: the median SLO
    assert build_proxy(scorer(), [], window_s=None, windows=1).window_us == 500_000


def test_models_missing_their_slo_are_not_usable() -> None:
    data = build_proxy(scorer(slo_s=0.05), [ProxyGroup((0,), (ONE,))], window_s=1.0, windows=1)
    assert not data.usable(0, ONE) and not data.usable(1, ONE)
    assert np.all(np.array(data.demand) >= 0)
