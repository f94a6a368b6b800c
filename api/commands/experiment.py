"""``meshplan experiment``: the evaluation's experiments, as JSON data plus
a printed table. ``meshplan experiment replan`` finds, for each model set
and time-varying workload, the largest request rate at which a static plan
and each re-placement strategy keep SLO attainment at the target; where the
devices cannot host every model (or with ``--metric goodput``) it reports
goodput at the trace's rate and over a rate sweep, with the memory-aware
headroom bound and the share of it each strategy captures."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from api.commands.common import AZURE2019_SAMPLE, SECONDS, default_examples, print_table, write_json
from planner import files
from planner.evaluation.experiment import (
    GOODPUT_COLUMNS,
    METRICS,
    TABLE_COLUMNS,
    WORKLOADS,
    ExperimentConfig,
    Strategy,
    goodput_table_rows,
    rate_text,
    run_experiment,
    table_rows,
)
from planner.evaluation.seeds import (
    SEED_COLUMNS,
    merge_seeds,
    over_seeds,
    seed_table_rows,
    with_seed,
)
from planner.fanout import ADDRESS_ENV, BACKENDS, check_backend
from planner.placement.options import split_options
from planner.profiles import MODEL_SETS
from planner.replan.forecast import FORECASTER_SPECS


@click.group("experiment")
def experiment() -> None:
    """Run the evaluation's experiments."""


def _names(text: str, choices: tuple[str, ...] | list[str], flag: str) -> tuple[str, ...]:
    names = tuple(name.strip().lower() for name in text.split(",") if name.strip())
    for name in names:
        if name not in choices:
            raise click.BadParameter(
                f"unknown {name!r}; choose from {', '.join(choices)}", param_hint=flag
            )
    if not names:
        raise click.BadParameter("needs at least one name", param_hint=flag)
    return names


def _devices(
    pairs: tuple[str, ...], base: Mapping[str, int | tuple[int, ...]]
) -> dict[str, int | tuple[int, ...]]:
    devices = dict(base)
    for pair in pairs:
        name, sep, counts = pair.partition("=")
        numbers = [count.strip() for count in counts.split(",")]
        if not sep or name.strip().lower() not in MODEL_SETS or not all(map(str.isdigit, numbers)):
            raise click.BadParameter(
                f"expected SET=COUNT[,COUNT...] with SET in {', '.join(MODEL_SETS)}, got {pair!r}",
                param_hint="--devices",
            )
        devices[name.strip().lower()] = tuple(int(count) for count in numbers)
    return devices


@contextmanager
def _progress(console: Console) -> Iterator[Callable[[str], None]]:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def update(message: str) -> None:
            if console.is_terminal:
                bar.update(task, description=message[:90])
            else:
                console.print(message, highlight=False)

        yield update


def _where(
    options: Mapping[str, Any], backend: str | None, ray_address: str | None
) -> dict[str, Any]:
    """``options`` with the backend and Ray address given, checked."""
    chosen = {**options, "backend": backend or options.get("backend", "local")}
    if ray_address is not None:
        chosen["ray_address"] = ray_address
    try:
        _, solving = split_options(chosen)
        check_backend(solving.backend, solving.ray_address)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    return chosen


@experiment.command("replan")
@click.option("--quick", is_flag=True, help="Shorter traces and a coarser search (minutes).")
@click.option(
    "--memory-bound",
    is_flag=True,
    help="The memory-bound cases (S1 on 4 and 8, S3 on 4, S2 on 8) on the shifting families.",
)
@click.option(
    "--metric",
    type=click.Choice(METRICS),
    default=None,
    help="capacity, goodput, or auto (goodput where the devices cannot host every model).",
)
@click.option("--sets", default=None, help="Model sets, comma-separated (default s1,s2,s3).")
@click.option(
    "--workloads", default=None, help=f"Workloads, comma-separated ({', '.join(WORKLOADS)})."
)
@click.option(
    "--devices",
    "device_pairs",
    multiple=True,
    metavar="SET=COUNT[,COUNT...]",
    help="Devices for a model set, repeatable (default s1=16,8 s2=8 s3=8).",
)
@click.option("--strategies", default=None, help="Strategy names, comma-separated, static first.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Trace seconds.")
@click.option("--window", type=click.FloatRange(min=0, min_open=True), help="Re-plan window (s).")
@click.option("--forecaster", default=None, help=f"{FORECASTER_SPECS}.")
@click.option(
    "--react-drift",
    type=click.FloatRange(min=0),
    help="Forecast re-planners re-solve inside a window past this drift of the mix "
    "(0: never; default 0, 0.25 with --memory-bound).",
)
@click.option("--rel-tol", type=click.FloatRange(min=0, min_open=True), help="Search tolerance.")
@click.option("--time-limit", type=SECONDS, help="Seconds a solve.")
@click.option(
    "--azure2019",
    "azure2019_path",
    type=click.Path(exists=True, dir_okay=False),
    help=f"Azure 2019 trace file for the azure2019 workload [examples/{AZURE2019_SAMPLE}].",
)
@click.option("--no-sweeps", is_flag=True, help="Skip the devices/SLO/CV sweeps.")
@click.option("--seed", type=int, default=None, help="Seed of the traffic draws.")
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Run on this many seeds from --seed on; adds a goodput table over them "
    "(mean ratio to static and its range, the shares of the mean gain in the mean headroom).",
)
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default=None,
    help="Where the cases run: local (one after another) or ray (tasks on a Ray cluster).",
)
@click.option(
    "--ray-address",
    default=None,
    help=f"Ray cluster host:port for --backend ray (default: ${ADDRESS_ENV}, else a local Ray).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the JSON data here (also after every model set x workload).",
)
def replan_command(
    quick: bool,
    memory_bound: bool,
    metric: str | None,
    sets: str | None,
    workloads: str | None,
    device_pairs: tuple[str, ...],
    strategies: str | None,
    duration: float | None,
    window: float | None,
    forecaster: str | None,
    react_drift: float | None,
    rel_tol: float | None,
    time_limit: float | None,
    azure2019_path: str | None,
    no_sweeps: bool,
    seed: int | None,
    seeds: int,
    backend: str | None,
    ray_address: str | None,
    output: str | None,
) -> None:
    """Static plan against periodic and forecast-triggered re-placement (and
    Clockwork++), with and without SLO-aware preemption: the largest rate at
    which each keeps attainment at the target."""
    if memory_bound:
        config = ExperimentConfig.memory_bound(quick=quick)
    else:
        config = ExperimentConfig.quick() if quick else ExperimentConfig()
    changes: dict[str, Any] = {
        "devices": _devices(device_pairs, dict(config.devices)),
        "azure2019_path": azure2019_path or str(default_examples().resolve() / AZURE2019_SAMPLE),
    }
    if sets is not None:
        changes["model_sets"] = _names(sets, list(MODEL_SETS), "--sets")
    if workloads is not None:
        changes["workloads"] = _names(workloads, WORKLOADS, "--workloads")
    if strategies is not None:
        try:
            changes["strategies"] = tuple(
                Strategy.parse(name) for name in strategies.split(",") if name.strip()
            )
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--strategies") from None
    for key, value in (
        ("duration_s", duration),
        ("window_s", window),
        ("forecaster", forecaster),
        ("react_drift", react_drift),
        ("rel_tol", rel_tol),
        ("time_limit_s", time_limit),
        ("seed", seed),
        ("metric", metric),
    ):
        if value is not None:
            changes[key] = value
    if no_sweeps:
        changes["sweeps"] = {}
    if backend is not None or ray_address is not None:
        changes["solver_options"] = _where(config.solver_options, backend, ray_address)
    try:
        config = dataclasses.replace(config, **changes)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    console = Console(stderr=True)

    parts: list[dict[str, Any]] = []

    def checkpoint(seed: int, so_far: dict[str, Any]) -> None:
        """Write the seeds done and this seed's rows so far."""
        if output is not None:
            write_json(merge_seeds([*parts, with_seed(so_far, seed)]), output)

    with _progress(console) as update:
        for seed_now in range(config.seed, config.seed + seeds):
            run = dataclasses.replace(config, seed=seed_now)
            done = run_experiment(run, update, partial(checkpoint, seed_now), files.open_lines)
            parts.append(with_seed(done, seed_now))
    result = merge_seeds(parts)
    if seeds > 1:
        click.echo(f"seed {config.seed} (every seed's rows are in the JSON data):")
    _print_tables(config, parts[0])
    if seeds > 1 and result["goodput_rows"]:
        print_table(
            f"Goodput over seeds {config.seed}..{config.seed + seeds - 1}",
            SEED_COLUMNS,
            seed_table_rows(over_seeds(result["goodput_rows"])),
        )
    if output is not None:
        write_json(result, output)
        console.print(f"wrote {output}")


def _print_tables(config: ExperimentConfig, result: Mapping[str, Any]) -> None:
    """The capacity, goodput and sweep tables of one run."""
    if result["rows"]:
        print_table(
            f"Max rate at attainment >= {config.target_attainment:g}",
            TABLE_COLUMNS,
            table_rows(result),
        )
    if result.get("goodput_rows"):
        print_table(
            "Goodput (requests/s within SLO) at the trace's rate, with the headroom bound",
            GOODPUT_COLUMNS,
            goodput_table_rows(result),
        )
    if result["sweeps"]:
        print_table(
            "Sweeps (model set " + config.sweep_set + ", synthetic workload)",
            ["knob", "value", "strategy", "max rate (rps)", "x static"],
            [
                (
                    row["knob"],
                    row["value"],
                    row["strategy"],
                    rate_text(row),
                    "-" if row["ratio_to_static"] is None else f"{row['ratio_to_static']:.3f}",
                )
                for row in result["sweeps"]
            ],
        )
