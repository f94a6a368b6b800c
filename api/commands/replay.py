"""``meshplan replay``: send a workload through a router (or one agent),
open loop at its arrival times (:mod:`executor.replay`), and print the
measured SLO attainment per model and overall."""

from __future__ import annotations

import click

from api.commands.common import INPUT_FILE, SECONDS, print_table, usage_errors
from api.commands.secrets import inference_key, inference_key_option
from executor.replay import attainment, attainment_by_model, replay
from planner import files
from planner.workloads import scale_rate
from planner.workloads.windows import window_workload


@click.command("replay")
@click.option("--router", "router_url", required=True, help="Router (or agent) base URL.")
@click.option(
    "--workload", "workload_path", type=INPUT_FILE, required=True, help="Workload .json or .npz."
)
@click.option(
    "--models",
    "models_path",
    type=INPUT_FILE,
    required=True,
    help='Models JSON {"models": [...]}: each model\'s SLO.',
)
@click.option(
    "--rate-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Thin (< 1) or replicate (> 1) the requests.",
)
@click.option("--duration", "duration_s", type=SECONDS, default=None, help="First S seconds only.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --rate-scale.")
@inference_key_option
def replay_command(
    router_url: str,
    workload_path: str,
    models_path: str,
    rate_scale: float,
    duration_s: float | None,
    seed: int,
    inference_key_file: str | None,
) -> None:
    """Replay WORKLOAD through ROUTER and print the measured SLO attainment
    (answered 200 within the model's SLO, latency timed by this client)."""
    with usage_errors():
        workload = files.load_workload(workload_path)
        slos = {model.name: model.slo_s for model in files.load_models(models_path)}
    missing = sorted(set(workload.model_names) - set(slos))
    if missing:
        raise click.BadParameter(f"no SLO for {missing} in {models_path}", param_hint="--models")
    if duration_s is not None:
        workload = window_workload(workload, 0.0, min(duration_s, workload.duration_s))
    workload = scale_rate(workload, rate_scale, seed)
    click.echo(
        f"replaying {workload.num_requests} requests over {workload.duration_s:g} s "
        f"through {router_url}",
        err=True,
    )
    sent = replay(router_url, workload, slos, key=inference_key(inference_key_file))
    rows = [
        [model, requests, attained, attained / requests]
        for model, (requests, attained) in attainment_by_model(sent).items()
    ]
    print_table("measured SLO attainment", ["model", "requests", "attained", "attainment"], rows)
    click.echo(f"overall attainment {attainment(sent):.4f} ({len(sent)} requests)")
