"""The Ray backend on a two-node Ray cluster on this machine (one CPU per
node, files under a temp dir the test owns, no process left behind): its
tasks reach both nodes, and the enumeration's plan, the LNS plan (its
sub-problems solved as Ray tasks), a compare report's sweeps, the re-placement experiment's rows and two solve workers sharing
one PostgreSQL queue give what the local run gives. The service refuses a
Ray job where Ray is not installed (422); a worker that cannot reach the
named cluster fails the job saying so."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from api.worker import Worker
from harness.ray_local import two_node_cluster
from planner.deadline import Deadline
from planner.domain import Cluster
from planner.evaluation.experiment import ExperimentConfig, Strategy, run_experiment
from planner.evaluation.reports import build_compare
from planner.fanout import as_is, fan_out
from planner.placement.enumeration import enumerate_placements
from planner.placement.options import SolveOptions
from planner.placement.scoring import Scorer
from planner.placement.solve import solve
from planner.sim import Instance, SimOptions
from store.db import session_factory
from store.models import PlanJob
from tests.integration.builders import post_job, problem, rows
from tests.integration.test_worker import FAST, Running, job, wait_for
from tests.unit.placement_cases import GB, model, workload
from tests.unit.report_cases import CLUSTER, MODELS, SETTINGS, WORK
from tests.unit.test_placement_master import four_device_instance

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    pytest.importorskip("ray")
    with two_node_cluster() as address:
        yield address


def node_of(_: None, pause_s: float) -> str:
    """The id of the Ray node that runs this task, after ``pause_s``."""
    import ray

    time.sleep(pause_s)
    return str(ray.get_runtime_context().get_node_id())


def test_tasks_reach_both_nodes(ray_address: str) -> None:
    runner = fan_out("ray", workers=1, address=ray_address)
    nodes = dict(runner.map_unordered(as_is, node_of, None, [0.5] * 4))
    assert sorted(nodes) == [0, 1, 2, 3]
    assert len(set(nodes.values())) == 2


def enumeration_case() -> Scorer:
    models = [
        model("a", latency_s=0.1, weight_bytes=6 * GB),
        model("b", latency_s=0.1, weight_bytes=6 * GB),
        model("c", latency_s=0.3, weight_bytes=14 * GB),
        model("d", latency_s=0.2, weight_bytes=3 * GB),
    ]
    traffic = workload({"a": 8.0, "b": 4.0, "c": 2.0, "d": 6.0}, cv=3.0, duration_s=20)
    cluster = Cluster(8, 16 * GB, devices_per_node=4)
    return Scorer(Instance(cluster, tuple(models), traffic, SimOptions()))


def test_enumeration_on_ray_gives_the_local_plan(ray_address: str) -> None:
    scorer = enumeration_case()
    local = enumerate_placements(scorer, SolveOptions(seed=3))
    spread = enumerate_placements(
        scorer, SolveOptions(seed=3, backend="ray", ray_address=ray_address)
    )
    assert local.blocks_total > 4
    assert spread.placement == local.placement
    assert spread.served.tolist() == local.served.tolist()
    assert spread.blocks_solved == local.blocks_solved > 1  # the others pruned alike


def test_lns_on_ray_gives_the_local_plan(ray_address: str) -> None:
    problem = four_device_instance()
    plans = [
        solve(
            problem,
            solver="lns",
            deadline=Deadline.after(60),
            options=SolveOptions(seed=3, lns_groups=1, **where),
        )
        for where in ({"workers": 1}, {"backend": "ray", "ray_address": ray_address})
    ]
    local, spread = plans
    assert local.status == spread.status == "heuristic"
    assert spread.placement == local.placement
    assert spread.attainment == local.attainment
    # rounds of several sub-problems, each round one map of Ray tasks
    assert spread.stats["moves_tried"] == local.stats["moves_tried"] > local.stats["rounds"]


def test_compare_sweeps_on_ray_equal_the_local_report(ray_address: str) -> None:
    settings = dataclasses.replace(
        SETTINGS, rate_scales=(0.5, 2.0), slo_scales=(2.0,), device_factors=(0.5,)
    )
    local = build_compare(CLUSTER, MODELS, WORK, settings)
    on_ray = dataclasses.replace(
        settings, options={**settings.options, "backend": "ray", "ray_address": ray_address}
    )
    spread = build_compare(CLUSTER, MODELS, WORK, on_ray)
    assert sum(len(s.values) for s in local.sweeps) >= 4
    # the same sweeps point for point; only the solve times differ
    untimed = [dataclasses.replace(s, solve_s={}) for s in (*local.sweeps, *spread.sweeps)]
    assert untimed[len(local.sweeps) :] == untimed[: len(local.sweeps)]
    assert [r.attainment for r in spread.rows] == [r.attainment for r in local.rows]


def without_timing(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "wall_s"} for row in rows]


def test_experiment_cases_on_ray_give_the_local_rows(ray_address: str) -> None:
    config = ExperimentConfig(
        model_sets=("s3",),
        devices={"s3": 4},
        workloads=("synthetic",),
        duration_s=240.0,
        window_s=60.0,
        shift_every_s=120.0,
        strategies=(Strategy("static"),),
        sweeps={"devices": (2,), "cv": (4.0,)},
        sweep_set="s3",
        sweep_strategies=(Strategy("static"),),
        bound=False,
        time_limit_s=20.0,  # ample: rows compare equal only when no solve is cut short
        rel_tol=0.3,
        target_attainment=0.6,
        metric="capacity",
    )
    local = run_experiment(config)
    options = {**config.solver_options, "backend": "ray", "ray_address": ray_address}
    seen: list[str] = []
    spread = run_experiment(dataclasses.replace(config, solver_options=options), seen.append)
    assert len(local["rows"]) == 1 and len(local["sweeps"]) == 2
    assert without_timing(spread["rows"]) == without_timing(local["rows"])
    assert without_timing(spread["sweeps"]) == without_timing(local["sweeps"])
    assert local["rows"][0]["max_rate_rps"] is not None
    assert len(seen) == 3 and seen[-1].startswith("case 3/3 done: ")


def placement_of(client: FlaskClient, admin: dict[str, str], job_id: int) -> Any:
    done = job(client, admin, job_id)
    assert done["status"] == "succeeded", done
    return client.get(f"/v1/plans/{done['plan_id']}", headers=admin).get_json()["placement"]


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_workers_on_one_queue_solve_on_ray_as_a_local_worker_does(
    ray_address: str,
    database_url: str,
    client: FlaskClient,
    admin: dict[str, str],
    seeded: dict[str, Any],
    engine: Engine,
) -> None:
    # A limit no solve reaches: a fresh Ray cluster starts its worker
    # processes on the first tasks, and a block cut short would differ.
    on_ray = [
        post_job(client, admin, seeded, options={"backend": "ray"}, time_limit_s=60.0)
        for _ in range(2)
    ]
    env = {**os.environ, "MESHPLAN_RAY_ADDRESS": ray_address}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "api.cli",
                "worker",
                "--database-url",
                database_url,
                "--max-jobs",
                "1",
                "--name",
                f"host{i}",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    try:
        outcomes = [w.communicate(timeout=120) for w in workers]
    finally:
        for w in workers:
            w.kill()
    assert [w.returncode for w in workers] == [0, 0], [err[-2000:] for _, err in outcomes]
    local = post_job(client, admin, seeded, time_limit_s=60.0)
    running = Running(Worker(session_factory(engine), name="here", settings=FAST))
    wait_for(lambda: job(client, admin, local)["status"] == "succeeded", timeout_s=60)
    running.join()
    expected = placement_of(client, admin, local)
    assert [placement_of(client, admin, j) for j in on_ray] == [expected, expected]


def test_a_ray_job_is_refused_where_ray_is_not_installed(
    client: FlaskClient,
    admin: dict[str, str],
    seeded: dict[str, Any],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("planner.fanout.ray_installed", lambda: False)
    body = {
        "cluster_id": seeded["cluster_id"],
        "workload_id": seeded["workload_id"],
        "solver": "greedy",
        "time_limit_s": 5.0,
        "options": {"backend": "ray"},
    }
    response = client.post("/v1/plans", json=body, headers=admin)
    detail = problem(response, 422, "options.backend")["detail"]
    assert detail == "options.backend: Ray is not installed (pip install 'meshplan[ray]')"
    assert rows(engine, PlanJob) == 0


def test_a_job_naming_an_unreachable_ray_cluster_fails_saying_so(
    client: FlaskClient, admin: dict[str, str], seeded: dict[str, Any], engine: Engine
) -> None:
    job_id = post_job(
        client, admin, seeded, options={"backend": "ray", "ray_address": "127.0.0.1:9"}
    )
    running = Running(Worker(session_factory(engine), name="here", settings=FAST))
    running.join()
    ended = job(client, admin, job_id)
    assert ended["status"] == "failed"
    assert ended["error"].startswith(
        "ValueError: options.ray_address: no Ray cluster answers at 127.0.0.1:9 "
    )
