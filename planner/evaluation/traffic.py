"""Time-varying traffic for capacity experiments: per-window Gamma rates
that can be drawn at any total rate.

A :class:`Traffic` holds, per model and window, a rate and a CV, normalised
so that the mean total rate over the horizon is 1 request/s; ``at(rate_rps,
seed)`` draws a workload whose mean total rate is ``rate_rps`` with the same
shape over time and across models. A bisection on ``rate_rps``
(:mod:`planner.evaluation.capacity`) then finds the largest rate a strategy sustains.

Sources:

- :func:`synthetic_traffic`: the synthetic Azure-like generator
  (:mod:`planner.workloads.synthetic`): Zipf popularity whose ranks rotate
  every ``shift_every_s``, a daily trend and bursts.
- :func:`azure2019_traffic`: per-minute counts of the lines of an Azure
  Functions 2019 trace file (functions dealt to models round-robin), over a
  time range
  *compressed* into ``duration_s`` simulated seconds: the range is cut into
  ``windows`` equal windows (whole minutes) and window ``k`` of the trace
  becomes window ``k`` of the simulation, so hours of daily pattern fit a
  short simulation.
- :func:`family_traffic`: a traffic family of :mod:`planner.workloads.shifts`
  (diurnal cycles, functions that switch on and off, a rotating hot set)
  written as a 2019 or 2021 trace file and replayed from its lines, the
  whole trace compressed into ``duration_s`` the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from planner.domain import Workload
from planner.workloads.arrivals import Seed, as_generator, windowed_workload
from planner.workloads.azure2019 import count_minutes, day_of_file, window_counts
from planner.workloads.azure2021 import read_azure2021
from planner.workloads.shifts import ShiftConfig, azure2019_lines, azure2021_lines, minute_counts
from planner.workloads.synthetic import AzureLikeConfig, azure_like_rates
from planner.workloads.timerange import TimeRange
from planner.workloads.windows import window_bounds

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Traffic:
    """Per model (rows, in ``model_names`` order) and window ``[starts_s[k],
    ends_s[k])`` (columns): ``rates_rps`` with a mean total rate of 1
    request/s over the horizon, and ``cvs``. ``meta`` says where it came
    from."""

    name: str
    model_names: tuple[str, ...]
    starts_s: FloatArray
    ends_s: FloatArray
    rates_rps: FloatArray
    cvs: FloatArray
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return float(self.ends_s[-1])

    def at(self, rate_rps: float, seed: Seed) -> Workload:
        """A workload with mean total rate ``rate_rps`` (requests/s)."""
        if not rate_rps >= 0:
            raise ValueError(f"rate_rps: must be >= 0, got {rate_rps!r}")
        return windowed_workload(
            self.rates_rps * rate_rps,
            self.cvs,
            self.starts_s,
            self.ends_s,
            self.model_names,
            seed,
            {**self.meta, "traffic": self.name, "rate_rps": rate_rps},
        )


def normalised(
    name: str,
    model_names: Sequence[str],
    starts_s: FloatArray,
    ends_s: FloatArray,
    rates_rps: FloatArray,
    cv: float | FloatArray,
    meta: Mapping[str, Any],
) -> Traffic:
    """A :class:`Traffic` from raw per-window rates, scaled to a mean total
    rate of 1 request/s. Raises ValueError naming ``rates_rps`` when there
    is no traffic at all."""
    lengths = ends_s - starts_s
    total = float((rates_rps * lengths[None, :]).sum())
    if not total > 0:
        raise ValueError("rates_rps: the traffic has no requests")
    scale = float(ends_s[-1]) / total
    cvs = np.broadcast_to(np.asarray(cv, dtype=np.float64), rates_rps.shape).copy()
    return Traffic(name, tuple(model_names), starts_s, ends_s, rates_rps * scale, cvs, dict(meta))


def synthetic_traffic(model_names: Sequence[str], config: AzureLikeConfig, seed: Seed) -> Traffic:
    """The synthetic generator's rates for ``config`` (its ``total_rate_rps``
    only matters up to normalisation)."""
    if len(model_names) != config.num_models:
        raise ValueError(
            f"model_names: {len(model_names)} names for num_models={config.num_models}"
        )
    starts, ends, rates = azure_like_rates(config, seed)
    meta = {"kind": "azure-synthetic", "shift_every_s": config.shift_every_s, "cv": config.cv}
    return normalised("synthetic", model_names, starts, ends, rates, config.cv, meta)


def azure2019_traffic(
    lines: Iterable[str],
    source: str,
    model_names: Sequence[str],
    time_range: TimeRange,
    duration_s: float,
    windows: int,
    cv: float,
) -> Traffic:
    """``time_range`` of a 2019 trace file's ``lines`` compressed into
    ``duration_s`` seconds of ``windows`` windows (module docstring);
    arrivals in a window are a Gamma process with CV ``cv``. ``source`` is
    the file's name: errors name it and it gives the day the file holds
    (:func:`planner.workloads.day_of_file`). The range must split into
    ``windows`` windows of whole minutes."""
    minutes = time_range.duration_s / 60
    if windows < 1 or minutes % windows:
        raise ValueError(
            f"windows: the {minutes:g}-minute range does not split into {windows} "
            "windows of whole minutes"
        )
    counts = count_minutes([(day_of_file(source), source, lines)], len(model_names), time_range)
    trace_window_s = time_range.duration_s / windows
    _, _, per_window = window_counts(counts, trace_window_s)
    starts, ends = window_bounds(duration_s, duration_s / windows)
    meta = {
        "kind": "azure2019",
        "path": source,
        "start_s": time_range.start_s,
        "end_s": time_range.end_s,
        "compression": time_range.duration_s / duration_s,
        "num_functions": counts.num_functions,
        "cv": cv,
    }
    rates = per_window.astype(np.float64) / trace_window_s
    return normalised("azure2019", model_names, starts, ends, rates, cv, meta)


TRACE_FORMATS = ("2019", "2021")


def family_traffic(
    family: ShiftConfig,
    trace_format: str,
    model_names: Sequence[str],
    duration_s: float,
    windows: int,
    cv: float,
    seed: Seed,
) -> Traffic:
    """``family`` drawn with ``seed`` (:func:`planner.workloads.shifts.minute_counts`),
    written in ``trace_format`` (``"2019"``: per-minute counts; ``"2021"``:
    invocations) and replayed as the Azure readers replay a real file
    (functions dealt to models round-robin), the trace compressed into
    ``duration_s`` seconds of ``windows`` windows; arrivals in a window are a
    Gamma process with CV ``cv``."""
    if trace_format not in TRACE_FORMATS:
        raise ValueError(f"trace_format: must be 2019 or 2021, got {trace_format!r}")
    counts = minute_counts(family, as_generator(seed))
    time_range = TimeRange(0.0, family.trace_s)
    source = f"{family.family}.csv"
    if trace_format == "2019":
        traffic = azure2019_traffic(
            azure2019_lines(counts), source, model_names, time_range, duration_s, windows, cv
        )
        return dataclasses.replace(traffic, name=f"{family.family}-2019")
    trace = read_azure2021(azure2021_lines(counts, seed), model_names, time_range, source)
    trace_window_s = family.trace_s / windows
    column = np.minimum((trace.arrivals_s // trace_window_s).astype(np.int64), windows - 1)
    per_window = np.zeros((len(model_names), windows))
    np.add.at(per_window, (trace.model_ids, column), 1.0)
    starts, ends = window_bounds(duration_s, duration_s / windows)
    meta = {"kind": "azure2021", "compression": family.trace_s / duration_s, "cv": cv}
    return normalised(
        f"{family.family}-2021", model_names, starts, ends, per_window / trace_window_s, cv, meta
    )
