"""Clusters: ``/v1/clusters``."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, url_for
from pydantic import Field
from sqlalchemy.orm import selectinload

from api.auth import Permission
from api.database import session
from api.errors import from_value_error
from api.fields import Bytes, Positive, Text
from api.routing import Body, Out, name_free, operation, render, reply
from api.views import list_view, show_view
from planner import domain
from store.models import Cluster
from store.repositories import catalog

bp = Blueprint("clusters", __name__)


class ClusterIn(Body):
    name: Text = Field(min_length=1, max_length=128)
    num_devices: Positive
    device_mem_bytes: Bytes = Field(description="memory per device (bytes)")
    devices_per_node: Positive = 8
    load_bw_bytes_per_s: float = Field(8e9, gt=0, description="host-to-device load bandwidth")
    load_overhead_s: float = Field(0.0, ge=0, description="fixed cost of loading a replica")


class ActiveOut(Out):
    plan_id: int
    version: int
    activated_at: dt.datetime


class ClusterOut(Out):
    id: int
    name: str
    num_devices: int
    device_mem_bytes: int
    devices_per_node: int
    load_bw_bytes_per_s: float
    load_overhead_s: float
    created_at: dt.datetime
    active: ActiveOut | None = Field(description="the active plan and its version")


@operation(
    bp,
    "/clusters",
    "POST",
    summary="Create a cluster",
    permission=Permission.WRITE,
    body=ClusterIn,
    response=ClusterOut,
    status=201,
    errors=(409,),
)
def create_cluster(body: ClusterIn) -> Response:
    db = session()
    name_free(db, Cluster, body.name, "cluster")
    fields = body.model_dump(exclude={"name"})
    try:
        value = domain.Cluster(**fields)
    except ValueError as error:
        raise from_value_error(error) from None
    row = catalog.add_cluster(db, body.name, value)
    db.commit()
    location = url_for("clusters.get_cluster", cluster_id=row.id)
    return reply(render(ClusterOut, row), 201, {"Location": location})


list_view(
    bp,
    "/clusters",
    "list_clusters",
    Cluster,
    ClusterOut,
    summary="List clusters",
    response=ClusterOut,
    options=(selectinload(Cluster.active),),
)
show_view(
    bp,
    "/clusters/<int:cluster_id>",
    "get_cluster",
    Cluster,
    ClusterOut,
    label="cluster",
    summary="Show a cluster and its active plan",
    response=ClusterOut,
)
