"""``meshplan simulate``: serve a workload with a placement (or timed plan)
in the simulator and report SLO attainment, latency and utilisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console

from api.commands.common import (
    INPUT_FILE,
    load,
    load_cluster,
    planning_inputs,
    print_table,
    write_json,
)
from planner import files
from planner.codec import decode
from planner.domain import Placement, TimedPlan
from planner.sim import ENGINES, SimOptions, SimResult, simulate

T = TypeVar("T")


def parse_plan(data: Any) -> Placement | TimedPlan:
    """A timed plan (an object with ``steps``) or a placement."""
    if isinstance(data, dict) and "steps" in data:
        return decode(TimedPlan, data, "plan")
    return decode(Placement, data, "placement")


def _read(path: str, reader: Callable[[str], T], option: str) -> T:
    """Run a file reader whose ValueError names the file; make it a usage error."""
    try:
        return reader(path)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint=option) from None


def _print_result(result: SimResult) -> None:
    counts = result.outcome_counts()
    latency = result.latency_percentiles_s()
    overall = [
        ("requests", result.num_requests),
        ("scored", int(result.scored.sum())),
        ("attainment", result.attainment),
        ("goodput_rps", result.goodput_rps),
        *counts.items(),
        *((f"latency {name} (s)", value) for name, value in latency.items()),
    ]
    print_table("Overall (scored requests)", ["metric", "value"], overall)
    per_model_requests = {
        name: int((result.model[result.scored] == j).sum())
        for j, name in enumerate(result.model_names)
    }
    print_table(
        "Per model",
        ["model", "scored requests", "attainment"],
        [
            (name, per_model_requests[name], value)
            for name, value in result.per_model_attainment().items()
        ],
    )
    print_table(
        "Per group",
        ["group", "steps", "busy (stage-s)", "utilisation"],
        [
            (slot.label, f"{slot.first_step}-{slot.last_step}", float(busy), float(use))
            for slot, busy, use in zip(
                result.groups, result.group_busy_s, result.group_utilisation, strict=True
            )
        ],
    )


@click.command("simulate")
@planning_inputs
@click.option(
    "--placement",
    "plan_path",
    type=INPUT_FILE,
    required=True,
    help="Placement JSON, or a timed plan (an object with steps).",
)
@click.option("--max-batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--warmup",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds at the start whose arrivals are not scored.",
)
@click.option(
    "--cooldown",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds at the end whose arrivals are not scored.",
)
@click.option("--engine", type=click.Choice(ENGINES), default="fast", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def simulate_command(
    cluster_path: str,
    models_path: str,
    plan_path: str,
    workload_path: str,
    max_batch: int,
    warmup: float,
    cooldown: float,
    engine: str,
    as_json: bool,
) -> None:
    """Simulate serving a workload with a placement and report SLO attainment."""
    cluster = load_cluster(cluster_path)
    models = _read(models_path, files.load_models, "--models")
    plan = load(plan_path, parse_plan)
    workload = _read(workload_path, files.load_workload, "--workload")
    options = SimOptions(max_batch=max_batch, warmup_s=warmup, cooldown_s=cooldown)
    try:
        with Console(stderr=True).status(f"simulating {workload.num_requests} requests"):
            result = simulate(cluster, models, plan, workload, options, engine=engine)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        write_json(result.summary(), None)
    else:
        _print_result(result)
