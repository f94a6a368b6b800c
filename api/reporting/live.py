"""The live re-placement section of a demo report, from its JSON data
(``inputs["live"]``, written by :meth:`harness.live.LiveRun.to_json`):
observed traffic and attainment per window (measured next to the
simulator's prediction, live and static), each decision, each switch with
its measured loads, where the client's time went; as HTML (tables and one
figure) and as terminal tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from rich.table import Table

from api.reporting.figures import model_colours
from api.reporting.svg import figure, to_svg
from api.reporting.tables import Column, fixed, html_cells, millis, percent

Row = Mapping[str, Any]

REPLAYS = ("live", "static")


def top_counts(counts: Mapping[str, float], digits: int = 0, limit: int = 6) -> str:
    """The largest entries as ``name value`` pairs, largest first."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return ", ".join(f"{name} {value:.{digits}f}" for name, value in ranked if value) or "none"


WINDOW_COLUMNS: tuple[Column[Row], ...] = (
    Column("window", lambda r: r["window"]),
    Column("start_s", lambda r: r["start_s"]),
    Column("sent", lambda r: r["sent"]),
    Column("observed", lambda r: sum(r["observed"].values())),
    Column("busiest (observed)", lambda r: top_counts(r["observed"], limit=4)),
    Column("live measured", lambda r: r.get("live_measured"), percent),
    Column("live simulated", lambda r: r.get("live_simulated"), percent),
    Column("live simulated (as applied)", lambda r: r.get("live_simulated_applied"), percent),
    Column("static measured", lambda r: r.get("static_measured"), percent),
    Column("static simulated", lambda r: r.get("static_simulated"), percent),
)
"""Per window: requests sent by the replay and counted by the router
(``GET traffic``), attainment measured and simulated, live (each switch
from its activation; and from when the agent reported it applied) and
static."""


def switch_cost_words(row: Row) -> str:
    cost = row["switch_cost"]
    return f"{cost['replicas_loaded']} replicas, {cost['load_s']:.2f} s"


DECISION_COLUMNS: tuple[Column[Row], ...] = (
    Column("window", lambda r: r["window"]),
    Column("at_s", lambda r: r.get("at_s", 0)),
    Column("decided_s", lambda r: r["decided_s"], fixed(1)),
    Column("forecast (req/s)", lambda r: top_counts(r["forecast_rps"], 2, 4)),
    Column("keep", lambda r: r["keep_attainment"], percent),
    Column("candidate", lambda r: r["candidate_attainment"], percent),
    Column("switch cost", lambda r: r["switch_cost"]["load_s"], cell=switch_cost_words),
    Column("action", lambda r: r["action"]),
    Column("chosen", lambda r: "yes" if r["chosen"] else "no"),
    Column("why", lambda r: r["reason"]),
)
"""Each decision of the re-planner (``GET decisions``)."""


def loads_words(row: Row) -> str:
    loads = row["loads"]
    return ", ".join(f"{x['model']} {x['seconds']:.2f} s" for x in loads) or "none"


SWITCH_COLUMNS_LIVE: tuple[Column[Row], ...] = (
    Column("version", lambda r: r["version"]),
    Column("window", lambda r: r["window"]),
    Column("action", lambda r: r["action"]),
    Column("activated_s", lambda r: r["activated_s"], fixed(1)),
    Column("applied_s", lambda r: r["applied_s"], fixed(1)),
    Column("loaded (measured load time)", lambda r: len(r["loads"]), cell=loads_words),
    Column("evicted", lambda r: ", ".join(r["evicted"]) or "none"),
)
"""Each switch applied: when the plan was activated and when the agent
reported it applied (s after the replay's start), each replica it built
with its measured load time."""

PART_COLUMNS: tuple[Column[tuple[str, Row]], ...] = (
    Column("replay", lambda r: r[0]),
    Column("answered", lambda r: r[1]["requests"]),
    Column("queue p50 ms", lambda r: r[1]["queue_p50_s"], millis),
    Column("compute p50 ms", lambda r: r[1]["compute_p50_s"], millis),
    Column("HTTP hops p50 ms", lambda r: r[1]["hops_p50_s"], millis),
    Column("queue p90 ms", lambda r: r[1]["queue_p90_s"], millis),
    Column("compute p90 ms", lambda r: r[1]["compute_p90_s"], millis),
    Column("HTTP hops p90 ms", lambda r: r[1]["hops_p90_s"], millis),
)
"""Where the client's latency went under the replay's load: the agent's
queueing and compute (its own timings) and the rest (the HTTP hops)."""


def gap_points(data: Row, replay: str) -> tuple[float, float] | None:
    """Mean and largest |measured - simulated| (points) over the windows with
    requests, for ``replay``; None when it did not run."""
    gaps = [
        abs(w[f"{replay}_measured"] - w[f"{replay}_simulated"]) * 100
        for w in data["windows"]
        if w.get(f"{replay}_measured") is not None
    ]
    return (float(np.mean(gaps)), float(np.max(gaps))) if gaps else None


def watch_words(scenario: Row) -> str:
    """The re-planner's drift watch in words (none in data made before it)."""
    drift = scenario.get("react_drift", 0)
    if not drift:
        return "no drift watch"
    return f"re-solved inside a window when the mix drifts by > {drift:g} (checked every {scenario['nowcast_s']} s)"


def poll_words(scenario: Row) -> str:
    """How often the agent and the router poll, in words (nothing in data
    made before the scenario said)."""
    poll = scenario.get("poll_s")
    return "" if poll is None else f"; the agent and the router poll every {poll:g} s"


def summary_lines(data: Row) -> list[tuple[str, str]]:
    """The section's header: the scenario and the totals, in words."""
    s = data["scenario"]
    hot = "; ".join(", ".join(h) for h in s["hot_sets"])
    lines = [
        (
            "Live scenario",
            f"{s['models'] + s['background']} tiny BERTs, {data['cluster']['num_devices']} "
            f"emulated CPU devices holding {s['replicas_per_device']} replica each; "
            f"{s['phases']} phases of {s['phase_s']:g} s, hot sets {hot} at {s['hot_rps']:g} "
            f"req/s per model (none outside their phase), {s['background']} background "
            f"models at {s['cold_rps']:g}; SLO {1e3 * data['slo_s']:.0f} ms; re-planner window "
            f"{s['window_s']} s, forecaster {s['forecaster']}, minimum gain {s['min_gain']:g}, "
            + watch_words(s)
            + poll_words(s),
        )
    ]
    for replay in REPLAYS:
        total = data["totals"].get(replay)
        gap = gap_points(data, replay)
        if total is None or gap is None:
            continue
        lines.append(
            (
                f"{replay.capitalize()} replay",
                f"{total['requests']} requests: measured {100 * total['measured']:.2f}%, "
                f"simulated {100 * total['simulated']:.2f}%; per window |gap| mean "
                f"{gap[0]:.1f}, max {gap[1]:.1f} points",
            )
        )
    hops = data["hops"]
    lines.append(
        (
            "Hops (one at a time)",
            f"{hops['model']}, {hops['requests']} requests each way, medians: through the "
            f"router {1e3 * hops['routed_s']:.1f} ms, to the agent directly "
            f"{1e3 * hops['direct_s']:.1f} ms (router hop {1e3 * hops['router_hop_s']:.1f} ms); "
            f"the agent's own time {1e3 * hops['agent_s']:.1f} ms (its HTTP "
            f"{1e3 * hops['agent_http_s']:.1f} ms), compute {1e3 * hops['compute_s']:.1f} ms "
            f"vs the profile's {1e3 * hops['profile_s']:.1f} ms",
        )
    )
    return lines


def live_svg(data: Row) -> str:
    """Top: observed requests per window, stacked by model. Bottom:
    attainment per window, measured (solid) and simulated (dashed), live
    and static; triangles where a switch was activated."""
    windows = data["windows"]
    window_s = float(data["scenario"]["window_s"])
    edges = np.arange(len(windows) + 1) * window_s
    models = sorted({m for w in windows for m in w["observed"]})
    colours = model_colours(models)
    with figure(7.0, 4.8) as fig:
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.4))
        base = np.zeros(len(windows))
        for name in models:
            counts = np.array([w["observed"].get(name, 0) for w in windows], dtype=float)
            top.bar(
                edges[:-1],
                counts,
                width=window_s,
                bottom=base,
                align="edge",
                label=name,
                color=colours[name],
            )
            base += counts
        top.set_ylabel("Requests (router)")
        top.set_title("Observed traffic per window, by model")
        top.legend(fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        for replay, colour in zip(REPLAYS, ("tab:blue", "tab:orange"), strict=True):
            for kind, style in (
                ("measured", "-"),
                ("simulated", "--"),
                ("simulated_applied", ":"),
            ):
                key = f"{replay}_{kind}"
                if not windows or key not in windows[0]:
                    continue
                y = np.array([np.nan if w[key] is None else 100 * w[key] for w in windows])
                bottom.stairs(
                    y,
                    edges,
                    baseline=None,
                    color=colour,
                    linestyle=style,
                    label=f"{replay} {kind.replace('_', ' ')}",
                )
        switches = data["switches"]
        if switches:
            xs = [s["activated_s"] for s in switches]
            bottom.plot(xs, [100.0] * len(xs), marker="v", linestyle="none", color="tab:blue")
        bottom.set_xlabel("Time since the replay's start (s)")
        bottom.set_ylabel("SLO attainment (%)")
        bottom.set_ylim(top=102)
        bottom.set_title("Attainment per window (triangles: switches activated)")
        bottom.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return to_svg(fig, "live")


def live_tables(data: Row) -> dict[str, tuple[Sequence[Column[Any]], list[Any]]]:
    """The section's tables by id: columns and rows."""
    return {
        "live-windows": (WINDOW_COLUMNS, list(data["windows"])),
        "live-decisions": (DECISION_COLUMNS, list(data["decisions"])),
        "live-switches": (SWITCH_COLUMNS_LIVE, list(data["switches"])),
        "live-latency": (PART_COLUMNS, list(data["latency_parts"].items())),
    }


TITLES = {
    "live-windows": "Traffic and attainment per window",
    "live-decisions": "Decisions",
    "live-switches": "Switches and measured load times",
    "live-latency": "Where the client's time went (under load)",
}


def console_tables(data: Row) -> list[Table]:
    """The section's tables for a terminal (rich)."""
    tables = []
    for table_id, (columns, rows) in live_tables(data).items():
        table = Table(title=TITLES[table_id])
        for column in columns:
            table.add_column(column.header)
        for row in rows:
            table.add_row(*html_cells(columns, row))
        tables.append(table)
    return tables
