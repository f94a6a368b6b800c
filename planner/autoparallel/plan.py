"""Parallel plans: the intra-op sharding choice and the inter-op stage split
of one architecture under one :class:`ParallelConfig`, and their conversion
to the planner's :class:`Profile`.

:func:`plan_parallel` tries the candidate sharding rules best first (by
summed layer latency at ``ref_batch``, :func:`rank_rules`) and keeps the
first whose optimal ``pp``-stage split fits the memory budget. The split
minimises the slowest stage at ``ref_batch``; the stage latencies for every
batch size ``b`` are then ``sum of its layers' latency at b`` plus, for
every stage but the last, the hand-off of one activation (``p b s h`` bytes)
to the next stage: ``latency + bytes / bandwidth``, over the inter-node
network when the boundary crosses a node (groups are node-aligned, so the
boundary after stage ``k`` crosses one when the group spans several nodes
and ``(k + 1) * op`` is a multiple of ``devices_per_node``), else over the
intra-node link. Each device of a stage sends to its peer in the next
stage, in parallel.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from planner.autoparallel.architecture import Architecture, layer_names
from planner.autoparallel.costs import layer_costs, rank_rules
from planner.autoparallel.device import DEFAULT_MEM_BUDGET_BYTES, DeviceModel
from planner.autoparallel.problem import SplitProblem, StageSplit, validate_split
from planner.autoparallel.sharding import ShardingRules, strategies
from planner.autoparallel.split import split_stages
from planner.autoparallel.timings import LayerTimings
from planner.codec import encode
from planner.domain import ParallelConfig, Profile, StageProfile

DEGREES = (1, 2, 4, 8)
"""The op and pp degrees enumerated for every model."""


class DoesNotFit(ValueError):
    """No sharding and stage split of the model fits the memory budget."""


@dataclass(frozen=True)
class StagePlan:
    """One pipeline stage: layers ``[start, end)`` of :func:`layer_names`;
    ``latency_s[b - 1]`` seconds for a batch of ``b`` (hand-off to the next
    stage included); ``weight_bytes`` per device; ``act_bytes`` workspace
    per device per batch item."""

    start: int
    end: int
    latency_s: tuple[float, ...]
    weight_bytes: int
    act_bytes: int


@dataclass(frozen=True)
class ParallelPlan:
    """How ``arch`` runs on an ``op x pp`` group: the stages in order and the
    sharding ``rules`` every stage applies to its ``op`` devices."""

    arch: Architecture
    config: ParallelConfig
    stages: tuple[StagePlan, ...]
    rules: ShardingRules

    @property
    def max_batch(self) -> int:
        return len(self.stages[0].latency_s)

    def bounds(self) -> tuple[tuple[int, int], ...]:
        """The layer range ``[start, end)`` of each stage."""
        return tuple((stage.start, stage.end) for stage in self.stages)

    def stage_layers(self, stage: int) -> tuple[str, ...]:
        """Names of the layers stage ``stage`` runs."""
        plan = self.stages[stage]
        return layer_names(self.arch)[plan.start : plan.end]

    def latency_s(self, batch: int) -> float:
        """End-to-end seconds of one batch of ``batch`` through the idle pipeline."""
        return sum(stage.latency_s[batch - 1] for stage in self.stages)

    def strategies(self) -> dict[str, str]:
        """The sharding strategy of each layer type (see :func:`strategies`)."""
        return strategies(self.arch, self.rules)

    def to_json(self) -> dict[str, Any]:
        names = layer_names(self.arch)
        return {
            "arch": encode(self.arch),
            "config": encode(self.config),
            "rules": encode(self.rules),
            "strategies": self.strategies(),
            "stages": [
                {
                    "start": s.start,
                    "end": s.end,
                    "layers": [names[s.start], names[s.end - 1]],
                    "latency_s": list(s.latency_s),
                    "weight_bytes": s.weight_bytes,
                    "act_bytes": s.act_bytes,
                }
                for s in self.stages
            ],
        }


def handoff_s(
    arch: Architecture, config: ParallelConfig, batch: int, device: DeviceModel
) -> tuple[float, ...]:
    """Seconds of the hand-off after each stage but the last (module docstring)."""
    nbytes = arch.dtype_bytes * batch * arch.seq_len * arch.hidden
    spans_nodes = config.size > device.devices_per_node
    return tuple(
        device.send_s(nbytes, spans_nodes and (k + 1) * config.op % device.devices_per_node == 0)
        for k in range(config.pp - 1)
    )


def _latency_table(
    arch: Architecture,
    rules: ShardingRules,
    op: int,
    max_batch: int,
    device: DeviceModel,
    timings: LayerTimings | None,
) -> Sequence[Sequence[float]]:
    if timings is None:
        return [
            [c.latency_s for c in layer_costs(arch, rules, op, b, device)]
            for b in range(1, max_batch + 1)
        ]
    return timings.table(op, max_batch)


def plan_parallel(
    arch: Architecture,
    config: ParallelConfig,
    device: DeviceModel | None = None,
    mem_budget_bytes: int = DEFAULT_MEM_BUDGET_BYTES,
    max_batch: int = 8,
    *,
    timings: LayerTimings | None = None,
    ref_batch: int = 1,
    split: Sequence[tuple[int, int]] | None = None,
) -> ParallelPlan:
    """The plan of ``arch`` on ``config`` with each device's weights plus
    ``max_batch`` activation workspaces within ``mem_budget_bytes``.
    Layer latencies come from ``timings`` (measured, for ``config.op``) when
    given, else from the analytic cost model; the sharding candidates are
    ranked by the analytic model either way. ``split`` (the layer range
    ``[start, end)`` of each stage) fixes the stages instead of the optimal
    split; it must cover the layers in order and fit like any split. Raises :class:`DoesNotFit` (a
    ValueError) when nothing fits, ValueError for a config the device model
    cannot host (``op`` beyond one node, ``pp`` beyond the layer count)."""
    device = device or DeviceModel()
    names = layer_names(arch)
    if config.op > device.devices_per_node:
        raise ValueError(
            f"config.op: {config.op} devices exceed one node ({device.devices_per_node} devices)"
        )
    if config.pp > len(names):
        raise ValueError(
            f"config.pp: cannot split {len(names)} layers into {config.pp} stages (pp <= layers)"
        )
    if not 1 <= ref_batch <= max_batch:
        raise ValueError(f"ref_batch: must be in 1..{max_batch}, got {ref_batch}")
    if timings is not None and timings.layers != names:
        raise ValueError(f"timings.layers: must be {list(names)}, got {list(timings.layers)}")
    handoffs = [handoff_s(arch, config, b, device) for b in range(1, max_batch + 1)]
    reasons = []
    for rules in rank_rules(arch, config.op, device, ref_batch):
        costs = layer_costs(arch, rules, config.op, ref_batch, device)
        table = _latency_table(arch, rules, config.op, max_batch, device, timings)
        try:
            problem = SplitProblem(
                latency_s=tuple(table[ref_batch - 1]),
                weight_bytes=tuple(c.weight_bytes for c in costs),
                pp=config.pp,
                mem_cap_bytes=mem_budget_bytes,
                act_bytes=tuple(c.act_bytes for c in costs),
                handoff_s=handoffs[ref_batch - 1],
                max_batch=max_batch,
                names=names,
            )
            chosen = split_stages(problem) if split is None else _given(problem, split)
        except ValueError as error:
            reasons.append(f"{rules.sharded or 'replicated'}: {error}")
            continue
        return ParallelPlan(arch, config, _stages(problem, chosen, table, handoffs), rules)
    others = f" (and {len(reasons) - 1} other shardings)" if len(reasons) > 1 else ""
    raise DoesNotFit(
        f"mem_budget_bytes: {arch.name or arch.family} on {config} does not fit "
        f"{mem_budget_bytes} bytes per device; best sharding {reasons[0]}{others}"
    )


def _given(problem: SplitProblem, bounds: Sequence[tuple[int, int]]) -> StageSplit:
    """``bounds`` as a split of ``problem``, checked by :func:`validate_split`."""
    chosen = StageSplit.from_starts(problem, [start for start, _ in bounds])
    if chosen.bounds != tuple(tuple(pair) for pair in bounds):
        raise ValueError(
            f"split: {list(bounds)} are not adjacent ranges covering layers "
            f"[0, {problem.num_layers})"
        )
    validate_split(problem, chosen)
    return chosen


def _stages(
    problem: SplitProblem,
    split: StageSplit,
    table: Sequence[Sequence[float]],
    handoffs: Sequence[tuple[float, ...]],
) -> tuple[StagePlan, ...]:
    last = len(split.bounds) - 1
    return tuple(
        StagePlan(
            start=start,
            end=end,
            latency_s=tuple(
                sum(row[start:end]) + (hand[k] if k < last else 0.0)
                for row, hand in zip(table, handoffs, strict=True)
            ),
            weight_bytes=sum(problem.weight_bytes[start:end]),
            act_bytes=max(problem.act_bytes[start:end]),
        )
        for k, (start, end) in enumerate(split.bounds)
    )


def plan_configs(
    arch: Architecture,
    max_group_size: int = 64,
    device: DeviceModel | None = None,
    mem_budget_bytes: int = DEFAULT_MEM_BUDGET_BYTES,
    max_batch: int = 8,
    *,
    timings: LayerTimings | None = None,
) -> dict[ParallelConfig, ParallelPlan]:
    """Plans for every ``op, pp`` in :data:`DEGREES` with ``op * pp <=
    max_group_size``, ``op`` within a node and ``pp`` at most the layer
    count, that fit the budget; ordered by config."""
    device = device or DeviceModel()
    plans = {}
    for op in DEGREES:
        for pp in DEGREES:
            config = ParallelConfig(op, pp)
            if (
                config.size > max_group_size
                or op > device.devices_per_node
                or pp > arch.num_layers + 1
            ):
                continue
            try:
                plans[config] = plan_parallel(
                    arch, config, device, mem_budget_bytes, max_batch, timings=timings
                )
            except DoesNotFit:
                continue
    return dict(sorted(plans.items()))


def enumerate_configs(
    arch: Architecture,
    max_group_size: int = 64,
    device: DeviceModel | None = None,
    mem_budget_bytes: int = DEFAULT_MEM_BUDGET_BYTES,
    max_batch: int = 8,
) -> tuple[ParallelConfig, ...]:
    """The configs :func:`plan_configs` finds feasible."""
    return tuple(plan_configs(arch, max_group_size, device, mem_budget_bytes, max_batch))


def to_profile(plans: Iterable[ParallelPlan]) -> Profile:
    """The planner's profile of a model from its plans (one per config):
    ``latency_s[b - 1][s]``, ``stage_weight_bytes[s]`` and ``act_bytes``
    (the largest stage workspace per batch item)."""
    by_config = {}
    for plan in plans:
        if plan.config in by_config:
            raise ValueError(f"plans: {plan.config} appears twice")
        by_config[plan.config] = StageProfile(
            latency_s=tuple(
                tuple(stage.latency_s[b] for stage in plan.stages) for b in range(plan.max_batch)
            ),
            stage_weight_bytes=tuple(stage.weight_bytes for stage in plan.stages),
            act_bytes=max(stage.act_bytes for stage in plan.stages),
        )
    return Profile(by_config)
