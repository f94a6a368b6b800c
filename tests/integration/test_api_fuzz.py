"""The API against its own OpenAPI document: a bounded, seeded schemathesis
run (its examples, coverage and fuzzing phases) over every operation, on
SQLite and on PostgreSQL, with an admin key and some stored rows; every
operation is tested and answers more than 401/403. It fails
on any 5xx, any status the document does not list, any answer that does
not match its schema, and any schema-valid request refused other than as
the document allows: 401/403/404/409, or 422 naming a field that carries a
rule JSON Schema cannot state (:data:`RULES`)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from schemathesis.config import CacheConfig
from schemathesis.engine import events
from sqlalchemy import Engine

from store.db import session_factory, transaction
from store.enums import Role
from store.repositories.keys import create_key
from tests.integration.builders import seed_api

RULES: dict[str, str] = {
    "POST /v1/clusters/{cluster_id}/active-plan": r"plan_id",  # an existing plan of the cluster
    # bins that have ended and start on a multiple of bin_s; stored models, lists of one length
    "POST /v1/clusters/{cluster_id}/traffic": r"start|counts(\..*)?",
    # windows that have begun, at most MAX_WINDOWS of them
    "GET /v1/clusters/{cluster_id}/traffic": r"query\.(since|window_s)",
    # the forecaster grammar; a check interval below the window; the watch needs checks
    "PUT /v1/clusters/{cluster_id}/replanner": r"forecaster|nowcast_s|react_drift",
    # existing rows; models that fit the largest count
    "POST /v1/capacity": r"cluster_id|workload_id|model_(ids|names)\b.*",
    "POST /v1/executors": r"cluster_id|devices\[\d+\]",  # an existing cluster, its devices
    "POST /v1/models": r"profile\b.*",  # a profile's physics
    "PUT /v1/models/{model_id}/profile": r"profile\b.*",
    # existing rows; a placement that fits; the planner's options
    "POST /v1/plans": r"cluster_id|workload_id|model_(ids|names)\b.*|placement\b.*|options\b.*",
    "POST /v1/reports": r"kind|data\b.*|compare\.job_ids\[\d+\]",  # its rules; existing jobs
    # stored models; arrivals inside the duration; the windows and arrivals budgets
    "POST /v1/workloads": r"arrivals_s\b.*|processes\b.*|window_s",
    "POST /v1/workloads/upload": r".*",  # the trace file's content
    # an offset within the workload; pages only for format=json
    "GET /v1/workloads/{workload_id}/arrivals": r"offset|limit",
}
"""Per operation, the fields (a regular expression) that a schema-valid
request may still get 422 for, and why."""

ACCEPTED = frozenset({401, 403, 404, 409})
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "refuses_only_by_rule",
]
MAX_EXAMPLES = 100
SEED = 20261206


@schemathesis.check
def refuses_only_by_rule(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid request is accepted, or refused as :data:`RULES` allow."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status < 400 or status in ACCEPTED or status >= 500:
        return None
    rule = RULES.get(case.operation.label)
    field = (response.json() or {}).get("field", "") if status == 422 else ""
    if rule is not None and field and re.fullmatch(rule, field, re.DOTALL):
        return None
    raise AssertionError(f"schema-valid request refused with {status}: {response.text}")


def _config(headers: dict[str, str]) -> schemathesis.Config:
    config = schemathesis.Config(seed=SEED, cache=CacheConfig(enabled=False))
    project = config.projects.override
    project.update(headers=headers, continue_on_failure=True)
    project.phases.update(phases=["examples", "coverage", "fuzzing"])
    project.checks.update(included_check_names=CHECKS)
    project.generation.update(
        max_examples=MAX_EXAMPLES, with_security_parameters=False, database="none"
    )
    return config


def run(schema: Any) -> tuple[list[str], dict[str, set[int]]]:
    """A run over ``schema``: every distinct failure (with a request that
    reproduces it) and engine error, and the statuses each operation got."""
    found: dict[str, str] = {}
    answered: dict[str, set[int]] = {}
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            statuses = answered.setdefault(event.recorder.label, set())
            for interaction in event.recorder.interactions.values():
                if interaction.response is not None:
                    statuses.add(interaction.response.status_code)
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    if node.failure_info is not None:
                        failure = node.failure_info.failure
                        what = f"{event.recorder.label}: {failure.title}: {failure.message}"
                        found.setdefault(what, node.failure_info.code_sample)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            found[repr(event)] = ""
    return [f"{what}\n    {sample}" for what, sample in found.items()], answered


def unrevokable_admin(engine: Engine) -> dict[str, str]:
    """Headers with an admin key of id 0, which no path can name: the run
    cannot revoke its own key (DELETE /v1/keys/1 is among its first cases)."""
    with transaction(session_factory(engine), write=True) as session:
        row, key = create_key(session, "fuzz", Role.ADMIN)
        row.id = 0
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.slow
def test_the_api_keeps_its_document(app: Flask, client: FlaskClient, engine: Engine) -> None:
    admin = unrevokable_admin(engine)
    seed_api(client, admin)
    executor = {"name": "e1", "cluster_id": 1, "devices": [0, 1], "url": "http://e1"}
    assert client.post("/v1/executors", json=executor, headers=admin).status_code == 201
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=_config(admin))
    found, answered = run(schema)
    assert not found, "\n".join(found)
    document = client.get("/openapi.json").get_json()["paths"]
    assert set(answered) == {f"{m.upper()} {path}" for path, ops in document.items() for m in ops}
    refused = [label for label, statuses in answered.items() if statuses <= {401, 403}]
    assert not refused, f"only refused the key: {refused}"
