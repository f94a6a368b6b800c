"""Operational endpoints, outside /v1 and without keys: ``/healthz``
(the process answers), ``/readyz`` (database reachable and migrated to the
newest revision) and ``/metrics``, documented in the OpenAPI document; the
document itself at ``/openapi.json`` and the docs page showing it at
``/docs`` (:mod:`api.docs`)."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, Response, abort, current_app, send_from_directory, url_for
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api import docs, metrics, openapi
from api.database import database
from api.errors import Problem, database_unavailable
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
        raise database_unavailable(error) from None
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
    summary="Prometheus metrics: requests of this process, jobs, executors, plan versions",
    permission=None,
    other_media={CONTENT_TYPE_LATEST.split(";")[0]: "the Prometheus text exposition"},
)
def prometheus() -> Response:
    return metrics.exposition(current_app._get_current_object())  # type: ignore[attr-defined]


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return reply(openapi.document(current_app._get_current_object()))  # type: ignore[attr-defined]


@bp.get("/docs")
def docs_page() -> Response:
    assets = {name: url_for("ops.docs_asset", name=name) for name in docs.ASSETS}
    html = docs.page(url_for("ops.openapi_json"), assets, url_for("ops.docs_init"))
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = docs.POLICY
    return response


@bp.get("/docs/init.js")
def docs_init() -> Response:
    return Response(docs.INIT_JS, mimetype="text/javascript")


@bp.get("/docs/assets/<name>")
def docs_asset(name: str) -> Response:
    if name not in docs.ASSETS:
        abort(404)
    return send_from_directory(docs.asset_folder(), name, mimetype=docs.ASSETS[name])
