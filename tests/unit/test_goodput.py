"""Goodput rows of the memory-bound regime: the share of headroom, which
cases are memory-bound, and the CLI reporting goodput where no strategy
reaches the target attainment (not a max rate of 0)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from planner.domain import Cluster
from planner.evaluation.experiment import (
    ExperimentConfig,
    Run,
    goodput_table_rows,
    hosts_every_model,
)
from planner.evaluation.goodput import goodput_rps, share_captured
from planner.profiles import model_set
from planner.replan.transition import SwitchCost


def test_goodput_is_served_requests_per_scored_second() -> None:
    run = Run(0.75, 0, SwitchCost(), 0)
    assert goodput_rps(run, 400, 100.0) == 3.0
    assert goodput_rps(run, 400, 0.0) == 0.0


def test_share_of_headroom() -> None:
    assert share_captured(8.0, 5.0, 9.0) == 0.75
    assert share_captured(4.0, 5.0, 9.0) == -0.25  # below static
    assert share_captured(5.0, 5.0, 5.0) is None  # no headroom


def test_memory_bound_cases() -> None:
    s1 = model_set("s1")  # 64 x 2.4 GB
    assert not hosts_every_model(Cluster(4, 20 * 10**9, 4, 12e9), s1)
    assert hosts_every_model(Cluster(16, 20 * 10**9, 8, 12e9), s1)
    # the four cases, in goodput
    config = ExperimentConfig.memory_bound()
    assert config.metric == "goodput"
    cases = {(s, n) for s in config.model_sets for n in config.device_counts(s)}
    assert cases == {("s1", 4), ("s1", 8), ("s3", 4), ("s2", 8)}
    with pytest.raises(ValueError, match=r"^metric: must be one of auto, capacity, goodput"):
        ExperimentConfig(metric="rate")


def test_cli_reports_goodput_on_four_devices(tmp_path: Path) -> None:
    output = tmp_path / "out.json"
    args = ["experiment", "replan", "--sets", "s1", "--devices", "s1=4", "--quick"]
    args += ["--workloads", "rotating-2019", "--duration", "240", "--window", "60"]
    args += ["--strategies", "static,periodic/oracle", "--no-sweeps", "-o", str(output)]
    printed = CliRunner(env={"COLUMNS": "300"}).invoke(main, args)
    assert printed.exit_code == 0, printed.output
    assert "Goodput" in printed.output and "Max rate at attainment" not in printed.output
    result = json.loads(output.read_text())
    assert result["rows"] == []
    rows = {row["strategy"]: row for row in result["goodput_rows"]}
    assert set(rows) == {"static", "periodic/oracle", "headroom bound"}
    static, bound = rows["static"], rows["headroom bound"]
    assert static["goodput_rps"] > 0 and static["x_static"] == 1.0
    for row in rows.values():
        assert row["max_rate_rps"] is None or row["max_rate_rps"] > 0
        assert row["goodput_rps"] <= bound["goodput_rps"] + 1e-9
        assert row["headroom"] == pytest.approx(bound["goodput_rps"] / static["goodput_rps"])
    # 240 s in 60 s windows: the bootstrap window is not scored
    assert static["per_window_attainment"][0] is None
    assert len(static["per_window_attainment"]) == 4
    assert bound["per_window_attainment"] == []
    # half the models fit: static misses the target at every rate swept
    assert static["max_rate_rps"] is None
    table = {row[3]: row for row in goodput_table_rows(result)}
    assert "none reached" in table["static"]
