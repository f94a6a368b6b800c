"""The inter-op pass: split a layer sequence into ``pp`` contiguous
pipeline stages minimising the slowest stage, with each stage's memory per
device within its cap.

Instance (:class:`SplitProblem`), layers ``0..L-1``:

- ``latency_s[l]``: seconds layer ``l`` takes on its stage;
- ``handoff_s[k]``: seconds stage ``k`` (``k < pp - 1``) spends passing its
  output to stage ``k + 1``;
- stage ``k`` = layers ``[i, j)`` costs
  ``T_k(i, j) = sum(latency_s[i:j]) + (handoff_s[k] if k < pp - 1 else 0)``;
- its memory per device is
  ``M(i, j) = sum(weight_bytes[i:j]) + max_batch * max(act_bytes[i:j])``
  (weights of its layers plus one workspace for the largest layer) and must
  not exceed ``mem_cap_bytes[k]``.

Objective: minimise ``max_k T_k`` over all splits (uneven ones included).

Exact dynamic programme (:func:`split_stages`), with ``D[k][j]`` the best
bottleneck of the first ``k + 1`` stages covering layers ``[0, j)``::

    D[0][j] = T_0(0, j)                                  if M(0, j) <= cap_0
    D[k][j] = min_{i < j, M(i, j) <= cap_k} max(D[k-1][i], T_k(i, j))

and the answer ``D[pp-1][L]``, each row computed as one vectorised
``(L+1) x (L+1)`` min-max over prefix sums: ``O(pp L^2)`` operations.

:func:`split_stages_cpsat` solves the same instance with OR-Tools CP-SAT
and also takes pinned layers (layer -> stage); latencies are scaled to
integers of ``resolution_s``. :func:`validate_split` checks any split
against its instance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

CPSAT_UNITS = 10**6
"""Integer units the CP-SAT split divides the total latency into by default."""


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


def _infeasible(problem: SplitProblem) -> ValueError:
    return ValueError(
        f"mem_cap_bytes: no split of {problem.num_layers} layers into {problem.pp} stages "
        f"fits the memory caps {list(problem.caps)}"
    )


def _range_tables(
    problem: SplitProblem,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``(T, M)`` with ``T[i, j] = sum(latency_s[i:j])`` and ``M[i, j] =
    M(i, j)`` for ``i < j`` (``inf`` elsewhere), indices ``0..L``."""
    n = problem.num_layers
    prefix = np.concatenate(([0.0], np.cumsum(problem.latency_s)))
    weights = np.concatenate(([0], np.cumsum(problem.weight_bytes))).astype(np.float64)
    act = np.asarray(problem.act_bytes, dtype=np.float64)
    upper = np.triu(np.ones((n + 1, n + 1), dtype=bool), k=1)
    latency = np.where(upper, prefix[None, :] - prefix[:, None], np.inf)
    peak = np.zeros((n + 1, n + 1))
    for i in range(n):
        peak[i, i + 1 :] = np.maximum.accumulate(act[i:])
    memory = np.where(upper, weights[None, :] - weights[:, None] + problem.max_batch * peak, np.inf)
    return latency, memory


def split_stages(problem: SplitProblem) -> StageSplit:
    """The optimal split by the exact dynamic programme (module docstring).
    Among optimal splits, each stage starts as early as possible from the
    last stage backwards. Raises ValueError when no split fits the caps."""
    latency, memory = _range_tables(problem)
    n, pp = problem.num_layers, problem.pp
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    choice = np.zeros((pp, n + 1), dtype=np.int64)
    for k in range(pp):
        handoff = problem.handoff_s[k] if k < pp - 1 else 0.0
        cost = np.where(memory <= problem.caps[k], latency + handoff, np.inf)
        candidates = np.maximum(best[:, None], cost)
        choice[k] = np.argmin(candidates, axis=0)
        best = candidates[choice[k], np.arange(n + 1)]
    if not np.isfinite(best[n]):
        raise _infeasible(problem)
    starts = [0] * pp
    end = n
    for k in range(pp - 1, -1, -1):
        starts[k] = int(choice[k][end])
        end = starts[k]
    return StageSplit.from_starts(problem, starts)


def split_stages_cpsat(
    problem: SplitProblem,
    pinned: Mapping[int, int] | None = None,
    time_limit_s: float = 10.0,
    resolution_s: float | None = None,
) -> StageSplit:
    """The optimal split by CP-SAT (OR-Tools, imported here), with
    ``pinned[layer] = stage`` forcing layers onto stages. Latencies are
    rounded to integers of ``resolution_s``, by default a millionth of the
    total latency (CP-SAT loses exactness with coefficients far above
    that); the split is optimal up to that rounding. Raises ValueError when no split
    satisfies the caps and pins, :class:`SplitTimeout` when the time limit
    passes before any split is found."""
    from planner.autoparallel import split_cpsat

    pins = dict(pinned or {})
    for layer, stage in pins.items():
        if not 0 <= layer < problem.num_layers:
            raise ValueError(f"pinned[{layer}]: no such layer (0..{problem.num_layers - 1})")
        if not 0 <= stage < problem.pp:
            raise ValueError(f"pinned[{layer}]: stage {stage} is outside 0..{problem.pp - 1}")
    if resolution_s is None:
        total = sum(problem.latency_s) + sum(problem.handoff_s)
        resolution_s = total / CPSAT_UNITS if total > 0 else 1.0
    status, starts = split_cpsat.solve(problem, pins, time_limit_s, resolution_s)
    if status == "infeasible":
        if pins:
            raise ValueError(
                f"pinned: no split of {problem.num_layers} layers into {problem.pp} stages "
                f"satisfies the pins {pins} and the memory caps {list(problem.caps)}"
            )
        raise _infeasible(problem)
    if status == "unknown":
        raise SplitTimeout(f"time_limit_s: CP-SAT found no split within {time_limit_s} s")
    return StageSplit.from_starts(problem, starts, optimal=status == "optimal")
