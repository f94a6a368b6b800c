"""Shared by the trace reader tests: feed a reader a lazily generated
trace and measure how many characters it consumed and its peak memory."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def stream_through(lines: Iterable[str], read: Callable[[Iterator[str]], T]) -> tuple[T, int, int]:
    """``(result, characters consumed, peak traced bytes)`` of
    ``read(lines)``; the lines are produced one at a time."""
    consumed = 0

    def counted() -> Iterator[str]:
        nonlocal consumed
        for line in lines:
            consumed += len(line)
            yield line

    tracemalloc.start()
    try:
        result = read(counted())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, consumed, peak
