"""Reports as one self-contained HTML page: inline CSS, figures as inline
SVG, the report's JSON data in a ``<script type="application/json"
id="report-data">`` block; no script runs and nothing is fetched, so the
file opens offline and can be mailed as is."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from api.reporting.figures import model_colours, placement_svg, series_colours, sweep_svg
from api.reporting.live import TITLES, live_svg, live_tables, summary_lines
from api.reporting.replan_figures import capacity_svg, knob_svg, losses_svg, timeline_svg
from api.reporting.tables import (
    CAPACITY_COLUMNS,
    COMPARE_COLUMNS,
    GOODPUT_COLUMNS,
    GOODPUT_SEED_COLUMNS,
    STRATEGY_COLUMNS,
    SWITCH_COLUMNS,
    Column,
    R,
    html_cells,
)
from planner.codec import encode
from planner.evaluation.reports import CompareReport, ReplanReport, Report

CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0 0 1rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
th.num, td.num { text-align: right; }
tr.best td { font-weight: bold; }
dl.inputs { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }
dl.inputs dt { font-weight: bold; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0 0 1rem; } figcaption { font-size: 0.8rem; color: #555; max-width: 40rem; }
svg { max-width: 100%; height: auto; }
"""

JSON_IN_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
"""JSON escapes that keep embedded data from closing its script element."""


def page(title: str, kind: str, body: Iterable[str], data: Mapping[str, Any]) -> str:
    """A complete HTML document around ``body`` with ``data`` embedded as JSON."""
    embedded = json.dumps(data, separators=(",", ":"), sort_keys=True)
    for char, escaped in JSON_IN_HTML.items():
        embedded = embedded.replace(char, escaped)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta name="meshplan-report" content="{escape(kind)}">',
            f"<title>{escape(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            f"<h1>{escape(title)}</h1>",
            *body,
            f'<script type="application/json" id="report-data">{embedded}</script>',
            "</body>",
            "</html>",
            "",
        ]
    )


def table(
    table_id: str,
    columns: Sequence[Column[R]],
    rows: Sequence[R],
    highlight: R | None = None,
) -> str:
    """An HTML table of ``rows``; the ``highlight`` row is marked ``best``."""
    numeric = [
        bool(rows) and isinstance(c.value(rows[0]), int | float | tuple | None) for c in columns
    ]
    marks = [' class="num"' if n else "" for n in numeric]
    head = "".join(f"<th{m}>{escape(c.header)}</th>" for c, m in zip(columns, marks, strict=True))
    lines = [f'<table id="{table_id}">', f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for row in rows:
        texts = html_cells(columns, row)
        cells = "".join(f"<td{m}>{escape(t)}</td>" for t, m in zip(texts, marks, strict=True))
        marker = ' class="best"' if row is highlight else ""
        lines.append(f"<tr{marker}>{cells}</tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)


def figure_html(figure_id: str, svg: str, caption: str) -> str:
    return (
        f'<figure id="{escape(figure_id)}" class="plot">\n{svg}\n'
        f"<figcaption>{escape(caption)}</figcaption>\n</figure>"
    )


def definition_list(items: Iterable[tuple[str, str]]) -> str:
    entries = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)
    return f'<dl class="inputs">{entries}</dl>'


def compare_inputs(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Header lines of a comparison: what was compared, in words."""
    cluster = inputs.get("cluster", {})
    models = inputs.get("models", {})
    workload = inputs.get("workload", {})
    settings = inputs.get("settings", {})
    items = []
    if cluster:
        items.append(
            (
                "Cluster",
                f"{cluster['num_devices']} devices x {cluster['device_mem_bytes'] / 1e9:g} GB, "
                f"{cluster['devices_per_node']} per node, "
                f"load {cluster['load_bw_bytes_per_s'] / 1e9:g} GB/s",
            )
        )
    if models:
        families = ", ".join(f"{n} {f}" for f, n in models.get("families", {}).items())
        items.append(("Models", f"{models['count']} ({families})"))
    if workload:
        items.append(
            (
                "Workload",
                f"{workload['requests']} requests over {workload['duration_s']:g} s "
                f"({workload['rate_rps']:.2f} req/s, {workload.get('kind', 'custom')})",
            )
        )
    serving = inputs.get("serving")
    if serving:
        items.append(
            (
                "Serving check",
                f"{serving['requests']} requests replayed over {serving['duration_s']:g} s on "
                f"{serving['devices']} emulated CPU devices: measured attainment "
                f"{100 * serving['measured']:.2f}%, simulated "
                f"{100 * serving['simulated_measured_profiles']:.2f}% with the measured "
                f"profiles ({100 * serving['simulated_plan_profiles']:.2f}% with the plan's)",
            )
        )
    source = inputs.get("source")
    if source:
        items.append(
            (
                "Plans",
                f"stored plans {', '.join(map(str, source['plans']))} of jobs "
                f"{', '.join(map(str, source['jobs']))}, simulated on their workload "
                "(not solved again; solve times and gaps as the jobs reported them)",
            )
        )
    if settings:
        items.append(
            (
                "Time limits",
                f"{settings['time_limit_s']:g} s per solve, "
                f"{settings['sweep_time_limit_s']:g} s per sweep point",
            )
        )
    return items


def optimality_notes(report: CompareReport) -> list[str]:
    """How far from optimal: a paragraph per row with a certified bound
    ("bound" column: no static placement scores higher; "gap_pts": how far
    below it the plan is), and the proxy-simulator agreement where measured."""
    notes = []
    for row in report.rows:
        if row.upper_bound is None or row.gap_points is None:
            continue
        text = (
            f"{escape(row.label)} is within {max(row.gap_points, 0.0):.2f} points of optimal: "
            f"no static placement exceeds {100 * row.upper_bound:.2f}% attainment"
        )
        if row.proxy_rank_correlation is not None:
            text += (
                f"; its proxy ranks the plans it visited as the simulator does with rank "
                f"correlation {row.proxy_rank_correlation:.2f}"
            )
        notes.append(f'<p class="optimality">{text}.</p>')
    return notes


def live_html(data: Mapping[str, Any]) -> list[str]:
    """The live re-placement section (:mod:`api.reporting.live`)."""
    body = [
        '<h2 id="live-heading">Live re-placement</h2>',
        "<p>The same trace, whose popularity shifts, replayed twice through the router to "
        "the agent: with the re-planner on (live) and on the first plan kept (static). "
        "Measured: the share of requests answered 200 within their SLO at the client; "
        "simulated: the simulator on the same arrivals, profiles and plans (live: each "
        "plan from its activation, loading at the measured load times).</p>",
        definition_list(summary_lines(data)),
        figure_html(
            "live-figure",
            live_svg(data),
            "Observed traffic (the router's counts, GET traffic) and attainment per window.",
        ),
    ]
    for table_id, (columns, rows) in live_tables(data).items():
        body += [f'<h3 id="{table_id}-heading">{escape(TITLES[table_id])}</h3>']
        body.append(table(table_id, columns, rows) if rows else "<p>None.</p>")
    return body


def compare_html(report: CompareReport) -> str:
    """The comparison page: inputs, table, sweep figures, placement pictures."""
    labels = [row.label for row in report.rows]
    for sweep in report.sweeps:
        labels += [label for label in sweep.attainment if label not in labels]
    colours = series_colours(labels)
    names = sorted({name for row in report.rows for use in row.devices for name, _ in use.weights})
    by_model = model_colours(names)
    device_mem = int(report.inputs.get("cluster", {}).get("device_mem_bytes", 0)) or max(
        (use.used_bytes for row in report.rows for use in row.devices), default=1
    )
    best = report.best if report.rows else None
    live = report.inputs.get("live")
    solvers = bool(report.rows) or not live  # a live section alone has no solver part
    body = [definition_list(compare_inputs(report.inputs))]
    if solvers:
        body += [
            '<h2 id="table-heading">Solvers</h2>',
            "<p>Every plan is simulated on the same workload; attainment is the share of "
            "requests served within their SLO. Best attainment in bold.</p>",
            table("comparison", COMPARE_COLUMNS, report.rows, best),
            *optimality_notes(report),
        ]
    if report.sweeps:
        body += ['<h2 id="sweeps-heading">Attainment sweeps</h2>', '<div class="figures">']
        body += [
            figure_html(
                f"sweep-{s.axis}", sweep_svg(s, colours), f"Each point re-solved; {s.note}."
            )
            for s in report.sweeps
        ]
        body.append("</div>")
    if live:
        body += live_html(live)
    if not solvers:
        return page(report.title, report.kind, body, encode(report))
    body += ['<h2 id="placements-heading">Placements</h2>', '<div class="figures">']
    for row in report.rows:
        caption = (
            f"{row.label}: memory per device, one colour per model; hatched: activation "
            "workspace; boxes: groups with their parallel config; dashed: device memory."
        )
        if row.switches:
            caption += f" First of {row.switches + 1} placements over time."
        body.append(
            figure_html(f"placement-{row.label}", placement_svg(row, device_mem, by_model), caption)
        )
    body.append("</div>")
    return page(report.title, report.kind, body, encode(report))


def replan_inputs(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Header lines of a re-placement comparison."""
    items = [
        (
            f"{case['model_set']} / {case['workload']}",
            f"{case['models']} models on {case['cluster']['num_devices']} devices, "
            f"{case['requests']} requests over {case['duration_s']:g} s",
        )
        for case in inputs.get("cases", [])
    ]
    experiment = inputs.get("experiment", {})
    if experiment:
        items.append(
            (
                "Experiment",
                f"model sets {', '.join(experiment.get('model_sets', []))} on workloads "
                f"{', '.join(experiment.get('workloads', []))}, "
                f"{experiment.get('duration_s', 0):g} s traces, windows of "
                f"{experiment.get('window_s', 0):g} s, solver {experiment.get('solver', '?')}",
            )
        )
    settings = inputs.get("settings", {})
    if settings:
        items.append(
            (
                "Settings",
                f"windows of {settings['window_s']:g} s (the first is warm-up), solver "
                f"{settings['solver']} with {settings['time_limit_s']:g} s per solve, "
                f"forecaster {settings['forecaster']}",
            )
        )
    return items


def provenance(report: ReplanReport) -> list[str]:
    """What the capacity rows were measured on, in words: with the runs of
    a case below (they agree with its table at its rate) or apart."""
    cases = list(dict.fromkeys(row.case for row in report.capacity if row.case))
    words = [
        f"Rows of {case}: measured on the same traffic as that case below, starting "
        "from its very runs, so at the case's rate a strategy meets the target in both "
        "tables or in neither."
        for case in cases
    ]
    if any(not row.case for row in report.capacity):
        words.append(
            "Rows tied to no case below (the re-placement experiment's) were measured "
            "apart, on traffic of their own; the cases below need not agree with them."
        )
    return words


def replan_html(report: ReplanReport) -> str:
    """The re-placement page: capacity, then per case the timeline, the
    losses per switch and the tables."""
    strategies = list(
        dict.fromkeys(
            [
                *(t.strategy for t in report.timelines),
                *(r.strategy for r in report.capacity),
                *(s for sweep in report.sweeps for s in sweep.ratio_to_static),
            ]
        )
    )
    colours = series_colours(strategies)
    target = f"{100 * report.target_attainment:g}%"
    body = [definition_list(replan_inputs(report.inputs))]
    if report.capacity:
        body += [
            '<h2 id="capacity-heading">Capacity</h2>',
            f"<p>Largest load each strategy sustains with at least {target} of requests "
            "within SLO; ratio to the static plan; switches and lost service at that load.</p>",
            *(f'<p class="provenance">{escape(text)}</p>' for text in provenance(report)),
            table("capacity", CAPACITY_COLUMNS, report.capacity),
            figure_html(
                "capacity-figure",
                capacity_svg(report.capacity, report.target_attainment, colours),
                f"Max rate at {target} attainment, per model set and workload.",
            ),
        ]
    if report.goodput:
        body += [
            '<h2 id="goodput-heading">Goodput (memory-bound cases)</h2>',
            "<p>Where the devices cannot host every model, no strategy may reach the target "
            "at any rate: requests served within SLO per second at the trace's rate, the "
            "best over the rate sweep and the rate it fell at, the headroom bound (any plan "
            "re-placed at will with free switches) over static, the share of that headroom "
            "each strategy captures, and its switches with their lost service.</p>",
            table("goodput", GOODPUT_COLUMNS, report.goodput),
        ]
    if report.over_seeds:
        body += [
            '<h2 id="goodput-seeds-heading">Goodput over seeds</h2>',
            "<p>The goodput table over the seeds the experiment ran (each draws other "
            "traces and forecasts): the mean ratio to static with its range, and the "
            "share of the mean gain over static in the mean headroom.</p>",
            table("goodput-seeds", GOODPUT_SEED_COLUMNS, report.over_seeds),
        ]
    if report.sweeps:
        body += ['<h2 id="knobs-heading">Capacity sweeps</h2>', '<div class="figures">']
        body += [
            figure_html(f"knob-{s.knob}", knob_svg(s, colours), f"{s.note}; dashed: static.")
            for s in report.sweeps
        ]
        body.append("</div>")
    for n, case in enumerate(report.cases):
        timelines = [t for t in report.timelines if t.case == case]
        switches = [(t.strategy, s) for t in timelines for s in t.switches]
        body += [
            f'<h2 id="case-{n}">{escape(case)}</h2>',
            table(f"strategies-{n}", STRATEGY_COLUMNS, timelines),
            '<div class="figures">',
            figure_html(
                f"timeline-{n}",
                timeline_svg(case, timelines, colours),
                "Attainment of the requests arriving in each window; triangles mark "
                "switches. The first window is the warm-up and is not scored.",
            ),
            figure_html(
                f"losses-{n}",
                losses_svg(case, timelines, colours),
                "Replica-seconds of service lost while the replicas of each switch loaded.",
            ),
            "</div>",
        ]
        if switches:
            body.append(table(f"switches-{n}", SWITCH_COLUMNS, switches))
    return page(report.title, report.kind, body, encode(report))


def render_html(report: Report) -> str:
    """The HTML page of any report kind."""
    if isinstance(report, ReplanReport):
        return replan_html(report)
    return compare_html(report)
