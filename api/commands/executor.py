"""Executor commands: ``meshplan agent``, ``meshplan router`` and
``meshplan profile measure`` (registered on the ``profile`` group).

Agents and the router serve on cheroot (:mod:`executor.wsgi`); with an
inference key (``--inference-key-file``, else ``MESHPLAN_INFERENCE_KEY``)
their ``/v1/`` routes need ``Authorization: Bearer <key>``, and the router
presents the same key to the agents. JAX is imported only inside the
commands, after ``XLA_FLAGS`` asks the CPU backend for as many devices as
the agent drives.

Two agents on two hosts serve a pp = 2 group with one stage on each when
both join one JAX cluster at start (``--coordinator HOST:PORT`` and
``--process-id``: JAX can join a cluster only once per process and before
any other JAX use, so an agent that may ever serve such a group must be
started this way). Process 0 runs the coordinator on HOST:PORT (HOST: the
leader's host) and leads: it serves stage 0 and answers the group's
requests; process 1 serves stage 1. Both must be running for either to
start serving, and each stops with its peer: when one exits, JAX ends the
other's part in the cluster (restart both)."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

import click
from rich.progress import Progress

from api.commands.common import print_table, write_json
from api.commands.secrets import api_key_options, inference_key, inference_key_option
from executor.api_client import ApiClient
from executor.endpoint import MAX_BODY_BYTES, Guard
from executor.schedule import POLICIES
from executor.traffic import TrafficCounter, TrafficReporter
from planner.codec import encode
from planner.domain import ParallelConfig

log = logging.getLogger(__name__)

DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"
SIGNAL_CHECK_S = 0.2
STOP_DRAIN_S = 0.5
"""On SIGTERM an agent's groups get this long each to finish started
batches, and a replica being compiled this long to finish; after that the
process exits without waiting for it, within about a second at any phase."""

api_option = click.option("--api", "api_url", required=True, help="Planning API base URL.")
cluster_option = click.option(
    "--cluster", "cluster_id", type=int, required=True, help="Cluster id."
)
max_body_option = click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1),
    default=MAX_BODY_BYTES,
    show_default=True,
    help="Largest request body accepted (413 beyond).",
)
traffic_bin_option = click.option(
    "--traffic-bin-s",
    type=click.IntRange(1, 3600),
    default=1,
    show_default=True,
    help="Width of the bins arrivals are counted in for the traffic reports (s).",
)
traffic_every_option = click.option(
    "--traffic-every-s",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds between two traffic reports to the API (each sends the bins completed since).",
)
scale_option = click.option(
    "--scale",
    type=click.Choice(["tiny", "full"]),
    default="tiny",
    show_default=True,
    help="tiny: each model runs as its family's tiny preset (CPU); full: its own architecture.",
)


def parse_devices(text: str) -> list[int]:
    """``"0-3"``, ``"0,2,5"`` or ``"0-1,4-5"`` → sorted device ids."""
    devices: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise click.BadParameter(f"devices: expected ids or ranges like 0-3, got {text!r}")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise click.BadParameter(f"devices: range {part!r} is empty")
        devices.update(range(first, last + 1))
    return sorted(devices)


def parse_configs(text: str) -> list[ParallelConfig]:
    try:
        return [ParallelConfig.parse(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--configs") from None


def ask_for_cpu_devices(count: int) -> None:
    """Make JAX's CPU backend offer ``count`` devices (unless XLA_FLAGS
    already says how many); must run before JAX is imported."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "jax" not in sys.modules and DEVICE_COUNT_FLAG not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {DEVICE_COUNT_FLAG}={count}".strip()


def inference_guard(key_file: str | None, max_body_bytes: int) -> Guard:
    """The guard of an inference endpoint: the key in ``key_file`` (else in
    ``$MESHPLAN_INFERENCE_KEY``; neither: no key), surrounding whitespace
    dropped."""
    try:
        return Guard(inference_key(key_file), max_body_bytes)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--inference-key-file") from None


def describe_guard(guard: Guard) -> str:
    return "inference key required" if guard.key else "no inference key: open to all who reach it"


def traffic_reporter(
    client: ApiClient, cluster_id: int, source: str, bin_s: int, every_s: float
) -> TrafficReporter:
    """A started reporter of arrivals counted as ``source`` to the cluster's
    traffic (stop it on the way out)."""
    send = functools.partial(client.post_traffic, cluster_id)
    reporter = TrafficReporter(TrafficCounter(source[:128], bin_s), send, every_s)
    reporter.start()
    return reporter


def stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handle)
    return stop


@click.command("agent")
@api_option
@api_key_options
@cluster_option
@click.option("--devices", "devices_text", required=True, help="Global device ids, e.g. 0-3.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", type=int, default=0, show_default=True, help="Port (0: any free one).")
@click.option("--name", default=None, help="Executor name (default: agent-<devices>).")
@scale_option
@click.option(
    "--policy",
    type=click.Choice(POLICIES),
    default="fcfs",
    show_default=True,
    help="Order of waiting batches: first come first served, earliest deadline first, "
    "or least slack first.",
)
@click.option("--interval-s", type=float, default=1.0, show_default=True, help="Poll period.")
@click.option(
    "--report-traffic",
    is_flag=True,
    help="Count the requests this agent receives and report them as the cluster's traffic "
    "(for clients that call the agent directly; behind a router, the router reports).",
)
@click.option(
    "--coordinator",
    default=None,
    metavar="HOST:PORT",
    help="Join a two-agent JAX cluster whose coordinator process 0 runs on HOST:PORT, to serve "
    "a pp = 2 group with stage 0 on process 0's devices and stage 1 on process 1's. "
    "Needs --process-id; JAX joins once, at start.",
)
@click.option(
    "--process-id",
    type=click.IntRange(0, 1),
    default=None,
    help="This agent's place in the JAX cluster: 0 leads (runs the coordinator, serves stage 0 "
    "and answers the group's requests), 1 follows (serves stage 1).",
)
@traffic_bin_option
@traffic_every_option
@inference_key_option
@max_body_option
def agent_command(
    api_url: str,
    key: str,
    cluster_id: int,
    devices_text: str,
    host: str,
    port: int,
    name: str | None,
    scale: str,
    policy: str,
    interval_s: float,
    report_traffic: bool,
    coordinator: str | None,
    process_id: int | None,
    traffic_bin_s: int,
    traffic_every_s: float,
    inference_key_file: str | None,
    max_body_bytes: int,
) -> None:
    """Serve the plan groups that lie on DEVICES: pull the cluster's plan,
    load replicas, answer POST /v1/infer/<model>, heartbeat. With
    --coordinator and --process-id, also the pp = 2 group that spans this
    agent and its peer (stage 0 on process 0, which answers its requests)."""
    devices = parse_devices(devices_text)
    guard = inference_guard(inference_key_file, max_body_bytes)
    if (coordinator is None) != (process_id is None):
        raise click.BadParameter(
            "--coordinator and --process-id go together", param_hint="--process-id"
        )
    ask_for_cpu_devices(len(devices))
    from executor.agent import Agent
    from executor.api_client import ApiPlanSource
    from executor.crosshost import Link, join
    from executor.server import create_app
    from executor.wsgi import HttpServer

    link = None
    if coordinator is not None and process_id is not None:
        join(coordinator, 2, process_id)
        link = Link()

    client = ApiClient(api_url, key)
    name = name or f"agent-{devices_text}"
    source = ApiPlanSource(client, cluster_id, name, devices)
    try:
        agent = Agent(source, devices, scale=scale, policy=policy, link=link)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    reporter = (
        traffic_reporter(client, cluster_id, name, traffic_bin_s, traffic_every_s)
        if report_traffic
        else None
    )
    counter = reporter.counter if reporter else None
    server = HttpServer(create_app(agent.host, agent.status, guard, counter), host, port)
    source.url = f"http://{host}:{server.port}"
    click.echo(
        f"agent serving devices {devices} at {source.url} ({describe_guard(guard)})", err=True
    )
    stop = stop_on_signals()
    loop = threading.Thread(target=agent.run, args=(interval_s,), daemon=True, name="reconcile")
    loop.start()
    try:
        while loop.is_alive() and not stop.wait(SIGNAL_CHECK_S):
            pass
    finally:
        agent.stop()
        if reporter is not None:
            reporter.stop(STOP_DRAIN_S)
        agent.shutdown(STOP_DRAIN_S)
        server.stop()
    loop.join(STOP_DRAIN_S)
    if loop.is_alive() or link is not None:
        # compiling: XLA would abort at interpreter exit; in a JAX cluster:
        # the follower's thread waits on the link, and JAX's shutdown would
        # wait for the peer
        log.info("leaving without waiting for the replica being compiled or the peer")
        logging.shutdown()
        sys.stderr.flush()
        os._exit(0)


@click.command("router")
@api_option
@api_key_options
@cluster_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", type=int, default=8100, show_default=True, help="Port (0: any free one).")
@click.option("--interval-s", type=float, default=1.0, show_default=True, help="Refresh period.")
@click.option(
    "--traffic/--no-traffic",
    "report_traffic",
    default=True,
    show_default=True,
    help="Count requests per model and report them as the cluster's observed traffic.",
)
@click.option(
    "--traffic-source",
    default=None,
    help="Name the traffic reports carry (1-128 characters; default: router-<host>:<port>).",
)
@traffic_bin_option
@traffic_every_option
@inference_key_option
@max_body_option
def router_command(
    api_url: str,
    key: str,
    cluster_id: int,
    host: str,
    port: int,
    interval_s: float,
    report_traffic: bool,
    traffic_source: str | None,
    traffic_bin_s: int,
    traffic_every_s: float,
    inference_key_file: str | None,
    max_body_bytes: int,
) -> None:
    """Spread POST /v1/infer/<model> over the agents hosting each model by
    the active plan, retrying on another replica when an agent is down, and
    report the requests per model as the cluster's observed traffic."""
    guard = inference_guard(inference_key_file, max_body_bytes)
    from executor.router import Router, http_forward, refresh
    from executor.server import create_router_app
    from executor.wsgi import HttpServer

    if traffic_source is not None and not 1 <= len(traffic_source) <= 128:
        raise click.BadParameter("must have 1 to 128 characters", param_hint="--traffic-source")
    client = ApiClient(api_url, key)
    router = Router(functools.partial(http_forward, key=guard.key))
    refresh(router, client, cluster_id)
    server = HttpServer(create_router_app(router, guard), host, port)
    reporter = None
    if report_traffic:
        source = traffic_source or f"router-{host}:{server.port}"
        reporter = traffic_reporter(client, cluster_id, source, traffic_bin_s, traffic_every_s)
        router.counter = reporter.counter
    click.echo(f"router at http://{host}:{server.port} ({describe_guard(guard)})", err=True)
    stop = stop_on_signals()
    try:
        while not stop.wait(interval_s):
            refresh(router, client, cluster_id)
    finally:
        if reporter is not None:
            reporter.stop(STOP_DRAIN_S)
        server.stop()


@click.command("measure")
@api_option
@api_key_options
@click.option("--model", "model_ids", type=int, multiple=True, required=True, help="Model id.")
@click.option(
    "--configs", "configs_text", default="op1xpp1", show_default=True, help="e.g. op1xpp1,op2xpp2."
)
@click.option("--max-batch", type=click.IntRange(min=1), default=None, help="Default: the model's.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@scale_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write {model name: Profile JSON} here.",
)
@click.option("--no-upload", is_flag=True, help="Measure only; do not PUT the profiles.")
def measure_command(
    api_url: str,
    key: str,
    model_ids: tuple[int, ...],
    configs_text: str,
    max_batch: int | None,
    repeats: int,
    scale: str,
    output: str | None,
    no_upload: bool,
) -> None:
    """Run real forward passes of each model for every config and batch size
    and upload the per-stage latencies and memory as its measured profile."""
    configs = parse_configs(configs_text)
    ask_for_cpu_devices(max(c.size for c in configs))
    from executor.api_client import ApiError, ApiUnavailable

    client = ApiClient(api_url, key)
    profiles: dict[str, Any] = {}
    rows: list[list[Any]] = []
    for model_id in model_ids:
        try:
            name, profile = _measure_model(client, model_id, configs, max_batch, repeats, scale)
            if not no_upload:
                client.put_profile(model_id, encode(profile))
        except (ApiError, ApiUnavailable, ValueError) as error:
            raise click.ClickException(f"model {model_id}: {error}") from None
        profiles[name] = encode(profile)
        for config, stage in profile.by_config.items():
            rows.append([name, str(config), stage.latency(1) * 1e3, stage.weight_bytes])
    print_table("measured profiles", ["model", "config", "b=1 ms", "weight bytes/dev"], rows)
    if output is not None:
        write_json(profiles, output)


def _measure_model(
    client: Any,
    model_id: int,
    configs: list[ParallelConfig],
    max_batch: int | None,
    repeats: int,
    scale: str,
) -> tuple[str, Any]:
    """Read model ``model_id`` from the API and measure its profile."""
    from executor.agent import architecture_for
    from executor.api_client import ModelInfo
    from executor.profiler import measure_profile

    row = client.model(model_id)
    batch = max_batch or row.get("max_batch") or 4
    info = ModelInfo(row["slo_s"], row["family"], row.get("architecture"), batch)
    arch = architecture_for(row["name"], info, scale)
    with Progress(transient=True) as bar:
        task = bar.add_task(f"measuring {row['name']}", total=len(configs))
        profile = measure_profile(
            row["name"],
            arch,
            configs,
            batch,
            repeats=repeats,
            progress=lambda _config: bar.advance(task),
        )
    return row["name"], profile
