"""Reports: ``/v1/reports``, stored comparisons (solver vs solver, static
vs re-placement) as the JSON data of :mod:`planner.evaluation.reports`.

``POST`` takes ``{"data": <report JSON>}`` (``kind`` and ``title`` default
to the data's own and must agree with it); the data must parse as a report
of its kind, else 422 naming the field (``data.rows[0].attainment``).
``GET /v1/reports/{id}`` answers JSON, or the self-contained HTML page when
the ``Accept`` header prefers ``text/html`` (a browser does)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, request, url_for
from pydantic import Field

from api.auth import Permission
from api.database import session
from api.errors import Problem, from_value_error, invalid
from api.fields import JsonObject, Text
from api.reporting.html import render_html
from api.routing import Body, Out, found, operation, render, reply
from api.views import list_view
from planner.evaluation.reports import parse_report
from store.models import Report

bp = Blueprint("reports", __name__)

MEDIA_TYPES = ("application/json", "text/html")
"""What ``GET /v1/reports/{id}`` can answer, the default first."""


class ReportIn(Body):
    kind: Text | None = Field(None, min_length=1, max_length=32)
    title: Text | None = Field(None, min_length=1, max_length=200)
    data: JsonObject


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
    errors=(406,),
)
def get_report(report_id: int) -> Response:
    row = found(session(), Report, report_id, "report")
    accept = request.accept_mimetypes
    media = accept.best_match(MEDIA_TYPES) if accept else MEDIA_TYPES[0]
    if media is None:
        raise Problem(406, f"Accept: a report is served as {' or '.join(MEDIA_TYPES)}")
    if media == "text/html":
        page = render_html(parse_report(row.data, "data"))
        return Response(page, mimetype="text/html", headers={"Vary": "Accept"})
    response = reply(render(ReportDetail, row))
    response.headers["Vary"] = "Accept"
    return response
