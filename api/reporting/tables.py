"""Report tables, defined once and written two ways: formatted cells for
the HTML page and raw values for CSV files."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from planner.report import CompareReport, SolverRow

R = TypeVar("R")


@dataclass(frozen=True)
class Column(Generic[R]):
    """One table column: its header, the raw value of a row (for CSV) and
    how the value is shown (for HTML)."""

    header: str
    value: Callable[[R], Any]
    show: Callable[[Any], str] = str


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
    return [column.show(column.value(row)) for column in columns]


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """CSV with a header line; None is written as an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


def compare_table_csv(report: CompareReport) -> str:
    """The comparison table as CSV, one line per solver."""
    header = [c.header for c in COMPARE_COLUMNS]
    rows = [
        [CSV_VALUES.get(c.header, lambda v: v)(c.value(row)) for c in COMPARE_COLUMNS]
        for row in report.rows
    ]
    return csv_text(header, rows)


def sweeps_csv(report: CompareReport) -> str:
    """Every sweep point as ``axis,value,solver,attainment`` (attainment
    empty where the setting had no feasible placement)."""
    rows = [
        (sweep.axis, value, label, points[i])
        for sweep in report.sweeps
        for label, points in sweep.attainment.items()
        for i, value in enumerate(sweep.values)
    ]
    return csv_text(("axis", "value", "solver", "attainment"), rows)
