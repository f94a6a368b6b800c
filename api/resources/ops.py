"""Operational endpoints, outside /v1 and without keys: ``/healthz``
(the process answers), ``/readyz`` (database reachable and migrated to the
newest revision), ``/metrics``, ``/openapi.json`` and ``/docs``. The first
three are operations of the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api import metrics, openapi
from api.database import database
from api.errors import Problem
from api.routing import Out, operation, reply
from store import migrate

bp = Blueprint("ops", __name__)


class HealthOut(Out):
    status: Literal["ok"]


class ReadyOut(Out):
    status: Literal["ready"]
    revision: str | None = Field(description="the database's schema revision")


@operation(
    bp,
    "/healthz",
    "GET",
    summary="The process answers",
    permission=None,
    response=HealthOut,
    database=False,
)
def healthz() -> Response:
    return reply({"status": "ok"})


@operation(
    bp,
    "/readyz",
    "GET",
    summary="Ready: the database answers and is at the newest schema revision (else 503)",
    permission=None,
    response=ReadyOut,
)
def readyz() -> Response:
    engine = database().engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = migrate.current_revision(engine)
    except SQLAlchemyError as error:
        raise Problem(503, f"database unreachable: {type(error).__name__}") from None
    head = current_app.config["SCHEMA_HEAD"]
    if revision != head:
        raise Problem(
            503, f"database at revision {revision}, expected {head}: run meshplan db upgrade"
        )
    return reply({"status": "ready", "revision": revision})


@operation(
    bp,
    "/metrics",
    "GET",
    summary="Prometheus metrics: requests, latencies, jobs by status",
    permission=None,
    response_media=CONTENT_TYPE_LATEST.split(";")[0],
)
def prometheus() -> Response:
    return metrics.exposition(current_app._get_current_object())  # type: ignore[attr-defined]


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return reply(openapi.document(current_app._get_current_object()))  # type: ignore[attr-defined]


@bp.get("/docs")
def docs() -> Response:
    spec = openapi.document(current_app._get_current_object())  # type: ignore[attr-defined]
    return Response(openapi.docs_page(spec), mimetype="text/html")
