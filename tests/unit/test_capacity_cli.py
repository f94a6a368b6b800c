"""``meshplan capacity`` end to end on the shipped examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from planner import files
from planner.codec import decode
from planner.evaluation.devices import DeviceNeed
from planner.workloads import ProcessSpec, process_workload

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def workload_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two requests/s (CV 2) for each S3 model, for 60 s."""
    names = [m.name for m in files.load_models(EXAMPLES / "models_s3.json")]
    workload = process_workload({n: ProcessSpec(2.0, 2.0) for n in names}, 60.0, 0)
    path = tmp_path_factory.mktemp("capacity") / "workload.json"
    files.save_workload(path, workload)
    return path


def capacity(workload: Path, *args: str) -> tuple[int, str]:
    inputs = ["--cluster", str(EXAMPLES / "cluster_8.json")]
    inputs += ["--models", str(EXAMPLES / "models_s3.json"), "--workload", str(workload)]
    result = CliRunner().invoke(main, ["capacity", *inputs, *args], prog_name="meshplan")
    return result.exit_code, result.output


def test_answers_per_strategy_with_curves_and_json(workload_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "need.json"
    code, output = capacity(
        workload_path,
        "--target",
        "0.9",
        "--max-devices",
        "24",
        "--time-limit",
        "60",
        "-o",
        str(out),
    )
    assert code == 0, output
    need = decode(DeviceNeed, json.loads(out.read_text()), "need")
    assert need.target == 0.9 and need.max_devices == 24
    assert [a.strategy for a in need.answers] == ["greedy", "sr", "clockwork"]
    for answer in need.answers:
        assert answer.devices is not None and 1 < answer.devices <= 24
        assert answer.largest_tried == 24
        by_count = {p.devices: p.attainment for p in answer.points}
        assert by_count[answer.devices] >= 0.9
        below = max(d for d in by_count if d < answer.devices)
        assert by_count[below] < 0.9
        assert f"{answer.strategy}: attainment by device count" in output
    assert need.answers[0].placement is not None and need.answers[2].timed_plan is not None
    assert f"{need.answers[0].devices} devices" in output


def test_above_the_largest_count(workload_path: Path) -> None:
    code, output = capacity(workload_path, "--target", "0.99", "--max-devices", "1")
    assert code == 0, output
    assert output.count("above 1 device") == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "0"], "is not in (0, 1]"),
        (["--target", "1.5"], "is not in (0, 1]"),
        (["--max-devices", "0"], "--max-devices"),
        (["--solver", "replan"], "--solver"),
        (["--time-limit", "-1"], "--time-limit"),
    ],
)
def test_bad_arguments_are_usage_errors(workload_path: Path, args: list[str], message: str) -> None:
    code, output = capacity(workload_path, *args)
    assert code == 2 and message in output
