"""What a simulation returns: per-request arrays and the metrics over them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from planner.codec import encode
from planner.sim.compile import CompiledWorkload, GroupSlot
from planner.sim.options import Outcome


class EngineOutput(NamedTuple):
    """Raw output of an engine, request by request and group by group."""

    finish_s: npt.NDArray[np.float64]
    outcome: npt.NDArray[np.int8]
    group: npt.NDArray[np.int32]
    batch_size: npt.NDArray[np.int16]
    group_busy_s: npt.NDArray[np.float64]


def _ratio(numerator: int, denominator: int, empty: float) -> float:
    return numerator / denominator if denominator else empty


@dataclass(frozen=True, eq=False)
class SimResult:
    """Per-request results (index = request index of the workload):

    - ``finish_s``: when the request's batch leaves the last stage (nan
      unless served); ``outcome``: an :class:`Outcome` as int8;
      ``group``: number of the serving group (-1 if none); ``batch_size``:
      size of its batch (0 if not served); ``scored``: inside the scoring
      interval ``[warmup_s, duration_s - cooldown_s)``.
    - ``group_busy_s[g]``: busy stage-seconds of group ``g`` (sum over its
      batches of every stage's latency); ``groups[g]`` describes it.

    Every served request finishes within its SLO (admission guarantees it),
    so *attainment* = served scored requests / scored requests.
    """

    finish_s: npt.NDArray[np.float64]
    outcome: npt.NDArray[np.int8]
    group: npt.NDArray[np.int32]
    batch_size: npt.NDArray[np.int16]
    scored: npt.NDArray[np.bool_]
    arrival_s: npt.NDArray[np.float64]
    model: npt.NDArray[np.int32]
    model_names: tuple[str, ...]
    groups: tuple[GroupSlot, ...]
    group_busy_s: npt.NDArray[np.float64]
    duration_s: float
    scored_span_s: float

    @classmethod
    def build(
        cls, output: EngineOutput, work: CompiledWorkload, groups: tuple[GroupSlot, ...]
    ) -> SimResult:
        return cls(
            finish_s=output.finish_s,
            outcome=output.outcome,
            group=output.group,
            batch_size=output.batch_size,
            scored=work.scored,
            arrival_s=work.arrival_s,
            model=work.model,
            model_names=work.model_names,
            groups=groups,
            group_busy_s=output.group_busy_s,
            duration_s=work.duration_s,
            scored_span_s=work.scored_span_s,
        )

    @property
    def num_requests(self) -> int:
        return int(self.outcome.size)

    @property
    def _good(self) -> npt.NDArray[np.bool_]:
        return self.scored & (self.outcome == Outcome.SERVED)

    @property
    def attainment(self) -> float:
        """Share of scored requests served within their SLO, in [0, 1];
        1.0 when no request is scored (nothing was missed)."""
        return _ratio(int(np.count_nonzero(self._good)), int(np.count_nonzero(self.scored)), 1.0)

    def per_model_attainment(self) -> dict[str, float]:
        """Attainment of each model of the model set (1.0 for a model with no
        scored request)."""
        size = len(self.model_names)
        good = np.bincount(self.model[self._good], minlength=size)
        scored = np.bincount(self.model[self.scored], minlength=size)
        return {
            name: _ratio(int(good[j]), int(scored[j]), 1.0)
            for j, name in enumerate(self.model_names)
        }

    def per_window_attainment(self, window_s: float) -> npt.NDArray[np.float64]:
        """Attainment of scored requests by arrival window ``[j * window_s,
        (j + 1) * window_s)``, ``ceil(duration_s / window_s)`` windows; a
        window with no scored request is nan."""
        if not window_s > 0:
            raise ValueError(f"window_s: must be > 0, got {window_s}")
        count = math.ceil(self.duration_s / window_s)
        window = np.minimum((self.arrival_s // window_s).astype(np.int64), count - 1)
        good = np.bincount(window[self._good], minlength=count)
        scored = np.bincount(window[self.scored], minlength=count)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(scored > 0, good / np.maximum(scored, 1), np.nan)

    @property
    def goodput_rps(self) -> float:
        """Scored requests served within SLO per second of the scored interval."""
        return int(np.count_nonzero(self._good)) / self.scored_span_s

    def latency_percentiles_s(self) -> dict[str, float]:
        """p50/p90/p99 of ``finish - arrival`` (s) over served scored
        requests (linear interpolation); nan when none was served."""
        latency = self.finish_s[self._good] - self.arrival_s[self._good]
        if latency.size == 0:
            return {"p50": math.nan, "p90": math.nan, "p99": math.nan}
        p50, p90, p99 = np.percentile(latency, [50, 90, 99])
        return {"p50": float(p50), "p90": float(p90), "p99": float(p99)}

    @property
    def group_utilisation(self) -> npt.NDArray[np.float64]:
        """Per group: busy stage-seconds / (pp × duration_s); may slightly exceed
        1, as work admitted before ``duration_s`` can finish after it."""
        pp = np.array([slot.config.pp for slot in self.groups], dtype=np.float64)
        return self.group_busy_s / (pp * self.duration_s)

    def outcome_counts(self, scored_only: bool = True) -> dict[str, int]:
        """Number of requests per outcome name."""
        outcome = self.outcome[self.scored] if scored_only else self.outcome
        counts = np.bincount(outcome, minlength=len(Outcome))
        return {o.name.lower(): int(counts[o]) for o in Outcome}

    def summary(self) -> dict[str, Any]:
        """JSON-able summary (nan becomes None)."""
        return _json_safe(
            {
                "num_requests": self.num_requests,
                "num_scored": int(np.count_nonzero(self.scored)),
                "attainment": self.attainment,
                "goodput_rps": self.goodput_rps,
                "outcomes": self.outcome_counts(),
                "latency_s": self.latency_percentiles_s(),
                "per_model_attainment": self.per_model_attainment(),
                "groups": [
                    {
                        "group": slot.index,
                        "devices": list(slot.devices),
                        "config": encode(slot.config),
                        "steps": [slot.first_step, slot.last_step],
                        "busy_s": float(busy),
                        "utilisation": float(use),
                    }
                    for slot, busy, use in zip(
                        self.groups, self.group_busy_s, self.group_utilisation, strict=True
                    )
                ],
            }
        )


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
