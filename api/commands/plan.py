"""``meshplan plan``: choose a placement for a model set on a cluster with
any static solver, write it and print a summary (groups, the models no
group of the cluster can host and why, the plan's figures)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console

from api.commands.common import (
    SECONDS,
    SolverChoice,
    fraction_bar,
    load_cluster,
    planning_inputs,
    print_table,
    write_json,
)
from planner import files
from planner.codec import encode
from planner.deadline import Deadline
from planner.domain import Cluster, ModelSpec
from planner.placement.options import option_help, split_options
from planner.placement.solution import SolveResult, SolveTimeoutError, certificate
from planner.placement.solve import SOLVERS, solve
from planner.sim import Instance
from planner.validation import models_by_name, stage_memory_bytes

GB = 1e9


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs; a value is read as JSON when it parses
    (``3``, ``true``, ``[2, 4]``), else kept as a string."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        try:
            options[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            options[key.strip()] = text
    return options


def summary_rows(result: SolveResult, models: Sequence[ModelSpec]) -> list[tuple[Any, ...]]:
    """One row per group: devices, config, replicas, memory used (GB on the
    fullest device)."""
    index = models_by_name(models)
    rows = []
    for g, group in enumerate(result.placement.groups):
        used = max(stage_memory_bytes(group, index), default=0) / GB
        devices = f"{group.devices[0]}-{group.devices[-1]}"
        rows.append((g, devices, str(group.config), len(group.models), f"{used:.2f}"))
    return rows


def _or_not_computed(value: float | None) -> float | str:
    """A bound's cell: the number, or why there is none (option ``certify=false``)."""
    return "not computed" if value is None else value


def _print_summary(result: SolveResult, models: Sequence[ModelSpec], cluster: Cluster) -> None:
    print_table(
        "Groups",
        ["group", "devices", "config", "replicas", "memory used (GB/device)"],
        summary_rows(result, models),
    )
    if result.unplaced:
        print_table(
            "Unplaced models (fit no group)", ["model", "why"], list(result.unplaced.items())
        )
    overall = [
        ("solver", result.solver),
        ("status", result.status),
        ("groups", len(result.placement.groups)),
        ("replicas", result.placement.num_replicas),
        ("models placed", f"{len(result.placement.model_names)}/{len(models)}"),
        ("device memory (GB)", f"{cluster.device_mem_bytes / GB:.2f}"),
        ("attainment", result.attainment),
        ("upper bound", _or_not_computed(result.upper_bound)),
        ("gap (points)", _or_not_computed(result.gap_points)),
        ("solve time (s)", result.wall_s),
    ]
    for name, label in (
        ("proxy_objective", "proxy objective"),
        ("bound", "proxy bound"),
        ("gap", "proxy gap"),
    ):
        value = getattr(result, name)
        if value is not None:
            overall.append((label, value))
    print_table("Plan", ["", "value"], overall)
    click.echo(certificate(result))


@click.command("plan")
@planning_inputs
@click.option(
    "--solver",
    type=SolverChoice(SOLVERS),
    default="auto",
    show_default=True,
    help="milp: choose its backend with --option milp_backend=cbc|highs.",
)
@click.option(
    "--time-limit",
    type=SECONDS,
    default=60.0,
    show_default=True,
    help="Seconds the solver may take.",
)
@click.option(
    "--option",
    "option_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Solver option, repeatable: " + ", ".join(option_help()) + ".",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the placement here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
def plan_command(
    cluster_path: str,
    models_path: str,
    workload_path: str,
    solver: str,
    time_limit: float,
    option_pairs: tuple[str, ...],
    output: str | None,
    as_json: bool,
) -> None:
    """Choose a placement maximising simulated SLO attainment on a workload."""
    cluster = load_cluster(cluster_path)
    try:
        models = files.load_models(models_path)
        workload = files.load_workload(workload_path)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    console = Console(stderr=True)
    try:
        sim, options = split_options(parse_options(option_pairs))
        instance = Instance(cluster, tuple(models), workload, sim)
        with fraction_bar(console, "solving") as progress:
            result = solve(
                instance,
                solver=solver,
                deadline=Deadline.after(time_limit),
                options=options,
                progress=progress,
            )
    except (ValueError, SolveTimeoutError) as error:
        raise click.ClickException(str(error)) from None
    if output is not None:
        write_json(encode(result.placement), output)
    if as_json:
        write_json(encode(result), None)
    else:
        _print_summary(result, models, cluster)
