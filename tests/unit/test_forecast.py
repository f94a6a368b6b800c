"""Forecasters against hand computations; forecasts never read the future."""

from __future__ import annotations

import math

import numpy as np
import pytest

from planner.domain import Workload
from planner.replan.forecast import (
    BestRecent,
    Ewma,
    Holt,
    LastWindow,
    Seasonal,
    drift,
    forecast_window,
    forecast_workload,
    history_fit,
    make_forecaster,
)

SERIES = np.array([[1.0, 2.0, 4.0], [8.0, 0.0, 0.0]])


def test_last_window_repeats_the_last_value() -> None:
    assert LastWindow().predict(SERIES).tolist() == [4.0, 0.0]


def test_ewma_by_hand() -> None:
    # row 0: 1 -> 0.5*2 + 0.5*1 = 1.5 -> 0.5*4 + 0.5*1.5 = 2.75
    # row 1: 8 -> 4 -> 2
    assert Ewma(0.5).predict(SERIES).tolist() == [2.75, 2.0]
    # alpha 0.25: 1 -> 1.25 -> 1.9375
    assert Ewma(0.25).predict(SERIES[:1]).tolist() == [1.9375]
    assert Ewma(1.0).predict(SERIES).tolist() == LastWindow().predict(SERIES).tolist()


def test_holt_by_hand() -> None:
    # row 0: level 1, trend 0 -> level 0.5*2 + 0.5*(1 + 0) = 1.5, trend
    # 0.5*0.5 + 0 = 0.25 -> level 0.5*4 + 0.5*1.75 = 2.875, trend
    # 0.5*1.375 + 0.5*0.25 = 0.8125 -> forecast 3.6875.
    # row 1: level 8 -> 4, trend -2 -> level 1, trend -2.5 -> forecast -1.5
    assert Holt(0.5, 0.5).predict(SERIES).tolist() == [3.6875, -1.5]
    # a steady ramp is extrapolated exactly once the trend is learned
    assert Holt(1.0, 1.0).predict(np.array([[1.0, 2.0, 3.0]])).tolist() == [4.0]


def test_forecasts_are_never_negative_and_can_be_floored() -> None:
    work = Workload.merge({"a": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10.5, 15.0]}, 20.0)
    # window 0: rate 1 (gaps 1); window 1: 2 arrivals, empirical rate 0.2
    assert forecast_window(Holt(1.0, 1.0), work, 10.0, 2).rates_rps.tolist() == [0.0]
    # with a floor: half the mean of the rates seen, (1 + 0.2) / 2
    floored = forecast_window(Holt(1.0, 1.0), work, 10.0, 2, floor=0.5)
    assert floored.rates_rps.tolist() == [pytest.approx(0.3, abs=1e-15)]
    with pytest.raises(ValueError, match=r"^floor: must be >= 0"):
        forecast_window(Holt(), work, 10.0, 2, floor=-1.0)


def test_seasonal_takes_the_value_one_period_back_else_falls_back() -> None:
    assert Seasonal(2).predict(SERIES).tolist() == [2.0, 0.0]
    assert Seasonal(3).predict(SERIES).tolist() == [1.0, 8.0]
    assert Seasonal(4, Ewma(0.5)).predict(SERIES).tolist() == [2.75, 2.0]


def test_best_recent_picks_the_candidate_that_forecast_the_last_windows_best() -> None:
    pick = BestRecent((LastWindow(), Ewma(0.5)), lookback=2)
    # a mix that keeps flipping, 0 4 0 4: forecasting window 2 (0) from 0 4, last says 4
    # (error 4) and EWMA 2 (error 2); window 3 (4) from 0 4 0, last 0 (4) and EWMA 1 (3):
    # 8 against 5, so EWMA forecasts window 4: 0.5 x 4 + 0.5 x 1 = 2.5
    flipping = np.array([[0.0, 4.0, 0.0, 4.0]])
    assert pick.errors(flipping).tolist() == [8.0, 5.0]
    assert pick.predict(flipping).tolist() == [2.5]
    # a ramp, 0 1 2 3: last errs 1 and 1, EWMA 1.5 (0.5 for 2) and 1.75 (1.25 for 3)
    ramp = np.array([[0.0, 1.0, 2.0, 3.0]])
    assert pick.errors(ramp).tolist() == [2.0, 3.25]
    assert pick.predict(ramp).tolist() == [3.0]
    # errors are summed over every row: both series together pick EWMA (8 + 2 against
    # 5 + 3.25), whose ramp forecast is 0.5 x 3 + 0.5 x 1.25 = 2.125
    assert pick.predict(np.vstack([flipping, ramp])).tolist() == [2.5, 2.125]
    # lookback 1 judges window 3 alone; one window of history backtests nothing: the first
    assert BestRecent((LastWindow(), Ewma(0.5)), lookback=1).errors(ramp).tolist() == [1.0, 1.75]
    assert pick.predict(np.array([[7.0]])).tolist() == [7.0]
    assert pick.errors(np.array([[7.0]])).tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("last", "last"),
        ("ewma", "ewma(0.5)"),
        ("EWMA:0.3", "ewma(0.3)"),
        ("seasonal:24", "seasonal(24, else ewma(0.5))"),
        ("holt", "holt(0.5, 0.5)"),
        ("holt:0.25", "holt(0.25, 0.25)"),
        ("best", "best of holt(0.5, 0.5), ewma(0.5), last over 3 windows"),
        ("best:5", "best of holt(0.5, 0.5), ewma(0.5), last over 5 windows"),
    ],
)
def test_make_forecaster(spec: str, name: str) -> None:
    assert make_forecaster(spec).name == name


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("arima", "forecast: unknown forecaster 'arima'"),
        ("ewma:x", "forecast: 'x' in 'ewma:x' is not a number"),
        ("ewma:1.5", r"forecast: alpha: must be in \(0, 1\], got 1.5"),
        ("ewma:0", r"forecast: alpha: must be in \(0, 1\], got 0.0"),
        ("seasonal", "forecast: seasonal needs a whole period in windows, got None"),
        ("seasonal:2.5", "forecast: seasonal needs a whole period in windows, got 2.5"),
        ("seasonal:0", "forecast: period_windows: must be >= 1, got 0"),
        ("last:3", "forecast: last takes no argument, got 3.0"),
        ("holt:2", r"forecast: alpha: must be in \(0, 1\], got 2.0"),
        ("best:2.5", "forecast: best needs a whole lookback in windows, got 2.5"),
        ("best:0", "forecast: lookback: must be >= 1, got 0"),
    ],
)
def test_make_forecaster_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        make_forecaster(spec)


def test_predict_needs_history() -> None:
    with pytest.raises(ValueError, match=r"^series: must have shape \(rows, k\) with k >= 1"):
        Ewma().predict(np.empty((2, 0)))


def _two_windows() -> Workload:
    # window 0 = [0, 10): model a every 2 s (rate 0.5, CV 0), b three times
    #   with gaps 1 and 3 (mean 2, std 1: rate 0.5, CV 0.5);
    # window 1 = [10, 20): a every 1 s (rate 1, CV 0), b absent (rate 0);
    # window 2 = [20, 30): a flood that a forecast of window 2 must not see.
    return Workload.merge(
        {
            "a": [0, 2, 4, 6, 8, *range(10, 20), *np.linspace(20, 29, 500)],
            "b": [1, 2, 5, *np.linspace(20, 29, 500)],
        },
        30.0,
    )


def test_history_fit_by_hand() -> None:
    rates, cvs = history_fit(_two_windows(), 10.0, 2)
    assert rates.tolist() == [[0.5, 1.0], [0.5, 0.0]]
    assert cvs.tolist() == [[0.0, 0.0], [0.5, 1.0]]


def test_forecast_window_by_hand() -> None:
    forecast = forecast_window(Ewma(0.5), _two_windows(), 10.0, 2)
    assert forecast.window == 2
    assert forecast.rates_rps.tolist() == [0.75, 0.25]
    assert forecast.cvs.tolist() == [0.0, 0.75]
    assert forecast.total_rate_rps == 1.0
    assert forecast.to_json()["rates_rps"] == {"a": 0.75, "b": 0.25}
    doubled = forecast.scaled(2.0)
    assert doubled.rates_rps.tolist() == [1.5, 0.5] and doubled.cvs.tolist() == [0.0, 0.75]
    with pytest.raises(ValueError, match=r"^factor: must be >= 0"):
        forecast.scaled(-1.0)


def test_forecast_never_reads_the_window_it_forecasts() -> None:
    past = _two_windows()
    cut = int(np.searchsorted(past.arrivals_s, 20.0))
    quiet = Workload(past.arrivals_s[:cut], past.model_ids[:cut], past.model_names, 30.0)
    for forecaster in (LastWindow(), Ewma(0.3), Seasonal(1)):
        seen = forecast_window(forecaster, past, 10.0, 2)
        blind = forecast_window(forecaster, quiet, 10.0, 2)
        assert seen.rates_rps.tolist() == blind.rates_rps.tolist()
        assert seen.cvs.tolist() == blind.cvs.tolist()


def test_forecast_window_errors() -> None:
    with pytest.raises(ValueError, match=r"^window: a forecast needs at least one earlier window"):
        forecast_window(Ewma(), _two_windows(), 10.0, 0)
    with pytest.raises(ValueError, match=r"^windows: 4 windows of 10.0 s do not fit"):
        forecast_window(Ewma(), _two_windows(), 10.0, 4)


def test_forecast_workload_draws_the_forecast() -> None:
    forecast = forecast_window(LastWindow(), _two_windows(), 10.0, 2)
    # a: rate 1, CV 0 -> one arrival every second from t = 1; b: rate 0.
    drawn = forecast_workload(forecast, 10.0, seed=3)
    assert drawn.duration_s == 10.0
    assert drawn.for_model("a").tolist() == [float(t) for t in range(1, 10)]
    assert drawn.for_model("b").size == 0
    again = forecast_workload(forecast, 10.0, seed=3)
    assert again.arrivals_s.tolist() == drawn.arrivals_s.tolist()
    with pytest.raises(ValueError, match=r"^duration_s: must be a finite number > 0"):
        forecast_workload(forecast, 0.0, seed=3)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ([1.0, 1.0], [1.0, 1.0], 0.0),
        ([1.0, 1.0], [2.0, 0.0], 0.5),  # mix: 0.5 * (0.5 + 0.5); total unchanged
        ([1.0, 1.0], [2.0, 2.0], 1.0),  # same mix, total doubled
        ([3.0, 1.0], [1.0, 1.0], 0.5),  # mix 0.25, total -50 %
        ([0.0, 0.0], [0.0, 0.0], 0.0),
        ([0.0, 0.0], [1.0, 0.0], math.inf),
    ],
)
def test_drift_by_hand(before: list[float], after: list[float], expected: float) -> None:
    assert drift(before, after) == expected
