"""The 2019 Azure Functions reader: round-robin mapping, exact per-window
rates, days from file names, any subset of minute columns, malformed input
and streaming."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from planner.files import load_azure2019, open_lines
from planner.workloads import (
    MinuteCounts,
    TimeRange,
    count_minutes,
    day_of_file,
    replay_azure2019,
    window_rates,
)
from planner.workloads.azure2019 import HEADER
from tests.unit.workload_streaming import stream_through

HEADER_LINE = ",".join(HEADER) + "\n"
FIRST_FIVE_MINUTES = TimeRange.parse("0.0.0", "0.0.5")


def _row(function: str, counts: dict[int, int], owner: str = "o", app: str = "a") -> str:
    """A data line; ``counts`` maps a 0-based minute of the day to a count."""
    minutes = ["0"] * 1440
    for minute, count in counts.items():
        minutes[minute] = str(count)
    return ",".join([owner, app, function, "http", *minutes]) + "\n"


def _tiny_trace(path: Path) -> Path:
    path.write_text(
        HEADER_LINE
        + _row("f0", {100: 7})  # traffic only after the range: not a model's
        + _row("f1", {0: 3})
        + _row("f2", {1: 2})
        + _row("f3", {2: 5})
        + _row("f4", {4: 1})
        + _row("f5", {})
    )
    return path


def _counts(path: Path, num_models: int, span: TimeRange = FIRST_FIVE_MINUTES) -> MinuteCounts:
    with open_lines(path) as lines:
        return count_minutes([(0, str(path), lines)], num_models, span)


def test_functions_with_traffic_in_range_go_round_robin(tmp_path: Path) -> None:
    counts = _counts(_tiny_trace(tmp_path / "t.csv"), 2)
    # f1 -> m0, f2 -> m1, f3 -> m0, f4 -> m1; f0 and f5 have no traffic in range.
    np.testing.assert_array_equal(counts.counts, [[3, 0, 5, 0, 0], [0, 2, 0, 0, 1]])
    assert counts.num_functions == 4
    three = _counts(tmp_path / "t.csv", 3)
    np.testing.assert_array_equal(three.counts, [[3, 0, 0, 0, 1], [0, 2, 0, 0, 0], [0, 0, 5, 0, 0]])


def test_same_function_hash_in_two_apps_is_two_functions(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEADER_LINE + _row("f", {0: 1}, app="a1") + _row("f", {0: 2}, app="a2"))
    np.testing.assert_array_equal(_counts(path, 2).counts[:, 0], [1, 2])


def test_counts_become_per_window_rates_exactly(tmp_path: Path) -> None:
    counts = _counts(_tiny_trace(tmp_path / "t.csv"), 2)
    starts, ends, rates = window_rates(counts, 120, rate_scale=3.0)
    np.testing.assert_array_equal(starts, [0, 120, 240])
    np.testing.assert_array_equal(ends, [120, 240, 300])  # the last window is 60 s
    np.testing.assert_allclose(rates, [[9 / 120, 15 / 120, 0], [6 / 120, 0, 3 / 60]])
    with pytest.raises(ValueError, match=r"^window_s: must be a positive multiple of 60"):
        window_rates(counts, 90)


def test_replay_draws_each_window_from_its_rate(tmp_path: Path) -> None:
    counts = _counts(_tiny_trace(tmp_path / "t.csv"), 2)
    # CV 0: gaps of exactly 60 / count seconds from each minute's start.
    workload = replay_azure2019(counts, ("a", "b"), seed=0, cv_scale=0.0)
    np.testing.assert_allclose(workload.for_model("a"), [20, 40, 132, 144, 156, 168])
    np.testing.assert_allclose(workload.for_model("b"), [90])
    assert workload.duration_s == 300.0
    assert workload.meta["num_functions"] == 4 and workload.meta["kind"] == "azure2019"


def test_replay_rate_scale_scales_request_counts_statistically(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEADER_LINE + _row("f", dict.fromkeys(range(10), 600)))
    counts = _counts(path, 1, TimeRange.parse("0.0.0", "0.0.10"))
    full = replay_azure2019(counts, ("m",), seed=1)
    half = replay_azure2019(counts, ("m",), seed=1, rate_scale=0.5, cv_scale=2.0)
    assert full.num_requests == pytest.approx(6000, rel=0.05)
    assert half.num_requests == pytest.approx(3000, rel=0.1)


def test_model_names_must_match_the_counted_models(tmp_path: Path) -> None:
    counts = _counts(_tiny_trace(tmp_path / "t.csv"), 2)
    with pytest.raises(ValueError, match=r"^model_names: 3 names for 2 counted models"):
        replay_azure2019(counts, ("a", "b", "c"), seed=0)


@pytest.mark.parametrize(
    ("name", "day"),
    [("invocations_per_function_md.anon.d01.csv", 0), ("x.anon.d14.csv", 13), ("s.csv", 0)],
)
def test_day_comes_from_the_file_name(name: str, day: int) -> None:
    assert day_of_file(Path("/data") / name) == day


def test_day_zero_file_name_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"d00\.csv: day d00 in the file name must be >= d01"):
        day_of_file("t.anon.d00.csv")


def test_a_range_across_midnight_reads_two_days_in_order(tmp_path: Path) -> None:
    day0 = tmp_path / "invocations_per_function_md.anon.d01.csv"
    day1 = tmp_path / "invocations_per_function_md.anon.d02.csv"
    day0.write_text(HEADER_LINE + _row("late", {1438: 1, 1439: 2}) + _row("idle", {5: 1}))
    day1.write_text(HEADER_LINE + _row("early", {0: 4, 1: 8, 2: 100}) + _row("late", {0: 16}))
    span = TimeRange.parse("0.23.58", "1.0.2")
    with open_lines(day1) as second, open_lines(day0) as first:
        sources = [(day_of_file(day1), "d02", second), (day_of_file(day0), "d01", first)]
        counts = count_minutes(sources, 2, span)
    # "late" shows traffic first (day 0) -> m0; "early" -> m1.
    np.testing.assert_array_equal(counts.counts, [[1, 2, 16, 0], [0, 0, 4, 8]])


def test_days_outside_the_range_are_not_read(tmp_path: Path) -> None:
    def untouchable() -> Iterator[str]:
        raise AssertionError("a day outside the range was read")
        yield ""

    path = _tiny_trace(tmp_path / "t.csv")
    with open_lines(path) as lines:
        counts = count_minutes(
            [(5, "d06", untouchable()), (0, "d01", lines)], 2, FIRST_FIVE_MINUTES
        )
    assert counts.num_functions == 4


def test_every_day_of_the_range_needs_one_file(tmp_path: Path) -> None:
    path = _tiny_trace(tmp_path / "t.csv")
    with pytest.raises(ValueError, match=r"^time_range: needs day 1, which no trace file holds"):
        load_azure2019([path], ("a",), TimeRange.parse("0.23.0", "1.0.1"), seed=0)
    with pytest.raises(ValueError, match=r"day 0 is also given by"):
        load_azure2019([path, path], ("a",), FIRST_FIVE_MINUTES, seed=0)


def test_ranges_must_be_whole_minutes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^start_s: must be a whole minute, got 30.0"):
        _counts(_tiny_trace(tmp_path / "t.csv"), 1, TimeRange(30, 120))


def _minutes_with(column: int, text: str) -> str:
    minutes = ["1"] * 1440
    minutes[column - 1] = text
    return "o,a,f,http," + ",".join(minutes) + "\n"


GOOD = _row("g", {0: 1})


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "t.csv, line 1: empty file; expected the header HashOwner,HashApp,HashFunction"),
        (
            [HEADER_LINE.replace("HashApp", "App")],
            "t.csv, line 1, column 'HashApp': header has 'App' in column 2",
        ),
        (
            ["HashOwner,HashApp,HashFunction\n"],
            "t.csv, line 1, column 'Trigger': header is missing",
        ),
        (
            [",".join(HEADER[:6]) + ",x\n"],
            "t.csv, line 1, column 'x': header column 7 must be a minute 1..1440",
        ),
        (
            [",".join(HEADER[:6]) + ",1441\n"],
            "t.csv, line 1, column '1441': header column 7 must be a minute 1..1440",
        ),
        (
            [",".join(HEADER[:4]) + ",0\n"],
            "t.csv, line 1, column '0': header column 5 must be a minute 1..1440",
        ),
        (
            [",".join(HEADER[:7]) + ",2\n"],
            "t.csv, line 1, column '2': header names minute 2 twice (columns 6 and 8)",
        ),
        ([HEADER_LINE, GOOD, "o,a,f,http,1,2\n"], "t.csv, line 3, column '3': missing (6 of 1444"),
        ([HEADER_LINE, "o,a,f\n"], "t.csv, line 2, column 'Trigger': missing (3 of 1444 fields)"),
        ([HEADER_LINE, _minutes_with(7, "x")], "t.csv, line 2, column '7': must be a non-negative"),
        ([HEADER_LINE, _minutes_with(1440, "-3")], "t.csv, line 2, column '1440': must be a non-"),
        (
            [HEADER_LINE, _minutes_with(2, "1.5")],
            "t.csv, line 2, column '2': must be a non-negative",
        ),
        ([HEADER_LINE, _minutes_with(9, "")], "t.csv, line 2, column '9': must be a non-negative"),
        (
            [HEADER_LINE, GOOD.replace(",g,", ",,")],
            "t.csv, line 2, column 'HashFunction': must not",
        ),
        ([HEADER_LINE, GOOD[:-1] + ",0\n"], "t.csv, line 2: has 1445 fields, the header has 1444"),
    ],
)
def test_malformed_input_names_line_and_column(lines: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=r"^" + re.escape(message)):
        count_minutes([(0, "t.csv", iter(lines))], 2, FIRST_FIVE_MINUTES)


def _partial(minutes: list[int], rows: list[list[str]]) -> list[str]:
    """A trace with only the minute columns ``minutes`` (1-based)."""
    header = ",".join([*HEADER[:4], *map(str, minutes)]) + "\n"
    return [header, *(",".join(row) + "\n" for row in rows)]


def test_any_subset_of_minute_columns_reads_and_absent_minutes_count_zero() -> None:
    lines = _partial(
        [4, 1, 2], [["o", "a", "f", "http", "7", "3", "5"], ["o", "a", "g", "http", "0", "0", "2"]]
    )
    counts = count_minutes([(0, "t.csv", iter(lines))], 2, FIRST_FIVE_MINUTES)
    np.testing.assert_array_equal(counts.counts, [[3, 5, 0, 7, 0], [0, 2, 0, 0, 0]])
    assert counts.num_functions == 2
    nothing = count_minutes(
        [(0, "t.csv", iter(_partial([], [["o", "a", "f", "http"]])))], 1, FIRST_FIVE_MINUTES
    )
    np.testing.assert_array_equal(nothing.counts, [[0, 0, 0, 0, 0]])


def test_a_file_with_a_few_minutes_reports_its_real_error_first() -> None:
    rows = [["o", "a", "f", "http", *"1234567890"], ["o", "a", "g", "http", *"12345x7890"]]
    lines = _partial(list(range(1, 11)), rows)
    with pytest.raises(
        ValueError,
        match=r"^"
        + re.escape("t.csv, line 3, column '6': must be a non-negative integer, got 'x'"),
    ):
        count_minutes([(0, "t.csv", iter(lines))], 2, FIRST_FIVE_MINUTES)
    short = _partial(list(range(1, 11)), [rows[0][:-1]])
    with pytest.raises(
        ValueError, match=r"^" + re.escape("t.csv, line 2, column '10': missing (13 of 14 fields)")
    ):
        count_minutes([(0, "t.csv", iter(short))], 2, FIRST_FIVE_MINUTES)


def test_rows_outside_the_range_are_checked_too() -> None:
    bad = _minutes_with(1000, "-1")
    with pytest.raises(ValueError, match=re.escape("t.csv, line 3, column '1000'")):
        count_minutes([(0, "t.csv", iter([HEADER_LINE, GOOD, bad]))], 1, FIRST_FIVE_MINUTES)


def test_blank_lines_are_skipped() -> None:
    counts = count_minutes([(0, "t", iter([HEADER_LINE, "\n", GOOD, "\n"]))], 1, FIRST_FIVE_MINUTES)
    np.testing.assert_array_equal(counts.counts, [[1, 0, 0, 0, 0]])


def test_a_large_trace_streams_through_bounded_memory() -> None:
    zeros = ",0" * 1439 + "\n"
    rows = (f"{'o' * 64},{'a' * 64},{i:064d},http,{i % 10 == 0:d}{zeros}" for i in range(1000))
    counts, consumed, peak = stream_through(
        itertools.chain([HEADER_LINE], rows),
        lambda lines: count_minutes([(0, "big", lines)], 4, FIRST_FIVE_MINUTES),
    )
    assert consumed > 3_000_000
    assert peak < 500_000
    # Every tenth row has one request in minute 0; they are dealt m0, m1, m2, m3, m0, ...
    np.testing.assert_array_equal(counts.counts[:, 0], [25, 25, 25, 25])
    assert counts.num_functions == 100


def test_load_reports_progress_in_characters(tmp_path: Path) -> None:
    path = _tiny_trace(tmp_path / "t.csv")
    seen: list[int] = []
    workload = load_azure2019([path], ("a", "b"), FIRST_FIVE_MINUTES, seed=3, progress=seen.append)
    assert sum(seen) == len(path.read_text())
    assert workload.model_names == ("a", "b") and workload.duration_s == 300.0
    with pytest.raises(ValueError, match=r"missing.csv: cannot read: No such file"):
        load_azure2019([tmp_path / "missing.csv"], ("a",), FIRST_FIVE_MINUTES, seed=0)
