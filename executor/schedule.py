"""A group's batch schedule and SLO-aware admission, the simulator's rules
(:mod:`planner.sim`) applied to live state and measured latencies.

Requests are put into batches when they arrive. A request for model ``m``
joins the *open batch* (the last waiting one) when it is of ``m``, has room
(rows up to the cap) and re-running it still meets every member's deadline;
otherwise it forms a new batch. Its predicted finish comes from the current
state: batches running a stage since ``t0`` free that stage at ``t0 +
latency`` (or now, if overdue), batches between stages are ready now, and
every stage ``s`` of a batch starts at ``max(end of stage s - 1,
free[s])``. The request is admitted only if, with it, every waiting batch
meets its deadline (batches already predicted late do not count: they
cannot be saved by rejecting newcomers); otherwise it is rejected at once
and changes nothing. An idle group admits every request: rejecting it would
save no other request, and running it refreshes a latency estimate that may
be stale (one measured under contention would otherwise reject a model's
requests forever, since only executed batches update it).

Waiting batches run in policy order: ``"fcfs"`` (formation order, as the
simulator), ``"edf"`` (earliest deadline first) or ``"slack"`` (least slack
first: deadline minus the batch's own pipeline latency, the order of the
simulator's SLO-aware preemption policy); ties keep formation order. With
admission above, a newcomer overtakes waiting batches only when every one
of them still meets its deadline. Batches that have started keep their
order through the pipeline.

No clocks and no threads here: callers pass ``now_s`` and hold a lock.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from planner.sim.reference import run_pipeline

M = TypeVar("M")
LatencyTable = Callable[[str, int], Sequence[float]]
"""``latency(model, rows)``: seconds of each stage for a batch of ``rows``."""
POLICIES = ("fcfs", "edf", "slack")


@dataclass(eq=False)
class Batch(Generic[M]):
    """Requests (``members``) of one model run together. ``next_stage`` is
    the stage it runs or waits for; ``running_since_s`` when that stage
    started (None while it waits)."""

    model: str
    seq: int
    deadline_s: float
    rows: int = 0
    members: list[M] = field(default_factory=list)
    next_stage: int = 0
    running_since_s: float | None = None


@dataclass(frozen=True)
class Offer(Generic[M]):
    """Where a request would go: into ``join`` (or a new batch when None),
    finishing at ``finish_s``; ``admitted`` is False when some waiting batch
    would miss its deadline."""

    finish_s: float
    join: Batch[M] | None
    admitted: bool


class Schedule(Generic[M]):
    """The batches of one group of ``pp`` stages: started (in pipeline order)
    and waiting (in policy order)."""

    def __init__(
        self, pp: int, latency: LatencyTable, cap: Callable[[str], int], policy: str = "fcfs"
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy: unknown {policy!r}, expected one of {list(POLICIES)}")
        self.pp = pp
        self.latency = latency
        self.cap = cap
        self.policy = policy
        self.started: list[Batch[M]] = []
        self.waiting: list[Batch[M]] = []
        self._seq = itertools.count()

    def finishes(self, now_s: float, waiting: Sequence[Batch[M]]) -> list[float]:
        """Predicted finish of every started batch, then of ``waiting`` in
        the order given."""
        free = [now_s] * self.pp
        ends: list[float] = []
        for batch in [*self.started, *waiting]:
            latency = self.latency(batch.model, batch.rows)
            ready, first = now_s, batch.next_stage
            if batch.running_since_s is not None:
                ready = max(now_s, batch.running_since_s + latency[first])
                free[first] = ready
                first += 1
            _, stage_ends = run_pipeline(ready, free[first:], latency[first:])
            free[first:] = stage_ends
            ends.append(stage_ends[-1] if stage_ends else ready)
        return ends

    def offer(self, now_s: float, model: str, rows: int, deadline_s: float) -> Offer[M]:
        """Predict a request of ``rows`` for ``model`` due at ``deadline_s``."""
        open_batch = self.waiting[-1] if self.waiting else None
        if (
            open_batch is not None
            and open_batch.model == model
            and open_batch.rows + rows <= self.cap(model)
        ):
            joined = Batch[M](model, open_batch.seq, min(open_batch.deadline_s, deadline_s))
            joined.rows = open_batch.rows + rows
            waiting = self._ordered([*self.waiting[:-1], joined])
            finish, admitted = self._try(now_s, waiting, joined)
            if admitted:
                return Offer(finish, open_batch, True)
        new = Batch[M](model, -1, deadline_s, rows)
        finish, admitted = self._try(now_s, self._ordered([*self.waiting, new]), new)
        return Offer(finish, None, admitted)

    def _try(
        self, now_s: float, waiting: list[Batch[M]], candidate: Batch[M]
    ) -> tuple[float, bool]:
        before = self.finishes(now_s, self.waiting)[len(self.started) :]
        late = {id(b) for b, end in zip(self.waiting, before, strict=True) if end > b.deadline_s}
        ends = self.finishes(now_s, waiting)[len(self.started) :]
        met = all(
            end <= batch.deadline_s or id(batch) in late
            for end, batch in zip(ends, waiting, strict=True)
        )
        idle = not self.started and not self.waiting
        return ends[waiting.index(candidate)], met or idle

    def _urgency(self, batch: Batch[M]) -> float:
        """The policy's sort key (smaller runs first; 0 for fcfs)."""
        if self.policy == "edf":
            return batch.deadline_s
        if self.policy == "slack":
            return batch.deadline_s - sum(self.latency(batch.model, batch.rows))
        return 0.0

    def _ordered(self, batches: list[Batch[M]]) -> list[Batch[M]]:
        # a batch being offered (seq -1) goes after formed batches of equal key
        return sorted(batches, key=lambda b: (self._urgency(b), b.seq < 0, b.seq))

    def commit(
        self, offer: Offer[M], model: str, rows: int, deadline_s: float, member: M
    ) -> Batch[M]:
        """Add an admitted request to the batch its offer chose (or a new one)."""
        if not offer.admitted:
            raise ValueError("offer: a rejected request cannot be committed")
        batch = offer.join
        if batch is None:
            batch = Batch[M](model, next(self._seq), deadline_s)
            self.waiting.append(batch)
        batch.rows += rows
        batch.deadline_s = min(batch.deadline_s, deadline_s)
        batch.members.append(member)
        self.waiting = self._ordered(self.waiting)
        return batch

    def take(self) -> Batch[M] | None:
        """The next waiting batch, moved to the started ones (stage 0 not yet
        running: call :meth:`run` when it starts)."""
        if not self.waiting:
            return None
        batch = self.waiting.pop(0)
        self.started.append(batch)
        return batch

    def run(self, batch: Batch[M], stage: int, now_s: float) -> None:
        """``batch`` starts ``stage`` at ``now_s``."""
        batch.next_stage, batch.running_since_s = stage, now_s

    def done(self, batch: Batch[M], stage: int) -> None:
        """``batch`` finished ``stage``; after the last one it leaves."""
        batch.next_stage, batch.running_since_s = stage + 1, None
        if stage + 1 == self.pp:
            self.started.remove(batch)

    def abandon(self, batch: Batch[M]) -> None:
        """``batch`` failed and leaves the pipeline."""
        self.started.remove(batch)

    def drop_waiting(self) -> list[Batch[M]]:
        """Remove and return every waiting batch (the group is going away)."""
        waiting, self.waiting = self.waiting, []
        return waiting
