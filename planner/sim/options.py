"""Simulator options and per-request outcomes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

POLICIES: tuple[str, ...] = ("fcfs", "slack")
"""Queue policies every engine implements. Each engine keeps a registry keyed
by these names (``reference.QUEUES``, ``fast.KERNELS``); a new policy adds
one entry to each. ``fcfs``: batches run in dispatch order; ``slack``:
SLO-aware preemption, waiting batches run least slack first (see
:mod:`planner.sim`)."""

ENGINES: tuple[str, ...] = ("fast", "reference")


class Outcome(IntEnum):
    """What happened to one request (stored as int8)."""

    SERVED = 0
    """Dispatched to a group; its finish time is within its SLO."""
    DROPPED_SLO = 1
    """Its earliest predicted finish on any available replica misses the SLO."""
    NO_REPLICA = 2
    """No group of the placement in force hosts the model."""
    UNAVAILABLE = 3
    """Groups host the model, but every such replica is still loading."""


@dataclass(frozen=True)
class SimOptions:
    """How to simulate.

    - ``max_batch``: cap on batch size (each replica is further capped by its
      profile's ``max_batch``).
    - ``warmup_s``: requests arriving before this are not scored.
    - ``cooldown_s``: requests arriving at or after ``duration_s - cooldown_s``
      are not scored.
    - ``policy``: queue policy, one of :data:`POLICIES`.
    """

    max_batch: int = 1
    warmup_s: float = 0.0
    cooldown_s: float = 0.0
    policy: str = "fcfs"

    def __post_init__(self) -> None:
        if isinstance(self.max_batch, bool) or not isinstance(self.max_batch, int):
            raise ValueError(f"max_batch: must be an integer, got {self.max_batch!r}")
        if self.max_batch < 1:
            raise ValueError(f"max_batch: must be >= 1, got {self.max_batch}")
        for name in ("warmup_s", "cooldown_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")
        if self.policy not in POLICIES:
            raise ValueError(f"policy: unknown {self.policy!r}, expected one of {list(POLICIES)}")
