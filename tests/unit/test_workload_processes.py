"""Arrival processes: rates and CVs within statistical tolerance for fixed
seeds, exact deterministic cases, reproducibility, per-window drawing."""

from __future__ import annotations

import re

import numpy as np
import pytest

from planner.workloads import (
    ProcessSpec,
    gamma_arrivals,
    poisson_arrivals,
    process_workload,
    windowed_workload,
)
from planner.workloads.arrivals import renewal_cells


def _gap_cv(times: np.ndarray) -> float:
    gaps = np.diff(times)
    return float(gaps.std() / gaps.mean())


def test_poisson_rate_and_cv_match_for_a_fixed_seed() -> None:
    # 50 rps for 2000 s: 100_000 expected arrivals, count std 316 (0.3 %).
    times = poisson_arrivals(50.0, 2000.0, seed=11)
    assert times.size / 2000.0 == pytest.approx(50.0, rel=0.015)
    assert _gap_cv(times) == pytest.approx(1.0, abs=0.02)
    # Exponential gaps: P(gap > mean) = exp(-1).
    gaps = np.diff(times)
    assert np.mean(gaps > 1 / 50.0) == pytest.approx(np.exp(-1), abs=0.01)


@pytest.mark.parametrize("cv", [0.5, 2.0])
def test_gamma_rate_and_cv_match_for_a_fixed_seed(cv: float) -> None:
    times = gamma_arrivals(40.0, cv, 5000.0, seed=5)
    assert times.size / 5000.0 == pytest.approx(40.0, rel=0.03)
    assert _gap_cv(times) == pytest.approx(cv, rel=0.04)
    assert float(np.diff(times).mean()) == pytest.approx(1 / 40.0, rel=0.03)


def test_cv_zero_is_deterministic_and_starts_one_gap_after_start() -> None:
    times = gamma_arrivals(4.0, 0.0, 2.0, seed=0, start_s=10.0)
    np.testing.assert_array_equal(times, [10.25, 10.5, 10.75, 11.0, 11.25, 11.5, 11.75])


def test_same_seed_same_arrivals_other_seed_other_arrivals() -> None:
    first = gamma_arrivals(20.0, 2.0, 100.0, seed=3)
    np.testing.assert_array_equal(first, gamma_arrivals(20.0, 2.0, 100.0, seed=3))
    assert not np.array_equal(first, gamma_arrivals(20.0, 2.0, 100.0, seed=4))


def test_arrivals_lie_in_the_half_open_span() -> None:
    times = poisson_arrivals(100.0, 3.0, seed=1, start_s=7.0)
    assert times.min() >= 7.0 and times.max() < 10.0
    assert np.all(np.diff(times) >= 0)


def test_rate_zero_gives_no_arrivals() -> None:
    assert poisson_arrivals(0.0, 100.0, seed=1).size == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: gamma_arrivals(-1.0, 1.0, 10.0, 0), "rate_rps: must be finite and >= 0, got -1.0"),
        (lambda: gamma_arrivals(1.0, float("nan"), 10.0, 0), "cv: must be finite and >= 0"),
        (lambda: gamma_arrivals(1.0, 1.0, 0.0, 0), "duration_s: must be > 0, got 0.0"),
        (lambda: poisson_arrivals(1.0, 10.0, -2), "seed: must be a non-negative integer"),
        (lambda: ProcessSpec(float("inf")), "rate_rps: must be finite and >= 0"),
        (lambda: ProcessSpec(1.0, "2"), "cv: must be a number, got '2'"),  # type: ignore[arg-type]
        (lambda: ProcessSpec(1.0, 1e308), "cv: must be at most 100, got 1e+308"),
        (lambda: gamma_arrivals(1.0, 101.0, 10.0, 0), "cv: must be at most 100, got 101.0"),
        (lambda: process_workload({}, 10.0, 0), "specs: needs at least one model"),
    ],
)
def test_bad_process_arguments_name_the_field(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=r"^" + re.escape(message)):
        call()  # type: ignore[operator]


def test_process_workload_merges_models_and_keeps_each_models_stream() -> None:
    specs = {"a": ProcessSpec(30.0, 1.0), "b": ProcessSpec(10.0, 3.0)}
    workload = process_workload(specs, 600.0, seed=9)
    assert workload.model_names == ("a", "b")
    assert workload.duration_s == 600.0
    assert workload.meta["seed"] == 9
    assert workload.for_model("a").size / 600.0 == pytest.approx(30.0, rel=0.05)
    assert workload.for_model("b").size / 600.0 == pytest.approx(10.0, rel=0.2)
    # Model "a" draws from its own child stream: b's rate does not move it.
    other = process_workload({"a": specs["a"], "b": ProcessSpec(99.0)}, 600.0, seed=9)
    np.testing.assert_array_equal(workload.for_model("a"), other.for_model("a"))
    again = process_workload(specs, 600.0, seed=9)
    np.testing.assert_array_equal(workload.arrivals_s, again.arrivals_s)
    np.testing.assert_array_equal(workload.model_ids, again.model_ids)


def test_windowed_workload_restarts_the_process_in_every_window() -> None:
    rates = np.array([[2.0, 0.0], [0.0, 4.0]])
    workload = windowed_workload(
        rates, 0.0, np.array([0.0, 10.0]), np.array([10.0, 20.0]), ("x", "y"), 0, {}
    )
    np.testing.assert_array_equal(workload.for_model("x"), np.arange(1, 20) * 0.5)
    np.testing.assert_array_equal(workload.for_model("y"), 10.0 + np.arange(1, 40) * 0.25)
    assert workload.duration_s == 20.0


def test_windowed_workload_checks_shapes_and_values() -> None:
    bounds = (np.array([0.0]), np.array([1.0]))
    with pytest.raises(ValueError, match=r"^rates_rps: shape \(1, 2\) is not"):
        windowed_workload(np.ones((1, 2)), 1.0, *bounds, ("a",), 0, {})
    with pytest.raises(ValueError, match=r"^rates_rps: must be finite and >= 0"):
        windowed_workload(np.array([[-1.0]]), 1.0, *bounds, ("a",), 0, {})
    with pytest.raises(ValueError, match=r"^cvs: must be finite and >= 0"):
        windowed_workload(np.array([[1.0]]), -1.0, *bounds, ("a",), 0, {})


class _HalfMeanGaps:
    """A stand-in Generator whose every Gamma gap is half the mean: twice
    the expected arrivals, so the first batch of draws cannot cover a cell
    and the drawing has to continue where it stopped."""

    def gamma(self, shape: np.ndarray, scale: np.ndarray) -> np.ndarray:
        return 0.5 * shape * scale


def test_renewal_cells_continue_a_cell_after_its_first_batch() -> None:
    times, cells = renewal_cells(
        np.array([4.0, 0.0, 2.0]),
        np.array([1.0, 1.0, 1.0]),
        np.array([0.0, 0.0, 5.0]),
        np.array([10.0, 10.0, 8.0]),
        _HalfMeanGaps(),  # type: ignore[arg-type]
    )
    order = np.lexsort((times, cells))
    expected_0 = np.arange(1, 80) * 0.125  # gaps 1/8 over [0, 10)
    expected_2 = 5.0 + np.arange(1, 12) * 0.25  # gaps 1/4 over [5, 8)
    np.testing.assert_allclose(times[order], np.concatenate([expected_0, expected_2]))
    np.testing.assert_array_equal(cells[order], [0] * 79 + [2] * 11)


def test_a_cell_with_enormous_gaps_does_not_disturb_the_next_cell() -> None:
    # Without capping, the first cell's 1e300 s gaps would swamp the running
    # sum and the second cell's arrivals would all collapse onto one time.
    times, cells = renewal_cells(
        np.array([1e-300, 4.0]),
        np.array([1.0, 0.0]),
        np.array([0.0, 0.0]),
        np.array([2.0, 2.0]),
        np.random.default_rng(0),
    )
    np.testing.assert_array_equal(cells, [1] * 7)
    np.testing.assert_array_equal(times, np.arange(1, 8) * 0.25)
