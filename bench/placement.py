"""Placement benchmarks.

1. **Greedy + enumeration speed** on S1 (64 × BERT-1.3B from
   :func:`planner.profiles.model_set`) with 32 and 64 devices: wall time of
   ``solve(solver="greedy", workers=2)`` (targets < 3 s and < 10 s on 2
   cores), against Selective Replication timed in the same run.
2. **CP-SAT** on 32 S1 models × 32 devices (60 s limit), on the greedy
   seed's groups and on 32 single-device groups (the largest model): the
   gap between its proxy objective and best bound (target <= 5 %) and its
   simulated attainment against the greedy seed's (target >= 1.0x).
3. **Attainment table**: greedy, CP-SAT, MILP (CBC) and Clockwork++ (the
   time-varying baseline, :mod:`planner.replan.timed`) on S1, S2, S3 × CV 1
   and 4, as a ratio to Selective Replication.

Wall times depend on what else runs on the machine; the CPU time (this
process and its workers) is printed beside them.

Workloads: Gamma arrivals per model, power-law popularity (share of model
``i`` ∝ ``(i + 1) ** -0.5``), total rate a fraction ``LOAD`` of the
cluster's single-device throughput (devices / reference latency); SLO
``SLO_SCALE`` × the reference latency; 20 GB per device, 8 devices per
node, max batch 1. ``--quick`` shortens workloads and
time limits.

Run: ``python -m bench.placement [--quick]``.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Sequence

import numpy as np

from planner.deadline import Deadline
from planner.domain import Cluster, ModelSpec, Workload
from planner.placement.options import split_options
from planner.placement.solution import SolveResult, SolveTimeoutError
from planner.placement.solve import solve
from planner.profiles import model_set, reference_latency_s
from planner.replan.clockwork import ClockworkOptions
from planner.replan.timed import plan_over_time
from planner.sim import Instance
from planner.workloads import ProcessSpec, process_workload

MEMORY_BYTES = 20 * 10**9
LOAD = 0.8
SLO_SCALE = 2.5
POPULARITY_EXPONENT = 0.5


def cluster(devices: int) -> Cluster:
    return Cluster(devices, MEMORY_BYTES, devices_per_node=8)


def traffic(
    models: Sequence[ModelSpec], devices: int, cv: float, duration_s: float, seed: int = 0
) -> Workload:
    """Gamma arrivals (module docstring)."""
    shares = 1.0 / np.arange(1, len(models) + 1) ** POPULARITY_EXPONENT
    shares /= shares.sum()
    capacity_rps = devices / float(np.mean([reference_latency_s(m.profile) for m in models]))
    specs = {
        m.name: ProcessSpec(float(LOAD * capacity_rps * share), cv)
        for m, share in zip(models, shares, strict=True)
    }
    return process_workload(specs, duration_s, seed)


def timed(
    solver: str,
    models: Sequence[ModelSpec],
    devices: int,
    workload: Workload,
    time_limit_s: float,
    **options: object,
) -> tuple[SolveResult, float, float]:
    """Solve; returns the result, the wall time and the CPU time (this
    process and its worker processes), in seconds."""
    sim, solving = split_options({"workers": 2, **options})
    instance = Instance(cluster(devices), tuple(models), workload, sim)
    before = _cpu_s()
    start = time.perf_counter()
    result = solve(instance, solver=solver, deadline=Deadline.after(time_limit_s), options=solving)
    return result, time.perf_counter() - start, _cpu_s() - before


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def speed(quick: bool) -> None:
    models = model_set("s1", SLO_SCALE)
    duration_s = 10.0 if quick else 30.0
    print(f"greedy + enumeration on S1 ({len(models)} models), CV 3, {duration_s:g} s workload")
    for devices, target_s in ((32, 3.0), (64, 10.0)):
        workload = traffic(models, devices, 3.0, duration_s)
        greedy, greedy_s, greedy_cpu_s = timed("greedy", models, devices, workload, 60)
        sr, sr_s, _ = timed("sr", models, devices, workload, 60)
        verdict = "ok" if greedy_s < target_s else "MISSED"
        print(
            f"  {devices} devices, {workload.num_requests} requests: greedy {greedy_s:.2f} s wall "
            f"(target < {target_s:g} s: {verdict}), {greedy_cpu_s:.2f} s CPU on 2 workers, "
            f"{greedy.stats['blocks_total']} blocks ({greedy.stats['blocks_solved']} solved, "
            f"{greedy.stats['blocks_pruned_by_bound']} pruned by bound, "
            f"{greedy.stats['blocks_ranked_out']} ranked out); selective replication {sr_s:.2f} s"
        )
        print(
            f"    attainment greedy {greedy.attainment:.4f} vs selective replication "
            f"{sr.attainment:.4f} ({greedy.attainment / max(sr.attainment, 1e-9):.3f}x)"
        )


def cpsat_gap(quick: bool) -> None:
    models = model_set("s1", SLO_SCALE)[:32]
    limit_s = 15.0 if quick else 60.0
    workload = traffic(models, 32, 3.0, 10.0 if quick else 30.0)
    print(f"CP-SAT on {len(models)} models x 32 devices, {limit_s:g} s limit")
    for label, options in (("seed groups", {}), ("32 single-device groups", {"group_sizes": [1]})):
        result, wall_s, _ = timed("cpsat", models, 32, workload, limit_s, **options)
        seed = float(result.stats["seed_attainment"])
        gap = result.gap if result.gap is not None else float("nan")
        print(
            f"  {label}: {result.stats['groups']} groups, {result.stats['variables']} variables, "
            f"status {result.status}, {wall_s:.1f} s; proxy {result.proxy_objective:.4f}, "
            f"bound {result.bound:.4f}, gap {gap:.2%} "
            f"(target <= 5%: {'ok' if gap <= 0.05 else 'MISSED'})"
        )
        print(
            f"    attainment {result.attainment:.4f} vs greedy seed {seed:.4f} "
            f"({result.attainment / max(seed, 1e-9):.3f}x, target >= 1.0)"
        )


SETS = {"s1": 32, "s2": 16, "s3": 32}
"""Model set → devices for the table."""
TABLE_SOLVERS = ("greedy", "cpsat", "milp")
TABLE_COLUMNS = (*TABLE_SOLVERS, "clockwork")


def table(quick: bool) -> None:
    limit_s = 10.0 if quick else 30.0
    duration_s = 10.0 if quick else 30.0
    print(
        f"attainment / Selective Replication (S1, S3 on 32 devices, S2 on 16; "
        f"{duration_s:g} s workloads, {limit_s:g} s limits)"
    )
    print(f"  {'set':4} {'cv':>4} {'sr':>7} " + " ".join(f"{s:>10}" for s in TABLE_COLUMNS))
    for name, devices in SETS.items():
        models = model_set(name, SLO_SCALE)
        for cv in (1.0, 4.0):
            workload = traffic(models, devices, cv, duration_s)
            baseline, _, _ = timed("sr", models, devices, workload, limit_s)
            attainments: list[float | None] = []
            for solver in TABLE_SOLVERS:
                try:
                    result, _, _ = timed(solver, models, devices, workload, limit_s)
                except SolveTimeoutError:
                    attainments.append(None)
                    continue
                attainments.append(result.attainment)
            problem = Instance(cluster(devices), tuple(models), workload)
            clockwork = plan_over_time(problem, ClockworkOptions(time_limit_s=limit_s))
            attainments.append(clockwork.attainment)
            cells = [
                f"{'timeout':>10}"
                if attainment is None
                else f"{attainment / max(baseline.attainment, 1e-9):>9.3f}x"
                for attainment in attainments
            ]
            print(f"  {name:4} {cv:>4g} {baseline.attainment:>7.4f} " + " ".join(cells))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.placement", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter workloads and limits")
    args = parser.parse_args(argv)
    speed(args.quick)
    cpsat_gap(args.quick)
    table(args.quick)


if __name__ == "__main__":
    main()
