"""The plan-job queue on SQLite and PostgreSQL: leases, renewal, expiry and
re-claiming, cancellation, and concurrent claimers that never share a job."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import Engine

from store.db import session_factory, transaction
from store.enums import JobStatus
from store.models import PlanJob
from store.repositories import jobs
from store.repositories.jobs import LeaseState
from tests.integration.builders import add_jobs

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
LEASE_S = 30.0


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def make_jobs(engine: Engine, count: int) -> list[int]:
    with transaction(session_factory(engine), write=True) as session:
        return [job.id for job in add_jobs(session, count)]


def claim(engine: Engine, owner: str, now: dt.datetime, max_attempts: int = 3) -> jobs.Lease | None:
    with transaction(session_factory(engine), write=True) as session:
        return jobs.claim(session, owner, lease_s=LEASE_S, max_attempts=max_attempts, now=now)


def renew(engine: Engine, lease: jobs.Lease, now: dt.datetime, progress: float = 0.5) -> LeaseState:
    with transaction(session_factory(engine), write=True) as session:
        return jobs.renew(session, lease, lease_s=LEASE_S, progress=progress, message="m", now=now)


def stored(engine: Engine, job_id: int) -> PlanJob:
    with session_factory(engine)() as session:
        job = session.get(PlanJob, job_id)
        assert job is not None
        return job


def test_claims_oldest_first_with_a_lease(engine: Engine) -> None:
    first, second = make_jobs(engine, 2)
    lease = claim(engine, "w1", at(0))
    assert lease is not None and lease.job_id == first and lease.owner == "w1"
    job = stored(engine, first)
    assert job.status == JobStatus.RUNNING
    assert job.attempts == 1
    assert job.lease_token == lease.token
    assert job.lease_expires_at == at(LEASE_S)
    assert job.started_at == at(0)
    other = claim(engine, "w2", at(1))
    assert other is not None and other.job_id == second
    assert claim(engine, "w3", at(2)) is None


def test_renewal_extends_the_lease_and_records_progress(engine: Engine) -> None:
    (job_id,) = make_jobs(engine, 1)
    lease = claim(engine, "w1", at(0))
    assert lease is not None
    assert renew(engine, lease, at(20), progress=0.25) == LeaseState.HELD
    job = stored(engine, job_id)
    assert job.lease_expires_at == at(20 + LEASE_S)
    assert job.heartbeat_at == at(20)
    assert job.progress == 0.25
    # Renewed at 20 s, the lease outlives its first expiry at 30 s.
    assert claim(engine, "w2", at(LEASE_S + 1)) is None


def test_an_expired_lease_is_claimed_again_and_the_old_holder_loses_it(engine: Engine) -> None:
    (job_id,) = make_jobs(engine, 1)
    old = claim(engine, "w1", at(0))
    assert old is not None
    assert claim(engine, "w2", at(LEASE_S - 1)) is None
    new = claim(engine, "w2", at(LEASE_S + 1))
    assert new is not None and new.job_id == job_id and new.token != old.token
    assert stored(engine, job_id).attempts == 2
    assert stored(engine, job_id).started_at == at(0)
    assert renew(engine, old, at(LEASE_S + 2)) == LeaseState.LOST
    with transaction(session_factory(engine), write=True) as session:
        assert jobs.held(session, old) is None
        assert jobs.held(session, new) is not None


def test_a_job_abandoned_max_attempts_times_fails(engine: Engine) -> None:
    (job_id,) = make_jobs(engine, 1)
    assert claim(engine, "w1", at(0), max_attempts=2) is not None
    assert claim(engine, "w2", at(100), max_attempts=2) is not None
    assert claim(engine, "w3", at(200), max_attempts=2) is None
    job = stored(engine, job_id)
    assert job.status == JobStatus.FAILED
    assert job.error == "abandoned: its lease expired 2 times"
    assert job.finished_at == at(200)
    assert job.lease_token is None


def test_cancel_queued_running_and_finished(engine: Engine) -> None:
    queued, running = make_jobs(engine, 2)
    factory = session_factory(engine)
    with transaction(factory, write=True) as session:
        job = session.get(PlanJob, queued)
        assert job is not None and jobs.request_cancel(session, job, at(0))
    assert stored(engine, queued).status == JobStatus.CANCELLED
    lease = claim(engine, "w1", at(1))
    assert lease is not None and lease.job_id == running
    with transaction(factory, write=True) as session:
        job = session.get(PlanJob, running)
        assert job is not None and jobs.request_cancel(session, job, at(2))
    assert stored(engine, running).status == JobStatus.RUNNING
    assert renew(engine, lease, at(3)) == LeaseState.CANCEL_REQUESTED
    with transaction(factory, write=True) as session:
        job = session.get(PlanJob, queued)
        assert job is not None and not jobs.request_cancel(session, job, at(4))


def test_an_expired_job_with_a_cancel_request_ends_cancelled(engine: Engine) -> None:
    (job_id,) = make_jobs(engine, 1)
    assert claim(engine, "w1", at(0)) is not None
    with transaction(session_factory(engine), write=True) as session:
        job = session.get(PlanJob, job_id)
        assert job is not None
        jobs.request_cancel(session, job, at(1))
    assert claim(engine, "w2", at(LEASE_S + 1)) is None
    assert stored(engine, job_id).status == JobStatus.CANCELLED


def test_concurrent_claimers_never_share_a_job(engine: Engine) -> None:
    ids = make_jobs(engine, 40)
    claimed: dict[str, list[int]] = {}
    start = threading.Barrier(4)

    def worker(owner: str) -> None:
        mine = claimed.setdefault(owner, [])
        start.wait()
        while (lease := claim(engine, owner, at(0))) is not None:
            mine.append(lease.job_id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [job_id for owned in claimed.values() for job_id in owned]
    assert sorted(everything) == ids
    assert all(stored(engine, job_id).attempts == 1 for job_id in ids)
