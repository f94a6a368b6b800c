"""``meshplan demo``: run the end-to-end demo (:mod:`api.commands.demo_run`)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import click
from rich.console import Console

from api.commands.common import AZURE2019_SAMPLE, default_examples

MARKER = ".meshplan-demo"
"""Marks a folder made by the demo, which a later run may empty."""


@click.command("demo")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    default="out/demo",
    show_default=True,
    help="Folder for the database, logs and report (a previous demo folder is emptied first).",
)
@click.option(
    "--examples",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help=f"Folder with cluster_8.json, models_s3.json, {AZURE2019_SAMPLE} [examples/].",
)
@click.option("--time-limit", type=click.FloatRange(min=1), default=20.0, show_default=True)
@click.option(
    "--replay",
    type=click.FloatRange(min=1),
    default=20.0,
    show_default=True,
    help="Seconds of trace to serve.",
)
@click.option("--no-sweeps", is_flag=True, help="Skip the report's sweeps (faster).")
@click.option(
    "--live",
    "only_live",
    is_flag=True,
    help="Run only the live re-placement demonstration (and its report).",
)
@click.option("--no-live", is_flag=True, help="Skip the live re-placement section (faster).")
@click.option(
    "--base-port",
    type=click.IntRange(1, 65533),
    default=None,
    help="The API, agents and routers listen on this port and the next ones, in the order "
    "they start (API, agent, router, then the live section's agent and router) [free ports].",
)
def demo_command(
    output: str,
    examples: str | None,
    time_limit: float,
    replay: float,
    no_sweeps: bool,
    only_live: bool,
    no_live: bool,
    base_port: int | None,
) -> None:
    """Plan, compare, serve, re-place live and report on this machine, end to end."""
    from api.commands.demo_run import Demo, DemoSettings
    from harness.live_data import LiveScenario

    if only_live and no_live:
        raise click.UsageError("--live and --no-live: choose one")

    workdir = Path(output)
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            raise click.UsageError(
                f"--output {output}: not empty and not a demo folder; choose another"
            )
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("meshplan demo output; `meshplan demo` may delete this folder\n")
    console = Console() if Console().is_terminal else Console(width=160)
    settings = DemoSettings(
        workdir=workdir,
        examples=Path(examples) if examples else default_examples(),
        time_limit_s=time_limit,
        replay_s=replay,
        sweeps=not no_sweeps,
        base_port=base_port,
        live=None if no_live else LiveScenario(),
        only_live=only_live,
    )
    started = time.monotonic()
    try:
        result = Demo(settings, console).run()
    except (OSError, RuntimeError, TimeoutError, ValueError) as error:
        raise click.ClickException(f"demo failed: {error} (logs in {workdir})") from None
    console.print(f"demo finished in {time.monotonic() - started:.0f} s", highlight=False)
    if result.best is not None:
        console.print(f"best plan: {result.best}", highlight=False)
    console.print(f"report: {(result.report_dir / 'report.html').resolve()}", highlight=False)
