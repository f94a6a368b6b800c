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
