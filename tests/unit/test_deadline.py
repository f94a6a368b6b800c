"""The deadline value: remaining time, expiry, shares and extensions on the
monotonic clock."""

from __future__ import annotations

import math
import time

import pytest

from planner.deadline import NEVER, Deadline


def test_a_deadline_counts_down_and_expires() -> None:
    soon = Deadline.after(30.0)
    assert 29.0 < soon.remaining_s() <= 30.0
    assert not soon.expired()
    past = Deadline(time.monotonic() - 1.0)
    assert past.expired() and past.remaining_s() == 0.0


def test_a_share_takes_that_fraction_of_the_remaining_time() -> None:
    deadline = Deadline.after(100.0)
    half = deadline.share(0.5)
    assert half.remaining_s() == pytest.approx(50.0, abs=0.5)
    assert deadline.share(1.0).at_s == pytest.approx(deadline.at_s, abs=1e-3)
    # nothing is left to share once expired
    past = Deadline(time.monotonic() - 5.0)
    assert past.share(0.5).remaining_s() == 0.0


def test_an_extension_moves_the_deadline_later() -> None:
    deadline = Deadline.after(1.0)
    assert deadline.extended(30.0).at_s == deadline.at_s + 30.0


def test_never_is_never_reached() -> None:
    assert not NEVER.expired()
    assert math.isinf(NEVER.remaining_s()) and math.isinf(NEVER.share(0.5).at_s)


def test_a_deadline_crosses_hosts_on_the_wall_clock_and_keeps_its_instant() -> None:
    deadline = Deadline.after(40.0)
    wall_s = deadline.wall_s()
    assert wall_s == pytest.approx(time.time() + 40.0, abs=0.5)
    # received later, it still ends at the same instant: no extension by transit time
    time.sleep(0.05)
    assert Deadline.from_wall_s(wall_s).at_s == pytest.approx(deadline.at_s, abs=1e-3)
    assert Deadline.from_wall_s(deadline.wall_s()).remaining_s() < 40.0
    assert math.isinf(Deadline.from_wall_s(NEVER.wall_s()).at_s)
    assert Deadline.from_wall_s(Deadline(time.monotonic() - 5.0).wall_s()).expired()
