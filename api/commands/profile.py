"""``meshplan profile``: the parallel plans and analytic profile of a model
family, and the evaluation's model sets as model files."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console

from api.commands.common import print_table, write_json
from api.commands.executor import measure_command
from planner import files
from planner.autoparallel import (
    DEFAULT_MEM_BUDGET_BYTES,
    GB,
    PRESETS,
    Architecture,
    ParallelPlan,
    layer_names,
    plan_configs,
    plan_parallel,
    preset,
)
from planner.codec import encode
from planner.domain import ParallelConfig
from planner.profiles import DEFAULT_SLO_SCALE, MODEL_SETS, model_set, models_to_json

MB = 10**6

budget_option = click.option(
    "--mem-budget-gb",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_MEM_BUDGET_BYTES / GB,
    show_default=True,
    help="Memory budget per device in GB (10^9 bytes).",
)
max_batch_option = click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Largest batch size profiled.",
)


@click.group("profile")
def profile() -> None:
    """Parallel plans, analytic profiles and model sets."""


def _arch(name: str) -> Architecture:
    try:
        return preset(name)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--model") from None


def _config(text: str) -> ParallelConfig:
    try:
        return ParallelConfig.parse(text)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--config") from None


def _ms(seconds: float) -> float:
    return seconds * 1e3


def _batches(max_batch: int) -> list[int]:
    """Batch sizes shown in tables: 1, 2, 4, 8 up to ``max_batch``, and it."""
    return sorted({b for b in (1, 2, 4, 8) if b <= max_batch} | {max_batch})


def _configs_table(
    arch: Architecture, plans: dict[ParallelConfig, ParallelPlan], max_batch: int
) -> None:
    batches = _batches(max_batch)
    rows: list[list[Any]] = [
        [
            str(config),
            max(s.weight_bytes for s in plan.stages) / GB,
            max(s.act_bytes for s in plan.stages) / MB,
            *(_ms(plan.latency_s(b)) for b in batches),
        ]
        for config, plan in plans.items()
    ]
    columns = ["config", "GB/dev", "MB/item", *(f"b={b} ms" for b in batches)]
    print_table(f"{arch.name}: latency per batch size", columns, rows)


def _stages_table(plan: ParallelPlan) -> None:
    names = layer_names(plan.arch)
    batches = _batches(plan.max_batch)
    rows: list[list[Any]] = [
        [
            k,
            f"{names[s.start]}..{names[s.end - 1]}",
            s.weight_bytes / GB,
            s.act_bytes / MB,
            *(_ms(s.latency_s[b - 1]) for b in batches),
        ]
        for k, s in enumerate(plan.stages)
    ]
    columns = ["#", "layers", "GB/dev", "MB/item", *(f"b={b} ms" for b in batches)]
    print_table(f"{plan.arch.name} on {plan.config}: stages", columns, rows)
    strategies = ", ".join(f"{layer}: {name}" for layer, name in plan.strategies().items())
    click.echo(f"sharding: {strategies}")


@profile.command("show")
@click.option("--model", "model", required=True, help=f"Preset: {', '.join(PRESETS)}.")
@click.option("--config", "config_text", default=None, help="A config (op2xpp2): show its stages.")
@budget_option
@max_batch_option
@click.option("--json", "as_json", is_flag=True, help="Print the plans as JSON.")
def show(
    model: str, config_text: str | None, mem_budget_gb: float, max_batch: int, as_json: bool
) -> None:
    """Latency per config and batch size of a preset, or one config's stage
    split, memory and sharding."""
    arch = _arch(model)
    budget = int(mem_budget_gb * GB)
    if config_text is not None:
        try:
            plan = plan_parallel(arch, _config(config_text), None, budget, max_batch)
        except ValueError as error:
            raise click.ClickException(str(error)) from None
        if as_json:
            write_json(encode(plan), None)
        else:
            _stages_table(plan)
        return
    plans = plan_configs(arch, mem_budget_bytes=budget, max_batch=max_batch)
    if not plans:
        raise click.ClickException(
            f"mem_budget_bytes: no config of {arch.name} fits {budget} bytes"
        )
    if as_json:
        write_json({"arch": encode(arch), "plans": encode(tuple(plans.values()))}, None)
    else:
        _configs_table(arch, plans, max_batch)


@profile.command("models")
@click.option(
    "--set",
    "set_name",
    type=click.Choice(sorted(MODEL_SETS), case_sensitive=False),
    required=True,
    help="s1: 64 x BERT-1.3B; s2: 8 x BERT-6.7B; s3: 4 each of BERT-1.3B/2.6B, MoE-1.3B/2.4B.",
)
@click.option(
    "--slo-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_SLO_SCALE,
    show_default=True,
    help="SLO as a multiple of the single-device batch-1 latency.",
)
@budget_option
@max_batch_option
@click.option("-o", "--output", default="-", show_default=True, help="Model file ('-': stdout).")
def models(
    set_name: str, slo_scale: float, mem_budget_gb: float, max_batch: int, output: str
) -> None:
    """Write a model set with analytic profiles as a model file."""
    with Console(stderr=True).status(f"profiling model set {set_name}"):
        specs = model_set(set_name, slo_scale, None, int(mem_budget_gb * GB), max_batch)
    if output == "-":
        click.echo(json.dumps(models_to_json(specs)))
        return
    files.save_models(output, specs)
    click.echo(f"wrote {len(specs)} models of set {set_name} to {output}", err=True)


profile.add_command(measure_command)
