"""The sample traces under examples/: reproducible from make_samples.py,
small, and readable by the trace readers."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

from planner.files import open_lines
from planner.workloads import TimeRange, count_minutes, read_azure2021

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WHOLE_DAY = TimeRange.parse("0.0.0", "1.0.0")


def _make_samples() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_samples", EXAMPLES / "make_samples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_samples_are_what_the_script_makes() -> None:
    samples = _make_samples()
    assert (EXAMPLES / "azure2019_sample.csv").read_text() == "".join(samples.azure2019_lines())
    assert (EXAMPLES / "azure2021_sample.csv").read_text() == "".join(samples.azure2021_lines())


def test_2019_sample_is_small_and_reads_whole() -> None:
    path = EXAMPLES / "azure2019_sample.csv"
    assert path.stat().st_size < 300_000
    with open_lines(path) as lines:
        counts = count_minutes([(0, str(path), lines)], 40, WHOLE_DAY)
    assert counts.counts.shape == (40, 1440)
    # Every function has traffic over the day, so each model gets one, in file order.
    assert counts.num_functions == 40
    timer = counts.counts[1]  # the second function is timer-triggered: one call a minute
    np.testing.assert_array_equal(timer, np.ones(1440))


def test_2021_sample_is_in_end_order_as_published_and_reads_whole() -> None:
    path = EXAMPLES / "azure2021_sample.csv"
    rows = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(2, 3))
    assert 2000 <= len(rows) <= 5000
    assert np.all(np.diff(rows[:, 0]) >= 0)  # end_timestamp
    assert np.sum(np.diff(rows[:, 0] - rows[:, 1]) < 0) > 100  # arrivals are not in order
    with open_lines(path) as lines:
        trace = read_azure2021(lines, ("m",), TimeRange.parse("0.0.0", "0.3.0"), str(path))
    assert trace.num_requests == len(rows)
    assert trace.meta["num_functions"] == 12
