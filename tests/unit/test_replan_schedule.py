"""When the live re-planner decides next (api/replanner_jobs.py,
``next_decision``): the window's drift checks, then the next window's
start; a worker that fell behind skips to the latest instant due."""

from __future__ import annotations

import pytest

from api.replanner_jobs import next_decision
from planner.replan.live import LiveSettings

WINDOW = 600  # a window from 600 s to 660 s
WATCHING = LiveSettings(window_s=60.0, react_drift=0.25, nowcast_s=20.0)  # checks at 20 and 40 s


@pytest.mark.parametrize(
    ("at_s", "now_s", "expected"),
    [
        (0, 601.0, (WINDOW, 20)),  # on time: the first check
        (20, 621.5, (WINDOW, 40)),
        (40, 641.0, (WINDOW + 60, 0)),  # the last check: the next window's start
        (0, 645.0, (WINDOW, 40)),  # late: the check at 20 s is skipped, 40 s is due
        (20, 665.0, (WINDOW + 60, 0)),  # later: the next window's start is due
        (0, 735.0, (WINDOW + 120, 0)),  # a whole window behind: the current window's start
    ],
)
def test_the_next_decision_is_the_next_check_or_window(
    at_s: int, now_s: float, expected: tuple[int, int]
) -> None:
    assert next_decision(WINDOW, at_s, WATCHING, now_s) == expected


def test_without_the_watch_only_window_starts_are_decided() -> None:
    plain = LiveSettings(window_s=60.0)
    assert next_decision(WINDOW, 0, plain, 601.0) == (WINDOW + 60, 0)
    assert next_decision(WINDOW, 0, plain, 725.0) == (WINDOW + 120, 0)
