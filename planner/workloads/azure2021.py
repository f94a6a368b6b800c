"""The Azure Functions 2021 invocation trace
(``AzureFunctionsInvocationTraceForTwoWeeksJan2021.txt``): CSV with header
``app,func,end_timestamp,duration``, one row per invocation, times in
seconds from the trace start. An invocation arrives at
``end_timestamp - duration``; the published file is ordered by that arrival
time, which the reader checks (allowing :data:`ORDER_TOLERANCE_S` of
floating-point slack) and relies on to stop reading at the end of the range.

Replay, as in the reference evaluation: functions (key: app and func, since
func ids are unique only within an app) with an arrival in the range are
dealt to models round-robin (:mod:`planner.workloads.mapping`). The exact
mapped arrivals form the trace Workload (:func:`read_azure2021`); the replay
(:func:`planner.files.load_azure2021`, or :func:`planner.workloads.redraw`
of the trace Workload) fits a Gamma process per model and window of
``window_s`` seconds (5400 by default; method of moments with the fallbacks
of :mod:`planner.workloads.fit`), multiplies its rate by ``rate_scale`` and
its CV by ``cv_scale`` and draws fresh arrivals. Times are relative to the
range start.

Memory: one float per in-range arrival and one model index per function;
rows before the range are checked and dropped, rows after it are not read.
Invocations that started before the trace (negative arrival) are outside
every range and dropped.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence

import numpy as np

from planner.domain import Workload
from planner.workloads.arrivals import assemble
from planner.workloads.csvtext import (
    check_filled,
    parse_non_negative,
    read_rows,
    trace_error,
)
from planner.workloads.mapping import RoundRobinMapper
from planner.workloads.timerange import TimeRange
from planner.workloads.windows import into_horizon

HEADER = ("app", "func", "end_timestamp", "duration")
ORDER_TOLERANCE_S = 1e-6
DEFAULT_WINDOW_S = 5400.0


def read_azure2021(
    lines: Iterable[str],
    model_names: Sequence[str],
    time_range: TimeRange,
    source: str = "<lines>",
) -> Workload:
    """The trace's own arrivals in ``time_range``, mapped to
    ``model_names``, as a Workload over ``[0, time_range.duration_s)``."""
    mapper = RoundRobinMapper(len(model_names))
    per_model = [array("d") for _ in model_names]
    previous = -math.inf
    for line, row in read_rows(lines, HEADER, source):
        check_filled(source, line, row, HEADER[:2])
        end = parse_non_negative(source, line, "end_timestamp", row[2])
        arrival = end - parse_non_negative(source, line, "duration", row[3])
        if arrival < previous - ORDER_TOLERANCE_S:
            raise trace_error(
                source,
                line,
                "end_timestamp",
                f"arrival end_timestamp - duration = {arrival!r} s is before the previous "
                f"row's {previous!r} s; rows must be in arrival order",
            )
        previous = max(previous, arrival)
        if arrival >= time_range.end_s:
            break
        if arrival >= time_range.start_s:
            per_model[mapper.model_of((row[0], row[1]))].append(arrival - time_range.start_s)
    times = [np.frombuffer(a, dtype=np.float64) for a in per_model]
    ids = np.repeat(np.arange(len(times)), [t.size for t in times])
    meta = {
        "kind": "azure2021",
        "start_s": time_range.start_s,
        "end_s": time_range.end_s,
        "num_functions": mapper.num_functions,
    }
    arrivals = into_horizon(np.concatenate(times), time_range.duration_s)
    return assemble(arrivals, ids, model_names, time_range.duration_s, meta)
