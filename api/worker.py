"""The solve worker. Any number of workers, on any hosts, share the job
queue in the database (:mod:`store.repositories.jobs`):

1. claim the oldest claimable job with a lease of ``lease_s`` seconds;
2. solve it, while a background thread renews the lease every
   ``heartbeat_s`` seconds and writes the latest progress, and sooner when
   the solver reports progress: at most :data:`RELAY_S` after it;
3. store the plan and mark the job succeeded, in one transaction, only if
   the lease is still held.

A worker that dies stops renewing; once its lease expires another worker
claims the job again, and the dead worker's late result (if any) is thrown
away, so every job ends exactly once. The job's time limit becomes the
solver's deadline when the solve starts; a cancel request, a lost lease or
that deadline + ``grace_s`` makes the next progress report raise
:class:`JobAborted`, which stops the solver.

The worker outlives database outages: claims back off exponentially
(``poll_s`` doubling up to ``backoff_max_s``), failed lease renewals are
retried every ``heartbeat_s``, and a finished job's outcome is written with
the same backoff until the database answers (or the worker is stopped; the
job is then claimed again once its lease expires)."""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from api import capacity_jobs, replanner_jobs
from api.backoff import Backoff
from planner.codec import encode
from planner.deadline import Deadline
from planner.placement.options import SolveOptions, split_options
from planner.sim import Instance
from planner.validation import validate
from store.db import UNAVAILABLE, error_summary, make_engine, session_factory, transaction
from store.enums import JobKind, JobStatus
from store.models import Cluster, PlanJob, Workload
from store.repositories import catalog, jobs, plans, workloads
from store.repositories.jobs import Lease, LeaseState

log = logging.getLogger(__name__)

T = TypeVar("T")
RELAY_S = 0.5
"""A solver's progress report reaches the job row, and a cancel request the
solver (its next report raises), within about this many seconds while the
solver reports at least this often, however long ``heartbeat_s`` is."""

SolveFunction = Callable[..., Any]
"""``solve(instance, *, solver, deadline, options, progress)`` returning
a result with ``placement``, ``attainment``, ``proxy_objective``, ``bound``,
``gap``, ``wall_s``, ``status``, ``solver`` (stored as its
:func:`planner.codec.encode` form):
:func:`planner.placement.solve.solve` or a stand-in."""


def planner_solve(*args: Any, **kwargs: Any) -> Any:
    """:func:`planner.placement.solve.solve`, imported on first use."""
    from planner.placement.solve import solve

    return solve(*args, **kwargs)


@dataclass(frozen=True)
class WorkerSettings:
    lease_s: float = field(default=30.0, metadata={"help": "lease length (s)"})
    heartbeat_s: float = field(default=5.0, metadata={"help": "lease renewal period (s)"})
    poll_s: float = field(default=1.0, metadata={"help": "wait when the queue is empty (s)"})
    max_attempts: int = field(default=3, metadata={"help": "claims before a job fails"})
    grace_s: float = field(default=30.0, metadata={"help": "deadline past the time limit (s)"})
    backoff_max_s: float = field(
        default=30.0, metadata={"help": "longest wait between retries while the database fails (s)"}
    )

    def __post_init__(self) -> None:
        for name in ("lease_s", "heartbeat_s", "poll_s", "grace_s", "backoff_max_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: must be > 0, got {value!r}")
        if self.heartbeat_s * 2 > self.lease_s:
            raise ValueError(
                f"heartbeat_s: must be at most half of lease_s={self.lease_s}, got {self.heartbeat_s}"
            )
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts: must be >= 1, got {self.max_attempts}")
        if self.backoff_max_s < self.poll_s:
            raise ValueError(
                f"backoff_max_s: must be at least poll_s={self.poll_s}, got {self.backoff_max_s}"
            )

    def backoff(self) -> Backoff:
        """Waits after consecutive database errors: ``poll_s`` doubling up
        to ``backoff_max_s``."""
        return Backoff(self.poll_s, self.backoff_max_s)


class JobAborted(Exception):
    """Raised from the progress callback to stop a solve."""


@dataclass(frozen=True)
class SolveInputs:
    instance: Instance
    solver: str
    time_limit_s: float
    options: SolveOptions


def load_inputs(session: Session, job: PlanJob) -> SolveInputs:
    """The instance and solver settings a job is solved with (ValueError
    naming the field when they do not make an instance)."""
    sim, options = split_options(job.options)
    instance = Instance(
        catalog.cluster_value(session.get_one(Cluster, job.cluster_id)),
        tuple(catalog.model_values(session, job.models)),
        workloads.workload_value(session.get_one(Workload, job.workload_id)),
        sim,
    )
    return SolveInputs(instance, job.solver, job.time_limit_s, options)


class LeaseKeeper:
    """Renews a lease from a background thread and relays progress (every
    ``heartbeat_s``, and within :data:`RELAY_S` of a progress report). After
    a lost lease, a cancel request or ``deadline`` (when the job is aborted),
    ``reason`` says which and :meth:`progress` raises :class:`JobAborted`."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        lease: Lease,
        settings: WorkerSettings,
        deadline: Deadline,
    ) -> None:
        self.factory = factory
        self.lease = lease
        self.settings = settings
        self.deadline = deadline
        self.reason: str | None = None
        self._fraction: float | None = None
        self._message: str | None = None
        self._relayed_s = -math.inf
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._due = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{lease.job_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._due.set()
        self._thread.join()

    @property
    def message(self) -> str | None:
        """The solver's latest progress message."""
        return self._message

    def progress(self, fraction: float, message: str = "") -> None:
        """The solver's progress callback: ``fraction`` done (0..1)."""
        with self._lock:
            self._fraction = fraction
            self._message = message
        self._due.set()
        if self.reason is not None:
            raise JobAborted(self.reason)

    def _run(self) -> None:
        """Renew every ``heartbeat_s``, or soon after a report: at most one
        write per :data:`RELAY_S`, and a report that came too soon after the
        last write goes out when that much time has passed (never dropped)."""
        while not self._stop.is_set():
            self._due.wait(self.settings.heartbeat_s)
            self._due.clear()
            self._stop.wait(max(0.0, RELAY_S - (time.monotonic() - self._relayed_s)))
            if not self._stop.is_set():
                self.renew()

    def renew(self) -> None:
        """Extend the lease now and write the latest progress."""
        with self._lock:
            fraction, message = self._fraction, self._message
        self._relayed_s = time.monotonic()
        try:
            with transaction(self.factory, write=True) as session:
                state = jobs.renew(
                    session,
                    self.lease,
                    lease_s=self.settings.lease_s,
                    progress=fraction,
                    message=message,
                )
        except SQLAlchemyError as error:
            log.warning(
                "job %d: lease renewal failed; retrying: %s",
                self.lease.job_id,
                error_summary(error),
            )
            return
        if state == LeaseState.LOST:
            self.reason = "lease lost"
        elif state == LeaseState.CANCEL_REQUESTED:
            self.reason = "cancelled"
        elif self.deadline.expired():
            self.reason = "timed out"


class Worker:
    """Claims and solves jobs until stopped. ``solve`` defaults to
    :func:`planner.placement.solve.solve`; tests pass a stand-in."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        name: str | None = None,
        settings: WorkerSettings | None = None,
        solve: SolveFunction = planner_solve,
    ) -> None:
        self.factory = factory
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.settings = settings or WorkerSettings()
        self.solve = solve

    def run(self, stop: threading.Event | None = None, max_jobs: int | None = None) -> int:
        """Work until ``stop`` is set (or ``max_jobs`` jobs are done);
        returns how many jobs this worker finished or gave up. Database
        errors are logged and waited out with backoff."""
        stop = stop or threading.Event()
        backoff = self.settings.backoff()
        done = 0
        while not stop.is_set() and (max_jobs is None or done < max_jobs):
            try:
                worked = self.run_once(stop)
            except SQLAlchemyError as error:
                wait_s = backoff.next_wait()
                log.warning(
                    "worker %s: database error; retrying in %g s: %s",
                    self.name,
                    wait_s,
                    error_summary(error),
                )
                stop.wait(wait_s)
                continue
            backoff.reset()
            if worked:
                done += 1
            else:
                stop.wait(self.settings.poll_s)
        return done

    def run_once(self, stop: threading.Event | None = None) -> bool:
        """Claim one job and work on it; False when none was claimable.
        Setting ``stop`` ends retries of writing the outcome (see
        :meth:`process`)."""
        with transaction(self.factory, write=True) as session:
            lease = jobs.claim(
                session,
                self.name,
                lease_s=self.settings.lease_s,
                max_attempts=self.settings.max_attempts,
            )
        if lease is None:
            return False
        log.info("worker %s: claimed job %d", self.name, lease.job_id)
        self.process(lease, stop or threading.Event())
        return True

    def process(self, lease: Lease, stop: threading.Event) -> None:
        """Solve a claimed job and record how it ended; while the database
        is unavailable, retry the record with backoff until it is written
        or ``stop`` is set (then raise the database error). A capacity job
        is searched by :mod:`api.capacity_jobs`, a replan job decided by
        :mod:`api.replanner_jobs`."""
        inputs: SolveInputs | capacity_jobs.CapacityInputs | replanner_jobs.ReplanInputs
        try:
            with self.factory() as session:
                job = session.get_one(PlanJob, lease.job_id)
                if job.kind == JobKind.CAPACITY:
                    inputs = capacity_jobs.load_inputs(session, job)
                elif job.kind == JobKind.REPLAN:
                    inputs = replanner_jobs.load_inputs(session, job)
                else:
                    inputs = load_inputs(session, job)
        except ValueError as error:
            message = f"cannot load the job's inputs: {error}"
            self._end(lease, stop, JobStatus.FAILED, error=message)
            return
        if isinstance(inputs, capacity_jobs.CapacityInputs):
            self._search(lease, stop, inputs)
        elif isinstance(inputs, replanner_jobs.ReplanInputs):
            self._replan(lease, stop, inputs)
        else:
            self._solve(lease, stop, inputs)

    def _replan(
        self, lease: Lease, stop: threading.Event, inputs: replanner_jobs.ReplanInputs
    ) -> None:
        """Decide the window or drift check; when deciding failed, still
        queue the next decision's job, so one bad window does not stop the
        re-planner."""
        done, decided, _ = self.supervise(
            lease,
            stop,
            inputs.time_limit_s,
            lambda _deadline, _progress: replanner_jobs.decide(inputs),
        )
        if done and decided is not None:
            self.write(lease, stop, lambda s: replanner_jobs.store(s, lease, inputs, decided))
        else:
            self.write(lease, stop, lambda s: replanner_jobs.schedule_next(s, inputs))

    def _search(
        self, lease: Lease, stop: threading.Event, inputs: capacity_jobs.CapacityInputs
    ) -> None:
        done, need, _ = self.supervise(
            lease,
            stop,
            inputs.time_limit_s,
            lambda deadline, progress: capacity_jobs.search(inputs, deadline, progress),
        )
        if done and need is not None:
            self.write(lease, stop, lambda session: capacity_jobs.store(session, lease, need))

    def _solve(self, lease: Lease, stop: threading.Event, inputs: SolveInputs) -> None:
        def run(deadline: Deadline, progress: Callable[[float, str], None]) -> Any:
            return self.solve(
                inputs.instance,
                solver=inputs.solver,
                deadline=deadline,
                options=inputs.options,
                progress=progress,
            )

        done, result, message = self.supervise(lease, stop, inputs.time_limit_s, run)
        if not done or result is None:
            return
        plan_id = self.write(
            lease, stop, lambda session: _store_result(session, lease, inputs, result, message)
        )
        if plan_id is not None:
            log.info("job %d: plan %d, attainment %.4f", lease.job_id, plan_id, result.attainment)

    def supervise(
        self,
        lease: Lease,
        stop: threading.Event,
        time_limit_s: float,
        run: Callable[[Deadline, Callable[[float, str], None]], T],
    ) -> tuple[bool, T | None, str | None]:
        """``run(deadline, progress)`` while the lease is kept: the deadline
        is ``time_limit_s`` from now, and ``progress`` raises
        :class:`JobAborted` on a cancel, a lost lease or the deadline +
        ``grace_s``. ``(True, result, last progress message)`` when it
        finished; otherwise the job's end (failed, cancelled or timed out) is
        recorded and ``(False, None, None)`` returned."""
        deadline = Deadline.after(time_limit_s)
        abort = deadline.extended(self.settings.grace_s)
        result: T | None = None
        with LeaseKeeper(self.factory, lease, self.settings, abort) as keeper:
            try:
                result = run(deadline, keeper.progress)
            except JobAborted:
                pass
            except Exception as error:
                log.exception("job %d: the solver failed", lease.job_id)
                message = f"{type(error).__name__}: {error}"
                self._end(lease, stop, JobStatus.FAILED, error=message)
                return False, None, None
        if keeper.reason is not None:
            self._end_aborted(lease, stop, keeper.reason, time_limit_s)
            return False, None, None
        return True, result, keeper.message

    def write(self, lease: Lease, stop: threading.Event, write: Callable[[Session], T]) -> T:
        """``write(session)`` in one write transaction, committed; while the
        database is unavailable, retried with backoff until ``stop`` is set."""
        backoff = self.settings.backoff()
        while True:
            try:
                with transaction(self.factory, write=True) as session:
                    return write(session)
            except UNAVAILABLE as error:
                wait_s = backoff.next_wait()
                log.warning(
                    "job %d: cannot record the outcome; retrying in %g s: %s",
                    lease.job_id,
                    wait_s,
                    error_summary(error),
                )
                if stop.wait(wait_s):
                    raise

    def _end(
        self, lease: Lease, stop: threading.Event, status: JobStatus, *, error: str | None = None
    ) -> None:
        def write(session: Session) -> None:
            job = jobs.held(session, lease)
            if job is None:
                log.warning("job %d: lease lost; its outcome is dropped", lease.job_id)
                return
            jobs.finish(job, status, error=error)

        self.write(lease, stop, write)

    def _end_aborted(
        self, lease: Lease, stop: threading.Event, reason: str, time_limit_s: float
    ) -> None:
        if reason == "cancelled":
            self._end(lease, stop, JobStatus.CANCELLED)
        elif reason == "timed out":
            limit_s = time_limit_s + self.settings.grace_s
            self._end(lease, stop, JobStatus.FAILED, error=f"timed out after {limit_s:g} s")
        else:
            log.warning("job %d: lease lost; another worker owns it", lease.job_id)


def _store_result(
    session: Session, lease: Lease, inputs: SolveInputs, result: Any, message: str | None
) -> int | None:
    """Store the plan and mark the job succeeded with the solve's last
    progress ``message`` (or cancelled, or failed on an invalid placement) if
    ``lease`` still holds it; the plan's id."""
    job = jobs.held(session, lease)
    if job is None:
        log.warning("job %d: lease lost; its result is dropped", lease.job_id)
        return None
    if job.cancel_requested:
        jobs.finish(job, JobStatus.CANCELLED)
        return None
    try:
        validate(inputs.instance.cluster, inputs.instance.models, result.placement)
    except ValueError as error:
        jobs.finish(job, JobStatus.FAILED, error=f"invalid placement: {error}")
        return None
    plan = plans.add_plan(
        session,
        job.cluster_id,
        result.placement,
        plans.model_snapshot(session, job.models),
        job=job,
        solver=result.solver,
        attainment=finite_json(result.attainment),
        objective=finite_json(result.proxy_objective),
    )
    job.attainment = finite_json(result.attainment)
    job.objective = finite_json(result.proxy_objective)
    job.bound = finite_json(result.bound)
    job.gap = finite_json(result.gap)
    job.wall_s = finite_json(result.wall_s)
    job.solve_status = result.status
    job.result = finite_json(encode(result))
    jobs.finish(job, JobStatus.SUCCEEDED, message=message)
    if job.activate:
        plans.activate(session, plan)
    session.flush()
    return plan.id


def finite_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no
    NaN or infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(item) for item in value]
    return value


def run_until_signalled(
    database_url: str | None,
    *,
    name: str | None = None,
    settings: WorkerSettings | None = None,
    max_jobs: int | None = None,
) -> int:
    """Run one worker on ``database_url`` until SIGTERM or SIGINT (which
    let the current job finish) or ``max_jobs``; returns the jobs done."""
    stop = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping after the current job", signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handle)
    worker = Worker(session_factory(make_engine(database_url)), name=name, settings=settings)
    print(f"worker {worker.name} polling for jobs", file=sys.stderr, flush=True)
    done = worker.run(stop, max_jobs=max_jobs)
    print(f"worker {worker.name} stopped after {done} jobs", file=sys.stderr, flush=True)
    return done
