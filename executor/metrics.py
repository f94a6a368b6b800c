"""Latencies measured by an agent, summarised per model for heartbeats."""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

WINDOW = 2048
"""Most recent requests per model that the percentiles cover."""


class LatencyLog:
    """End-to-end seconds of served requests, per model (thread-safe)."""

    def __init__(self, window: int = WINDOW) -> None:
        self._recent: dict[str, deque[float]] = {}
        self._count: dict[str, int] = {}
        self._window = window
        self._lock = threading.Lock()

    def record(self, model: str, seconds: float) -> None:
        with self._lock:
            self._recent.setdefault(model, deque(maxlen=self._window)).append(seconds)
            self._count[model] = self._count.get(model, 0) + 1

    def summary(self) -> dict[str, dict[str, float | int]]:
        """``{model: {"p50", "p99", "count"}}``: percentiles (s) over the
        recent window, count of all requests recorded."""
        with self._lock:
            return {
                model: {
                    "p50": float(np.percentile(list(recent), 50)),
                    "p99": float(np.percentile(list(recent), 99)),
                    "count": self._count[model],
                }
                for model, recent in self._recent.items()
            }
