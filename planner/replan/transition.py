"""Moving from one placement to the next: what a switch costs and which part
of a new placement is worth moving to.

The simulator's switch semantics (:mod:`planner.sim`): a group with
the same devices and config in both placements keeps its state and the
replicas it keeps; the models newly added to it load one after another in
``group.models`` order, each taking ``cluster.load_time_s(weight bytes per
device)``; any other group is new and loads all its models that way. A
replica serves nothing until it is loaded.

- :func:`switch_cost` counts that cost for a switch.
- :func:`align` renames the groups of a freshly solved placement so that it
  keeps as many replicas in place as possible (groups of one config may
  trade device sets) and orders each group's new models most requested
  first, so the busiest replicas load first.
- :func:`switch_blocks` cuts a switch into independent *blocks*: sets of old
  and new groups over the same devices. Any mix of blocks, old or new, is a
  valid placement.
- :func:`swap_in` lists the placements that host one more model by
  changing a single group: the model added, the group's least requested
  models evicted until it fits memory (a reaction's cheap move: one load).
- :func:`choose_transition` starts from the old placement and switches, one
  block at a time, the block (or all remaining blocks at once) that most
  raises the attainment a :class:`TransitionJudge` simulates for the switch,
  load time included; it stops when nothing improves, and keeps the old
  placement unless the result beats it by ``min_gain``. A replica therefore
  moves only when moving pays for its lost service.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planner.domain import Cluster, Group, ModelSpec, ParallelConfig, Placement, TimedPlan, Workload
from planner.sim import Instance, compile_case
from planner.validation import models_by_name, stage_memory_bytes
from planner.workloads.windows import into_horizon

LEAD_S = 1.0
"""A judged switch happens this long after the start of an empty lead-in,
before the judged requests (which are shifted by it)."""


@dataclass(frozen=True)
class SwitchCost:
    """The cost of one or more switches: replicas loaded, the sum of their
    load times (s), and the replica-seconds of lost service (for each loaded
    replica, the seconds from its switch until it serves; loads on one group
    queue behind each other)."""

    replicas_loaded: int = 0
    load_s: float = 0.0
    lost_replica_s: float = 0.0

    def __add__(self, other: SwitchCost) -> SwitchCost:
        return SwitchCost(
            self.replicas_loaded + other.replicas_loaded,
            self.load_s + other.load_s,
            self.lost_replica_s + other.lost_replica_s,
        )


GroupKey = tuple[tuple[int, ...], ParallelConfig]


def _hosted(placement: Placement) -> dict[GroupKey, set[str]]:
    return {(g.devices, g.config): set(g.models) for g in placement.groups}


def switch_cost(
    cluster: Cluster,
    models: Sequence[ModelSpec] | Mapping[str, ModelSpec],
    before: Placement,
    after: Placement,
) -> SwitchCost:
    """What switching from ``before`` to ``after`` costs (module docstring)."""
    index = models if isinstance(models, Mapping) else models_by_name(models)
    kept = _hosted(before)
    loaded, load_s, lost_s = 0, 0.0, 0.0
    for group in after.groups:
        previous = kept.get((group.devices, group.config), set())
        elapsed_s = 0.0
        for name in group.models:
            if name in previous:
                continue
            seconds = cluster.load_time_s(index[name].profile[group.config].weight_bytes)
            elapsed_s += seconds
            loaded += 1
            load_s += seconds
            lost_s += elapsed_s
    return SwitchCost(loaded, load_s, lost_s)


def align(before: Placement, after: Placement, weight: Mapping[str, float]) -> Placement:
    """``after`` with the device sets of its groups permuted among groups of
    the same config so that the most replicas stay where ``before`` has them
    (greedy: largest overlap first, ties to the lowest group and device
    set), and each group's models listed kept ones first (in ``after``'s
    order), then new ones by descending ``weight`` (ties by name); groups
    ordered by their first device. Groups keep their configs and models;
    only where they sit and the load order change."""
    kept = _hosted(before)
    devices = [group.devices for group in after.groups]
    by_config: dict[ParallelConfig, list[int]] = {}
    for g, group in enumerate(after.groups):
        by_config.setdefault(group.config, []).append(g)
    for config, members in by_config.items():
        slots = [after.groups[g].devices for g in members]
        overlap = [
            (
                -len(set(after.groups[g].models) & kept.get((slot, config), set())),
                i,
                s,
            )
            for i, g in enumerate(members)
            for s, slot in enumerate(slots)
        ]
        taken_groups: set[int] = set()
        taken_slots: set[int] = set()
        for _, i, s in sorted(overlap):
            if i in taken_groups or s in taken_slots:
                continue
            devices[members[i]] = slots[s]
            taken_groups.add(i)
            taken_slots.add(s)
    groups = []
    for group, devs in zip(after.groups, devices, strict=True):
        previous = kept.get((devs, group.config), set())
        stay = [name for name in group.models if name in previous]
        new = sorted(
            (name for name in group.models if name not in previous),
            key=lambda name: (-weight.get(name, 0.0), name),
        )
        groups.append(Group(devs, group.config, (*stay, *new)))
    return Placement(tuple(sorted(groups, key=lambda group: group.devices[0])))


@dataclass(frozen=True)
class Block:
    """Groups of the old placement (``before``, indices) and of the new one
    (``after``) that share devices with each other and with no other group."""

    before: tuple[int, ...]
    after: tuple[int, ...]


def switch_blocks(before: Placement, after: Placement) -> tuple[Block, ...]:
    """The blocks of a switch in which something changes, ordered by their
    lowest device."""
    nodes = [("b", i) for i in range(len(before.groups))]
    nodes += [("a", j) for j in range(len(after.groups))]
    parent = list(range(len(nodes)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    owner: dict[int, int] = {}
    for n, (side, g) in enumerate(nodes):
        groups = before.groups if side == "b" else after.groups
        for device in groups[g].devices:
            if device in owner:
                parent[root(n)] = root(owner[device])
            else:
                owner[device] = n
    members: dict[int, list[int]] = {}
    for n in range(len(nodes)):
        members.setdefault(root(n), []).append(n)
    blocks = []
    for group_nodes in members.values():
        old = tuple(g for side, g in (nodes[n] for n in group_nodes) if side == "b")
        new = tuple(g for side, g in (nodes[n] for n in group_nodes) if side == "a")
        same = len(old) == len(new) and all(
            _same_group(before.groups[i], after.groups[j]) for i, j in zip(old, new, strict=True)
        )
        if not same:
            blocks.append(Block(old, new))
    return tuple(sorted(blocks, key=lambda b: _lowest_device(before, after, b)))


def _same_group(a: Group, b: Group) -> bool:
    return a.devices == b.devices and a.config == b.config and set(a.models) == set(b.models)


def _lowest_device(before: Placement, after: Placement, block: Block) -> int:
    devices = [d for g in block.before for d in before.groups[g].devices]
    devices += [d for g in block.after for d in after.groups[g].devices]
    return min(devices)


def mix(
    before: Placement, after: Placement, blocks: Sequence[Block], switched: frozenset[int]
) -> Placement:
    """``before`` with the blocks whose indices are in ``switched`` replaced
    by their groups of ``after``; groups ordered by their first device."""
    if not switched:
        return before
    dropped = {g for b in switched for g in blocks[b].before}
    groups = [group for g, group in enumerate(before.groups) if g not in dropped]
    groups += [after.groups[g] for b in sorted(switched) for g in blocks[b].after]
    return Placement(tuple(sorted(groups, key=lambda group: group.devices[0])))


def swap_in(
    cluster: Cluster,
    models: Sequence[ModelSpec],
    placement: Placement,
    model: str,
    rates: Mapping[str, float],
) -> tuple[tuple[int, Placement], ...]:
    """``(group index, placement)`` for each group of ``placement`` that
    can take ``model``: its profile has the group's config, and with
    ``model`` added (loading last) the group fits device memory once its
    hosted models of lowest ``rates`` (requests/s; ties by name) are
    evicted. The other models of the group stay loaded and in order."""
    index = models_by_name(models)
    found = []
    for g, group in enumerate(placement.groups):
        if group.config not in index[model].profile or model in group.models:
            continue
        evictable = sorted(group.models, key=lambda name: (rates.get(name, 0.0), name))
        kept = list(group.models)
        while True:
            changed = group.with_models([*kept, model])
            if max(stage_memory_bytes(changed, index)) <= cluster.device_mem_bytes:
                groups = list(placement.groups)
                groups[g] = changed
                found.append((g, Placement(tuple(groups))))
                break
            if not evictable:
                break
            kept.remove(evictable.pop(0))
    return tuple(found)


def fill_spare(
    cluster: Cluster,
    models: Sequence[ModelSpec],
    placement: Placement,
    rates: Mapping[str, float],
) -> Placement:
    """``placement`` with every model it does not host added, highest
    ``rates`` first (ties by name), to the first group that holds it
    without evicting anything (:func:`swap_in`); a model that fits
    nowhere stays out. Hosting a model that may turn hot costs only memory
    that would otherwise stay empty."""
    missing = sorted(
        (m.name for m in models if m.name not in placement.model_names),
        key=lambda name: (-rates.get(name, 0.0), name),
    )
    for name in missing:
        for g, swapped in swap_in(cluster, models, placement, name, rates):
            if set(placement.groups[g].models) <= set(swapped.groups[g].models):
                placement = swapped
                break
    return placement


class TransitionJudge:
    """Scores a switch by simulation: the requests of the instance's
    workload (times relative to the switch) are served by ``after``, with the
    replicas that a switch from ``before`` loads unavailable while they load."""

    def __init__(self, instance: Instance) -> None:
        workload = instance.workload
        shifted = Workload(
            into_horizon(workload.arrivals_s + LEAD_S, workload.duration_s + LEAD_S),
            workload.model_ids,
            workload.model_names,
            workload.duration_s + LEAD_S,
        )
        self.case = compile_case(dataclasses.replace(instance, workload=shifted))
        self.simulations = 0

    def attainment(self, before: Placement, after: Placement) -> float:
        """Attainment of the judged requests when switching from ``before``
        to ``after`` at their start (no switch when equal)."""
        if after == before:
            self.simulations += 1
            return self.case.attainment(before)
        return self.replay(before, ((0.0, after),))

    def replay(self, before: Placement, moves: Sequence[tuple[float, Placement]]) -> float:
        """Attainment of the judged requests when ``before`` serves until
        the first move and each move ``(at_s, placement)`` (seconds from the
        judged traffic's start, increasing, the first at 0) switches to its
        placement, with the replicas it loads unavailable while they load."""
        self.simulations += 1
        steps = ((0.0, before), *((LEAD_S + at_s, placement) for at_s, placement in moves))
        return self.case.attainment(TimedPlan(steps))


@dataclass(frozen=True)
class Transition:
    """The placement chosen, and the judged attainment of keeping
    ``before``, of the choice and of switching to the whole target."""

    placement: Placement
    keep_attainment: float
    attainment: float
    target_attainment: float
    blocks: int
    switched_blocks: int

    @property
    def switched(self) -> bool:
        return self.switched_blocks > 0


def choose_transition(
    judge: TransitionJudge, before: Placement, target: Placement, min_gain: float = 0.0
) -> Transition:
    """Switch blocks of ``target`` greedily while the judged attainment
    rises (module docstring); keep ``before`` unless the choice gains more
    than ``min_gain`` (a fraction of the judged requests)."""
    blocks = switch_blocks(before, target)
    keep = judge.attainment(before, before)
    everything = frozenset(range(len(blocks)))
    full = judge.attainment(before, mix(before, target, blocks, everything)) if blocks else keep
    switched: frozenset[int] = frozenset()
    score = keep
    while len(switched) < len(blocks):
        remaining = sorted(everything - switched)
        options = [frozenset({b}) for b in remaining]
        if len(remaining) > 1:
            options.append(everything - switched)
        best_score, best = score, frozenset[int]()
        for option in options:
            value = (
                full
                if option | switched == everything
                else judge.attainment(before, mix(before, target, blocks, switched | option))
            )
            if value > best_score:
                best_score, best = value, option
        if not best:
            break
        switched |= best
        score = best_score
    if score <= keep + min_gain:
        return Transition(before, keep, keep, full, len(blocks), 0)
    return Transition(
        mix(before, target, blocks, switched), keep, score, full, len(blocks), len(switched)
    )
