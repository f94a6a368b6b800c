"""A workload's arrivals through ``GET /v1/workloads/{id}/arrivals``: the
whole workload as a ``.npz`` file (``format=npz`` or ``Accept``), or JSON
pages of a capped size that follow each other by ``next`` links; a page
costs the server memory of the page, not of the workload. Bench-generated
traces (the published formats, 2021 in end order) go up and come back."""

from __future__ import annotations

import io
import itertools
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from sqlalchemy import Engine, select

from bench.traces import azure2019_day, azure2021_by_end
from planner import domain
from planner.files import load_workload
from planner.workloads import (
    ProcessSpec,
    TimeRange,
    count_minutes,
    process_workload,
    read_azure2021,
    replay_azure2019,
)
from store.db import session_factory
from store.models import Workload
from store.repositories.workloads import READ_BYTES
from tests.integration.builders import model_json, problem

NPZ = "application/x-npz"


@pytest.fixture(autouse=True)
def models(client: FlaskClient, admin: dict[str, str]) -> None:
    for name in ("m0", "m1"):
        assert client.post("/v1/models", json=model_json(name), headers=admin).status_code == 201


def create(client: FlaskClient, headers: dict[str, str], rate_rps: float, duration_s: float) -> int:
    body = {
        "name": f"w{rate_rps}",
        "duration_s": duration_s,
        "window_s": duration_s,
        "seed": 3,
        "processes": {"m0": {"rate_rps": rate_rps}, "m1": {"rate_rps": rate_rps / 2, "cv": 2.0}},
    }
    response = client.post("/v1/workloads", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    workload_id: int = response.get_json()["id"]
    return workload_id


def expected(rate_rps: float, duration_s: float) -> domain.Workload:
    specs = {"m0": ProcessSpec(rate_rps), "m1": ProcessSpec(rate_rps / 2, 2.0)}
    return process_workload(specs, duration_s, 3)


def saved(tmp_path: Path, response: Any) -> domain.Workload:
    path = tmp_path / "download.npz"
    path.write_bytes(response.data)
    return load_workload(path)


def same(got: domain.Workload, want: domain.Workload) -> None:
    np.testing.assert_array_equal(got.arrivals_s, want.arrivals_s)
    np.testing.assert_array_equal(got.model_ids, want.model_ids)
    assert (got.model_names, got.duration_s, got.meta) == (
        want.model_names,
        want.duration_s,
        want.meta,
    )


@pytest.mark.parametrize(
    "ask",
    [{"query_string": {"format": "npz"}}, {"headers": {"Accept": NPZ}}],
    ids=["query", "accept"],
)
def test_the_npz_download_is_the_workload_file(
    client: FlaskClient, auth: dict[str, dict[str, str]], tmp_path: Path, ask: dict[str, Any]
) -> None:
    workload_id = create(client, auth["admin"], 200.0, 30.0)
    headers = {**auth["reader"], **ask.get("headers", {})}
    response = client.get(
        f"/v1/workloads/{workload_id}/arrivals",
        headers=headers,
        query_string=ask.get("query_string"),
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == NPZ
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="workload-{workload_id}.npz"'
    )
    assert response.headers["Vary"] == "Accept"
    want = expected(200.0, 30.0)
    assert want.num_requests > 8000
    same(saved(tmp_path, response), want)


def test_json_pages_follow_each_other_to_the_whole_workload(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    workload_id = create(client, admin, 100.0, 30.0)
    want = expected(100.0, 30.0)
    link: str | None = f"/v1/workloads/{workload_id}/arrivals?limit=1000"
    pages = []
    while link is not None:
        response = client.get(link, headers=admin)
        assert (
            response.status_code == 200 and response.headers["Content-Type"] == "application/json"
        )
        page = response.get_json()
        assert page["offset"] == 1000 * len(pages)
        assert page["num_requests"] == want.num_requests
        assert (page["model_names"], page["duration_s"]) == (["m0", "m1"], 30.0)
        assert page["meta"] == want.meta
        if page["next"] is not None:
            assert len(page["arrivals_s"]) == 1000
            assert response.headers["Link"] == f'<{page["next"]}>; rel="next"'
        else:
            assert "Link" not in response.headers
        pages.append(page)
        link = page["next"]
    assert len(pages) == -(-want.num_requests // 1000)
    arrivals = list(itertools.chain.from_iterable(p["arrivals_s"] for p in pages))
    ids = list(itertools.chain.from_iterable(p["model_ids"] for p in pages))
    assert arrivals == want.arrivals_s.tolist() and ids == want.model_ids.tolist()


def test_the_document_describes_pages_and_the_file(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    spec = client.get("/openapi.json").get_json()
    validate_spec(spec)
    operation = spec["paths"]["/v1/workloads/{workload_id}/arrivals"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {
        "workload_id",
        "format",
        "offset",
        "limit",
    }
    content = operation["responses"]["200"]["content"]
    assert set(content) == {"application/json", NPZ}
    assert content[NPZ]["schema"]["contentMediaType"] == NPZ
    assert {"404", "406", "422"} <= set(operation["responses"])
    page = client.get(f"/v1/workloads/{create(client, admin, 10.0, 5.0)}/arrivals", headers=admin)
    schema = {**content["application/json"]["schema"], "components": spec["components"]}
    Draft202012Validator(schema).validate(page.get_json())


def test_pages_have_a_default_size_and_a_cap(
    make_app: Callable[..., Flask], engine: Engine, admin: dict[str, str]
) -> None:
    client = make_app(ARRIVALS_PAGE_MAX=700).test_client()
    workload_id = create(client, admin, 100.0, 30.0)
    path = f"/v1/workloads/{workload_id}/arrivals"
    capped = client.get(path, query_string={"limit": 5000, "offset": 10}, headers=admin)
    assert len(capped.get_json()["arrivals_s"]) == 700
    assert capped.get_json()["next"] == f"{path}?offset=710&limit=700"
    default = make_app().test_client().get(path, headers=admin).get_json()
    assert len(default["arrivals_s"]) == expected(100.0, 30.0).num_requests  # under 100 000
    assert default["offset"] == 0 and default["next"] is None


@pytest.mark.parametrize(
    ("query", "headers", "status", "field", "detail"),
    [
        ({"offset": 10_000}, {}, 422, "offset", "offset: past the last of the {n} arrivals"),
        ({"limit": 0}, {}, 422, "query.limit", None),
        ({"format": "xml"}, {}, 422, "query.format", None),
        (
            {"format": "npz", "limit": 10},
            {},
            422,
            "limit",
            "limit: pages are for format=json; npz is the whole workload",
        ),
        ({}, {"Accept": "text/html"}, 406, None, None),
    ],
    ids=["offset", "limit", "format", "npz-page", "accept"],
)
def test_bad_arrival_requests_are_problems(
    client: FlaskClient,
    admin: dict[str, str],
    query: dict[str, Any],
    headers: dict[str, str],
    status: int,
    field: str | None,
    detail: str | None,
) -> None:
    workload_id = create(client, admin, 100.0, 30.0)
    response = client.get(
        f"/v1/workloads/{workload_id}/arrivals", query_string=query, headers={**admin, **headers}
    )
    data = problem(response, status, field)
    if detail is not None:
        assert data["detail"] == detail.format(n=expected(100.0, 30.0).num_requests)


def served_peak(
    client: FlaskClient, headers: dict[str, str], path: str, **query: Any
) -> tuple[int, bytes, int]:
    """``(status, body, peak)``: the traced peak of memory while the
    server makes and streams the answer (the body is read a piece at a
    time and measured after)."""
    pieces: list[bytes] = []
    tracemalloc.start()
    try:
        response = client.get(path, query_string=query, headers=headers, buffered=False)
        size = 0
        for piece in response.response:
            size += len(piece)
            if not pieces:  # the start, to check what was sent
                pieces.append(piece[:100])
        response.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return response.status_code, b"".join(pieces), peak


def test_a_download_never_holds_the_stored_blob(
    client: FlaskClient, engine: Engine, admin: dict[str, str]
) -> None:
    workload_id = create(client, admin, 100_000.0, 30.0)
    with session_factory(engine)() as session:
        blob = len(session.scalar(select(Workload.arrivals).where(Workload.id == workload_id)))
    # A few pieces read from the database: the one being read, the one being
    # sent, and the first one, which the test client keeps.
    bound = 4 * READ_BYTES
    assert blob > 1.5 * bound  # 4.5 M arrivals, 27 MB
    path = f"/v1/workloads/{workload_id}/arrivals"
    # The stored blob is read a few MiB at a time; the arrays are decompressed
    # only up to the page.
    status, start, peak = served_peak(client, admin, path, offset=3_000_000, limit=1000)
    assert status == 200 and start.startswith(b'{"model_names":["m0","m1"]')
    assert peak < bound, (peak, blob)
    status, start, peak = served_peak(client, admin, path, format="npz")
    assert status == 200 and start.startswith(b"PK")
    assert peak < bound, (peak, blob)


def test_generated_traces_go_up_and_come_back_whole(
    client: FlaskClient, admin: dict[str, str], tmp_path: Path
) -> None:
    day = "".join(azure2019_day(functions=300, per_minute=60.0, seed=1))
    query = {"name": "day", "format": "azure2019", "models": "m0,m1", "end": "1.0.0", "seed": 5}
    response = client.post(
        "/v1/workloads/upload",
        query_string=query,
        data=day.encode(),
        content_type="text/csv",
        headers=admin,
    )
    assert response.status_code == 201, response.get_json()
    counts = count_minutes([(0, "day", io.StringIO(day))], 2, TimeRange.parse("0.0.0", "1.0.0"))
    want = replay_azure2019(counts, ("m0", "m1"), 5)
    assert want.num_requests > 50_000
    npz = client.get(
        f"/v1/workloads/{response.get_json()['id']}/arrivals?format=npz", headers=admin
    )
    same(saved(tmp_path, npz), want)

    invocations = "".join(azure2021_by_end(rows=20_000, functions=40, seed=2))
    rows = np.loadtxt(io.StringIO(invocations), delimiter=",", skiprows=1, usecols=(2, 3))
    assert np.all(np.diff(rows[:, 0]) >= 0)  # in end order, so
    assert np.any(np.diff(rows[:, 0] - rows[:, 1]) < 0)  # arrivals are not in order
    query = {
        "name": "inv",
        "format": "azure2021",
        "models": "m0,m1",
        "end": "1.0.0",
        "replay": "false",
    }
    response = client.post(
        "/v1/workloads/upload",
        query_string=query,
        data=invocations.encode(),
        content_type="text/csv",
        headers=admin,
    )
    assert response.status_code == 201, response.get_json()
    want = read_azure2021(io.StringIO(invocations), ("m0", "m1"), TimeRange.parse("0.0.0", "1.0.0"))
    assert want.num_requests > 19_000
    page = client.get(
        f"/v1/workloads/{response.get_json()['id']}/arrivals?limit=20000", headers=admin
    ).get_json()
    assert page["arrivals_s"] == want.arrivals_s.tolist() and page["next"] is None
