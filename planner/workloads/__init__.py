"""Workloads: request arrivals per model over a horizon (the domain type
:class:`planner.domain.Workload`), and everything that makes them.

- Arrival processes: Poisson and Gamma(rate, cv), seeded
  (:func:`gamma_arrivals`, :func:`process_workload`).
- Azure Functions traces, 2019 per-minute counts and 2021 invocations,
  streamed line by line and replayed as in the AlpaServe evaluation
  (:func:`count_minutes` and :func:`replay_azure2019`;
  :func:`read_azure2021` and :func:`redraw`). The files themselves are read
  by :mod:`planner.files`; bytes become text lines through
  :func:`utf8_lines`, which names the line and column of a bad byte.
- A synthetic Azure-like generator with a daily trend, bursts and drifting
  Zipf popularity (:func:`azure_like_workload`).
- Windows and their per-model rate/CV statistics (:func:`window_stats`).
- Rate/CV scaling (:func:`scale_rate`, :func:`redraw`).
- Popularity that shifts in phases, each with its own hot set
  (:class:`PhaseShift`, :func:`rotating_hot_sets`).

Times are seconds, rates requests per second; a workload's arrivals are
sorted and lie in ``[0, duration_s)``.
"""

from planner.domain import Workload
from planner.workloads.arrivals import (
    ArrivalBudgetError,
    ProcessSpec,
    as_generator,
    default_model_names,
    gamma_arrivals,
    poisson_arrivals,
    process_workload,
    windowed_workload,
)
from planner.workloads.azure2019 import (
    MinuteCounts,
    count_minutes,
    day_of_file,
    replay_azure2019,
    window_counts,
    window_rates,
)
from planner.workloads.azure2021 import read_azure2021
from planner.workloads.csvtext import utf8_lines
from planner.workloads.fit import fit_windows
from planner.workloads.mapping import RoundRobinMapper
from planner.workloads.phases import PhaseShift, rotating_hot_sets
from planner.workloads.scaling import redraw, scale_rate
from planner.workloads.synthetic import AzureLikeConfig, azure_like_rates, azure_like_workload
from planner.workloads.timerange import TRACE_TIME_HELP, TimeRange, parse_trace_time
from planner.workloads.windows import WindowStats, split_windows, window_stats, workload_stats

__all__ = [
    "TRACE_TIME_HELP",
    "ArrivalBudgetError",
    "AzureLikeConfig",
    "MinuteCounts",
    "PhaseShift",
    "ProcessSpec",
    "RoundRobinMapper",
    "TimeRange",
    "WindowStats",
    "Workload",
    "as_generator",
    "azure_like_rates",
    "azure_like_workload",
    "count_minutes",
    "day_of_file",
    "default_model_names",
    "fit_windows",
    "gamma_arrivals",
    "parse_trace_time",
    "poisson_arrivals",
    "process_workload",
    "read_azure2021",
    "redraw",
    "replay_azure2019",
    "rotating_hot_sets",
    "scale_rate",
    "split_windows",
    "utf8_lines",
    "window_counts",
    "window_rates",
    "window_stats",
    "windowed_workload",
    "workload_stats",
]
