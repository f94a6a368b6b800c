"""Candidate group types ("columns") of the partition master: a parallel
config and the set of models a group of that config hosts.

Identical groups are one column with an integer count in the master
(:mod:`planner.placement.master`), so the master has no symmetry between
groups. Every column fits device memory exactly as the validator counts it
(per stage: the hosted models' stage weights plus the largest activation
workspace), so the master needs no memory constraint.

The pool: on tiny instances every fitting ``(config, model set)``
(:data:`EXHAUSTIVE_COLUMNS` at most: the master is then exact over every
partition, config and replica set); otherwise the seed's groups, each model
alone on its cheapest usable configs, and for every config the models packed in
order of rate (highest first, and high with low alternating) into
consecutive groups that fill memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from planner.domain import ParallelConfig
from planner.placement.greedy import ReplicaTable
from planner.placement.scoring import Layout

EXHAUSTIVE_COLUMNS = 4096
"""Largest pool enumerated exhaustively."""


@dataclass(frozen=True, order=True)
class Column:
    """A group type: ``config`` hosting ``models`` (sorted model indices)."""

    config: ParallelConfig
    models: tuple[int, ...]


def fits(table: ReplicaTable, config: ParallelConfig, models: Sequence[int]) -> bool:
    """Every model is usable on ``config`` and together they fit a device
    of every stage (the validator's memory model)."""
    chosen = list(models)
    if not chosen:
        return True
    if not table.usable[config][chosen].all():
        return False
    used = table.weights[config][chosen].sum(axis=0).max() + table.workspace[config][chosen].max()
    return bool(used <= table.memory_bytes)


def layout_columns(layout: Layout) -> list[Column]:
    """The columns of a layout's groups (one per distinct group)."""
    return sorted({Column(c, h) for c, h in zip(layout.configs, layout.hosted, strict=True) if h})


def surely_fitting(table: ReplicaTable, config: ParallelConfig, usable: Sequence[int]) -> int:
    """Count of the non-empty sets of ``usable`` models that fit ``config``
    for sure, without enumerating them: any ``k`` of them fit when ``k``
    times the largest stage weight plus the largest workspace fits a
    device (so every set of at most ``k`` models is a column)."""
    if not usable:
        return 0
    chosen = list(usable)
    spare = table.memory_bytes - int(table.workspace[config][chosen].max())
    heaviest = int(table.weights[config][chosen].max())
    k = len(chosen) if heaviest <= 0 else min(len(chosen), max(0, spare) // heaviest)
    return sum(math.comb(len(chosen), j) for j in range(1, k + 1))


def exhaustive(
    table: ReplicaTable, configs: Sequence[ParallelConfig], models: Sequence[int]
) -> list[Column] | None:
    """Every fitting non-empty model set per config, or None when there are
    more than :data:`EXHAUSTIVE_COLUMNS` (known without enumerating when
    :func:`surely_fitting` says so)."""
    usable_by_config = {c: [m for m in models if table.usable[c][m]] for c in configs}
    if sum(surely_fitting(table, c, usable_by_config[c]) for c in configs) > EXHAUSTIVE_COLUMNS:
        return None
    found: list[Column] = []
    for config in configs:
        usable = usable_by_config[config]
        frontier: list[tuple[int, ...]] = [()]
        while frontier:
            grown = []
            for subset in frontier:
                start = usable.index(subset[-1]) + 1 if subset else 0
                for m in usable[start:]:
                    candidate = (*subset, m)
                    if fits(table, config, candidate):
                        grown.append(candidate)
                        found.append(Column(config, candidate))
                        if len(found) > EXHAUSTIVE_COLUMNS:
                            return None
            frontier = grown
    return found


def packed(table: ReplicaTable, config: ParallelConfig, order: Iterable[int]) -> list[Column]:
    """``order``'s usable models cut into consecutive groups that fit
    (:func:`fits`, with the current group's stage weights and largest
    workspace kept as running totals)."""
    weights, workspace = table.weights[config], table.workspace[config]
    chunks: list[Column] = []
    current: list[int] = []
    stages = np.zeros(config.pp, dtype=np.int64)
    largest = 0
    for m in order:
        if not table.usable[config][m]:
            continue
        grown = stages + weights[m]
        widest = max(largest, int(workspace[m]))
        if int(grown.max()) + widest <= table.memory_bytes:
            current.append(m)
            stages, largest = grown, widest
            continue
        if current:
            chunks.append(Column(config, tuple(sorted(current))))
        current, stages, largest = [m], weights[m].copy(), int(workspace[m])
    if current:
        chunks.append(Column(config, tuple(sorted(current))))
    return chunks


def alternating(order: Sequence[int]) -> list[int]:
    """``order`` taken from both ends in turn: first, last, second, ..."""
    out: list[int] = []
    low, high = 0, len(order) - 1
    while low <= high:
        out.append(order[low])
        if low < high:
            out.append(order[high])
        low, high = low + 1, high - 1
    return out


def column_pool(
    table: ReplicaTable,
    configs: Sequence[ParallelConfig],
    models: Sequence[int],
    rates: Sequence[float],
    seed: Iterable[Column] = (),
    alone: Mapping[int, Sequence[ParallelConfig]] | None = None,
) -> tuple[list[Column], bool]:
    """The pool (module docstring) for ``models`` (indices) on ``configs``
    and whether it is exhaustive; ``rates`` are every model's request rates;
    ``alone`` limits the configs on which a model gets a column of its own
    (default: every usable one)."""
    complete = exhaustive(table, configs, models)
    if complete is not None:
        return sorted(set(complete) | set(seed)), True
    pool = set(seed)
    by_rate = sorted(models, key=lambda m: (-rates[m], m))
    for config in configs:
        pool.update(
            Column(config, (m,))
            for m in models
            if table.usable[config][m] and (alone is None or config in alone[m])
        )
        pool.update(packed(table, config, by_rate))
        pool.update(packed(table, config, alternating(by_rate)))
    return sorted(pool), False
