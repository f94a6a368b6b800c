"""When the Ray backend pays: plan time of greedy + enumeration with the
local process pool (``workers=2``) against Ray on a two-node cluster on
this machine (one CPU per node, :func:`harness.ray_local.two_node_cluster`),
at a few S1-like sizes (models × devices), in the same run.

S1-like sets: copies of S1's models (:func:`planner.profiles.model_set`)
renamed ``<name>~<k>``; traffic and cluster as :mod:`bench.placement`
(20 GB devices, 8 per node, Gamma arrivals with CV 3, power-law shares).
Both backends get the same instance, seed and no time limit, so their plans
must be equal (checked). Before timing, one untimed solve on the smallest
size starts Ray's worker processes (a fresh cluster's first tasks pay for
it: seconds). Ray pays when a block's greedy outweighs shipping its task
and result; on one host it cannot beat the pool, it only spreads the same
cores.

Run: ``python -m bench.ray_crossover [--quick] [--sizes 64x32,128x64]
[--repeats N]`` (with repeats, the two backends alternate and each
reports its fastest run)
(needs the ``ray`` extra).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence

from bench.placement import timed, traffic
from harness.ray_local import two_node_cluster
from planner.domain import ModelSpec
from planner.profiles import model_set

SIZES = ((64, 32), (128, 64), (256, 128))
QUICK_SIZES = ((32, 16), (64, 32))
DURATION_S = 30.0
QUICK_DURATION_S = 10.0
NEVER_S = 86400.0
"""A time limit no solve here reaches (a cut-short block would differ)."""


def s1_like(count: int) -> list[ModelSpec]:
    """``count`` models: S1's, copied and renamed as often as needed."""
    base = model_set("s1", 2.5)
    return [
        dataclasses.replace(
            base[i % len(base)], name=f"{base[i % len(base)].name}~{i // len(base)}"
        )
        for i in range(count)
    ]


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    pairs = [part.split("x") for part in text.split(",") if part.strip()]
    return tuple((int(m), int(d)) for m, d in pairs)


def measure(
    sizes: Sequence[tuple[int, int]], duration_s: float, address: str, repeats: int
) -> None:
    ray = {"backend": "ray", "ray_address": address}
    first_models, first_devices = sizes[0]
    warm = s1_like(first_models)
    timed(
        "greedy", warm, first_devices, traffic(warm, first_devices, 3.0, duration_s), NEVER_S, **ray
    )
    print(
        f"{'models x devices':>17} {'requests':>9} {'pool s':>8} {'ray s':>8} {'ray/pool':>9} same plan"
    )
    for models_count, devices in sizes:
        models = s1_like(models_count)
        workload = traffic(models, devices, 3.0, duration_s)
        pool_times, ray_times = [], []
        for _ in range(repeats):  # interleaved, so both see the same load
            pool, pool_s, _ = timed("greedy", models, devices, workload, NEVER_S)
            spread, ray_s, _ = timed("greedy", models, devices, workload, NEVER_S, **ray)
            pool_times.append(pool_s)
            ray_times.append(ray_s)
        pool_s, ray_s = min(pool_times), min(ray_times)
        same = spread.placement == pool.placement
        print(
            f"{models_count:>8} x {devices:<6} {workload.num_requests:>9} {pool_s:>8.2f} "
            f"{ray_s:>8.2f} {ray_s / pool_s:>8.2f}x {'yes' if same else 'NO'}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ray_crossover")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=parse_sizes, default=None, help="e.g. 64x32,128x64")
    parser.add_argument("--repeats", type=int, default=1, help="runs per backend (the fastest)")
    args = parser.parse_args(argv)
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    duration_s = QUICK_DURATION_S if args.quick else DURATION_S
    print(
        f"greedy + enumeration, local pool (2 workers) vs Ray on two local nodes (1 CPU each), "
        f"S1-like sets, {duration_s:g} s of traffic"
    )
    started = time.monotonic()
    with two_node_cluster() as address:
        print(f"  two-node Ray cluster up in {time.monotonic() - started:.1f} s")
        measure(sizes, duration_s, address, args.repeats)


if __name__ == "__main__":
    main()
