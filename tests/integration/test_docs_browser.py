"""The docs page in headless Chromium, the API served over loopback:
Swagger UI loads from the API's own origin alone (Chromium reaches no
host but 127.0.0.1, and the page's Content-Security-Policy allows no other
origin)
and lays out every operation of the OpenAPI document."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.browser import dump_dom, needs_chromium

pytestmark = needs_chromium


@pytest.fixture
def base_url(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_swagger_ui_renders_every_operation(base_url: str, app: Flask, tmp_path: Path) -> None:
    dom, log = dump_dom(f"{base_url}/docs", tmp_path / "profile", ["--virtual-time-budget=30000"])
    shown = set(re.findall(r'data-path="([^"]+)"', dom))
    spec = app.test_client().get("/openapi.json").get_json()
    assert shown == set(spec["paths"]), log
    assert {"/healthz", "/readyz", "/metrics", "/v1/clusters/{cluster_id}/plan"} <= shown
