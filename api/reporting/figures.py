"""The figures of a solver comparison, drawn from report data:

- :func:`sweep_svg`: SLO attainment (%) of each solver against one swept
  input (rate scale, CV scale, SLO scale, number of devices), as in the
  AlpaServe evaluation's figures;
- :func:`placement_svg`: one placement as devices × memory: a stacked bar
  per device with one block per model replica's weights (a colour per
  model) and the activation workspace hatched, groups outlined and labelled
  with their parallel config and number of models (``op2xpp1`` over ``3
  models``; ``1x1`` alone over a single device), the device memory drawn
  as a dashed line, the models' legend outside the plot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib
import matplotlib.colors as mcolors
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from api.reporting.svg import figure, to_svg
from planner.evaluation.reports import SolverRow, Sweep

GB = 1e9
AXIS_LABELS = {
    "rate_scale": "Rate scale",
    "cv_scale": "CV scale",
    "slo_scale": "SLO scale (x reference latency)",
    "num_devices": "Number of devices",
}
LEGEND_MAX_MODELS = 16
"""Up to this many models the placement picture's legend stands right of
the plot, one model a line; beyond, under it in :data:`LEGEND_COLUMNS`
columns."""
LEGEND_COLUMNS = 16


def series_colours(labels: Sequence[str]) -> dict[str, str]:
    """A stable colour per series label (tab10, in order)."""
    palette = [str(colour) for colour in mcolors.TABLEAU_COLORS.values()]
    return {label: palette[i % len(palette)] for i, label in enumerate(labels)}


def model_colours(names: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """A colour per model name: tab20 for up to 20 models, a hue wheel beyond."""
    count = len(names)
    if count <= 20:
        tab20 = matplotlib.colormaps["tab20"]
        return {name: tab20(i) for i, name in enumerate(names)}
    hues = matplotlib.colormaps["hsv"]
    return {name: hues(i / count) for i, name in enumerate(names)}


def sweep_svg(sweep: Sweep, colours: dict[str, str]) -> str:
    """Attainment (%) per solver against ``sweep.values``; a missing point
    (no feasible placement) leaves a gap in the line."""
    with figure(4.2, 3.0) as fig:
        ax = fig.add_subplot()
        for label, points in sweep.attainment.items():
            y = [math.nan if p is None else 100.0 * p for p in points]
            ax.plot(sweep.values, y, marker="o", label=label, color=colours[label])
        ax.set_xlabel(AXIS_LABELS[sweep.axis])
        ax.set_ylabel("SLO attainment (%)")
        ax.set_ylim(top=100.5)
        ax.set_title(f"Attainment vs {AXIS_LABELS[sweep.axis].lower()}")
        if sweep.axis == "num_devices":
            ax.set_xticks(sweep.values)
        ax.legend(fontsize=7)
        return to_svg(fig, f"sweep-{sweep.axis}")


def legend_names(names: Sequence[str]) -> tuple[str, list[str]]:
    """Legend title and entries for ``names``: the prefix they all share up
    to a separator (``s1-bert-1.3b-``) as the title, the rest as entries."""
    if len(names) < 2:
        return "", list(names)
    first, last = min(names), max(names)
    shared = next(
        (i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first)
    )
    cut = max(first.rfind(sep, 0, shared) for sep in "-_./ ") + 1
    return first[:cut], [name[cut:] for name in names]


def hosted_models(row: SolverRow) -> list[str]:
    """The names of the models whose weights some device holds, sorted."""
    return sorted({name for use in row.devices for name, _ in use.weights})


def placement_svg(
    row: SolverRow, device_mem_bytes: int, colours: dict[str, tuple[float, ...]]
) -> str:
    """The placement of ``row`` as devices × memory (module docstring)."""
    hosted = hosted_models(row)
    width = max(4.0, min(14.0, 0.35 * len(row.devices) + 2.0))
    rows = math.ceil(len(hosted) / LEGEND_COLUMNS) if len(hosted) > LEGEND_MAX_MODELS else 0
    with figure(width, 3.2 + 0.16 * rows) as fig:
        draw_placement(fig, row, device_mem_bytes, colours)
        return to_svg(fig, f"placement-{row.label}")


def draw_placement(
    fig: Figure, row: SolverRow, device_mem_bytes: int, colours: dict[str, tuple[float, ...]]
) -> None:
    """Draw the placement of ``row`` on ``fig``: the devices' memory, each
    group boxed with its label above it, the models' legend outside the
    axes (right of them, or under them beyond :data:`LEGEND_MAX_MODELS`
    models, in :data:`LEGEND_COLUMNS` columns)."""
    devices = row.devices
    ax = fig.add_subplot()
    for use in devices:
        bottom = 0.0
        for name, size in use.weights:
            ax.bar(use.device, size / GB, bottom=bottom, color=colours[name], width=0.8)
            bottom += size / GB
        if use.workspace_bytes:
            ax.bar(
                use.device,
                use.workspace_bytes / GB,
                bottom=bottom,
                color="white",
                edgecolor="grey",
                hatch="///",
                width=0.8,
            )
    capacity = device_mem_bytes / GB
    ax.axhline(capacity, color="black", linestyle="--", linewidth=0.8)
    for g, group in enumerate(row.placement.groups):
        first, last = min(group.devices), max(group.devices)
        ax.add_patch(
            Rectangle(
                (first - 0.45, 0),
                last - first + 0.9,
                capacity,
                fill=False,
                edgecolor="black",
                linewidth=1.0,
            )
        )
        config = group.config
        label = (
            f"g{g}\n{config.op}x{config.pp}"
            if first == last
            else f"g{g} {config}\n{len(group.models)} models"
        )
        ax.text(
            (first + last) / 2,
            capacity * 1.02,
            label,
            ha="center",
            va="bottom",
            fontsize=6,
            gid=f"group-{g}",
        )
    ax.set_xlim(-0.6, len(devices) - 0.4)
    ax.set_ylim(0, capacity * 1.22)
    ax.set_xticks(range(len(devices)))
    ax.set_xlabel("Device")
    ax.set_ylabel("Memory (GB)")
    ax.grid(axis="x", visible=False)
    ax.set_title(f"{row.label}: {row.replicas} replicas on {row.num_groups} groups")
    hosted = hosted_models(row)
    if not hosted:
        return
    handles = [Rectangle((0, 0), 1, 1, color=colours[name]) for name in hosted]
    title, labels = legend_names(hosted)
    many = len(hosted) > LEGEND_MAX_MODELS
    fig.legend(
        handles,
        labels,
        title=f"models {title}…" if title else "models",
        title_fontsize=6,
        fontsize=6,
        ncol=LEGEND_COLUMNS if many else 1,
        loc="outside lower center" if many else "outside right upper",
        handlelength=1.0,
        columnspacing=1.0,
    )
