"""``meshplan capacity``: how many devices a model set needs to reach a
target SLO attainment on a workload, for a solver and the baselines
(Selective Replication, Clockwork++) side by side."""

from __future__ import annotations

import click
from rich.console import Console

from api.commands.common import (
    SECONDS,
    fraction_bar,
    load_cluster,
    planning_inputs,
    print_table,
    usage_errors,
    write_json,
)
from planner import files
from planner.codec import encode
from planner.deadline import Deadline
from planner.evaluation.devices import CLOCKWORK, DeviceNeed, device_need
from planner.placement.solve import SOLVERS

BASELINES = ("sr", CLOCKWORK)
"""Strategies always searched beside the chosen solver."""


class _Target(click.ParamType):
    """An attainment target in (0, 1]."""

    name = "fraction"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            target = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not 0 < target <= 1:
            self.fail(f"{value!r} is not in (0, 1]", param, ctx)
        return target


def print_need(need: DeviceNeed) -> None:
    """The answer per strategy, then each strategy's curve."""
    print_table(
        f"Devices for {need.target:.4g} attainment",
        ["strategy", "devices", "attainment", "non-monotone counts"],
        [
            (
                answer.strategy,
                answer.describe(),
                "-" if answer.attainment is None else answer.attainment,
                ", ".join(map(str, answer.non_monotone)) or "-",
            )
            for answer in need.answers
        ],
    )
    for answer in need.answers:
        print_table(
            f"{answer.strategy}: attainment by device count",
            ["devices", "attainment", "status", "meets target"],
            [
                (p.devices, p.attainment, p.status, "yes" if p.attainment >= need.target else "no")
                for p in answer.points
            ],
        )


@click.command("capacity")
@planning_inputs
@click.option(
    "--target", type=_Target(), default=0.99, show_default=True, help="SLO attainment to reach."
)
@click.option(
    "--solver",
    type=click.Choice(SOLVERS),
    default="greedy",
    show_default=True,
    help="Solver searched beside the baselines (sr, clockwork).",
)
@click.option(
    "--max-devices",
    type=click.IntRange(min=1),
    help="Largest device count tried [the cluster file's num_devices].",
)
@click.option(
    "--time-limit",
    type=SECONDS,
    default=300.0,
    show_default=True,
    help="Seconds for the whole search, shared by strategies and counts.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the whole result (curves, plans at the answers) as JSON here.",
)
def capacity_command(
    cluster_path: str,
    models_path: str,
    workload_path: str,
    target: float,
    solver: str,
    max_devices: int | None,
    time_limit: float,
    output: str | None,
) -> None:
    """Find the fewest devices reaching a target SLO attainment.

    The cluster file is a template: its memory per device, devices per node
    and bandwidth are kept. Counts tried are 1 to one node, then whole
    nodes. "above N devices" means even the largest count failed."""
    cluster = load_cluster(cluster_path)
    with usage_errors():
        models = files.load_models(models_path)
        workload = files.load_workload(workload_path)
    try:
        with fraction_bar(Console(stderr=True), "searching") as progress:
            need = device_need(
                (solver, *BASELINES),
                cluster,
                models,
                workload,
                target=target,
                max_devices=max_devices or cluster.num_devices,
                deadline=Deadline.after(time_limit),
                progress=progress,
            )
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    print_need(need)
    if output is not None:
        write_json(encode(need), output)
