"""Measured per-layer latencies, used by the planner instead of the analytic
cost model when a profiler has timed the layers on real devices.

JSON form::

    {"layers": ["embed", "block0", ...],
     "latency_s": {"<op>": [[<layer seconds>...] for batch 1, for batch 2, ...]}}

``latency_s[op][b - 1][l]`` is the time of layer ``l`` for a batch of ``b``
on an ``op``-device stage, collectives inside the layer included and the
pipeline hand-off excluded (the planner adds the analytic hand-off).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LayerTimings:
    """Measured seconds per layer: ``latency_s[op][batch - 1][layer]``."""

    layers: tuple[str, ...]
    latency_s: Mapping[int, tuple[tuple[float, ...], ...]]

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        if not layers:
            raise ValueError("layers: needs at least one layer")
        table: dict[int, tuple[tuple[float, ...], ...]] = {}
        for op, rows in self.latency_s.items():
            if isinstance(op, bool) or not isinstance(op, int) or op < 1:
                raise ValueError(f"latency_s: op {op!r} must be a positive integer")
            if not rows:
                raise ValueError(f"latency_s[{op}]: needs batch size 1")
            clean = []
            for b, row in enumerate(rows):
                if len(row) != len(layers):
                    raise ValueError(
                        f"latency_s[{op}][{b}]: has {len(row)} layers, layers has {len(layers)}"
                    )
                for i, value in enumerate(row):
                    if isinstance(value, bool) or not isinstance(value, int | float):
                        raise ValueError(
                            f"latency_s[{op}][{b}][{i}]: must be a number, got {value!r}"
                        )
                    if not (math.isfinite(value) and value > 0):
                        raise ValueError(f"latency_s[{op}][{b}][{i}]: must be > 0, got {value!r}")
                clean.append(tuple(float(v) for v in row))
            table[op] = tuple(clean)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "latency_s", dict(sorted(table.items())))

    def table(self, op: int, max_batch: int) -> tuple[tuple[float, ...], ...]:
        """``[batch - 1][layer]`` seconds for ``op`` and batches ``1..max_batch``."""
        if op not in self.latency_s:
            raise ValueError(f"timings.latency_s: no measurements for op={op}")
        rows = self.latency_s[op]
        if len(rows) < max_batch:
            raise ValueError(
                f"timings.latency_s[{op}]: has batch sizes 1..{len(rows)}, need 1..{max_batch}"
            )
        return rows[:max_batch]

    def to_json(self) -> dict[str, Any]:
        return {
            "layers": list(self.layers),
            "latency_s": {str(op): [list(r) for r in rows] for op, rows in self.latency_s.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "timings") -> LayerTimings:
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: must be an object, got {type(data).__name__}")
        for key in ("layers", "latency_s"):
            if key not in data:
                raise ValueError(f"{where}.{key}: is required")
        raw = data["latency_s"]
        if not isinstance(raw, Mapping):
            raise ValueError(f"{where}.latency_s: must be an object keyed by op")
        table: dict[int, tuple[tuple[float, ...], ...]] = {}
        for key, rows in raw.items():
            if not str(key).isdigit():
                raise ValueError(f"{where}.latency_s: key {key!r} is not an op degree")
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ValueError(f"{where}.latency_s[{key}]: must be a list of lists")
            table[int(key)] = tuple(tuple(r) for r in rows)
        if not isinstance(data["layers"], list):
            raise ValueError(f"{where}.layers: must be a list")
        try:
            return cls(tuple(data["layers"]), table)
        except ValueError as error:
            raise ValueError(f"{where}.{error}") from None
