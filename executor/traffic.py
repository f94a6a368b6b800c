"""Observed traffic: arrivals per model counted in fixed bins of wall-clock
time and reported to the planning API in batches.

A bin of ``bin_s`` seconds holds the arrivals in ``[i * bin_s, (i + 1) *
bin_s)`` unix seconds (bin index ``i``), so the bins of every reporter line
up. :class:`TrafficCounter` counts; :meth:`TrafficCounter.take_completed`
hands over the bins that have ended (never the current one) as
:class:`TrafficReport` values of at most ``max_bins`` consecutive bins each:
``start`` is the first bin's start (a multiple of ``bin_s``), every model
with an arrival in the range has one count per bin (zeros included). A
range with no arrival at all gives no report: a model absent from a report
had no arrivals in its bins, and so did every model in a range no report
covers.

:class:`TrafficReporter` takes the completed bins every ``every_s`` seconds
and sends the reports, oldest first, through a :data:`Send` (the API's
``POST /v1/clusters/{id}/traffic``, which is idempotent: sending a report
again changes nothing). When the API cannot be reached the reports wait and
are sent on a later round; at most ``max_pending`` wait, and the oldest is
dropped, with a log line, to make room. A report the API refuses (4xx) is
dropped with a log line: sending it again would be refused again.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from executor.api_client import ApiError, ApiUnavailable

log = logging.getLogger(__name__)

BIN_S = 1
"""Default bin width (s)."""
EVERY_S = 5.0
"""Default seconds between two rounds of reports."""
MAX_BINS = 300
"""Most bins in one report (longer ranges are cut into several)."""
MAX_PENDING = 720
"""Default number of reports kept while the API is unreachable (an hour of
5-second rounds)."""

Send = Callable[[dict[str, Any]], None]
"""Sends one report body; raises ApiUnavailable (try later) or ApiError (refused)."""


def _require(field: str, holds: bool, rule: str, value: object) -> None:
    """ValueError ``"<field>: <rule>, got <value>"`` unless ``holds``."""
    if not holds:
        raise ValueError(f"{field}: {rule}, got {value!r}")


@dataclass(frozen=True)
class TrafficReport:
    """Arrivals of ``source`` per model in the ``len(counts[m])`` bins of
    ``bin_s`` seconds from unix second ``start`` (a multiple of ``bin_s``)."""

    source: str
    bin_s: int
    start: int
    counts: dict[str, tuple[int, ...]]

    def to_json(self) -> dict[str, Any]:
        """The body of ``POST /v1/clusters/{id}/traffic``."""
        return {
            "source": self.source,
            "bin_s": self.bin_s,
            "start": self.start,
            "counts": {model: list(row) for model, row in sorted(self.counts.items())},
        }


class TrafficCounter:
    """Thread-safe arrival counts per model and bin (module docstring);
    ``clock`` gives unix seconds."""

    def __init__(
        self,
        source: str,
        bin_s: int = BIN_S,
        *,
        max_bins: int = MAX_BINS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _require("source", 1 <= len(source) <= 128, "must have 1 to 128 characters", len(source))
        _require("bin_s", 1 <= bin_s <= 3600, "must be in 1..3600", bin_s)
        _require("max_bins", max_bins >= 1, "must be at least 1", max_bins)
        self.source = source
        self.bin_s = bin_s
        self.max_bins = max_bins
        self.clock = clock
        self._bins: dict[int, collections.Counter[str]] = {}
        self._next = self._bin(clock())
        """The first bin not yet handed over."""
        self._lock = threading.Lock()

    def _bin(self, unix_s: float) -> int:
        return math.floor(unix_s / self.bin_s)

    def count(self, model: str) -> None:
        """Record one arrival of ``model`` now (in a bin already handed over:
        in the next one still open)."""
        with self._lock:
            index = max(self._bin(self.clock()), self._next)
            self._bins.setdefault(index, collections.Counter())[model] += 1

    def take_completed(self) -> list[TrafficReport]:
        """The reports of every bin that has ended since the last call
        (module docstring); those bins are forgotten here."""
        with self._lock:
            current = self._bin(self.clock())
            first, self._next = self._next, max(self._next, current)
            ended = {i: self._bins.pop(i) for i in sorted(self._bins) if i < current}
        reports = []
        for start in range(first, current, self.max_bins):
            end = min(start + self.max_bins, current)
            bins = [ended.get(i, collections.Counter()) for i in range(start, end)]
            models = sorted(set().union(*bins))
            if models:
                counts = {m: tuple(b[m] for b in bins) for m in models}
                reports.append(TrafficReport(self.source, self.bin_s, start * self.bin_s, counts))
        return reports


class TrafficReporter:
    """Sends a counter's completed bins every ``every_s`` seconds from a
    thread of its own (:meth:`start`, :meth:`stop`), keeping up to
    ``max_pending`` reports while the API is unreachable."""

    def __init__(
        self,
        counter: TrafficCounter,
        send: Send,
        every_s: float = EVERY_S,
        max_pending: int = MAX_PENDING,
    ) -> None:
        _require("every_s", every_s > 0, "must be positive", every_s)
        _require("max_pending", max_pending >= 1, "must be at least 1", max_pending)
        self.counter = counter
        self.send = send
        self.every_s = every_s
        self.pending: collections.deque[TrafficReport] = collections.deque()
        self.max_pending = max_pending
        self.sent = 0
        self.dropped = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def flush(self) -> bool:
        """Take the completed bins and send every waiting report, oldest
        first; False when the API could not be reached (the rest wait)."""
        with self._lock:
            for report in self.counter.take_completed():
                if len(self.pending) == self.max_pending:
                    oldest = self.pending.popleft()
                    self.dropped += 1
                    log.warning(
                        "traffic buffer full (%d reports): dropping the bins from %d",
                        self.max_pending,
                        oldest.start,
                    )
                self.pending.append(report)
            while self.pending:
                report = self.pending[0]
                try:
                    self.send(report.to_json())
                except ApiUnavailable as error:
                    log.warning(
                        "traffic report kept for later (%d waiting): %s", len(self.pending), error
                    )
                    return False
                except ApiError as error:
                    log.error("traffic report from %d refused, dropped: %s", report.start, error)
                    self.dropped += 1
                else:
                    self.sent += 1
                self.pending.popleft()
            return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="traffic")
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self.every_s):
            self.flush()

    def stop(self, timeout_s: float | None = None) -> None:
        """End the thread (at once between rounds; a round under way ends
        after its current send). Bins not yet sent are not sent."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
