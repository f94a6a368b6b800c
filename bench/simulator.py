"""Simulator benchmark on an S1-like case: the 64 BERT-1.3B models of
:func:`planner.profiles.model_set` ("s1") on 16 devices in mixed groups,
each group filled to memory round robin; Gamma arrivals (CV 3, power-law
rates) loading the cluster to about 80 %.

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
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context

import numpy as np

from planner.domain import Cluster, Group, ModelSpec, ParallelConfig, Placement, TimedPlan, Workload
from planner.profiles import model_set, reference_latency_s
from planner.sim import Instance, SimOptions, compile_case, simulate
from planner.validation import models_by_name, stage_memory_bytes

CLUSTER = Cluster(num_devices=16, device_mem_bytes=20 * 10**9, load_bw_bytes_per_s=12e9)
# (config, number of groups of it): 16 devices in all
GROUPS = (
    (ParallelConfig(1, 1), 4),
    (ParallelConfig(1, 2), 2),
    (ParallelConfig(2, 1), 2),
    (ParallelConfig(2, 2), 1),
)
MAX_BATCH = 8


def s1_placement(models: Sequence[ModelSpec], shift: int = 0) -> Placement:
    """Mixed groups on 16 devices, each filled to memory with models taken
    round robin starting at ``shift``."""
    index = models_by_name(models)
    groups = []
    device = 0
    cursor = shift
    for config, count in GROUPS:
        for _ in range(count):
            group = Group(tuple(range(device, device + config.size)), config)
            while len(group.models) < len(models):
                bigger = group.with_models((*group.models, models[cursor % len(models)].name))
                if max(stage_memory_bytes(bigger, index)) > CLUSTER.device_mem_bytes:
                    break
                group = bigger
                cursor += 1
            groups.append(group)
            device += config.size
    return Placement(tuple(groups))


def s1_plan(models: Sequence[ModelSpec], duration_s: float, steps: int = 4) -> TimedPlan:
    """A timed plan whose every step rotates the model assignment by 5."""
    return TimedPlan(
        tuple((k * duration_s / steps, s1_placement(models, 5 * k)) for k in range(steps))
    )


def gamma_workload(
    models: Sequence[ModelSpec], num_requests: int, seed: int = 0, cv: float = 3.0
) -> Workload:
    """Gamma arrivals per model with power-law rates, about ``num_requests``
    in all, at a total rate that loads the cluster to about 80 %."""
    rng = np.random.default_rng(seed)
    shares = 1.0 / np.arange(1, len(models) + 1) ** 0.8
    shares /= shares.sum()
    total_rps = 0.8 * CLUSTER.num_devices / reference_latency_s(models[0].profile)
    duration_s = num_requests / total_rps
    shape = 1.0 / cv**2
    per_model = {}
    for model, share in zip(models, shares, strict=True):
        rate = total_rps * share
        gaps = rng.gamma(shape, 1.0 / (rate * shape), size=int(rate * duration_s * 1.5) + 10)
        times = np.cumsum(gaps)
        per_model[model.name] = times[times < duration_s]
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
    models = model_set("s1")
    workload = gamma_workload(models, num_requests, seed=2)
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

    models = model_set("s1")
    small = gamma_workload(models, ref_requests)
    placement = s1_placement(models)
    print(
        f"S1: {len(models)} models, {len(placement.groups)} groups on 16 devices, "
        f"{placement.num_replicas} replicas"
    )

    # reference vs fast, batch 1, static placement
    case = compile_case(Instance(CLUSTER, tuple(models), small))
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
    big = gamma_workload(models, big_requests, seed=1)
    plan = s1_plan(models, big.duration_s)
    rates = {}
    for label, options, subject in (
        ("batch 1, static", SimOptions(), placement),
        (f"batch {MAX_BATCH} + switches", SimOptions(max_batch=MAX_BATCH), plan),
    ):
        big_case = compile_case(Instance(CLUSTER, tuple(models), big, options))
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
