"""Stage-split speed: the vectorised DP of ``planner.autoparallel`` against
a plain-Python O(L^2 pp) DP of the same recurrence (and, without
``--quick``, CP-SAT) on a 96-layer model (embedding + 95 BERT blocks of
hidden 4096, ~38 GB of weights) into 2..16 stages under a 20 GB budget.

Target: every DP split under 50 ms.

Run ``python -m bench.autoparallel [--quick]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

from planner.autoparallel import (
    DEFAULT_MEM_BUDGET_BYTES,
    REPLICATED,
    Architecture,
    DeviceModel,
    SplitProblem,
    handoff_s,
    layer_costs,
    layer_names,
    split_stages,
    split_stages_cpsat,
)
from planner.domain import ParallelConfig

TARGET_S = 0.050
ARCH = Architecture("bert", num_layers=95, hidden=4096, heads=32, name="bert-96-layers")
STAGES = (2, 4, 8, 16)
CPSAT_TIME_LIMIT_S = 60.0


def problem(pp: int, device: DeviceModel) -> SplitProblem:
    """The split instance of :data:`ARCH` on one device per stage, batch 1."""
    costs = layer_costs(ARCH, REPLICATED, 1, 1, device)
    return SplitProblem(
        latency_s=tuple(c.latency_s for c in costs),
        weight_bytes=tuple(c.weight_bytes for c in costs),
        pp=pp,
        mem_cap_bytes=DEFAULT_MEM_BUDGET_BYTES,
        act_bytes=tuple(c.act_bytes for c in costs),
        handoff_s=handoff_s(ARCH, ParallelConfig(1, pp), 1, device),
        max_batch=8,
        names=layer_names(ARCH),
    )


def naive_bottleneck(problem: SplitProblem) -> float:
    """The same min-max recurrence in plain loops, O(L^2 pp)."""
    n = problem.num_layers
    best = [0.0] + [math.inf] * n
    for k in range(problem.pp):
        handoff = problem.handoff_s[k] if k < problem.pp - 1 else 0.0
        row = [math.inf] * (n + 1)
        for end in range(1, n + 1):
            latency, weights, act = 0.0, 0, 0
            for start in range(end - 1, -1, -1):
                latency += problem.latency_s[start]
                weights += problem.weight_bytes[start]
                act = max(act, problem.act_bytes[start])
                if weights + problem.max_batch * act > problem.caps[k]:
                    break
                row[end] = min(row[end], max(best[start], latency + handoff))
        best = row
    return best[n]


def dp_bottleneck(problem: SplitProblem) -> float:
    return split_stages(problem).bottleneck_s


def cpsat_bottleneck(problem: SplitProblem) -> float:
    return split_stages_cpsat(problem, time_limit_s=CPSAT_TIME_LIMIT_S).bottleneck_s


def timed(
    solve: Callable[[SplitProblem], float], problem: SplitProblem, repeats: int
) -> tuple[float, float]:
    """``(median seconds, bottleneck)`` of ``repeats`` runs of ``solve``."""
    times = []
    result = math.nan
    for _ in range(repeats):
        start = time.perf_counter()
        result = solve(problem)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="stage-split benchmark")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no CP-SAT")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 15
    device = DeviceModel()
    print(
        f"{ARCH.num_layers + 1} layers, {ARCH.weight_bytes / 1e9:.1f} GB of weights, 20 GB per device"
    )
    print(f"{'pp':>3} {'DP ms':>8} {'naive ms':>9} {'ratio':>7} {'CP-SAT ms':>10} {'ratio':>7}")
    worst = 0.0
    for pp in STAGES:
        instance = problem(pp, device)
        dp_s, dp = timed(dp_bottleneck, instance, repeats)
        naive_s, naive = timed(naive_bottleneck, instance, max(1, repeats // 3))
        if not math.isclose(dp, naive, rel_tol=1e-9):
            raise SystemExit(f"pp={pp}: DP bottleneck {dp} differs from the naive DP's {naive}")
        worst = max(worst, dp_s)
        cpsat = ""
        if not args.quick:
            cpsat_s, best = timed(cpsat_bottleneck, instance, 1)
            if not math.isclose(dp, best, rel_tol=1e-4):
                raise SystemExit(f"pp={pp}: DP bottleneck {dp} differs from CP-SAT's {best}")
            cpsat = f"{cpsat_s * 1e3:10.1f} {cpsat_s / dp_s:6.0f}x"
        print(f"{pp:>3} {dp_s * 1e3:8.2f} {naive_s * 1e3:9.1f} {naive_s / dp_s:6.1f}x {cpsat}")
    verdict = "met" if worst < TARGET_S else "MISSED"
    print(f"slowest DP split {worst * 1e3:.2f} ms; target < {TARGET_S * 1e3:.0f} ms: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
