"""Reports through the API: stored as validated report data, shown as JSON
or as the HTML page by the Accept header; bad data is a problem naming the
field with nothing stored."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from api.reporting.html import render_html
from api.reporting.renderer import renderer_version
from planner.codec import encode
from planner.evaluation.reports import CompareReport, ReplanReport, parse_report
from planner.evaluation.reports import Report as Report_
from store.db import session_factory
from store.models import Report, ReportPage
from tests.unit.test_report_html import sample_replan, sample_report


@pytest.fixture(scope="module")
def compare() -> CompareReport:
    return sample_report()


def stored(engine: Engine) -> list[tuple[str, str, Any]]:
    with session_factory(engine)() as session:
        rows = session.scalars(select(Report).order_by(Report.id)).all()
        return [(r.kind, r.title, r.data) for r in rows]


def count(engine: Engine) -> int:
    with session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(Report)) or 0


def test_store_and_show_json_and_html(
    client: FlaskClient, engine: Engine, auth: dict[str, dict[str, str]], compare: CompareReport
) -> None:
    data = encode(compare)
    response = client.post("/v1/reports", json={"data": data}, headers=auth["admin"])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == f"/v1/reports/{body['id']}"
    assert (body["kind"], body["title"], body["data"]) == ("compare", compare.title, data)
    assert stored(engine) == [("compare", compare.title, data)]
    url = response.headers["Location"]
    shown = client.get(url, headers=auth["reader"])
    assert shown.status_code == 200 and shown.mimetype == "application/json"
    assert shown.get_json() == body
    assert shown.headers["Vary"] == "Accept"
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    page = client.get(url, headers={**auth["reader"], "Accept": browser})
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.get_data(as_text=True) == render_html(parse_report(data))


def test_replan_report_and_listing(
    client: FlaskClient, auth: dict[str, dict[str, str]], compare: CompareReport
) -> None:
    replan: ReplanReport = sample_replan()
    first = client.post(
        "/v1/reports", json={"data": encode(replan), "title": "Week 12"}, headers=auth["admin"]
    )
    assert first.status_code == 201
    assert (first.get_json()["kind"], first.get_json()["title"]) == ("replan", "Week 12")
    client.post("/v1/reports", json={"data": encode(compare)}, headers=auth["admin"])
    listed = client.get("/v1/reports?limit=1", headers=auth["reader"]).get_json()
    assert [item["kind"] for item in listed["items"]] == ["replan"]
    assert "data" not in listed["items"][0]
    assert listed["next"] is not None


def test_unsupported_accept_is_406(
    client: FlaskClient, auth: dict[str, dict[str, str]], compare: CompareReport
) -> None:
    url = client.post("/v1/reports", json={"data": encode(compare)}, headers=auth["admin"]).headers[
        "Location"
    ]
    response = client.get(url, headers={**auth["reader"], "Accept": "text/csv"})
    assert response.status_code == 406
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.get_json()["detail"].startswith("Accept: a report is served as")
    missing = client.get("/v1/reports/77", headers={**auth["reader"], "Accept": "text/html"})
    assert missing.status_code == 404


def test_the_page_is_rendered_once_and_served_with_its_etag(
    client: FlaskClient,
    engine: Engine,
    auth: dict[str, dict[str, str]],
    compare: CompareReport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rendered: list[str] = []

    def counting(report: Report_) -> str:
        rendered.append(report.title)
        return render_html(report)

    monkeypatch.setattr("api.report_pages.load_renderer", lambda: counting)
    data = encode(compare)
    url = client.post("/v1/reports", json={"data": data}, headers=auth["admin"]).headers["Location"]
    html = {**auth["reader"], "Accept": "text/html"}
    first, second = client.get(url, headers=html), client.get(url, headers=html)
    assert rendered == [compare.title]  # the second page was read back, not rendered
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.get_data() == first.get_data() == render_html(parse_report(data)).encode()
    etag = first.headers["ETag"]
    assert etag == second.headers["ETag"] == f'"{hashlib.sha256(first.get_data()).hexdigest()}"'
    assert (first.headers["Vary"], first.headers["Cache-Control"]) == ("Accept", "no-cache")
    unchanged = client.get(url, headers={**html, "If-None-Match": etag})
    assert (unchanged.status_code, unchanged.get_data()) == (304, b"")
    assert unchanged.headers["ETag"] == etag
    assert client.get(url, headers={**html, "If-None-Match": '"stale"'}).status_code == 200
    assert "ETag" not in client.get(url, headers=auth["reader"]).headers  # JSON as before
    assert rendered == [compare.title]
    assert kept_pages(engine) == [(renderer_version(), etag.strip('"'))]
    # a new renderer renders the page again and keeps it in place of the old
    # one; the same bytes keep the same tag
    monkeypatch.setattr("api.report_pages.renderer_version", lambda: "next")
    again = client.get(url, headers={**html, "If-None-Match": etag})
    assert again.status_code == 304 and rendered == [compare.title] * 2
    assert kept_pages(engine) == [("next", etag.strip('"'))]


def kept_pages(engine: Engine) -> list[tuple[str, str]]:
    with session_factory(engine)() as session:
        return [(p.renderer, p.etag) for p in session.scalars(select(ReportPage))]


WITHOUT_MATPLOTLIB = """
import json, sys
sys.modules["matplotlib"] = None  # as if the 'report' extra were not installed
from api.app import create_app
import api.commands.service  # what `meshplan serve` imports
given = json.load(sys.stdin)
client = create_app({"DATABASE_URL": given["url"], "TESTING": True}).test_client()
auth = {"Authorization": "Bearer " + given["key"]}
url = client.post("/v1/reports", json={"data": given["data"]}, headers=auth).headers["Location"]
answers = [client.get(url, headers={**auth, "Accept": accept}) for accept in given["accepts"]]
print(json.dumps([[a.status_code, a.mimetype, a.get_json()] for a in answers]))
"""


def test_the_service_starts_and_answers_json_without_matplotlib(
    database_url: str, keys: dict[str, str], compare: CompareReport
) -> None:
    given = {
        "url": database_url,
        "key": keys["admin"],
        "data": encode(compare),
        "accepts": ["application/json", "text/html", "text/html,*/*;q=0.8"],
    }
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_MATPLOTLIB],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    as_json, *as_html = json.loads(done.stdout)
    assert as_json[:2] == [200, "application/json"] and as_json[2]["data"] == given["data"]
    for status, mimetype, problem in as_html:
        assert (status, mimetype) == (406, "application/problem+json")
        assert "the 'report' extra" in problem["detail"]
        assert "pip install 'meshplan[report]'" in problem["detail"]


def _bad_attainment(data: dict[str, Any]) -> None:
    data["rows"][0]["attainment"] = 2.0


def _no_kind(data: dict[str, Any]) -> None:
    del data["kind"]


def _bad_device(data: dict[str, Any]) -> None:
    data["rows"][0]["placement"]["groups"][0]["devices"] = [0, 0]


@pytest.mark.parametrize(
    ("edit", "extra", "field"),
    [
        (_bad_attainment, {}, "data.rows[0].attainment"),
        (_no_kind, {}, "data.kind"),
        (_bad_device, {}, "data.rows[0].placement.groups[0].devices"),
        (lambda d: None, {"kind": "replan"}, "kind"),
        (lambda d: None, {"title": ""}, "title"),
    ],
)
def test_bad_report_is_refused(
    client: FlaskClient,
    engine: Engine,
    auth: dict[str, dict[str, str]],
    compare: CompareReport,
    edit: Any,
    extra: dict[str, Any],
    field: str,
) -> None:
    data = encode(compare)
    edit(data)
    response = client.post("/v1/reports", json={"data": data, **extra}, headers=auth["admin"])
    assert response.status_code == 422, response.get_json()
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.get_json()
    assert problem["field"] == field, problem
    assert count(engine) == 0
