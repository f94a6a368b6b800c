"""The figures of a re-placement comparison, drawn from report data:

- :func:`capacity_svg`: the largest rate scale each strategy sustains at the
  target attainment, bars grouped by model set and workload, each labelled
  with its ratio to the static plan (no bar but "below" the lowest rate
  tried where none reached the target);
- :func:`timeline_svg`: attainment (%) window by window for every strategy
  of one case, a triangle on a line where that strategy switched placement;
- :func:`losses_svg`: service lost at every switch (replica-seconds spent
  loading) against the switch time, per strategy;
- :func:`knob_svg`: capacity relative to the static plan as one knob of
  the experiment (devices, SLO scale, CV) varies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from api.reporting.svg import figure, to_svg
from planner.evaluation.reports import CapacityRow, KnobSweep, StrategyTimeline


def capacity_svg(rows: Sequence[CapacityRow], target: float, colours: dict[str, str]) -> str:
    """Grouped bars of ``max_rate`` (module docstring)."""
    groups = list(dict.fromkeys((r.model_set, r.workload) for r in rows))
    strategies = list(dict.fromkeys(r.strategy for r in rows))
    width = 0.8 / len(strategies)
    with figure(max(4.5, 1.6 * len(groups) + 2.5), 3.2) as fig:
        ax = fig.add_subplot()
        for i, strategy in enumerate(strategies):
            for g, key in enumerate(groups):
                row = next(
                    (
                        r
                        for r in rows
                        if (r.model_set, r.workload) == key and r.strategy == strategy
                    ),
                    None,
                )
                if row is None:
                    continue
                x = g - 0.4 + (i + 0.5) * width
                label = strategy if g == 0 else None
                if row.max_rate is None:
                    ax.bar(x, 0.0, width=width, color=colours[strategy], label=label)
                    ax.text(
                        x,
                        0.0,
                        f"below {row.lowest_rate_tried:.3g}",
                        ha="center",
                        va="bottom",
                        rotation=90,
                        fontsize=6,
                    )
                    continue
                ax.bar(x, row.max_rate, width=width, color=colours[strategy], label=label)
                if row.ratio_to_static is not None:
                    ax.text(
                        x,
                        row.max_rate,
                        f"{row.ratio_to_static:.2f}x",
                        ha="center",
                        va="bottom",
                        fontsize=6,
                    )
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([f"{m} / {w}" for m, w in groups])
        units = sorted({r.rate_unit for r in rows})
        ax.set_ylabel(f"Max rate ({', '.join(units)}) at {100 * target:g}% attainment")
        ax.set_title("Capacity (labels: ratio to static)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return to_svg(fig, "capacity")


def timeline_svg(case: str, timelines: Sequence[StrategyTimeline], colours: dict[str, str]) -> str:
    """Attainment per window of every strategy on ``case`` (module docstring)."""
    with figure(6.4, 3.2) as fig:
        ax = fig.add_subplot()
        if timelines:
            ax.axvspan(0, timelines[0].window_s, color="0.92", label="warm-up")
        for t in timelines:
            y = np.array([np.nan if a is None else 100 * a for a in t.window_attainment])
            edges = np.arange(y.size + 1) * t.window_s
            colour = colours[t.strategy]
            ax.stairs(y, edges, baseline=None, color=colour, label=t.strategy, linewidth=1.5)
            marks = [(s.start_s, y[s.window]) for s in t.switches if s.window < y.size]
            if marks:
                xs, ys = zip(*marks, strict=True)
                ax.plot(xs, ys, marker="v", linestyle="none", color=colour)
        ax.set_xlabel("Time (s)")
        ax.set_ylabel("SLO attainment (%)")
        ax.set_ylim(top=100.5)
        ax.set_title(f"Attainment over time: {case} (triangles: switches)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return to_svg(fig, f"timeline-{case}")


def losses_svg(case: str, timelines: Sequence[StrategyTimeline], colours: dict[str, str]) -> str:
    """Lost replica-seconds at each switch of every strategy on ``case``."""
    with figure(6.4, 2.8) as fig:
        ax = fig.add_subplot()
        for t in timelines:
            if not t.switches:
                continue
            ax.plot(
                [s.start_s for s in t.switches],
                [s.lost_replica_s for s in t.switches],
                marker="o",
                linestyle=":",
                color=colours[t.strategy],
                label=t.strategy,
            )
        ax.set_xlabel("Switch time (s)")
        ax.set_ylabel("Lost service (replica-s)")
        ax.set_title(f"Lost service per switch: {case}")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return to_svg(fig, f"losses-{case}")


def knob_svg(sweep: KnobSweep, colours: dict[str, str]) -> str:
    """Ratio of each strategy's capacity to the static plan's against the
    knob's values; the static plan is the dashed line at 1."""
    with figure(4.2, 3.0) as fig:
        ax = fig.add_subplot()
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=0.8)
        for strategy, series in sweep.ratio_to_static.items():
            y = [np.nan if r is None else r for r in series]
            ax.plot(sweep.values, y, marker="o", color=colours[strategy], label=strategy)
        ax.set_xlabel(sweep.knob)
        ax.set_ylabel("Capacity / static")
        ax.set_title(f"Capacity vs {sweep.knob}")
        ax.legend(fontsize=7)
        return to_svg(fig, f"knob-{sweep.knob}")
