"""The placement picture stays readable with many models: measured on the
drawn matplotlib artists, the models' legend lies outside the axes and
inside the figure, and every group has one label of its own, over its
devices, clear of the other labels."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from api.reporting.figures import draw_placement, model_colours, placement_svg
from api.reporting.svg import figure
from planner.domain import Cluster, Group, ModelSpec, ParallelConfig, Placement
from planner.evaluation.reports import device_uses
from planner.evaluation.reports.data import SolverRow
from planner.profiles import model_set

S1 = model_set("s1")
"""64 BERT-1.3B models, as the AlpaServe evaluation's S1."""
S3 = model_set("s3")
"""16 models of four architectures."""


def names(models: Sequence[ModelSpec]) -> list[str]:
    return [m.name for m in models]


def pipelines(models: Sequence[ModelSpec]) -> tuple[Cluster, Placement]:
    """32 devices: four 4-device pipelines with 16 models each and two
    8-device groups with 32 each (every model twice)."""
    hosted = names(models)
    groups = [
        Group(tuple(range(4 * k, 4 * k + 4)), ParallelConfig(1, 4), tuple(hosted[16 * k :][:16]))
        for k in range(4)
    ]
    groups += [
        Group(tuple(range(16 + 8 * k, 24 + 8 * k)), ParallelConfig(2, 4), tuple(hosted[32 * k :]))
        for k in range(2)
    ]
    return Cluster(32, 20 * 10**9), Placement(tuple(groups))


def single_devices(models: Sequence[ModelSpec]) -> tuple[Cluster, Placement]:
    """64 one-device groups, each with 6 of the models (every model 6 times)."""
    hosted = names(models)
    groups = tuple(
        Group(
            (d,), ParallelConfig(1, 1), tuple(hosted[(d + 11 * i) % len(hosted)] for i in range(6))
        )
        for d in range(64)
    )
    return Cluster(64, 20 * 10**9), Placement(groups)


def row_of(cluster: Cluster, models: Sequence[ModelSpec], placement: Placement) -> SolverRow:
    devices = device_uses(cluster, models, placement)
    used = sum(use.used_bytes for use in devices)
    total = cluster.num_devices * cluster.device_mem_bytes
    return SolverRow(
        "greedy", "greedy", "heuristic", 0.9, 0.9, 1.0, 0.1, 0.2, 1.0, None,
        len(placement.groups), placement.num_replicas, used, total, 0, placement, devices,
    )  # fmt: skip


def overlaps(a: Bbox, b: Bbox) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def check_readable(fig: Figure, row: SolverRow) -> None:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    (ax,) = fig.axes
    axes_box = ax.get_window_extent(renderer)
    (legend,) = fig.legends
    legend_box = legend.get_window_extent(renderer)
    assert not overlaps(legend_box, axes_box), (legend_box, axes_box)
    assert fig.bbox.contains(legend_box.x0, legend_box.y0)
    assert fig.bbox.contains(legend_box.x1, legend_box.y1)
    hosted = sorted({name for use in row.devices for name, _ in use.weights})
    assert len(legend.get_texts()) == len(hosted)
    labels: list[Bbox] = []
    for g, group in enumerate(row.placement.groups):
        (label,) = [t for t in ax.texts if isinstance(t, Text) and t.get_gid() == f"group-{g}"]
        assert label.get_text().startswith(f"g{g}")
        box = label.get_window_extent(renderer)
        left, right = (
            ax.transData.transform((d, 0))[0]
            for d in (min(group.devices) - 0.5, max(group.devices) + 0.5)
        )
        assert left <= (box.x0 + box.x1) / 2 <= right  # over its own devices
        assert box.y0 >= axes_box.y0 and box.y1 <= axes_box.y1  # inside the plot, under the title
        assert not any(overlaps(box, other) for other in labels), label.get_text()
        labels.append(box)


@pytest.mark.parametrize("layout", [pipelines, single_devices])
def test_64_models_keep_the_legend_outside_and_a_label_per_group(layout: object) -> None:
    cluster, placement = layout(S1)  # type: ignore[operator]
    row = row_of(cluster, S1, placement)
    colours = model_colours(names(S1))
    with figure(14.0, 4.0) as fig:
        draw_placement(fig, row, cluster.device_mem_bytes, colours)
        check_readable(fig, row)
        (legend,) = fig.legends
        assert legend.get_title().get_text() == "models s1-bert-1.3b-…"
        assert [t.get_text() for t in legend.get_texts()][:2] == ["00", "01"]
    svg = placement_svg(row, cluster.device_mem_bytes, colours)
    assert svg.count(">models s1-bert-1.3b-…</text>") == 1


def test_16_models_keep_the_legend_right_of_the_plot() -> None:
    cluster = Cluster(8, 20 * 10**9)
    hosted = names(S3)
    placement = Placement(
        tuple(
            Group((2 * k, 2 * k + 1), ParallelConfig(2, 1), tuple(hosted[4 * k :][:4]))
            for k in range(4)
        )
    )
    row = row_of(cluster, S3, placement)
    with figure(5.0, 3.2) as fig:
        draw_placement(fig, row, cluster.device_mem_bytes, model_colours(hosted))
        check_readable(fig, row)
        fig.canvas.draw()
        (ax,) = fig.axes
        assert fig.legends[0].get_window_extent().x0 >= ax.get_window_extent().x1
