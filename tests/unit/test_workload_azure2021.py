"""The 2021 Azure Functions reader: arrival = end - duration, rows in any
order (the published file is in end order), round-robin mapping by (app,
func) in the order of first arrival, range filtering, malformed input,
streaming and the per-window Gamma replay."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from planner.files import load_azure2021
from planner.workloads import TimeRange, gamma_arrivals, read_azure2021
from tests.unit.workload_streaming import stream_through

HEADER_LINE = "app,func,end_timestamp,duration\n"
FIRST_HOUR = TimeRange.parse("0.0.0", "0.1.0")


def _read(lines: list[str], names: tuple[str, ...] = ("m0", "m1"), span: TimeRange = FIRST_HOUR):
    return read_azure2021(iter(lines), names, span, "t.txt")


def test_arrival_is_end_minus_duration_and_functions_go_round_robin() -> None:
    workload = _read(
        [HEADER_LINE, "a,f1,1.5,0.5\n", "a,f2,2.25,0.25\n", "b,f1,3.0,0.5\n", "a,f1,4.0,0\n"]
    )
    # (a, f1) -> m0, (a, f2) -> m1, (b, f1) -> m0: func ids are per app.
    np.testing.assert_array_equal(workload.for_model("m0"), [1.0, 2.5, 4.0])
    np.testing.assert_array_equal(workload.for_model("m1"), [2.0])
    assert workload.duration_s == 3600.0
    assert workload.meta["num_functions"] == 3


def test_only_the_range_counts_and_times_are_relative_to_its_start() -> None:
    lines = [
        HEADER_LINE,
        "early,f,59.75,0.25\n",  # arrives at 59.5, before the range
        "a,f,60.5,0.5\n",
        "b,f,90.5,0.25\n",
        "a,f,120.0,0.25\n",
    ]
    workload = _read(lines, span=TimeRange.parse("0.0.1", "0.0.2"))
    np.testing.assert_array_equal(workload.arrivals_s, [0.0, 30.25, 59.75])
    np.testing.assert_array_equal(workload.model_ids, [0, 1, 0])  # "early" is nobody's
    assert workload.duration_s == 60.0


def test_rows_after_the_range_are_read_for_later_rows_that_started_inside_it() -> None:
    lines = [
        HEADER_LINE,
        "a,f,10,1\n",
        "a,f,3601,0.5\n",  # arrival 3600.5: after the range
        "b,f,3700,200\n",  # logged later, but arrived at 3500
    ]
    workload = _read(lines, names=("m",))
    np.testing.assert_array_equal(workload.arrivals_s, [9.0, 3500.0])
    assert workload.meta["num_functions"] == 2


def test_rows_in_end_order_as_published_give_the_workload_of_start_order() -> None:
    rng = np.random.default_rng(5)
    starts = rng.uniform(-30.0, 3700.0, 2000)
    durations = 30.0 + rng.exponential(40.0, starts.size)  # every end_timestamp >= 0
    keys = [(f"app{k % 7}", f"f{k % 11}") for k in rng.integers(0, 77, starts.size)]
    rows = [
        f"{app},{func},{float(start + duration)!r},{float(duration)!r}\n"
        for (app, func), start, duration in zip(keys, starts, durations, strict=True)
    ]
    by_start = [rows[i] for i in np.argsort(starts, kind="stable")]
    by_end = [rows[i] for i in np.argsort(starts + durations, kind="stable")]
    shuffled = [rows[i] for i in rng.permutation(len(rows))]
    names = ("m0", "m1", "m2")
    expected = _read([HEADER_LINE, *by_start], names)
    assert 1500 < expected.num_requests < 2000
    for order in (by_end, shuffled):
        workload = _read([HEADER_LINE, *order], names)
        np.testing.assert_array_equal(workload.arrivals_s, expected.arrivals_s)
        np.testing.assert_array_equal(workload.model_ids, expected.model_ids)
        assert workload.meta == expected.meta


def test_functions_are_dealt_in_the_order_of_their_first_arrival() -> None:
    # In end order "late" is logged first, but "early" arrived first.
    lines = [HEADER_LINE, "x,late,5,1\n", "x,early,6,3\n", "x,late,9,0\n", "x,third,9.5,0\n"]
    workload = _read(lines, names=("m0", "m1", "m2"))
    np.testing.assert_array_equal(workload.for_model("m0"), [3.0])  # early
    np.testing.assert_array_equal(workload.for_model("m1"), [4.0, 9.0])  # late
    np.testing.assert_array_equal(workload.for_model("m2"), [9.5])  # third


def test_invocations_that_started_before_the_trace_are_dropped() -> None:
    workload = _read([HEADER_LINE, "a,f,0.1,0.5\n", "a,f,0.5,0.25\n"])
    np.testing.assert_array_equal(workload.arrivals_s, [0.25])


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "t.txt, line 1: empty file; expected the header app,func,end_timestamp,duration"),
        (["app,func,end,duration\n"], "t.txt, line 1, column 'end_timestamp': header has 'end'"),
        (["app,func,end_timestamp\n"], "t.txt, line 1, column 'duration': header is missing"),
        ([HEADER_LINE, "a,f,1.0\n"], "t.txt, line 2, column 'duration': missing (3 of 4 fields)"),
        ([HEADER_LINE, "a,f,1.0,0.5,x\n"], "t.txt, line 2: has 5 fields, the header has 4"),
        ([HEADER_LINE, "a,f,abc,1\n"], "t.txt, line 2, column 'end_timestamp': must be a finite"),
        ([HEADER_LINE, "a,f,-1,0\n"], "t.txt, line 2, column 'end_timestamp': must be a finite"),
        ([HEADER_LINE, "a,f,nan,0\n"], "t.txt, line 2, column 'end_timestamp': must be a finite"),
        ([HEADER_LINE, "a,f,5,-1\n"], "t.txt, line 2, column 'duration': must be a finite number"),
        ([HEADER_LINE, "a,f,5,inf\n"], "t.txt, line 2, column 'duration': must be a finite number"),
        ([HEADER_LINE, ",f,5,1\n"], "t.txt, line 2, column 'app': must not be empty"),
        ([HEADER_LINE, "a,,5,1\n"], "t.txt, line 2, column 'func': must not be empty"),
        (
            [HEADER_LINE, "a,f,5,0\n", "a,f,9e99,0\n", "a,f,7,1e400\n"],
            "t.txt, line 4, column 'duration': must be a finite number >= 0, got '1e400'",
        ),
    ],
)
def test_malformed_input_names_line_and_column(lines: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=r"^" + re.escape(message)):
        _read(lines)


def test_rows_outside_the_range_stream_through_bounded_memory() -> None:
    def outside() -> Iterator[str]:
        for i in range(20_000):
            start = i * 0.05 if i % 2 else 7200.0 + i * 0.05  # before and after the range
            yield f"app{i % 97},func{i % 13},{start + 1.0:.6f},1.000\n"

    inside = ["a,f,3601.0,0.5\n", "b,f,3602.0,0.5\n"]
    workload, consumed, peak = stream_through(
        itertools.chain([HEADER_LINE], inside[:1], outside(), inside[1:]),
        lambda lines: read_azure2021(lines, ("m0", "m1"), TimeRange.parse("0.1.0", "0.2.0")),
    )
    assert consumed > 500_000
    assert peak < 100_000
    np.testing.assert_array_equal(workload.arrivals_s, [0.5, 1.5])
    np.testing.assert_array_equal(workload.model_ids, [0, 1])


def _write_trace(path: Path, rate_rps: float, cv: float, duration_s: float) -> Path:
    arrivals = gamma_arrivals(rate_rps, cv, duration_s, seed=42)
    rows = "".join(f"a,f,{t + 0.125:.6f},0.125\n" for t in arrivals)
    path.write_text(HEADER_LINE + rows)
    return path


def test_replay_scales_the_fitted_rate_and_cv(tmp_path: Path) -> None:
    path = _write_trace(tmp_path / "trace.txt", 5.0, 3.0, 3600.0)
    trace = read_azure2021(path.read_text().splitlines(keepends=True), ("m",), FIRST_HOUR)
    double = load_azure2021(path, ("m",), FIRST_HOUR, seed=1, window_s=600, rate_scale=2.0)
    assert double.num_requests == pytest.approx(2 * trace.num_requests, rel=0.1)
    assert double.meta["redraw"] == {
        "window_s": 600,
        "rate_scale": 2.0,
        "cv_scale": 1.0,
        "seed": 1,
    }
    gaps = np.diff(load_azure2021(path, ("m",), FIRST_HOUR, seed=2, window_s=600).arrivals_s)
    assert gaps.std() / gaps.mean() == pytest.approx(3.0, rel=0.15)
    calmer = load_azure2021(path, ("m",), FIRST_HOUR, seed=2, window_s=600, cv_scale=1 / 3)
    gaps = np.diff(calmer.arrivals_s)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.1)


def test_load_reports_progress_and_names_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text(HEADER_LINE + "a,f,1.0,0.5\n" + "a,f,2.0,0.5\n")
    seen: list[int] = []
    workload = load_azure2021(path, ("m",), FIRST_HOUR, seed=0, progress=seen.append)
    assert sum(seen) == len(path.read_text())
    assert workload.duration_s == 3600.0 and workload.meta["kind"] == "azure2021"
    with pytest.raises(ValueError, match=r"nope.txt: cannot read: No such file"):
        load_azure2021(tmp_path / "nope.txt", ("m",), FIRST_HOUR, seed=0)


def test_a_fractional_range_keeps_an_arrival_that_rounding_shifts_onto_its_end() -> None:
    span = TimeRange(13.509650502241122, 85.68633568762988)
    last = float(np.nextafter(span.end_s, 0.0))
    workload = _read([HEADER_LINE, f"a,f1,{last!r},0\n"], span=span)
    assert workload.num_requests == 1 and workload.arrivals_s[0] < workload.duration_s
