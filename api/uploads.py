"""Trace uploads: the request body is read as UTF-8 lines, one at a time,
through the Azure Functions trace readers of :mod:`planner.workloads`; the
body is never held whole, and its size is capped by ``MAX_UPLOAD_BYTES``
(413 beyond it, :mod:`api.bodies`)."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence

from flask import current_app

from api.bodies import body_stream
from planner.workloads import (
    TimeRange,
    Workload,
    count_minutes,
    read_azure2021,
    redraw,
    replay_azure2019,
    utf8_lines,
)

SOURCE = "upload"
"""How errors name the uploaded file: ``upload, line 3, column 'func': ...``."""


class TraceFormat(enum.StrEnum):
    AZURE2019 = "azure2019"
    AZURE2021 = "azure2021"


def body_lines() -> Iterator[str]:
    """The request body as text lines; 413 when longer than
    ``MAX_UPLOAD_BYTES``; a line that is not UTF-8 is a ValueError naming
    it (:func:`planner.workloads.utf8_lines`)."""
    with body_stream(int(current_app.config["MAX_UPLOAD_BYTES"])) as stream:
        yield from utf8_lines(stream, SOURCE)


def read_trace(
    trace_format: TraceFormat,
    lines: Iterator[str],
    model_names: Sequence[str],
    time_range: TimeRange,
    *,
    day: int,
    window_s: float,
    seed: int,
    rate_scale: float,
    cv_scale: float,
    replay: bool,
    max_arrivals: int,
) -> Workload:
    """A workload from an uploaded trace, replayed as in the AlpaServe
    evaluation (2019: per-window rates; 2021: per-window Gamma fits, or the
    trace's own arrivals when ``replay`` is False). ValueError names the
    line and column of bad input; a replay expected to draw more than
    ``max_arrivals`` arrivals raises ArrivalBudgetError before drawing."""
    if trace_format == TraceFormat.AZURE2019:
        counts = count_minutes([(day, SOURCE, lines)], len(model_names), time_range)
        return replay_azure2019(
            counts, model_names, seed, window_s, rate_scale, cv_scale, max_arrivals
        )
    trace = read_azure2021(lines, model_names, time_range, SOURCE)
    if not replay:
        return trace
    return redraw(trace, window_s, seed, rate_scale, cv_scale, max_arrivals)
