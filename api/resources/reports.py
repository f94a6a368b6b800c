"""Reports: ``/v1/reports``, stored comparisons (solver vs solver, static
vs re-placement) as the JSON data of :mod:`planner.evaluation.reports`.

``POST`` takes ``{"data": <report JSON>}`` (``kind`` and ``title`` default
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
from pydantic import Field

from api.auth import Permission
from api.database import session
from api.errors import Problem, from_value_error, invalid
from api.report_pages import report_page
from api.reporting.renderer import RendererMissing
from api.routing import Body, Out, found, operation, render, reply
from api.views import list_view
from planner.evaluation.reports import parse_report
from store.models import Report

bp = Blueprint("reports", __name__)

MEDIA_TYPES = ("application/json", "text/html")
"""What ``GET /v1/reports/{id}`` can answer, the default first."""


class ReportIn(Body):
    kind: str | None = Field(None, min_length=1, max_length=32)
    title: str | None = Field(None, min_length=1, max_length=200)
    data: dict[str, Any]


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
    errors=(422,),
)
def create_report(body: ReportIn) -> Response:
    try:
        report = parse_report(body.data, "data")
    except ValueError as error:
        raise from_value_error(error) from None
    if body.kind is not None and body.kind != report.kind:
        raise invalid("kind", f"{body.kind!r} differs from data.kind {report.kind!r}")
    db = session()
    row = Report(kind=report.kind, title=body.title or report.title, data=body.data)
    db.add(row)
    db.commit()
    location = url_for("reports.get_report", report_id=row.id)
    return reply(render(ReportDetail, row), 201, {"Location": location})


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
    errors=(404, 406),
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
