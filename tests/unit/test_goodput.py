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
from planner.evaluation.goodput import goodput_rps, share_captured, widening_sweep
from planner.evaluation.seeds import over_seeds
from planner.profiles import model_set
from planner.replan.forecast import BestRecent, make_forecaster
from planner.replan.transition import SwitchCost


def test_goodput_is_served_requests_per_scored_second() -> None:
    run = Run(0.75, 0, SwitchCost(), 0)
    assert goodput_rps(run, 400, 100.0) == 3.0
    assert goodput_rps(run, 400, 0.0) == 0.0


def test_share_of_headroom() -> None:
    assert share_captured(8.0, 5.0, 9.0) == 0.75
    assert share_captured(4.0, 5.0, 9.0) == -0.25  # below static
    assert share_captured(5.0, 5.0, 5.0) is None  # no headroom


def test_the_sweep_widens_while_goodput_rises() -> None:
    calls: list[float] = []

    def saturating(rate: float) -> float:  # rises to 30 rps, then overload costs a little
        calls.append(rate)
        return min(rate, 30.0) - 0.01 * rate

    found = widening_sweep(saturating, [20.0, 10.0], cap_rps=160.0)
    assert calls == [10.0, 20.0, 40.0, 80.0]  # 80 is below 40: stop
    assert found == {10.0: 9.9, 20.0: 19.8, 40.0: 29.6, 80.0: 29.2}
    calls.clear()
    rising = widening_sweep(saturating, [10.0, 20.0], cap_rps=30.0)
    assert calls == [10.0, 20.0] and max(rising, key=rising.__getitem__) == 20.0  # at the cap
    assert widening_sweep(lambda rate: rate, [1.0], cap_rps=8.0) == {
        1.0: 1.0,
        2.0: 2.0,
        4.0: 4.0,
        8.0: 8.0,
    }
    with pytest.raises(ValueError, match=r"^step: must be > 1"):
        widening_sweep(saturating, [1.0], 8.0, step=1.0)


def test_memory_bound_cases() -> None:
    s1 = model_set("s1")  # 64 x 2.4 GB
    assert not hosts_every_model(Cluster(4, 20 * 10**9, 4, 12e9), s1)
    assert hosts_every_model(Cluster(16, 20 * 10**9, 8, 12e9), s1)
    # the four cases, in goodput
    config = ExperimentConfig.memory_bound()
    assert config.metric == "goodput"
    cases = {(s, n) for s in config.model_sets for n in config.device_counts(s)}
    assert cases == {("s1", 4), ("s1", 8), ("s3", 4), ("s2", 8)}
    # with and without SLO-aware preemption: the bound holds for any queue order
    names = [strategy.name for strategy in config.strategies]
    assert {"static", "static+slack", "periodic/forecast", "periodic/forecast+slack"} <= set(names)
    # the headroom's measured end: placed at will, with either queue order
    assert {"periodic/oracle (free)", "periodic/oracle (free)+slack"} <= set(names)
    # forecasting with whichever forecaster did best on the last three windows
    assert make_forecaster(config.forecaster) == BestRecent(lookback=3)
    with pytest.raises(ValueError, match=r"^metric: must be one of auto, capacity, goodput"):
        ExperimentConfig(metric="rate")
    with pytest.raises(ValueError, match=r"^goodput_max_rate_factor: must be at least the largest"):
        ExperimentConfig(goodput_rates=(1.0, 4.0), goodput_max_rate_factor=2.0)


def test_cli_runs_seeds_and_summarises_over_them(tmp_path: Path) -> None:
    output = tmp_path / "out.json"
    args = ["experiment", "replan", "--sets", "s2", "--devices", "s2=8", "--quick"]
    args += ["--metric", "goodput", "--workloads", "rotating-2019", "--duration", "120"]
    args += ["--window", "60", "--strategies", "static,periodic/oracle", "--seed", "3"]
    args += ["--no-sweeps"]
    args += ["--seeds", "2", "-o", str(output)]
    printed = CliRunner(env={"COLUMNS": "300"}).invoke(main, args)
    assert printed.exit_code == 0, printed.output
    rows = json.loads(output.read_text())["goodput_rows"]
    assert [(row["seed"], row["strategy"]) for row in rows] == [
        (seed, strategy)
        for seed in (3, 4)
        for strategy in ("static", "periodic/oracle", "headroom bound")
    ]
    # each seed draws its own trace
    static = [row["goodput_rps"] for row in rows if row["strategy"] == "static"]
    assert static[0] != static[1]
    oracle = [row["x_static"] for row in rows if row["strategy"] == "periodic/oracle"]
    summary = over_seeds(rows)
    assert summary[1]["x_static"] == pytest.approx(sum(oracle) / 2)
    assert "Goodput over seeds 3..4" in printed.output
    assert summary[1]["x_static_min"] == min(oracle)  # the table's cells: test_experiment_seeds
    refused = CliRunner().invoke(main, ["experiment", "replan", "--seeds", "0"])
    assert refused.exit_code == 2 and "--seeds" in refused.output


def test_cli_reports_goodput_on_four_devices(tmp_path: Path) -> None:
    output = tmp_path / "out.json"
    args = ["experiment", "replan", "--sets", "s1", "--devices", "s1=4", "--quick"]
    args += ["--workloads", "rotating-2019", "--duration", "240", "--window", "60"]
    args += ["--strategies", "static,periodic/oracle,periodic/oracle (free)"]
    args += ["--no-sweeps", "-o", str(output)]
    printed = CliRunner(env={"COLUMNS": "300"}).invoke(main, args)
    assert printed.exit_code == 0, printed.output
    assert "Goodput" in printed.output and "Max rate at attainment" not in printed.output
    result = json.loads(output.read_text())
    assert result["rows"] == []
    rows = {row["strategy"]: row for row in result["goodput_rows"]}
    assert set(rows) == {"static", "periodic/oracle", "periodic/oracle (free)", "headroom bound"}
    static, bound = rows["static"], rows["headroom bound"]
    # placed at will: in the bound's class of plans, its loads cost nothing
    at_will = rows["periodic/oracle (free)"]
    assert at_will["switching"] == "free" and at_will["load_s"] == at_will["lost_replica_s"] == 0
    assert at_will["switches"] > 0
    reached = max(row["goodput_rps"] for row in rows.values() if row is not bound)
    oracle = rows["periodic/oracle"]
    for row in rows.values():
        assert row["reached_goodput_rps"] == reached
        assert row["reached_headroom"] == pytest.approx(reached / static["goodput_rps"])
    assert oracle["share_of_reached"] == pytest.approx(
        (oracle["goodput_rps"] - static["goodput_rps"]) / (reached - static["goodput_rps"])
    )
    assert bound["share_of_reached"] is None
    assert static["goodput_rps"] > 0 and static["x_static"] == 1.0
    for row in rows.values():
        assert row["max_rate_rps"] is None or row["max_rate_rps"] > 0
        rates = [rate for rate, _, _ in row["sweep"]]
        goodput = {rate: value for rate, value, _ in row["sweep"]}
        assert max(rates) <= 4 * row["rate_rps"] * (1 + 1e-9)  # --quick's cap
        assert goodput[row["best_rate_rps"]] == row["best_goodput_rps"] == max(goodput.values())
        # the sweep stops where goodput stops rising, or at its cap
        assert row["best_at_cap"] == (row["best_rate_rps"] == max(rates))
        assert row["best_at_cap"] or goodput[max(rates)] <= row["best_goodput_rps"]
        assert row["goodput_rps"] <= bound["goodput_rps"] + 1e-9
        assert row["headroom"] == pytest.approx(bound["goodput_rps"] / static["goodput_rps"])
    # goodput rose past twice the trace's rate: the sweep went further
    assert max(rate for rate, _, _ in static["sweep"]) > 2 * static["rate_rps"]
    # 240 s in 60 s windows: the bootstrap window is not scored
    assert static["per_window_attainment"][0] is None
    assert len(static["per_window_attainment"]) == 4
    assert bound["per_window_attainment"] == []
    # half the models fit: static misses the target at every rate swept
    assert static["max_rate_rps"] is None
    table = {row[3]: row for row in goodput_table_rows(result)}
    assert "none reached" in table["static"]
