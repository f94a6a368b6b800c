"""``meshplan report compare --api``: the plans the service made, compared
without solving. The CLI talks to a real API app (its Flask test client
answers the CLI's requests) whose worker ran two plan jobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine

from api.cli import main
from api.commands import remote
from api.worker import Worker, WorkerSettings
from planner import domain
from planner.codec import decode
from planner.sim import SimOptions, simulate
from store.db import session_factory
from store.models import Cluster, Plan, PlanJob, Workload
from store.repositories import catalog, workloads
from tests.integration.builders import post_job, problem

FAST = WorkerSettings(lease_s=5.0, heartbeat_s=0.05, poll_s=0.02, grace_s=0.3)


@pytest.fixture
def solved(
    client: FlaskClient, admin: dict[str, str], seeded: dict[str, Any], engine: Engine
) -> list[dict[str, Any]]:
    """Two succeeded jobs (greedy, sr) on the seeded cluster and workload."""
    from planner.placement.solve import solve

    ids = [post_job(client, admin, seeded, solver=s, time_limit_s=20.0) for s in ("greedy", "sr")]
    worker = Worker(session_factory(engine), settings=FAST, solve=solve)
    assert worker.run_once() and worker.run_once()
    jobs = [client.get(f"/v1/jobs/{i}", headers=admin).get_json() for i in ids]
    assert [job["status"] for job in jobs] == ["succeeded", "succeeded"], jobs
    return jobs


@pytest.fixture
def cli(client: FlaskClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner whose ``--api`` requests go to the test app with the key
    the CLI read from MESHPLAN_API_KEY."""

    def http_get(base_url: str, key: str, timeout_s: float = 0.0) -> remote.Get:
        assert base_url == "http://api.test"
        assert {"Authorization": f"Bearer {key}"} == admin

        def get(path: str) -> tuple[int, bytes]:
            response = client.get(path, headers={"Authorization": f"Bearer {key}"})
            return response.status_code, response.get_data()

        return get

    monkeypatch.setattr(remote, "http_get", http_get)
    monkeypatch.setenv("MESHPLAN_API_KEY", admin["Authorization"].removeprefix("Bearer "))
    return CliRunner()


def direct_attainment(engine: Engine, plan_id: int) -> float:
    """The stored plan simulated here on its job's cluster, models and
    workload, read from the database."""
    with session_factory(engine)() as session:
        plan = session.get_one(Plan, plan_id)
        job = session.get_one(PlanJob, plan.job_id)
        cluster = catalog.cluster_value(session.get_one(Cluster, job.cluster_id))
        models = catalog.model_values(session, job.models)
        workload = workloads.workload_value(session.get_one(Workload, job.workload_id))
        placement = decode(domain.Placement, plan.placement, "placement")
    return simulate(cluster, models, placement, workload, SimOptions()).attainment


def test_compare_the_service_s_plans_without_solving(
    cli: CliRunner, engine: Engine, solved: list[dict[str, Any]], tmp_path: Path
) -> None:
    ids = ",".join(str(job["id"]) for job in solved)
    args = ["report", "compare", "--api", "http://api.test", "--jobs", ids, "-o", str(tmp_path)]
    result = cli.invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["sweeps"] == []
    assert report["inputs"]["source"]["jobs"] == [job["id"] for job in solved]
    rows = report["rows"]
    assert [row["label"] for row in rows] == ["greedy", "sr"]
    for row, job in zip(rows, solved, strict=True):
        assert row["solve_s"] == job["wall_s"] and row["gap"] == job["gap"]
        assert row["status"] == job["solve_status"]
        assert row["attainment"] == direct_attainment(engine, job["plan_id"])
    plans = ",".join(str(job["plan_id"]) for job in solved)
    by_plan = cli.invoke(
        main,
        ["report", "compare", "--api", "http://api.test", "--plans", plans, "-o", str(tmp_path)],
    )
    assert by_plan.exit_code == 0, by_plan.output
    assert json.loads((tmp_path / "report.json").read_text())["rows"] == rows


def test_a_wrong_job_id_is_named(
    cli: CliRunner, solved: list[dict[str, Any]], tmp_path: Path
) -> None:
    args = ["report", "compare", "--api", "http://api.test", "--jobs", f"{solved[0]['id']},99"]
    result = cli.invoke(main, [*args, "-o", str(tmp_path)])
    assert result.exit_code == 1
    assert "job 99 does not exist (GET /v1/jobs/99: 404)" in result.output
    assert not (tmp_path / "report.json").exists()


def test_local_options_are_refused_with_api(cli: CliRunner) -> None:
    args = ["report", "compare", "--api", "http://api.test", "--jobs", "1", "--quick"]
    result = cli.invoke(main, args)
    assert result.exit_code == 2
    assert "--quick: not with --api" in result.output


def test_the_service_builds_the_same_comparison(
    cli: CliRunner,
    client: FlaskClient,
    admin: dict[str, str],
    solved: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    ids = [job["id"] for job in solved]
    response = client.post("/v1/reports", json={"compare": {"job_ids": ids}}, headers=admin)
    assert response.status_code == 201, response.get_json()
    stored = response.get_json()
    assert stored["kind"] == "compare"
    args = ["report", "compare", "--api", "http://api.test", "--jobs", ",".join(map(str, ids))]
    assert cli.invoke(main, [*args, "-o", str(tmp_path)]).exit_code == 0
    assert stored["data"]["rows"] == json.loads((tmp_path / "report.json").read_text())["rows"]


@pytest.mark.parametrize(
    ("job_ids", "detail"),
    [
        ([1, 99], "compare.job_ids[1]: job 99 does not exist"),
        ([], None),
    ],
)
def test_the_service_names_a_job_it_cannot_compare(
    client: FlaskClient,
    admin: dict[str, str],
    solved: list[dict[str, Any]],
    job_ids: list[int],
    detail: str | None,
) -> None:
    response = client.post("/v1/reports", json={"compare": {"job_ids": job_ids}}, headers=admin)
    data = problem(response, 422)
    if detail is not None:
        assert data["detail"] == detail and data["field"] == "compare.job_ids[1]"
    assert client.get("/v1/reports", headers=admin).get_json()["items"] == []


def test_a_queued_job_has_no_plan_to_compare(
    client: FlaskClient, admin: dict[str, str], seeded: dict[str, Any]
) -> None:
    queued = post_job(client, admin, seeded)
    response = client.post("/v1/reports", json={"compare": {"job_ids": [queued]}}, headers=admin)
    assert problem(response, 422, "compare.job_ids[0]")["detail"] == (
        f"compare.job_ids[0]: job {queued} is queued, it has no plan to compare"
    )
