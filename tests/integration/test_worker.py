"""Solve workers against real databases: the job lifecycle seen through
the API, cancellation, failures, time-outs, and a worker killed mid-solve
whose job another worker completes exactly once."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select, update

from api.worker import SolveFunction, Worker, WorkerSettings
from planner.sim import Instance
from store.db import session_factory
from store.models import Plan, PlanJob
from tests.integration.builders import GIB, model_json, post_job, profile_json
from tests.integration.solvers import Gate, failing, hanging, instant, off_the_cluster
from tests.integration.worker_process import CRASHING_WORKER
from tests.unit.placement_cases import hard_instance

FAST = WorkerSettings(lease_s=1.0, heartbeat_s=0.05, poll_s=0.02, grace_s=0.3)


def wait_for(condition: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout_s} s")


def make_worker(engine: Engine, solve: SolveFunction, name: str = "w1") -> Worker:
    return Worker(session_factory(engine), name=name, settings=FAST, solve=solve)


class Running:
    """A worker working through ``max_jobs`` jobs in a thread."""

    def __init__(self, worker: Worker, max_jobs: int = 1) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=worker.run, args=(self.stop, max_jobs))
        self.thread.start()

    def join(self) -> None:
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()


def job(client: FlaskClient, admin: dict[str, str], job_id: int) -> dict[str, Any]:
    data: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", headers=admin).get_json()
    return data


def plan_count(engine: Engine) -> int:
    with session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(Plan)) or 0


def test_lifecycle_queued_running_with_progress_succeeded(
    client: FlaskClient, admin: dict[str, str], seeded: dict[str, Any], engine: Engine
) -> None:
    job_id = post_job(client, admin, seeded, activate=True)
    assert job(client, admin, job_id)["status"] == "queued"
    gate = Gate()
    running = Running(make_worker(engine, gate))
    seen = wait_for(lambda: (j := job(client, admin, job_id))["progress"] == 0.5 and j)
    assert seen["status"] == "running"
    assert seen["message"] == "halfway"
    assert seen["attempts"] == 1
    assert seen["started_at"] is not None and seen["finished_at"] is None
    gate.open()
    running.join()
    done = job(client, admin, job_id)
    assert done["status"] == "succeeded"
    assert done["progress"] == 1.0
    assert (done["attainment"], done["objective"], done["bound"], done["gap"]) == (
        0.75,
        2.0,
        None,
        None,
    )
    assert done["solve_status"] == "heuristic"
    assert done["wall_s"] == 0.5
    assert done["result"]["solver"] == "gated"
    assert done["error"] is None
    plan = client.get(f"/v1/plans/{done['plan_id']}", headers=admin).get_json()
    assert plan["job_id"] == job_id
    assert plan["placement"]["groups"] == [
        {"devices": [0], "config": {"op": 1, "pp": 1}, "models": ["m0"]},
        {"devices": [1], "config": {"op": 1, "pp": 1}, "models": ["m1"]},
    ]
    assert plan["models"]["m0"] == {
        "slo_s": 0.1,
        "family": "bert",
        "architecture": None,
        "max_batch": 2,
    }
    served = client.get(f"/v1/clusters/{seeded['cluster_id']}/plan", headers=admin)
    assert served.status_code == 200
    assert served.headers["ETag"] == f'"{plan["id"]}-v1"'
    assert plan_count(engine) == 1


def test_cancel_a_running_job(
    client: FlaskClient, admin: dict[str, str], seeded: dict[str, Any], engine: Engine
) -> None:
    job_id = post_job(client, admin, seeded)
    gate = Gate()
    running = Running(make_worker(engine, gate))
    assert gate.started.wait(15)
    response = client.post(f"/v1/jobs/{job_id}/cancel", headers=admin)
    assert response.status_code == 202
    assert response.get_json()["cancel_requested"] is True
    running.join()
    ended = job(client, admin, job_id)
    assert ended["status"] == "cancelled"
    assert ended["plan_id"] is None
    assert plan_count(engine) == 0
    again = client.post(f"/v1/jobs/{job_id}/cancel", headers=admin)
    assert again.status_code == 409
    assert again.get_json()["detail"] == f"job {job_id} already cancelled"


def test_cancel_a_queued_job_and_no_worker_runs_it(
    client: FlaskClient, admin: dict[str, str], seeded: dict[str, Any], engine: Engine
) -> None:
    job_id = post_job(client, admin, seeded)
    response = client.post(f"/v1/jobs/{job_id}/cancel", headers=admin)
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert not make_worker(engine, instant).run_once()
    assert job(client, admin, job_id)["attempts"] == 0


@pytest.mark.parametrize(
    ("solve", "error"),
    [
        (failing, "RuntimeError: the solver broke"),
        (
            off_the_cluster,
            "invalid placement: groups[0].devices: device 4 is outside the cluster (0..3)",
        ),
        (hanging, "timed out after 0.35 s"),
    ],
    ids=["raises", "invalid-placement", "timeout"],
)
def test_failures_are_recorded_and_store_no_plan(
    client: FlaskClient,
    admin: dict[str, str],
    seeded: dict[str, Any],
    engine: Engine,
    solve: SolveFunction,
    error: str,
) -> None:
    # The deadline is the time limit plus FAST.grace_s: 0.05 + 0.3 s.
    job_id = post_job(client, admin, seeded, time_limit_s=0.05)
    assert make_worker(engine, solve).run_once()
    ended = job(client, admin, job_id)
    assert ended["status"] == "failed"
    assert ended["error"] == error
    assert ended["plan_id"] is None
    assert plan_count(engine) == 0


def test_a_late_result_from_a_worker_that_lost_its_lease_is_dropped(
    client: FlaskClient,
    admin: dict[str, str],
    seeded: dict[str, Any],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id = post_job(client, admin, seeded)
    slow = Gate("slow")
    # The first worker writes its first progress report at once, then
    # renews only every 30 s (heartbeats and relayed reports alike): once
    # that report is stored, no renewal can slip in between its lease
    # running out and the second worker's claim.
    monkeypatch.setattr("api.worker.RELAY_S", 30.0)
    stalling = dataclasses.replace(FAST, lease_s=60.0, heartbeat_s=30.0)
    first = Running(Worker(session_factory(engine), name="first", settings=stalling, solve=slow))
    assert slow.started.wait(15)
    wait_for(lambda: job(client, admin, job_id)["progress"] == 0.5)
    with session_factory(engine).begin() as session:
        # The first worker stalls: its lease runs out.
        session.execute(update(PlanJob).values(lease_expires_at=func.now()))
    second = Gate("second")
    second.open()
    assert make_worker(engine, second, "second").run_once()
    slow.open()  # the first worker's result comes in late
    first.join()
    ended = job(client, admin, job_id)
    assert ended["status"] == "succeeded"
    assert ended["attempts"] == 2
    assert ended["result"]["solver"] == "second"
    assert plan_count(engine) == 1


def test_a_worker_killed_mid_solve_loses_nothing(
    client: FlaskClient,
    admin: dict[str, str],
    seeded: dict[str, Any],
    engine: Engine,
    database_url: str,
) -> None:
    job_id = post_job(client, admin, seeded)
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.worker_process", database_url]
    )
    try:
        doomed = wait_for(
            lambda: (j := job(client, admin, job_id))["progress"] == 0.1 and j, timeout_s=30
        )
    finally:
        process.kill()
        process.wait()
    assert doomed["status"] == "running"
    survivor = make_worker(engine, instant, "survivor")
    Running(survivor).join()
    ended = job(client, admin, job_id)
    assert ended["status"] == "succeeded"
    assert ended["attempts"] == 2
    assert ended["result"]["solver"] == "one-device-each"
    with session_factory(engine)() as session:
        stored = session.get_one(PlanJob, job_id)
        assert stored.lease_owner == "survivor" != CRASHING_WORKER
    assert plan_count(engine) == 1


def test_the_planner_greedy_solver_end_to_end(
    client: FlaskClient, admin: dict[str, str], seeded: dict[str, Any], engine: Engine
) -> None:
    from planner.placement.solve import solve

    job_id = post_job(client, admin, seeded, solver="greedy", time_limit_s=20.0)
    assert Worker(session_factory(engine), settings=FAST, solve=solve).run_once()
    ended = job(client, admin, job_id)
    assert ended["status"] == "succeeded", ended["error"]
    assert 0.0 <= ended["attainment"] <= ended["upper_bound"] <= 1.0
    # the certified gap, in points, beside the attainment, in the job and its result
    assert ended["gap_points"] == pytest.approx(100 * (ended["upper_bound"] - ended["attainment"]))
    assert ended["result"]["gap_points"] == ended["gap_points"]
    listed = client.get("/v1/jobs", headers=admin).get_json()
    assert any(j["id"] == job_id and j["upper_bound"] is not None for j in listed["items"])
    plan = client.get(f"/v1/plans/{ended['plan_id']}", headers=admin).get_json()
    hosted = {name for group in plan["placement"]["groups"] for name in group["models"]}
    assert hosted <= {"m0", "m1"}
    assert plan["solver"] == "greedy"


SLOW_HEARTBEAT = WorkerSettings(lease_s=60.0, heartbeat_s=30.0, poll_s=0.02, grace_s=5.0)
"""Leases renewed far less often than progress must show."""


def test_progress_of_a_real_solve_shows_while_it_runs(
    client: FlaskClient, admin: dict[str, str], seeded: dict[str, Any], engine: Engine
) -> None:
    from planner.placement.solve import solve

    held = threading.Event()
    seen_midway = threading.Event()
    reports: list[tuple[float, str]] = []

    def held_midway(instance: Instance, **kwargs: Any) -> Any:
        """The planner's solve, held at its first report strictly between 0
        and 1 until the test has seen it through the API."""
        relay = kwargs.pop("progress")

        def progress(fraction: float, message: str) -> None:
            reports.append((fraction, message))
            relay(fraction, message)
            if 0 < fraction < 1 and not seen_midway.is_set():
                held.set()
                seen_midway.wait(10)

        return solve(instance, progress=progress, **kwargs)

    job_id = post_job(client, admin, seeded, solver="greedy", time_limit_s=20.0)
    worker = Worker(session_factory(engine), settings=SLOW_HEARTBEAT, solve=held_midway)
    running = Running(worker)
    try:
        assert held.wait(60)  # the solve reported midway and waits
        # the report shows within the relay's half second, not the 30 s heartbeat
        midway = wait_for(lambda: 0 < (j := job(client, admin, job_id))["progress"] < 1 and j, 3.0)
    finally:
        seen_midway.set()
        running.join()
    assert midway["status"] == "running"
    assert (midway["progress"], midway["message"]) in reports
    assert midway["message"].startswith("solving block 1/")
    ended = job(client, admin, job_id)
    assert ended["status"] == "succeeded"
    assert (
        (ended["progress"], ended["message"])
        == reports[-1]
        == (
            1.0,
            f"greedy: attainment {ended['attainment']:.4f} (heuristic), "
            f"bound {ended['upper_bound']:.4f}",
        )
    )


def test_a_cancel_stops_a_reporting_solve_within_seconds(
    client: FlaskClient, admin: dict[str, str], seeded: dict[str, Any], engine: Engine
) -> None:
    job_id = post_job(client, admin, seeded)
    gate = Gate()  # reports progress every 10 ms until cancelled
    running = Running(Worker(session_factory(engine), settings=SLOW_HEARTBEAT, solve=gate))
    assert gate.started.wait(15)
    asked = time.monotonic()
    try:
        assert client.post(f"/v1/jobs/{job_id}/cancel", headers=admin).status_code == 202
        wait_for(lambda: job(client, admin, job_id)["status"] == "cancelled", 5.0)
        assert time.monotonic() - asked < 2.0
    finally:
        gate.open()
        running.join()


def test_cancelling_a_milp_job_stops_its_solver_within_seconds(
    client: FlaskClient, admin: dict[str, str], seeded: dict[str, Any], engine: Engine
) -> None:
    from planner.placement.solve import solve

    hard = hard_instance()

    def on_the_hard_instance(instance: Instance, **kwargs: Any) -> Any:
        """The planner's solve, on an instance that keeps CBC busy for minutes."""
        return solve(hard, **kwargs)

    # the fast greedy seeds the MILP: a full greedy seed may take half the time limit
    options = {"group_sizes": [1], "proxy_windows": 24, "greedy_mode": "fast"}
    job_id = post_job(client, admin, seeded, solver="milp", time_limit_s=120.0, options=options)
    worker = Worker(session_factory(engine), settings=SLOW_HEARTBEAT, solve=on_the_hard_instance)
    running = Running(worker)
    try:
        wait_for(lambda: (job(client, admin, job_id)["message"] or "").startswith("milp(cbc): "))
        time.sleep(1.0)
        asked = time.monotonic()
        assert client.post(f"/v1/jobs/{job_id}/cancel", headers=admin).status_code == 202
        wait_for(lambda: job(client, admin, job_id)["status"] == "cancelled", 10.0)
        assert time.monotonic() - asked < 3.0
    finally:
        running.join()


def test_a_job_plans_the_models_that_fit_and_lists_the_others(
    client: FlaskClient, admin: dict[str, str], seeded: dict[str, Any], engine: Engine
) -> None:
    from planner.placement.solve import solve

    big = {**model_json("big"), "profile": profile_json(weight_bytes=10 * GIB)}
    assert client.post("/v1/models", json=big, headers=admin).status_code == 201
    arrivals = {"big": [0.1, 0.2, 0.3], "m0": [0.1, 0.4, 0.7, 1.0, 1.3]}
    body = {"name": "w-big", "duration_s": 2.0, "arrivals_s": arrivals}
    workload_id = client.post("/v1/workloads", json=body, headers=admin).get_json()["id"]
    job_id = post_job(client, admin, seeded, workload_id=workload_id, time_limit_s=20.0)
    assert Worker(session_factory(engine), settings=FAST, solve=solve).run_once()
    ended = job(client, admin, job_id)
    assert ended["status"] == "succeeded", ended["error"]
    assert ended["result"]["unplaced"] == {
        "big": "needs 5.4 GB per device at best (op=1, pp=2), the device has 4.2 GB"
    }
    # m0's five requests are served (10 ms each, 100 ms SLO); big's three are missed
    assert ended["attainment"] == 5 / 8
    # big fits nowhere, so no placement serves more than m0's five: the bound proves 5 / 8
    assert ended["upper_bound"] == pytest.approx(5 / 8, abs=1e-5)
    assert ended["message"] == (
        "greedy: attainment 0.6250 (heuristic), bound 0.6250; 1 of 2 models fit nowhere"
    )
    plan = client.get(f"/v1/plans/{ended['plan_id']}", headers=admin).get_json()
    assert {name for group in plan["placement"]["groups"] for name in group["models"]} == {"m0"}


@pytest.fixture(autouse=True)
def _no_stray_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    stray = [t for t in threading.enumerate() if t not in before and t.name.startswith("lease-")]
    assert not stray
