"""Traffic tables, strategy names, the capacity table of the re-placement
experiment and its CLI's argument errors."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from api.cli import main
from planner.domain import Cluster, TimedPlan
from planner.evaluation.experiment import (
    ExperimentConfig,
    Strategy,
    StrategyRunner,
    information_text,
    make_traffic,
    plan_switches,
    run_experiment,
    table_rows,
)
from planner.evaluation.traffic import azure2019_traffic, normalised
from planner.files import open_lines
from planner.replan.options import ReplanOptions
from planner.replan.solvecache import SolveCache
from planner.replan.timed import plan_over_time
from planner.workloads import azure2019
from planner.workloads.timerange import TimeRange
from tests.unit.simulator_cases import GB, group, model, placement


def test_traffic_is_normalised_to_one_request_per_second() -> None:
    starts, ends = np.array([0.0, 10.0]), np.array([10.0, 30.0])
    rates = np.array([[2.0, 0.0], [1.0, 1.5]])  # 20 + 10 + 30 = 60 requests in 30 s
    traffic = normalised("t", ["a", "b"], starts, ends, rates, 0.0, {})
    assert traffic.rates_rps.tolist() == [[1.0, 0.0], [0.5, 0.75]]
    assert traffic.duration_s == 30.0
    # CV 0: a arrives every 1/3 s in [0, 10) at 3 rps -> 29 arrivals after t = 0
    drawn = traffic.at(3.0, seed=1)
    assert drawn.for_model("a").size == 29
    assert drawn.meta["rate_rps"] == 3.0
    with pytest.raises(ValueError, match=r"^rates_rps: the traffic has no requests"):
        normalised("t", ["a"], starts, ends, np.zeros((1, 2)), 1.0, {})


def trace_lines() -> list[str]:
    """A 2019 trace: o1 calls 6, 6 in minutes 0-1; o2 calls 3, 9 in minutes 2-3."""
    header = ",".join(azure2019.HEADER)
    minutes = ["0"] * azure2019.MINUTES_PER_DAY
    one = ["6", "6", "0", "0", *minutes[4:]]
    two = ["0", "0", "3", "9", *minutes[4:]]
    return [f"{header}\n", f"o1,a1,f1,http,{','.join(one)}\n", f"o2,a2,f2,http,{','.join(two)}\n"]


def test_azure2019_traffic_compresses_the_range() -> None:
    lines = trace_lines()
    # minutes 0-3 in two windows of 2 minutes, compressed into 20 s
    traffic = azure2019_traffic(lines, "trace.csv", ["m0", "m1"], TimeRange(0, 240), 20.0, 2, 1.0)
    assert traffic.starts_s.tolist() == [0.0, 10.0] and traffic.ends_s.tolist() == [10.0, 20.0]
    # 12 then 0 requests for m0, 0 then 12 for m1: 24 requests over the 20 s
    assert traffic.rates_rps.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert traffic.meta["compression"] == 12.0 and traffic.meta["path"] == "trace.csv"
    with pytest.raises(ValueError, match=r"^windows: the 4-minute range does not split into 3"):
        azure2019_traffic(lines, "trace.csv", ["m0", "m1"], TimeRange(0, 240), 20.0, 3, 1.0)
    with pytest.raises(ValueError, match=r"^trace.d00.csv: day d00 in the file name must be"):
        azure2019_traffic(lines, "trace.d00.csv", ["m0", "m1"], TimeRange(0, 240), 20.0, 2, 1.0)


@pytest.mark.parametrize(
    "name",
    [
        "static",
        "static+fcfs",
        "static (first window)",
        "static (first window)+slack",
        "periodic/oracle",
        "triggered/forecast",
        "clockwork++ (free)",
        "clockwork++ (real)",
        "periodic/oracle (free)",
        "triggered/forecast (free)+slack",
    ],
)
def test_strategy_names_round_trip(name: str) -> None:
    strategy = Strategy.parse(name)
    assert Strategy.parse(strategy.name) == strategy
    assert strategy.name == name.removesuffix("+fcfs")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sometimes/oracle", "strategy: 'sometimes/oracle': trigger: must be one of"),
        ("periodic/psychic", "strategy: 'periodic/psychic': information: must be one of"),
        ("static+lifo", "strategy: 'static\\+lifo': policy: must be one of"),
        ("clockwork++ (maybe)", "strategy: .*switching: must be one of real, free"),
    ],
)
def test_strategy_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        Strategy.parse(text)


def test_free_switching_is_for_strategies_that_switch() -> None:
    assert Strategy.parse("periodic/oracle (free)") == Strategy(
        "replan", "oracle", "periodic", switching="free"
    )
    assert Strategy.parse("periodic/oracle").switching == "real"
    with pytest.raises(ValueError, match=r"^switching: a static plan never switches"):
        Strategy("static", switching="free")


def test_config_needs_static_first_and_known_names() -> None:
    with pytest.raises(ValueError, match=r"^strategies: the first strategy must be static"):
        ExperimentConfig(strategies=(Strategy("replan"),))
    with pytest.raises(ValueError, match=r"^strategies: the first strategy must be static"):
        ExperimentConfig(strategies=(Strategy("static", "forecast"),))
    with pytest.raises(ValueError, match=r"^workloads: unknown workload 'maf'"):
        ExperimentConfig(workloads=("maf",))
    with pytest.raises(ValueError, match=r"^devices: no device count for model set 's1'"):
        ExperimentConfig(devices={"s2": 8})
    with pytest.raises(ValueError, match=r"^hedge: must be a bool, got 1"):
        ExperimentConfig(hedge=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^time_limit_s: must be a finite number > 0, got nan"):
        ExperimentConfig(time_limit_s=float("nan"))
    with pytest.raises(ValueError, match=r"^react_drift: must be a number >= 0, got -1"):
        ExperimentConfig(react_drift=-1)


@pytest.mark.parametrize("hedge", [True, False])
def test_config_hedge_and_reactions_reach_the_replanners(
    hedge: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[ReplanOptions] = []

    def spy(instance: Any, options: ReplanOptions, **kw: Any) -> Any:
        seen.append(options)
        return plan_over_time(instance, options, **kw)

    monkeypatch.setattr("planner.evaluation.experiment.plan_over_time", spy)
    models = [model("a", 1.0, [[0.1]])]
    cluster = Cluster(1, 5 * GB, devices_per_node=1, load_bw_bytes_per_s=40e9)
    traffic = normalised("flat", ["a"], np.array([0.0]), np.array([40.0]), np.ones((1, 1)), 1.0, {})
    config = ExperimentConfig(
        window_s=20.0, time_limit_s=5.0, sweeps={}, hedge=hedge, react_drift=0.25
    )
    runner = StrategyRunner(cluster, models, traffic, config, SolveCache())
    runner.run(Strategy("replan"), 2.0)
    runner.run(Strategy("replan", "forecast"), 2.0)
    assert [o.hedge for o in seen] == [hedge, hedge]
    assert config.to_json()["hedge"] is hedge
    # only forecast re-planners react (oracle already knows the window)
    assert [o.react_after for o in seen] == [0, config.react_after] and config.react_after >= 2
    assert [o.react_drift for o in seen] == [0.0, 0.25]
    # without nowcast_s, nothing watches the mix
    assert dataclasses.replace(config, nowcast_s=0.0).drift_of(Strategy("replan", "forecast")) == 0
    assert ExperimentConfig.memory_bound().react_drift == 0.25


def test_plan_switches_counts_changed_steps_only() -> None:
    cluster = Cluster(2, 10 * GB, devices_per_node=2, load_bw_bytes_per_s=1e9)
    models = [model("a", 1.0, [[0.1]], weight_bytes=2 * GB)]
    first, second = placement(group([0], "a")), placement(group([1], "a"))
    plan = TimedPlan(((0.0, first), (5.0, first), (9.0, second)))
    switches, cost = plan_switches(cluster, models, plan)
    assert (switches, cost.replicas_loaded, cost.load_s) == (1, 1, 2.0)


def test_bench_capacity_on_a_popularity_flip() -> None:
    # One device holds a or b; traffic is all a, then all b; re-placement
    # follows the flip after the bootstrap window.
    models = [
        model("a", 1.0, [[0.1]], weight_bytes=4 * GB),
        model("b", 1.0, [[0.1]], weight_bytes=4 * GB),
    ]
    cluster = Cluster(1, 5 * GB, devices_per_node=1, load_bw_bytes_per_s=40e9)
    starts, ends = np.array([0.0, 20.0, 40.0]), np.array([20.0, 40.0, 60.0])
    rates = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    traffic = normalised("flip", ["a", "b"], starts, ends, rates, 1.0, {})
    config = ExperimentConfig(
        window_s=20.0, rel_tol=0.2, time_limit_s=5.0, horizon_windows=1, sweeps={}
    )
    runner = StrategyRunner(cluster, models, traffic, config, SolveCache())
    strategies = [
        Strategy("static"),
        Strategy("static", "forecast"),
        Strategy("replan"),
        Strategy("clockwork++", switching="free"),
    ]
    rows = runner.capacity(strategies, None)
    static, first_window, periodic, clockwork, bound = rows
    # planned on window 0 (all a), it never serves the scored b traffic
    assert first_window["strategy"] == "static (first window)"
    assert first_window["forecaster"] is None  # it forecasts nothing
    assert first_window["max_rate_rps"] is None and first_window["ratio_to_static"] is None
    assert first_window["lowest_rate_rps"] == min(rate for rate, _ in first_window["probes"])
    # The scored windows 1-2 are all b at the mean rate; the static plan
    # hosts b (the busier model over the trace), which serves 0.1 s requests
    # within a 1 s SLO up to about 10 rps.
    assert 5.0 < static["max_rate_rps"] < 11.0
    assert periodic["ratio_to_static"] == periodic["max_rate_rps"] / static["max_rate_rps"]
    assert periodic["switches"] == 1 and periodic["replicas_loaded"] == 1
    assert clockwork["switching"] == "free" and clockwork["lost_replica_s"] == 0.0
    # one device does 10 requests/s of 0.1 s: no plan passes much above it
    assert bound["strategy"] == "upper bound"
    assert static["max_rate_rps"] <= bound["max_rate_rps"] * 1.2 and bound["max_rate_rps"] < 11.0
    result = {"rows": [{"model_set": "x", "devices": 1, "workload": "flip", **r} for r in rows]}
    table = table_rows(result)
    assert [r[3] for r in table] == [
        "static",
        "static (first window)",
        "periodic/oracle",
        "clockwork++ (free)",
        "upper bound",
    ]
    assert table[0][4] == "oracle (whole trace)" and table[0][6] == "1.000"
    assert table[1][4] == "first window only"
    assert table[1][5] == f"< {first_window['lowest_rate_rps']:.1f}"  # below the lowest tried


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sets", "s9"], "unknown 's9'"),
        (["--devices", "s1"], "expected SET=COUNT"),
        (["--devices", "s1=8,x"], "expected SET=COUNT"),
        (["--strategies", "periodic/oracle"], "the first strategy must be static"),
        (["--strategies", "static,never/oracle"], "trigger: must be one of"),
        (["--forecaster", "arima"], "forecast: unknown forecaster 'arima'"),
        (["--ray-address", "nowhere"], "options.ray_address: must be host:port"),
        (["--backend", "ray", "--ray-address", "127.0.0.1:9"], "options.ray_address: no Ray"),
    ],
)
def test_cli_rejects_bad_arguments(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["experiment", "replan", "--quick", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_the_azure2019_workload_reads_its_trace_through_the_opener() -> None:
    opened: list[str] = []

    @contextmanager
    def open_trace(name: str) -> Iterator[list[str]]:
        opened.append(name)
        yield trace_lines()

    config = ExperimentConfig(
        duration_s=20.0,
        rate_window_s=10.0,
        azure2019_path="trace.csv",
        azure2019_range=("0.0.0", "0.0.4"),
    )
    models = [model("m0", 1.0, [[0.1]]), model("m1", 1.0, [[0.1]])]
    traffic = make_traffic("azure2019", models, config, open_trace)
    assert opened == ["trace.csv"]
    assert traffic.rates_rps.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(ValueError, match=r"^azure2019_path: the azure2019 workload needs a trace"):
        make_traffic("azure2019", models, config)
    unnamed = dataclasses.replace(config, azure2019_path=None)
    with pytest.raises(ValueError, match=r"^azure2019_path: the azure2019 workload needs a trace"):
        run_experiment(unnamed, open_trace=open_trace)
    assert opened == ["trace.csv"]


def test_cli_replays_the_shipped_sample_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def run(config: ExperimentConfig, *args: Any) -> dict[str, Any]:
        seen["config"], seen["open_trace"] = config, args[-1]
        return {"rows": [], "sweeps": []}

    monkeypatch.setattr("api.commands.experiment.run_experiment", run)
    result = CliRunner().invoke(main, ["experiment", "replan", "--quick"])
    assert result.exit_code == 0, result.output
    path = Path(seen["config"].azure2019_path)
    assert path.name == "azure2019_sample.csv" and path.is_file()
    assert seen["open_trace"] is open_lines


def test_cli_sets_the_drift_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[ExperimentConfig] = []

    def run(config: ExperimentConfig, *args: Any) -> dict[str, Any]:
        seen.append(config)
        return {"rows": [], "sweeps": []}

    monkeypatch.setattr("api.commands.experiment.run_experiment", run)
    runner = CliRunner()
    for extra in ([], ["--react-drift", "0"], ["--react-drift", "0.4"]):
        result = runner.invoke(main, ["experiment", "replan", "--memory-bound", *extra])
        assert result.exit_code == 0, result.output
    assert [config.react_drift for config in seen] == [0.25, 0.0, 0.4]
    negative = runner.invoke(main, ["experiment", "replan", "--react-drift", "-1"])
    assert negative.exit_code == 2 and "--react-drift" in negative.output


def test_cli_tables_say_below_the_lowest_rate_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    row = {
        "model_set": "s1",
        "devices": 8,
        "workload": "synthetic",
        "strategy": "static",
        "kind": "static",
        "information": "oracle",
        "forecaster": None,
        "max_rate_rps": None,
        "lowest_rate_rps": 3.5,
        "ratio_to_static": None,
        "switches": 0,
        "lost_replica_s": 0.0,
        "unavailable_requests": 0,
    }
    result = {"rows": [row], "sweeps": [{**row, "knob": "cv", "value": 4.0}]}
    monkeypatch.setattr("api.commands.experiment.run_experiment", lambda *_: result)
    printed = CliRunner().invoke(main, ["experiment", "replan", "--quick"])
    assert printed.exit_code == 0, printed.output
    assert printed.output.count("< 3.5") == 2  # the capacity table and the sweeps'


def test_run_experiment_end_to_end_with_checkpoints() -> None:
    config = ExperimentConfig(
        model_sets=("s2",),
        devices={"s2": 8},
        workloads=("synthetic",),
        duration_s=360.0,
        window_s=90.0,
        strategies=(Strategy("static"), Strategy("replan", "forecast", "triggered")),
        rel_tol=0.5,
        time_limit_s=10.0,
        sweeps={"cv": (1.0,)},
        sweep_set="s2",
        sweep_strategies=(Strategy("static"),),
    )
    saved: list[dict[str, Any]] = []
    result = run_experiment(config, None, saved.append)
    assert [len(s["rows"]) for s in saved] == [3, 3] and [len(s["sweeps"]) for s in saved] == [0, 2]
    assert all(s["partial"] for s in saved) and not result["partial"]
    static, triggered, bound = result["rows"]
    # no plan beats the bound; the search brackets each within rel_tol
    assert bound["strategy"] == "upper bound" and bound["kind"] == "bound"
    assert bound["max_rate_rps"] * (1 + config.rel_tol) >= static["max_rate_rps"]
    assert (static["model_set"], static["devices"], static["workload"]) == ("s2", 8, "synthetic")
    assert static["ratio_to_static"] == 1.0 and static["max_rate_rps"] > 0
    assert triggered["information"] == "forecast" and triggered["forecaster"] == "holt(0.5, 0.5)"
    assert triggered["trust_windows"] == 4 and static["trust_windows"] == 0
    assert information_text(triggered) == (
        "forecast holt(0.5, 0.5), trusted while its plans of the last 4 windows served more"
    )
    assert triggered["react_drift"] == 0.0 and static["react_drift"] == 0.0
    assert information_text({**triggered, "react_drift": 0.25}).endswith(
        "served more, re-solved inside a window when the mix drifts by > 0.25"
    )
    assert triggered["attainment"] >= 0.99
    sweep, sweep_bound = result["sweeps"]
    assert (sweep["knob"], sweep["value"], sweep["strategy"]) == ("cv", 1.0, "static")
    assert sweep_bound["strategy"] == "upper bound"
    assert result["config"]["strategies"] == ["static", "triggered/forecast"]
