"""Cheap, repeated scoring of candidate placements with the simulator.

A search tries many placements that differ in one replica. Groups interact
only through the models they share (a request of model ``m`` can only go to
a group hosting ``m``), so the simulation splits exactly into *components*:
sets of groups connected through shared models, each served by the requests
of its own models. :class:`Scorer` simulates one set of groups against only
the requests of the models they host, and returns served counts per model;
a search keeps per-model counts and re-simulates only the component a move
touches. Results equal a full simulation because the groups keep their
relative order (the simulator breaks dispatch ties by group order) and the
requests keep theirs.

A search state is a :class:`Layout`: a parallel config and the hosted model
indices (into the model set) per group; device numbers do not matter to the
simulator and are assigned when a layout becomes a :class:`Placement`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.domain import Group, ModelSpec, ParallelConfig, Placement
from planner.sim import CompiledPlan, CompiledWorkload, Instance, Outcome, compile_case
from planner.sim.fast import KERNELS

Counts = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Layout:
    """Groups as ``configs[g]`` and ``hosted[g]`` (sorted model indices)."""

    configs: tuple[ParallelConfig, ...]
    hosted: tuple[tuple[int, ...], ...]

    @classmethod
    def empty(cls, configs: Sequence[ParallelConfig]) -> Layout:
        return cls(tuple(configs), tuple(() for _ in configs))

    def add(self, model: int, group: int) -> Layout:
        """This layout with one more replica of ``model`` on ``group``."""
        hosted = list(self.hosted)
        hosted[group] = tuple(sorted((*hosted[group], model)))
        return Layout(self.configs, tuple(hosted))

    @property
    def num_replicas(self) -> int:
        return sum(len(h) for h in self.hosted)

    def groups_of(self, model: int) -> tuple[int, ...]:
        return tuple(g for g, h in enumerate(self.hosted) if model in h)

    def component(self, seeds: Iterable[int]) -> tuple[int, ...]:
        """Groups connected to the ``seeds`` groups through shared models,
        in group order (time linear in the number of replicas)."""
        groups_of: dict[int, list[int]] = {}
        for g, hosted in enumerate(self.hosted):
            for model in hosted:
                groups_of.setdefault(model, []).append(g)
        seen = set(seeds)
        frontier = list(seen)
        reached: set[int] = set()
        while frontier:
            g = frontier.pop()
            for model in self.hosted[g]:
                if model in reached:
                    continue
                reached.add(model)
                for other in groups_of[model]:
                    if other not in seen:
                        seen.add(other)
                        frontier.append(other)
        return tuple(sorted(seen))


def layout_placement(
    layout: Layout, devices: Sequence[tuple[int, ...]], models: Sequence[ModelSpec]
) -> Placement:
    """The placement of ``layout`` with group ``g`` on ``devices[g]``."""
    return Placement(
        tuple(
            Group(devs, config, tuple(models[j].name for j in hosted))
            for devs, config, hosted in zip(devices, layout.configs, layout.hosted, strict=True)
        )
    )


def stand_in_devices(configs: Sequence[ParallelConfig]) -> tuple[tuple[int, ...], ...]:
    """Consecutive device numbers per group: enough for the simulator, which
    ignores where a group sits."""
    out = []
    start = 0
    for config in configs:
        out.append(tuple(range(start, start + config.size)))
        start += config.size
    return tuple(out)


class Scorer:
    """Served-request counts of layouts on one instance (fast engine).

    ``demand[j]`` is the number of scored requests of model ``j``; counts
    returned are scored requests served within their SLO. ``simulations``
    and ``simulated_requests`` count the work done."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self._kernel = KERNELS[instance.options.policy]
        self.case = compile_case(instance)
        work = self.case.work
        self._work = work
        size = len(instance.models)
        order = np.argsort(work.model, kind="stable")
        bounds = np.searchsorted(work.model[order], np.arange(size + 1))
        self._requests = [order[bounds[j] : bounds[j + 1]] for j in range(size)]
        self.demand: Counts = np.bincount(work.model[work.scored], minlength=size).astype(np.int64)
        self.total_demand = int(self.demand.sum())
        self._tables: dict[
            ParallelConfig, tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]
        ] = {}
        self.simulations = 0
        self.simulated_requests = 0

    @property
    def num_models(self) -> int:
        return len(self.instance.models)

    def served(self, layout: Layout, groups: Sequence[int] | None = None) -> Counts:
        """Served counts per model when only ``groups`` (default: all) of the
        layout serve the requests of the models they host; models hosted by
        no group in ``groups`` get 0. Exact for a union of components."""
        chosen = range(len(layout.configs)) if groups is None else sorted(groups)
        configs = [layout.configs[g] for g in chosen]
        hosted = [layout.hosted[g] for g in chosen]
        counts = np.zeros(self.num_models, dtype=np.int64)
        present = sorted({j for h in hosted for j in h})
        if not present:
            return counts
        plan = self.compile_layout(Layout(tuple(configs), tuple(hosted)))
        sub_work = self._requests_of(present)
        outcome = self._kernel(plan, sub_work).outcome
        good = sub_work.scored & (outcome == Outcome.SERVED)
        counts += np.bincount(sub_work.model[good], minlength=self.num_models)
        self.simulations += 1
        self.simulated_requests += int(sub_work.arrival_s.size)
        return counts

    def compile_layout(self, layout: Layout) -> CompiledPlan:
        """The simulator's compiled form of the layout as a one-step plan,
        built from cached per-config latency tables: the arrays equal those
        of :func:`planner.sim.compile_plan` on the layout's placement
        (``slots`` is left empty: the engines do not read it)."""
        slot = np.array([g for g, h in enumerate(layout.hosted) for _ in h], dtype=np.int32)
        model = np.array([j for h in layout.hosted for j in h], dtype=np.int32)
        distinct = sorted(set(layout.configs))
        group_config = np.array([distinct.index(c) for c in layout.configs], dtype=np.int32)
        config_of = group_config[slot]
        caps = np.zeros(model.size, dtype=np.int32)
        for k, config in enumerate(distinct):
            rows = np.flatnonzero(config_of == k)
            caps[rows] = self._latency_table(config)[1][model[rows]]
        max_pp = max((c.pp for c in layout.configs), default=1)
        latency = np.zeros((model.size, int(caps.max(initial=1)), max_pp))
        for k, config in enumerate(distinct):
            rows = np.flatnonzero(config_of == k)
            table = self._latency_table(config)[0][model[rows], : latency.shape[1]]
            latency[rows, : table.shape[1], : config.pp] = table
        counts = np.bincount(model, minlength=self.num_models)
        return CompiledPlan(
            step_start_s=np.zeros(1),
            cand_ptr=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
            cand_replica=np.lexsort((slot, model)).astype(np.int32),
            cand_available_s=np.zeros(model.size),
            replica_slot=slot,
            replica_cap=caps,
            replica_latency_s=latency,
            slot_pp=np.array([c.pp for c in layout.configs], dtype=np.int32),
            slot_start_s=np.zeros(len(layout.configs)),
            slots=(),
        )

    def _latency_table(
        self, config: ParallelConfig
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]:
        """Per model under ``config``: ``latency_s[b - 1][s]`` for batch sizes
        up to its cap (zero beyond it and for unprofiled models), and the cap
        ``min(max_batch, profile max_batch)``."""
        found = self._tables.get(config)
        if found is None:
            caps = np.zeros(self.num_models, dtype=np.int32)
            rows = []
            for j, spec in enumerate(self.instance.models):
                if config in spec.profile:
                    stage = spec.profile[config]
                    caps[j] = min(self.instance.options.max_batch, stage.max_batch)
                    rows.append(np.asarray(stage.latency_s[: caps[j]], dtype=np.float64))
                else:
                    rows.append(np.zeros((0, config.pp)))
            table = np.zeros((self.num_models, int(caps.max(initial=1)), config.pp))
            for j, row in enumerate(rows):
                table[j, : row.shape[0]] = row
            found = (table, caps)
            self._tables[config] = found
        return found

    def _requests_of(self, present: Sequence[int]) -> CompiledWorkload:
        """The compiled workload restricted to the requests of ``present``
        models, in arrival order."""
        work = self._work
        if len(present) == self.num_models:
            return work
        if len(present) * 4 < self.num_models:
            index = np.sort(np.concatenate([self._requests[j] for j in present]))
        else:
            wanted = np.zeros(self.num_models, dtype=bool)
            wanted[list(present)] = True
            index = np.flatnonzero(wanted[work.model])
        return CompiledWorkload(
            arrival_s=work.arrival_s[index],
            model=work.model[index],
            deadline_s=work.deadline_s[index],
            scored=work.scored[index],
            model_names=work.model_names,
            duration_s=work.duration_s,
            scored_span_s=work.scored_span_s,
        )

    def attainment(self, served: Counts) -> float:
        """Overall attainment from per-model served counts."""
        return float(served.sum()) / self.total_demand if self.total_demand else 1.0
