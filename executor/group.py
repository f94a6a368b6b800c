"""A plan group served on this agent: its stage meshes, the models loaded on
it, its batch schedule and one thread per pipeline stage.

Stage 0's thread takes the next waiting batch from the schedule, stacks its
requests' token ids (padded to the model's bucket) and runs stage 0; each
stage hands its output to the next stage's thread, so different batches
occupy different stages at once, as in the simulator. The last stage answers
the batch's requests. A model removed from the group stops being admitted;
its queued batches still run. A stopped group answers its waiting requests
with a retryable 503 and finishes the batches it has started.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Sequence

import jax
import numpy as np

from executor.request import Request, ServeError, unavailable
from executor.runtime import ModelRuntime, pad_rows
from executor.schedule import Batch, Offer, Schedule
from executor.sharding import stage_meshes
from planner.domain import ParallelConfig

log = logging.getLogger(__name__)

GroupKey = tuple[tuple[int, ...], ParallelConfig]
Handoff = tuple[Batch[Request], jax.Array | np.ndarray, float] | None


class GroupServer:
    """Serves the models of one group of global ``devices`` (stage order),
    run on the local JAX devices ``local``."""

    def __init__(
        self,
        devices: tuple[int, ...],
        local: Sequence[jax.Device],
        config: ParallelConfig,
        policy: str = "fcfs",
    ) -> None:
        self.key: GroupKey = (devices, config)
        self.config = config
        self.meshes = stage_meshes(local, config)
        self.models: dict[str, ModelRuntime] = {}
        self._runtimes: dict[str, ModelRuntime] = {}
        self._cond = threading.Condition()
        self.schedule: Schedule[Request] = Schedule(config.pp, self._latency, self._cap, policy)
        self._handoff: list[queue.SimpleQueue[Handoff]] = [
            queue.SimpleQueue() for _ in range(config.pp)
        ]
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._stage_loop, args=(k,), daemon=True, name=f"stage{k}")
            for k in range(config.pp)
        ]
        for thread in self._threads:
            thread.start()

    def __repr__(self) -> str:
        return f"GroupServer({list(self.key[0])}, {self.config}, {sorted(self.models)})"

    def _latency(self, model: str, rows: int) -> Sequence[float]:
        return self._runtimes[model].latency_s(rows)

    def _cap(self, model: str) -> int:
        return self._runtimes[model].max_batch

    def add(self, runtime: ModelRuntime) -> None:
        """Start serving a loaded, warmed-up model."""
        with self._cond:
            self.models[runtime.name] = self._runtimes[runtime.name] = runtime

    def remove(self, name: str) -> None:
        """Stop admitting ``name``; its queued batches still run."""
        with self._cond:
            self.models.pop(name, None)
            self._release(name)

    def _release(self, name: str) -> None:
        busy = any(b.model == name for b in [*self.schedule.started, *self.schedule.waiting])
        if name not in self.models and not busy:
            self._runtimes.pop(name, None)

    def offer(self, request: Request) -> Offer[Request]:
        """Where ``request`` would go and when it would finish (never, once
        the model has left the group)."""
        with self._cond:
            if self._stopping or request.model not in self.models:
                return Offer(math.inf, None, False)
            return self.schedule.offer(
                time.monotonic(), request.model, request.rows, request.deadline_s
            )

    def submit(self, request: Request) -> None:
        """Admit ``request`` or raise: 429 when it cannot meet its SLO, 503
        when the model or group is going away."""
        with self._cond:
            if self._stopping or request.model not in self.models:
                raise unavailable(f"model {request.model!r} is leaving group {self.key[0]}")
            offer = self.schedule.offer(
                time.monotonic(), request.model, request.rows, request.deadline_s
            )
            if not offer.admitted:
                late = offer.finish_s - request.deadline_s
                raise ServeError(
                    429,
                    "slo-unattainable",
                    f"predicted to finish {late:.4f} s after its {request.slo_s} s SLO",
                    retry_after_s=max(late, 0.0),
                )
            self.schedule.commit(offer, request.model, request.rows, request.deadline_s, request)
            self._cond.notify_all()

    def stop(self) -> None:
        """Answer waiting requests with 503, finish started batches, end the
        stage threads."""
        with self._cond:
            self._stopping = True
            dropped = self.schedule.drop_waiting()
            self._cond.notify_all()
        for batch in dropped:
            for request in batch.members:
                request.fail(unavailable(f"group {list(self.key[0])} was removed by a new plan"))

    def join(self, timeout_s: float | None = None) -> None:
        for thread in self._threads:
            thread.join(timeout_s)

    @property
    def idle(self) -> bool:
        with self._cond:
            return not self.schedule.started and not self.schedule.waiting

    def _next(self, stage: int) -> Handoff:
        if stage > 0:
            return self._handoff[stage].get()
        with self._cond:
            while not self.schedule.waiting and not self._stopping:
                self._cond.wait()
            batch = self.schedule.take()
        if batch is None:
            return None
        runtime = self._runtimes[batch.model]
        ids = np.concatenate([r.token_ids for r in batch.members])
        return batch, pad_rows(ids, runtime.bucket(batch.rows)), time.monotonic()

    def _stage_loop(self, stage: int) -> None:
        last = stage + 1 == self.config.pp
        while (item := self._next(stage)) is not None:
            batch, x, started_s = item
            runtime = self._runtimes[batch.model]
            begin = time.monotonic()
            with self._cond:
                self.schedule.run(batch, stage, begin)
            try:
                y = runtime.replica.run_stage(stage, x).block_until_ready()
            except Exception as error:  # a failed batch must not stop the group
                log.exception("stage %d of a %s batch failed", stage, batch.model)
                self._finish(batch, abandon=True)
                for request in batch.members:
                    request.fail(ServeError(500, "execution-failed", str(error)))
                continue
            runtime.observe(batch.rows, stage, time.monotonic() - begin)
            with self._cond:
                self.schedule.done(batch, stage)
            if last:
                self._answer(batch, np.asarray(y), started_s)
                self._finish(batch)
            else:
                self._handoff[stage + 1].put((batch, y, started_s))
        if not last:
            self._handoff[stage + 1].put(None)

    def _answer(self, batch: Batch[Request], output: np.ndarray, started_s: float) -> None:
        row = 0
        for request in batch.members:
            request.succeed(output[row : row + request.rows], started_s, batch.rows)
            row += request.rows

    def _finish(self, batch: Batch[Request], abandon: bool = False) -> None:
        with self._cond:
            if abandon:
                self.schedule.abandon(batch)
            self._release(batch.model)
