"""A worker process for the crash test: ``python -m
tests.integration.worker_process DATABASE_URL`` claims one job with a 1 s
lease renewed every 0.2 s and hangs in its solver until killed."""

from __future__ import annotations

import sys

from api.worker import Worker, WorkerSettings
from store.db import make_engine, session_factory
from tests.integration.solvers import hanging

CRASHING_WORKER = "doomed"


def main(url: str) -> None:
    settings = WorkerSettings(lease_s=1.0, heartbeat_s=0.2, poll_s=0.05)
    worker = Worker(
        session_factory(make_engine(url)), name=CRASHING_WORKER, settings=settings, solve=hanging
    )
    worker.run(max_jobs=1)


if __name__ == "__main__":
    main(sys.argv[1])
