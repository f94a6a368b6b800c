"""Executor agents: ``/v1/executors``. Agents register, then heartbeat with
the plan version they applied, their state, groups and measured latencies."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from flask import Blueprint, Response, current_app, url_for
from pydantic import Field

from api.auth import Permission
from api.database import session
from api.errors import invalid
from api.fields import INTEGRAL, Count, Id, JsonList, Positive, StoredText, Text
from api.routing import Body, Out, PageQuery, found, operation, render, reply
from api.views import list_view, show_view
from store.enums import ExecutorState
from store.models import Cluster, Executor
from store.repositories import executors, loads, plans
from store.types import BIGINT_MAX

bp = Blueprint("executors", __name__)


class ExecutorIn(Body):
    name: Text = Field(min_length=1, max_length=128)
    cluster_id: Id
    devices: list[Count] = Field(
        min_length=1,
        description="global device ids it drives, each once",
        json_schema_extra={"uniqueItems": True},
    )
    url: Text = Field(min_length=1, max_length=512, description="where it serves inference")


class LatencyIn(Body):
    p50: float = Field(ge=0)
    p99: float = Field(ge=0)
    count: Count


class LoadIn(Body):
    """A replica load the agent measured (resending one changes nothing)."""

    model: StoredText = Field(min_length=1, max_length=128)
    group: Count = Field(description="the group's index in the plan version's placement")
    seconds: float = Field(ge=0, le=10**6, description="compile + weights until it served (s)")
    bytes: Annotated[int, Field(ge=0, le=BIGINT_MAX), INTEGRAL] = Field(
        description="weight bytes it loaded"
    )
    version: Positive = Field(description="the plan version it loaded for")


class HeartbeatIn(Body):
    applied_version: Count | None = None
    state: ExecutorState = Field(strict=False)
    groups: JsonList = Field(default_factory=list)
    latency_s: dict[Text, LatencyIn] = Field(default_factory=dict)
    errors: dict[Text, Text] = Field(
        default_factory=dict, description="per model, why it could not be loaded"
    )
    loads: list[LoadIn] = Field(
        default_factory=list,
        max_length=4096,
        description="per replica it serves, the load it measured (resent; stored once)",
    )


class ExecutorQuery(PageQuery):
    cluster_id: Id | None = None


class ExecutorOut(Out):
    id: int
    name: str
    cluster_id: int
    devices: list[int]
    url: str
    state: ExecutorState
    applied_version: int | None
    groups: list[Any] | None
    latency_s: dict[str, Any] | None
    errors: dict[str, str] | None
    last_heartbeat_at: dt.datetime | None
    healthy: bool
    created_at: dt.datetime


class HeartbeatOut(Out):
    id: int
    plan_version: int | None = Field(description="the cluster's current plan version")


def _out(row: Executor) -> dict[str, Any]:
    stale_s = float(current_app.config["EXECUTOR_STALE_S"])
    data = {c: getattr(row, c) for c in ExecutorOut.model_fields if c != "healthy"}
    return render(ExecutorOut, {**data, "healthy": executors.is_healthy(row, stale_s)})


@operation(
    bp,
    "/executors",
    "POST",
    summary="Register an executor (201), or re-register one by name (200)",
    permission=Permission.EXECUTE,
    body=ExecutorIn,
    response=ExecutorOut,
    status=201,
    alternatives={200: ExecutorOut},
    errors=(409,),
)
def register_executor(body: ExecutorIn) -> Response:
    db = session()
    cluster = db.get(Cluster, body.cluster_id)
    if cluster is None:
        raise invalid("cluster_id", f"cluster {body.cluster_id} does not exist")
    for i, device in enumerate(body.devices):
        if not 0 <= device < cluster.num_devices:
            raise invalid(f"devices[{i}]", f"must be in 0..{cluster.num_devices - 1}, got {device}")
    if len(set(body.devices)) != len(body.devices):
        raise invalid("devices", "lists a device twice")
    row, created = executors.register(
        db, name=body.name, cluster_id=cluster.id, devices=body.devices, url=body.url
    )
    db.commit()
    location = url_for("executors.get_executor", executor_id=row.id)
    return reply(_out(row), 201 if created else 200, {"Location": location})


list_view(
    bp,
    "/executors",
    "list_executors",
    Executor,
    _out,
    summary="List executors (filter by cluster)",
    response=ExecutorOut,
    query=ExecutorQuery,
    filters=("cluster_id",),
)
show_view(
    bp,
    "/executors/<int:executor_id>",
    "get_executor",
    Executor,
    _out,
    label="executor",
    summary="Show an executor and its health",
    response=ExecutorOut,
)


@operation(
    bp,
    "/executors/<int:executor_id>/heartbeat",
    "POST",
    summary="Report an executor's state, applied plan version and latencies",
    permission=Permission.EXECUTE,
    body=HeartbeatIn,
    response=HeartbeatOut,
)
def heartbeat(executor_id: int, body: HeartbeatIn) -> Response:
    db = session()
    row = found(db, Executor, executor_id, "executor")
    executors.heartbeat(
        db,
        row,
        state=body.state,
        applied_version=body.applied_version,
        groups=body.groups,
        latency_s={m: v.model_dump() for m, v in body.latency_s.items()},
        errors=body.errors,
    )
    measured = [loads.Load(x.model, x.group, x.seconds, x.bytes, x.version) for x in body.loads]
    loads.record(db, row.cluster_id, row.id, measured)
    db.commit()
    active = plans.active_plan(db, row.cluster_id)
    return reply({"id": row.id, "plan_version": active.version if active else None})


@operation(
    bp,
    "/executors/<int:executor_id>",
    "DELETE",
    summary="Deregister an executor",
    permission=Permission.EXECUTE,
    status=204,
)
def delete_executor(executor_id: int) -> Response:
    db = session()
    db.delete(found(db, Executor, executor_id, "executor"))
    db.commit()
    return Response(status=204)
