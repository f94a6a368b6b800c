"""Report tables, defined once and written two ways: formatted cells for
the HTML page and raw values for CSV files."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rich.table import Table

from planner.evaluation.reports import (
    CapacityRow,
    CompareReport,
    GoodputRow,
    ReplanReport,
    SeedRow,
    SolverRow,
    StrategyTimeline,
    SwitchLoss,
)

R = TypeVar("R")


@dataclass(frozen=True)
class Column(Generic[R]):
    """One table column: its header, the raw value of a row (for CSV) and
    how the value is shown (for HTML); ``cell``, when given, shows the
    whole row instead (a value that needs words from another field)."""

    header: str
    value: Callable[[R], Any]
    show: Callable[[Any], str] = str
    cell: Callable[[R], str] | None = None


def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def millis(value: float | None) -> str:
    return "—" if value is None else f"{1000 * value:.1f}"


def fixed(digits: int) -> Callable[[float | None], str]:
    def show(value: float | None) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    return show


def memory(row: SolverRow) -> tuple[int, float]:
    return row.memory_used_bytes, row.memory_fraction


def show_memory(value: tuple[int, float]) -> str:
    used, fraction = value
    return f"{used / 1e9:.1f} GB ({100 * fraction:.0f}%)"


COMPARE_COLUMNS: tuple[Column[SolverRow], ...] = (
    Column("solver", lambda r: r.label),
    Column("status", lambda r: r.status),
    Column("attainment", lambda r: r.attainment, percent),
    Column("goodput_rps", lambda r: r.goodput_rps, fixed(2)),
    Column("p50_ms", lambda r: r.latency_p50_s, millis),
    Column("p99_ms", lambda r: r.latency_p99_s, millis),
    Column("solve_s", lambda r: r.solve_s, fixed(2)),
    Column("gap", lambda r: r.gap, percent),
    Column("bound", lambda r: r.upper_bound, percent),
    Column("gap_pts", lambda r: r.gap_points, fixed(2)),
    Column("proxy_rho", lambda r: r.proxy_rank_correlation, fixed(2)),
    Column("groups", lambda r: r.num_groups),
    Column("replicas", lambda r: r.replicas),
    Column("memory_used", memory, show_memory),
    Column("switches", lambda r: r.switches),
)
"""The comparison table. CSV values are SI (seconds, bytes, fractions)
except where the header names a unit (``p99_ms``); the memory column's CSV
value is the used bytes."""

CSV_VALUES: dict[str, Callable[[Any], Any]] = {
    "p50_ms": lambda v: None if v is None else 1000 * v,
    "p99_ms": lambda v: None if v is None else 1000 * v,
    "memory_used": lambda v: v[0],
}


def html_cells(columns: Sequence[Column[R]], row: R) -> list[str]:
    """The shown (unescaped) text of every cell of ``row``."""
    return [
        column.cell(row) if column.cell else column.show(column.value(row)) for column in columns
    ]


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """CSV with a header line; None is written as an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


def compare_table(report: CompareReport) -> Table:
    """The comparison table for a terminal (rich)."""
    table = Table(title=report.title)
    for column in COMPARE_COLUMNS:
        table.add_column(column.header, justify="left" if column.header == "solver" else "right")
    for row in report.rows:
        table.add_row(*html_cells(COMPARE_COLUMNS, row))
    return table


def compare_table_csv(report: CompareReport) -> str:
    """The comparison table as CSV, one line per solver."""
    header = [c.header for c in COMPARE_COLUMNS]
    rows = [
        [CSV_VALUES.get(c.header, lambda v: v)(c.value(row)) for c in COMPARE_COLUMNS]
        for row in report.rows
    ]
    return csv_text(header, rows)


def sweeps_csv(report: CompareReport) -> str:
    """Every sweep point as ``axis,value,solver,attainment,status,gap_points,
    solve_s`` (attainment empty where the setting had no feasible
    placement; the status says why, or whether the solve was cut short by
    its time limit; gap_points is the certified gap to the upper bound)."""

    def at(series: Mapping[str, Sequence[Any]], label: str, i: int) -> Any:
        return series[label][i] if label in series else None

    rows = [
        (
            sweep.axis,
            value,
            label,
            points[i],
            at(sweep.status, label, i),
            at(sweep.gap_points, label, i),
            at(sweep.solve_s, label, i),
        )
        for sweep in report.sweeps
        for label, points in sweep.attainment.items()
        for i, value in enumerate(sweep.values)
    ]
    header = ("axis", "value", "solver", "attainment", "status", "gap_points", "solve_s")
    return csv_text(header, rows)


def max_rate_words(row: CapacityRow) -> str:
    """``2.378``, or ``below 0.062 (lowest tried)`` when no load tried
    reached the target."""
    if row.max_rate is None:
        return f"below {row.lowest_rate_tried:.3g} (lowest tried)"
    return f"{row.max_rate:.3f}"


CAPACITY_COLUMNS: tuple[Column[CapacityRow], ...] = (
    Column("model_set", lambda r: r.model_set),
    Column("workload", lambda r: r.workload),
    Column("strategy", lambda r: r.strategy),
    Column("max_rate", lambda r: r.max_rate, cell=max_rate_words),
    Column("unit", lambda r: r.rate_unit),
    Column("ratio_to_static", lambda r: r.ratio_to_static, fixed(2)),
    Column("switches", lambda r: r.switches),
    Column("lost_replica_s", lambda r: r.lost_replica_s, fixed(1)),
    Column("note", lambda r: r.note),
)
"""The capacity table: one row per model set, workload and strategy."""


def best_goodput_words(row: GoodputRow) -> str:
    """``41.2 @ 60.0 req/s``, with ``(sweep's top)`` when the best fell at
    the sweep's last rate (goodput may rise further)."""
    words = f"{row.best_goodput_rps:.2f} @ {row.best_rate_rps:.1f} req/s"
    return words + " (sweep's top)" if row.best_at_cap else words


GOODPUT_COLUMNS: tuple[Column[GoodputRow], ...] = (
    Column("model_set", lambda r: r.model_set),
    Column("workload", lambda r: r.workload),
    Column("strategy", lambda r: r.strategy),
    Column("information", lambda r: r.information),
    Column("switching", lambda r: r.switching),
    Column("rate_rps", lambda r: r.rate_rps, fixed(2)),
    Column("goodput_rps", lambda r: r.goodput_rps, fixed(2)),
    Column("x_static", lambda r: r.x_static, fixed(3)),
    Column("best_goodput_rps", lambda r: r.best_goodput_rps, cell=best_goodput_words),
    Column("best_rate_rps", lambda r: r.best_rate_rps, fixed(1)),
    Column("headroom", lambda r: r.headroom, fixed(3)),
    Column("share_captured", lambda r: r.share_captured, fixed(2)),
    Column("reached_headroom", lambda r: r.reached_headroom, fixed(3)),
    Column("share_of_reached", lambda r: r.share_of_reached, fixed(2)),
    Column("switches", lambda r: r.switches),
    Column("lost_replica_s", lambda r: r.lost_replica_s, fixed(1)),
)
"""The goodput table of memory-bound cases: one row per model set,
workload and strategy, the headroom bound's last."""

GOODPUT_SEED_COLUMNS: tuple[Column[SeedRow], ...] = (
    Column("model_set", lambda r: r.model_set),
    Column("workload", lambda r: r.workload),
    Column("strategy", lambda r: r.strategy),
    Column("seeds", lambda r: r.seeds),
    Column("x_static", lambda r: r.x_static, fixed(3)),
    Column("x_static_min", lambda r: r.x_static_min, fixed(3)),
    Column("x_static_max", lambda r: r.x_static_max, fixed(3)),
    Column("headroom", lambda r: r.headroom, fixed(3)),
    Column("share_captured", lambda r: r.share_captured, fixed(2)),
    Column("reached_headroom", lambda r: r.reached_headroom, fixed(3)),
    Column("share_of_reached", lambda r: r.share_of_reached, fixed(2)),
)
"""The goodput table over seeds: per model set, workload and strategy, the
mean ratio to static with its range and the pooled shares."""

LOWEST_TRIED: Column[CapacityRow] = Column("lowest_rate_tried", lambda r: r.lowest_rate_tried)
"""The capacity CSV's last column: where ``max_rate`` is empty, the
capacity lies below it."""

STRATEGY_COLUMNS: tuple[Column[StrategyTimeline], ...] = (
    Column("strategy", lambda t: t.strategy),
    Column("attainment", lambda t: t.attainment, percent),
    Column("switches", lambda t: len(t.switches)),
    Column("replicas_loaded", lambda t: sum(s.replicas_loaded for s in t.switches)),
    Column("lost_replica_s", lambda t: t.lost_replica_s, fixed(1)),
    Column("lost_requests", lambda t: sum(s.lost_requests for s in t.switches)),
    Column("note", lambda t: t.note),
)
"""Per case: each strategy's attainment and what its switches cost."""

SWITCH_COLUMNS: tuple[Column[tuple[str, SwitchLoss]], ...] = (
    Column("strategy", lambda p: p[0]),
    Column("window", lambda p: p[1].window),
    Column("start_s", lambda p: p[1].start_s, fixed(0)),
    Column("replicas_loaded", lambda p: p[1].replicas_loaded),
    Column("load_s", lambda p: p[1].load_s, fixed(2)),
    Column("lost_replica_s", lambda p: p[1].lost_replica_s, fixed(2)),
    Column("lost_requests", lambda p: p[1].lost_requests),
)
"""Every switch of a case, strategy by strategy."""


def raw_csv(columns: Sequence[Column[R]], rows: Sequence[R]) -> str:
    """CSV of raw column values (no formatting)."""
    return csv_text([c.header for c in columns], [[c.value(r) for c in columns] for r in rows])


def replan_csv_files(report: ReplanReport) -> dict[str, str]:
    """``capacity.csv``, ``timelines.csv`` (one line per case, strategy and
    window), ``switches.csv`` and ``capacity_sweeps.csv``; ``goodput.csv``
    when the report has goodput rows."""
    windows = [
        (t.case, t.strategy, j, j * t.window_s, a)
        for t in report.timelines
        for j, a in enumerate(t.window_attainment)
    ]
    switches = [(t.case, t.strategy, s) for t in report.timelines for s in t.switches]
    ratios = [
        (sweep.knob, value, strategy, series[i])
        for sweep in report.sweeps
        for strategy, series in sweep.ratio_to_static.items()
        for i, value in enumerate(sweep.values)
    ]
    goodput = {"goodput.csv": raw_csv(GOODPUT_COLUMNS, report.goodput)} if report.goodput else {}
    if report.over_seeds:
        goodput["goodput_over_seeds.csv"] = raw_csv(GOODPUT_SEED_COLUMNS, report.over_seeds)
    return {
        **goodput,
        "capacity.csv": raw_csv((*CAPACITY_COLUMNS, LOWEST_TRIED), report.capacity),
        "timelines.csv": csv_text(("case", "strategy", "window", "start_s", "attainment"), windows),
        "switches.csv": csv_text(
            ("case", *(c.header for c in SWITCH_COLUMNS)),
            [
                [case, *(c.value((strategy, s)) for c in SWITCH_COLUMNS)]
                for case, strategy, s in switches
            ],
        ),
        "capacity_sweeps.csv": csv_text(("knob", "value", "strategy", "ratio_to_static"), ratios),
    }
