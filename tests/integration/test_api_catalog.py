"""Clusters, models and profiles through the API: what is answered, what is
stored, and that bad input is a problem naming the field with nothing
stored; pagination."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from store.db import session_factory
from store.enums import ProfileSource
from store.models import Cluster, Model, ModelProfile
from tests.integration.builders import GIB, cluster_json, model_json, problem, profile_json


def count(engine: Engine, table: type[Any]) -> int:
    with session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_create_and_show_a_cluster(
    client: FlaskClient, engine: Engine, admin: dict[str, str]
) -> None:
    response = client.post("/v1/clusters", json=cluster_json("edge", 8), headers=admin)
    assert response.status_code == 201
    data = response.get_json()
    assert response.headers["Location"] == f"/v1/clusters/{data['id']}"
    assert {k: data[k] for k in cluster_json()} == {
        "name": "edge",
        "num_devices": 8,
        "device_mem_bytes": 4 * GIB,
        "devices_per_node": 4,
        "load_bw_bytes_per_s": 1e9,
    }
    assert data["load_overhead_s"] == 0.0 and data["active"] is None
    assert data["created_at"].endswith("Z")
    with session_factory(engine)() as session:
        row = session.get_one(Cluster, data["id"])
        assert (row.name, row.num_devices, row.device_mem_bytes) == ("edge", 8, 4 * GIB)
    shown = client.get(data["id"] and f"/v1/clusters/{data['id']}", headers=admin)
    assert shown.get_json() == data


def test_a_duplicate_cluster_name_is_409(
    client: FlaskClient, engine: Engine, admin: dict[str, str]
) -> None:
    assert client.post("/v1/clusters", json=cluster_json(), headers=admin).status_code == 201
    data = problem(client.post("/v1/clusters", json=cluster_json(), headers=admin), 409, "name")
    assert data["detail"] == "name: cluster 'c1' already exists"
    assert count(engine, Cluster) == 1


@pytest.mark.parametrize(
    ("body", "status", "field", "detail"),
    [
        (
            '{"name": "c1", ',
            400,
            "body",
            "body: invalid JSON at line 1 column 16: Expecting property name enclosed in double quotes",
        ),
        ({**cluster_json(), "num_devices": "4"}, 422, "num_devices", None),
        ({**cluster_json(), "num_devices": 4.5}, 422, "num_devices", None),
        ({**cluster_json(), "device_mem_bytes": -1}, 422, "device_mem_bytes", None),
        ({**cluster_json(), "colour": "red"}, 422, "colour", None),
        ({k: v for k, v in cluster_json().items() if k != "name"}, 422, "name", None),
        ([cluster_json()], 422, "body", None),
    ],
    ids=["malformed", "string-int", "fraction", "negative", "unknown-field", "missing", "array"],
)
def test_bad_cluster_bodies_store_nothing(
    client: FlaskClient,
    engine: Engine,
    admin: dict[str, str],
    body: Any,
    status: int,
    field: str,
    detail: str | None,
) -> None:
    if isinstance(body, str):
        response = client.post(
            "/v1/clusters", data=body, content_type="application/json", headers=admin
        )
    else:
        response = client.post("/v1/clusters", json=body, headers=admin)
    data = problem(response, status, field)
    if detail is not None:
        assert data["detail"] == detail
    assert count(engine, Cluster) == 0


def test_a_body_over_max_content_length_is_413(
    make_app: Callable[..., Flask], engine: Engine, admin: dict[str, str]
) -> None:
    client = make_app(MAX_CONTENT_LENGTH=100).test_client()
    body = {**cluster_json(), "name": "x" * 100}
    problem(client.post("/v1/clusters", json=body, headers=admin), 413)
    assert count(engine, Cluster) == 0


def test_a_body_that_is_not_json_is_415(
    client: FlaskClient, engine: Engine, admin: dict[str, str]
) -> None:
    response = client.post("/v1/clusters", data="name=c1", headers=admin)
    problem(response, 415)
    assert count(engine, Cluster) == 0


def test_create_a_model_and_replace_its_profile(
    client: FlaskClient, engine: Engine, auth: dict[str, dict[str, str]]
) -> None:
    architecture = {"kind": "bert", "layers": 2, "hidden": 64}
    body = model_json("bert-1", slo_s=0.2, architecture=architecture, max_batch=4)
    created = client.post("/v1/models", json=body, headers=auth["admin"])
    assert created.status_code == 201
    data = created.get_json()
    assert created.headers["Location"] == f"/v1/models/{data['id']}"
    assert (data["name"], data["slo_s"], data["family"], data["max_batch"]) == (
        "bert-1",
        0.2,
        "bert",
        4,
    )
    assert data["architecture"] == architecture
    assert data["profile_source"] == "declared"
    first = data["profile"]["configs"][0]
    assert first["latency_s"] == {"1": [0.01], "2": [0.015]}
    assert first["stage_weight_bytes"] == [GIB]

    measured = profile_json(weight_bytes=2 * GIB, latency_s=0.02)
    put = client.put(f"/v1/models/{data['id']}/profile", json=measured, headers=auth["executor"])
    assert put.status_code == 200
    after = put.get_json()
    assert after["profile_source"] == "measured"
    assert after["profile"]["configs"][0]["stage_weight_bytes"] == [2 * GIB]
    assert client.get(f"/v1/models/{data['id']}", headers=auth["reader"]).get_json() == after
    with session_factory(engine)() as session:
        sources = session.scalars(select(ModelProfile.source).order_by(ModelProfile.id)).all()
    assert sources == [ProfileSource.DECLARED, ProfileSource.MEASURED]


@pytest.mark.parametrize(
    ("profile", "field"),
    [
        ({"configs": []}, "profile.profile"),
        (
            {
                "configs": [
                    {
                        "config": {"op": 1, "pp": 1},
                        "latency_s": [[-0.01]],
                        "stage_weight_bytes": [1],
                    }
                ]
            },
            "profile.configs[0].latency_s[1][0]",
        ),
        (
            {
                "configs": [
                    {"config": {"op": 1, "pp": 2}, "latency_s": [[0.01]], "stage_weight_bytes": [1]}
                ]
            },
            "profile.profile[op1xpp2]",
        ),
        (
            {
                "configs": [
                    {"config": {"op": 0, "pp": 1}, "latency_s": [[0.01]], "stage_weight_bytes": [1]}
                ]
            },
            "profile.configs[0].config.op",
        ),
    ],
    ids=["empty", "negative-latency", "stage-mismatch", "zero-op"],
)
def test_bad_profiles_are_422_naming_the_field(
    client: FlaskClient,
    engine: Engine,
    admin: dict[str, str],
    profile: dict[str, Any],
    field: str,
) -> None:
    problem(
        client.post("/v1/models", json={**model_json("m"), "profile": profile}, headers=admin),
        422,
        field,
    )
    assert count(engine, Model) == 0
    assert client.post("/v1/models", json=model_json("m"), headers=admin).status_code == 201
    problem(client.put("/v1/models/1/profile", json=profile, headers=admin), 422, field)
    assert count(engine, ModelProfile) == 1


def test_pages_follow_next_links_and_the_limit_is_capped(
    make_app: Callable[..., Flask], auth: dict[str, dict[str, str]]
) -> None:
    client = make_app(PAGE_LIMIT_MAX=3).test_client()
    for i in range(7):
        body = cluster_json(f"c{i}")
        assert client.post("/v1/clusters", json=body, headers=auth["admin"]).status_code == 201
    first = client.get("/v1/clusters?limit=2", headers=auth["reader"])
    assert [c["name"] for c in first.get_json()["items"]] == ["c0", "c1"]
    assert first.get_json()["next"] == "/v1/clusters?limit=2&after=2"
    assert first.headers["Link"] == '</v1/clusters?limit=2&after=2>; rel="next"'
    names: list[str] = []
    url: str | None = "/v1/clusters?limit=1000"
    pages = 0
    while url is not None:
        data = client.get(url, headers=auth["reader"]).get_json()
        assert len(data["items"]) <= 3
        names += [c["name"] for c in data["items"]]
        url = data["next"]
        pages += 1
    assert names == [f"c{i}" for i in range(7)]
    assert pages == 3
    last = client.get("/v1/clusters?limit=3&after=6", headers=auth["reader"])
    assert last.get_json()["next"] is None and "Link" not in last.headers
    problem(client.get("/v1/clusters?limit=0", headers=auth["reader"]), 422, "query.limit")
    problem(client.get("/v1/clusters?after=x", headers=auth["reader"]), 422, "query.after")
    problem(client.get("/v1/clusters?colour=red", headers=auth["reader"]), 422, "query.colour")
