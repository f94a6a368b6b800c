"""The live re-planner of a cluster: its settings
(``/v1/clusters/{id}/replanner``; turning it on queues the job that decides
the next window, :mod:`api.replanner_jobs`) and its decisions, one at each
window's start and, with the drift watch, one at each check inside it that
re-solved (``/v1/clusters/{id}/decisions``)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any

from flask import Blueprint, Response
from pydantic import Field
from sqlalchemy import select

from api import replanner_jobs
from api.auth import Permission
from api.database import session
from api.errors import invalid
from api.fields import INTEGRAL, Text
from api.routing import Body, Out, PageQuery, found, operation, reply
from api.views import page_limit, paged
from planner.replan.forecast import FORECASTER_SPECS
from planner.replan.live import MAX_REACT_DRIFT, MAX_TRUST_WINDOWS
from store.enums import DecisionAction, JobStatus
from store.models import Cluster, ReplanDecision
from store.repositories import jobs, replanner
from store.repositories.pages import page

bp = Blueprint("replanner", __name__)

DEFAULTS = replanner.SETTING_DEFAULTS


class ReplannerIn(Body):
    """A cluster's re-planner settings; an absent field takes its default."""

    enabled: bool = Field(DEFAULTS["enabled"], description="the off switch")
    window_s: Annotated[int, Field(ge=1, le=86400), INTEGRAL] = Field(
        DEFAULTS["window_s"], description="decide every window of this many seconds"
    )
    forecaster: Text = Field(
        DEFAULTS["forecaster"],
        min_length=1,
        max_length=64,
        description=FORECASTER_SPECS,
    )
    min_gain: float = Field(
        DEFAULTS["min_gain"], ge=0, le=1, description="judged attainment a switch must gain"
    )
    max_switches_per_hour: Annotated[int, Field(ge=0, le=3600), INTEGRAL] = Field(
        DEFAULTS["max_switches_per_hour"], description="switches and reverts in any hour"
    )
    revert_margin: float = Field(
        DEFAULTS["revert_margin"],
        ge=0,
        le=1,
        description="revert a switch whose next window replays this much below keeping",
    )
    trust_windows: Annotated[int, Field(ge=0, le=MAX_TRUST_WINDOWS), INTEGRAL] = Field(
        DEFAULTS["trust_windows"],
        description=(
            "windows over which the forecast's plans must have served as well as the"
            " history plan's to stay candidates (0: always)"
        ),
    )
    react_drift: float = Field(
        DEFAULTS["react_drift"],
        ge=0,
        le=MAX_REACT_DRIFT,
        description=(
            "re-solve inside a window when the traffic mix drifted this far from the mix"
            " planned for (total variation or relative rate change; 0: no watch)"
        ),
    )
    nowcast_s: Annotated[int, Field(ge=0, le=86399), INTEGRAL] = Field(
        DEFAULTS["nowcast_s"],
        description=(
            "check the mix every this many seconds into a window; the forecast weighs as"
            " this many seconds of the window's traffic (below window_s; 0: off)"
        ),
    )


class ReplannerOut(Out):
    cluster_id: int
    enabled: bool
    window_s: int
    forecaster: str
    min_gain: float
    max_switches_per_hour: int
    revert_margin: float
    trust_windows: int
    react_drift: float
    nowcast_s: int
    job_id: int | None = Field(description="the queued or running job of the next decision")
    next_window: int | None = Field(description="start (unix s) of the window it decides")
    next_at_s: int | None = Field(description="seconds into that window (0: its start)")


class SwitchCostOut(Out):
    replicas_loaded: int
    load_s: float
    lost_replica_s: float


class StepOut(Out):
    group: int = Field(description="load: the new placement's group; evict: the old one's")
    action: str = Field(description="load or evict")
    model: str


class DecisionOut(Out):
    id: int
    cluster_id: int
    window_start: int = Field(description="unix s")
    window_end: int
    at_s: int = Field(description="seconds into the window: 0 at its start, else a drift check")
    window_s: int
    forecaster: str
    action: DecisionAction
    chosen: bool = Field(description="a switch or revert that was applied")
    reason: str
    forecast_rps: dict[str, float] = Field(
        description="forecast requests/s per model (a drift check: the nowcast)"
    )
    observed: dict[str, int] = Field(
        description="requests per model in the window before (a drift check: in the window so far)"
    )
    keep_attainment: float | None = Field(description="judged attainment of keeping")
    candidate_attainment: float | None = Field(description="judged attainment of the switch")
    replayed_switch: float | None = Field(description="revert check: the last window replayed")
    replayed_keep: float | None = Field(description="revert check: the same on the old plan")
    switch_cost: SwitchCostOut
    load_s: dict[str, float] = Field(description="measured load time per model it used (s)")
    steps: list[StepOut]
    from_version: int | None
    from_plan_id: int | None
    version: int | None = Field(description="the plan version it activated")
    plan_id: int | None
    created_at: dt.datetime


def _settings_out(cluster_id: int) -> dict[str, Any]:
    db = session()
    pending = replanner.pending_job(db, cluster_id)
    return {
        "cluster_id": cluster_id,
        **replanner.settings_of(db, cluster_id),
        "job_id": pending.id if pending is not None else None,
        "next_window": replanner.window_start_of(pending) if pending is not None else None,
        "next_at_s": replanner.at_of(pending) if pending is not None else None,
    }


@operation(
    bp,
    "/clusters/<int:cluster_id>/replanner",
    "GET",
    summary="The cluster's live re-planner settings and its next decision's job",
    permission=Permission.READ,
    response=ReplannerOut,
)
def get_replanner(cluster_id: int) -> Response:
    found(session(), Cluster, cluster_id, "cluster")
    return reply(_settings_out(cluster_id))


@operation(
    bp,
    "/clusters/<int:cluster_id>/replanner",
    "PUT",
    summary="Set the cluster's live re-planner settings (enabled: queue the next window's job)",
    permission=Permission.WRITE,
    body=ReplannerIn,
    response=ReplannerOut,
)
def put_replanner(cluster_id: int, body: ReplannerIn) -> Response:
    db = session()
    found(db, Cluster, cluster_id, "cluster")
    values = body.model_dump()
    try:
        replanner_jobs.live_settings(values)
    except ValueError as error:
        field, _, message = str(error).partition(": ")
        raise invalid("forecaster" if field == "forecast" else field, message) from None
    replanner.put_settings(db, cluster_id, values)
    pending = replanner.pending_job(db, cluster_id)
    if not body.enabled and pending is not None and pending.status == JobStatus.QUEUED:
        jobs.request_cancel(db, pending)
    replanner_jobs.ensure_scheduled(db, cluster_id, values, time.time())
    db.commit()
    return reply(_settings_out(cluster_id))


def _decision_out(row: ReplanDecision) -> dict[str, Any]:
    data = {name: getattr(row, name) for name in DecisionOut.model_fields if name != "window_end"}
    data["window_end"] = row.window_start + row.window_s
    return DecisionOut.model_validate(data).model_dump(mode="json")


@operation(
    bp,
    "/clusters/<int:cluster_id>/decisions",
    "GET",
    summary="The live re-planner's decisions for the cluster (window starts and drift checks)",
    permission=Permission.READ,
    query=PageQuery,
    response=DecisionOut,
)
def list_decisions(cluster_id: int, query: PageQuery) -> Response:
    db = session()
    found(db, Cluster, cluster_id, "cluster")
    statement = select(ReplanDecision).where(ReplanDecision.cluster_id == cluster_id)
    result = page(db, statement, ReplanDecision.id, limit=page_limit(query), after=query.after)
    return paged(result, _decision_out, query, cluster_id=cluster_id)
