"""Scale curve of the greedy solver (enumeration + greedy), against the
previous algorithm measured in the same run.

Model sets like S1 (``n`` x BERT-1.3B) and S3 (``n / 4`` each of BERT-1.3B,
BERT-2.6B, MoE-1.3B, MoE-2.4B) at ``n`` models x ``n / 2`` devices, from 64
x 32 to 1,024 x 512, with the traffic of :mod:`bench.placement` (Gamma
arrivals, CV 3, power-law popularity, 80% of the cluster's single-device
throughput) over 30 s (10 s with ``--quick``). Per point: wall time of the
solve, CPU time (the solving process and its workers), peak resident
memory (the largest of the process and its workers), attainment, and the
blocks solved, pruned by bound and ranked out by estimate.

Every point runs in a fresh child process (so peak memory is its own,
after one untimed warm-up run per tree that compiles its simulator); the
baseline child imports the planner of ``--baseline`` (default: a ``git
worktree`` of the commit before the cheaper greedy, :data:`BASELINE_COMMIT`,
made under a temporary folder and removed after) and runs with ``workers=2``
(its default was 1). A child that passes ``--limit`` seconds is stopped and
shown as ``>limit``. Targets (issue 18, 2 cores): S1-like 1,024 x 512 in at
most 10 s with attainment within 0.1 points of the baseline's; S3-like
256 x 128 in at most 20 s with no block dropped unexamined. The machine may
be shared: compare the ratio column, measured in the same run, and read
the load printed with the table.

Run: ``python -m bench.scale [--quick] [--sets s1,s3] [--limit S]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.domain import ModelSpec

ROOT = Path(__file__).resolve().parent.parent
BASELINE_COMMIT = "0b66cfd"
"""The main-branch commit before the cheaper greedy (issue 18)."""
SIZES = ((64, 32), (128, 64), (256, 128), (512, 256), (1024, 512))
QUICK_SIZES = SIZES[:3]
DROPPED = re.compile(r"enumeration: (\d+) blocks, keeping the first (\d+)")
"""The previous algorithm's log line for blocks it dropped unexamined."""
BLOCK_STATS = ("blocks_total", "blocks_solved", "blocks_pruned_by_bound", "blocks_ranked_out")


def models_like(name: str, count: int) -> tuple[ModelSpec, ...]:
    """``count`` models shaped like set ``name`` (module docstring)."""
    from bench.placement import SLO_SCALE
    from planner.domain import ModelSpec
    from planner.profiles import MODEL_SETS, profile_for, reference_latency_s

    kinds = MODEL_SETS[name]
    each = count // sum(n for _, n in kinds)
    out: list[ModelSpec] = []
    for arch, n in kinds:
        profile = profile_for(arch)
        slo_s = SLO_SCALE * reference_latency_s(profile)
        out.extend(
            ModelSpec(f"{name}-{arch.name}-{i:04d}", slo_s, profile, arch.family)
            for i in range(n * each)
        )
    return tuple(out)


def run_point(name: str, count: int, devices: int, duration_s: float, workers: int) -> dict:
    """Solve one point in this process; the measurements as a dict."""
    from bench.placement import cluster, traffic
    from planner.deadline import Deadline
    from planner.placement.options import split_options
    from planner.placement.solve import solve
    from planner.sim import Instance

    models = models_like(name, count)
    workload = traffic(models, devices, 3.0, duration_s)
    options = {} if workers == 0 else {"workers": workers}
    sim, solving = split_options(options)
    instance = Instance(cluster(devices), models, workload, sim)
    before = _cpu_s()
    start = time.perf_counter()
    result = solve(instance, solver="greedy", deadline=Deadline.after(3600), options=solving)
    wall_s = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "wall_s": wall_s,
        "cpu_s": _cpu_s() - before,
        "peak_mib": max(own, workers_rss) / 1024,
        "attainment": result.attainment,
        "requests": workload.num_requests,
        "workers": solving.workers,
        **{key: result.stats.get(key) for key in BLOCK_STATS},
        "dropped": sum(
            int(m.group(1)) - int(m.group(2))
            for m in map(DROPPED.match, result.log)
            if m is not None
        ),
    }


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(
    tree: Path, name: str, count: int, devices: int, duration_s: float, workers: int, limit_s: float
) -> dict | None:
    """One point in a child process whose planner comes from ``tree``;
    None when it passes ``limit_s``."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--point",
        f"{name},{count},{devices},{duration_s},{workers}",
    ]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=limit_s, check=True
        )
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as error:
        raise RuntimeError(
            f"{tree}: point {name} {count}x{devices} failed:\n{error.stderr}"
        ) from None
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@contextmanager
def baseline_tree(given: str | None) -> Iterator[Path]:
    """The baseline's source tree: ``given``, or a temporary ``git
    worktree`` of :data:`BASELINE_COMMIT` removed on exit."""
    if given:
        yield Path(given)
        return
    with tempfile.TemporaryDirectory(prefix="meshplan-baseline-") as folder:
        tree = Path(folder) / "tree"
        git = ["git", "-C", str(ROOT)]
        subprocess.run(
            [*git, "worktree", "add", "--detach", str(tree), BASELINE_COMMIT],
            check=True,
            capture_output=True,
        )
        try:
            yield tree
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=False)


def _cell(point: dict | None, limit_s: float) -> str:
    if point is None:
        return f"{'>' + format(limit_s, 'g') + ' s':>9} {'':>7} {'':>7} {'':>8}"
    return (
        f"{point['wall_s']:>7.1f} s {point['cpu_s']:>5.1f} s {point['peak_mib']:>5.0f} M "
        f"{point['attainment']:>8.4f}"
    )


def curve(args: argparse.Namespace) -> None:
    sizes = QUICK_SIZES if args.quick else SIZES
    duration_s = 10.0 if args.quick else 30.0
    load = os.getloadavg()
    print(
        f"greedy scale curve, {duration_s:g} s workloads, {os.cpu_count()} CPUs, load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the start"
    )
    print(
        f"  {'set':3} {'size':>10} | {'new: wall':>9} {'cpu':>7} {'peak':>7} {'attain':>8} | "
        f"{'old: wall':>9} {'cpu':>7} {'peak':>7} {'attain':>8} | {'speed-up':>8} {'d attain':>8} | "
        "blocks total/solved/pruned by bound/ranked out (old: dropped unexamined)"
    )
    with baseline_tree(args.baseline) as old_tree:
        for tree in (ROOT, old_tree):  # compile or load each tree's simulator kernel
            measure(tree, "s1", 64, 32, 2.0, 1, args.limit)
        for name in args.sets.split(","):
            for count, devices in sizes:
                new = measure(ROOT, name, count, devices, duration_s, 0, args.limit)
                old = measure(old_tree, name, count, devices, duration_s, 2, args.limit)
                ratio = (
                    f"{old['wall_s'] / new['wall_s']:>7.2f}x"
                    if new and old
                    else f"{'>' if new else '?':>7} "
                )
                delta = (
                    f"{100 * (new['attainment'] - old['attainment']):>+7.2f}p"
                    if new and old
                    else f"{'':>8}"
                )
                blocks = ("/".join(str(new[k]) for k in BLOCK_STATS) if new else "-") + (
                    f" (old: {old['blocks_total']} examined, {old['dropped']} dropped)"
                    if old
                    else ""
                )
                print(
                    f"  {name:3} {count:>5}x{devices:<4} | {_cell(new, args.limit)} | "
                    f"{_cell(old, args.limit)} | {ratio} {delta} | {blocks}",
                    flush=True,
                )
    load = os.getloadavg()
    print(f"  load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="sizes up to 256 x 128, 10 s traffic")
    parser.add_argument("--sets", default="s1,s3", help="model sets, comma-separated")
    parser.add_argument("--limit", type=float, default=600.0, help="seconds per child run")
    parser.add_argument("--baseline", help="source tree of the baseline (default: a worktree)")
    parser.add_argument("--point", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.point:
        name, count, devices, duration_s, workers = args.point.split(",")
        point = run_point(name, int(count), int(devices), float(duration_s), int(workers))
        print(json.dumps(point))
        return
    curve(args)


if __name__ == "__main__":
    main()
