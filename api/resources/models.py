"""Models and their profiles: ``/v1/models``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, url_for
from pydantic import Field

from api.auth import Permission
from api.database import session
from api.errors import from_value_error
from api.fields import JsonObject, Positive, Text
from api.routing import Body, Out, Query, found, name_free, operation, render, reply
from api.views import list_view, show_view
from planner import domain
from planner.codec import decode
from store.enums import ProfileSource
from store.models import Model
from store.repositories import catalog

bp = Blueprint("models", __name__)


class ModelIn(Body):
    name: Text = Field(min_length=1, max_length=128)
    slo_s: float = Field(gt=0, description="latency SLO, end to end from arrival (s)")
    family: Text = Field("custom", min_length=1, max_length=64)
    profile: JsonObject = Field(description="Profile JSON (planner.domain.Profile)")
    architecture: JsonObject | None = Field(
        None, description="what the executor needs to build the network"
    )
    max_batch: Positive | None = Field(None, description="batch size cap (default: profile's)")


class ProfileIn(Body):
    configs: list[JsonObject] = Field(description="one entry per parallel config")


class ProfileQuery(Query):
    source: ProfileSource = ProfileSource.MEASURED


class ModelOut(Out):
    id: int
    name: str
    slo_s: float
    family: str
    architecture: dict[str, Any] | None
    max_batch: int | None
    created_at: dt.datetime


class ModelDetail(ModelOut):
    profile: dict[str, Any]
    profile_source: ProfileSource
    profile_updated_at: dt.datetime


def _detail(row: Model) -> dict[str, Any]:
    profile = catalog.current_profiles(session(), [row.id])[row.id]
    data = {
        **render(ModelOut, row),
        "profile": profile.data,
        "profile_source": profile.source,
        "profile_updated_at": profile.created_at,
    }
    return render(ModelDetail, data)


@operation(
    bp,
    "/models",
    "POST",
    summary="Create a model with its declared profile",
    permission=Permission.WRITE,
    body=ModelIn,
    response=ModelDetail,
    status=201,
    errors=(409,),
)
def create_model(body: ModelIn) -> Response:
    db = session()
    name_free(db, Model, body.name, "model")
    try:
        profile = decode(domain.Profile, body.profile, "profile")
        spec = domain.ModelSpec(body.name, body.slo_s, profile, body.family)
    except ValueError as error:
        raise from_value_error(error) from None
    row = catalog.add_model(db, spec, architecture=body.architecture, max_batch=body.max_batch)
    db.commit()
    location = url_for("models.get_model", model_id=row.id)
    return reply(_detail(row), 201, {"Location": location})


list_view(bp, "/models", "list_models", Model, ModelOut, summary="List models", response=ModelOut)
show_view(
    bp,
    "/models/<int:model_id>",
    "get_model",
    Model,
    _detail,
    label="model",
    summary="Show a model with its current profile",
    response=ModelDetail,
)


@operation(
    bp,
    "/models/<int:model_id>/profile",
    "PUT",
    summary="Replace a model's profile (e.g. one measured by an executor)",
    permission=Permission.EXECUTE,
    body=ProfileIn,
    query=ProfileQuery,
    response=ModelDetail,
)
def put_profile(model_id: int, body: ProfileIn, query: ProfileQuery) -> Response:
    db = session()
    row = found(db, Model, model_id, "model")
    try:
        profile = decode(domain.Profile, body.model_dump(), "profile")
    except ValueError as error:
        raise from_value_error(error) from None
    catalog.set_profile(db, row, profile, query.source)
    db.commit()
    return reply(_detail(row))
