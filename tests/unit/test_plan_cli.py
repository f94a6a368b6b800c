"""``meshplan plan`` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from api.commands.plan import parse_options
from planner.codec import decode
from planner.domain import Cluster, Placement
from planner.placement.solution import SolveResult
from planner.sim import simulate
from planner.validation import validate
from tests.unit.cli_inputs import planning_arguments
from tests.unit.placement_cases import GB, model, workload

MODELS = [model("a", weight_bytes=12 * GB), model("b", weight_bytes=12 * GB)]
CLUSTER = Cluster(2, 20 * GB, devices_per_node=2)
WORK = workload({"a": 4.0, "b": 4.0}, cv=4.0, duration_s=20, seed=1)


def arguments(folder: Path, *extra: str, models: list | None = None) -> list[str]:
    return ["plan", *planning_arguments(folder, CLUSTER, models or MODELS, WORK), *extra]


def test_plan_writes_a_valid_placement_and_prints_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    args = arguments(tmp_path, "--solver", "greedy", "--time-limit", "20", "-o", str(out))
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    placement = decode(Placement, json.loads(out.read_text()), "placement")
    validate(CLUSTER, MODELS, placement)
    attainment = simulate(CLUSTER, MODELS, placement, WORK).attainment
    assert "op1xpp2" in result.output or "op2xpp1" in result.output
    for label in ("Groups", "replicas", "attainment", "solve time (s)", "heuristic"):
        assert label in result.output
    assert f"{attainment:.4g}" in result.output


def test_plan_places_what_fits_and_lists_the_rest(tmp_path: Path) -> None:
    models = [model("a", weight_bytes=50 * GB), MODELS[1]]
    result = CliRunner().invoke(main, arguments(tmp_path, "--solver", "greedy", models=models))
    assert result.exit_code == 0, result.output
    unplaced, plan = result.output.split("Unplaced models (fit no group)")[1].split("Plan")
    # one row per model; a narrow terminal wraps the reason onto more lines
    cells = [line.split("│")[1:3] for line in unplaced.splitlines() if "│" in line]
    assert [name.strip() for name, _ in cells if name.strip()] == ["a"]
    assert " ".join(why.strip() for _, why in cells) == (
        "needs 26.9 GB per device at best (op=2, pp=1), the device has 21.4 GB"
    )
    assert "models placed      │ 1/2" in plan
    as_json = CliRunner().invoke(main, arguments(tmp_path, "--json", models=models))
    assert json.loads(as_json.output)["unplaced"] == {
        "a": "needs 26.9 GB per device at best (op=2, pp=1), the device has 21.4 GB"
    }


def test_plan_json_is_the_solve_result(tmp_path: Path) -> None:
    args = arguments(tmp_path, "--solver", "cpsat", "--json", "--option", "seed=2")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    solved = decode(SolveResult, json.loads(result.output), "result")
    assert solved.solver == "cpsat" and solved.status in ("optimal", "feasible")
    assert solved.attainment == simulate(CLUSTER, MODELS, solved.placement, WORK).attainment


def test_clockwork_is_not_a_solver_choice(tmp_path: Path) -> None:
    # a time-varying strategy: the reports run it, not `plan`
    result = CliRunner().invoke(main, arguments(tmp_path, "--solver", "clockwork"))
    assert result.exit_code == 2
    assert (
        "'clockwork' is not one of 'greedy', 'cpsat', 'milp', 'lns', 'sr', 'auto'" in result.output
    )


@pytest.mark.parametrize(
    ("extra", "models", "message"),
    [
        (("--option", "beam_width=0"), None, "options.beam_width: must be an integer >= 1"),
        (("--option", "nonsense"), None, "expected KEY=VALUE"),
        (("--time-limit", "inf"), None, "'inf' is not a finite number > 0"),
        (("--time-limit", "0"), None, "'0' is not a finite number > 0"),
        (
            (),
            [model("a", weight_bytes=50 * GB), model("b", weight_bytes=50 * GB)],
            "Error: models: none of the 2 models fits a group of the cluster under any config; "
            "the first, 'a', needs 26.9 GB per device at best (op=2, pp=1), the device has "
            "21.4 GB\n",
        ),
    ],
)
def test_bad_input_is_an_error_naming_the_field(
    tmp_path: Path, extra: tuple[str, ...], models: list | None, message: str
) -> None:
    result = CliRunner().invoke(main, arguments(tmp_path, *extra, models=models))
    assert result.exit_code != 0
    assert message in result.output


def test_option_values_are_read_as_json_when_they_parse() -> None:
    assert parse_options(["beam_width=3", "group_sizes=[2, 4]", "milp_backend=highs"]) == {
        "beam_width": 3,
        "group_sizes": [2, 4],
        "milp_backend": "highs",
    }


def test_plan_without_the_bound_says_it_was_not_computed(tmp_path: Path) -> None:
    args = arguments(tmp_path, "--solver", "greedy", "--option", "certify=false")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    plan = result.output.split("Plan")[-1]
    rows = {line.split("│")[1].strip(): line for line in plan.splitlines() if "│" in line}
    assert "not computed" in rows["upper bound"] and "not computed" in rows["gap (points)"]
    assert "no certified bound (not computed)" in result.output
    as_json = CliRunner().invoke(main, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    solved = json.loads(as_json.output)
    assert solved["upper_bound"] is None and solved["gap_points"] is None
    bad = CliRunner().invoke(main, arguments(tmp_path, "--option", "certify=yes"))
    assert bad.exit_code != 0 and "options.certify: must be true or false" in bad.output
