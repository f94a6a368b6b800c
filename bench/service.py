"""Planning-service throughput and latency, against ``meshplan serve`` under
gunicorn (2 processes x 4 threads) on loopback, on SQLite and on PostgreSQL
(skipped when no server answers at ``MESHPLAN_TEST_POSTGRES_URL``):

- executors polling ``GET /v1/clusters/{id}/plan`` with ``If-None-Match``
  (304): req/s and p99 over concurrent keep-alive clients;
- ``GET /healthz`` (no key, no database) the same way: the baseline;
- ``POST /v1/plans`` job acceptance (202), one client at a time: p99.

Targets: plan polling >= 500 req/s with p99 < 20 ms; job acceptance p99 <
50 ms.

Run ``python -m bench.service [--quick]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.scratch import postgres_schema, unreachable

TARGET_POLL_RPS = 500.0
TARGET_POLL_P99_S = 0.020
TARGET_ACCEPT_P99_S = 0.050
CLIENTS = 8
POSTGRES_URL = os.environ.get(
    "MESHPLAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
GIB = 1024**3


def databases(folder: Path) -> Iterator[tuple[str, str]]:
    """``(backend, url)``: a SQLite file in ``folder``, then a throw-away
    schema on the PostgreSQL server at :data:`POSTGRES_URL` (dropped when
    the caller moves on), or a line saying why it is skipped."""
    yield "sqlite", f"sqlite:///{folder}/meshplan.db"
    reason = unreachable(POSTGRES_URL)
    if reason is not None:
        print(f"postgresql: skipped ({reason})")
        return
    with postgres_schema(POSTGRES_URL, "meshplan_bench") as url:
        yield "postgresql", url


@dataclass(frozen=True)
class Measured:
    requests: int
    wall_s: float
    latencies_s: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.wall_s

    def percentile(self, q: float) -> float:
        return statistics.quantiles(self.latencies_s, n=100, method="inclusive")[round(q) - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def prepare(url: str) -> tuple[str, dict[str, Any]]:
    """Migrate, make an admin key, and store a cluster, two models, a
    workload and an active plan; returns the key and the request bodies."""
    from api.app import create_app
    from api.database import database
    from store import migrate
    from store.db import make_engine, session_factory, transaction
    from store.enums import Role
    from store.repositories.keys import create_key

    engine = make_engine(url)
    migrate.upgrade(engine)
    with transaction(session_factory(engine), write=True) as session:
        key = create_key(session, "bench", Role.ADMIN)[1]
    engine.dispose()
    app = create_app({"DATABASE_URL": url})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(path, json=body, headers=headers)
        assert response.status_code in (201, 202), response.get_json()
        data: dict[str, Any] = response.get_json()
        return data

    cluster = post(
        "/v1/clusters",
        {"name": "bench", "num_devices": 8, "device_mem_bytes": 16 * GIB, "devices_per_node": 8},
    )
    profile = {
        "configs": [
            {
                "config": {"op": 1, "pp": 1},
                "latency_s": [[0.01], [0.015]],
                "stage_weight_bytes": [GIB],
            }
        ]
    }
    for name in ("m0", "m1"):
        post("/v1/models", {"name": name, "slo_s": 0.1, "profile": profile})
    arrivals = {"m0": [0.1 * k for k in range(50)], "m1": [0.1 * k + 0.05 for k in range(50)]}
    workload = post("/v1/workloads", {"name": "w", "duration_s": 5.0, "arrivals_s": arrivals})
    groups = [
        {"devices": [d], "config": {"op": 1, "pp": 1}, "models": ["m0", "m1"]} for d in range(8)
    ]
    placement = {"cluster_id": cluster["id"], "placement": {"groups": groups}, "activate": True}
    post("/v1/plans", placement)
    database(app).engine.dispose()
    job = {"cluster_id": cluster["id"], "workload_id": workload["id"], "solver": "greedy"}
    return key, {"cluster_id": cluster["id"], "job": job}


@contextmanager
def serving(url: str) -> Iterator[tuple[int, int]]:
    """``meshplan serve`` (gunicorn) on a free loopback port: yields the
    port and the pid of the gunicorn master."""
    port = free_port()
    argv = [sys.executable, "-c", "from api.cli import main; main()", "serve"]
    argv += ["--port", str(port), "--database-url", url, "--workers", "2", "--threads", "4"]
    process = subprocess.Popen(
        argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                status, _, _ = call(
                    http.client.HTTPConnection("127.0.0.1", port), "GET", "/readyz", {}
                )
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("meshplan serve did not become ready")
        yield port, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def call(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def hammer(
    port: int,
    request: Callable[[http.client.HTTPConnection], int],
    expected: int,
    duration_s: float,
) -> Measured:
    """``CLIENTS`` threads with keep-alive connections sending ``request``
    for ``duration_s`` seconds."""
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    start = threading.Barrier(CLIENTS + 1)
    stop_at = [0.0]

    def client(mine: list[float]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start.wait()
        while time.perf_counter() < stop_at[0]:
            began = time.perf_counter()
            status = request(connection)
            mine.append(time.perf_counter() - began)
            if status != expected:
                raise RuntimeError(f"HTTP {status}, expected {expected}")
        connection.close()

    threads = [threading.Thread(target=client, args=(m,)) for m in latencies]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    stop_at[0] = began + duration_s
    start.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    flat = [x for mine in latencies for x in mine]
    return Measured(len(flat), wall, flat)


def accept_jobs(port: int, key: str, job: dict[str, Any], count: int) -> Measured:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    body = json.dumps(job).encode()
    latencies = []
    began = time.perf_counter()
    for _ in range(count):
        start = time.perf_counter()
        status, _, _ = call(connection, "POST", "/v1/plans", headers, body)
        latencies.append(time.perf_counter() - start)
        if status != 202:
            raise RuntimeError(f"POST /v1/plans: HTTP {status}")
    return Measured(count, time.perf_counter() - began, latencies)


def run_backend(name: str, url: str, duration_s: float, jobs: int) -> bool:
    key, bodies = prepare(url)
    plan_path = f"/v1/clusters/{bodies['cluster_id']}/plan"
    auth = {"Authorization": f"Bearer {key}"}
    with serving(url) as (port, _):
        first = http.client.HTTPConnection("127.0.0.1", port)
        status, headers, _ = call(first, "GET", plan_path, auth)
        assert status == 200
        polling = {**auth, "If-None-Match": headers["ETag"]}
        hammer(port, lambda c: call(c, "GET", plan_path, polling)[0], 304, 0.5)  # warm up
        baseline = hammer(port, lambda c: call(c, "GET", "/healthz", {})[0], 200, duration_s)
        poll = hammer(port, lambda c: call(c, "GET", plan_path, polling)[0], 304, duration_s)
        accept = accept_jobs(port, key, bodies["job"], jobs)
    rows = [
        ("GET /healthz (baseline)", baseline, ""),
        ("GET plan, If-None-Match (304)", poll, ">= 500 req/s, p99 < 20 ms"),
        ("POST /v1/plans (202)", accept, "p99 < 50 ms"),
    ]
    for label, measured, target in rows:
        print(
            f"{name:<10} {label:<32} {measured.rate:8.0f} req/s  p50 {1e3 * measured.percentile(50):6.2f} ms"
            f"  p99 {1e3 * measured.percentile(99):6.2f} ms  {target}"
        )
    poll_ok = poll.rate >= TARGET_POLL_RPS and poll.percentile(99) < TARGET_POLL_P99_S
    accept_ok = accept.percentile(99) < TARGET_ACCEPT_P99_S
    print(
        f"{name:<10} plan polling at {poll.rate / baseline.rate:.2f}x the baseline's rate; "
        f"polling target {'met' if poll_ok else 'MISSED'}, "
        f"acceptance target {'met' if accept_ok else 'MISSED'}"
    )
    return poll_ok and accept_ok


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.service")
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args(argv)
    duration_s, jobs = (2.0, 100) if args.quick else (8.0, 400)
    print(f"{CLIENTS} keep-alive clients, {duration_s:g} s per measurement, {jobs} job requests")
    with tempfile.TemporaryDirectory() as workdir:
        for backend, url in databases(Path(workdir)):
            run_backend(backend, url, duration_s, jobs)


if __name__ == "__main__":
    main(sys.argv[1:])
