"""``meshplan replan``: re-place a model set window by window over a
workload (:func:`planner.replan.loop.replan`), write the timed plan and print
what was decided in each window and what the switches cost."""

from __future__ import annotations

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
from api.commands.plan import parse_options
from planner import files
from planner.codec import encode
from planner.placement.solution import SolveTimeoutError
from planner.placement.solve import SOLVERS
from planner.replan.forecast import FORECASTER_SPECS, make_forecaster
from planner.replan.loop import check_windows, replan
from planner.replan.options import INFORMATION, TRIGGERS, ReplanOptions, ReplanResult
from planner.sim import POLICIES, Instance, SimOptions


def decision_rows(result: ReplanResult) -> list[tuple[Any, ...]]:
    """One row per decision: window, start (s), action, replicas loaded,
    lost replica-seconds and the reason."""
    return [
        (
            w.window,
            w.start_s,
            w.action,
            w.cost.replicas_loaded,
            w.cost.lost_replica_s,
            w.reason,
        )
        for w in result.windows
    ]


def _print_summary(result: ReplanResult) -> None:
    print_table(
        "Decisions",
        ["window", "at (s)", "action", "loaded", "lost replica-s", "reason"],
        decision_rows(result),
    )
    cost = result.cost
    print_table(
        f"Re-placement ({result.options.label})",
        ["attainment", "switches", "replicas loaded", "lost replica-s", "unavailable requests"],
        [
            (
                result.attainment,
                result.switches,
                cost.replicas_loaded,
                cost.lost_replica_s,
                result.unavailable_requests,
            )
        ],
    )


@click.command("replan")
@planning_inputs
@click.option(
    "--window",
    type=click.FloatRange(min=0, min_open=True),
    required=True,
    help="Window length (s).",
)
@click.option(
    "--information", type=click.Choice(INFORMATION), default="forecast", show_default=True
)
@click.option(
    "--forecaster",
    default="ewma",
    show_default=True,
    help=f"{FORECASTER_SPECS}.",
)
@click.option("--trigger", type=click.Choice(TRIGGERS), default="periodic", show_default=True)
@click.option(
    "--react-after",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Forecast mode: react inside a window after this many requests of an unplaced model.",
)
@click.option(
    "--nowcast",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Forecast mode: reactions re-estimate rates from the window so far, the forecast "
    "counting as this many seconds of it (s).",
)
@click.option(
    "--react-replan",
    is_flag=True,
    help="A reaction also re-solves on the nowcast and moves to what pays (needs --nowcast).",
)
@click.option(
    "--react-drift",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Forecast mode: every --nowcast seconds, re-solve when the mix drifted by more than "
    "this from the one planned for (0: never).",
)
@click.option(
    "--fill-spare", is_flag=True, help="Host the models a plan drops wherever memory is left."
)
@click.option(
    "--trust-windows",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Forecast mode: the forecast's plan is a candidate only while its plans of this many "
    "last windows served as much as the history plan's (0: always).",
)
@click.option("--no-hedge", is_flag=True, help="Do not also judge the plan of all traffic seen.")
@click.option("--solver", type=SolverChoice(SOLVERS), default="greedy", show_default=True)
@click.option("--time-limit", type=SECONDS, default=30.0, show_default=True)
@click.option("--option", "option_pairs", multiple=True, metavar="KEY=VALUE", help="Solver option.")
@click.option("--max-batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--policy", type=click.Choice(POLICIES), default="fcfs", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the forecast draws.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the timed plan here.")
@click.option("--json", "as_json", is_flag=True, help="Print the result and decisions as JSON.")
def replan_command(
    cluster_path: str,
    models_path: str,
    workload_path: str,
    window: float,
    information: str,
    forecaster: str,
    trigger: str,
    react_after: int,
    nowcast: float,
    react_replan: bool,
    react_drift: float,
    fill_spare: bool,
    trust_windows: int,
    no_hedge: bool,
    solver: str,
    time_limit: float,
    option_pairs: tuple[str, ...],
    max_batch: int,
    policy: str,
    seed: int,
    output: str | None,
    as_json: bool,
) -> None:
    """Re-place models window by window, paying each move's load time; the
    first window is planned on its own traffic and left out of the score."""
    cluster = load_cluster(cluster_path)
    try:
        models = files.load_models(models_path)
        workload = files.load_workload(workload_path)
        options = ReplanOptions(
            window_s=window,
            information=information,
            forecaster=make_forecaster(forecaster),
            trigger=trigger,
            react_after=react_after,
            nowcast_s=nowcast,
            react_replan=react_replan,
            react_drift=react_drift,
            fill_spare=fill_spare,
            trust_windows=trust_windows,
            hedge=not no_hedge,
            solver=solver,
            time_limit_s=time_limit,
            solver_options=parse_options(option_pairs),
            seed=seed,
        )
        sim = SimOptions(max_batch=max_batch, warmup_s=window, policy=policy)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    try:
        # the window's own error is clearer than that of the warm-up it sets
        check_windows(workload, window)
        instance = Instance(cluster, tuple(models), workload, sim)
        with fraction_bar(Console(stderr=True), "re-placing") as progress:
            result = replan(instance, options, progress=progress)
    except (ValueError, SolveTimeoutError) as error:
        raise click.ClickException(str(error)) from None
    if output is not None:
        write_json(encode(result.plan), output)
    if as_json:
        write_json(encode(result), None)
    else:
        _print_summary(result)
