"""The reference engine: a small event loop over plan switches and request
arrivals, with one object per group. It is written to be read; the fast
engine must agree with it request by request (see :mod:`planner.sim`
for the semantics both implement)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from planner.domain import ParallelConfig, TimedPlan
from planner.sim.instance import Instance
from planner.sim.options import Outcome
from planner.sim.result import EngineOutput


class EventKind(IntEnum):
    """Events at the same time run switch first, then arrivals; events of one
    kind at the same time run in sequence order (step or request index)."""

    SWITCH = 0
    ARRIVAL = 1


@dataclass(frozen=True)
class Replica:
    """A model hosted on a group: latency ``latency_s[b - 1][s]``, batch cap
    and the time (s) from which it serves."""

    model: str
    latency_s: tuple[tuple[float, ...], ...]
    cap: int
    available_s: float


@dataclass
class Batch:
    """Requests of one model executed together on one group. ``free_before_s``
    are the group's stage free times before this batch was dispatched."""

    group: int
    replica: Replica
    members: list[int]
    deadline_s: float
    free_before_s: list[float]
    stage_start_s: list[float] = field(default_factory=list)
    stage_end_s: list[float] = field(default_factory=list)
    seq: int = 0
    """Creation order within the group (breaks ties in a queue order)."""

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def finish_s(self) -> float:
        return self.stage_end_s[-1]

    @property
    def stage_latency_s(self) -> tuple[float, ...]:
        return self.replica.latency_s[self.size - 1]


def run_pipeline(
    ready_s: float, free_s: Sequence[float], latency_s: Sequence[float]
) -> tuple[list[float], list[float]]:
    """Start and end time of every stage of a batch ready at ``ready_s`` on
    stages free at ``free_s``: stage ``s`` starts at ``max(end of stage s-1,
    free_s[s])`` (stage 0 at ``max(ready_s, free_s[0])``)."""
    starts: list[float] = []
    ends: list[float] = []
    end = ready_s
    for free, latency in zip(free_s, latency_s, strict=True):
        start = max(end, free)
        end = start + latency
        starts.append(start)
        ends.append(end)
    return starts, ends


@dataclass(frozen=True)
class Offer:
    """A group's predicted finish for a request, joining ``batch`` or (None)
    forming a new batch."""

    finish_s: float
    group: int
    batch: Batch | None


class FcfsGroup:
    """A group serving batches first come, first served through its stages."""

    def __init__(
        self, index: int, devices: tuple[int, ...], config: ParallelConfig, start_s: float
    ) -> None:
        self.index = index
        self.devices = devices
        self.config = config
        self.free_s = [start_s] * config.pp
        self.batches: list[Batch] = []
        self.replicas: dict[str, Replica] = {}

    def open_batch(self, now_s: float) -> Batch | None:
        """The last batch dispatched here if it has not yet started stage 0."""
        if self.batches and self.batches[-1].stage_start_s[0] > now_s:
            return self.batches[-1]
        return None

    def offer(self, model: str, now_s: float, deadline_s: float) -> Offer:
        """Predicted finish of a request for ``model`` arriving at ``now_s``:
        joining the open batch where allowed, else as a new batch (FCFS
        does not use the request's deadline: the router drops it if late)."""
        replica = self.replicas[model]
        batch = self.open_batch(now_s)
        if batch is not None and batch.replica.model == model and batch.size < replica.cap:
            _, ends = run_pipeline(now_s, batch.free_before_s, replica.latency_s[batch.size])
            if ends[-1] <= batch.deadline_s:
                return Offer(ends[-1], self.index, batch)
        _, ends = run_pipeline(now_s, self.free_s, replica.latency_s[0])
        return Offer(ends[-1], self.index, None)

    def commit(
        self, offer: Offer, model: str, request: int, deadline_s: float, now_s: float
    ) -> Batch:
        """Add ``request`` to the offer's batch (or a new one) and re-run that
        batch from the free times saved before it; returns the batch."""
        batch = offer.batch
        if batch is None:
            batch = Batch(self.index, self.replicas[model], [], deadline_s, list(self.free_s))
            self.batches.append(batch)
        batch.members.append(request)
        batch.deadline_s = min(batch.deadline_s, deadline_s)
        batch.stage_start_s, batch.stage_end_s = run_pipeline(
            now_s, batch.free_before_s, batch.stage_latency_s
        )
        self.free_s = list(batch.stage_end_s)
        return batch

    def busy_s(self) -> float:
        """Busy stage-seconds: every stage's latency summed over the batches."""
        busy = 0.0
        for batch in self.batches:
            for latency in batch.stage_latency_s:
                busy += latency
        return busy


def slack_key(batch_deadline_s: float, stage_latency_s: Sequence[float]) -> float:
    """Queue key of a waiting batch under the ``slack`` policy: its deadline
    minus its own latency through an idle pipeline (its slack, up to the
    common current time); stage latencies are summed in stage order."""
    return batch_deadline_s - sum(stage_latency_s)


@dataclass(frozen=True)
class Queued:
    """A waiting batch as a ``slack`` queue entry: ``batch`` is None for the
    new batch of an offer."""

    key: float
    seq: int
    latency_s: tuple[float, ...]
    deadline_s: float
    batch: Batch | None


class SlackGroup(FcfsGroup):
    """SLO-aware preemption: the batches waiting for stage 0 run least
    slack first (:func:`slack_key`, ties to the older batch); a request may
    join a waiting batch of its model or start a new one wherever its slack
    puts it, overtaking waiting batches, only if every waiting batch and
    the request still finish by their deadlines. ``free_s`` are the stage
    free times after the batches that have started."""

    def __init__(
        self, index: int, devices: tuple[int, ...], config: ParallelConfig, start_s: float
    ) -> None:
        super().__init__(index, devices, config, start_s)
        self.waiting: list[Batch] = []

    def advance(self, now_s: float) -> None:
        """Batches whose stage 0 started by ``now_s`` leave the queue."""
        while self.waiting and self.waiting[0].stage_start_s[0] <= now_s:
            self.free_s = list(self.waiting.pop(0).stage_end_s)

    def _entry(self, batch: Batch, size: int, deadline_s: float) -> Queued:
        latency = batch.replica.latency_s[size - 1]
        return Queued(slack_key(deadline_s, latency), batch.seq, latency, deadline_s, batch)

    def _finish(self, queue: list[Queued], mine: int, now_s: float) -> float:
        """The finish of ``queue[mine]`` when ``queue`` runs least slack
        first from now, or inf if any entry would miss its deadline."""
        free = self.free_s
        finish = math.inf
        for j in sorted(range(len(queue)), key=lambda j: (queue[j].key, queue[j].seq)):
            _, ends = run_pipeline(now_s, free, queue[j].latency_s)
            if ends[-1] > queue[j].deadline_s:
                return math.inf
            if j == mine:
                finish = ends[-1]
            free = ends
        return finish

    def offer(self, model: str, now_s: float, deadline_s: float) -> Offer:
        """The earliest feasible finish over joining each waiting batch of
        the model (in queue order) and starting a new batch (last); inf
        when none is feasible."""
        self.advance(now_s)
        replica = self.replicas[model]
        queue = [self._entry(b, b.size, b.deadline_s) for b in self.waiting]
        best = Offer(math.inf, self.index, None)
        for j, batch in enumerate(self.waiting):
            if batch.replica.model != model or batch.size >= replica.cap:
                continue
            trial = list(queue)
            trial[j] = self._entry(batch, batch.size + 1, min(batch.deadline_s, deadline_s))
            finish = self._finish(trial, j, now_s)
            if finish < best.finish_s:
                best = Offer(finish, self.index, batch)
        latency = replica.latency_s[0]
        new = Queued(slack_key(deadline_s, latency), len(self.batches), latency, deadline_s, None)
        finish = self._finish([*queue, new], len(queue), now_s)
        if finish < best.finish_s:
            best = Offer(finish, self.index, None)
        return best

    def commit(
        self, offer: Offer, model: str, request: int, deadline_s: float, now_s: float
    ) -> Batch:
        batch = offer.batch
        if batch is None:
            batch = Batch(
                self.index, self.replicas[model], [], deadline_s, [], seq=len(self.batches)
            )
            self.batches.append(batch)
            self.waiting.append(batch)
        batch.members.append(request)
        batch.deadline_s = min(batch.deadline_s, deadline_s)
        self.waiting.sort(key=lambda b: (slack_key(b.deadline_s, b.stage_latency_s), b.seq))
        free = self.free_s
        for waiting in self.waiting:
            waiting.stage_start_s, waiting.stage_end_s = run_pipeline(
                now_s, free, waiting.stage_latency_s
            )
            free = waiting.stage_end_s
        return batch


QUEUES: dict[str, type[FcfsGroup]] = {"fcfs": FcfsGroup, "slack": SlackGroup}
"""Group queue class per policy name."""


@dataclass
class ReferenceRun:
    """The engine output and every group with its batches (the full trace)."""

    output: EngineOutput
    groups: list[FcfsGroup]


class ReferenceSimulator:
    """One simulation; call :meth:`run` once."""

    def __init__(self, instance: Instance, plan: TimedPlan) -> None:
        self.cluster = instance.cluster
        self.models = {model.name: model for model in instance.models}
        self.plan = plan
        self.workload = instance.workload
        self.options = instance.options
        self.queue = QUEUES[instance.options.policy]
        self.groups: list[FcfsGroup] = []
        self.live: list[FcfsGroup] = []
        count = instance.workload.num_requests
        self.outcome = [Outcome.NO_REPLICA] * count
        self.batch_of: list[Batch | None] = [None] * count

    def run(self) -> ReferenceRun:
        events = [(start_s, EventKind.SWITCH, k) for k, (start_s, _) in enumerate(self.plan.steps)]
        events += [(float(t), EventKind.ARRIVAL, i) for i, t in enumerate(self.workload.arrivals_s)]
        heapq.heapify(events)
        while events:
            now_s, kind, seq = heapq.heappop(events)
            if kind is EventKind.SWITCH:
                self.switch(seq, now_s)
            else:
                self.arrive(seq, now_s)
        return ReferenceRun(self.output(), self.groups)

    def switch(self, step: int, now_s: float) -> None:
        """Put step ``step``'s placement in force at ``now_s``."""
        by_key = {(g.devices, g.config): g for g in self.live}
        live: list[FcfsGroup] = []
        for group in self.plan.steps[step][1].groups:
            state = by_key.get((group.devices, group.config))
            if state is None:
                state = self.queue(len(self.groups), group.devices, group.config, now_s)
                self.groups.append(state)
            kept = state.replicas
            replicas: dict[str, Replica] = {}
            loading_s = 0.0
            for name in group.models:
                if name in kept:
                    replicas[name] = kept[name]
                    continue
                profile = self.models[name].profile[group.config]
                available_s = now_s
                if step > 0:
                    loading_s += self.cluster.load_time_s(profile.weight_bytes)
                    available_s = now_s + loading_s
                cap = min(self.options.max_batch, profile.max_batch)
                replicas[name] = Replica(name, profile.latency_s, cap, available_s)
            state.replicas = replicas
            live.append(state)
        self.live = live

    def arrive(self, request: int, now_s: float) -> None:
        """Dispatch request ``request`` arriving at ``now_s`` or drop it."""
        model = self.workload.model_names[self.workload.model_ids[request]]
        deadline_s = now_s + self.models[model].slo_s
        hosting = [g for g in self.live if model in g.replicas]
        if not hosting:
            self.outcome[request] = Outcome.NO_REPLICA
            return
        ready = [g for g in hosting if g.replicas[model].available_s <= now_s]
        if not ready:
            self.outcome[request] = Outcome.UNAVAILABLE
            return
        offers = {g.index: g.offer(model, now_s, deadline_s) for g in ready}
        best = min(offers.values(), key=lambda offer: (offer.finish_s, offer.group))
        if best.finish_s > deadline_s:
            self.outcome[request] = Outcome.DROPPED_SLO
            return
        batch = self.groups[best.group].commit(best, model, request, deadline_s, now_s)
        self.outcome[request] = Outcome.SERVED
        self.batch_of[request] = batch

    def output(self) -> EngineOutput:
        count = len(self.outcome)
        finish = np.full(count, np.nan)
        group = np.full(count, -1, dtype=np.int32)
        size = np.zeros(count, dtype=np.int16)
        for i, batch in enumerate(self.batch_of):
            if batch is not None:
                finish[i] = batch.finish_s
                group[i] = batch.group
                size[i] = batch.size
        return EngineOutput(
            finish_s=finish,
            outcome=np.array(self.outcome, dtype=np.int8),
            group=group,
            batch_size=size,
            group_busy_s=np.array([g.busy_s() for g in self.groups], dtype=np.float64),
        )
