"""The service as an operator runs it: ``meshplan db`` from any directory,
``meshplan keys create``, and ``meshplan serve --with-worker`` on a loopback
port (Flask's server on SQLite, gunicorn on PostgreSQL) taking a plan
request to an active plan with the real greedy solver."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask

from api.cli import main
from api.fields import MAX_REQUEST_LINE
from store.db import make_engine, session_factory, transaction
from store.enums import Role
from store.migrate import MIGRATIONS_DIR
from store.repositories.keys import create_key
from tests.integration.builders import cluster_json, model_json

CLI = [sys.executable, "-c", "from api.cli import main; main()"]


def meshplan(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_db_commands_work_from_any_directory(
    empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    url = ["--database-url", empty_database_url]
    head = sorted(path.name[:4] for path in (MIGRATIONS_DIR / "versions").glob("0*.py"))[-1]
    behind = meshplan("db", "check", *url)
    assert behind.exit_code == 1
    assert f"database at revision None, newest is {head}" in behind.output
    upgraded = meshplan("db", "upgrade", *url)
    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.output.strip().endswith(f"database at revision {head}")
    checked = meshplan("db", "check", *url)
    assert checked.exit_code == 0, checked.output
    assert "schema matches the models" in checked.output
    assert meshplan("db", "current", *url).output.strip() == head
    down = meshplan("db", "downgrade", "base", *url)
    assert down.output.strip() == "database at revision None"
    assert not any(elsewhere.iterdir()), "nothing is written to the working directory"


def test_keys_create_prints_a_working_key(
    database_url: str, make_app: Callable[..., Flask]
) -> None:
    created = CliRunner().invoke(
        main, ["keys", "create", "--role", "reader", "--database-url", database_url]
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("mp_") and "created reader key" in created.stderr
    client = make_app().test_client()
    assert client.get("/v1/clusters", headers={"X-API-Key": key}).status_code == 200
    assert client.post("/v1/clusters", json={}, headers={"X-API-Key": key}).status_code == 403


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Http:
    """JSON over HTTP with one API key."""

    def __init__(self, base: str, key: str) -> None:
        self.base = base
        self.key = key

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bool = False,
    ) -> tuple[int, dict[str, str], Any]:
        """Status, headers and body (parsed JSON unless ``raw``)."""
        request = urllib.request.Request(
            self.base + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Authorization": f"Bearer {self.key}",
                "Content-Type": "application/json",
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                data = response.read()
                return response.status, dict(response.headers), _parsed(data, raw)
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), _parsed(error.read(), raw)


def _parsed(data: bytes, raw: bool) -> Any:
    return data if raw or not data else json.loads(data)


def wait_until(condition: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = condition()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s")


@pytest.mark.slow
def test_serve_with_a_worker_plans_end_to_end(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    url = ["--database-url", database_url]
    engine = make_engine(database_url)
    with transaction(session_factory(engine), write=True) as session:
        key = create_key(session, "admin", Role.ADMIN)[1]
    engine.dispose()
    port = free_port()
    server = ["--port", str(port), "--with-worker", *url]
    server += ["--dev"] if backend == "sqlite" else ["--workers", "1", "--threads", "2"]
    process = subprocess.Popen(
        [*CLI, "serve", *server],
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        http = Http(f"http://127.0.0.1:{port}", key)
        wait_until(lambda: http("GET", "/readyz")[0] == 200, 60)
        status, headers, cluster = http("POST", "/v1/clusters", cluster_json())
        assert status == 201 and headers["Location"] == f"/v1/clusters/{cluster['id']}"
        for name in ("m0", "m1"):
            assert http("POST", "/v1/models", model_json(name))[0] == 201
        arrivals = {"m0": [0.05 * k for k in range(40)], "m1": [0.1 * k + 0.01 for k in range(20)]}
        workload = {"name": "w", "duration_s": 2.0, "arrivals_s": arrivals}
        status, _, created = http("POST", "/v1/workloads", workload)
        assert status == 201
        request = {
            "cluster_id": cluster["id"],
            "workload_id": created["id"],
            "solver": "greedy",
            "time_limit_s": 30.0,
            "activate": True,
        }
        status, headers, _ = http("POST", "/v1/plans", request)
        assert status == 202
        done = wait_until(
            lambda: (
                (j := http("GET", headers["Location"])[2])["status"] in ("succeeded", "failed")
                and j
            ),
            90,
        )
        assert done["status"] == "succeeded", done["error"]
        status, headers, served = http("GET", f"/v1/clusters/{cluster['id']}/plan")
        assert status == 200 and served["plan_id"] == done["plan_id"] and served["version"] == 1
        assert headers["ETag"] == f'"{done["plan_id"]}-v1"'
        cached = http(
            "GET", f"/v1/clusters/{cluster['id']}/plan", headers={"If-None-Match": headers["ETag"]}
        )
        assert cached[0] == 304
        if backend != "sqlite":  # gunicorn bounds the request line, as documented
            long_query = f"/v1/clusters?after={'9' * MAX_REQUEST_LINE}"
            assert http("GET", long_query, raw=True)[0] == 414
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux /proc)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def running(pid: int) -> bool:
    """Whether ``pid`` runs (an exited process nobody reaped is a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.skipif(
    sys.platform != "linux", reason="reads /proc; the parent-death signal is Linux's"
)
def test_the_worker_child_dies_with_a_killed_server(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/meshplan.db"
    assert meshplan("db", "upgrade", "--database-url", url).exit_code == 0
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--with-worker", "--database-url", url],
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        http = Http(f"http://127.0.0.1:{port}", "")
        wait_until(lambda: http("GET", "/readyz")[0] == 200, 60)
        worker = wait_until(
            lambda: next(
                (
                    pid
                    for pid in children(process.pid)
                    if b"run_until_signalled" in Path(f"/proc/{pid}/cmdline").read_bytes()
                ),
                None,
            ),
            10,
        )
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        wait_until(lambda: not running(worker), 10)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the worker child, if it survived
            os.killpg(process.pid, signal.SIGKILL)
