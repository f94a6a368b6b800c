"""``meshplan simulate`` through click's CliRunner, on files written to a
temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from planner.codec import encode
from planner.domain import TimedPlan
from tests.unit.cli_inputs import planning_arguments
from tests.unit.simulator_cases import CLUSTER, group, model, placement, workload

MODELS = [model("a", 2.5, [[1.0], [1.5]]), model("b", 5.0, [[1.0]])]
PLAN = placement(group([0], "a", "b"))
# a: [0, 1]; a: [1, 2]; a would end at 3 > 2.75: dropped; b: [4, 5]. With
# batches of 2 the third request joins the second (start 1 > 0.25): both end at
# 1 + 1.5 = 2.5, within both deadlines.
WORK = workload([(0.0, "a"), (0.0, "a"), (0.25, "a"), (4.0, "b")], ["a", "b"], 8.0)


def write_inputs(folder: Path, plan: object = PLAN) -> list[str]:
    (folder / "plan.json").write_text(json.dumps(encode(plan)))
    inputs = planning_arguments(folder, CLUSTER, MODELS, WORK)
    return ["simulate", *inputs, "--placement", str(folder / "plan.json")]


def test_json_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [*write_inputs(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["attainment"] == 3 / 4
    assert summary["outcomes"] == {"served": 3, "dropped_slo": 1, "no_replica": 0, "unavailable": 0}
    assert summary["per_model_attainment"] == {"a": 2 / 3, "b": 1.0}
    assert summary["groups"][0]["busy_s"] == 3.0


@pytest.mark.parametrize(
    ("options", "attainment", "scored"),
    [([], 3 / 4, 4), (["--max-batch", "2"], 1.0, 4), (["--warmup", "0.125"], 1 / 2, 2)],
)
def test_batching_and_warmup_options(
    tmp_path: Path, options: list[str], attainment: float, scored: int
) -> None:
    result = CliRunner().invoke(main, [*write_inputs(tmp_path), "--json", *options])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["attainment"], summary["num_scored"]) == (attainment, scored)


def test_timed_plan_and_reference_engine(tmp_path: Path) -> None:
    plan = TimedPlan(((0.0, PLAN), (3.0, placement(group([0], "a")))))
    result = CliRunner().invoke(
        main, [*write_inputs(tmp_path, plan), "--json", "--engine", "reference"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["outcomes"]["no_replica"] == 1


def test_tables(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, write_inputs(tmp_path))
    assert result.exit_code == 0, result.output
    for text in ("Overall", "attainment", "0.75", "Per model", "Per group", "g0 op1xpp1 [0]"):
        assert text in result.output


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (placement(group([0], "a", "c")), "groups[0].models: unknown model 'c'"),
        (placement(group([7], "a")), "groups[0].devices: device 7 is outside the cluster"),
    ],
)
def test_bad_plan_is_an_error_naming_the_field(tmp_path: Path, plan: object, message: str) -> None:
    result = CliRunner().invoke(main, write_inputs(tmp_path, plan))
    assert result.exit_code == 1
    assert message in result.output


def test_malformed_models_file_names_file_and_field(tmp_path: Path) -> None:
    args = write_inputs(tmp_path)
    (tmp_path / "models.json").write_text(json.dumps({"models": [{"name": "a"}]}))
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "models.json: models[0].slo_s: is required" in result.output
