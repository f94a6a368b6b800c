"""The live run's pure pieces: the timed plan of the switches, the load
times the simulator is given, API timestamps."""

from __future__ import annotations

import pytest

from harness.live_data import Load, switch_load_seconds, timed_plan, unix_seconds
from planner.domain import Group, ParallelConfig, Placement

ONE = ParallelConfig(1, 1)
A = Placement((Group((0,), ONE, ("a",)),))
B = Placement((Group((0,), ONE, ("b",)),))


def test_switches_follow_the_first_plan_in_time_order_nudged_past_ties() -> None:
    assert timed_plan(A, []).steps == ((0.0, A),)
    assert timed_plan(A, [(5.2, B), (9.0, A)]).steps == ((0.0, A), (5.2, B), (9.0, A))
    # a switch stamped at (or before) the previous step moves 1 ms after it
    steps = timed_plan(A, [(0.0, B), (0.0005, A)]).steps
    assert [start for start, _ in steps] == pytest.approx([0.0, 0.001, 0.002])


def test_the_simulator_gets_the_switches_loads_not_the_cold_first_ones() -> None:
    loads = [
        Load("a", 0, 3.5, 100, 1),  # the first plan: compiled cold
        Load("b", 1, 3.4, 100, 1),
        Load("a", 2, 0.02, 100, 2),
        Load("c", 3, 0.05, 100, 3),
        Load("a", 4, 0.04, 100, 3),
    ]
    assert switch_load_seconds(loads, first_version=1) == {"a": 0.04, "c": 0.05}
    assert switch_load_seconds(loads[:2], first_version=1) == {"a": 3.5, "b": 3.4}
    assert switch_load_seconds([], first_version=1) == {}


def test_api_timestamps_without_a_zone_are_utc() -> None:
    assert unix_seconds("1970-01-01T00:01:40") == 100.0
    assert unix_seconds("1970-01-01T01:01:40+01:00") == 100.0
    assert unix_seconds("2026-12-06T10:00:00.500000") == pytest.approx(1796551200.5)
