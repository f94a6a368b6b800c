"""``meshplan workload``: generate request workloads (arrival processes,
Azure trace replays, synthetic Azure-like traffic) and inspect them."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console
from rich.progress import Progress

from api.commands.common import print_table, write_json
from planner import files
from planner import workloads as wl

KINDS = ("poisson", "gamma", "azure-synthetic", "azure2019", "azure2021")
_TRACE_OPTIONS = {"traces", "start", "end", "window", "rate_scale", "cv_scale"}
_OPTIONS_OF_KIND = {
    "poisson": {"rate", "duration"},
    "gamma": {"rate", "cv", "duration"},
    "azure-synthetic": {"rate", "cv", "duration", "window"},
    "azure2019": _TRACE_OPTIONS,
    "azure2021": _TRACE_OPTIONS,
}
_KIND_OPTIONS = set().union(*_OPTIONS_OF_KIND.values())
_PROGRESS_STEP_BYTES = 1 << 20


@click.group("workload")
def workload() -> None:
    """Generate and inspect request workloads."""


def _model_names(models: int | None, model_names: str | None) -> tuple[str, ...]:
    if models is not None and model_names is not None:
        raise click.UsageError("give --models or --model-names, not both")
    if model_names is not None:
        names = tuple(name.strip() for name in model_names.split(","))
        if not all(names) or len(set(names)) != len(names):
            raise click.BadParameter(
                f"expected distinct non-empty names, got {model_names!r}",
                param_hint="--model-names",
            )
        return names
    return wl.default_model_names(4 if models is None else models)


def _check_options(ctx: click.Context, kind: str) -> None:
    for name in sorted(_KIND_OPTIONS - _OPTIONS_OF_KIND[kind]):
        if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE:
            flag = "--trace" if name == "traces" else "--" + name.replace("_", "-")
            raise click.UsageError(f"{flag} does not apply to --kind {kind}")


@contextmanager
def _trace_progress(paths: tuple[str, ...]) -> Iterator[Callable[[int], None]]:
    """A progress bar over the trace files' total size; yields the callback
    the readers call with bytes read."""
    total = sum(Path(p).stat().st_size for p in paths if Path(p).is_file())
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("reading trace", total=total or None)
        pending = 0

        def advance(chars: int) -> None:
            nonlocal pending
            pending += chars
            if pending >= _PROGRESS_STEP_BYTES:
                progress.advance(task, pending)
                pending = 0

        yield advance


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _generate(kind: str, names: tuple[str, ...], opts: dict[str, Any]) -> wl.Workload:
    seed = opts["seed"]
    if kind in ("poisson", "gamma"):
        spec = wl.ProcessSpec(_or(opts["rate"], 10.0), _or(opts["cv"], 1.0))
        return wl.process_workload(dict.fromkeys(names, spec), opts["duration"], seed)
    if kind == "azure-synthetic":
        config = wl.AzureLikeConfig(
            num_models=len(names),
            duration_s=opts["duration"],
            total_rate_rps=_or(opts["rate"], 50.0),
            cv=_or(opts["cv"], 2.0),
            window_s=_or(opts["window"], 60.0),
        )
        return wl.azure_like_workload(config, seed, names)
    traces = opts["traces"]
    if not traces:
        raise click.UsageError(f"--kind {kind} needs --trace FILE")
    if kind == "azure2021" and len(traces) > 1:
        raise click.UsageError("--kind azure2021 reads one --trace file")
    time_range = wl.TimeRange.parse(opts["start"], opts["end"])
    scales = {"rate_scale": opts["rate_scale"], "cv_scale": opts["cv_scale"]}
    with _trace_progress(traces) as progress:
        if kind == "azure2019":
            window = _or(opts["window"], 60.0)
            return files.load_azure2019(
                traces, names, time_range, seed, window, **scales, progress=progress
            )
        window = _or(opts["window"], 5400.0)
        return files.load_azure2021(
            traces[0], names, time_range, seed, window, **scales, progress=progress
        )


@workload.command("generate")
@click.option("--kind", type=click.Choice(KINDS), required=True, help="How to make arrivals.")
@click.option(
    "--trace",
    "traces",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Trace file: azure2019 one per day (repeat the option), azure2021 one file.",
)
@click.option("--models", type=click.IntRange(min=1), help="Number of models m0..m{N-1} [4].")
@click.option("--model-names", help="Comma-separated model names (instead of --models).")
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    help="Requests/s: per model for poisson/gamma [10], in total for azure-synthetic [50].",
)
@click.option("--cv", type=click.FloatRange(min=0), help="Gap CV: gamma [1], azure-synthetic [2].")
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=3600.0,
    show_default=True,
    help="Seconds (poisson, gamma, azure-synthetic).",
)
@click.option(
    "--start",
    default="0.0.0",
    show_default=True,
    help=f"Start of the trace range kept, a {wl.TRACE_TIME_HELP}.",
)
@click.option(
    "--end",
    default="0.1.0",
    show_default=True,
    help=f"End of the trace range kept (exclusive), a {wl.TRACE_TIME_HELP}.",
)
@click.option(
    "--window",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds per fitted window: azure2019 [60], azure2021 [5400], azure-synthetic [60].",
)
@click.option("--rate-scale", type=click.FloatRange(min=0), default=1.0, show_default=True)
@click.option("--cv-scale", type=click.FloatRange(min=0), default=1.0, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="out.json or out.npz"
)
@click.pass_context
def generate(
    ctx: click.Context,
    kind: str,
    models: int | None,
    model_names: str | None,
    output: str,
    **opts: Any,
) -> None:
    """Generate a workload and write it to OUTPUT (.json or .npz)."""
    _check_options(ctx, kind)
    names = _model_names(models, model_names)
    try:
        result = _generate(kind, names, opts)
        files.save_workload(output, result)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"wrote {output}: {result.num_requests} requests, {len(result.model_names)} models, "
        f"{result.duration_s:g} s"
    )


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


@workload.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--window",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds per window in the per-window totals.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def inspect(file: str, window: float, as_json: bool) -> None:
    """Per-model requests, rate and CV, and per-window totals of FILE."""
    try:
        loaded = files.load_workload(file)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    overall = wl.workload_stats(loaded)
    windows = wl.window_stats(loaded, window)
    models = [
        {"model": name, "requests": n, "rate_rps": rate, "cv": _number(cv)}
        for name, n, rate, cv in zip(
            overall.model_names, overall.requests, overall.rate_rps, overall.cv, strict=True
        )
    ]
    totals = [
        {
            "window": w.index,
            "start_s": w.start_s,
            "duration_s": w.duration_s,
            "requests": w.total_requests,
            "rate_rps": w.total_rate_rps,
        }
        for w in windows
    ]
    if as_json:
        write_json({"duration_s": loaded.duration_s, "models": models, "windows": totals}, None)
        return
    print_table(
        f"{file}: {loaded.num_requests} requests over {loaded.duration_s:g} s",
        ["model", "requests", "rate_rps", "cv"],
        [
            [m["model"], m["requests"], m["rate_rps"], "-" if m["cv"] is None else m["cv"]]
            for m in models
        ],
    )
    print_table(
        f"per {window:g} s window",
        ["window", "start_s", "requests", "rate_rps"],
        [[t["window"], t["start_s"], t["requests"], t["rate_rps"]] for t in totals],
    )
