"""The stage-split instance and its answer, shared by the exact dynamic
programme (:mod:`planner.autoparallel.split`) and the CP-SAT model
(:mod:`planner.autoparallel.split_cpsat`); see the former for the
definitions of ``T_k`` and ``M``. :func:`validate_split` checks any split
against its instance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


class SplitTimeout(RuntimeError):
    """CP-SAT found no split within its time limit (neither a split nor a
    proof that none exists)."""


@dataclass(frozen=True)
class SplitProblem:
    """One stage-split instance (see the module docstring).

    ``mem_cap_bytes`` is one cap for every stage or one per stage;
    ``act_bytes`` defaults to zeros, ``handoff_s`` to zeros (``pp - 1``
    entries otherwise), ``names`` to ``layer<i>``. Raises ValueError when
    ``pp`` exceeds the number of layers or one layer alone exceeds every
    stage's cap."""

    latency_s: tuple[float, ...]
    weight_bytes: tuple[int, ...]
    pp: int
    mem_cap_bytes: int | tuple[int, ...]
    act_bytes: tuple[int, ...] = ()
    handoff_s: tuple[float, ...] = ()
    max_batch: int = 1
    names: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        n = len(self.latency_s)
        if n == 0:
            raise ValueError("latency_s: needs at least one layer")
        if isinstance(self.pp, bool) or not isinstance(self.pp, int) or self.pp < 1:
            raise ValueError(f"pp: must be a positive integer, got {self.pp!r}")
        if self.pp > n:
            raise ValueError(f"pp: cannot split {n} layers into {self.pp} stages (pp <= layers)")
        if self.max_batch < 1:
            raise ValueError(f"max_batch: must be >= 1, got {self.max_batch}")
        caps = self.mem_cap_bytes
        caps = (caps,) * self.pp if isinstance(caps, int) else tuple(caps)
        acts = tuple(self.act_bytes) or (0,) * n
        handoff = tuple(float(x) for x in self.handoff_s) or (0.0,) * (self.pp - 1)
        names = tuple(self.names) or tuple(f"layer{i}" for i in range(n))
        for label, values, want in (
            ("weight_bytes", self.weight_bytes, n),
            ("act_bytes", acts, n),
            ("names", names, n),
            ("mem_cap_bytes", caps, self.pp),
            ("handoff_s", handoff, self.pp - 1),
        ):
            if len(values) != want:
                raise ValueError(f"{label}: has {len(values)} entries, expected {want}")
        for label, values in (
            ("latency_s", self.latency_s),
            ("weight_bytes", self.weight_bytes),
            ("act_bytes", acts),
            ("handoff_s", handoff),
        ):
            for i, value in enumerate(values):
                if not value >= 0:
                    raise ValueError(f"{label}[{i}]: must be >= 0, got {value!r}")
        object.__setattr__(self, "latency_s", tuple(float(x) for x in self.latency_s))
        object.__setattr__(self, "weight_bytes", tuple(int(x) for x in self.weight_bytes))
        object.__setattr__(self, "mem_cap_bytes", caps)
        object.__setattr__(self, "act_bytes", acts)
        object.__setattr__(self, "handoff_s", handoff)
        object.__setattr__(self, "names", names)
        biggest = max(caps)
        for i in range(n):
            need = self.stage_memory_bytes(i, i + 1)
            if need > biggest:
                raise ValueError(
                    f"layers[{i}] ({names[i]}): needs {need} bytes per device "
                    f"(weights {self.weight_bytes[i]} + {self.max_batch} x {acts[i]} activations), "
                    f"more than any stage's memory cap ({biggest})"
                )

    @property
    def num_layers(self) -> int:
        return len(self.latency_s)

    @property
    def caps(self) -> tuple[int, ...]:
        """``mem_cap_bytes`` as one cap per stage."""
        assert isinstance(self.mem_cap_bytes, tuple)
        return self.mem_cap_bytes

    def stage_memory_bytes(self, start: int, end: int) -> int:
        """``M(start, end)``: bytes per device of a stage of layers ``[start, end)``."""
        assert isinstance(self.act_bytes, tuple)
        return sum(self.weight_bytes[start:end]) + self.max_batch * max(self.act_bytes[start:end])

    def stage_latency_s(self, stage: int, start: int, end: int) -> float:
        """``T_stage(start, end)``: seconds of stage ``stage`` holding layers ``[start, end)``."""
        handoff = self.handoff_s[stage] if stage < self.pp - 1 else 0.0
        return sum(self.latency_s[start:end]) + handoff


@dataclass(frozen=True)
class StageSplit:
    """A split: ``bounds[k] = (start, end)``, the layers ``[start, end)`` of
    stage ``k``; ``stage_latency_s[k] = T_k``; ``optimal`` is False only for
    a CP-SAT split found without a proof of optimality."""

    bounds: tuple[tuple[int, int], ...]
    stage_latency_s: tuple[float, ...]
    optimal: bool = True

    @property
    def bottleneck_s(self) -> float:
        """Seconds of the slowest stage."""
        return max(self.stage_latency_s)

    @classmethod
    def from_starts(
        cls, problem: SplitProblem, starts: Sequence[int], optimal: bool = True
    ) -> StageSplit:
        """The split whose stage ``k`` starts at layer ``starts[k]``."""
        ends = [*starts[1:], problem.num_layers]
        bounds = tuple((int(s), int(e)) for s, e in zip(starts, ends, strict=True))
        latency = tuple(problem.stage_latency_s(k, s, e) for k, (s, e) in enumerate(bounds))
        return cls(bounds, latency, optimal)


def validate_split(problem: SplitProblem, split: StageSplit) -> None:
    """Raise ValueError (naming the field) unless ``split`` has ``pp``
    non-empty contiguous stages covering every layer in order, each within
    its memory cap, with the stage latencies of the instance."""
    if len(split.bounds) != problem.pp:
        raise ValueError(f"bounds: has {len(split.bounds)} stages, expected {problem.pp}")
    expected_start = 0
    for k, (start, end) in enumerate(split.bounds):
        if start != expected_start or end <= start:
            raise ValueError(
                f"bounds[{k}]: ({start}, {end}) must be a non-empty range starting at {expected_start}"
            )
        used = problem.stage_memory_bytes(start, end)
        if used > problem.caps[k]:
            raise ValueError(
                f"bounds[{k}]: stage needs {used} bytes per device, cap is {problem.caps[k]}"
            )
        want = problem.stage_latency_s(k, start, end)
        if not np.isclose(split.stage_latency_s[k], want, rtol=1e-9, atol=0.0):
            raise ValueError(
                f"stage_latency_s[{k}]: is {split.stage_latency_s[k]}, expected {want}"
            )
        expected_start = end
    if expected_start != problem.num_layers:
        raise ValueError(f"bounds: cover layers [0, {expected_start}) of {problem.num_layers}")
