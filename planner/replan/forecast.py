"""Forecasts of a window's traffic made only from the windows before it.

The horizon is cut into windows of ``window_s`` seconds
(:func:`planner.workloads.windows.window_bounds`). The traffic of a window is
summarised, per model, by its Gamma fit (:func:`planner.workloads.fit.fit_windows`):
a rate (requests/s) and the CV of the inter-arrival gaps. A forecaster
turns the fitted series of the ``k`` windows before window ``k`` (arrays of
shape ``(num_models, k)``, oldest first) into a forecast for window ``k``;
it is applied to the rates and to the CVs alike.

Forecasters (pluggable: anything with ``name`` and ``predict(series)``):

- :class:`LastWindow`: window ``k`` looks like window ``k - 1``.
- :class:`Ewma`: the exponentially weighted moving average
  ``level_0 = x_0``, ``level_j = alpha * x_j + (1 - alpha) * level_{j-1}``;
  the forecast is ``level_{k-1}``.
- :class:`Holt`: EWMA with a trend (Holt's linear method):
  ``level_0 = x_0``, ``trend_0 = 0``, ``level_j = alpha * x_j + (1 - alpha)
  * (level_{j-1} + trend_{j-1})``, ``trend_j = beta * (level_j -
  level_{j-1}) + (1 - beta) * trend_{j-1}``; the forecast is ``level_{k-1} +
  trend_{k-1}`` (a ramp is extrapolated one window ahead).
- :class:`Seasonal`: seasonal naive with a period of ``period_windows``
  windows (a day, typically): window ``k`` looks like window
  ``k - period_windows``; with less than one period of history it falls
  back to an :class:`Ewma`.
- :class:`BestRecent`: whichever of its candidates (Holt, EWMA, last
  window) forecast the last ``lookback`` windows best, each from the
  windows before it: a trend is extrapolated while it holds, a hot set
  that keeps moving is smoothed.

:func:`forecast_window` reads only the arrivals before window ``k``'s start
(the workload is cut there before fitting), so a forecast cannot see the
future. :func:`forecast_workload` draws arrivals from a forecast, seeded, for
a planner to plan or judge on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from planner.domain import Workload
from planner.workloads.arrivals import Seed, windowed_workload
from planner.workloads.fit import fit_windows
from planner.workloads.windows import window_bounds

FloatArray = npt.NDArray[np.float64]


class Forecaster(Protocol):
    """Predicts the next value of every row of a series."""

    @property
    def name(self) -> str:
        """Short label for reports, e.g. ``ewma(0.5)``."""
        ...

    def predict(self, series: FloatArray) -> FloatArray:
        """``series`` has shape ``(rows, k)``, ``k >= 1``, oldest first;
        returns one forecast per row (shape ``(rows,)``)."""
        ...


def _series(series: FloatArray) -> FloatArray:
    values = np.asarray(series, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] == 0:
        raise ValueError(f"series: must have shape (rows, k) with k >= 1, got {values.shape}")
    return values


def _check_windows(name: str, value: int) -> None:
    """ValueError naming ``name`` unless ``value`` is an integer (not a
    bool) of at least one window."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name}: must be >= 1, got {value}")


@dataclass(frozen=True)
class LastWindow:
    """The forecast is the last value."""

    @property
    def name(self) -> str:
        return "last"

    def predict(self, series: FloatArray) -> FloatArray:
        return _series(series)[:, -1].copy()


@dataclass(frozen=True)
class Ewma:
    """Exponentially weighted moving average with smoothing ``alpha`` in
    ``(0, 1]`` (1 is :class:`LastWindow`)."""

    alpha: float = 0.5

    def __post_init__(self) -> None:
        if not (isinstance(self.alpha, int | float) and 0 < self.alpha <= 1):
            raise ValueError(f"alpha: must be in (0, 1], got {self.alpha!r}")

    @property
    def name(self) -> str:
        return f"ewma({self.alpha:g})"

    def predict(self, series: FloatArray) -> FloatArray:
        values = _series(series)
        level = values[:, 0].copy()
        for j in range(1, values.shape[1]):
            level = self.alpha * values[:, j] + (1 - self.alpha) * level
        return level


@dataclass(frozen=True)
class Holt:
    """Exponential smoothing of level (``alpha``) and trend (``beta``),
    both in ``(0, 1]``."""

    alpha: float = 0.5
    beta: float = 0.5

    def __post_init__(self) -> None:
        for name in ("alpha", "beta"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 < value <= 1):
                raise ValueError(f"{name}: must be in (0, 1], got {value!r}")

    @property
    def name(self) -> str:
        return f"holt({self.alpha:g}, {self.beta:g})"

    def predict(self, series: FloatArray) -> FloatArray:
        values = _series(series)
        level = values[:, 0].copy()
        trend = np.zeros_like(level)
        for j in range(1, values.shape[1]):
            previous = level
            level = self.alpha * values[:, j] + (1 - self.alpha) * (level + trend)
            trend = self.beta * (level - previous) + (1 - self.beta) * trend
        return level + trend


@dataclass(frozen=True)
class Seasonal:
    """Seasonal naive: the value one period (``period_windows`` windows)
    earlier; ``fallback`` while the history is shorter than a period."""

    period_windows: int
    fallback: Ewma = Ewma()

    def __post_init__(self) -> None:
        _check_windows("period_windows", self.period_windows)

    @property
    def name(self) -> str:
        return f"seasonal({self.period_windows}, else {self.fallback.name})"

    def predict(self, series: FloatArray) -> FloatArray:
        values = _series(series)
        if values.shape[1] < self.period_windows:
            return self.fallback.predict(values)
        return values[:, -self.period_windows].copy()


@dataclass(frozen=True)
class BestRecent:
    """The forecast of the one of ``candidates`` whose one-window-ahead
    forecasts of the last ``lookback`` windows (each made from the windows
    before it) were closest to what came, in absolute error summed over
    every row; ties go to the earlier candidate, and with under two windows
    of history the first forecasts. A trend that held is extrapolated
    (Holt), a mix that keeps reverting is smoothed (EWMA)."""

    candidates: tuple[Forecaster, ...] = (Holt(), Ewma(), LastWindow())
    lookback: int = 3

    def __post_init__(self) -> None:
        _check_windows("lookback", self.lookback)
        if not self.candidates:
            raise ValueError("candidates: must name at least one forecaster")

    @property
    def name(self) -> str:
        names = ", ".join(c.name for c in self.candidates)
        return f"best of {names} over {self.lookback} windows"

    def errors(self, series: FloatArray) -> FloatArray:
        """Each candidate's absolute error summed over the rows and the
        backtested windows."""
        values = _series(series)
        k = values.shape[1]
        errors = np.zeros(len(self.candidates))
        for end in range(max(1, k - self.lookback), k):
            for i, candidate in enumerate(self.candidates):
                errors[i] += np.abs(candidate.predict(values[:, :end]) - values[:, end]).sum()
        return errors

    def predict(self, series: FloatArray) -> FloatArray:
        values = _series(series)
        return self.candidates[int(np.argmin(self.errors(values)))].predict(values)


def _whole_windows(name: str, what: str, value: float | None) -> int:
    """``value`` as a whole number of windows, else a ``forecast:`` error."""
    if value is None or value != int(value):
        raise ValueError(f"forecast: {name} needs a whole {what} in windows, got {value!r}")
    return int(value)


def _last(value: float | None) -> Forecaster:
    if value is not None:
        raise ValueError(f"forecast: last takes no argument, got {value!r}")
    return LastWindow()


def _ewma(value: float | None) -> Forecaster:
    return Ewma() if value is None else Ewma(value)


def _holt(value: float | None) -> Forecaster:
    return Holt() if value is None else Holt(value, value)


def _seasonal(value: float | None) -> Forecaster:
    return Seasonal(_whole_windows("seasonal", "period", value))


def _best(value: float | None) -> Forecaster:
    if value is None:
        return BestRecent()
    return BestRecent(lookback=_whole_windows("best", "lookback", value))


FORECASTERS: dict[str, Callable[[float | None], Forecaster]] = {
    "last": _last,
    "ewma": _ewma,
    "holt": _holt,
    "seasonal": _seasonal,
    "best": _best,
}
"""Forecaster by name; the argument is the one number after ``:`` in a spec
(EWMA's ``alpha``, Holt's ``alpha`` = ``beta``, the seasonal period in
windows, the best-recent lookback in windows), None when absent. Add an
entry to plug in another forecaster."""

FORECASTER_SPECS = "last, ewma[:alpha], holt[:alpha], seasonal:N or best[:N] (N in windows)"
"""The forecaster specs :func:`make_forecaster` reads, in words for help texts."""


def make_forecaster(spec: str) -> Forecaster:
    """Parse ``"last"``, ``"ewma"``, ``"ewma:0.3"``, ``"holt"``,
    ``"holt:0.3"`` or ``"seasonal:24"`` (period in windows); errors start
    with ``forecast:``."""
    name, _, argument = spec.strip().lower().partition(":")
    if name not in FORECASTERS:
        raise ValueError(
            f"forecast: unknown forecaster {spec!r}; choose from {', '.join(FORECASTERS)}"
        )
    value: float | None = None
    if argument:
        try:
            value = float(argument)
        except ValueError:
            raise ValueError(f"forecast: {argument!r} in {spec!r} is not a number") from None
    try:
        return FORECASTERS[name](value)
    except ValueError as error:
        message = str(error)
        raise ValueError(
            message if message.startswith("forecast") else f"forecast: {message}"
        ) from None


@dataclass(frozen=True, eq=False)
class Forecast:
    """The forecast traffic of one window: per model (in ``model_names``
    order) the rate (requests/s) and the inter-arrival CV."""

    window: int
    model_names: tuple[str, ...]
    rates_rps: FloatArray
    cvs: FloatArray

    @property
    def total_rate_rps(self) -> float:
        return float(self.rates_rps.sum())

    def scaled(self, factor: float) -> Forecast:
        """The same forecast with every rate times ``factor`` (>= 0)."""
        if not factor >= 0:
            raise ValueError(f"factor: must be >= 0, got {factor!r}")
        return Forecast(self.window, self.model_names, self.rates_rps * factor, self.cvs)

    def to_json(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "rates_rps": dict(zip(self.model_names, map(float, self.rates_rps), strict=True)),
            "cvs": dict(zip(self.model_names, map(float, self.cvs), strict=True)),
        }


def history_fit(workload: Workload, window_s: float, windows: int) -> tuple[FloatArray, FloatArray]:
    """``(rates_rps, cvs)`` of windows ``0 .. windows - 1`` (shape
    ``(num_models, windows)``), fitted from the arrivals before
    ``windows * window_s`` only."""
    end_s = windows * window_s
    if windows < 1 or end_s > workload.duration_s + 1e-9 * window_s:
        raise ValueError(
            f"windows: {windows} windows of {window_s} s do not fit in the "
            f"workload's {workload.duration_s} s"
        )
    cut = int(np.searchsorted(workload.arrivals_s, end_s, side="left"))
    past = Workload(
        workload.arrivals_s[:cut], workload.model_ids[:cut], workload.model_names, end_s
    )
    _, rates, cvs = fit_windows(past, window_s)
    return rates[:, :windows], cvs[:, :windows]


def forecast_window(
    forecaster: Forecaster,
    workload: Workload,
    window_s: float,
    window: int,
    floor: float = 0.0,
) -> Forecast:
    """Forecast window ``window`` (>= 1) of ``workload`` from the windows
    before it; arrivals at or after its start are never read. Rates and CVs
    are clipped at 0, and no model's rate is forecast below ``floor`` times
    its mean rate over those windows (so a model that had traffic is not
    written off by an extrapolated downward trend)."""
    if window < 1:
        raise ValueError(f"window: a forecast needs at least one earlier window, got {window}")
    if not floor >= 0:
        raise ValueError(f"floor: must be >= 0, got {floor!r}")
    rates, cvs = history_fit(workload, window_s, window)
    predicted = np.maximum(forecaster.predict(rates), floor * rates.mean(axis=1))
    return Forecast(
        window,
        workload.model_names,
        np.maximum(predicted, 0.0),
        np.maximum(forecaster.predict(cvs), 0.0),
    )


def forecast_workload(forecast: Forecast, duration_s: float, seed: Seed) -> Workload:
    """Arrivals over ``[0, duration_s)`` drawn from the forecast: one Gamma
    process per model with the forecast rate and CV."""
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s: must be a finite number > 0, got {duration_s!r}")
    starts, ends = window_bounds(duration_s, duration_s)
    return windowed_workload(
        forecast.rates_rps[:, None],
        forecast.cvs[:, None],
        starts,
        ends,
        forecast.model_names,
        seed,
        {"kind": "forecast", "window": forecast.window},
    )


def drift(before: Sequence[float] | FloatArray, after: Sequence[float] | FloatArray) -> float:
    """How much a traffic mix changed, in ``[0, inf)``: the larger of the
    total-variation distance between the two popularity distributions
    (rates normalised to sum 1; in ``[0, 1]``) and the relative change of
    the total rate. Zero iff equal; 0 for two all-zero vectors."""
    a = np.asarray(before, dtype=np.float64)
    b = np.asarray(after, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"after: shape {b.shape} differs from before {a.shape}")
    total_a, total_b = float(a.sum()), float(b.sum())
    if total_a == 0 and total_b == 0:
        return 0.0
    if total_a == 0 or total_b == 0:
        return math.inf
    mix = 0.5 * float(np.abs(a / total_a - b / total_b).sum())
    return max(mix, abs(total_b - total_a) / total_a)
