"""The demo's pieces that run without a deployment: inputs, the folder it
may empty, and turning API jobs and plans into solver results. (The whole
demo is `make demo`; its parts are covered end to end by the executor's
loopback tests.)"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from api.commands.demo_run import Demo, DemoSettings, family_probes, solve_result
from harness import loopback
from harness.loopback import Deployment
from planner.codec import encode
from planner.domain import Placement
from tests.unit.placement_cases import model
from tests.unit.report_cases import PLACEMENT

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_settings_find_the_shipped_examples(tmp_path: Path) -> None:
    DemoSettings(tmp_path, EXAMPLES).check()
    with pytest.raises(FileNotFoundError, match=r"^examples: .*cluster_8\.json is missing"):
        DemoSettings(tmp_path, tmp_path).check()


def test_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("precious")
    result = CliRunner().invoke(main, ["demo", "--output", str(tmp_path)])
    assert result.exit_code == 2
    assert "not empty and not a demo folder" in result.output
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_missing_examples_fail_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--output", str(out), "--examples", str(tmp_path)])
    assert result.exit_code == 1
    assert "demo failed: examples:" in result.output
    assert (out / ".meshplan-demo").exists()


def test_job_and_plan_become_a_solver_result() -> None:
    job = {"solve_status": "feasible", "wall_s": 3.5, "objective": 0.9, "bound": 1.0, "gap": 0.1}
    plan = {"placement": encode(PLACEMENT), "attainment": 0.97}
    result = solve_result("cpsat", job, plan)
    assert result.placement == PLACEMENT and isinstance(result.placement, Placement)
    assert (result.solver, result.status, result.attainment) == ("cpsat", "feasible", 0.97)
    assert (result.wall_s, result.proxy_objective, result.bound, result.gap) == (3.5, 0.9, 1.0, 0.1)


def test_one_probe_per_family() -> None:
    families = {"a": "bert", "b": "moe", "c": "bert"}
    specs = [dataclasses.replace(model(name), family=f) for name, f in families.items()]
    probes = family_probes(specs, {"a": 1, "b": 2, "c": 3})
    assert probes == {"bert": (1, "a"), "moe": (2, "b")}


def port_of(args: list[str]) -> int:
    return int(args[args.index("--port") + 1])


def test_a_base_port_puts_api_agent_and_router_on_consecutive_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[list[str]] = []
    monkeypatch.setattr(
        Deployment, "_spawn", lambda _self, _name, args, _env=None: spawned.append(list(args))
    )
    monkeypatch.setattr(loopback, "answers", lambda _url: True)
    deployment = Deployment(tmp_path, base_port=47100, keys={"admin": "a", "executor": "e"})
    assert deployment.next_port() == 47100  # what start_api serves the API on
    deployment.start_agent(1, 0, 8, "tiny")
    assert deployment.start_router(1) == "http://127.0.0.1:47102"
    assert [port_of(args) for args in spawned] == [47101, 47102]


def test_without_a_base_port_each_part_gets_a_free_port(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path)
    ports = [deployment.next_port() for _ in range(3)]
    assert all(1024 <= port < 65536 for port in ports)


def test_the_demo_passes_its_base_port_to_the_deployment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int | None] = []

    def run(self: Demo) -> None:
        seen.append(self.deployment.base_port)
        raise RuntimeError("stop here")

    monkeypatch.setattr(Demo, "run", run)
    result = CliRunner().invoke(
        main, ["demo", "--output", str(tmp_path / "d"), "--base-port", "47200"]
    )
    assert "stop here" in result.output and seen == [47200]


@pytest.mark.parametrize(
    ("flags", "live", "only_live", "steps"),
    [([], True, False, 10), (["--no-live"], False, False, 9), (["--live"], True, True, 3)],
)
def test_the_live_flags_choose_the_live_section(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    live: bool,
    only_live: bool,
    steps: int,
) -> None:
    seen: list[DemoSettings] = []

    def run(self: Demo) -> None:
        seen.append(self.settings)
        raise RuntimeError("stop here")

    monkeypatch.setattr(Demo, "run", run)
    result = CliRunner().invoke(main, ["demo", "--output", str(tmp_path / "d"), *flags])
    assert "stop here" in result.output
    assert (seen[0].live is not None, seen[0].only_live, seen[0].steps) == (live, only_live, steps)


def test_live_and_no_live_together_are_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["demo", "--output", str(tmp_path / "d"), "--live", "--no-live"]
    )
    assert result.exit_code == 2 and "--live and --no-live: choose one" in result.output
    assert not (tmp_path / "d").exists()
