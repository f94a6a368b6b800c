"""The service through database outages, on a private PostgreSQL server the
tests stop and start: while it is down every endpoint that needs it answers
503 problem+json with ``Retry-After`` (never 500, never the URL), a write
cut off mid-request stores nothing, the API recovers without a restart,
and workers wait the outage out and finish their jobs exactly once. Also:
connecting gives up after the connect timeout, and a SQLite write behind a
lock held past the busy timeout is a 503 too."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, func, make_url, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from api.app import create_app
from api.database import database
from api.errors import RETRY_AFTER_S
from api.worker import SolveFunction, Worker, WorkerSettings
from planner.codec import encode
from store import migrate
from store.db import CONNECT_TIMEOUT_S, make_engine, session_factory, transaction
from store.enums import JobStatus, Role
from store.models import ActivePlan, Base, PlanJob
from store.repositories.keys import create_key
from store.types import utcnow
from tests.integration.builders import (
    add_jobs,
    cluster_json,
    model_json,
    problem,
    profile_json,
    samples,
)
from tests.integration.postgres_server import PostgresServer, private_postgres, server_binaries
from tests.integration.solvers import Gate, instant
from tests.integration.test_worker import Running, wait_for
from tests.unit.test_report_html import sample_replan

PASSWORD = "s3cret-pw"
"""Sent with every connection (trust authentication ignores it): no answer
may show it."""

OUTAGE = WorkerSettings(lease_s=1.0, heartbeat_s=0.05, poll_s=0.05, grace_s=0.3, backoff_max_s=0.2)


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
    with private_postgres(binaries) as started:
        yield started


@pytest.fixture
def url(server: PostgresServer) -> Iterator[str]:
    """A migrated database of its own on the private server."""
    with server.database(PASSWORD) as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    """For the test's own reads and writes: a new connection each time, so
    none is left over from before a restart."""
    engine = make_engine(url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def start_worker(url: str) -> Iterator[Callable[[str, SolveFunction], Running]]:
    """Starts a worker for one job on a pooled engine, as a worker process
    has; every worker is stopped after the test, whatever happened."""
    engine = make_engine(url)
    started: list[Running] = []

    def start(name: str, solve: SolveFunction) -> Running:
        worker = Worker(session_factory(engine), name=name, settings=OUTAGE, solve=solve)
        started.append(Running(worker))
        return started[-1]

    yield start
    for running in started:
        running.stop.set()
    for running in started:
        running.join()
    engine.dispose()


@pytest.fixture
def app(url: str) -> Iterator[Flask]:
    """An app that remembers keys for the whole test, so that its requests
    reach their views while the database is down."""
    app = create_app({"DATABASE_URL": url, "TESTING": True, "AUTH_CACHE_S": 3600.0})
    yield app
    database(app).engine.dispose()


@pytest.fixture
def admin(engine: Engine) -> dict[str, str]:
    with transaction(session_factory(engine), write=True) as session:
        key = create_key(session, "admin", Role.ADMIN)[1]
    return {"Authorization": f"Bearer {key}"}


def assert_unavailable(response: Any) -> None:
    """503 problem+json with Retry-After, naming no address or password."""
    body = problem(response, 503)
    assert response.headers["Retry-After"] == str(RETRY_AFTER_S)
    assert body["detail"].startswith("the database is unavailable (")
    text = response.get_data(as_text=True)
    assert PASSWORD not in text and "127.0.0.1" not in text


def row_counts(engine: Engine) -> dict[str, int]:
    with session_factory(engine)() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


@dataclass(frozen=True)
class Call:
    """One request to ``rule`` and the status it gets with the database up."""

    method: str
    rule: str
    path: str
    expected: int
    json: Any = None
    csv: str | None = None
    query: dict[str, str] = field(default_factory=dict)

    def send(self, client: FlaskClient, headers: dict[str, str]) -> Any:
        extra: dict[str, Any] = {"json": self.json} if self.json is not None else {}
        if self.csv is not None:
            extra = {"data": self.csv.encode(), "content_type": "text/csv"}
        return client.open(
            self.path, method=self.method, headers=headers, query_string=self.query, **extra
        )


NO_DATABASE = {
    "/healthz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/init.js",
    "/docs/assets/<name>",
}
"""Routes that answer without the database (``/metrics`` says it is down)."""


def seed(client: FlaskClient, admin: dict[str, str]) -> dict[str, int]:
    """One of everything, through the API; the ids."""

    def created(path: str, body: Any) -> int:
        response = client.post(path, json=body, headers=admin)
        assert response.status_code in (201, 202), response.get_json()
        ident: int = response.get_json()["id"]
        return ident

    cluster = created("/v1/clusters", cluster_json())
    model = created("/v1/models", model_json("m0"))
    arrivals = {"m0": [0.1, 0.5, 1.2]}
    body = {"name": "w1", "duration_s": 2.0, "window_s": 1.0, "arrivals_s": arrivals}
    workload = created("/v1/workloads", body)
    group = {"devices": [0], "config": {"op": 1, "pp": 1}, "models": ["m0"]}
    placement = {"cluster_id": cluster, "placement": {"groups": [group]}, "activate": True}
    return {
        "cluster": cluster,
        "model": model,
        "workload": workload,
        "plan": created("/v1/plans", placement),
        "job": created("/v1/plans", {"cluster_id": cluster, "workload_id": workload}),
        "executor": created(
            "/v1/executors",
            {"name": "agent-0", "cluster_id": cluster, "devices": [0], "url": "http://h:1"},
        ),
        "key": created("/v1/keys", {"name": "spare", "role": "reader"}),
        "report": created("/v1/reports", {"data": encode(sample_replan())}),
    }


def examples(ids: dict[str, int]) -> list[Call]:
    """A valid request for every route and method, in an order in which each
    gets its expected status once, with the database up."""
    c, m, w, e = ids["cluster"], ids["model"], ids["workload"], ids["executor"]
    beat = {"applied_version": None, "state": "serving", "groups": [], "latency_s": {}}
    arrivals = {"name": "w2", "duration_s": 2.0, "window_s": 1.0, "arrivals_s": {"m0": [0.3]}}
    trace = "app,func,end_timestamp,duration\na,f1,10.5,0.5\n"
    upload = {"name": "trace", "models": "m0", "format": "azure2021", "end": "0.0.1"}
    agent = {"name": "agent-1", "cluster_id": c, "devices": [1], "url": "http://h:2"}
    bin_start = int(time.time()) // 10 * 10 - 20  # a whole past bin of 10 s
    return [
        Call("GET", "/healthz", "/healthz", 200),
        Call("GET", "/readyz", "/readyz", 200),
        Call("GET", "/metrics", "/metrics", 200),
        Call("GET", "/openapi.json", "/openapi.json", 200),
        Call("GET", "/docs", "/docs", 200),
        Call("GET", "/docs/init.js", "/docs/init.js", 200),
        Call("GET", "/docs/assets/<name>", "/docs/assets/swagger-ui.css", 200),
        Call("GET", "/v1/clusters", "/v1/clusters", 200),
        Call("POST", "/v1/clusters", "/v1/clusters", 201, cluster_json("c2")),
        Call("GET", "/v1/clusters/<int:cluster_id>", f"/v1/clusters/{c}", 200),
        Call("GET", "/v1/clusters/<int:cluster_id>/plan", f"/v1/clusters/{c}/plan", 200),
        Call(
            "POST",
            "/v1/clusters/<int:cluster_id>/active-plan",
            f"/v1/clusters/{c}/active-plan",
            200,
            {"plan_id": ids["plan"]},
        ),
        Call("GET", "/v1/clusters/<int:cluster_id>/traffic", f"/v1/clusters/{c}/traffic", 200),
        Call(
            "POST",
            "/v1/clusters/<int:cluster_id>/traffic",
            f"/v1/clusters/{c}/traffic",
            201,
            {"source": "router", "bin_s": 10, "start": bin_start, "counts": {"m0": [3]}},
        ),
        Call("GET", "/v1/clusters/<int:cluster_id>/replanner", f"/v1/clusters/{c}/replanner", 200),
        Call(
            "PUT",
            "/v1/clusters/<int:cluster_id>/replanner",
            f"/v1/clusters/{c}/replanner",
            200,
            {"enabled": False, "window_s": 30},
        ),
        Call("GET", "/v1/clusters/<int:cluster_id>/decisions", f"/v1/clusters/{c}/decisions", 200),
        Call("GET", "/v1/models", "/v1/models", 200),
        Call("POST", "/v1/models", "/v1/models", 201, model_json("m1")),
        Call("GET", "/v1/models/<int:model_id>", f"/v1/models/{m}", 200),
        Call(
            "PUT",
            "/v1/models/<int:model_id>/profile",
            f"/v1/models/{m}/profile",
            200,
            profile_json(),
        ),
        Call("GET", "/v1/workloads", "/v1/workloads", 200),
        Call("POST", "/v1/workloads", "/v1/workloads", 201, arrivals),
        Call("POST", "/v1/workloads/upload", "/v1/workloads/upload", 201, None, trace, upload),
        Call("GET", "/v1/workloads/<int:workload_id>", f"/v1/workloads/{w}", 200),
        Call("GET", "/v1/workloads/<int:workload_id>/arrivals", f"/v1/workloads/{w}/arrivals", 200),
        Call("GET", "/v1/plans", "/v1/plans", 200),
        Call("POST", "/v1/plans", "/v1/plans", 202, {"cluster_id": c, "workload_id": w}),
        Call("POST", "/v1/capacity", "/v1/capacity", 202, {"cluster_id": c, "workload_id": w}),
        Call("GET", "/v1/plans/<int:plan_id>", f"/v1/plans/{ids['plan']}", 200),
        Call("GET", "/v1/jobs", "/v1/jobs", 200),
        Call("GET", "/v1/jobs/<int:job_id>", f"/v1/jobs/{ids['job']}", 200),
        Call("POST", "/v1/jobs/<int:job_id>/cancel", f"/v1/jobs/{ids['job']}/cancel", 200),
        Call("GET", "/v1/executors", "/v1/executors", 200),
        Call("POST", "/v1/executors", "/v1/executors", 201, agent),
        Call("GET", "/v1/executors/<int:executor_id>", f"/v1/executors/{e}", 200),
        Call(
            "POST",
            "/v1/executors/<int:executor_id>/heartbeat",
            f"/v1/executors/{e}/heartbeat",
            200,
            beat,
        ),
        Call("DELETE", "/v1/executors/<int:executor_id>", f"/v1/executors/{e}", 204),
        Call("GET", "/v1/keys", "/v1/keys", 200),
        Call("POST", "/v1/keys", "/v1/keys", 201, {"name": "ci", "role": "reader"}),
        Call("GET", "/v1/keys/<int:key_id>", f"/v1/keys/{ids['key']}", 200),
        Call("DELETE", "/v1/keys/<int:key_id>", f"/v1/keys/{ids['key']}", 204),
        Call("GET", "/v1/reports", "/v1/reports", 200),
        Call("POST", "/v1/reports", "/v1/reports", 201, {"data": encode(sample_replan())}),
        Call("GET", "/v1/reports/<int:report_id>", f"/v1/reports/{ids['report']}", 200),
    ]


def routes(app: Flask) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def test_every_route_answers_503_while_the_database_is_down_then_recovers(
    server: PostgresServer, app: Flask, admin: dict[str, str], engine: Engine
) -> None:
    client = app.test_client()
    calls = examples(seed(client, admin))
    assert {(call.method, call.rule) for call in calls} == routes(app)
    before = row_counts(engine)
    server.stop()
    for call in calls:
        response = call.send(client, admin)
        if call.rule in NO_DATABASE:
            assert response.status_code == 200, call
        else:
            assert_unavailable(response)
    server.start()
    assert row_counts(engine) == before
    for call in calls:
        response = call.send(client, admin)
        assert response.status_code == call.expected, (call, response.get_data(as_text=True))


def test_metrics_answer_while_the_database_is_down(
    server: PostgresServer, app: Flask, admin: dict[str, str]
) -> None:
    client = app.test_client()
    assert samples(client)[("meshplan_database_up", ())] == 1
    server.stop()
    assert_unavailable(client.get("/v1/clusters", headers=admin))
    found = samples(client)
    assert found[("meshplan_database_up", ())] == 0
    assert not [name for name, _ in found if name == "meshplan_jobs"]
    refused = (("endpoint", "/v1/clusters"), ("method", "GET"), ("status", "503"))
    assert found[("meshplan_http_requests_total", refused)] == 1


def test_a_key_not_yet_remembered_needs_the_database_503(
    server: PostgresServer, app: Flask, admin: dict[str, str]
) -> None:
    server.stop()
    assert_unavailable(app.test_client().get("/v1/clusters", headers=admin))


def test_a_write_cut_off_mid_request_stores_nothing(
    server: PostgresServer, app: Flask, admin: dict[str, str], engine: Engine
) -> None:
    client = app.test_client()
    ids = seed(client, admin)
    group = {"devices": [1], "config": {"op": 1, "pp": 1}, "models": ["m0"]}
    body = {"cluster_id": ids["cluster"], "placement": {"groups": [group]}, "activate": True}
    before = row_counts(engine)

    def cut(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO plans"):
            server.stop()

    event.listen(database(app).engine, "after_cursor_execute", cut)
    try:
        assert_unavailable(client.post("/v1/plans", json=body, headers=admin))
    finally:
        event.remove(database(app).engine, "after_cursor_execute", cut)
    server.start()
    assert row_counts(engine) == before
    with session_factory(engine)() as session:
        active = session.scalars(select(ActivePlan)).one()
        assert (active.plan_id, active.version) == (ids["plan"], 1)
    stored = client.post("/v1/plans", json=body, headers=admin)
    assert stored.status_code == 201, stored.get_json()
    assert row_counts(engine)["plans"] == before["plans"] + 1


def test_a_restart_between_requests_costs_at_most_one_503(
    server: PostgresServer, app: Flask, admin: dict[str, str]
) -> None:
    client = app.test_client()
    for path in ("/v1/clusters", "/readyz"):
        assert client.get(path, headers=admin).status_code == 200
    server.stop()
    server.start()
    # The pooled connections are dead; the first request to meet one fails
    # and the pool is refreshed.
    first = client.get("/v1/clusters", headers=admin)
    if first.status_code != 200:
        assert_unavailable(first)
    assert client.get("/v1/clusters", headers=admin).status_code == 200


def logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)


def job_row(engine: Engine, job_id: int) -> PlanJob:
    with session_factory(engine)() as session:
        return session.get_one(PlanJob, job_id)


def queued_job(engine: Engine) -> int:
    with transaction(session_factory(engine), write=True) as session:
        return add_jobs(session, 1)[0].id


def test_a_worker_rides_out_outages_and_finishes_its_job_once(
    server: PostgresServer,
    engine: Engine,
    start_worker: Callable[[str, SolveFunction], Running],
    caplog: pytest.LogCaptureFixture,
) -> None:
    job_id = queued_job(engine)
    gate = Gate()
    running = start_worker("w1", gate)
    assert gate.started.wait(15)
    server.stop()
    stopped_at = utcnow()
    time.sleep(OUTAGE.lease_s + 0.2)  # renewals fail; the lease expires
    server.start()
    # Renewals resume and keep the lease: nobody else claimed the job.
    wait_for(lambda: job_row(engine, job_id).heartbeat_at > stopped_at)
    server.stop()
    gate.open()  # the solve ends while recording its result fails
    wait_for(lambda: logged(caplog, f"job {job_id}: cannot record the outcome; retrying"))
    server.start()
    running.join()
    ended = job_row(engine, job_id)
    assert (ended.status, ended.attempts, ended.lease_owner) == (JobStatus.SUCCEEDED, 1, "w1")
    assert row_counts(engine)["plans"] == 1


def test_a_worker_stopped_in_an_outage_leaves_its_job_to_another(
    server: PostgresServer,
    engine: Engine,
    start_worker: Callable[[str, SolveFunction], Running],
    caplog: pytest.LogCaptureFixture,
) -> None:
    job_id = queued_job(engine)
    gate = Gate()
    first = start_worker("first", gate)
    assert gate.started.wait(15)
    server.stop()
    second = start_worker("second", instant)
    gate.open()  # the first worker cannot record its result...
    wait_for(lambda: logged(caplog, f"job {job_id}: cannot record the outcome; retrying"))
    first.stop.set()  # ... and is told to stop before the database is back
    first.join()
    time.sleep(OUTAGE.lease_s)  # its lease expires; the second one's claims keep failing
    assert logged(caplog, "worker second: database error; retrying")
    assert second.thread.is_alive()
    server.start()
    second.join()
    ended = job_row(engine, job_id)
    assert (ended.status, ended.attempts, ended.lease_owner) == (JobStatus.SUCCEEDED, 2, "second")
    assert row_counts(engine)["plans"] == 1


class FailingCalls:
    """A session factory whose calls numbered in ``failing`` (from 1) raise
    the error of a refused connection."""

    def __init__(self, factory: sessionmaker[Session], failing: set[int]) -> None:
        self.factory = factory
        self.failing = failing
        self.calls = 0

    def __call__(self) -> Session:
        self.calls += 1
        if self.calls in self.failing:
            raise OperationalError("connect", None, ConnectionRefusedError("refused"))
        return self.factory()


class RecordedWaits(threading.Event):
    """A stop event that records each wait asked of it (s), returns at once
    and sets itself at the ``limit``-th wait."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        if len(self.waits) >= self.limit:
            self.set()
        return self.is_set()


def test_a_worker_backs_off_exponentially_while_the_database_fails(database_url: str) -> None:
    engine = make_engine(database_url)
    # Claims 1-3 fail, 4 finds the queue empty, 5 fails again.
    factory = FailingCalls(session_factory(engine), failing={1, 2, 3, 5})
    stop = RecordedWaits(limit=5)
    settings = WorkerSettings(poll_s=0.1, backoff_max_s=0.3)
    assert Worker(factory, settings=settings, solve=instant).run(stop) == 0  # type: ignore[arg-type]
    engine.dispose()
    assert stop.waits == [0.1, 0.2, 0.3, 0.1, 0.1]


def test_connecting_gives_up_after_the_connect_timeout() -> None:
    answers: list[tuple[Any, float]] = []
    key = {"Authorization": "Bearer mp_0123456789ab_unchecked"}
    with socket.create_server(("127.0.0.1", 0)) as silent:
        # Accepts TCP connections (in the kernel) and never answers them.
        port = silent.getsockname()[1]
        app = create_app({"DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{port}/x"})

        def ask() -> None:
            started = time.monotonic()
            response = app.test_client().get("/v1/clusters", headers=key)
            answers.append((response, time.monotonic() - started))

        thread = threading.Thread(target=ask)
        thread.start()
        thread.join(CONNECT_TIMEOUT_S + 5)
    thread.join()  # closing the socket ends a connection attempt still waiting
    database(app).engine.dispose()
    assert len(answers) == 1
    response, elapsed_s = answers[0]
    assert_unavailable(response)
    assert CONNECT_TIMEOUT_S - 1 < elapsed_s < CONNECT_TIMEOUT_S + 5


@pytest.mark.postgres
def test_a_statement_stuck_behind_a_lock_answers_503(
    postgres_migrated: str, make_app: Callable[..., Flask]
) -> None:
    engine = make_engine(postgres_migrated)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "30s"
    quick = f"{postgres_migrated}%20-cstatement_timeout%3D300"
    app = make_app(DATABASE_URL=quick, AUTH_CACHE_S=3600.0)
    with transaction(session_factory(database(app).engine), write=True) as session:
        headers = {"Authorization": f"Bearer {create_key(session, 'a', Role.ADMIN)[1]}"}
    client = app.test_client()
    with engine.begin() as holder:
        holder.exec_driver_sql("LOCK TABLE clusters IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        assert_unavailable(client.get("/v1/clusters", headers=headers))
        assert time.monotonic() - started < 5
    engine.dispose()
    assert client.get("/v1/clusters", headers=headers).status_code == 200


@pytest.fixture
def backend() -> str:
    """The SQLite tests below use the shared fixtures on SQLite only."""
    return "sqlite"


def test_a_write_behind_a_held_sqlite_lock_answers_503(
    database_url: str, make_app: Callable[..., Flask]
) -> None:
    path = make_url(database_url).database
    assert path is not None
    app = make_app(DATABASE_URL=f"{database_url}?timeout=0.2", AUTH_CACHE_S=3600.0)
    with transaction(session_factory(database(app).engine), write=True) as session:
        headers = {"Authorization": f"Bearer {create_key(session, 'a', Role.ADMIN)[1]}"}
    client = app.test_client()
    assert client.get("/v1/clusters", headers=headers).status_code == 200
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        assert_unavailable(client.post("/v1/clusters", json=cluster_json(), headers=headers))
        assert time.monotonic() - started < 5
        # WAL: readers do not wait for the writer.
        assert client.get("/v1/clusters", headers=headers).status_code == 200
    finally:
        holder.rollback()
        holder.close()
    created = client.post("/v1/clusters", json=cluster_json(), headers=headers)
    assert created.status_code == 201, created.get_json()
    assert [c["name"] for c in client.get("/v1/clusters", headers=headers).get_json()["items"]] == [
        "c1"
    ]
