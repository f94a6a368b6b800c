"""Live re-placement from the command line, over the API:
``meshplan traffic show`` prints a cluster's observed request rates per
model and window; ``meshplan replanner`` turns a cluster's re-planner on or
off, changes its settings and prints them with its latest decisions. The
decisions are made by ``meshplan worker`` processes (replan jobs)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

import click

from api.commands.executor import api_option, cluster_option
from api.commands.secrets import api_key_options
from executor.api_client import ApiClient, ApiError, ApiUnavailable
from planner.replan.forecast import FORECASTER_SPECS
from planner.replan.live import MAX_REACT_DRIFT, MAX_TRUST_WINDOWS


def _call(client: ApiClient, method: str, path: str, body: Any = None) -> Any:
    try:
        _, _, data = client.call(method, path, body)
    except (ApiError, ApiUnavailable) as error:
        raise click.ClickException(str(error)) from None
    return data


def _time(unix_s: int) -> str:
    return dt.datetime.fromtimestamp(unix_s, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def traffic_table(data: dict[str, Any]) -> list[str]:
    """The windows of ``GET /v1/clusters/{id}/traffic`` as lines: one per
    window, the rate (requests/s) of each model that has a bin."""
    models = sorted({name for window in data["windows"] for name in window["rates_rps"]})
    lines = [" ".join([f"{'window start (UTC)':<20}", *(f"{name:>12}" for name in models)])]
    for window in data["windows"]:
        rates = window["rates_rps"]
        cells = [f"{rates[name]:>12.3f}" if name in rates else f"{'-':>12}" for name in models]
        lines.append(" ".join([f"{_time(window['start']):<20}", *cells]))
    return lines


@click.group("traffic")
def traffic() -> None:
    """Observed traffic of a cluster."""


@traffic.command("show")
@api_option
@cluster_option
@click.option("--since", type=click.IntRange(min=0), help="First window's start (unix s).")
@click.option(
    "--window", type=click.IntRange(1, 86400), default=60, show_default=True, help="Window (s)."
)
@api_key_options
def traffic_show(api_url: str, cluster_id: int, since: int | None, window: int, key: str) -> None:
    """Print the request rate (requests/s) per model and window."""
    query = {"window_s": window, **({"since": since} if since is not None else {})}
    data = _call(
        ApiClient(api_url, key), "GET", f"/v1/clusters/{cluster_id}/traffic?{urlencode(query)}"
    )
    click.echo(f"cluster {cluster_id}: requests/s per model, windows of {window} s")
    for line in traffic_table(data):
        click.echo(line)


SETTINGS = (
    "enabled",
    "window_s",
    "forecaster",
    "min_gain",
    "max_switches_per_hour",
    "revert_margin",
    "trust_windows",
    "react_drift",
    "nowcast_s",
)


def decision_line(decision: dict[str, Any]) -> str:
    """One decision of ``GET /v1/clusters/{id}/decisions`` in a line."""
    version = f" -> v{decision['version']}" if decision["version"] is not None else ""
    at = f" +{decision['at_s']} s" if decision["at_s"] else ""
    return (
        f"{_time(decision['window_start'])}{at} {decision['action']:<6}{version}"
        f" keep {_fraction(decision['keep_attainment'])}"
        f" candidate {_fraction(decision['candidate_attainment'])}"
        f" load {decision['switch_cost']['load_s']:.1f} s: {decision['reason']}"
    )


def _fraction(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@click.command("replanner")
@api_option
@cluster_option
@click.option("--enable/--disable", "enabled", default=None, help="Turn the re-planner on or off.")
@click.option(
    "--window",
    "window_s",
    type=click.IntRange(1, 86400),
    help="Decide every window of this many s.",
)
@click.option("--forecaster", help=f"{FORECASTER_SPECS}.")
@click.option("--min-gain", type=click.FloatRange(0, 1), help="Judged gain a switch needs.")
@click.option("--max-switches-per-hour", type=click.IntRange(0, 3600), help="Switch cap.")
@click.option("--revert-margin", type=click.FloatRange(0, 1), help="Replayed loss that reverts.")
@click.option(
    "--trust-windows",
    type=click.IntRange(0, MAX_TRUST_WINDOWS),
    help="Windows over which the forecast must serve well.",
)
@click.option(
    "--react-drift",
    type=click.FloatRange(0, MAX_REACT_DRIFT),
    help="Re-solve inside a window when the mix drifts this far (0: no watch).",
)
@click.option(
    "--nowcast",
    "nowcast_s",
    type=click.IntRange(0, 86399),
    help="Check the mix every this many s into a window.",
)
@click.option(
    "--decisions",
    type=click.IntRange(0, 200),
    default=10,
    show_default=True,
    help="Latest decisions to print.",
)
@api_key_options
def replanner_command(
    api_url: str, cluster_id: int, decisions: int, key: str, **changes: Any
) -> None:
    """Show or change a cluster's live re-planner; meshplan worker processes decide."""
    client = ApiClient(api_url, key)
    path = f"/v1/clusters/{cluster_id}/replanner"
    settings = _call(client, "GET", path)
    given = {name: value for name, value in changes.items() if value is not None}
    if given:
        settings = _call(client, "PUT", path, {name: settings[name] for name in SETTINGS} | given)
    state = "on" if settings["enabled"] else "off"
    click.echo(
        f"cluster {cluster_id}: re-planner {state}, windows of {settings['window_s']} s, "
        f"forecaster {settings['forecaster']}, min_gain {settings['min_gain']:g}, "
        f"max {settings['max_switches_per_hour']} switches/hour, "
        f"revert_margin {settings['revert_margin']:g}, "
        f"trust_windows {settings['trust_windows']}, {_watch(settings)}"
    )
    if settings["next_window"] is not None:
        at = f" +{settings['next_at_s']} s" if settings["next_at_s"] else ""
        click.echo(
            f"next decision: job {settings['job_id']} at {_time(settings['next_window'])}{at}"
        )
    if decisions:
        for decision in latest_decisions(client, cluster_id, decisions):
            click.echo(decision_line(decision))


def _watch(settings: dict[str, Any]) -> str:
    if not settings["react_drift"]:
        return "no drift watch"
    return f"drift watch {settings['react_drift']:g} every {settings['nowcast_s']} s"


def latest_decisions(client: ApiClient, cluster_id: int, count: int) -> list[dict[str, Any]]:
    """The cluster's ``count`` latest decisions, oldest first (every page read)."""
    latest: list[dict[str, Any]] = []
    path: str | None = f"/v1/clusters/{cluster_id}/decisions?limit=200"
    while path is not None:
        page = _call(client, "GET", path)
        latest = [*latest, *page["items"]][-count:]
        path = page["next"]
    return latest
