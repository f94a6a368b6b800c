"""The Azure Functions 2021 invocation trace
(``AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt``): CSV with header
``app,func,end_timestamp,duration``, one row per invocation, times in
seconds from the trace start. An invocation arrives at
``end_timestamp - duration``. The published file logs invocations as they
end (ordered by ``end_timestamp``), so arrivals are not in order: the
reader takes rows in any order and reads every row.

Replay, as in the reference evaluation: functions (key: app and func, since
func ids are unique only within an app) with an arrival in the range are
dealt to models round-robin (:mod:`planner.workloads.mapping`) in the order
of their first arrival in the range (ties by key), the order a file sorted
by arrival shows them, so the workload does not depend on row order. The
exact mapped arrivals form the trace Workload (:func:`read_azure2021`); the
replay (:func:`planner.files.load_azure2021`, or
:func:`planner.workloads.redraw` of the trace Workload) fits a Gamma
process per model and window of ``window_s`` seconds (5400 by default;
method of moments with the fallbacks of :mod:`planner.workloads.fit`),
multiplies its rate by ``rate_scale`` and its CV by ``cv_scale`` and draws
fresh arrivals. Times are relative to the range start.

Memory: rows stream one at a time into per-function buffers of the
in-range arrivals (8 bytes each, plus one entry per function); rows outside
the range are checked and dropped. That is no more than the Workload being
built (12 bytes per arrival) whatever the file's size or order, so an
external sort, which would spill every row of the file to disk to order
the few that are kept, buys nothing. Invocations that started before the
trace (negative arrival) are outside every range and dropped.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence

import numpy as np

from planner.domain import Workload
from planner.workloads.arrivals import assemble
from planner.workloads.csvtext import check_filled, parse_non_negative, read_rows
from planner.workloads.mapping import RoundRobinMapper
from planner.workloads.timerange import TimeRange
from planner.workloads.windows import into_horizon

HEADER = ("app", "func", "end_timestamp", "duration")
DEFAULT_WINDOW_S = 5400.0

Function = tuple[str, str]


def _arrivals_by_function(
    lines: Iterable[str], time_range: TimeRange, source: str
) -> dict[Function, array[float]]:
    """Every function's arrivals in ``time_range`` (relative to its start),
    in row order."""
    by_function: dict[Function, array[float]] = {}
    for line, row in read_rows(lines, HEADER, source):
        check_filled(source, line, row, HEADER[:2])
        end = parse_non_negative(source, line, "end_timestamp", row[2])
        arrival = end - parse_non_negative(source, line, "duration", row[3])
        if time_range.start_s <= arrival < time_range.end_s:
            key = (row[0], row[1])
            times = by_function.get(key)
            if times is None:
                times = by_function[key] = array("d")
            times.append(arrival - time_range.start_s)
    return by_function


def read_azure2021(
    lines: Iterable[str],
    model_names: Sequence[str],
    time_range: TimeRange,
    source: str = "<lines>",
) -> Workload:
    """The trace's own arrivals in ``time_range``, mapped to
    ``model_names``, as a Workload over ``[0, time_range.duration_s)``."""
    mapper = RoundRobinMapper(len(model_names))
    by_function = {
        key: np.frombuffer(times, dtype=np.float64)
        for key, times in _arrivals_by_function(lines, time_range, source).items()
    }
    for key in sorted(by_function, key=lambda key: (by_function[key].min(), key)):
        mapper.model_of(key)
    times = list(by_function.values())
    ids = np.repeat([mapper.model_of(key) for key in by_function], [t.size for t in times])
    meta = {
        "kind": "azure2021",
        "start_s": time_range.start_s,
        "end_s": time_range.end_s,
        "num_functions": mapper.num_functions,
    }
    arrivals = into_horizon(np.concatenate(times or [np.empty(0)]), time_range.duration_s)
    return assemble(arrivals, ids, model_names, time_range.duration_s, meta)
