"""``meshplan traffic show`` and ``meshplan replanner`` against the real API
(their HTTP calls answered by the app's test client)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from api.cli import main
from executor.api_client import ApiClient, ApiError
from tests.integration.test_api_live import aligned_now, post_traffic


@pytest.fixture
def through_app(monkeypatch: pytest.MonkeyPatch, client: FlaskClient) -> None:
    """ApiClient calls go to the app."""

    def call(
        self: ApiClient, method: str, path: str, body: Any = None, headers: Any = None
    ) -> tuple[int, dict[str, str], Any]:
        answer = client.open(
            path,
            method=method,
            json=body,
            headers={"Authorization": f"Bearer {self.key}", **(headers or {})},
        )
        if answer.status_code >= 400:
            raise ApiError(answer.status_code, json.dumps(answer.get_json()))
        return answer.status_code, dict(answer.headers), answer.get_json()

    monkeypatch.setattr(ApiClient, "call", call)


def run(*args: str, key: str) -> Any:
    return CliRunner().invoke(main, [*args, "--api", "http://api", "--key", key])


def test_traffic_show_prints_rates_per_window(
    through_app: None, client: FlaskClient, keys: dict[str, str], seeded: dict[str, Any]
) -> None:
    cluster = seeded["cluster_id"]
    start = aligned_now(60) - 120
    headers = {"Authorization": f"Bearer {keys['admin']}"}
    body = {"source": "router", "bin_s": 60, "start": start, "counts": {"m0": [120, 30]}}
    assert post_traffic(client, headers, cluster, **body).status_code == 201
    result = run(
        "traffic", "show", "--cluster", str(cluster), "--since", str(start), key=keys["reader"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"cluster {cluster}: requests/s per model, windows of 60 s"
    assert lines[1].split() == ["window", "start", "(UTC)", "m0"]
    assert lines[2].split()[-1] == "2.000" and lines[3].split()[-1] == "0.500"


def test_replanner_turns_on_with_settings_and_refuses_bad_ones(
    through_app: None, keys: dict[str, str], seeded: dict[str, Any]
) -> None:
    cluster = str(seeded["cluster_id"])
    shown = run("replanner", "--cluster", cluster, key=keys["reader"])
    assert shown.exit_code == 0, shown.output
    assert "re-planner off, windows of 60 s, forecaster ewma" in shown.output
    on = run(
        "replanner", "--cluster", cluster, "--enable", "--window", "30", "--forecaster", "last",
        "--trust-windows", "2", key=keys["admin"],
    )  # fmt: skip
    assert on.exit_code == 0, on.output
    assert "re-planner on, windows of 30 s, forecaster last" in on.output
    assert "revert_margin 0.05, trust_windows 2, no drift watch" in on.output
    assert "next decision: job" in on.output
    watching = run(
        "replanner", "--cluster", cluster, "--react-drift", "0.3", "--nowcast", "10",
        key=keys["admin"],
    )  # fmt: skip
    assert watching.exit_code == 0, watching.output
    assert "trust_windows 2, drift watch 0.3 every 10 s" in watching.output
    too_slow = run("replanner", "--cluster", cluster, "--nowcast", "30", key=keys["admin"])
    assert too_slow.exit_code == 1 and '"field": "nowcast_s"' in too_slow.output
    blind = run(
        "replanner", "--cluster", cluster, "--react-drift", "0.3", "--nowcast", "0",
        key=keys["admin"],
    )  # fmt: skip
    assert blind.exit_code == 1 and '"field": "react_drift"' in blind.output
    bad = run("replanner", "--cluster", cluster, "--forecaster", "nope", key=keys["admin"])
    assert bad.exit_code == 1 and '"field": "forecaster"' in bad.output
    kept = run("replanner", "--cluster", cluster, key=keys["reader"])
    assert "re-planner on, windows of 30 s, forecaster last" in kept.output
