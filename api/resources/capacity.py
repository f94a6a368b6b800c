"""``POST /v1/capacity``: queue a job finding the fewest devices that reach
a target SLO attainment (202 + the job's URL; :mod:`api.capacity_jobs`)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from flask import Blueprint, Response, url_for
from pydantic import ConfigDict, Field, model_validator

from api.auth import Permission
from api.capacity_jobs import capacity_options
from api.database import session
from api.errors import from_value_error, invalid
from api.fields import INTEGRAL, MAXIMUM_SETTING, Id, Text, at_most_one
from api.resources.jobs import JobDetail
from api.resources.plans import (
    as_chosen,
    check_time_limit,
    chosen_models,
    referenced,
    solver_names,
)
from api.routing import Body, operation, render, reply
from planner.placement.feasibility import check_models_fit
from planner.sim import check_models
from store.enums import JobKind
from store.models import Cluster, Workload
from store.repositories import catalog, jobs

bp = Blueprint("capacity", __name__)

MAX_DEVICES = 4096
"""The largest ``max_devices`` a capacity job may try."""


class CapacityIn(Body):
    model_config = ConfigDict(json_schema_extra=at_most_one("model_ids", "model_names"))

    cluster_id: Id = Field(description="the template: memory, devices per node, bandwidth")
    workload_id: Id
    model_ids: list[Id] | None = Field(
        None, min_length=1, description="default: the workload's models"
    )
    model_names: list[Text] | None = Field(None, min_length=1)
    target: float = Field(0.99, gt=0, le=1, description="SLO attainment to reach")
    solver: str = Field(
        "greedy",
        description="a static solver, searched beside sr and clockwork",
        json_schema_extra=lambda schema: schema.update(enum=list(solver_names())),
    )
    max_devices: Annotated[int, Field(ge=1, le=MAX_DEVICES), INTEGRAL] | None = Field(
        None, description="largest count tried (default: the cluster's)"
    )
    time_limit_s: float = Field(
        300.0,
        gt=0,
        description="seconds for the whole search, at most TIME_LIMIT_MAX_S",
        json_schema_extra={MAXIMUM_SETTING: "TIME_LIMIT_MAX_S"},
    )

    @model_validator(mode="after")
    def _one_choice(self) -> CapacityIn:
        if self.model_ids is not None and self.model_names is not None:
            raise ValueError("give at most one of model_ids and model_names")
        return self


@operation(
    bp,
    "/capacity",
    "POST",
    summary="Queue a search for the fewest devices reaching a target attainment (202 + job)",
    permission=Permission.WRITE,
    body=CapacityIn,
    response=JobDetail,
    status=202,
    errors=(400, 415, 422),
)
def create_capacity_job(body: CapacityIn) -> Response:
    cluster = referenced(Cluster, body.cluster_id, "cluster_id", "cluster")
    workload = referenced(Workload, body.workload_id, "workload_id", "workload")
    models = chosen_models(body, workload.model_names)
    if body.solver not in solver_names():
        choices = ", ".join(solver_names())
        raise invalid("solver", f"must be one of {choices}; got {body.solver!r}")
    check_time_limit(body.time_limit_s)
    db = session()
    template = catalog.cluster_value(cluster)
    max_devices = body.max_devices or template.num_devices
    try:
        specs = catalog.model_values(db, models)
        check_models(specs, workload.model_names)
        check_models_fit(dataclasses.replace(template, num_devices=max_devices), specs)
    except ValueError as error:
        raise from_value_error(ValueError(as_chosen(str(error), body))) from None
    job = jobs.enqueue(
        db,
        cluster_id=cluster.id,
        workload_id=workload.id,
        models=models,
        solver=body.solver,
        time_limit_s=body.time_limit_s,
        options=capacity_options(body.target, max_devices),
        activate=False,
        kind=JobKind.CAPACITY,
    )
    db.commit()
    location = url_for("jobs.get_job", job_id=job.id)
    return reply(render(JobDetail, job), 202, {"Location": location})
