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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from planner.domain import Workload
from planner.workloads.arrivals import Seed, windowed_workload
from planner.workloads.azure2019 import count_minutes, day_of_file, window_counts
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
