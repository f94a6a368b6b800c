"""Time ranges of a trace, written ``"day.hour.minute"`` as in the
reference evaluation: ``"0.0.0"`` is the start of the trace's first day and
``"0.1.0"`` one hour later. Hours run 0..23; minutes 0..60, where minute 60
is accepted so that ``"13.23.60"`` names the end of a 14-day trace."""

from __future__ import annotations

import math
from dataclasses import dataclass

SECONDS_PER_DAY = 86400

TRACE_TIME_HELP = (
    "trace time 'day.hour.minute', days counted from 0: '0.0.5' is minute 5 of the "
    "first day, '1.2.30' is 02:30 on the second; hours 0..23, minutes 0..60"
)
"""How a trace time is written, for CLI help and API documents."""


def parse_trace_time(text: str, field: str = "time") -> int:
    """Seconds from the trace start for ``"day.hour.minute"``; ValueError
    naming ``field`` when the text is not three integers in range."""
    parts = text.strip().split(".") if isinstance(text, str) else []
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{field}: expected 'day.hour.minute' (e.g. '0.1.0'), got {text!r}")
    day, hour, minute = (int(p) for p in parts)
    if hour > 23:
        raise ValueError(f"{field}: hour must be 0..23, got {hour} in {text!r}")
    if minute > 60:
        raise ValueError(f"{field}: minute must be 0..60, got {minute} in {text!r}")
    return day * SECONDS_PER_DAY + hour * 3600 + minute * 60


@dataclass(frozen=True)
class TimeRange:
    """The half-open span ``[start_s, end_s)`` of a trace, in seconds from
    the trace start (``0 <= start_s < end_s``)."""

    start_s: float
    end_s: float

    def __post_init__(self) -> None:
        for name in ("start_s", "end_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}: must be finite and >= 0, got {value!r}")
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s: must be after start_s={self.start_s}, got {self.end_s}")
        object.__setattr__(self, "start_s", float(self.start_s))
        object.__setattr__(self, "end_s", float(self.end_s))

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @classmethod
    def parse(cls, start: str, end: str) -> TimeRange:
        """The range from ``start`` to ``end``, both ``"day.hour.minute"``."""
        start_s = parse_trace_time(start, "start")
        end_s = parse_trace_time(end, "end")
        if end_s <= start_s:
            raise ValueError(f"end: {end!r} must be after start {start!r}")
        return cls(start_s, end_s)
