"""Capped exponential backoff: how long to wait after each of a run of
failures before trying again."""

from __future__ import annotations

import math


class Backoff:
    """Waits ``first_s``, then twice the last wait, at most ``max_s``
    (seconds), for consecutive failures; :meth:`reset` after a success
    starts again from ``first_s``. Invariant: ``0 < first_s <= max_s``."""

    def __init__(self, first_s: float, max_s: float) -> None:
        if not (math.isfinite(first_s) and 0 < first_s <= max_s and math.isfinite(max_s)):
            raise ValueError(f"need 0 < first_s <= max_s, got {first_s} and {max_s}")
        self.first_s = first_s
        self.max_s = max_s
        self._next_s = first_s

    def next_wait(self) -> float:
        """The wait after one more failure (s)."""
        wait_s = self._next_s
        self._next_s = min(self.max_s, 2 * wait_s)
        return wait_s

    def reset(self) -> None:
        self._next_s = self.first_s
