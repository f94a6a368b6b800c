"""Plans: ``POST /v1/plans`` queues a solve job (202) or stores a given
placement (201); ``/v1/plans/{id}``; a cluster's active plan, which
executors poll with ``If-None-Match``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from flask import Blueprint, Response, current_app, request, url_for
from pydantic import ConfigDict, Field, model_validator

from api.auth import Permission
from api.database import session
from api.errors import Problem, from_value_error, invalid
from api.fields import MAXIMUM_SETTING, Id, JsonObject, Text, at_most_one, exactly_one
from api.resources.jobs import JobDetail
from api.routing import Body, Out, PageQuery, found, operation, render, reply
from api.stages import stage_ranges
from api.views import list_view, show_view
from planner import domain
from planner.codec import decode
from planner.fanout import check_backend
from planner.placement.feasibility import check_some_fit
from planner.placement.options import backend_hint, split_options
from planner.replan import timed
from planner.sim import check_models
from planner.validation import validate
from store.models import ActivePlan, Cluster, Model, Plan, Workload
from store.repositories import catalog, jobs, plans

bp = Blueprint("plans", __name__)


class PlanIn(Body):
    model_config = ConfigDict(
        json_schema_extra={
            **exactly_one("workload_id", "placement"),
            **at_most_one("model_ids", "model_names"),
        }
    )

    cluster_id: Id
    workload_id: Id | None = Field(None, description="solve for this workload (202 + job)")
    placement: JsonObject | None = Field(
        None, description="store this Placement JSON as a plan (201)"
    )
    model_ids: list[Id] | None = Field(
        None, min_length=1, description="default: the workload's models"
    )
    model_names: list[Text] | None = Field(None, min_length=1)
    solver: str = Field(
        "auto",
        description="a static solver (time-varying strategies plan elsewhere)",
        json_schema_extra=lambda schema: schema.update(enum=list(solver_names())),
    )
    time_limit_s: float = Field(
        60.0,
        gt=0,
        description="solver wall-time limit (s), at most TIME_LIMIT_MAX_S",
        json_schema_extra={MAXIMUM_SETTING: "TIME_LIMIT_MAX_S"},
    )
    options: JsonObject = Field(
        default_factory=dict,
        description="planner SolveOptions; backend ray needs Ray installed (else 422); a "
        "worker that cannot join the cluster fails the job",
    )
    activate: bool = Field(False, description="activate the plan once it exists")

    @model_validator(mode="after")
    def _one_source(self) -> PlanIn:
        if (self.workload_id is None) == (self.placement is None):
            raise ValueError("give exactly one of workload_id and placement")
        if self.model_ids is not None and self.model_names is not None:
            raise ValueError("give at most one of model_ids and model_names")
        return self


class PlanQuery(PageQuery):
    cluster_id: Id | None = None


class PlanOut(Out):
    id: int
    cluster_id: int
    job_id: int | None
    solver: str | None
    placement: dict[str, Any]
    models: dict[str, Any]
    attainment: float | None
    objective: float | None
    created_at: dt.datetime


class ActivateIn(Body):
    plan_id: Id


class ActivatedOut(Out):
    cluster_id: int
    plan_id: int
    version: int
    activated_at: dt.datetime


class TransitionStepOut(Out):
    group: int = Field(
        description="load: a group of this version's placement; evict: of from_version's "
        "(a group kept from from_version keeps its index)"
    )
    action: Literal["load", "evict"]
    model: str


class TransitionOut(Out):
    from_version: int
    steps: list[TransitionStepOut] = Field(
        description="in order; no device exceeds its memory at any step"
    )


class ServedPlanOut(Out):
    cluster_id: int
    plan_id: int
    version: int
    placement: dict[str, Any]
    models: dict[str, Any]
    transition: TransitionOut | None = Field(
        description="the re-planner's steps from the previous version; null when activated by hand"
    )
    stages: list[dict[str, list[list[int]]]] = Field(
        description="per group of the placement, {model: [[start, end], ...]}: the layer "
        "ranges of each pipeline stage of the model's parallel plan on that group "
        "(models without an architecture are left out)"
    )


def check_time_limit(time_limit_s: float) -> None:
    """422 naming ``time_limit_s`` when it is above the ``TIME_LIMIT_MAX_S``
    setting (seconds)."""
    limit = float(current_app.config["TIME_LIMIT_MAX_S"])
    if time_limit_s > limit:
        raise invalid("time_limit_s", f"must be at most {limit}, got {time_limit_s}")


def solver_names() -> tuple[str, ...]:
    """Names ``planner.placement.solve.solve`` accepts (imported on first use: the
    solvers pull in OR-Tools and PuLP)."""
    from planner.placement.solve import SOLVERS

    return tuple(SOLVERS)


class ModelChoice(Protocol):
    """A body naming models by ``model_ids`` or ``model_names`` (or neither)."""

    model_ids: list[int] | None
    model_names: list[str] | None


def referenced(model: type[Any], ident: int, field: str, label: str) -> Any:
    row = session().get(model, ident)
    if row is None:
        raise invalid(field, f"{label} {ident} does not exist")
    return row


def chosen_models(body: ModelChoice, default_names: Sequence[str]) -> list[Model]:
    """The models named by ``model_ids`` or ``model_names`` (422 for an
    unknown one), else the stored ones among ``default_names``."""
    db = session()
    if body.model_ids is not None:
        by_id = catalog.models_with_ids(db, body.model_ids)
        for i, ident in enumerate(body.model_ids):
            if ident not in by_id:
                raise invalid(f"model_ids[{i}]", f"model {ident} does not exist")
        return [by_id[ident] for ident in dict.fromkeys(body.model_ids)]
    names = body.model_names if body.model_names is not None else list(default_names)
    by_name = catalog.models_named(db, names)
    for i, name in enumerate(names):
        if name not in by_name and body.model_names is not None:
            raise invalid(f"model_names[{i}]", f"unknown model {name!r}")
    return [by_name[name] for name in dict.fromkeys(names) if name in by_name]


def as_chosen(message: str, body: ModelChoice) -> str:
    """A check's message on the chosen models, naming the field that chose
    them (the workload's, when none is given): the checks say ``models``
    (numbered in the order given) and ``workload.model_names`` (a workload
    model left out)."""
    field, sep, rest = message.partition(": ")
    if not (field.startswith("models") or field == "workload.model_names"):
        return message
    if body.model_ids is None and body.model_names is None:
        return f"workload_id{sep}{rest}"
    chosen = "model_ids" if body.model_ids is not None else "model_names"
    return f"{chosen}{field.removeprefix('models').removeprefix('workload.model_names')}{sep}{rest}"


@operation(
    bp,
    "/plans",
    "POST",
    summary="Plan: queue a solve job (202, Location: the job) or store a placement (201)",
    permission=Permission.WRITE,
    body=PlanIn,
    response=JobDetail,
    status=202,
    alternatives={201: PlanOut},
    errors=(409,),
)
def create_plan(body: PlanIn) -> Response:
    cluster = referenced(Cluster, body.cluster_id, "cluster_id", "cluster")
    if body.placement is not None:
        return _store_placement(body, cluster, body.placement)
    assert body.workload_id is not None
    workload = referenced(Workload, body.workload_id, "workload_id", "workload")
    models = chosen_models(body, workload.model_names)
    if body.solver not in solver_names():
        choices = ", ".join(solver_names())
        if body.solver in timed.TIMED_STRATEGIES:
            raise invalid(
                "solver",
                f"{body.solver!r} is a time-varying strategy, not a static solver; "
                f"choose one of {choices}",
            )
        raise invalid(
            "solver",
            f"must be one of {choices}; got {body.solver!r}{backend_hint(body.solver)}",
        )
    check_time_limit(body.time_limit_s)
    db = session()
    try:
        _, solving = split_options(body.options)
        check_backend(solving.backend, solving.ray_address, probe=False)
        specs = catalog.model_values(db, models)
        check_models(specs, workload.model_names)
        check_some_fit(catalog.cluster_value(cluster), specs)  # the solver sets the rest aside
    except ValueError as error:
        raise from_value_error(ValueError(as_chosen(str(error), body))) from None
    job = jobs.enqueue(
        db,
        cluster_id=cluster.id,
        workload_id=workload.id,
        models=models,
        solver=body.solver,
        time_limit_s=body.time_limit_s,
        options=body.options,
        activate=body.activate,
    )
    db.commit()
    location = url_for("jobs.get_job", job_id=job.id)
    return reply(render(JobDetail, job), 202, {"Location": location})


def _store_placement(body: PlanIn, cluster: Cluster, data: dict[str, Any]) -> Response:
    db = session()
    try:
        placement = decode(domain.Placement, data, "placement")
    except ValueError as error:
        raise from_value_error(error) from None
    models = chosen_models(body, sorted(placement.model_names))
    try:
        validate(catalog.cluster_value(cluster), catalog.model_values(db, models), placement)
    except ValueError as error:
        raise from_value_error(ValueError(f"placement.{error}")) from None
    plan = plans.add_plan(db, cluster.id, placement, plans.model_snapshot(db, models))
    if body.activate:
        plans.activate(db, plan)
    db.commit()
    location = url_for("plans.get_plan", plan_id=plan.id)
    return reply(render(PlanOut, plan), 201, {"Location": location})


list_view(
    bp,
    "/plans",
    "list_plans",
    Plan,
    PlanOut,
    summary="List plans (filter by cluster)",
    response=PlanOut,
    query=PlanQuery,
    filters=("cluster_id",),
)
show_view(
    bp,
    "/plans/<int:plan_id>",
    "get_plan",
    Plan,
    PlanOut,
    label="plan",
    summary="Show a plan",
    response=PlanOut,
)


@operation(
    bp,
    "/clusters/<int:cluster_id>/active-plan",
    "POST",
    summary="Activate a plan for its cluster (bumps the plan version)",
    permission=Permission.WRITE,
    body=ActivateIn,
    response=ActivatedOut,
)
def activate_plan(cluster_id: int, body: ActivateIn) -> Response:
    db = session()
    found(db, Cluster, cluster_id, "cluster")
    plan = referenced(Plan, body.plan_id, "plan_id", "plan")
    if plan.cluster_id != cluster_id:
        raise invalid("plan_id", f"plan {plan.id} is for cluster {plan.cluster_id}")
    active = plans.activate(db, plan)
    db.commit()
    return reply(render(ActivatedOut, active))


def _transition_of(active: ActivePlan | None, version: int) -> Any:
    """The transition served with ``version`` (None if another version is
    active by now: the next poll serves that one)."""
    return active.transition if active is not None and active.version == version else None


def etag_of(plan_id: int, version: int) -> str:
    """The entity tag of a served plan (unquoted)."""
    return f"{plan_id}-v{version}"


@operation(
    bp,
    "/clusters/<int:cluster_id>/plan",
    "GET",
    summary="The cluster's active plan, for executors (ETag; If-None-Match gives 304)",
    permission=Permission.READ,
    response=ServedPlanOut,
    errors=(304,),
)
def served_plan(cluster_id: int) -> Response:
    db = session()
    current = plans.active_version(db, cluster_id)
    if current is None:
        found(db, Cluster, cluster_id, "cluster")
        raise Problem(404, f"cluster {cluster_id} has no active plan")
    plan_id, version = current
    etag = etag_of(plan_id, version)
    headers = {"ETag": f'"{etag}"', "Cache-Control": "no-cache"}
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    plan = db.get_one(Plan, plan_id)
    cluster = db.get_one(Cluster, cluster_id)
    placement = decode(domain.Placement, plan.placement, "placement")
    body = {
        "cluster_id": cluster_id,
        "plan_id": plan.id,
        "version": version,
        "placement": plan.placement,
        "models": plan.models,
        "transition": _transition_of(db.get(ActivePlan, cluster_id), version),
        "stages": stage_ranges(
            placement, plan.models, cluster.device_mem_bytes, cluster.devices_per_node
        ),
    }
    return reply(render(ServedPlanOut, body), headers=headers)
