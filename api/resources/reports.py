"""Reports: ``/v1/reports``, stored comparisons (solver vs solver, static
vs re-placement) as JSON data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, url_for
from pydantic import Field

from api.auth import Permission
from api.database import session
from api.routing import Body, Out, operation, render, reply
from api.views import list_view, show_view
from store.models import Report

bp = Blueprint("reports", __name__)


class ReportIn(Body):
    kind: str = Field(min_length=1, max_length=32)
    title: str = Field(min_length=1, max_length=200)
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
    db = session()
    row = Report(kind=body.kind, title=body.title, data=body.data)
    db.add(row)
    db.commit()
    location = url_for("reports.get_report", report_id=row.id)
    return reply(render(ReportDetail, row), 201, {"Location": location})


list_view(
    bp, "/reports", "list_reports", Report, ReportOut, summary="List reports", response=ReportOut
)
show_view(
    bp,
    "/reports/<int:report_id>",
    "get_report",
    Report,
    ReportDetail,
    label="report",
    summary="Show a report with its data",
    response=ReportDetail,
)
