"""Streaming CSV rows of a trace file, with errors that name the source,
the line and the column: ``"trace.csv, line 7, column 'duration': must be
a number >= 0, got 'x'"``. Rows are produced one at a time from any iterable
of lines (an open file, a generator), so a file is never held whole."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Sequence


def trace_error(source: str, line: int, column: str | None, message: str) -> ValueError:
    """A ValueError whose message starts with source, line and column."""
    where = f"{source}, line {line}" + (f", column {column!r}" if column is not None else "")
    return ValueError(f"{where}: {message}")


def _check_header(source: str, row: list[str] | None, header: Sequence[str]) -> None:
    expected = ",".join(header[:6]) + (",..." if len(header) > 6 else "")
    if row is None:
        raise trace_error(source, 1, None, f"empty file; expected the header {expected}")
    for i, name in enumerate(header):
        if i >= len(row):
            raise trace_error(source, 1, name, f"header is missing; expected {expected}")
        if row[i].strip() != name:
            raise trace_error(
                source, 1, name, f"header has {row[i]!r} in column {i + 1}; expected {expected}"
            )
    if len(row) > len(header):
        raise trace_error(
            source, 1, row[len(header)], f"unexpected header column {len(header) + 1}"
        )


def read_rows(
    lines: Iterable[str], header: Sequence[str], source: str
) -> Iterator[tuple[int, list[str]]]:
    """Check the header line against ``header`` exactly, then yield
    ``(line_number, fields)`` for every data row (line numbers count from 1
    at the header). Blank lines are skipped; a row with missing or extra
    fields raises ValueError naming the first missing column."""
    reader = csv.reader(lines)
    _check_header(source, next(reader, None), header)
    width = len(header)
    for row in reader:
        if not row:
            continue
        if len(row) < width:
            raise trace_error(
                source, reader.line_num, header[len(row)], f"missing ({len(row)} of {width} fields)"
            )
        if len(row) > width:
            raise trace_error(
                source, reader.line_num, None, f"has {len(row)} fields, the header has {width}"
            )
        yield reader.line_num, row


def check_filled(source: str, line: int, row: Sequence[str], columns: Sequence[str]) -> None:
    """Raise ValueError naming the first of ``columns`` (the leading fields
    of ``row``) that is empty."""
    for column, text in zip(columns, row, strict=False):
        if not text:
            raise trace_error(source, line, column, "must not be empty")


def parse_non_negative(source: str, line: int, column: str, text: str) -> float:
    """``float(text)``, which must be finite and >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise trace_error(source, line, column, f"must be a finite number >= 0, got {text!r}")
    return value
