"""The Azure Functions 2019 trace (``invocations_per_function_md.anon.dXX.csv``).

Each file holds one day: header ``HashOwner,HashApp,HashFunction,Trigger,1,
2,...,1440`` and one row per function with its invocation count in every
minute of the day. ``dXX`` in the file name is the day, ``d01`` being day 0
of a ``"day.hour.minute"`` time range; a name without it is day 0. A file
may hold any subset of the minute columns, in any order, each at most
once: a minute without a column counts zero invocations. The replay takes
a window's rate as its count over its whole length, so an absent minute is
a minute without traffic (as the reference evaluation pads the minutes a
function's rows lack with zeros).

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
from planner.workloads.csvtext import check_filled, read_table, trace_error
from planner.workloads.mapping import RoundRobinMapper
from planner.workloads.timerange import TimeRange
from planner.workloads.windows import window_bounds

MINUTES_PER_DAY = 1440
KEY_COLUMNS = ("HashOwner", "HashApp", "HashFunction")
LEADING = (*KEY_COLUMNS, "Trigger")
HEADER = (*LEADING, *(str(m) for m in range(1, MINUTES_PER_DAY + 1)))
"""The published header: every minute of the day."""
_MINUTES = f"1,2,...,{MINUTES_PER_DAY}"
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


def _minute_columns(source: str, header: Sequence[str]) -> IntArray:
    """The minute of the day (0-based) each column after :data:`LEADING`
    counts; ValueError naming a column that is not a minute 1..1440 or
    repeats one."""
    minutes: dict[int, int] = {}
    for column, name in enumerate(header[len(LEADING) :], start=len(LEADING) + 1):
        minute = int(name) if name.isdecimal() else 0
        if not (1 <= minute <= MINUTES_PER_DAY and str(minute) == name):
            raise trace_error(
                source, 1, name, f"header column {column} must be a minute 1..{MINUTES_PER_DAY}"
            )
        if minute in minutes:
            raise trace_error(
                source,
                1,
                name,
                f"header names minute {minute} twice (columns {minutes[minute]} and {column})",
            )
        minutes[minute] = column
    return np.array(list(minutes), dtype=np.int64) - 1


def _is_count(text: str) -> bool:
    try:
        return 0 <= int(text) < 2**63
    except ValueError:
        return False


def _row_counts(source: str, line: int, row: list[str], header: Sequence[str]) -> IntArray:
    fields = row[len(LEADING) :]
    try:
        values: IntArray | None = np.array(fields, dtype=np.int64)
    except (ValueError, OverflowError):
        values = None
    if values is None or np.any(values < 0):
        k = next(k for k, text in enumerate(fields) if not _is_count(text))
        raise trace_error(
            source,
            line,
            header[len(LEADING) + k],
            f"must be a non-negative integer, got {fields[k]!r}",
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
        header, rows = read_table(lines, LEADING, name, _MINUTES)
        # Each minute field's column in ``counts``; the range's fields.
        columns = _minute_columns(name, header) + day * MINUTES_PER_DAY - first
        inside = np.flatnonzero((columns >= 0) & (columns < stop - first))
        columns = columns[inside]
        for line, row in rows:
            check_filled(name, line, row, KEY_COLUMNS)
            part = _row_counts(name, line, row, header)[inside]
            if part.any():
                model = mapper.model_of(tuple(row[: len(KEY_COLUMNS)]))
                counts[model, columns] += part
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
    max_arrivals: int | None = None,
) -> Workload:
    """Draw a Workload over the range from per-window rates; the Gamma CV
    of every window is ``cv_scale``; at most about ``max_arrivals``
    (:class:`~planner.workloads.arrivals.ArrivalBudgetError`)."""
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
    return windowed_workload(rates, cv_scale, starts, ends, model_names, seed, meta, max_arrivals)
