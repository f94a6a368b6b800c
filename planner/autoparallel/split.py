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

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from planner.autoparallel.problem import SplitProblem, SplitTimeout, StageSplit

CPSAT_UNITS = 10**6
"""Integer units the CP-SAT split divides the total latency into by default."""


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
