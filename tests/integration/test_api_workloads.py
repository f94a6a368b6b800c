"""Workloads through the API: JSON arrivals, arrival processes and uploaded
Azure Functions traces (both formats), stored as compressed blobs with
per-window statistics; bad input changes nothing."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from planner.workloads import (
    ProcessSpec,
    TimeRange,
    count_minutes,
    process_workload,
    replay_azure2019,
)
from store.db import session_factory
from store.models import Workload, WorkloadWindow
from tests.integration.builders import model_json, problem


@pytest.fixture(autouse=True)
def models(client: FlaskClient, admin: dict[str, str]) -> None:
    """Models m0 and m1, which the workloads here refer to."""
    for name in ("m0", "m1"):
        assert client.post("/v1/models", json=model_json(name), headers=admin).status_code == 201


def stored_workloads(engine: Engine) -> int:
    with session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(Workload)) or 0


def test_json_arrivals_with_window_statistics(
    client: FlaskClient, engine: Engine, admin: dict[str, str]
) -> None:
    body = {
        "name": "hand",
        "duration_s": 2.0,
        "window_s": 1.0,
        "arrivals_s": {"m0": [0.4, 0.1, 0.2, 1.5], "m1": [0.3]},
    }
    response = client.post("/v1/workloads", json=body, headers=admin)
    assert response.status_code == 201
    data = response.get_json()
    assert response.headers["Location"] == f"/v1/workloads/{data['id']}"
    assert (data["num_requests"], data["model_names"], data["source"]) == (5, ["m0", "m1"], "json")
    first, second = data["windows"]
    assert (first["start_s"], first["end_s"], second["start_s"], second["end_s"]) == (0, 1, 1, 2)
    assert first["rates_rps"] == {"m0": 3.0, "m1": 1.0}
    assert second["rates_rps"] == {"m0": 1.0, "m1": 0.0}
    # m0 in window 0: gaps 0.1 and 0.2 s, mean 0.15, population std 0.05.
    assert first["cv"]["m0"] == pytest.approx(1 / 3)
    assert first["cv"]["m1"] is None and second["cv"] == {"m0": None, "m1": None}
    arrivals = client.get(f"/v1/workloads/{data['id']}/arrivals", headers=admin).get_json()
    assert arrivals["arrivals_s"] == [0.1, 0.2, 0.3, 0.4, 1.5]
    assert arrivals["model_ids"] == [0, 0, 1, 0, 0]
    with session_factory(engine)() as session:
        row = session.get_one(Workload, data["id"])
        assert isinstance(row.arrivals, bytes) and row.arrivals.startswith(b"PK")
        windows = session.scalar(select(func.count()).select_from(WorkloadWindow))
        assert windows == 2


def test_arrival_processes_match_the_planner(client: FlaskClient, admin: dict[str, str]) -> None:
    body = {
        "name": "poisson",
        "duration_s": 30.0,
        "seed": 7,
        "processes": {"m0": {"rate_rps": 5.0}, "m1": {"rate_rps": 2.0, "cv": 3.0}},
    }
    response = client.post("/v1/workloads", json=body, headers=admin)
    assert response.status_code == 201
    data = response.get_json()
    assert data["source"] == "process" and data["window_s"] == 30.0
    expected = process_workload({"m0": ProcessSpec(5.0), "m1": ProcessSpec(2.0, 3.0)}, 30.0, 7)
    stored = client.get(f"/v1/workloads/{data['id']}/arrivals", headers=admin).get_json()
    assert stored["arrivals_s"] == expected.arrivals_s.tolist()
    assert stored["model_ids"] == expected.model_ids.tolist()


@pytest.mark.parametrize(
    ("body", "status", "field", "detail"),
    [
        (
            {"arrivals_s": {"m0": [0.1], "nope": [0.2]}},
            422,
            "arrivals_s.nope",
            "arrivals_s.nope: unknown model 'nope'",
        ),
        ({"processes": {"m0": {"rate_rps": -1.0}}}, 422, "processes.m0.rate_rps", None),
        ({"processes": {"ghost": {"rate_rps": 1.0}}}, 422, "processes.ghost", None),
        (
            {"arrivals_s": {"m0": [0.1, 10.0]}},
            422,
            "arrivals_s.m0[1]",
            "arrivals_s.m0[1]: must be in [0, 10.0), got 10.0",
        ),
        ({"arrivals_s": {"m0": ["soon"]}}, 422, "arrivals_s.m0[0]", None),
        ({"arrivals_s": {"m0": [1.0]}, "processes": {"m0": {"rate_rps": 1.0}}}, 422, "body", None),
        (
            {"arrivals_s": {"m0": [1.0]}, "window_s": 0.0001},
            422,
            "window_s",
            "window_s: gives more than 10000 windows over 10.0 s",
        ),
    ],
    ids=["unknown-model", "negative-rate", "unknown-process", "late", "string", "both", "windows"],
)
def test_bad_workloads_store_nothing(
    client: FlaskClient,
    engine: Engine,
    admin: dict[str, str],
    body: dict[str, Any],
    status: int,
    field: str,
    detail: str | None,
) -> None:
    full = {"name": "w", "duration_s": 10.0, **body}
    message = problem(client.post("/v1/workloads", json=full, headers=admin), status, field)[
        "detail"
    ]
    if detail is not None:
        assert message == detail
    assert stored_workloads(engine) == 0


def azure2019_csv(rows: list[tuple[str, dict[int, int]]]) -> str:
    header = "HashOwner,HashApp,HashFunction,Trigger," + ",".join(str(m) for m in range(1, 1441))
    lines = [header]
    for key, counts in rows:
        values = [str(counts.get(m, 0)) for m in range(1, 1441)]
        lines.append(f"o,{key},f,http," + ",".join(values))
    return "\n".join(lines) + "\n"


def upload(client: FlaskClient, headers: dict[str, str], text: str | bytes, **query: Any) -> Any:
    params = {"name": "trace", "models": "m0,m1", **query}
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        "/v1/workloads/upload",
        query_string=params,
        data=data,
        content_type="text/csv",
        headers=headers,
    )


def test_upload_an_azure_2019_trace(client: FlaskClient, admin: dict[str, str]) -> None:
    text = azure2019_csv([("a", {1: 120, 2: 60}), ("b", {2: 30}), ("c", {5: 99})])
    response = upload(client, admin, text, format="azure2019", end="0.0.2", seed=3)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    time_range = TimeRange(0, 120)
    counts = count_minutes([(0, "upload", io.StringIO(text))], 2, time_range)
    assert counts.counts.tolist() == [[120, 60], [0, 30]]
    expected = replay_azure2019(counts, ["m0", "m1"], 3, 60.0)
    assert data["source"] == "azure2019" and data["duration_s"] == 120.0
    assert data["meta"]["num_functions"] == 2
    stored = client.get(f"/v1/workloads/{data['id']}/arrivals", headers=admin).get_json()
    assert stored["arrivals_s"] == expected.arrivals_s.tolist()
    assert stored["model_ids"] == expected.model_ids.tolist()


@pytest.mark.parametrize(
    ("trace_format", "rate_scale", "expected"),
    [("azure2019", 1e6, "1.8e+08"), ("azure2021", 1e308, "inf")],
)
def test_replays_beyond_the_arrivals_budget_are_refused(
    client: FlaskClient,
    admin: dict[str, str],
    engine: Engine,
    trace_format: str,
    rate_scale: float,
    expected: str,
) -> None:
    # 2019: 120 + 60 calls in two minutes are 180 expected arrivals at scale 1.
    if trace_format == "azure2019":
        text = azure2019_csv([("a", {1: 120, 2: 60})])
    else:
        text = "app,func,end_timestamp,duration\na,f1,10.5,0.5\na,f1,30,0\n"
    response = upload(client, admin, text, format=trace_format, end="0.0.2", rate_scale=rate_scale)
    answer = problem(response, 422, "query.rate_scale")
    assert answer["detail"] == (
        f"query.rate_scale: the replay would generate about {expected} arrivals, more than "
        "MAX_GENERATED_ARRIVALS = 10000000; lower rate_scale or the time range"
    )
    assert stored_workloads(engine) == 0


def test_a_cv_scale_beyond_the_largest_cv_is_refused(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    text = azure2019_csv([("a", {1: 120})])
    response = upload(client, admin, text, format="azure2019", end="0.0.1", cv_scale=1e308)
    problem(response, 422, "query.cv_scale")


def test_upload_a_2019_trace_with_some_minutes(client: FlaskClient, admin: dict[str, str]) -> None:
    text = "HashOwner,HashApp,HashFunction,Trigger,2,1\no,a,f,http,0,120\no,b,f,http,60,0\n"
    response = upload(client, admin, text, format="azure2019", end="0.0.3", cv_scale=0.0)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    # Minute 1 (column "1"): 120 calls of a,f -> m0; minute 2: 60 of b,f -> m1; minute 3
    # has no column: none. CV 0 spaces a minute's arrivals 60/count s apart from its
    # start; the last one falls on the minute's end, outside it.
    assert data["meta"]["num_functions"] == 2
    arrivals = client.get(f"/v1/workloads/{data['id']}/arrivals", headers=admin).get_json()
    times, ids = np.array(arrivals["arrivals_s"]), np.array(arrivals["model_ids"])
    assert np.histogram(times[ids == 0], [0, 60, 120, 180])[0].tolist() == [119, 0, 0]
    assert np.histogram(times[ids == 1], [0, 60, 120, 180])[0].tolist() == [0, 59, 0]


def test_upload_an_azure_2021_trace_as_published(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    # In end order: b,f1 ends after a,f2 but arrived first (at 5 s).
    rows = "a,f1,10.5,0.5\na,f2,20,1\nb,f1,25,20\na,f1,30,0\nc,f1,70,1\n"
    text = "app,func,end_timestamp,duration\n" + rows
    response = upload(client, admin, text, format="azure2021", end="0.0.1", replay="false")
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    stored = client.get(f"/v1/workloads/{data['id']}/arrivals", headers=admin).get_json()
    assert stored["arrivals_s"] == [5.0, 10.0, 19.0, 30.0]
    assert stored["model_ids"] == [0, 1, 0, 1]  # dealt by first arrival: b,f1 a,f1 a,f2
    assert data["meta"]["num_functions"] == 3
    assert data["windows"][0]["rates_rps"] == {"m0": 2 / 60, "m1": 2 / 60}


@pytest.mark.parametrize(
    ("text", "query", "status", "field", "detail"),
    [
        (
            "app,func,end_timestamp,duration\na,f1,10,0\na,f1,11,x\n",
            {"format": "azure2021", "end": "0.0.1"},
            422,
            "body",
            "body: upload, line 3, column 'duration': must be a finite number >= 0, got 'x'",
        ),
        (
            "HashOwner,HashApp,HashFunction,Trigger,1,2,3\no,a,f,http,1,2,3\no,a,g,http,4,x,6\n",
            {"format": "azure2019", "end": "0.0.1"},
            422,
            "body",
            "body: upload, line 3, column '2': must be a non-negative integer, got 'x'",
        ),
        (
            "app,func,end_timestamp,duration\n",
            {"format": "azure2021", "end": "0.0.1", "models": "m0,ghost"},
            422,
            "models",
            "models: unknown model 'ghost'",
        ),
        (
            "app,func,end_timestamp,duration\n",
            {"format": "azure2021", "end": "0.0.1", "start": "0.0.2"},
            422,
            "end",
            "end: '0.0.1' must be after start '0.0.2'",
        ),
        (
            b"app,func,end_timestamp,duration\na,f1,10,0\na,\xff\xfe,11,0\n",
            {"format": "azure2021", "end": "0.0.1"},
            422,
            "body",
            "body: upload, line 3, column 'func': is not UTF-8 text "
            "(byte 0xff at byte 3 of the line)",
        ),
        ("x", {"format": "azure2030", "end": "0.0.1"}, 422, "query.format", None),
    ],
    ids=["bad-field", "2019-few-minutes", "unknown-model", "empty-range", "not-utf8", "format"],
)
def test_bad_uploads_store_nothing(
    client: FlaskClient,
    engine: Engine,
    admin: dict[str, str],
    text: str | bytes,
    query: dict[str, str],
    status: int,
    field: str,
    detail: str | None,
) -> None:
    message = problem(upload(client, admin, text, **query), status, field)["detail"]
    if detail is not None:
        assert message == detail
    assert stored_workloads(engine) == 0


def test_an_oversized_upload_is_413(
    make_app: Callable[..., Flask], engine: Engine, auth: dict[str, dict[str, str]]
) -> None:
    # Model m0 is stored already (the models fixture, through another app).
    # Uploads have their own cap, above the one on JSON bodies.
    client = make_app(MAX_UPLOAD_BYTES=1000, MAX_CONTENT_LENGTH=100).test_client()
    rows = "".join(f"a,f{i},{i + 1},1\n" for i in range(100))
    text = "app,func,end_timestamp,duration\n" + rows
    assert len(text) > 1000
    response = upload(client, auth["admin"], text, format="azure2021", end="0.1.0", models="m0")
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.get_json()["detail"] == "body: larger than 1000 bytes"
    assert stored_workloads(engine) == 0
    small = upload(
        client,
        auth["admin"],
        text[:900].rsplit("\n", 1)[0] + "\n",
        format="azure2021",
        end="0.1.0",
        models="m0",
    )
    assert small.status_code == 201
    assert small.get_json()["duration_s"] == 3600.0


def test_the_document_explains_trace_times(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"]["/v1/workloads/upload"]["post"]
    described = {p["name"]: p["schema"].get("description", "") for p in operation["parameters"]}
    for name in ("start", "end"):
        assert "'day.hour.minute'" in described[name]
        assert "'0.0.5' is minute 5 of the first day" in described[name]
