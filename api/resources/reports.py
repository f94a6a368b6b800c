"""Reports: ``/v1/reports``, stored comparisons (solver vs solver, static
vs re-placement) as the JSON data of :mod:`planner.evaluation.reports`.

``POST`` takes ``{"compare": {"job_ids": [1, 2]}}`` to build the
comparison of those jobs' plans in the request (simulation only, no solve:
:mod:`api.stored_compare`), or ``{"data": <report JSON>}`` (``kind`` and ``title`` default
to the data's own and must agree with it); the data must parse as a report
of its kind, else 422 naming the field (``data.rows[0].attainment``).
``GET /v1/reports/{id}`` answers JSON, or the self-contained HTML page when
the ``Accept`` header prefers ``text/html`` (a browser does). The page is
rendered on the first such request and kept (:mod:`api.report_pages`); it
comes with its ``ETag``, and ``If-None-Match`` with that tag gets 304. A
service installed without the ``report`` extra (matplotlib) starts without
it and answers a page that was never rendered with 406."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, request, url_for
from pydantic import ConfigDict, Field, model_validator

from api import stored_compare
from api.auth import Permission
from api.database import session
from api.errors import Problem, from_value_error, invalid
from api.fields import Id, JsonObject, Text, exactly_one
from api.report_pages import report_page
from api.reporting.renderer import RendererMissing
from api.resources.jobs import JobOut
from api.resources.plans import PlanOut
from api.routing import Body, Out, found, operation, render, reply
from api.views import list_view
from planner.codec import encode
from planner.evaluation.reports import CompareReport, parse_report
from store.models import Cluster, Plan, PlanJob, Report, Workload
from store.repositories import catalog, workloads

bp = Blueprint("reports", __name__)

MEDIA_TYPES = ("application/json", "text/html")
"""What ``GET /v1/reports/{id}`` can answer, the default first."""


COMPARE_JOBS_MAX = 16
"""Most jobs one server-side comparison simulates."""


class CompareIn(Body):
    job_ids: list[Id] = Field(
        min_length=1,
        max_length=COMPARE_JOBS_MAX,
        description="succeeded plan jobs on one cluster and workload; their plans are "
        "simulated on it, not solved again",
    )


class ReportIn(Body):
    model_config = ConfigDict(json_schema_extra=exactly_one("data", "compare"))

    kind: Text | None = Field(None, min_length=1, max_length=32)
    title: Text | None = Field(None, min_length=1, max_length=200)
    data: JsonObject | None = Field(None, description="a report's JSON data to store")
    compare: CompareIn | None = Field(
        None, description="build and store the comparison of these jobs' plans"
    )

    @model_validator(mode="after")
    def _one_source(self) -> ReportIn:
        if (self.data is None) == (self.compare is None):
            raise ValueError("give exactly one of data and compare")
        return self


class ReportOut(Out):
    id: int
    kind: str
    title: str
    created_at: dt.datetime


class ReportDetail(ReportOut):
    data: dict[str, Any]


@operation(
    bp,
    "/reports",
    "POST",
    summary="Store a report",
    permission=Permission.WRITE,
    body=ReportIn,
    response=ReportDetail,
    status=201,
)
def create_report(body: ReportIn) -> Response:
    if body.compare is not None:
        data = encode(_compared(body.compare.job_ids, body.title or "Solver comparison"))
    else:
        assert body.data is not None
        data = body.data
    try:
        report = parse_report(data, "data")
    except ValueError as error:
        raise from_value_error(error) from None
    if body.kind is not None and body.kind != report.kind:
        raise invalid("kind", f"{body.kind!r} differs from data.kind {report.kind!r}")
    db = session()
    row = Report(kind=report.kind, title=body.title or report.title, data=data)
    db.add(row)
    db.commit()
    location = url_for("reports.get_report", report_id=row.id)
    return reply(render(ReportDetail, row), 201, {"Location": location})


def _compared(job_ids: list[int], title: str) -> CompareReport:
    """The comparison of the jobs' plans (:mod:`api.stored_compare`); 422
    naming ``compare.job_ids[i]`` for a job that is missing or cannot be
    compared."""
    db = session()
    where = "compare.job_ids"
    jobs = []
    for i, ident in enumerate(job_ids):
        row = db.get(PlanJob, ident)
        if row is None:
            raise invalid(f"{where}[{i}]", f"job {ident} does not exist")
        jobs.append(render(JobOut, row))
    try:
        for i, job in enumerate(jobs):
            stored_compare.check_job(job, f"{where}[{i}]")
        plan_rows = [render(PlanOut, db.get_one(Plan, job["plan_id"])) for job in jobs]
        stored = stored_compare.stored_plans(jobs, plan_rows, where)
        by_id = catalog.models_with_ids(db, stored.model_ids)
        return stored_compare.build(
            stored,
            catalog.cluster_value(db.get_one(Cluster, stored.cluster_id)),
            catalog.model_values(db, [by_id[i] for i in stored.model_ids]),
            workloads.workload_value(db.get_one(Workload, stored.workload_id)),
            title,
        )
    except ValueError as error:
        raise from_value_error(error) from None


list_view(
    bp, "/reports", "list_reports", Report, ReportOut, summary="List reports", response=ReportOut
)


@operation(
    bp,
    "/reports/<int:report_id>",
    "GET",
    summary="Show a report: its JSON data, or its HTML page (Accept: text/html)",
    permission=Permission.READ,
    response=ReportDetail,
    errors=(406,),
)
def get_report(report_id: int) -> Response:
    row = found(session(), Report, report_id, "report")
    accept = request.accept_mimetypes
    media = accept.best_match(MEDIA_TYPES) if accept else MEDIA_TYPES[0]
    if media is None:
        raise Problem(406, f"Accept: a report is served as {' or '.join(MEDIA_TYPES)}")
    if media == "text/html":
        try:
            page = report_page(row)
        except RendererMissing as error:
            raise Problem(
                406, f"Accept: text/html: {error}; this service answers application/json"
            ) from None
        headers = {"Vary": "Accept", "ETag": f'"{page.etag}"', "Cache-Control": "no-cache"}
        if request.if_none_match.contains_weak(page.etag):
            return Response(status=304, headers=headers)
        return Response(page.html, mimetype="text/html", headers=headers)
    response = reply(render(ReportDetail, row))
    response.headers["Vary"] = "Accept"
    return response
