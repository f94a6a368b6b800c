"""Workloads: ``/v1/workloads``. A workload is given as JSON arrivals, as
arrival processes to draw from, or as an uploaded Azure Functions trace."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, current_app, url_for
from pydantic import ConfigDict, Field, model_validator

from api.arrivals import NPZ_MEDIA, ArrivalsFormat, chosen_format, json_page, npz_file
from api.auth import Permission
from api.database import session
from api.errors import from_value_error, invalid
from api.fields import Count, Positive, Seed, Text, exactly_one
from api.routing import Body, Out, Query, found, name_free, operation, render, reply
from api.uploads import TraceFormat, body_lines, read_trace
from api.views import list_view, show_view
from planner import domain
from planner.workloads import (
    TRACE_TIME_HELP,
    ArrivalBudgetError,
    ProcessSpec,
    TimeRange,
    process_workload,
)
from planner.workloads.arrivals import MAX_CV
from store.models import Workload
from store.repositories import catalog, workloads

bp = Blueprint("workloads", __name__)

ARRIVALS_PAGE = 100_000
"""Arrivals per JSON page unless ``limit`` says otherwise (about 2 MB)."""


class ProcessIn(Body):
    rate_rps: float = Field(ge=0, description="mean request rate (req/s)")
    cv: float = Field(1.0, ge=0, le=MAX_CV, description="CV of inter-arrival gaps (1 = Poisson)")


class WorkloadIn(Body):
    model_config = ConfigDict(json_schema_extra=exactly_one("arrivals_s", "processes"))

    name: Text = Field(min_length=1, max_length=128)
    duration_s: float = Field(gt=0)
    window_s: float | None = Field(None, gt=0, description="statistics window (default 60 s)")
    arrivals_s: dict[Text, list[float]] | None = Field(
        None,
        min_length=1,
        description="per model, its request arrival times (s, in [0, duration_s))",
    )
    processes: dict[Text, ProcessIn] | None = Field(
        None,
        min_length=1,
        description="per model, a Gamma arrival process to draw from; at most "
        "MAX_GENERATED_ARRIVALS arrivals in all (sum of rate_rps × duration_s)",
    )
    seed: Seed = Field(0, description="seed of the draw (with processes)")

    @model_validator(mode="after")
    def _one_source(self) -> WorkloadIn:
        if (self.arrivals_s is None) == (self.processes is None):
            raise ValueError("give exactly one of arrivals_s and processes")
        return self


class UploadQuery(Query):
    name: Text = Field(min_length=1, max_length=128)
    format: TraceFormat
    models: Text = Field(description="comma-separated model names; functions go round-robin")
    start: Text = Field("0.0.0", description=f"start of the range kept: {TRACE_TIME_HELP}")
    end: Text = Field(description=f"end of the range kept (exclusive): {TRACE_TIME_HELP}")
    day: Count = Field(0, description="azure2019: the day the file holds (d01 is 0)")
    window_s: float = Field(60.0, gt=0)
    seed: Seed = 0
    rate_scale: float = Field(
        1.0, ge=0, description="replayed rates × this; at most MAX_GENERATED_ARRIVALS in all"
    )
    cv_scale: float = Field(1.0, ge=0, le=MAX_CV, description="fitted CVs × this")
    replay: bool = Field(True, description="azure2021: redraw from per-window fits")


class ArrivalsQuery(Query):
    format: ArrivalsFormat | None = Field(
        None, description="json or npz (default: as Accept prefers, else json)"
    )
    offset: Count = Field(0, description="json: index of the page's first arrival")
    limit: Positive = Field(
        ARRIVALS_PAGE, description="json: arrivals per page (capped by ARRIVALS_PAGE_MAX)"
    )


class ArrivalsPage(Out):
    """Arrivals ``[offset, offset + len(arrivals_s))`` of a workload; the
    workload's JSON form (planner.domain.Workload) when it is one page."""

    model_names: list[str]
    duration_s: float
    meta: dict[str, Any]
    num_requests: int = Field(description="arrivals in the whole workload")
    offset: int
    arrivals_s: list[float] = Field(description="arrival times (s), non-decreasing")
    model_ids: list[int] = Field(description="index into model_names of each arrival")
    next: str | None = Field(description="the next page, or null on the last")


class WindowOut(Out):
    index: int
    start_s: float
    end_s: float
    rates_rps: dict[str, float]
    cv: dict[str, float | None]


class WorkloadOut(Out):
    id: int
    name: str
    source: str
    duration_s: float
    window_s: float
    num_requests: int
    model_names: list[str]
    meta: dict[str, Any]
    created_at: dt.datetime


class WorkloadDetail(WorkloadOut):
    windows: list[WindowOut]


def _check_models(names: Iterable[str], field: str) -> None:
    names = list(names)
    known = catalog.models_named(session(), names)
    for name in names:
        if name not in known:
            raise invalid(f"{field}.{name}" if field else "models", f"unknown model {name!r}")


def _window_s(requested: float | None, duration_s: float) -> float:
    window_s = requested if requested is not None else min(60.0, duration_s)
    limit = int(current_app.config["MAX_WINDOWS"])
    if duration_s / window_s > limit:  # ceil(x) > limit iff x > limit; inf too
        raise invalid("window_s", f"gives more than {limit} windows over {duration_s} s")
    return window_s


def _store(name: str, value: domain.Workload, source: str, window_s: float) -> Response:
    db = session()
    row = workloads.add_workload(db, name, value, source=source, window_s=window_s)
    db.commit()
    location = url_for("workloads.get_workload", workload_id=row.id)
    return reply(render(WorkloadDetail, row), 201, {"Location": location})


def _check_budget(processes: dict[str, ProcessIn], duration_s: float) -> None:
    """422 naming ``processes`` when they would draw more arrivals than
    ``MAX_GENERATED_ARRIVALS`` (expected count: rates times duration)."""
    limit = int(current_app.config["MAX_GENERATED_ARRIVALS"])
    expected = duration_s * sum(p.rate_rps for p in processes.values())
    if expected > limit:
        raise invalid(
            "processes",
            f"would generate about {expected:.3g} arrivals (rate_rps × duration_s), "
            f"more than MAX_GENERATED_ARRIVALS = {limit}",
        )


def _from_arrivals(arrivals: dict[str, list[float]], duration_s: float) -> domain.Workload:
    for name, times in arrivals.items():
        for i, t in enumerate(times):
            if not (math.isfinite(t) and 0 <= t < duration_s):
                raise invalid(f"arrivals_s.{name}[{i}]", f"must be in [0, {duration_s}), got {t}")
    return domain.Workload.merge(arrivals, duration_s)


@operation(
    bp,
    "/workloads",
    "POST",
    summary="Create a workload from JSON arrivals or arrival processes",
    permission=Permission.WRITE,
    body=WorkloadIn,
    response=WorkloadDetail,
    status=201,
    errors=(409,),
)
def create_workload(body: WorkloadIn) -> Response:
    name_free(session(), Workload, body.name, "workload")
    window_s = _window_s(body.window_s, body.duration_s)
    if body.arrivals_s is not None:
        _check_models(body.arrivals_s, "arrivals_s")
        value = _from_arrivals(body.arrivals_s, body.duration_s)
        return _store(body.name, value, "json", window_s)
    assert body.processes is not None
    _check_models(body.processes, "processes")
    _check_budget(body.processes, body.duration_s)
    specs = {n: ProcessSpec(p.rate_rps, p.cv) for n, p in body.processes.items()}
    try:
        value = process_workload(specs, body.duration_s, body.seed)
    except ValueError as error:
        raise from_value_error(error) from None
    return _store(body.name, value, "process", window_s)


@operation(
    bp,
    "/workloads/upload",
    "POST",
    summary="Create a workload from an Azure Functions trace file (streamed)",
    permission=Permission.WRITE,
    query=UploadQuery,
    response=WorkloadDetail,
    status=201,
    errors=(409,),
    body_media="text/csv",
)
def upload_workload(query: UploadQuery) -> Response:
    name_free(session(), Workload, query.name, "workload")
    names = [n.strip() for n in query.models.split(",") if n.strip()]
    if not names:
        raise invalid("models", "name at least one model")
    _check_models(names, "")
    try:
        time_range = TimeRange.parse(query.start, query.end)
        value = read_trace(
            query.format,
            body_lines(),
            names,
            time_range,
            day=query.day,
            window_s=query.window_s,
            seed=query.seed,
            rate_scale=query.rate_scale,
            cv_scale=query.cv_scale,
            replay=query.replay,
            max_arrivals=int(current_app.config["MAX_GENERATED_ARRIVALS"]),
        )
    except ArrivalBudgetError as error:
        raise invalid(
            "query.rate_scale",
            f"the replay would generate about {error.expected:.3g} arrivals, more than "
            f"MAX_GENERATED_ARRIVALS = {error.limit}; lower rate_scale or the time range",
        ) from None
    except ValueError as error:
        raise from_value_error(error) from None
    window_s = _window_s(query.window_s, value.duration_s)
    return _store(query.name, value, query.format.value, window_s)


list_view(
    bp,
    "/workloads",
    "list_workloads",
    Workload,
    WorkloadOut,
    summary="List workloads",
    response=WorkloadOut,
)
show_view(
    bp,
    "/workloads/<int:workload_id>",
    "get_workload",
    Workload,
    WorkloadDetail,
    label="workload",
    summary="Show a workload with its per-window rates and CVs",
    response=WorkloadDetail,
)


@operation(
    bp,
    "/workloads/<int:workload_id>/arrivals",
    "GET",
    summary="A workload's arrivals: JSON pages, or the whole workload as a .npz file "
    "(format=npz or Accept: application/x-npz)",
    permission=Permission.READ,
    query=ArrivalsQuery,
    response=ArrivalsPage,
    errors=(406,),
    other_media={NPZ_MEDIA: "the workload file of planner.files (load_workload reads it)"},
)
def get_arrivals(workload_id: int, query: ArrivalsQuery) -> Response:
    row = found(session(), Workload, workload_id, "workload")
    if chosen_format(query.format) == ArrivalsFormat.JSON:
        limit = min(query.limit, int(current_app.config["ARRIVALS_PAGE_MAX"]))
        return json_page(session(), row, query.offset, limit)
    paged = sorted(query.model_fields_set & {"offset", "limit"})
    if paged:
        raise invalid(paged[0], "pages are for format=json; npz is the whole workload")
    return npz_file(session(), row)
