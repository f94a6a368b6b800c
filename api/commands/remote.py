"""``meshplan report compare --api``: read the plans the service made, with
their jobs, cluster, models and workload, over HTTP and compare them
without solving (:mod:`api.stored_compare`). Requests go through a
:data:`Get` function, so tests can answer them with a Flask test client."""

from __future__ import annotations

import json
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from api import stored_compare
from planner import files
from planner.domain import Workload
from planner.evaluation.reports import CompareReport

Get = Callable[[str], tuple[int, bytes]]
"""``get(path)`` → (HTTP status, body) of ``GET <api><path>`` with the key."""

TIMEOUT_S = 60.0


class RemoteError(Exception):
    """The API refused a request or could not be reached; says which."""


def http_get(base_url: str, key: str, timeout_s: float = TIMEOUT_S) -> Get:
    """A :data:`Get` over HTTP to ``base_url`` with bearer ``key``."""

    def get(path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(
            base_url.rstrip("/") + path, headers={"Authorization": f"Bearer {key}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            raise RemoteError(f"GET {path}: {error}") from None

    return get


def _fetch(get: Get, path: str, what: str) -> bytes:
    status, body = get(path)
    if status == 404:
        raise RemoteError(f"{what} does not exist (GET {path}: 404)")
    if status != 200:
        detail = body.decode(errors="replace")[:300]
        raise RemoteError(f"{what}: GET {path} answered {status}: {detail}")
    return body


def _json(get: Get, path: str, what: str) -> Any:
    return json.loads(_fetch(get, path, what))


def _workload(get: Get, workload_id: int) -> Workload:
    path = f"/v1/workloads/{workload_id}/arrivals?format=npz"
    body = _fetch(get, path, f"workload {workload_id}")
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "workload.npz"
        saved.write_bytes(body)
        return files.load_workload(saved)


def compare_remote(
    get: Get, *, job_ids: Sequence[int] = (), plan_ids: Sequence[int] = (), title: str
) -> CompareReport:
    """The comparison of the plans of ``job_ids`` (or of ``plan_ids``, each
    made by a job). RemoteError names a job or plan that does not exist;
    ValueError one that cannot be compared."""
    if plan_ids:
        plans = [_json(get, f"/v1/plans/{i}", f"plan {i}") for i in plan_ids]
        for i, plan in enumerate(plans):
            if plan["job_id"] is None:
                raise ValueError(f"--plans[{i}]: plan {plan['id']} was given, not solved by a job")
        jobs = [_json(get, f"/v1/jobs/{p['job_id']}", f"job {p['job_id']}") for p in plans]
        where = "--plans"
    else:
        jobs = [_json(get, f"/v1/jobs/{i}", f"job {i}") for i in job_ids]
        for i, job in enumerate(jobs):
            stored_compare.check_job(job, f"--jobs[{i}]")
        plans = [_json(get, f"/v1/plans/{j['plan_id']}", f"plan {j['plan_id']}") for j in jobs]
        where = "--jobs"
    stored = stored_compare.stored_plans(jobs, plans, where)
    cluster = _json(get, f"/v1/clusters/{stored.cluster_id}", f"cluster {stored.cluster_id}")
    models = [
        stored_compare.model_value(_json(get, f"/v1/models/{i}", f"model {i}"))
        for i in stored.model_ids
    ]
    return stored_compare.build(
        stored,
        stored_compare.cluster_value(cluster),
        models,
        _workload(get, stored.workload_id),
        title,
    )
