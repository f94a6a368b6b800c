"""Capacity benchmark: the fewest devices at which each strategy reaches a
target SLO attainment (:func:`planner.evaluation.devices.device_need`), the
question ``meshplan capacity`` answers, on the S3 model set.

The reference's S3 case needs 40 devices with its planner and 54 with
Clockwork++ (1.35x). Here: greedy (the planner's default solver), Selective
Replication (``sr``) and Clockwork++ are searched side by side on one
workload per row. Traffic is the placement benchmark's
(:func:`bench.placement.traffic`: Gamma arrivals, power-law popularity,
SLO 2.5x the reference latency, 20 GB per device) at a total rate of
``LOAD`` x the single-device throughput of ``DEMAND`` devices, so the
answers lie between one and ``MAX_DEVICES`` devices. Nodes of 4 devices
make the search's steps above one node 4 devices wide (nodes of 8 would
make them 8: with both, the granularity's effect on the answer is seen).

Prints, per row, each strategy's answer, the attainment of the counts
evaluated around it, and the ratio of each baseline's need to greedy's
(the reference's ratio for Clockwork++ is 1.35; > 1 means greedy needs
fewer devices). Attainment need not grow with devices (a solve cut short
by its time limit, marked ``*``, may score lower on a larger cluster); the
search's answer is then the smallest passing count it found. ``--quick`` runs shorter workloads with smaller limits.

Run: ``python -m bench.capacity [--quick]``.
"""

from __future__ import annotations

import argparse
import time

from bench.placement import MEMORY_BYTES, traffic
from planner.deadline import Deadline
from planner.domain import Cluster
from planner.evaluation.devices import DeviceNeed, device_need
from planner.profiles import model_set

STRATEGIES = ("greedy", "sr", "clockwork")
TARGET = 0.99
DEMAND = 24
"""The traffic's rate is sized for this many devices (see the docstring)."""
MAX_DEVICES = 96
SLO_SCALE = 2.5
REFERENCE_RATIO = 54 / 40
"""Clockwork++'s need over the planner's on the reference's S3 case."""


def row(need: DeviceNeed) -> list[str]:
    """One line per strategy: the answer and the points evaluated (``*``:
    the solve stopped at its time limit)."""
    lines = []
    greedy = need.answers[0].devices
    for answer in need.answers:
        points = ", ".join(
            f"{p.devices}: {p.attainment:.3f}{'*' if p.status == 'timeout' else ''}"
            for p in answer.points
        )
        ratio = (
            f"{answer.devices / greedy:.2f}x greedy"
            if answer.devices is not None and greedy is not None
            else "n/a"
        )
        lines.append(f"    {answer.strategy:10} {answer.describe():>22}  {ratio:>14}  [{points}]")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter workloads and limits")
    args = parser.parse_args(argv)
    duration_s = 10.0 if args.quick else 30.0
    limit_s = 120.0 if args.quick else 600.0
    models = model_set("s3", SLO_SCALE)
    print(
        f"fewest devices for {TARGET:.0%} attainment, S3 ({len(models)} models), traffic for "
        f"{DEMAND} devices, {duration_s:g} s workloads, up to {MAX_DEVICES} devices; "
        f"reference: Clockwork++ needs {REFERENCE_RATIO:.2f}x the planner's devices"
    )
    for per_node in (4, 8):
        for cv in (1.0, 4.0):
            workload = traffic(models, DEMAND, cv, duration_s)
            template = Cluster(per_node, MEMORY_BYTES, devices_per_node=per_node)
            start = time.perf_counter()
            need = device_need(
                STRATEGIES,
                template,
                models,
                workload,
                target=TARGET,
                max_devices=MAX_DEVICES,
                deadline=Deadline.after(limit_s),
            )
            wall_s = time.perf_counter() - start
            print(f"  nodes of {per_node}, CV {cv:g} ({wall_s:.0f} s):")
            print("\n".join(row(need)))


if __name__ == "__main__":
    main()
