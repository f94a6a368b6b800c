"""Metrics of a simulation, checked against hand-computed values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from planner.domain import Workload
from planner.sim import Outcome, SimOptions, SimResult, simulate
from tests.unit.simulator_cases import CLUSTER, group, model, placement, workload

MODELS = [model("a", 1.5, [[1.0]]), model("b", 5.0, [[1.0]])]
PLAN = placement(group([0], "a", "b"))
REQUESTS = [
    (0.0, "a"),  # [0, 1]; before the warm-up: not scored
    (0.5, "a"),  # [1, 2], latency 1.5
    (1.0, "a"),  # would end at 3 > 2.5: dropped
    (4.0, "b"),  # [4, 5], latency 1
    (4.25, "b"),  # [5, 6], latency 1.75
    (4.5, "a"),  # would end at 7 > 6: dropped
    (8.0, "b"),  # [8, 9]; in the cool-down: not scored
]
OPTIONS = SimOptions(warmup_s=0.25, cooldown_s=2.5)


@pytest.fixture(scope="module")
def result() -> SimResult:
    return simulate(CLUSTER, MODELS, PLAN, workload(REQUESTS, ["a", "b"], 10.0), OPTIONS)


def test_scored_mask_trims_warmup_and_cooldown(result: SimResult) -> None:
    assert result.scored.tolist() == [False, True, True, True, True, True, False]
    assert result.outcome.tolist() == [0, 0, 1, 0, 0, 1, 0]


def test_attainment_counts_scored_requests_only(result: SimResult) -> None:
    assert result.attainment == 3 / 5
    assert result.per_model_attainment() == {"a": 1 / 3, "b": 1.0}
    assert result.outcome_counts() == {
        "served": 3,
        "dropped_slo": 2,
        "no_replica": 0,
        "unavailable": 0,
    }
    assert result.outcome_counts(scored_only=False)["served"] == 5


def test_goodput_is_per_second_of_the_scored_interval(result: SimResult) -> None:
    assert result.goodput_rps == pytest.approx(3 / (10.0 - 0.25 - 2.5))


def test_per_window_attainment_by_arrival(result: SimResult) -> None:
    windows = result.per_window_attainment(2.5)
    np.testing.assert_allclose(windows, [1 / 2, 2 / 3, math.nan, math.nan])
    with pytest.raises(ValueError, match=r"^window_s: must be > 0"):
        result.per_window_attainment(0.0)


def test_latency_percentiles_of_served_scored_requests(result: SimResult) -> None:
    # latencies 1.5, 1.0, 1.75; linear interpolation between order statistics.
    assert result.latency_percentiles_s() == pytest.approx(
        {"p50": 1.5, "p90": 1.5 + 0.8 * 0.25, "p99": 1.5 + 0.98 * 0.25}
    )


def test_utilisation_counts_every_executed_batch(result: SimResult) -> None:
    assert result.group_busy_s.tolist() == [5.0]
    assert result.group_utilisation.tolist() == [5.0 / 10.0]


def test_summary_is_json(result: SimResult) -> None:
    summary = json.loads(json.dumps(result.summary(), allow_nan=False))
    assert summary["attainment"] == 0.6
    assert summary["num_scored"] == 5
    assert summary["per_model_attainment"]["b"] == 1.0
    assert summary["groups"] == [
        {
            "group": 0,
            "devices": [0],
            "config": {"op": 1, "pp": 1},
            "steps": [0, 0],
            "busy_s": 5.0,
            "utilisation": 0.5,
        }
    ]


def test_nothing_scored_means_full_attainment_and_nan_latency() -> None:
    empty = Workload(np.empty(0), np.empty(0, np.int32), ("a",), 10.0)
    result = simulate(CLUSTER, MODELS, PLAN, empty)
    assert result.attainment == 1.0
    assert result.per_model_attainment() == {"a": 1.0, "b": 1.0}
    assert all(math.isnan(v) for v in result.latency_percentiles_s().values())
    assert result.summary()["latency_s"] == {"p50": None, "p90": None, "p99": None}


def test_unserved_requests_have_no_finish_group_or_batch() -> None:
    work = workload([(0.0, "a"), (0.0, "a")], ["a"])
    result = simulate(CLUSTER, MODELS, PLAN, work)
    assert result.outcome[1] == Outcome.DROPPED_SLO
    assert math.isnan(result.finish_s[1])
    assert (result.group[1], result.batch_size[1]) == (-1, 0)
