"""An inference request travelling through an agent, and the errors it can
end with (each carries the HTTP status it is answered with)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SUMMARY_VALUES = 4
"""Leading values of each row's first-token vector returned in a summary."""


class ServeError(Exception):
    """A request that cannot be served. ``retry_after_s`` is set when trying
    again (here later, or on another replica) can succeed; ``field`` names
    the part of the request at fault, if one is."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        retry_after_s: float | None = None,
        *,
        field: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.retry_after_s = retry_after_s
        self.field = field


def unavailable(detail: str, retry_after_s: float = 1.0) -> ServeError:
    """503 with Retry-After: the replica is loading, unloading or gone."""
    return ServeError(503, "unavailable", detail, retry_after_s)


def bad_input(field: str, message: str) -> ServeError:
    """400: ``field`` of the request is malformed (``"<field>: <message>"``)."""
    return ServeError(400, "bad-input", f"{field}: {message}", field=field)


def too_many_rows(field: str, rows: int, max_batch: int) -> ServeError:
    """413: a request of ``rows`` sequences is larger than any batch."""
    return ServeError(
        413, "batch-too-large", f"{field}: {rows} rows exceed max_batch={max_batch}", field=field
    )


@dataclass(eq=False)
class Request:
    """One request: ``token_ids`` is ``[rows, seq_len]``; times are
    ``time.monotonic()`` seconds."""

    model: str
    token_ids: np.ndarray
    slo_s: float
    arrival_s: float = field(default_factory=time.monotonic)
    start_s: float | None = None
    finish_s: float | None = None
    batch_rows: int = 0
    output: dict[str, Any] | None = None
    error: ServeError | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def rows(self) -> int:
        return int(self.token_ids.shape[0])

    @property
    def deadline_s(self) -> float:
        return self.arrival_s + self.slo_s

    def succeed(self, activations: np.ndarray, start_s: float, batch_rows: int) -> None:
        """Record this request's slice of a batch's output."""
        self.output = summarize(activations)
        self.start_s, self.batch_rows = start_s, batch_rows
        self.finish_s = time.monotonic()
        self.done.set()

    def fail(self, error: ServeError) -> None:
        self.error = error
        self.finish_s = time.monotonic()
        self.done.set()

    def timings(self) -> dict[str, float | int | bool]:
        """Seconds spent queueing, computing and in total; whether the SLO was met."""
        assert self.finish_s is not None
        start = self.start_s if self.start_s is not None else self.finish_s
        total = self.finish_s - self.arrival_s
        return {
            "queue_s": start - self.arrival_s,
            "compute_s": self.finish_s - start,
            "total_s": total,
            "slo_s": self.slo_s,
            "slo_met": total <= self.slo_s,
            "batch_rows": self.batch_rows,
        }


def summarize(activations: np.ndarray) -> dict[str, Any]:
    """A small view of encoder output ``[rows, seq, hidden]``: its shape,
    the sum of all values, and the first values of each row's first token."""
    return {
        "shape": list(activations.shape),
        "sum": float(activations.astype(np.float64).sum()),
        "first_token": activations[:, 0, :SUMMARY_VALUES].astype(np.float64).tolist(),
    }
