"""Rate/CV scaling: thinning and replication, and per-window re-drawing."""

from __future__ import annotations

import re

import numpy as np
import pytest

from planner.domain import Workload
from planner.workloads import ProcessSpec, process_workload, redraw, scale_rate


def _poisson(rate_rps: float = 20.0, duration_s: float = 600.0) -> Workload:
    return process_workload(
        {"a": ProcessSpec(rate_rps), "b": ProcessSpec(rate_rps / 2)}, duration_s, 3
    )


def test_integer_factor_replicates_every_request_in_place() -> None:
    workload = _poisson()
    doubled = scale_rate(workload, 2.0, seed=0)
    np.testing.assert_array_equal(doubled.arrivals_s, np.repeat(workload.arrivals_s, 2))
    np.testing.assert_array_equal(doubled.model_ids, np.repeat(workload.model_ids, 2))
    assert doubled.meta["scale_rate"] == {"factor": 2.0, "seed": 0}


def test_thinning_keeps_a_random_subset_of_the_expected_size() -> None:
    workload = _poisson()
    half = scale_rate(workload, 0.5, seed=1)
    assert half.num_requests == pytest.approx(workload.num_requests / 2, rel=0.05)
    assert np.all(np.isin(half.arrivals_s, workload.arrivals_s))
    assert scale_rate(workload, 0.0, seed=1).num_requests == 0


def test_fractional_factor_keeps_two_or_three_copies() -> None:
    workload = _poisson()
    scaled = scale_rate(workload, 2.5, seed=2)
    _, copies = np.unique(scaled.arrivals_s, return_counts=True)
    assert set(copies) == {2, 3}
    assert scaled.num_requests == pytest.approx(2.5 * workload.num_requests, rel=0.02)


def test_bad_factor_names_the_field() -> None:
    with pytest.raises(
        ValueError, match="^" + re.escape("factor: must be finite and >= 0, got -1")
    ):
        scale_rate(_poisson(), -1, seed=0)


def test_redraw_scales_rate_and_cv() -> None:
    workload = _poisson(duration_s=1200.0)
    doubled = redraw(workload, 60.0, seed=4, rate_scale=2.0)
    assert doubled.num_requests == pytest.approx(2 * workload.num_requests, rel=0.05)
    bursty = redraw(workload, 60.0, seed=4, cv_scale=2.0)
    gaps = np.diff(bursty.for_model("a"))
    assert gaps.std() / gaps.mean() == pytest.approx(2.0, rel=0.1)
    assert bursty.meta["redraw"] == {
        "window_s": 60.0,
        "rate_scale": 1.0,
        "cv_scale": 2.0,
        "seed": 4,
    }


def test_redraw_keeps_empty_windows_empty_and_the_horizon() -> None:
    # Window 0 holds 40 requests 0.25 s apart (rate 4, CV 0); windows 1-2 none.
    busy_then_idle = Workload.merge({"m": [0.25 * i for i in range(40)]}, 30.0)
    again = redraw(busy_then_idle, 10.0, seed=0, rate_scale=3.0)
    assert again.duration_s == 30.0
    # Deterministic gaps of 1/12 s from 0: k/12 for k = 1..119 (k = 120 may
    # round to just below 10).
    assert again.num_requests in (119, 120)
    np.testing.assert_allclose(again.arrivals_s[:119], np.arange(1, 120) / 12)
    assert again.arrivals_s.max() < 10.0
    with pytest.raises(ValueError, match=r"^cv_scale: must be finite and >= 0"):
        redraw(busy_then_idle, 10.0, seed=0, cv_scale=-2)
