"""``meshplan report``: compare solvers (and, with ``replan``, static
against re-placement) and write the result as one self-contained HTML page
plus its JSON and CSV data. The planner and the renderer (matplotlib) are
imported by the commands that use them, so the rest of the CLI starts
without them."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from api.commands.common import (
    INPUT_FILE,
    SECONDS,
    SolverChoice,
    load_cluster,
    planning_options,
    read_json,
)
from api.commands.plan import parse_options
from planner import files
from planner.domain import Cluster
from planner.evaluation.reports.names import DEFAULT_STRATEGIES, SOLVER_CHOICES, STRATEGIES
from planner.placement.solve import SOLVERS
from planner.replan.forecast import FORECASTER_SPECS

if TYPE_CHECKING:
    from planner.evaluation.reports import CompareReport, ReplanCase, Report

_POSITIVE = click.FloatRange(min=0, min_open=True)
_err = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


OUTPUT_FOLDER = click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    default="out/report",
    show_default=True,
    help="Folder (created) for report.html, report.json and the CSV files.",
)
"""Where a report command writes: a folder, not a file."""


def run_options(command: F) -> F:
    """Options every report run takes: batching, seed and output folder."""
    for option in reversed(
        (
            click.option("--max-batch", type=click.IntRange(min=1), default=1, show_default=True),
            click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True),
            OUTPUT_FOLDER,
        )
    ):
        command = option(command)
    return command


@click.group("report")
def report() -> None:
    """Compare solvers or re-placement strategies as an HTML report."""


def _floats(text: str, option: str) -> tuple[float, ...]:
    """``"0.5,1,2"`` → floats; ``""`` → no points (the sweep is skipped)."""
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(
            f"expected numbers separated by commas, got {text!r}", param_hint=option
        ) from None


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int, str], None]]:
    """A ``progress(done, total, message)`` callback drawing a rich bar on
    standard error (plain lines when it is not a terminal)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[message]}"),
    )
    with Progress(*columns, console=_err, transient=False) as bar:
        task = bar.add_task(description, total=None, message="")

        def update(done: int, total: int, message: str) -> None:
            bar.update(task, completed=done, total=total, message=message)
            if not _err.is_terminal:
                _err.print(f"[{done}/{total}] {message}", highlight=False)

        yield update


def _run(step: Callable[[], Any]) -> Any:
    """Run ``step``; a ValueError (bad input, no feasible placement) becomes
    a clean command error."""
    try:
        return step()
    except ValueError as error:
        raise click.ClickException(str(error)) from None


def print_compare(report: CompareReport) -> None:
    """The comparison table on standard output, unwrapped when the output
    is not a terminal (a log or a pipe)."""
    from api.reporting.tables import compare_table

    out = Console()
    if not out.is_terminal:
        out = Console(width=160)
    out.print(compare_table(report))


def _write(report: Report, out: str) -> None:
    from api.reporting.renderer import RendererMissing, load_renderer

    try:
        load_renderer()  # say what is missing before any file is written
    except RendererMissing as error:
        raise click.ClickException(str(error)) from None
    from api.reporting.files import write_report

    paths = write_report(report, out)
    click.echo(f"report: {paths['report.html'].resolve()}")
    click.echo(f"data:   {', '.join(str(p) for name, p in paths.items() if name != 'report.html')}")


def _ids(text: str | None, option: str) -> tuple[int, ...]:
    """``"1,2"`` → ids; a usage error naming ``option`` otherwise."""
    if text is None:
        return ()
    try:
        ids = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(
            f"expected ids like 1,2; got {text!r}", param_hint=option
        ) from None
    if not ids:
        raise click.BadParameter("needs at least one id", param_hint=option)
    return ids


def _api_key(key_file: str | None) -> str:
    """The key from ``--key-file``, else from ``MESHPLAN_API_KEY``."""
    if key_file is not None:
        key = Path(key_file).read_text().strip()
    else:
        key = os.environ.get("MESHPLAN_API_KEY", "").strip()
    if not key:
        raise click.UsageError("--api needs a key: --key-file FILE or MESHPLAN_API_KEY")
    return key


LOCAL_ONLY = (
    "solvers",
    "sweep_solvers",
    "option_pairs",
    "time_limit",
    "sweep_time_limit",
    "rate_scales",
    "cv_scales",
    "slo_scales",
    "device_factors",
    "window",
    "quick",
    "max_batch",
    "seed",
)
"""Options of a local comparison, which one of stored plans (``--api``) refuses."""


def _compare_stored(
    ctx: click.Context, api_url: str, key_file: str | None, jobs: str | None, plans: str | None
) -> CompareReport:
    """The comparison of the plans the service at ``api_url`` made."""
    from api.commands.remote import RemoteError, compare_remote, http_get

    for name in LOCAL_ONLY:
        if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT:
            option = "--option" if name == "option_pairs" else "--" + name.replace("_", "-")
            raise click.UsageError(
                f"{option}: not with --api (stored plans are simulated as their jobs made "
                "them, not solved again)"
            )
    for name in ("cluster_path", "models_path", "workload_path"):
        if ctx.params[name] is not None:
            raise click.UsageError(f"--{name.removesuffix('_path')}: not with --api")
    if (jobs is None) == (plans is None):
        raise click.UsageError("--api needs one of --jobs and --plans")
    get = http_get(api_url, _api_key(key_file))
    try:
        return compare_remote(
            get,
            job_ids=_ids(jobs, "--jobs"),
            plan_ids=_ids(plans, "--plans"),
            title=ctx.params["title"],
        )
    except (RemoteError, ValueError) as error:
        raise click.ClickException(str(error)) from None


@report.command("compare")
@planning_options(required=False)
@click.option(
    "--api",
    "api_url",
    help="Compare plans this planning API made (with --jobs or --plans), without solving.",
)
@click.option("--jobs", help="With --api: plan job ids, comma-separated.")
@click.option("--plans", help="With --api: plan ids (each made by a job), comma-separated.")
@click.option(
    "--key-file",
    type=INPUT_FILE,
    help="With --api: file holding the API key (default: $MESHPLAN_API_KEY).",
)
@click.option(
    "--solvers",
    default=",".join(SOLVER_CHOICES),
    show_default=True,
    help="Solvers of the table, comma-separated.",
)
@click.option("--sweep-solvers", default=None, help="Solvers of the sweeps (default: --solvers).")
@click.option(
    "--option",
    "option_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Solver option for every solve, repeatable (e.g. milp_backend=highs).",
)
@click.option(
    "--time-limit",
    type=SECONDS,
    help="Seconds per solve [60; quick 10].",
)
@click.option(
    "--sweep-time-limit",
    type=SECONDS,
    help="Seconds per solve of a sweep point [10; quick 2].",
)
@click.option("--rate-scales", help="Rate scales to sweep, e.g. 0.5,1,2 ('' skips).")
@click.option("--cv-scales", help="CV scales to sweep ('' skips).")
@click.option("--slo-scales", help="SLO scales (x reference latency) to sweep ('' skips).")
@click.option("--device-factors", help="Device counts as factors of the cluster's ('' skips).")
@click.option("--window", type=_POSITIVE, help="Refit window (s) [60].")
@click.option("--quick", is_flag=True, help="Fewer sweep points and shorter solves.")
@click.option("--title", default="Solver comparison", show_default=True)
@run_options
@click.pass_context
def compare_command(
    ctx: click.Context,
    cluster_path: str | None,
    models_path: str | None,
    workload_path: str | None,
    api_url: str | None,
    jobs: str | None,
    plans: str | None,
    key_file: str | None,
    solvers: str,
    sweep_solvers: str | None,
    option_pairs: tuple[str, ...],
    time_limit: float | None,
    sweep_time_limit: float | None,
    rate_scales: str | None,
    cv_scales: str | None,
    slo_scales: str | None,
    device_factors: str | None,
    window: float | None,
    max_batch: int,
    seed: int,
    quick: bool,
    title: str,
    output: str,
) -> None:
    """Run several solvers on one instance and sweep rate, CV, SLO and devices;
    or, with --api, compare the plans a planning service made (simulated on
    their stored workload, not solved again; no sweeps)."""
    from planner.evaluation.reports import CompareSettings, build_compare, parse_solvers

    if api_url is not None:
        stored = _compare_stored(ctx, api_url, key_file, jobs, plans)
        print_compare(stored)
        _write(stored, output)
        return
    if jobs is not None or plans is not None or key_file is not None:
        raise click.UsageError("--jobs, --plans and --key-file go with --api")
    if cluster_path is None or models_path is None or workload_path is None:
        raise click.UsageError("give --cluster, --models and --workload (or --api with --jobs)")
    cluster = load_cluster(cluster_path)
    models = _run(lambda: files.load_models(models_path))
    workload = _run(lambda: files.load_workload(workload_path))
    changes: dict[str, Any] = {
        "solvers": _run(lambda: parse_solvers(solvers, "--solvers")),
        "seed": seed,
        "options": {**parse_options(option_pairs), "max_batch": max_batch, "seed": seed},
    }
    if sweep_solvers is not None:
        changes["sweep_solvers"] = _run(lambda: parse_solvers(sweep_solvers, "--sweep-solvers"))
    for name, value in (
        ("time_limit_s", time_limit),
        ("sweep_time_limit_s", sweep_time_limit),
        ("window_s", window),
    ):
        if value is not None:
            changes[name] = value
    for name, text in (
        ("rate_scales", rate_scales),
        ("cv_scales", cv_scales),
        ("slo_scales", slo_scales),
        ("device_factors", device_factors),
    ):
        if text is not None:
            changes[name] = _floats(text, "--" + name.replace("_", "-"))
    settings = _run(
        lambda: CompareSettings.quick(**changes) if quick else CompareSettings(**changes)
    )
    with progress_bar("comparing") as progress:
        result = _run(
            lambda: build_compare(
                cluster, models, workload, settings, title=title, progress=progress
            )
        )
    print_compare(result)
    _write(result, output)


@report.command("render")
@click.option("--data", "data_path", type=INPUT_FILE, required=True, help="A report's JSON data.")
@OUTPUT_FOLDER
def render_command(data_path: str, output: str) -> None:
    """Render a report's JSON data (from any ``report`` command) again."""
    from planner.evaluation.reports import parse_report

    try:
        parsed = parse_report(read_json(data_path))
    except ValueError as error:
        raise click.BadParameter(f"{Path(data_path).name}: {error}", param_hint="--data") from None
    _write(parsed, output)


def _case(cluster: Cluster, models_path: str, workload_path: str) -> ReplanCase:
    """A re-placement case named after its files."""
    from planner.evaluation.reports import ReplanCase

    return ReplanCase(
        model_set=Path(models_path).stem,
        workload_name=Path(workload_path).stem,
        cluster=cluster,
        models=_run(lambda: files.load_models(models_path)),
        workload=_run(lambda: files.load_workload(workload_path)),
    )


@report.command("replan")
@click.option("--cluster", "cluster_path", type=INPUT_FILE, help="Cluster JSON (with --models).")
@click.option(
    "--models",
    "models_paths",
    type=INPUT_FILE,
    multiple=True,
    help="Models JSON; repeat with --workload for several cases (paired in order).",
)
@click.option("--workload", "workload_paths", type=INPUT_FILE, multiple=True, help="Workload file.")
@click.option(
    "--experiment",
    "experiment_path",
    type=INPUT_FILE,
    help="The re-placement experiment's JSON: its capacity table and sweeps.",
)
@click.option(
    "--strategies",
    default=",".join(DEFAULT_STRATEGIES),
    show_default=True,
    help=f"Comma-separated, from: {', '.join(STRATEGIES)}.",
)
@click.option("--window", type=_POSITIVE, default=60.0, show_default=True, help="Window (s).")
@click.option(
    "--solver",
    type=SolverChoice(SOLVERS),
    default="greedy",
    show_default=True,
    help="Solver of every plan.",
)
@click.option("--time-limit", type=SECONDS, help="Seconds per solve [10; quick 3].")
@click.option(
    "--rate-scale", type=_POSITIVE, default=1.0, show_default=True, help="Timelines' rate scale."
)
@click.option(
    "--target",
    type=click.FloatRange(min=0, max=1, min_open=True),
    default=0.99,
    show_default=True,
    help="Attainment of the capacity search.",
)
@click.option(
    "--capacity/--no-capacity",
    default=True,
    show_default=True,
    help="Search each strategy's max rate scale (off with --experiment).",
)
@click.option("--forecaster", default="ewma", show_default=True, help=f"{FORECASTER_SPECS}.")
@click.option("--quick", is_flag=True, help="Shorter solves and a coarser capacity search.")
@click.option("--title", default="Static vs re-placement", show_default=True)
@run_options
def replan_command(
    cluster_path: str | None,
    models_paths: tuple[str, ...],
    workload_paths: tuple[str, ...],
    experiment_path: str | None,
    strategies: str,
    window: float,
    solver: str,
    time_limit: float | None,
    rate_scale: float,
    target: float,
    capacity: bool,
    forecaster: str,
    quick: bool,
    title: str,
    max_batch: int,
    seed: int,
    output: str,
) -> None:
    """Static plan against periodic and forecast-triggered re-placement:
    capacity at the target attainment, attainment over time, lost service.
    Runs the cases given by --cluster/--models/--workload, renders the data
    of --experiment, or both in one report."""
    from planner.evaluation.reports import (
        ReplanSettings,
        build_replan,
        from_experiment,
        with_timelines,
    )

    if len(models_paths) != len(workload_paths):
        raise click.UsageError("give one --workload for every --models (they pair in order)")
    if not models_paths and experiment_path is None:
        raise click.UsageError("give --experiment, or --cluster with --models and --workload")
    experiment = None
    if experiment_path is not None:
        try:
            experiment = from_experiment(read_json(experiment_path))
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--experiment") from None
    if not models_paths:
        assert experiment is not None
        _write(dataclasses.replace(experiment, title=title), output)
        return
    if cluster_path is None:
        raise click.UsageError("--cluster is required with --models")
    cluster = load_cluster(cluster_path)
    cases = [_case(cluster, m, w) for m, w in zip(models_paths, workload_paths, strict=True)]
    changes: dict[str, Any] = {
        "strategies": tuple(s.strip() for s in strategies.split(",") if s.strip()),
        "window_s": window,
        "solver": solver,
        "rate_scale": rate_scale,
        "target_attainment": target,
        "capacity": capacity and experiment is None,
        "forecaster": forecaster,
        "max_batch": max_batch,
        "seed": seed,
    }
    if time_limit is not None:
        changes["time_limit_s"] = time_limit
    settings = _run(lambda: ReplanSettings.quick(**changes) if quick else ReplanSettings(**changes))
    with progress_bar("re-placing") as progress:
        result = _run(lambda: build_replan(cases, settings, title=title, progress=progress))
    _write(result if experiment is None else with_timelines(experiment, result), output)
