"""``meshplan profile show|models`` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from api.cli import main
from planner.autoparallel import BERT_6_7B, GB, MOE_2_4B, TINY_BERT, plan_configs, plan_parallel
from planner.codec import encode
from planner.domain import ParallelConfig
from planner.files import load_models
from planner.profiles import model_set


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["profile", *args])
    return result.exit_code, result.output


def test_show_lists_every_config_with_its_latency() -> None:
    code, output = run("show", "--model", "BERT-6.7B")
    assert code == 0, output
    plans = plan_configs(BERT_6_7B)
    for config, plan in plans.items():
        row = next(line for line in output.splitlines() if f" {config} " in line)
        assert f"{plan.latency_s(1) * 1e3:.4g}" in row
        assert f"{plan.latency_s(8) * 1e3:.4g}" in row
    assert "b=4 ms" in output


def test_show_json_has_one_plan_per_feasible_config() -> None:
    code, output = run("show", "--model", "tiny-bert", "--json", "--max-batch", "2")
    assert code == 0, output
    data = json.loads(output)
    assert data["arch"] == encode(TINY_BERT)
    plans = plan_configs(TINY_BERT, max_batch=2)
    assert [p["config"] for p in data["plans"]] == [encode(c) for c in plans]


def test_show_one_config_prints_stages_and_sharding() -> None:
    code, output = run("show", "--model", "moe-2.4b", "--config", "op2xpp4")
    assert code == 0, output
    plan = plan_parallel(MOE_2_4B, ParallelConfig(2, 4))
    names = [f"{plan.stage_layers(k)[0]}..{plan.stage_layers(k)[-1]}" for k in range(4)]
    for name in names:
        assert name in output
    assert "attention: head-parallel" in output


def test_show_one_config_as_json() -> None:
    code, output = run("show", "--model", "bert-6.7b", "--config", "2x2", "--json")
    assert code == 0, output
    assert json.loads(output) == plan_parallel(BERT_6_7B, ParallelConfig(2, 2)).to_json()


def test_show_errors() -> None:
    code, output = run("show", "--model", "gpt-9")
    assert code == 2 and "unknown preset 'gpt-9'" in output
    code, output = run("show", "--model", "bert-1.3b", "--config", "two")
    assert code == 2 and "expected 'op<N>xpp<M>'" in output
    code, output = run(
        "show", "--model", "bert-6.7b", "--config", "op1xpp1", "--mem-budget-gb", "5"
    )
    assert code == 1 and "mem_budget_bytes: bert-6.7b on op1xpp1 does not fit" in output
    code, output = run("show", "--model", "bert-6.7b", "--mem-budget-gb", "0.1")
    assert code == 1 and "no config of bert-6.7b fits" in output


def test_models_writes_a_model_file(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    code, output = run("models", "--set", "s2", "--slo-scale", "3", "-o", str(path))
    assert code == 0, output
    assert load_models(path) == model_set("s2", slo_scale=3.0)
    assert f"wrote 8 models of set s2 to {path}" in output


def test_models_to_stdout_with_a_budget() -> None:
    code, output = run("models", "--set", "S2", "--mem-budget-gb", "5")
    assert code == 0, output
    data = json.loads(output.splitlines()[-1])
    expected = model_set("s2", mem_budget_bytes=5 * GB)
    assert data == {"models": [encode(m) for m in expected]}


def test_models_rejects_unknown_sets_and_scales() -> None:
    code, output = run("models", "--set", "s9")
    assert code == 2 and "'s9' is not one of" in output
    code, output = run("models", "--set", "s1", "--slo-scale", "0")
    assert code == 2 and "--slo-scale" in output
