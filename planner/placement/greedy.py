"""Simulator-guided greedy replica selection (AlpaServe Algorithm 1) for a
fixed set of groups and parallel configs.

Three modes, all scored by the simulator through :class:`planner.placement.scoring.Scorer`
(only the component a move touches is re-simulated, and results of
unchanged components are cached):

- ``full``: every step tries adding a replica of each model (the
  ``top_models`` with the most unserved requests, or all) to each group
  where it fits (one group per class of identical groups), simulates, and
  keeps the ``beam_width`` best placements; stops when no addition raises
  the number of requests served within SLO (or memory is full).
- ``lazy``: ``full`` with beam 1 trying candidates in order of the gain
  each had when last tried and stopping once the best gain found is at
  least the next one's last gain (:meth:`Greedy.lazy`): 3–9 times fewer
  simulations, a heuristic since a simulated gain may grow.
- ``fast``: rounds of additions with one simulation per round: models in
  order of most unserved requests each get one replica, on the group where
  it fits with the least expected load (bottleneck-stage utilisation of the
  replicas there, counting this round's additions); a round adds at most
  ``size`` replicas, ``size`` starting at ``max(groups, models /
  ROUND_MODELS_DIVISOR)`` and doubling, up to the number of models still
  without a replica, after a full round of first replicas that all served
  more (back to the start after any other round). A round
  that serves no more requests is undone and its additions are tried one at
  a time; a model whose new replica served nothing more is not offered
  again. Far fewer simulations than ``full``.

Memory follows the validator's model (:mod:`planner.validation`): per
device of stage ``s``, the sum of hosted models' stage weights plus the
largest activation workspace. A model is only offered to configs it is
profiled for and whose idle latency (batch 1) meets its SLO.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.deadline import NEVER, Deadline
from planner.domain import ParallelConfig
from planner.placement.feasibility import workspace_bytes
from planner.placement.scoring import Counts, Layout, Scorer

Floats = npt.NDArray[np.float64]

ROUND_MODELS_DIVISOR = 8
"""A fast round may add up to this fraction (1 / divisor) of the models'
count of replicas even when there are fewer groups."""


FITTING_CACHE_LIMIT = 4096
"""Most remembered answers of :meth:`ReplicaTable.fitting` (then forgotten
all at once)."""


class ReplicaTable:
    """Per parallel config: each model's stage weight bytes ``[M, pp]``,
    workspace bytes ``[M]``, whether it may be placed there (profiled and
    idle batch-1 latency within SLO) and its bottleneck-stage seconds per
    request at batch 1."""

    def __init__(self, scorer: Scorer, configs: Sequence[ParallelConfig]) -> None:
        self.memory_bytes = scorer.instance.cluster.device_mem_bytes
        self.weights: dict[ParallelConfig, npt.NDArray[np.int64]] = {}
        self.workspace: dict[ParallelConfig, npt.NDArray[np.int64]] = {}
        self.usable: dict[ParallelConfig, npt.NDArray[np.bool_]] = {}
        self.stage_s: dict[ParallelConfig, Floats] = {}
        self._fitting: dict[tuple[ParallelConfig, tuple[int, ...]], npt.NDArray[np.bool_]] = {}
        size = scorer.num_models
        for config in set(configs):
            weights = np.zeros((size, config.pp), dtype=np.int64)
            workspace = np.zeros(size, dtype=np.int64)
            usable = np.zeros(size, dtype=bool)
            stage_s = np.full(size, np.inf)
            for j, model in enumerate(scorer.instance.models):
                if config not in model.profile:
                    continue
                stage = model.profile[config]
                weights[j] = stage.stage_weight_bytes
                workspace[j] = workspace_bytes(stage)
                stage_s[j] = max(stage.latency_s[0])
                usable[j] = stage.latency(1) <= model.slo_s
            self.weights[config] = weights
            self.workspace[config] = workspace
            self.usable[config] = usable
            self.stage_s[config] = stage_s

    def fitting(self, config: ParallelConfig, hosted: Sequence[int]) -> npt.NDArray[np.bool_]:
        """Models that could join a group of ``config`` hosting ``hosted``
        without exceeding device memory (and are usable there, not hosted).
        Answers are remembered per config and set of hosted models (the
        returned array is read-only)."""
        key = (config, tuple(sorted(hosted)))
        found = self._fitting.get(key)
        if found is None:
            if len(self._fitting) >= FITTING_CACHE_LIMIT:
                self._fitting.clear()
            found = self._fit(config, key[1])
            found.flags.writeable = False
            self._fitting[key] = found
        return found

    def _fit(self, config: ParallelConfig, hosted: Sequence[int]) -> npt.NDArray[np.bool_]:
        weights = self.weights[config]
        workspace = self.workspace[config]
        used = weights[list(hosted)].sum(axis=0) if hosted else np.zeros(config.pp, np.int64)
        reserved = workspace[list(hosted)].max() if hosted else 0
        need = (weights + used[None, :]).max(axis=1) + np.maximum(workspace, reserved)
        mask = self.usable[config] & (need <= self.memory_bytes)
        mask[list(hosted)] = False
        return mask


@dataclass(frozen=True)
class GreedyResult:
    """A greedy run's layout, per-model served counts, the number of replica
    additions made and whether it stopped at the deadline."""

    layout: Layout
    served: Counts
    additions: int
    timed_out: bool


class _ComponentCache:
    """Served counts of already simulated components, keyed by the groups'
    indices, configs and hosted models."""

    def __init__(self, scorer: Scorer, limit: int = 20000) -> None:
        self.scorer = scorer
        self.limit = limit
        self.entries: dict[tuple[object, ...], Counts] = {}

    def served(self, layout: Layout, groups: tuple[int, ...]) -> Counts:
        key = tuple((g, layout.configs[g], layout.hosted[g]) for g in groups)
        found = self.entries.get(key)
        if found is None:
            if len(self.entries) >= self.limit:
                self.entries.clear()
            found = self.scorer.served(layout, groups)
            self.entries[key] = found
        return found


def _move(
    cache: _ComponentCache, layout: Layout, served: Counts, model: int, group: int
) -> tuple[Layout, Counts]:
    """Add one replica; re-simulate only the component it joins."""
    new_layout = layout.add(model, group)
    return new_layout, _resimulate(cache, new_layout, served, (group,))


def _resimulate(
    cache: _ComponentCache, layout: Layout, served: Counts, touched: Sequence[int]
) -> Counts:
    groups = layout.component(touched)
    hosted = sorted({j for g in groups for j in layout.hosted[g]})
    new_served = served.copy()
    new_served[hosted] = cache.served(layout, groups)[hosted]
    return new_served


def _ranked(keys: Floats, tiebreak: npt.NDArray[np.int64]) -> list[int]:
    """Indices by descending key, ties by ``tiebreak``."""
    return [int(i) for i in np.lexsort((tiebreak, -keys))]


class Greedy:
    """Greedy replica selection over fixed groups. ``seed`` permutes how
    ties between models and between groups are broken (same seed, same
    result)."""

    def __init__(
        self,
        scorer: Scorer,
        configs: Sequence[ParallelConfig],
        *,
        models: Sequence[int] | None = None,
        seed: int = 0,
        deadline: Deadline = NEVER,
        start: Layout | None = None,
    ) -> None:
        self.scorer = scorer
        self.configs = tuple(configs)
        if start is not None and start.configs != self.configs:
            raise ValueError(f"start: has configs {start.configs}, expected {self.configs}")
        self.start = start
        self.table = ReplicaTable(scorer, self.configs)
        self.cache = _ComponentCache(scorer)
        self.deadline = deadline
        allowed = np.zeros(scorer.num_models, dtype=bool)
        allowed[list(range(scorer.num_models)) if models is None else list(models)] = True
        self.allowed = allowed & (scorer.demand > 0)
        rng = np.random.default_rng(seed)
        self.model_order = rng.permutation(scorer.num_models).astype(np.int64)
        self.group_order = rng.permutation(len(self.configs)).astype(np.int64)
        self.rate = scorer.demand / max(scorer.case.work.scored_span_s, 1e-9)

    def _start(self) -> tuple[Layout, Counts]:
        if self.start is not None:
            return self.start, self.scorer.served(self.start)
        return Layout.empty(self.configs), np.zeros(self.scorer.num_models, dtype=np.int64)

    def _unserved(self, served: Counts) -> Floats:
        return np.where(self.allowed, self.scorer.demand - served, -1).astype(np.float64)

    def _group_classes(self, layout: Layout) -> list[int]:
        """One representative group per class of identical groups (same
        config and hosted models), in tie-break order."""
        seen: set[tuple[ParallelConfig, tuple[int, ...]]] = set()
        chosen = []
        for g in sorted(range(len(layout.configs)), key=lambda g: self.group_order[g]):
            key = (layout.configs[g], layout.hosted[g])
            if key not in seen:
                seen.add(key)
                chosen.append(g)
        return chosen

    def lazy(self, top_models: int = 0) -> GreedyResult:
        """The full greedy with beam 1, evaluated lazily: each step tries
        candidates (a model and a class of identical groups) in order of
        the gain each had when last tried (untried ones first) and stops
        once the best gain found is at least the next one's last gain
        (gains that only shrink as replicas are added would make this the
        full greedy; the simulator's may grow, so it is a heuristic)."""
        layout, served = self._start()
        last: dict[tuple[object, ...], int] = {}
        additions = 0
        while True:
            if self.deadline.expired():
                return GreedyResult(layout, served, additions, True)
            tries = [
                ((j, layout.configs[g], layout.hosted[g]), j, g)
                for j, g in self._candidates(layout, served, top_models)
            ]
            order = sorted(range(len(tries)), key=lambda i: (-last.get(tries[i][0], math.inf), i))
            total = int(served.sum())
            best: tuple[int, Layout, Counts] | None = None
            for i in order:
                key, j, g = tries[i]
                if best is not None and best[0] >= last.get(key, math.inf):
                    break
                new_layout, new_served = _move(self.cache, layout, served, j, g)
                gain = int(new_served.sum()) - total
                last[key] = gain
                if gain > 0 and (best is None or gain > best[0]):
                    best = (gain, new_layout, new_served)
            if best is None:
                return GreedyResult(layout, served, additions, False)
            _, layout, served = best
            additions += 1

    def full(self, beam_width: int = 1, top_models: int = 0) -> GreedyResult:
        """Best-improvement greedy with a beam (see the module docstring)."""
        layout, served = self._start()
        beam = [(layout, served)]
        best = (layout, served)
        additions = 0
        while True:
            if self.deadline.expired():
                return GreedyResult(best[0], best[1], additions, True)
            found: dict[tuple[object, ...], tuple[int, int, Layout, Counts]] = {}
            for state_layout, state_served in beam:
                self._expand(state_layout, state_served, top_models, found)
            if not found:
                break
            ranked = sorted(found.values(), key=lambda item: (-item[0], item[1]))
            beam = [(item[2], item[3]) for item in ranked[:beam_width]]
            additions += 1
            if int(beam[0][1].sum()) > int(best[1].sum()):
                best = beam[0]
        return GreedyResult(best[0], best[1], additions, False)

    def _expand(
        self,
        layout: Layout,
        served: Counts,
        top_models: int,
        found: dict[tuple[object, ...], tuple[int, int, Layout, Counts]],
    ) -> None:
        total = int(served.sum())
        for j, g in self._candidates(layout, served, top_models):
            new_layout, new_served = _move(self.cache, layout, served, j, g)
            value = int(new_served.sum())
            if value <= total:
                continue
            key = tuple(sorted(zip(new_layout.configs, new_layout.hosted, strict=True)))
            if key not in found:
                found[key] = (value, len(found), new_layout, new_served)

    def _candidates(self, layout: Layout, served: Counts, top_models: int) -> list[tuple[int, int]]:
        """The (model, group) additions a full step tries, in tie-break
        order: models with unserved requests, most first (the first
        ``top_models``, or all), each on one group per class of identical
        groups where it fits."""
        unserved = self._unserved(served)
        models = [j for j in _ranked(unserved, self.model_order) if unserved[j] > 0]
        if top_models:
            models = models[:top_models]
        groups = self._group_classes(layout)
        fits = {g: self.table.fitting(layout.configs[g], layout.hosted[g]) for g in groups}
        return [(j, g) for j in models for g in groups if fits[g][j]]

    def fast(self) -> GreedyResult:
        """Round-based greedy (see the module docstring)."""
        layout, served = self._start()
        additions = 0
        offered = self.allowed.copy()
        base = max(len(layout.configs), math.ceil(int(self.allowed.sum()) / ROUND_MODELS_DIVISOR))
        size = base
        while True:
            if self.deadline.expired():
                return GreedyResult(layout, served, additions, True)
            moves = self._round(layout, served, offered, size)
            if not moves:
                break
            new_layout = layout
            for j, g in moves:
                new_layout = new_layout.add(j, g)
            new_served = _resimulate(self.cache, new_layout, served, [g for _, g in moves])
            if int(new_served.sum()) > int(served.sum()):
                first = all(not layout.groups_of(j) for j, _ in moves)
                for j, _ in moves:
                    if new_served[j] <= served[j]:
                        offered[j] = False
                size = self._next_size(size, base, moves, first, offered, new_layout)
                layout, served = new_layout, new_served
                additions += len(moves)
                continue
            size = base
            layout, served, made = self._one_by_one(layout, served, moves, offered)
            additions += made
            if not made:
                break
        return GreedyResult(layout, served, additions, False)

    def _next_size(
        self,
        size: int,
        base: int,
        moves: list[tuple[int, int]],
        first: bool,
        offered: npt.NDArray[np.bool_],
        layout: Layout,
    ) -> int:
        """Double the round after a full round of first replicas that all
        helped, up to the models still without one; otherwise ``base``."""
        if not first or len(moves) < size or not offered[[j for j, _ in moves]].all():
            return base
        unhosted = offered.copy()
        unhosted[[j for h in layout.hosted for j in h]] = False
        return max(base, min(2 * size, int(unhosted.sum())))

    def _round(
        self, layout: Layout, served: Counts, offered: npt.NDArray[np.bool_], size: int
    ) -> list[tuple[int, int]]:
        """The next round's (model, group) additions (module docstring);
        none on a layout without groups."""
        if not layout.configs:
            return []
        unserved = self._unserved(served)
        hosted = [list(h) for h in layout.hosted]
        load = np.array(
            [
                sum(self.rate[j] * self.table.stage_s[c][j] for j in h)
                for c, h in zip(layout.configs, hosted, strict=True)
            ],
            dtype=np.float64,
        )
        fits = np.array(
            [self.table.fitting(c, h) for c, h in zip(layout.configs, hosted, strict=True)]
        )
        moves: list[tuple[int, int]] = []
        for j in _ranked(unserved, self.model_order):
            if unserved[j] <= 0 or len(moves) == size:
                break
            options = np.flatnonzero(fits[:, j])
            if not offered[j] or not options.size:
                continue
            g = int(options[np.lexsort((self.group_order[options], load[options]))[0]])
            moves.append((j, g))
            config = layout.configs[g]
            hosted[g].append(j)
            load[g] += self.rate[j] * self.table.stage_s[config][j]
            fits[g] = self.table.fitting(config, hosted[g])
        return moves

    def _one_by_one(
        self,
        layout: Layout,
        served: Counts,
        moves: list[tuple[int, int]],
        offered: npt.NDArray[np.bool_],
    ) -> tuple[Layout, Counts, int]:
        """Try a failed round's moves singly; keep those that help."""
        made = 0
        for j, g in moves:
            if self.deadline.expired():
                break
            new_layout, new_served = _move(self.cache, layout, served, j, g)
            if int(new_served.sum()) > int(served.sum()):
                layout, served = new_layout, new_served
                made += 1
            else:
                offered[j] = False
        return layout, served, made


def run_greedy(
    scorer: Scorer,
    configs: Sequence[ParallelConfig],
    *,
    mode: str = "fast",
    beam_width: int = 1,
    top_models: int = 0,
    models: Sequence[int] | None = None,
    seed: int = 0,
    deadline: Deadline = NEVER,
    start: Layout | None = None,
) -> GreedyResult:
    """Place replicas of ``models`` (default: all; indices into the
    scorer's model set) on groups with ``configs``: empty ones, or those of
    ``start`` (a layout with these configs) with its replicas kept. ``mode``
    is ``"full"``, ``"lazy"`` (:meth:`Greedy.lazy`) or ``"fast"``; it stops
    adding replicas at ``deadline``."""
    greedy = Greedy(scorer, configs, models=models, seed=seed, deadline=deadline, start=start)
    if mode == "full":
        return greedy.full(beam_width, top_models)
    if mode == "lazy":
        return greedy.lazy(top_models)
    if mode == "fast":
        return greedy.fast()
    raise ValueError(f"mode: must be 'full', 'lazy' or 'fast', got {mode!r}")
