"""Run every benchmark: ``python -m bench [--quick]``. Each prints its own
ratios against a baseline measured in the same run, and its target."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS: list[str] = [
    "simulator",
    "autoparallel",
    "autoparallel_fidelity",
    "placement",
    "capacity",
    "solvers",
    "scale",
    "executor_overhead",
    "fidelity",
    "live_fidelity",
    "replan",
    "ray_crossover",
    "service",
    "traces",
]


def main(argv: list[str]) -> int:
    for name in BENCHMARKS:
        print(f"\n=== bench.{name} ===", flush=True)
        module = importlib.import_module(f"bench.{name}")
        module.main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
