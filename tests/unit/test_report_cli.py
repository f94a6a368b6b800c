"""``meshplan report compare`` and ``report render`` through click's
CliRunner, on the tiny report instance written to files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from api.cli import main
from planner.codec import decode
from planner.domain import Placement
from planner.sim import simulate
from tests.unit.cli_inputs import planning_arguments
from tests.unit.report_cases import CLUSTER, EXPERIMENT, MEMORY_BOUND_EXPERIMENT, MODELS, WORK


def write_inputs(folder: Path) -> list[str]:
    return ["report", "compare", *planning_arguments(folder, CLUSTER, MODELS, WORK)]


def test_compare_writes_page_and_data(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [
        *write_inputs(tmp_path),
        "--solvers",
        "greedy",
        "--quick",
        "--rate-scales",
        "",
        "--cv-scales",
        "",
        "--slo-scales",
        "2,8",
        "--device-factors",
        "",
        "--title",
        "Tiny",
        "--output",
        str(out),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"report: {(out / 'report.html').resolve()}" in result.output
    assert "[3/3] slo_scale=8: greedy" in result.output
    data = json.loads((out / "report.json").read_text())
    assert data["title"] == "Tiny"
    assert data["inputs"]["settings"]["time_limit_s"] == 10.0
    assert [s["axis"] for s in data["sweeps"]] == ["slo_scale"]
    placement = decode(Placement, data["rows"][0]["placement"], "placement")
    (row,) = csv.DictReader((out / "table.csv").open())
    assert float(row["attainment"]) == simulate(CLUSTER, MODELS, placement, WORK).attainment
    assert "<svg" in (out / "report.html").read_text()


def test_bad_solver_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [*write_inputs(tmp_path), "--solvers", "greedy,oracle", "--output", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "--solvers: unknown solver 'oracle'" in result.output
    assert not out.exists()


def test_bad_scale_list(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [*write_inputs(tmp_path), "--rate-scales", "1,fast"])
    assert result.exit_code == 2
    assert "--rate-scales" in result.output and "'1,fast'" in result.output


def test_render_again_and_reject_malformed(tmp_path: Path) -> None:
    data = {"kind": "compare", "title": "x", "inputs": {}, "rows": [{"label": "g"}]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(main, ["report", "render", "--data", str(path)])
    assert result.exit_code == 2
    assert "bad.json: report.rows[0].solver: is required" in result.output
    data["rows"] = []
    path.write_text(json.dumps(data))
    out = tmp_path / "page"
    result = CliRunner().invoke(
        main, ["report", "render", "--data", str(path), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "report.html").read_text().count("<tr") == 1  # the header row only


def test_replan_writes_page_and_data(tmp_path: Path) -> None:
    args = write_inputs(tmp_path)
    args[1] = "replan"
    out = tmp_path / "out"
    options = ["--strategies", "static,clockwork", "--window", "10", "--no-capacity"]
    result = CliRunner().invoke(main, [*args, *options, "--quick", "--output", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "report.json").read_text())
    assert data["kind"] == "replan" and data["capacity"] == []
    lines = {t["strategy"]: t for t in data["timelines"]}
    assert lines["static"]["case"] == "models / workload @ rate x1"
    assert len(lines["clockwork"]["window_attainment"]) == 3
    assert (out / "switches.csv").exists()


def test_replan_pairs_models_and_workloads(tmp_path: Path) -> None:
    args = write_inputs(tmp_path)
    args[1] = "replan"
    result = CliRunner().invoke(main, [*args, "--models", args[5]])
    assert result.exit_code == 2
    assert "one --workload for every --models" in result.output
    result = CliRunner().invoke(main, [*args, "--strategies", "static,hope"])
    assert result.exit_code == 1
    assert "strategies: unknown strategy 'hope'" in result.output


def test_replan_renders_experiment_data(tmp_path: Path) -> None:
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(EXPERIMENT))
    out = tmp_path / "out"
    args = ["report", "replan", "--experiment", str(path), "--title", "Exp", "--output", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "report.json").read_text())
    assert data["title"] == "Exp"
    assert [row["max_rate"] for row in data["capacity"]] == [40.0, 48.0, 44.0, 52.0]
    path.write_text(json.dumps({**EXPERIMENT, "rows": [{"model_set": "s1"}]}))
    result = CliRunner().invoke(main, ["report", "replan", "--experiment", str(path)])
    assert result.exit_code == 2
    assert "experiment.rows[0].devices: is required" in result.output
    result = CliRunner().invoke(main, ["report", "replan"])
    assert result.exit_code == 2 and "give --experiment, or --cluster" in result.output


def test_replan_renders_goodput_rows(tmp_path: Path) -> None:
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(MEMORY_BOUND_EXPERIMENT))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["report", "replan", "--experiment", str(path), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads((out / "report.json").read_text())
    assert [row["goodput_rps"] for row in data["goodput"]] == [10.0, 14.5, 16.0]
    assert "15.50 @ 40.0 req/s (sweep&#x27;s top)" in (out / "report.html").read_text()
    assert (out / "goodput.csv").read_text().count("\n") == 4
    bad = {**MEMORY_BOUND_EXPERIMENT, "goodput_rows": [{"model_set": "s1"}]}
    path.write_text(json.dumps(bad))
    result = CliRunner().invoke(main, ["report", "replan", "--experiment", str(path)])
    assert result.exit_code == 2
    assert "experiment.goodput_rows[0].kind: is required" in result.output


def test_render_without_matplotlib_names_the_extra(tmp_path: Path) -> None:
    data = tmp_path / "experiment.json"
    data.write_text(json.dumps(EXPERIMENT))
    code = (
        "import sys; sys.modules['matplotlib'] = None; from api.cli import main; "
        f"main(['report', 'replan', '--experiment', {str(data)!r}, '--output', {str(tmp_path)!r}])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "Error: rendering a report as HTML needs matplotlib, from the 'report' extra" in (
        done.stderr
    )
    assert "pip install 'meshplan[report]'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "report.html").exists()
