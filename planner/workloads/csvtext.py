"""Streaming CSV rows of a trace file, with errors that name the source,
the line and the column: ``"trace.csv, line 7, column 'duration': must be
a number >= 0, got 'x'"``. Rows are produced one at a time from any iterable
of lines (an open file, a generator), so a file is never held whole; the
edges that read bytes (:mod:`planner.files`, the API's upload) decode them
line by line with :func:`utf8_lines`, so an undecodable byte is reported
at its own line, not where a decoder's read-ahead met it."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Sequence

Rows = Iterator[tuple[int, list[str]]]
"""Data rows as ``(line_number, fields)``."""


def trace_error(source: str, line: int, column: str | None, message: str) -> ValueError:
    """A ValueError whose message starts with source, line and column."""
    where = f"{source}, line {line}" + (f", column {column!r}" if column is not None else "")
    return ValueError(f"{where}: {message}")


def utf8_lines(lines: Iterable[bytes], source: str) -> Iterator[str]:
    """Each line of ``lines`` decoded as UTF-8. An undecodable byte raises
    ValueError naming its line and column: the header's name of the field
    it falls in (fields counted by the commas before it), or the field's
    number on the header line itself."""
    header: list[str] = []
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _not_utf8(source, number, raw, error.start, header) from None
        if number == 1:
            header = [name.strip() for name in next(csv.reader([text]), [])]
        yield text


def _not_utf8(source: str, line: int, raw: bytes, at: int, header: Sequence[str]) -> ValueError:
    field = raw.count(b",", 0, at)
    byte = f"byte 0x{raw[at]:02x} at byte {at + 1} of the line"
    if field < len(header):
        return trace_error(source, line, header[field], f"is not UTF-8 text ({byte})")
    return trace_error(source, line, None, f"is not UTF-8 text ({byte}, field {field + 1})")


def read_table(
    lines: Iterable[str], leading: Sequence[str], source: str, more: str = ""
) -> tuple[list[str], Rows]:
    """The header's column names (stripped) and the data rows. The header
    must start with exactly the columns ``leading``; further columns are
    refused unless ``more`` describes them (in messages; the caller checks
    them). Rows are ``(line_number, fields)`` (line numbers count from 1 at
    the header); blank lines are skipped; a row with missing or extra
    fields raises ValueError naming the first missing column."""
    reader = csv.reader(lines)
    expected = ",".join([*leading, *([more] if more else [])])
    first = next(reader, None)
    if first is None:
        raise trace_error(source, 1, None, f"empty file; expected the header {expected}")
    header = [name.strip() for name in first]
    for i, name in enumerate(leading):
        if i >= len(header):
            raise trace_error(source, 1, name, f"header is missing; expected {expected}")
        if header[i] != name:
            raise trace_error(
                source, 1, name, f"header has {header[i]!r} in column {i + 1}; expected {expected}"
            )
    if len(header) > len(leading) and not more:
        raise trace_error(
            source, 1, header[len(leading)], f"unexpected header column {len(leading) + 1}"
        )
    width = len(header)

    def rows() -> Rows:
        for row in reader:
            if not row:
                continue
            if len(row) < width:
                raise trace_error(
                    source,
                    reader.line_num,
                    header[len(row)],
                    f"missing ({len(row)} of {width} fields)",
                )
            if len(row) > width:
                raise trace_error(
                    source, reader.line_num, None, f"has {len(row)} fields, the header has {width}"
                )
            yield reader.line_num, row

    return header, rows()


def read_rows(lines: Iterable[str], header: Sequence[str], source: str) -> Rows:
    """The data rows of a trace whose header is exactly ``header``
    (:func:`read_table`)."""
    return read_table(lines, header, source)[1]


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
