"""Operational endpoints, outside /v1 and without keys: ``/healthz``
(the process answers), ``/readyz`` (database reachable and migrated to the
newest revision), ``/metrics``, ``/openapi.json`` and ``/docs``."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api import metrics, openapi
from api.database import database
from api.errors import Problem, database_unavailable
from api.routing import reply
from store import migrate

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return reply({"status": "ok"})


@bp.get("/readyz")
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


@bp.get("/metrics")
def prometheus() -> Response:
    return metrics.exposition(current_app._get_current_object())  # type: ignore[attr-defined]


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return reply(openapi.document(current_app._get_current_object()))  # type: ignore[attr-defined]


@bp.get("/docs")
def docs() -> Response:
    spec = openapi.document(current_app._get_current_object())  # type: ignore[attr-defined]
    return Response(openapi.docs_page(spec), mimetype="text/html")
