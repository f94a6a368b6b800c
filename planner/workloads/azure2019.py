"""The Azure Functions 2019 trace (``invocations_per_function_md.anon.dXX.csv``).

Each file holds one day: header ``HashOwner,HashApp,HashFunction,Trigger,1,
2,...,1440`` and one row per function with its invocation count in every
minute of the day. ``dXX`` in the file name is the day, ``d01`` being day 0
of a ``"day.hour.minute"`` time range; a name without it is day 0.

Replay, as in the reference evaluation: functions with traffic in the range
(key: owner, app and function hashes) are dealt to models round-robin
(:mod:`planner.workloads.mapping`); their counts add up per model; for each
window of ``window_s`` seconds (a multiple of 60) the model's rate is
``count / window length * rate_scale`` requests/s, and arrivals are drawn
from a Gamma process of that rate whose CV is ``cv_scale`` (1 = Poisson).
Times in the resulting Workload are relative to the range start.

Trace lines are read one at a time; only per-model counts of the range are
kept (``num_models x range minutes`` integers) plus one model index per
function, so a full-size trace is never held in memory. Every row is fully
checked, including minutes outside the range.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from planner.domain import Workload
from planner.workloads.arrivals import Seed, non_negative, seed_meta, windowed_workload
from planner.workloads.csvtext import check_filled, read_rows, trace_error
from planner.workloads.mapping import RoundRobinMapper
from planner.workloads.timerange import TimeRange
from planner.workloads.windows import window_bounds

MINUTES_PER_DAY = 1440
KEY_COLUMNS = ("HashOwner", "HashApp", "HashFunction")
HEADER = (*KEY_COLUMNS, "Trigger", *(str(m) for m in range(1, MINUTES_PER_DAY + 1)))
_DAY_IN_NAME = re.compile(r"\.d(\d+)\.")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
DaySource = tuple[int, str, Iterable[str]]


@dataclass(frozen=True, eq=False)
class MinuteCounts:
    """Invocations per model (row) and minute of ``time_range`` (column),
    and how many trace functions had traffic in the range."""

    time_range: TimeRange
    counts: IntArray
    num_functions: int


def day_of_file(path: str | Path) -> int:
    """The day a 2019 trace file holds: ``dXX`` in its name minus one
    (``...anon.d01.csv`` is day 0); 0 when the name has no ``dXX``."""
    match = _DAY_IN_NAME.search(Path(path).name + ".")
    if match is None:
        return 0
    day = int(match.group(1))
    if day < 1:
        raise ValueError(f"{path}: day d{match.group(1)} in the file name must be >= d01")
    return day - 1


def _minute_range(time_range: TimeRange) -> tuple[int, int]:
    for name in ("start_s", "end_s"):
        if getattr(time_range, name) % 60:
            raise ValueError(f"{name}: must be a whole minute, got {getattr(time_range, name)}")
    return int(time_range.start_s) // 60, int(time_range.end_s) // 60


def _is_count(text: str) -> bool:
    try:
        return 0 <= int(text) < 2**63
    except ValueError:
        return False


def _row_counts(source: str, line: int, row: list[str]) -> IntArray:
    fields = row[len(KEY_COLUMNS) + 1 :]
    try:
        values: IntArray | None = np.array(fields, dtype=np.int64)
    except (ValueError, OverflowError):
        values = None
    if values is None or values.min() < 0:
        minute = next(m for m, text in enumerate(fields, start=1) if not _is_count(text))
        raise trace_error(
            source, line, str(minute), f"must be a non-negative integer, got {fields[minute - 1]!r}"
        )
    return values


def count_minutes(
    days: Iterable[DaySource], num_models: int, time_range: TimeRange
) -> MinuteCounts:
    """Per-model invocation counts per minute of ``time_range`` from day
    sources ``(day, source_name, lines)``. Sources are read in day order;
    days outside the range are not read at all. Every day the range
    touches must be given exactly once."""
    first, stop = _minute_range(time_range)
    by_day: dict[int, tuple[str, Iterable[str]]] = {}
    for day, name, lines in days:
        if day in by_day:
            raise ValueError(f"{name}: day {day} is also given by {by_day[day][0]}")
        by_day[day] = (name, lines)
    needed = range(first // MINUTES_PER_DAY, (stop - 1) // MINUTES_PER_DAY + 1)
    missing = [day for day in needed if day not in by_day]
    if missing:
        raise ValueError(f"time_range: needs day {missing[0]}, which no trace file holds")
    mapper = RoundRobinMapper(num_models)
    counts = np.zeros((num_models, stop - first), dtype=np.int64)
    for day in needed:
        name, lines = by_day[day]
        lo = max(first - day * MINUTES_PER_DAY, 0)
        hi = min(stop - day * MINUTES_PER_DAY, MINUTES_PER_DAY)
        column = day * MINUTES_PER_DAY + lo - first
        for line, row in read_rows(lines, HEADER, name):
            check_filled(name, line, row, KEY_COLUMNS)
            part = _row_counts(name, line, row)[lo:hi]
            if part.any():
                model = mapper.model_of(tuple(row[: len(KEY_COLUMNS)]))
                counts[model, column : column + hi - lo] += part
    return MinuteCounts(time_range, counts, mapper.num_functions)


def window_counts(counts: MinuteCounts, window_s: float) -> tuple[FloatArray, FloatArray, IntArray]:
    """``(starts_s, ends_s, counts)``: window bounds relative to the range
    start and invocations per model and window (shape
    ``(num_models, num_windows)``). ``window_s`` must be a multiple of 60."""
    if not (isinstance(window_s, int | float) and window_s > 0 and window_s % 60 == 0):
        raise ValueError(
            f"window_s: must be a positive multiple of 60 (the trace counts per minute), "
            f"got {window_s!r}"
        )
    starts, ends = window_bounds(counts.time_range.duration_s, window_s)
    first_minutes = (starts // 60).astype(np.int64)
    return starts, ends, np.add.reduceat(counts.counts, first_minutes, axis=1)


def window_rates(
    counts: MinuteCounts, window_s: float, rate_scale: float = 1.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(starts_s, ends_s, rates_rps)``: per model and window, invocations
    divided by the window length (the last window may be shorter) times
    ``rate_scale``."""
    rate_scale = non_negative("rate_scale", rate_scale)
    starts, ends, per_window = window_counts(counts, window_s)
    return starts, ends, per_window / (ends - starts) * rate_scale


def replay_azure2019(
    counts: MinuteCounts,
    model_names: Sequence[str],
    seed: Seed,
    window_s: float = 60.0,
    rate_scale: float = 1.0,
    cv_scale: float = 1.0,
) -> Workload:
    """Draw a Workload over the range from per-window rates; the Gamma CV
    of every window is ``cv_scale``."""
    if len(model_names) != counts.counts.shape[0]:
        raise ValueError(
            f"model_names: {len(model_names)} names for {counts.counts.shape[0]} counted models"
        )
    cv_scale = non_negative("cv_scale", cv_scale)
    starts, ends, rates = window_rates(counts, window_s, rate_scale)
    meta = {
        "kind": "azure2019",
        "start_s": counts.time_range.start_s,
        "end_s": counts.time_range.end_s,
        "window_s": window_s,
        "rate_scale": rate_scale,
        "cv_scale": cv_scale,
        "num_functions": counts.num_functions,
        "seed": seed_meta(seed),
    }
    return windowed_workload(rates, cv_scale, starts, ends, model_names, seed, meta)
