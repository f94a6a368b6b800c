"""Windows of a workload: the horizon ``[0, duration_s)`` cut into
consecutive windows ``[k W, min((k + 1) W, duration_s))``; the last one is
shorter when ``W`` does not divide the duration.

Statistics per window and model: request count, rate (count / window
length, requests/s) and CV, the population standard deviation over the mean
of the inter-arrival gaps *inside* the window (a gap whose ends fall in
different windows counts in neither). The CV needs at least two gaps, so it
is NaN for a model with fewer than three arrivals in the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from planner.domain import Workload

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MIN_ARRIVALS_FOR_CV = 3


def window_bounds(duration_s: float, window_s: float) -> tuple[FloatArray, FloatArray]:
    """``(starts_s, ends_s)`` of the windows covering ``[0, duration_s)``."""
    if not (isinstance(window_s, int | float) and math.isfinite(window_s) and window_s > 0):
        raise ValueError(f"window_s: must be a finite number > 0, got {window_s!r}")
    count = max(1, math.ceil(duration_s / window_s - 1e-9))
    starts = np.arange(count, dtype=np.float64) * window_s
    return starts, np.append(starts[1:], float(duration_s))


def into_horizon(times_s: FloatArray, duration_s: float) -> FloatArray:
    """``times_s`` clipped into ``[0, duration_s)``. Times shifted into that
    horizon exactly can land on its edges by float rounding; clipping moves
    them by no more than that rounding and keeps their order."""
    return np.clip(times_s, 0.0, np.nextafter(duration_s, -math.inf))


@dataclass(frozen=True, eq=False)
class GapTable:
    """Per-window gap statistics of every model (arrays of shape
    ``(num_models, num_windows)``; NaN where a model has fewer than
    :data:`MIN_ARRIVALS_FOR_CV` arrivals in the window)."""

    starts_s: FloatArray
    ends_s: FloatArray
    counts: IntArray
    mean_gap_s: FloatArray
    cv: FloatArray


def gap_table(workload: Workload, window_s: float) -> GapTable:
    """Counts, mean gap and gap CV per model and window of ``workload``."""
    starts, ends = window_bounds(workload.duration_s, window_s)
    shape = (len(workload.model_names), starts.size)
    counts = np.zeros(shape, dtype=np.int64)
    mean_gap = np.full(shape, np.nan)
    cv = np.full(shape, np.nan)
    for model in range(shape[0]):
        times = workload.arrivals_s[workload.model_ids == model]
        window = np.searchsorted(starts, times, side="right") - 1
        counts[model] = np.bincount(window, minlength=starts.size)
        inside = window[1:] == window[:-1]
        gaps = np.diff(times)[inside]
        gap_window = window[1:][inside]
        num_gaps = np.bincount(gap_window, minlength=starts.size)
        enough = counts[model] >= MIN_ARRIVALS_FOR_CV
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(gap_window, gaps, minlength=starts.size) / num_gaps
            spread = np.bincount(gap_window, (gaps - mean[gap_window]) ** 2, starts.size)
            ratio = np.sqrt(spread / num_gaps) / mean
        mean_gap[model] = np.where(enough, mean, np.nan)
        cv[model] = np.where(enough & (mean > 0), ratio, np.nan)
    return GapTable(starts, ends, counts, mean_gap, cv)


@dataclass(frozen=True)
class WindowStats:
    """One window ``[start_s, start_s + duration_s)`` of a workload: per
    model (in ``model_names`` order) the request count, rate (requests/s)
    and inter-arrival CV (NaN with fewer than three arrivals)."""

    index: int
    start_s: float
    duration_s: float
    model_names: tuple[str, ...]
    requests: tuple[int, ...]
    rate_rps: tuple[float, ...]
    cv: tuple[float, ...]

    @property
    def total_requests(self) -> int:
        return sum(self.requests)

    @property
    def total_rate_rps(self) -> float:
        return self.total_requests / self.duration_s


def window_stats(workload: Workload, window_s: float) -> tuple[WindowStats, ...]:
    """Statistics of every window of ``window_s`` seconds."""
    table = gap_table(workload, window_s)
    lengths = table.ends_s - table.starts_s
    return tuple(
        WindowStats(
            index=k,
            start_s=float(table.starts_s[k]),
            duration_s=float(lengths[k]),
            model_names=workload.model_names,
            requests=tuple(int(c) for c in table.counts[:, k]),
            rate_rps=tuple(float(c) / float(lengths[k]) for c in table.counts[:, k]),
            cv=tuple(float(v) for v in table.cv[:, k]),
        )
        for k in range(table.starts_s.size)
    )


def workload_stats(workload: Workload) -> WindowStats:
    """Statistics of the whole workload as one window."""
    return window_stats(workload, workload.duration_s)[0]


def split_windows(workload: Workload, window_s: float) -> tuple[Workload, ...]:
    """Cut ``workload`` into windows. Window ``k`` becomes a Workload over
    ``[0, length_k)`` whose arrivals are shifted by ``-start_k`` (relative
    times), with the same model names and ``meta["window"] = {"index": k,
    "start_s": start_k}`` added to the original meta."""
    starts, ends = window_bounds(workload.duration_s, window_s)
    cuts = np.searchsorted(workload.arrivals_s, starts, side="left")
    stops = np.append(cuts[1:], workload.num_requests)
    return tuple(
        replace(
            workload,
            arrivals_s=workload.arrivals_s[lo:hi] - start,
            model_ids=workload.model_ids[lo:hi],
            duration_s=float(end - start),
            meta={**workload.meta, "window": {"index": k, "start_s": float(start)}},
        )
        for k, (start, end, lo, hi) in enumerate(zip(starts, ends, cuts, stops, strict=True))
    )


def window_workload(workload: Workload, start_s: float, end_s: float) -> Workload:
    """The requests arriving in ``[start_s, end_s)``, shifted to start at 0."""
    mask = (workload.arrivals_s >= start_s) & (workload.arrivals_s < end_s)
    return Workload(
        into_horizon(workload.arrivals_s[mask] - start_s, end_s - start_s),
        workload.model_ids[mask],
        workload.model_names,
        end_s - start_s,
    )
