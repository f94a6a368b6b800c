"""When work must stop, as one absolute value on the monotonic clock.

A time limit (seconds) is validated and turned into a :class:`Deadline`
once, where it enters the planner (the CLI, the solve worker, the
re-planner for each solve, the evaluation harness); everything below
passes the deadline on and never converts it back. Bottom layer: imports
nothing from the planner.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Deadline:
    """``at_s``: the :func:`time.monotonic` value (s) by which work must stop;
    ``math.inf`` for none. The monotonic clock is shared by the processes
    of one host, so a deadline may be handed to worker processes."""

    at_s: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """``seconds`` (already validated: finite, > 0) from now."""
        return cls(time.monotonic() + seconds)

    def remaining_s(self) -> float:
        """Seconds left, 0 once expired."""
        return max(0.0, self.at_s - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() > self.at_s

    def share(self, fraction: float) -> Deadline:
        """The deadline ``fraction`` (in (0, 1]) of the remaining time from
        now: for a first stage that must leave the rest to the later ones."""
        now = time.monotonic()
        return Deadline(now + fraction * max(0.0, self.at_s - now))

    def wall_s(self) -> float:
        """This deadline on the wall clock (:func:`time.time`, s): the form
        in which it crosses to another host, whose monotonic clock differs
        (hosts are assumed to keep their wall clocks synchronised, e.g. by NTP)."""
        return time.time() + (self.at_s - time.monotonic())

    @classmethod
    def from_wall_s(cls, wall_s: float) -> Deadline:
        """The deadline that :meth:`wall_s` gave, on this host's monotonic clock."""
        return cls(time.monotonic() + (wall_s - time.time()))

    def extended(self, seconds: float) -> Deadline:
        """This deadline ``seconds`` later."""
        return Deadline(self.at_s + seconds)


NEVER = Deadline(math.inf)
"""No deadline."""
