"""Simulator benchmark on an S1-like case: 64 models of one profile shape on
16 devices in mixed groups, Gamma arrivals (CV 3, power-law rates).

Prints the reference engine's time against the fast engine's (target >= 30x,
and whether results are identical), fast requests/s at batch 1 (target >=
2 M/s on one core), with batching and plan switches (target within 2x of
batch 1), and the peak RSS of a 1 M-request simulation in a fresh process
(target < 1 GB). ``--quick`` shrinks the sizes.

Run: ``python -m bench.simulator [--quick]``.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context

import numpy as np

from planner.domain import (
    Cluster,
    Group,
    ModelSpec,
    ParallelConfig,
    Placement,
    Profile,
    StageProfile,
    TimedPlan,
    Workload,
)
from planner.simulator import SimOptions, compile_case, simulate

NUM_MODELS = 64
CLUSTER = Cluster(num_devices=16, device_mem_bytes=16 * 10**9, devices_per_node=8)
WEIGHT_BYTES = 2_600_000_000  # a 1.3 B-parameter model in fp16
LATENCY_S = 0.1  # batch 1 on one device
SLO_S = 5 * LATENCY_S
# (config, number of groups of it)
GROUPS = (
    (ParallelConfig(1, 1), 4),
    (ParallelConfig(1, 2), 2),
    (ParallelConfig(2, 1), 2),
    (ParallelConfig(2, 2), 1),
)
MAX_BATCH = 8


def stage_profile(config: ParallelConfig) -> StageProfile:
    """Intra-op splits work with 10 % communication overhead per extra
    device; pipeline stages split it evenly; a batch of b costs 1 + 0.15 (b - 1)."""
    per_stage_s = LATENCY_S * (1 + 0.1 * (config.op - 1)) / (config.op * config.pp)
    rows = tuple((per_stage_s * (1 + 0.15 * b),) * config.pp for b in range(MAX_BATCH))
    weight = WEIGHT_BYTES // config.size
    return StageProfile(rows, (weight,) * config.pp)


def s1_models() -> list[ModelSpec]:
    profile = Profile({config: stage_profile(config) for config, _ in GROUPS})
    return [ModelSpec(f"bert-{j}", SLO_S, profile, "bert") for j in range(NUM_MODELS)]


def s1_placement(models: list[ModelSpec], shift: int = 0) -> Placement:
    """Mixed groups on 16 devices; every group filled to memory with models
    taken round robin (starting at ``shift``)."""
    groups = []
    device = 0
    cursor = shift
    for config, count in GROUPS:
        slots = CLUSTER.device_mem_bytes // (WEIGHT_BYTES // config.size)
        for _ in range(count):
            names = tuple(models[(cursor + k) % NUM_MODELS].name for k in range(slots))
            cursor += slots
            groups.append(Group(tuple(range(device, device + config.size)), config, names))
            device += config.size
    return Placement(tuple(groups))


def s1_plan(models: list[ModelSpec], duration_s: float, steps: int = 4) -> TimedPlan:
    """A timed plan whose every step rotates the model assignment by 5."""
    return TimedPlan(
        tuple((k * duration_s / steps, s1_placement(models, 5 * k)) for k in range(steps))
    )


def gamma_workload(num_requests: int, seed: int = 0, cv: float = 3.0) -> Workload:
    """Gamma arrivals per model with power-law rates, about ``num_requests``
    in all, at a total rate that loads the cluster to about 80 %."""
    rng = np.random.default_rng(seed)
    shares = 1.0 / np.arange(1, NUM_MODELS + 1) ** 0.8
    shares /= shares.sum()
    total_rps = 0.8 * CLUSTER.num_devices / LATENCY_S
    duration_s = num_requests / total_rps
    shape = 1.0 / cv**2
    per_model = {}
    for j, share in enumerate(shares):
        rate = total_rps * share
        gaps = rng.gamma(shape, 1.0 / (rate * shape), size=int(rate * duration_s * 1.5) + 10)
        times = np.cumsum(gaps)
        per_model[f"bert-{j}"] = times[times < duration_s]
    return Workload.merge(per_model, duration_s)


def best_of(repeat: int, action: Callable[[], object]) -> float:
    """Fastest wall time (s) of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def peak_rss_of_simulation(num_requests: int) -> tuple[int, float]:
    """In a fresh process: simulate ``num_requests`` and return the peak RSS
    (bytes) and the attainment."""
    models = s1_models()
    workload = gamma_workload(num_requests, seed=2)
    result = simulate(
        CLUSTER,
        models,
        s1_plan(models, workload.duration_s),
        workload,
        SimOptions(max_batch=MAX_BATCH),
    )
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, result.attainment


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.simulator", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args(argv)
    ref_requests, big_requests = (20_000, 200_000) if args.quick else (100_000, 1_000_000)

    models = s1_models()
    small = gamma_workload(ref_requests)
    placement = s1_placement(models)
    print(f"S1-like: {NUM_MODELS} models, {len(placement.groups)} groups on 16 devices")

    # reference vs fast, batch 1, static placement
    case = compile_case(CLUSTER, models, small)
    start = time.perf_counter()
    reference = case.run(placement, engine="reference")
    reference_s = time.perf_counter() - start
    compile_start = time.perf_counter()
    fast = case.run(placement)
    first_call_s = time.perf_counter() - compile_start
    fast_s = best_of(5, lambda: case.run(placement))
    identical = all(
        np.array_equal(getattr(fast, name), getattr(reference, name), equal_nan=True)
        for name in ("finish_s", "outcome", "group", "batch_size", "group_busy_s")
    )
    print(f"{small.num_requests} requests, attainment {fast.attainment:.4f}")
    print(f"  reference {reference_s:.3f} s, fast {fast_s * 1e3:.2f} ms")
    print(f"  (first fast call, including kernel load/compile: {first_call_s:.2f} s)")
    print(f"  speed-up {reference_s / fast_s:.0f}x (target >= 30x); identical: {identical}")

    # throughput on a large workload
    big = gamma_workload(big_requests, seed=1)
    plan = s1_plan(models, big.duration_s)
    rates = {}
    for label, options, subject in (
        ("batch 1, static", SimOptions(), placement),
        (f"batch {MAX_BATCH} + switches", SimOptions(max_batch=MAX_BATCH), plan),
    ):
        big_case = compile_case(CLUSTER, models, big, options)
        big_case.attainment(subject)
        seconds = best_of(3, partial(big_case.attainment, subject))
        rates[label] = big.num_requests / seconds
        print(
            f"  fast {label}: {rates[label] / 1e6:.2f} M requests/s "
            f"(attainment {big_case.attainment(subject):.4f})"
        )
    batch1, batched = rates.values()
    print(f"  batch 1 target >= 2 M/s: {'met' if batch1 >= 2e6 else 'MISSED'}")
    print(f"  batched+switches / batch 1 = {batched / batch1:.2f} (target >= 0.5)")

    # memory in a fresh process
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        rss_bytes, attainment = pool.submit(peak_rss_of_simulation, big_requests).result()
    print(
        f"  peak RSS simulating {big_requests} requests: {rss_bytes / 2**20:.0f} MiB "
        f"(target < 1024 MiB; attainment {attainment:.4f})"
    )


if __name__ == "__main__":
    main()
