"""Fidelity: the SLO attainment measured on a real loopback deployment (API
+ job worker + two agents + router, profiles measured by the profiler on
this machine) against the simulator's prediction for the same plan,
profiles and trace (the baseline). See :mod:`harness.loopback`.

Target: |measured - simulated| <= 5 points.

Run ``python -m bench.fidelity [--quick]``.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from pathlib import Path

from harness.loopback import Scenario, run_fidelity
from planner.domain import ParallelConfig

TARGET_POINTS = 5.0


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.fidelity")
    parser.add_argument("--quick", action="store_true", help="a 15 s trace instead of 60 s")
    args = parser.parse_args(argv)
    scenario = Scenario(duration_s=15.0 if args.quick else 60.0)
    with tempfile.TemporaryDirectory() as workdir:
        result = run_fidelity(Path(workdir), scenario)
    statuses = collections.Counter(sent.status for sent in result.sent)
    print(
        f"trace: {len(result.sent)} requests over {scenario.duration_s:.0f} s; statuses {dict(statuses)}"
    )
    for spec in result.models:
        latency = spec.profile[ParallelConfig(1, 1)].latency(1)
        print(
            f"  {spec.name}: SLO {spec.slo_s * 1e3:.1f} ms, batch-1 latency {latency * 1e3:.1f} ms"
        )
    print(
        f"plan: {[(list(g.devices), str(g.config), list(g.models)) for g in result.placement.groups]}"
    )
    gap = abs(result.measured - result.simulated) * 100
    ratio = result.measured / result.simulated if result.simulated else float("nan")
    print(
        f"SLO attainment measured {result.measured:.3f}, simulated {result.simulated:.3f} "
        f"(ratio {ratio:.3f}); gap {gap:.1f} points "
        f"(target <= {TARGET_POINTS:.0f}: {'met' if gap <= TARGET_POINTS else 'MISSED'})"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
