"""Live re-placement against the real API and databases: traffic reports
(idempotent; a bad one stores nothing), measured loads in heartbeats, the
re-planner's settings, and replan jobs run by the worker: a decision per
window, a new plan version with its transition, and a killed worker whose
window is decided exactly once."""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from api import replanner_jobs
from api.worker import Worker, WorkerSettings
from planner.replan.live import observed_workload
from store.db import session_factory, transaction
from store.enums import JobKind, JobStatus
from store.models import Model, PlanJob, ReplanDecision, ReplicaLoad, TrafficBin
from store.repositories import jobs, loads, replanner
from tests.integration.builders import GIB, model_json, profile_json, seed_api

WINDOW_S = 10


def aligned_now(window_s: int = WINDOW_S) -> int:
    """The start of the current window (unix s)."""
    return math.floor(time.time()) // window_s * window_s


def post_traffic(client: FlaskClient, headers: dict[str, str], cluster_id: int, **body: Any) -> Any:
    return client.post(f"/v1/clusters/{cluster_id}/traffic", json=body, headers=headers)


def stored_bins(engine: Engine) -> list[tuple[str, int, int]]:
    with session_factory(engine)() as session:
        rows = session.execute(
            select(TrafficBin.model, TrafficBin.start_s, TrafficBin.requests).order_by(
                TrafficBin.model, TrafficBin.start_s
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_traffic_reports_are_idempotent_and_read_in_windows(
    client: FlaskClient, auth: dict[str, dict[str, str]], seeded: dict[str, Any], engine: Engine
) -> None:
    cluster = seeded["cluster_id"]
    start = aligned_now() - 3 * WINDOW_S
    body = {
        "source": "router",
        "bin_s": 5,
        "start": start,
        "counts": {"m0": [1, 2, 3, 4], "m1": [0, 0, 5, 5]},
    }
    first = post_traffic(client, auth["executor"], cluster, **body)
    assert first.status_code == 201, first.get_json()
    assert first.get_json() == {
        "cluster_id": cluster,
        "source": "router",
        "bin_s": 5,
        "start": start,
        "end": start + 20,
        "stored": 8,
        "repeated": 0,
    }
    before = stored_bins(engine)
    again = post_traffic(client, auth["executor"], cluster, **body)
    assert again.status_code == 200
    assert again.get_json()["stored"] == 0 and again.get_json()["repeated"] == 8
    assert stored_bins(engine) == before
    # overlapping: two bins repeat, one is new
    more = post_traffic(
        client,
        auth["admin"],
        cluster,
        source="router",
        bin_s=5,
        start=start + 15,
        counts={"m0": [4, 6]},
    )
    assert more.status_code == 201 and more.get_json()["stored"] == 1
    # a second source adds up
    post_traffic(
        client, auth["admin"], cluster, source="agent", bin_s=10, start=start, counts={"m0": [10]}
    )
    read = client.get(
        f"/v1/clusters/{cluster}/traffic?since={start}&window_s={WINDOW_S}", headers=auth["reader"]
    )
    assert read.status_code == 200
    windows = read.get_json()["windows"]
    assert [w["start"] for w in windows] == [start, start + 10, start + 20, start + 30]
    assert windows[0]["requests"] == {"m0": 1 + 2 + 10, "m1": 0}
    assert windows[1]["requests"] == {"m0": 3 + 4, "m1": 10}
    assert windows[2]["requests"] == {"m0": 6, "m1": 0}
    assert windows[0]["rates_rps"] == {"m0": pytest.approx(1.3), "m1": 0.0}
    assert client.get(f"/v1/clusters/{cluster}/traffic", headers=auth["reader"]).status_code == 200


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"counts": {"m1": [3, 3], "m0": [1, 9]}}, 409, "counts.m0[1]"),  # stored with 2
        ({"counts": {"m1": [3, 3], "nope": [0, 0]}}, 422, "counts.nope"),
        ({"counts": {"m1": [3, 3], "m0": [1, -2]}}, 422, "counts.m0[1]"),
        ({"counts": {"m1": [3, 3], "m0": [1]}}, 422, "counts.m0"),
        ({"start": 3 * 10**9}, 422, "start"),  # in the future
        ({"start": 7}, 422, "start"),  # not a multiple of bin_s
        ({"bin_s": 0}, 422, "bin_s"),
        ({"counts": {}}, 422, "counts"),
    ],
)
def test_bad_traffic_reports_store_nothing(
    client: FlaskClient,
    admin: dict[str, str],
    seeded: dict[str, Any],
    engine: Engine,
    change: dict[str, Any],
    status: int,
    field: str,
) -> None:
    cluster = seeded["cluster_id"]
    start = aligned_now() - 60
    stored = {"source": "router", "bin_s": 5, "start": start, "counts": {"m0": [1, 2]}}
    assert post_traffic(client, admin, cluster, **stored).status_code == 201
    before = stored_bins(engine)
    # each bad report also carries new bins of m1, which must not be stored
    body = {**stored, "counts": {"m1": [3, 3], "m0": [1, 2]}, **change}
    answer = post_traffic(client, admin, cluster, **body)
    assert answer.status_code == status, answer.get_json()
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.get_json()["field"] == field
    assert stored_bins(engine) == before


def test_old_traffic_is_pruned(
    make_app: Any, engine: Engine, auth: dict[str, dict[str, str]]
) -> None:
    client = make_app(TRAFFIC_RETENTION_S=100).test_client()
    seeded = seed_api(client, auth["admin"])
    old, recent = aligned_now() - 300, aligned_now() - 50
    for start, count in ((old, 1), (recent, 2)):
        answer = post_traffic(
            client, auth["admin"], seeded["cluster_id"], source="r", bin_s=10, start=start,
            counts={"m0": [count]},
        )  # fmt: skip
        assert answer.status_code == 201
    assert stored_bins(engine) == [("m0", recent, 2)]


def test_heartbeat_loads_are_stored_once(
    client: FlaskClient, auth: dict[str, dict[str, str]], seeded: dict[str, Any], engine: Engine
) -> None:
    executor = {
        "name": "e1",
        "cluster_id": seeded["cluster_id"],
        "devices": [0],
        "url": "http://e1",
    }
    executor_id = client.post("/v1/executors", json=executor, headers=auth["executor"]).get_json()[
        "id"
    ]
    load = {"model": "m0", "group": 0, "seconds": 2.5, "bytes": 1000, "version": 1}
    beat = {"state": "serving", "applied_version": 1, "loads": [load]}
    for _ in range(2):
        answer = client.post(
            f"/v1/executors/{executor_id}/heartbeat", json=beat, headers=auth["executor"]
        )
        assert answer.status_code == 200, answer.get_json()
    newer = {**load, "version": 2, "seconds": 1.5}
    client.post(
        f"/v1/executors/{executor_id}/heartbeat",
        json={**beat, "loads": [load, newer]},
        headers=auth["executor"],
    )
    with session_factory(engine)() as session:
        rows = session.execute(
            select(ReplicaLoad.version, ReplicaLoad.seconds).order_by(ReplicaLoad.id)
        )
        assert [tuple(row) for row in rows] == [(1, 2.5), (2, 1.5)]
        assert loads.latest_seconds(session, seeded["cluster_id"]) == {"m0": 1.5}
    bad = {**beat, "loads": [{**load, "seconds": -1}]}
    answer = client.post(
        f"/v1/executors/{executor_id}/heartbeat", json=bad, headers=auth["executor"]
    )
    assert answer.status_code == 422 and answer.get_json()["field"] == "loads[0].seconds"


def test_replanner_settings_are_validated_and_schedule_a_job(
    client: FlaskClient, auth: dict[str, dict[str, str]], seeded: dict[str, Any], engine: Engine
) -> None:
    cluster = seeded["cluster_id"]
    url = f"/v1/clusters/{cluster}/replanner"
    shown = client.get(url, headers=auth["reader"]).get_json()
    assert shown == {
        "cluster_id": cluster,
        **replanner.SETTING_DEFAULTS,
        "job_id": None,
        "next_window": None,
        "next_at_s": None,
    }
    for bad, field in (
        ({"forecaster": "crystal-ball"}, "forecaster"),
        ({"forecaster": "seasonal"}, "forecaster"),
        ({"min_gain": 1.5}, "min_gain"),
        ({"window_s": 0}, "window_s"),
        ({"max_switches_per_hour": -1}, "max_switches_per_hour"),
        ({"revert_margin": "0.1"}, "revert_margin"),
        ({"trust_windows": -1}, "trust_windows"),
        ({"trust_windows": 12}, "trust_windows"),
        ({"trust_windows": "3"}, "trust_windows"),
        ({"react_drift": -0.1, "nowcast_s": 10}, "react_drift"),
        ({"react_drift": 11, "nowcast_s": 10}, "react_drift"),
        ({"react_drift": 0.25}, "react_drift"),  # the watch needs nowcast_s
        ({"nowcast_s": 1.5}, "nowcast_s"),
        ({"nowcast_s": 60}, "nowcast_s"),  # not below window_s 60
    ):
        answer = client.put(url, json=bad, headers=auth["admin"])
        assert answer.status_code == 422, bad
        assert answer.get_json()["field"] == field
    assert client.put(url, json={"enabled": True}, headers=auth["executor"]).status_code == 403
    assert client.get(url, headers=auth["reader"]).get_json()["enabled"] is False
    on = client.put(
        url, json={"enabled": True, "window_s": 30, "forecaster": "holt:0.4"}, headers=auth["admin"]
    )
    assert on.status_code == 200
    data = on.get_json()
    assert data["enabled"] is True and data["forecaster"] == "holt:0.4"
    assert data["next_window"] % 30 == 0 and data["next_window"] > time.time() - 1
    job = client.get(f"/v1/jobs/{data['job_id']}", headers=auth["reader"]).get_json()
    assert job["kind"] == "replan" and job["status"] == "queued" and job["workload_id"] is None
    # again: still one job
    again = client.put(
        url, json={"enabled": True, "window_s": 30}, headers=auth["admin"]
    ).get_json()
    assert again["job_id"] == data["job_id"]
    off = client.put(url, json={"enabled": False}, headers=auth["admin"]).get_json()
    assert off["enabled"] is False and off["job_id"] is None
    assert (
        client.get(f"/v1/jobs/{data['job_id']}", headers=auth["reader"]).get_json()["status"]
        == "cancelled"
    )


def test_replanner_trust_windows_are_stored_and_lengthen_the_job(
    client: FlaskClient, auth: dict[str, dict[str, str]], seeded: dict[str, Any]
) -> None:
    url = f"/v1/clusters/{seeded['cluster_id']}/replanner"
    answer = client.put(url, json={"enabled": True, "trust_windows": 3}, headers=auth["admin"])
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["trust_windows"] == 3
    shown = client.get(url, headers=auth["reader"]).get_json()
    assert shown["trust_windows"] == 3 and shown["revert_margin"] == 0.05
    job = client.get(f"/v1/jobs/{shown['job_id']}", headers=auth["reader"]).get_json()
    # two solves of 20 s for the decided window and each of the 3 trusted ones, the
    # judging, a 60 s margin
    assert job["time_limit_s"] == (2 * 4 + 1) * 20 + 60


def serve_only_m0(client: FlaskClient, admin: dict[str, str], cluster: int) -> None:
    """Activate a hand-made plan: m0 on each of the four devices (version 1)."""
    groups = [{"devices": [d], "config": {"op": 1, "pp": 1}, "models": ["m0"]} for d in range(4)]
    answer = client.post(
        "/v1/plans",
        json={"cluster_id": cluster, "placement": {"groups": groups}, "activate": True},
        headers=admin,
    )
    assert answer.status_code == 201, answer.get_json()


def hot_m1(client: FlaskClient, admin: dict[str, str], cluster: int, until: int) -> None:
    """Three windows before ``until``: m1 at 50 requests/s, m0 idle."""
    counts = {"m0": [0, 0, 0], "m1": [500, 500, 500]}
    answer = post_traffic(
        client,
        admin,
        cluster,
        source="router",
        bin_s=WINDOW_S,
        start=until - 3 * WINDOW_S,
        counts=counts,
    )
    assert answer.status_code == 201


def enable(engine: Engine, cluster: int, window_start: int) -> int:
    """The re-planner on (10 s windows, last-window forecasts) and the job
    of the window from ``window_start`` queued; the job's id."""
    with transaction(session_factory(engine), write=True) as session:
        values = {
            **replanner.SETTING_DEFAULTS,
            "enabled": True,
            "window_s": WINDOW_S,
            "forecaster": "last",
        }
        replanner.put_settings(session, cluster, values)
        job = replanner.schedule(session, cluster, window_start, 120.0)
        assert job is not None
        return job.id


def decisions(client: FlaskClient, headers: dict[str, str], cluster: int) -> list[dict[str, Any]]:
    answer = client.get(f"/v1/clusters/{cluster}/decisions", headers=headers)
    assert answer.status_code == 200
    items: list[dict[str, Any]] = answer.get_json()["items"]
    return items


def test_a_replan_job_switches_and_serves_the_transition(
    client: FlaskClient, auth: dict[str, dict[str, str]], seeded: dict[str, Any], engine: Engine
) -> None:
    admin, cluster = auth["admin"], seeded["cluster_id"]
    serve_only_m0(client, admin, cluster)
    assert (
        client.get(f"/v1/clusters/{cluster}/plan", headers=admin).get_json()["transition"] is None
    )
    window = aligned_now()
    hot_m1(client, admin, cluster, window)
    job_id = enable(engine, cluster, window)
    worker = Worker(session_factory(engine), name="w1")
    assert worker.run_once()
    (decision,) = decisions(client, auth["reader"], cluster)
    assert decision["action"] == "switch" and decision["chosen"], decision["reason"]
    assert decision["window_start"] == window and decision["window_end"] == window + WINDOW_S
    assert decision["observed"] == {"m0": 0, "m1": 500}
    assert decision["forecast_rps"]["m1"] == pytest.approx(50, rel=0.2)
    assert decision["candidate_attainment"] > decision["keep_attainment"]
    assert decision["from_version"] == 1 and decision["version"] == 2
    served = client.get(f"/v1/clusters/{cluster}/plan", headers=admin).get_json()
    assert served["version"] == 2 and served["plan_id"] == decision["plan_id"]
    assert served["transition"] == {"from_version": 1, "steps": decision["steps"]}
    assert {"action": "load", "model": "m1"}.items() <= served["transition"]["steps"][0].items()
    assert any("m1" in g["models"] for g in served["placement"]["groups"])
    with session_factory(engine)() as session:
        assert session.get_one(PlanJob, job_id).status == JobStatus.SUCCEEDED
        pending = replanner.pending_job(session, cluster)
        assert pending is not None and replanner.window_start_of(pending) >= window + WINDOW_S


def test_a_killed_replanner_resumes_without_a_second_decision(
    client: FlaskClient, auth: dict[str, dict[str, str]], seeded: dict[str, Any], engine: Engine
) -> None:
    admin, cluster = auth["admin"], seeded["cluster_id"]
    serve_only_m0(client, admin, cluster)
    window = aligned_now()
    hot_m1(client, admin, cluster, window)
    job_id = enable(engine, cluster, window)
    factory = session_factory(engine)
    with transaction(factory, write=True) as session:  # worker A claims, then dies
        dead = jobs.claim(session, "dead", lease_s=0.5, max_attempts=3)
    assert dead is not None and dead.job_id == job_id
    time.sleep(0.6)
    settings = WorkerSettings(lease_s=5.0, heartbeat_s=0.5, poll_s=0.05)
    restarted = Worker(factory, name="restarted", settings=settings)
    assert restarted.run_once()  # claims the expired job again and decides
    # the dead worker wakes and finishes its copy: its lease is gone, nothing is written
    Worker(factory, name="dead", settings=settings).process(dead, threading.Event())
    (decision,) = decisions(client, auth["reader"], cluster)
    assert decision["window_start"] == window and decision["version"] == 2
    with factory() as session:
        job = session.get_one(PlanJob, job_id)
        assert job.status == JobStatus.SUCCEEDED and job.attempts == 2
        assert session.scalar(select(func.count(ReplanDecision.id))) == 1
        queued = session.scalars(
            select(PlanJob).where(
                PlanJob.kind == JobKind.REPLAN, PlanJob.status == JobStatus.QUEUED
            )
        ).all()
        assert len(queued) == 1  # the next window's, once
    # a duplicate job for the decided window decides nothing
    with transaction(factory, write=True) as session:
        session.get_one(PlanJob, queued[0].id).options = {"window_start": window}
        session.get_one(PlanJob, queued[0].id).not_before = None
    assert restarted.run_once()
    assert len(decisions(client, auth["reader"], cluster)) == 1
    with factory() as session:
        message = session.get_one(PlanJob, queued[0].id).message
        assert message is not None and "already decided" in message


def watch(engine: Engine, cluster: int, window: int) -> None:
    """The re-planner on with the drift watch: 10 s windows, checks every 2 s."""
    with transaction(session_factory(engine), write=True) as session:
        values = {
            **replanner.SETTING_DEFAULTS,
            "enabled": True,
            "window_s": WINDOW_S,
            "forecaster": "last",
            "react_drift": 0.25,
            "nowcast_s": 2,
        }
        replanner.put_settings(session, cluster, values)
        assert replanner.schedule(session, cluster, window, 120.0) is not None


def run_check(engine: Engine, window: int, at_s: int) -> str:
    """Turn the queued replan job into the check ``at_s`` into ``window``,
    due now, and run it; the job's message."""
    factory = session_factory(engine)
    with transaction(factory, write=True) as session:
        job = session.scalars(
            select(PlanJob).where(
                PlanJob.kind == JobKind.REPLAN, PlanJob.status == JobStatus.QUEUED
            )
        ).one()
        job.options, job.not_before = {"window_start": window, "at_s": at_s}, None
        job_id = job.id
    assert Worker(factory, name="w1").run_once()
    with factory() as session:
        done = session.get_one(PlanJob, job_id)
        assert done.status == JobStatus.SUCCEEDED and done.message is not None
        return done.message


def next_window_inputs(engine: Engine, cluster: int, window: int) -> replanner_jobs.ReplanInputs:
    """The inputs of the decision at the start of the window after ``window``
    (the queued job turned into it)."""
    with transaction(session_factory(engine), write=True) as session:
        job = replanner.pending_job(session, cluster)
        assert job is not None
        job.options = {"window_start": window + WINDOW_S, "at_s": 0}
        return replanner_jobs.load_inputs(session, job)


def test_the_drift_watch_switches_inside_a_window_and_checks_against_its_nowcast(
    client: FlaskClient, auth: dict[str, dict[str, str]], seeded: dict[str, Any], engine: Engine
) -> None:
    admin, cluster = auth["admin"], seeded["cluster_id"]
    serve_only_m0(client, admin, cluster)
    window = aligned_now() - WINDOW_S  # a window that has passed: every bin of it is in
    history = {"m0": [500, 500, 500], "m1": [0, 0, 0]}  # m0 at 50 req/s
    answer = post_traffic(
        client, admin, cluster, source="router", bin_s=WINDOW_S, start=window - 3 * WINDOW_S,
        counts=history,
    )  # fmt: skip
    assert answer.status_code == 201
    so_far = {"m0": [0] * 8, "m1": [100] * 8}  # then m1 at 100 req/s, m0 idle
    answer = post_traffic(
        client, admin, cluster, source="router", bin_s=1, start=window, counts=so_far
    )
    assert answer.status_code == 201
    watch(engine, cluster, window)
    assert Worker(session_factory(engine), name="w1").run_once()
    (start,) = decisions(client, auth["reader"], cluster)
    assert start["at_s"] == 0 and start["action"] == "keep", start["reason"]  # m0 as forecast
    assert start["forecast_rps"] == {"m0": pytest.approx(50, rel=0.01), "m1": 0.0}
    # 4 s in: the nowcast, (requests + forecast x 2 s) / (4 s + 2 s), is m0 100 / 6 and
    # m1 400 / 6: shares (1, 0) -> (0.2, 0.8), a drift of about 0.8
    message = run_check(engine, window, 4)
    # (0.799 where the forecast of m0, drawn from counts, is a little under 50: 3 digits)
    assert re.match(r"switch at 4 s: the mix drifted by (0\.79\d|0\.8|0\.80\d) > 0\.25", message), (
        message
    )
    first = decisions(client, auth["reader"], cluster)[-1]
    assert first["at_s"] == 4 and first["chosen"] and first["version"] == 2
    assert first["observed"] == {"m0": 0, "m1": 400}
    assert first["forecast_rps"]["m1"] == pytest.approx(400 / 6, rel=0.05)
    served = client.get(f"/v1/clusters/{cluster}/plan", headers=admin).get_json()
    assert served["version"] == 2 and served["transition"]["from_version"] == 1
    assert any("m1" in group["models"] for group in served["placement"]["groups"])
    # 8 s in, against that nowcast: m0 100 / 10, m1 800 / 10, shares (0.2, 0.8) -> (0.11,
    # 0.89) and the rate 83 -> 90 req/s: a drift of about 0.09, nothing re-solved or stored
    message = run_check(engine, window, 8)
    assert re.match(
        r"checked at 8 s: the mix drifted by 0\.0[89]\d* <= react_drift 0\.25$", message
    )
    assert len(decisions(client, auth["reader"], cluster)) == 2
    with session_factory(engine)() as session:
        pending = replanner.pending_job(session, cluster)
        assert pending is not None  # the window has passed: the next one's start
        assert (replanner.window_start_of(pending), replanner.at_of(pending)) >= (
            window + WINDOW_S,
            0,
        )
        assert replanner.at_of(pending) in (0, 2, 4, 6, 8)
    # the next window's start checks that switch against keeping, on the requests after it
    inputs = next_window_inputs(engine, cluster, window)
    assert inputs.live is not None, inputs.skip
    (switch,) = inputs.live.window_switches
    assert switch.at_s == 4
    assert switch.counts == {"m0": 0, "m1": 400}  # bins 4-7 s
    assert switch.after == inputs.live.current
    # the plan before the switch
    assert inputs.revert_plan_ids == {switch.before: first["from_plan_id"]}
    # a check of a window not decided at its start decides nothing, nor one the settings
    # no longer have (checks every 2 s: none at 5 s)
    message = run_check(engine, window + 5 * WINDOW_S, 4)
    assert message == f"skipped: window {window + 5 * WINDOW_S} was not decided at its start"
    message = run_check(engine, window, 5)
    assert message == "skipped: 5 s is not a check instant of the settings (changed since)"


def test_a_window_start_reads_every_switch_of_the_window_before(
    client: FlaskClient, auth: dict[str, dict[str, str]], seeded: dict[str, Any], engine: Engine
) -> None:
    admin, cluster = auth["admin"], seeded["cluster_id"]
    # m2 (7.5 GiB) fits only as two 3.75 GiB stages: hosting it evicts m0 from both devices
    big = model_json("m2", profile=profile_json(weight_bytes=int(7.5 * GIB)))
    assert client.post("/v1/models", json=big, headers=admin).status_code == 201
    serve_only_m0(client, admin, cluster)
    window = aligned_now() - WINDOW_S
    history = {"m0": [500, 500, 500], "m2": [0, 0, 0]}
    answer = post_traffic(
        client, admin, cluster, source="router", bin_s=WINDOW_S, start=window - 3 * WINDOW_S,
        counts=history,
    )  # fmt: skip
    assert answer.status_code == 201
    # m2 takes over for 4 s (it is loaded at 4 s), then m0 comes back at 2000 req/s (at 6 s)
    so_far = {"m0": [0] * 4 + [2000] * 6, "m2": [100] * 4 + [0] * 6}
    answer = post_traffic(
        client, admin, cluster, source="router", bin_s=1, start=window, counts=so_far
    )
    assert answer.status_code == 201
    watch(engine, cluster, window)
    assert Worker(session_factory(engine), name="w1").run_once()
    assert run_check(engine, window, 4).startswith("switch at 4 s")
    message = run_check(engine, window, 6)
    assert message.startswith("switch at 6 s"), message
    first, second = decisions(client, auth["reader"], cluster)[-2:]
    assert (first["version"], second["from_version"], second["version"]) == (2, 2, 3)
    inputs = next_window_inputs(engine, cluster, window)
    assert inputs.live is not None, inputs.skip
    early, late = inputs.live.window_switches
    assert (early.at_s, late.at_s) == (4, 6)
    assert early.counts == {"m0": 12000, "m2": 0}  # bins 4-9 s
    assert late.counts == {"m0": 8000, "m2": 0}  # bins 6-9 s
    assert early.after == late.before and late.after == inputs.live.current
    assert inputs.revert_plan_ids == {
        early.before: first["from_plan_id"],
        late.before: second["from_plan_id"],
    }
    assert second["from_plan_id"] == first["plan_id"]


def test_the_switch_cap_counts_the_hour_before_each_instant(
    client: FlaskClient, auth: dict[str, dict[str, str]], seeded: dict[str, Any], engine: Engine
) -> None:
    admin, cluster = auth["admin"], seeded["cluster_id"]
    serve_only_m0(client, admin, cluster)
    window = aligned_now() - WINDOW_S
    watch(engine, cluster, window)
    assert Worker(session_factory(engine), name="w1").run_once()  # the window's start
    with transaction(session_factory(engine), write=True) as session:
        for made_at in (window - 3599, window - 3597):  # switched 3599 and 3597 s before it
            session.add(
                ReplanDecision(
                    cluster_id=cluster, window_start=made_at, window_s=WINDOW_S,
                    forecaster="last", action="switch", chosen=True, reason="moved",
                    forecast_rps={}, observed={}, load_s={}, steps=[], switch_cost={},
                )
            )  # fmt: skip

    def switches_counted(window_start: int, at_s: int) -> int:
        with transaction(session_factory(engine), write=True) as session:
            job = replanner.pending_job(session, cluster)
            assert job is not None
            job.options = {"window_start": window_start, "at_s": at_s}
            inputs = replanner_jobs.load_inputs(session, job)
        assert inputs.live is not None, inputs.skip
        return inputs.live.switches_last_hour

    # the check 2 s into the window counts from window + 2 - 3600: the later switch only;
    # the check 4 s in, from window + 4 - 3600: neither (both were in the window start's hour)
    assert switches_counted(window, 2) == 1
    assert switches_counted(window, 4) == 0


def test_decisions_are_paged_and_need_a_cluster(
    client: FlaskClient, auth: dict[str, dict[str, str]], seeded: dict[str, Any]
) -> None:
    cluster = seeded["cluster_id"]
    answer = client.get(f"/v1/clusters/{cluster}/decisions?limit=1", headers=auth["reader"])
    assert answer.get_json() == {"items": [], "next": None}
    assert client.get("/v1/clusters/999/decisions", headers=auth["reader"]).status_code == 404
    assert client.get(f"/v1/clusters/{cluster}/decisions").status_code == 401


def activate_everywhere(
    client: FlaskClient, admin: dict[str, str], cluster: int, models: list[str]
) -> int:
    """Activate ``models`` on each of the four devices; the plan's id."""
    groups = [{"devices": [d], "config": {"op": 1, "pp": 1}, "models": models} for d in range(4)]
    body = {"cluster_id": cluster, "placement": {"groups": groups}, "activate": True}
    answer = client.post("/v1/plans", json=body, headers=admin)
    assert answer.status_code == 201
    plan_id: int = answer.get_json()["id"]
    return plan_id


def store_switch(
    engine: Engine, cluster: int, window_start: int, at_s: int, version: int, plans: tuple[int, int]
) -> None:
    """An applied switch ``at_s`` into the window from ``window_start``, from
    plan ``plans[0]`` (version ``version - 1``) to ``plans[1]`` (``version``)."""
    with transaction(session_factory(engine), write=True) as session:
        session.add(
            ReplanDecision(
                cluster_id=cluster, window_start=window_start, at_s=at_s, window_s=WINDOW_S,
                forecaster="last", action="switch", chosen=True, reason="a switch",
                forecast_rps={}, observed={}, load_s={}, steps=[],
                switch_cost={"replicas_loaded": 0, "load_s": 0.0, "lost_replica_s": 0.0},
                from_version=version - 1, from_plan_id=plans[0], version=version,
                plan_id=plans[1],
            )
        )  # fmt: skip


def test_a_switch_that_served_worse_is_reverted_to_its_plan(
    client: FlaskClient, auth: dict[str, dict[str, str]], seeded: dict[str, Any], engine: Engine
) -> None:
    admin, cluster = auth["admin"], seeded["cluster_id"]
    both = activate_everywhere(client, admin, cluster, ["m0", "m1"])  # version 1
    only_m0 = activate_everywhere(client, admin, cluster, ["m0"])  # version 2
    window = aligned_now()
    store_switch(engine, cluster, window - WINDOW_S, 0, 2, (both, only_m0))
    counts = {"m0": [100], "m1": [300]}  # then m1 came back: its requests found no replica
    answer = post_traffic(
        client, admin, cluster, source="router", bin_s=WINDOW_S, start=window - WINDOW_S,
        counts=counts,
    )  # fmt: skip
    assert answer.status_code == 201
    enable(engine, cluster, window)
    assert Worker(session_factory(engine), name="w1").run_once()
    decision = decisions(client, auth["reader"], cluster)[-1]
    assert decision["action"] == "revert" and decision["chosen"], decision["reason"]
    assert decision["replayed_switch"] == pytest.approx(0.25, abs=0.01)  # m0's 100 of 400
    assert decision["replayed_keep"] == pytest.approx(1.0, abs=0.01)
    assert decision["version"] == 3 and decision["plan_id"] == both
    served = client.get(f"/v1/clusters/{cluster}/plan", headers=admin).get_json()
    assert served["plan_id"] == both and served["version"] == 3
    assert served["transition"] == {
        "from_version": 2,
        "steps": [{"group": g, "action": "load", "model": "m1"} for g in range(4)],
    }


def test_a_window_of_switches_that_served_worse_is_reverted_to_the_plan_before_them(
    client: FlaskClient, auth: dict[str, dict[str, str]], seeded: dict[str, Any], engine: Engine
) -> None:
    """m0 and m1 everywhere, then m0 alone at the window's start and m1
    alone 5 s in. m1 had 100 req/s in the first 5 s (none served) and 20
    after: the last switch paid, the two did not."""
    admin, cluster = auth["admin"], seeded["cluster_id"]
    both = activate_everywhere(client, admin, cluster, ["m0", "m1"])  # version 1
    only_m0 = activate_everywhere(client, admin, cluster, ["m0"])  # version 2
    only_m1 = activate_everywhere(client, admin, cluster, ["m1"])  # version 3
    window = aligned_now()
    store_switch(engine, cluster, window - WINDOW_S, 0, 2, (both, only_m0))
    store_switch(engine, cluster, window - WINDOW_S, 5, 3, (only_m0, only_m1))
    counts = {"m0": [0] * 10, "m1": [100] * 5 + [20] * 5}
    answer = post_traffic(
        client, admin, cluster, source="router", bin_s=1, start=window - WINDOW_S, counts=counts
    )
    assert answer.status_code == 201
    enable(engine, cluster, window)
    assert Worker(session_factory(engine), name="w1").run_once()
    decision = decisions(client, auth["reader"], cluster)[-1]
    assert decision["action"] == "revert" and decision["chosen"], decision["reason"]
    assert "after its 2 switches" in decision["reason"]
    # m1's 500 of the 600 requests found no replica before the last switch, and those
    # after it none while it loaded (1 GiB at 1 GB/s): the replay draws the last stretch's
    # 100 uniformly over its 5 s, seeded by the window's start plus the stretch's index, so
    # about 20 x 1.07 of them, exactly those drawn before the load ends
    drawn = observed_workload({"m1": [100]}, 5, 5, window + 1).arrivals_s
    served_after = 100 - int((drawn < GIB / 1e9).sum())
    assert served_after == pytest.approx(100 - 20 * GIB / 1e9, abs=15)
    assert decision["replayed_switch"] == pytest.approx(served_after / 600, abs=0.01)
    assert decision["replayed_keep"] == pytest.approx(1.0, abs=0.01)
    assert decision["version"] == 4 and decision["plan_id"] == both
    served = client.get(f"/v1/clusters/{cluster}/plan", headers=admin).get_json()
    assert served["plan_id"] == both and served["transition"]["from_version"] == 3


def test_inputs_that_cannot_be_loaded_skip_the_decision_and_log_why(
    client: FlaskClient,
    auth: dict[str, dict[str, str]],
    seeded: dict[str, Any],
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin, cluster = auth["admin"], seeded["cluster_id"]
    serve_only_m0(client, admin, cluster)
    window = aligned_now() - WINDOW_S
    watch(engine, cluster, window)
    with transaction(session_factory(engine), write=True) as session:
        session.delete(session.scalars(select(Model).where(Model.name == "m0")).one())
    with caplog.at_level(logging.WARNING, logger="api.replanner_jobs"):
        inputs = next_window_inputs(engine, cluster, window)
    assert inputs.live is None
    assert inputs.skip == "cannot load the inputs: models: the served plan's m0 left the catalog"
    (record,) = [r for r in caplog.records if r.name == "api.replanner_jobs"]
    assert f"cluster {cluster}" in record.getMessage() and record.exc_info is not None
