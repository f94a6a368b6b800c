"""Group and parallel-config enumeration around the greedy (AlpaServe
Algorithm 2).

1. **Buckets.** The models that fit some group alone
   (:func:`planner.placement.feasibility.fitting_configs`; the others are
   never placed) are sorted by size (smallest bytes any config needs
   over all its devices) and cut where two neighbours differ by more than
   :data:`BUCKET_RATIO` in size or in single-device latency; the closest
   neighbouring buckets are merged until at most ``max_buckets`` remain.
   Candidates are tried both with all models in one bucket and with the
   buckets apart.
2. **Device shares.** With ``k`` buckets, the devices are split into ``k``
   contiguous shares, each a multiple of a quantum (a node, or on a
   cluster smaller than two nodes the largest power of two that divides the
   device count at most twice).
3. **Blocks.** Within a share of ``D`` devices a bucket gets ``D / s``
   identical groups of one config ``(op, pp)``, ``s = op * pp``, for every
   ``s`` dividing ``D`` that is at most a node or a whole number of nodes,
   ``op`` at most a node and ``max_op``, ``pp`` at most ``max_pp``, and some
   model of the bucket fits alone. A block's greedy result does not depend
   on the other buckets (their groups share no model), so every
   ``(bucket, share, config)`` block is solved once, in parallel, and a
   candidate's score is the sum of its blocks' served requests.
   Blocks of one bucket and share compete; each is first examined
   without simulation (:mod:`planner.placement.triage`: a fluid estimate
   and an upper bound), and :mod:`planner.placement.selection` decides
   which the greedy solves: per bucket and share ``screen_keep`` blocks,
   the two intra-op degrees with the best estimates taking turns, skipping
   any whose bound shows it cannot win. Every block not solved is logged
   with why.
4. **Assembly.** The best candidate's blocks get devices from 0 upwards,
   largest groups first, and the placement is checked by
   :func:`planner.validation.validate` (a tensor-parallel stage that would
   cross a node discards that combination).
"""

from __future__ import annotations

import itertools
import logging
import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from planner.deadline import NEVER, Deadline
from planner.domain import Cluster, ModelSpec, ParallelConfig, Placement
from planner.fanout import fan_out
from planner.placement.feasibility import alone_bytes, config_realisable, fitting_configs
from planner.placement.greedy import GreedyResult, run_greedy
from planner.placement.options import SolveOptions
from planner.placement.scoring import Counts, Layout, Scorer, layout_placement
from planner.placement.selection import Selection
from planner.placement.solution import InfeasibleError, SolveTimeoutError
from planner.placement.triage import BlockTriage
from planner.sim import Instance
from planner.validation import validate

log = logging.getLogger(__name__)

BUCKET_RATIO = 1.5
"""Neighbouring models (by size) further apart than this in size or latency
start a new bucket."""

FULL_GREEDY_PAIRS = 16
"""``greedy_mode="auto"`` runs the full greedy when models × groups of a
block is at most this, the fast greedy otherwise."""

Progress = Callable[[float, str], None]


@dataclass(frozen=True, order=True)
class Block:
    """``num_groups`` identical groups of ``config`` for the models of one
    bucket (``models``: indices into the model set)."""

    models: tuple[int, ...]
    num_groups: int
    config: ParallelConfig

    @property
    def num_devices(self) -> int:
        return self.num_groups * self.config.size

    @property
    def shape(self) -> str:
        return f"{self.num_groups} x {self.config}"

    def describe(self) -> str:
        return f"{len(self.models)} models on {self.shape}"


@dataclass(frozen=True)
class BlockResult:
    block: Block
    served: Counts
    hosted: tuple[tuple[int, ...], ...]
    timed_out: bool

    @property
    def total(self) -> int:
        return int(self.served.sum())


@dataclass(frozen=True)
class EnumerationResult:
    """The best placement found, its per-model served counts, and what the
    search did: ``blocks_total`` distinct blocks, of which
    ``blocks_solved`` were solved by the greedy, ``blocks_pruned_by_bound``
    shown unable to win by their bound and ``blocks_ranked_out`` not solved
    because better-estimated blocks of their bucket and share were (the
    rest, if any, were left at the time limit)."""

    placement: Placement
    layout: Layout
    served: Counts
    blocks_solved: int
    blocks_total: int
    blocks_pruned_by_bound: int
    blocks_ranked_out: int
    candidates: int
    timed_out: bool
    log: tuple[str, ...]


def model_size_bytes(model: ModelSpec) -> int:
    """Smallest total bytes (over all devices) of any config of the model."""
    return min(
        sum(stage.stage_weight_bytes) * config.op
        for config, stage in model.profile.by_config.items()
    )


def model_latency_s(model: ModelSpec) -> float:
    """Batch-1 latency on the smallest config profiled (a size proxy)."""
    config = min(model.profile.configs, key=lambda c: (c.size, c.pp))
    return model.profile[config].latency(1)


def bucket_models(models: Sequence[ModelSpec], max_buckets: int) -> tuple[tuple[int, ...], ...]:
    """Buckets of model indices, smallest models first (module docstring)."""
    order = sorted(range(len(models)), key=lambda j: (model_size_bytes(models[j]), j))
    sizes = [float(model_size_bytes(models[j])) for j in order]
    latencies = [model_latency_s(models[j]) for j in order]
    buckets: list[list[int]] = [[order[0]]]
    for k in range(1, len(order)):
        jump = max(sizes[k] / max(sizes[k - 1], 1.0), latencies[k] / max(latencies[k - 1], 1e-12))
        if jump > BUCKET_RATIO:
            buckets.append([])
        buckets[-1].append(order[k])

    def centre(bucket: list[int]) -> float:
        return float(np.mean([math.log(max(model_size_bytes(models[j]), 1)) for j in bucket]))

    while len(buckets) > max_buckets:
        distances = [centre(buckets[b + 1]) - centre(buckets[b]) for b in range(len(buckets) - 1)]
        b = int(np.argmin(distances))
        buckets[b : b + 2] = [buckets[b] + buckets[b + 1]]
    return tuple(tuple(sorted(bucket)) for bucket in buckets)


def share_quantum(cluster: Cluster) -> int:
    """Granularity (devices) of the device shares given to buckets."""
    if cluster.num_devices >= 2 * cluster.devices_per_node:
        return cluster.devices_per_node
    quantum = 1
    while cluster.num_devices % (quantum * 2) == 0 and quantum * 2 <= cluster.num_devices // 2:
        quantum *= 2
    return quantum


def device_shares(num_devices: int, quantum: int, parts: int) -> list[tuple[int, ...]]:
    """Every split of ``num_devices`` into ``parts`` positive multiples of
    ``quantum`` (the devices a quantum does not cover go to the last part)."""
    units = num_devices // quantum
    rest = num_devices - units * quantum
    splits = []
    for cuts in itertools.combinations(range(1, units), parts - 1):
        bounds = (0, *cuts, units)
        shares = [(bounds[i + 1] - bounds[i]) * quantum for i in range(parts)]
        shares[-1] += rest
        splits.append(tuple(shares))
    return splits if parts > 1 else [(num_devices,)]


def block_configs(
    cluster: Cluster,
    devices: int,
    models: Sequence[ModelSpec],
    options: SolveOptions,
) -> list[ParallelConfig]:
    """Configs for the groups of a ``devices``-device share (module
    docstring, step 3), smallest groups first."""
    node = cluster.devices_per_node
    configs = []
    for size in range(1, devices + 1):
        if devices % size or (size > node and size % node):
            continue
        if options.group_sizes is not None and size not in options.group_sizes:
            continue
        for op in range(1, size + 1):
            if size % op:
                continue
            config = ParallelConfig(op, size // op)
            if (
                op > options.max_op
                or config.pp > options.max_pp
                or not config_realisable(cluster, config)
            ):
                continue
            if any(
                config in m.profile and alone_bytes(m.profile[config]) <= cluster.device_mem_bytes
                for m in models
            ):
                configs.append(config)
    return configs


def assign_devices(
    blocks: Sequence[Block],
) -> tuple[list[ParallelConfig], list[tuple[int, ...]], list[int]]:
    """Lay the blocks' groups on devices 0, 1, ... largest groups first.
    Returns per group its config, devices and the index of its block."""
    order = sorted(range(len(blocks)), key=lambda b: (-blocks[b].config.size, b))
    configs: list[ParallelConfig] = []
    devices: list[tuple[int, ...]] = []
    owners: list[int] = []
    start = 0
    for b in order:
        block = blocks[b]
        for _ in range(block.num_groups):
            configs.append(block.config)
            devices.append(tuple(range(start, start + block.config.size)))
            owners.append(b)
            start += block.config.size
    return configs, devices, owners


# Worker side: the scorer of the instance, inherited from the parent (fork)
# or built once per process.
_WORKER: dict[str, Scorer] = {}


def _worker_scorer(instance: Instance) -> Scorer:
    """The scorer of ``instance`` in a fan-out process: the parent's when
    inherited with the same instance (fork), else one built here."""
    inherited = _WORKER.get("scorer")
    if inherited is None or inherited.instance is not instance:
        _WORKER["scorer"] = inherited = Scorer(instance)
    return inherited


def _solve_block(
    scorer: Scorer, task: tuple[Block, SolveOptions, float]
) -> tuple[Block, BlockResult | None]:
    """Greedy on one block (None past the deadline). The task carries the
    deadline on the wall clock because it may run on another host."""
    block, options, wall_s = task
    deadline = Deadline.from_wall_s(wall_s)
    if deadline.expired():
        return block, None
    mode = options.greedy_mode
    if mode == "auto":
        mode = "full" if len(block.models) * block.num_groups <= FULL_GREEDY_PAIRS else "fast"
    result: GreedyResult = run_greedy(
        scorer,
        [block.config] * block.num_groups,
        mode=mode,
        beam_width=options.beam_width,
        top_models=options.top_models,
        models=block.models,
        seed=options.seed,
        deadline=deadline,
    )
    return block, BlockResult(block, result.served, result.layout.hosted, result.timed_out)


class _Standing:
    """The best complete candidate among the blocks solved so far (the one
    the search would return if it stopped there): its total ``best_total``,
    and, when ``progress`` is given, a report after every block solved:
    ``progress(blocks done / most blocks to solve, message)``, the message
    naming the block and that candidate's attainment."""

    def __init__(
        self,
        progress: Progress | None,
        most: int,
        candidates: Sequence[list[list[Block]]],
        scorer: Scorer,
    ) -> None:
        self.progress = progress
        self.most = max(most, 1)
        self.candidates = candidates
        self.scorer = scorer
        self.done = 0
        self.best_total: int | None = None

    def record(
        self, block: Block, result: BlockResult | None, results: dict[Block, BlockResult]
    ) -> None:
        self.done += 1
        if result is not None:
            for per_bucket in self.candidates:
                if not any(block in blocks for blocks in per_bucket):
                    continue
                choice = _best_combination(per_bucket, results, self.scorer.instance.cluster)
                if choice is not None:
                    self.best_total = max(self.best_total or 0, choice[0])
        if self.progress is None:
            return
        outcome = "skipped (time limit)" if result is None else f"serves {result.total}"
        self.progress(
            min(self.done / self.most, 1.0),
            f"solving block {self.done}/{self.most}: {block.describe()} {outcome}; "
            f"best attainment so far {self.attainment()}",
        )

    def attainment(self) -> str:
        if self.best_total is None:
            return "none yet"
        return f"{self.best_total / max(self.scorer.total_demand, 1):.4f}"


class _BlockSolver:
    """Solves blocks into ``results``: in this process when ``workers = 1``
    on the local backend (or a pass has one block), else on the fan-out
    ``options.backend`` names (results do not depend on the order in which
    blocks finish)."""

    def __init__(
        self, scorer: Scorer, options: SolveOptions, deadline: Deadline, standing: _Standing
    ) -> None:
        self.scorer = scorer
        self.options = options
        self.deadline = deadline
        self.standing = standing
        self.results: dict[Block, BlockResult] = {}

    def solve(self, blocks: Sequence[Block]) -> None:
        tasks = [(block, self.options, self.deadline.wall_s()) for block in blocks]
        local = self.options.backend == "local"
        if local and (self.options.workers <= 1 or len(blocks) <= 1):
            for task in tasks:
                self._record(*_solve_block(self.scorer, task))
            return
        # Compile (or load) the simulator kernel once, before local workers fork.
        self.scorer.served(Layout((blocks[0].config,), ((blocks[0].models[0],),)))
        _WORKER["scorer"] = self.scorer
        runner = fan_out(
            self.options.backend, workers=self.options.workers, address=self.options.ray_address
        )
        work = runner.map_unordered(_worker_scorer, _solve_block, self.scorer.instance, tasks)
        for _, (block, result) in work:
            self._record(block, result)

    def _record(self, block: Block, result: BlockResult | None) -> None:
        if result is not None:
            self.results[block] = result
        self.standing.record(block, result, self.results)


def candidate_splits(
    cluster: Cluster, models: Sequence[ModelSpec], options: SolveOptions
) -> list[list[list[Block]]]:
    """Every candidate (a bucketing of the models that fit some group, and
    a device split) as, per bucket, the blocks to try for its share."""
    fit = tuple(j for j, model in enumerate(models) if fitting_configs(cluster, model))
    if not fit:
        return []
    bucketings: list[tuple[tuple[int, ...], ...]] = [(fit,)]
    buckets = bucket_models([models[j] for j in fit], options.max_buckets)
    if len(buckets) > 1:
        bucketings.append(tuple(tuple(fit[k] for k in bucket) for bucket in buckets))
    quantum = share_quantum(cluster)
    candidates = []
    for bucketing in bucketings:
        for shares in device_shares(cluster.num_devices, quantum, len(bucketing)):
            per_bucket = [
                [
                    Block(bucket, devices // config.size, config)
                    for config in block_configs(
                        cluster, devices, [models[j] for j in bucket], options
                    )
                ]
                for bucket, devices in zip(bucketing, shares, strict=True)
            ]
            if all(per_bucket):
                candidates.append(per_bucket)
    return candidates


_FINISHED: weakref.WeakKeyDictionary[Scorer, dict[tuple[SolveOptions, bool], EnumerationResult]] = (
    weakref.WeakKeyDictionary()
)
"""Finished enumerations per scorer and options: the search is deterministic
for both, so a second ask (``solver="auto"`` handing its greedy plan to an
exact solver's seed) returns the first answer instead of searching again."""


def enumerate_placements(
    scorer: Scorer,
    options: SolveOptions,
    *,
    deadline: Deadline = NEVER,
    progress: Progress | None = None,
    prune: bool = True,
) -> EnumerationResult:
    """Run the greedy over the enumerated group partitions and configs and
    return the placement serving the most requests (module docstring;
    ``prune=False`` solves blocks that the bound would prune, for tests).
    Raises :class:`SolveTimeoutError` when the deadline passes before one
    complete candidate is solved. A search that finished within its
    deadline is remembered for the scorer, options and ``prune``
    (:data:`_FINISHED`)."""
    finished = _FINISHED.setdefault(scorer, {})
    if (options, prune) in finished:
        if progress is not None:
            progress(1.0, "enumeration: already solved for these options")
        return finished[options, prune]
    result = _enumerate(scorer, options, deadline, progress, prune)
    if not result.timed_out:
        finished[options, prune] = result
    return result


def _enumerate(
    scorer: Scorer,
    options: SolveOptions,
    deadline: Deadline,
    progress: Progress | None,
    prune: bool,
) -> EnumerationResult:
    cluster, models = scorer.instance.cluster, scorer.instance.models
    logs: list[str] = []
    candidates = candidate_splits(cluster, models, options)
    if not candidates:
        raise InfeasibleError(
            f"num_devices: no partition of the {cluster.num_devices} devices into groups "
            "fits the models (check max_op, max_pp and group_sizes)"
        )
    unique = sorted({b for cand in candidates for per in cand for b in per})
    triage = BlockTriage(scorer)
    examined = {b: triage.examine(b.models, b.num_groups, b.config) for b in unique}
    selection = Selection(candidates, examined, options.screen_keep, prune=prune)
    logs.append(f"enumeration: {len(candidates)} device splits, {len(unique)} distinct blocks")
    if progress is not None:
        progress(0.0, f"enumeration: {len(candidates)} device splits, {len(unique)} blocks")
    most = sum(min(options.screen_keep, len(slot.blocks)) for slot in selection.slots.values())
    standing = _Standing(progress, most, candidates, scorer)
    solver = _BlockSolver(scorer, options, deadline, standing)
    while not deadline.expired():
        next_blocks = selection.next_pass(solver.results, standing.best_total)
        if not next_blocks:
            break
        solver.solve(next_blocks)
    results = solver.results
    counts, lines = selection.report(results, standing.best_total)
    logs.extend(lines)
    best: tuple[int, list[BlockResult]] | None = None
    for per_bucket in candidates:
        choice = _best_combination(per_bucket, results, cluster)
        if choice is not None and (best is None or choice[0] > best[0]):
            best = choice
    if best is None:
        raise SolveTimeoutError(
            f"time limit: no complete candidate solved ({len(results)}/{len(unique)} blocks done)"
        )
    if progress is not None and standing.done < most:
        progress(1.0, f"solved {standing.done} blocks; best attainment {standing.attainment()}")
    chosen = best[1]
    configs, devices, owners = assign_devices([r.block for r in chosen])
    position = [0] * len(chosen)
    hosted = []
    for owner in owners:
        hosted.append(chosen[owner].hosted[position[owner]])
        position[owner] += 1
    layout = Layout(tuple(configs), tuple(hosted))
    served = np.sum([r.served for r in chosen], axis=0)
    placement = layout_placement(layout, devices, models)
    for result in chosen:
        logs.append(f"chosen: {result.block.describe()} serves {result.total}")
    unsolved = len(unique) - counts.solved - counts.pruned_by_bound - counts.ranked_out
    return EnumerationResult(
        placement=placement,
        layout=layout,
        served=served,
        blocks_solved=counts.solved,
        blocks_total=len(unique),
        blocks_pruned_by_bound=counts.pruned_by_bound,
        blocks_ranked_out=counts.ranked_out,
        candidates=len(candidates),
        timed_out=any(r.timed_out for r in results.values()) or unsolved > 0,
        log=tuple(logs),
    )


def _best_combination(
    per_bucket: list[list[Block]], results: dict[Block, BlockResult], cluster: Cluster
) -> tuple[int, list[BlockResult]] | None:
    """The solved blocks (one per bucket) serving the most requests whose
    assembly respects node boundaries; at most 3 per bucket are combined."""
    ranked = []
    for blocks in per_bucket:
        solved = sorted(
            (results[b] for b in blocks if b in results), key=lambda r: (-r.total, r.block)
        )
        if not solved:
            return None
        ranked.append(solved[:3])
    combos: Iterator[tuple[BlockResult, ...]] = itertools.product(*ranked)
    for combo in sorted(combos, key=lambda c: -sum(r.total for r in c)):
        configs, devices, _ = assign_devices([r.block for r in combo])
        layout = Layout(tuple(configs), tuple(() for _ in configs))
        try:
            validate(cluster, {}, layout_placement(layout, devices, []))
        except ValueError:
            continue
        return sum(r.total for r in combo), list(combo)
    return None
