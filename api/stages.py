"""The stage ranges a served plan carries: for each group of a placement and
each model it hosts, the layer ranges of the pipeline stages of the model's
:class:`planner.autoparallel.ParallelPlan` on the group's config, laid out
for the cluster's device memory and node size. Agents build these stages
instead of recomputing the split with their defaults."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from planner.autoparallel import Architecture, DeviceModel, plan_parallel
from planner.codec import decode
from planner.domain import ParallelConfig, Placement

Bounds = list[list[int]]


@functools.lru_cache(maxsize=1024)
def _bounds(
    arch: Architecture, config: ParallelConfig, devices_per_node: int, mem_bytes: int, batch: int
) -> tuple[tuple[int, int], ...] | None:
    try:
        plan = plan_parallel(
            arch, config, DeviceModel(devices_per_node=devices_per_node), mem_bytes, batch
        )
    except ValueError:
        return None
    return plan.bounds()


def stage_ranges(
    placement: Placement,
    models: Mapping[str, Mapping[str, Any]],
    device_mem_bytes: int,
    devices_per_node: int,
) -> list[dict[str, Bounds]]:
    """Per group of ``placement``, ``{model: [[start, end], ...]}`` for each
    hosted model whose snapshot in ``models`` (a plan's ``models``) has an
    architecture that fits the group; others are left out (agents lay those
    out themselves)."""
    ranges: list[dict[str, Bounds]] = []
    for group in placement.groups:
        found: dict[str, Bounds] = {}
        for name in group.models:
            info = models.get(name) or {}
            if info.get("architecture") is None:
                continue
            try:
                arch = decode(Architecture, info["architecture"], f"models.{name}.architecture")
            except ValueError:
                continue
            bounds = _bounds(
                arch, group.config, devices_per_node, device_mem_bytes, int(info["max_batch"])
            )
            if bounds is not None:
                found[name] = [list(pair) for pair in bounds]
        ranges.append(found)
    return ranges
