"""``meshplan replan`` through click's CliRunner, on the popularity flip of
tests/unit/test_replan.py written to a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from api.cli import main
from planner.codec import decode
from planner.domain import TimedPlan
from tests.unit.cli_inputs import planning_arguments
from tests.unit.simulator_cases import group, placement
from tests.unit.test_replan import (
    FAST,
    MODELS,
    SHIFT,
    SHIFT_CLUSTER,
    SHIFT_MODELS,
    W,
    trace,
)


def arguments(folder: Path, *extra: str) -> list[str]:
    inputs = planning_arguments(folder, FAST, MODELS, trace(["a", "b"]))
    return ["replan", *inputs, "--window", str(W), *extra]


def test_replan_writes_the_timed_plan_and_prints_the_decisions(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(
        main, arguments(tmp_path, "--information", "oracle", "-o", str(out))
    )
    assert result.exit_code == 0, result.output
    plan = decode(TimedPlan, json.loads(out.read_text()), "plan")
    assert plan.steps == ((0.0, placement(group([0], "a"))), (W, placement(group([0], "b"))))
    assert "Decisions" in result.output and "switch" in result.output


def test_replan_json_has_attainment_and_switch_cost(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, arguments(tmp_path, "--information", "oracle", "--json"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # window 1's 40 b requests: the 4 in b's 1 s load are lost
    assert data["attainment"] == 36 / 40 and data["switches"] == 1
    assert data["switch_cost"]["replicas_loaded"] == 1
    assert [w["action"] for w in data["windows"]] == ["bootstrap", "switch"]


def test_replan_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    too_long = runner.invoke(main, [*arguments(tmp_path), "--window", "30"])
    assert too_long.exit_code == 1
    assert "window_s: 30.0 s is longer than the workload (20.0 s)" in too_long.output
    oracle_reacts = runner.invoke(
        main, arguments(tmp_path, "--information", "oracle", "--react-after", "4")
    )
    assert oracle_reacts.exit_code == 2
    assert "react_after: reactions are for forecast mode" in oracle_reacts.output
    bad_forecast = runner.invoke(main, arguments(tmp_path, "--forecaster", "tea-leaves"))
    assert bad_forecast.exit_code == 2 and "forecast: unknown forecaster" in bad_forecast.output


def test_replan_reacts_to_a_drifting_mix(tmp_path: Path) -> None:
    inputs = planning_arguments(tmp_path, SHIFT_CLUSTER, SHIFT_MODELS, SHIFT)
    watch = ["--forecaster", "last", "--nowcast", "1", "--react-drift", "0.25", "--json"]
    result = CliRunner().invoke(main, ["replan", *inputs, "--window", str(W), *watch])
    assert result.exit_code == 0, result.output
    windows = json.loads(result.output)["windows"]
    # the hand case of test_replan: checks at 21 s (keep) and 25 s (switch)
    assert [(w["start_s"], w["action"]) for w in windows[3:]] == [(21.0, "keep"), (25.0, "switch")]
    assert windows[4]["reason"].startswith("the mix drifted by 0.267 > 0.25 since planned")


def test_replan_reaction_options_are_checked(tmp_path: Path) -> None:
    runner = CliRunner()
    no_nowcast = runner.invoke(main, arguments(tmp_path, "--react-drift", "0.25"))
    assert no_nowcast.exit_code == 2
    assert "react_drift: watching the mix inside a window needs" in no_nowcast.output
    unhedged = runner.invoke(main, arguments(tmp_path, "--trust-windows", "2", "--no-hedge"))
    assert unhedged.exit_code == 2
    assert "trust_windows: weighing the forecast against history needs" in unhedged.output
    replans = runner.invoke(main, arguments(tmp_path, "--react-replan"))
    assert (
        replans.exit_code == 2 and "react_replan: re-solving on a reaction needs" in replans.output
    )
