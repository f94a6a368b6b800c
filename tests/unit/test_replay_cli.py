"""``meshplan replay`` against a fake router on loopback: every request of
the workload is sent with the inference key, and the attainment printed per
model and overall is what the router's answers make it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from click.testing import CliRunner

from api.cli import main
from planner.codec import encode
from planner.domain import Workload
from tests.loopback_http import http_server
from tests.unit.placement_cases import model

KEY = "inference-secret"


class FakeRouter(BaseHTTPRequestHandler):
    """200 for model ``fast``, 429 for any other; 401 without the key."""

    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.path, self.headers.get("Authorization")))
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            status = 401
        else:
            status = 200 if self.path == "/v1/infer/fast" else 429
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def router() -> Iterator[str]:
    FakeRouter.seen = []
    with http_server(FakeRouter) as url:
        yield url


def write_inputs(folder: Path) -> list[str]:
    """A 1 s workload (3 requests to ``fast``, 1 to ``slow``, and one more
    to ``fast`` after 0.6 s) and the models' SLOs, as CLI arguments."""
    workload = Workload(
        np.array([0.0, 0.1, 0.2, 0.3, 0.7]), np.array([0, 0, 1, 0, 0]), ("fast", "slow"), 1.0
    )
    (folder / "workload.json").write_text(json.dumps(encode(workload)))
    models = {"models": [encode(model("fast", slo_s=10.0)), encode(model("slow", slo_s=10.0))]}
    (folder / "models.json").write_text(json.dumps(models))
    (folder / "key").write_text(KEY + "\n")
    return [
        *("--workload", str(folder / "workload.json")),
        *("--models", str(folder / "models.json")),
        *("--inference-key-file", str(folder / "key")),
    ]


def test_replay_prints_attainment_per_model_and_overall(router: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["replay", "--router", router, *write_inputs(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "overall attainment 0.8000 (5 requests)" in result.output
    assert re.search(r"fast\s*│\s*4\s*│\s*4\s*│\s*1\s", result.output)
    assert re.search(r"slow\s*│\s*1\s*│\s*0\s*│\s*0\s", result.output)
    assert sorted(FakeRouter.seen) == [("/v1/infer/fast", f"Bearer {KEY}")] * 4 + [
        ("/v1/infer/slow", f"Bearer {KEY}")
    ]


def test_duration_replays_the_first_seconds_only(router: str, tmp_path: Path) -> None:
    args = ["replay", "--router", router, *write_inputs(tmp_path), "--duration", "0.5"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "overall attainment 0.7500 (4 requests)" in result.output
    assert len(FakeRouter.seen) == 4


def test_a_model_without_an_slo_is_a_usage_error(router: str, tmp_path: Path) -> None:
    args = write_inputs(tmp_path)
    (tmp_path / "models.json").write_text(json.dumps({"models": [encode(model("fast"))]}))
    result = CliRunner().invoke(main, ["replay", "--router", router, *args])
    assert result.exit_code == 2 and "no SLO for ['slow']" in result.output
    assert FakeRouter.seen == []
